//! OData query options of a table request. The input is what follows `/api/data/v9.2/`:
//! `accounts?$filter=…&$orderby=…` (an unknown or missing entity set means `accounts`). The
//! query string is split and decoded as the handlers do (`query_pairs`), parsed
//! (`parse_options`), and when it parses checked against the table (`validate::plan`), the plan
//! fingerprinted for `$skiptoken` and its filter evaluated in memory. Every refusal must be a
//! 4xx, and the pairs survive the `@odata.nextLink` round trip (`percent_encode`).
#![no_main]

use bgops_core::metadata::Cell;
use bgops_core::odata::{eval, parse, skiptoken, validate};
use bgops_fuzz::catalogue;
use bgops_server::{percent_encode, query_pairs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (set, query) = text.split_once('?').unwrap_or(("accounts", text));
    let table = catalogue()
        .by_entity_set(set)
        .or_else(|| catalogue().by_entity_set("accounts"))
        .expect("accounts");
    let pairs = query_pairs(query);
    let link: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    let relinked = query_pairs(&link.join("&"));
    assert_eq!(relinked, pairs, "{query}");
    let options = match parse::parse_options(&pairs) {
        Ok(options) => options,
        Err(e) => {
            assert!(e.status < 500, "{e:?}");
            return;
        }
    };
    match validate::plan(&table, &options) {
        Ok(plan) => {
            let _ = skiptoken::fingerprint(&table, &plan);
            if let Some(filter) = &plan.filter {
                let _ = eval::matches(filter, &Vec::new());
                let row = vec![(table.primary_id, Cell::Guid(uuid::Uuid::from_u128(1)))];
                let _ = eval::matches(filter, &row);
            }
        }
        Err(e) => assert!(e.status < 500, "{e:?}"),
    }
});
