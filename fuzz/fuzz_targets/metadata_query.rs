//! Queries on `EntityDefinitions` and their `Attributes`. The input is `CAST?QUERY`, `CAST`
//! being a cast segment (`Microsoft.Dynamics.CRM.PicklistAttributeMetadata`, anything else
//! means none). The query is decoded as the handlers do; then, as `EntityDefinitions?QUERY`:
//! `$expand` taken out and parsed, `$select`/`$filter` checked against the entity definition
//! table and evaluated on every table's definition row; and as `…/Attributes/CAST?QUERY`:
//! `AttributeQuery::parse`, rendered for the account table. Every refusal must be a 4xx.
#![no_main]

use bgops_core::entity_metadata::query::{take_expand, AttributeQuery};
use bgops_core::entity_metadata::types::MetadataType;
use bgops_core::entity_metadata::{entity_definition_row, entity_definition_table};
use bgops_core::metadata::{Row, Table};
use bgops_core::odata::expand::parse_expand;
use bgops_core::odata::{eval, parse, validate};
use bgops_core::ApiError;
use bgops_fuzz::catalogue;
use bgops_server::query_pairs;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The `EntityDefinitions` table and the row of every catalogue table, built once.
fn definitions() -> &'static (Table, Vec<Row>) {
    static D: OnceLock<(Table, Vec<Row>)> = OnceLock::new();
    D.get_or_init(|| {
        let rows = catalogue()
            .tables()
            .iter()
            .map(|t| entity_definition_row(t))
            .collect();
        (entity_definition_table(), rows)
    })
}

fn entity_definitions(pairs: &[(String, String)]) -> Result<(), ApiError> {
    let (rest, expand) = take_expand(pairs)?;
    let (def, rows) = definitions();
    let plan = validate::plan(def, &parse::parse_options(&rest)?)?;
    if let Some(filter) = &plan.filter {
        for row in rows {
            let _ = eval::matches(filter, row);
        }
    }
    if let Some(text) = expand {
        for item in parse_expand(&text)? {
            let q = AttributeQuery::parse(&item.options, MetadataType::base())?;
            let _ = q.context_properties();
        }
    }
    Ok(())
}

fuzz_target!(|text: &str| {
    let (cast, query) = text.split_once('?').unwrap_or(("", text));
    let pairs = query_pairs(query);
    if let Err(e) = entity_definitions(&pairs) {
        assert!(e.status < 500, "{e:?}");
    }
    let cast = MetadataType::from_cast(cast).unwrap_or_else(MetadataType::base);
    match AttributeQuery::parse(&pairs, cast) {
        Ok(q) => {
            let table = catalogue().by_entity_set("accounts").expect("accounts");
            let _ = q.render_all(&table);
            let _ = q.context_properties();
        }
        Err(e) => assert!(e.status < 500, "{e:?}"),
    }
});
