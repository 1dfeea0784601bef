//! What the property tests of the query translation share: pieces of OData queries, good and
//! bad, strategies for queries the OData layer accepts, the rows they run over, and one run of
//! an accepted query.
#![allow(dead_code)]

use std::sync::Arc;

use bgops_core::metadata::{Cell, Table};
use bgops_core::odata::plan::QueryPlan;
use bgops_core::{Timestamp, UserId};
use bgops_store::{PageRequest, RowPage, Store, WriteContext};
use proptest::prelude::*;

/// Pieces of filters and orders, good and bad, so random sequences reach deep into the grammar.
pub const PIECES: &[&str] = &[
    "name",
    "numberofemployees",
    "revenue",
    "creditonhold",
    "createdon",
    "accountid",
    "_primarycontactid_value",
    "address1_city",
    "statecode",
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "and",
    "or",
    "not",
    "(",
    ")",
    ",",
    "contains(",
    "startswith(",
    "endswith(",
    "null",
    "true",
    "false",
    "'",
    "''",
    "'x'",
    "'%'",
    "'_'",
    "'\\'",
    "'O''Bryan'",
    "'; DROP TABLE account; --'",
    "00000000-0000-4000-8000-000000000001",
    "2024-01-31",
    "2024-01-31T10:00:00Z",
    "1.5",
    "-2",
    "1e3",
    "7",
    "asc",
    "desc",
    " ",
];

/// How many rows [`seed`] writes.
pub const ROWS: u64 = 40;

/// Writes the same [`ROWS`] accounts of varied values (ids included) into `store`.
pub async fn seed(store: &dyn Store, table: &Arc<Table>) {
    let ctx = WriteContext {
        now: Timestamp(1_700_000_000_000),
        user: UserId(uuid::Uuid::from_u128(7)),
    };
    for i in 0..ROWS {
        let name = ["Contoso", "O'Bryan", "50%", "a_b", "", "漢字", "Ärger"][(i % 7) as usize];
        let row = vec![
            (
                "accountid",
                Cell::Guid(uuid::Uuid::from_u128(0x5eed_0000 + u128::from(i))),
            ),
            ("name", Cell::Text(format!("{name} {i}"))),
            (
                "numberofemployees",
                if i % 5 == 0 {
                    Cell::Null
                } else {
                    Cell::Int(i as i64)
                },
            ),
            ("revenue", Cell::Decimal(format!("{}.5", i * 1000))),
            ("creditonhold", Cell::Bool(i % 2 == 0)),
            (
                "address1_city",
                if i % 3 == 0 {
                    Cell::Null
                } else {
                    Cell::Text(format!("City {}", i % 4))
                },
            ),
            ("statecode", Cell::Int(0)),
        ];
        store.insert_row(table.clone(), row, ctx).await.unwrap();
    }
}

pub fn soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(PIECES), 0..24),
        any::<bool>(),
    )
        .prop_map(|(t, spaced)| t.join(if spaced { " " } else { "" }))
}

/// Conditions the OData layer accepts: every column family with fitting literals, nested with
/// and/or/not, so every branch of the translation is reached.
pub fn valid_filter() -> impl Strategy<Value = String> {
    let op = prop::sample::select(&["eq", "ne", "gt", "ge", "lt", "le"][..]);
    let text = prop::sample::select(
        &[
            "'Contoso'",
            "'o''bryan 1'",
            "'50%'",
            "'a_b'",
            "''",
            "'\\'",
            "'äRGER 6'",
            "'ä'",
        ][..],
    );
    let leaf = prop_oneof![
        (op.clone(), text.clone()).prop_map(|(o, t)| format!("name {o} {t}")),
        (op.clone(), -5i64..50).prop_map(|(o, n)| format!("numberofemployees {o} {n}")),
        (op.clone(), 0u32..60_000).prop_map(|(o, n)| format!("revenue {o} {n}.25")),
        (prop::sample::select(&["eq", "ne"][..]), any::<bool>())
            .prop_map(|(o, b)| format!("creditonhold {o} {b}")),
        op.clone()
            .prop_map(|o| format!("createdon {o} 2023-11-14T22:13:20Z")),
        prop::sample::select(&["eq null", "ne null"][..])
            .prop_map(|n| format!("address1_city {n}")),
        (
            prop::sample::select(&["contains", "startswith", "endswith"][..]),
            text
        )
            .prop_filter("non-empty", |(_, t)| *t != "''")
            .prop_map(|(func, t)| format!("{func}(name,{t})")),
        op.prop_map(|o| format!("numberofemployees {o} statecode")),
    ];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

pub fn valid_order() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(
                &[
                    "name",
                    "revenue",
                    "address1_city",
                    "numberofemployees",
                    "createdon",
                ][..],
            ),
            prop::sample::select(&["", " asc", " desc"][..]),
        ),
        0..3,
    )
    .prop_map(|cols| {
        cols.into_iter()
            .map(|(c, d)| format!("{c}{d}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Runs an accepted query on `store`: two pages and a count, all must succeed, and the table
/// is unchanged. Returns the pages and the count, for comparing backends.
pub async fn run_accepted(
    store: &dyn Store,
    table: &Arc<Table>,
    plan: QueryPlan,
    page: usize,
) -> (Vec<RowPage>, u64) {
    let first = store
        .query_rows(
            table.clone(),
            plan.clone(),
            PageRequest {
                size: page,
                after: None,
            },
        )
        .await
        .expect("an accepted query runs");
    let mut pages = vec![first];
    if let Some(last) = pages[0].keys.last().cloned() {
        let next = store
            .query_rows(
                table.clone(),
                plan.clone(),
                PageRequest {
                    size: page,
                    after: Some(last),
                },
            )
            .await
            .expect("the next page runs");
        pages.push(next);
    }
    let n = store
        .count_rows(table.clone(), plan.filter.clone())
        .await
        .expect("count runs");
    assert!(n <= ROWS);
    let all = store.count_rows(table.clone(), None).await.unwrap();
    assert_eq!(all, ROWS, "no query changes the table");
    (pages, n)
}
