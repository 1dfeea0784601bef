//! Create and update bodies of the table endpoints. The input is `ENTITYSET\nBODY` (e.g.
//! `accounts\n{"name":"x"}`); the first line may start with `PATCH ` for an update. The body is
//! read by serde_json as the handlers read it, then `table_json::row_from_json` against the
//! table, the derived columns, and the JSON each cell is shown as. Every refusal is a 4xx.
#![no_main]

use bgops_core::table_json::{cell_to_json, derive_columns, row_from_json, WriteKind};
use bgops_fuzz::catalogue;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|text: &str| {
    let (first, body) = text.split_once('\n').unwrap_or(("accounts", text));
    let (kind, set) = match first.strip_prefix("PATCH ") {
        Some(set) => (WriteKind::Update, set),
        None => (WriteKind::Create, first),
    };
    let Some(table) = catalogue().by_entity_set(set.trim()) else {
        return;
    };
    let Ok(body) = serde_json::from_str::<Map<String, Value>>(body) else {
        return;
    };
    match row_from_json(catalogue(), &table, &body, kind) {
        Ok(mut row) => {
            if let Err(e) = derive_columns(&table, &mut row) {
                assert!(e.status < 500, "{e:?}");
            }
            for (_, cell) in &row {
                let _ = cell_to_json(cell);
            }
        }
        Err(e) => assert!(e.status < 500, "{e:?}"),
    }
});
