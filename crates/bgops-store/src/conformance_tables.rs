//! The conformance suite for the generic tables of the Web API (`query_rows`, `count_rows`,
//! `get_row`, `insert_row`, `update_row`, `delete_row`): what every [`Store`] backend must do
//! with accounts, contacts, notes and the other catalogue tables.
//!
//! Each case is a public async fn taking a fresh, empty, migrated store; [`CASES`] lists them.
//! A backend's test file calls
//! [`store_table_conformance_tests!`](crate::store_table_conformance_tests) to generate one
//! `#[tokio::test]` per case:
//!
//! ```ignore
//! async fn fresh() -> (TempDir, Arc<dyn Store>) { /* an empty database and a store on it */ }
//! bgops_store::store_table_conformance_tests!(fresh);
//! ```
//!
//! Plans are built here directly, the way the query layer builds them from `$filter`,
//! `$orderby` and `$select`: columns are the catalogue's, the primary key is selected and
//! ordered last.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::{Cell, Column, Row, Table};
use bgops_core::odata::ast::{CmpOp, StrFn};
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::{NewOperation, OperationId, Timestamp, UserId};
use uuid::Uuid;

mod batches;
mod filters;
mod other_tables;
mod paging;
mod rows;

pub use batches::*;
pub use filters::*;
pub use other_tables::*;
pub use paging::*;
pub use rows::*;

use crate::{
    DeleteOutcome, InsertOutcome, PageRequest, RowPage, Store, StoreError, UpdateMode,
    UpdateOutcome, WriteContext,
};

/// A boxed, sendable future, so cases can sit in one list.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One case: it panics when the backend misbehaves.
pub type Case = fn(Arc<dyn Store>) -> BoxFuture<()>;

/// Lists the cases once, as `(name, fn)` pairs.
macro_rules! cases {
    ($($case:ident),+ $(,)?) => {
        /// Every case, by name.
        pub const CASES: &[(&str, Case)] = &[$((stringify!($case), |s| Box::pin($case(s)))),+];
    };
}

cases!(
    insert_then_get_every_column_type,
    contact_fullname_is_computed,
    annotation_keeps_long_text,
    duplicate_insert_is_refused,
    update_modes,
    every_write_bumps_version_and_modifiedon,
    delete_modes,
    compare_every_column_type,
    text_comparisons_ignore_case,
    text_comparisons_fold_every_letter,
    text_functions_match_literally,
    quotes_and_sql_in_values_are_data,
    null_semantics,
    decimals_compare_as_numbers,
    and_or_not_and_column_comparisons,
    ordering_puts_nulls_first_ascending_last_descending,
    selected_columns_in_table_order_with_keys,
    keyset_paging_through_12000_rows,
    keyset_paging_across_mixed_orders,
    count_rows_counts_matches,
    backgroundoperation_rows_are_queryable,
    seeded_rows_exist,
    malformed_requests_are_refused,
    write_rows_applies_all_or_nothing,
    delete_children_removes_only_that_parents_rows,
    tables_stamp_moves_on_every_write,
);

/// Generates one `#[tokio::test]` per table conformance case, each on a fresh store from
/// `$fresh`: a fn or closure returning a future of `(guard, Arc<dyn Store>)`, where the guard (a
/// temporary directory, say) lives until the case ends. The calling crate needs `tokio` with
/// the `macros` and `rt-multi-thread` features.
///
/// `store_table_conformance_tests!(fresh)` runs every case; to mark cases for one backend, list
/// them after a `;`, each with its attributes. Either way a generated test checks that the list
/// names every case in [`CASES`].
#[macro_export]
macro_rules! store_table_conformance_tests {
    ($fresh:expr) => {
        $crate::store_table_conformance_tests!($fresh;
            insert_then_get_every_column_type,
            contact_fullname_is_computed,
            annotation_keeps_long_text,
            duplicate_insert_is_refused,
            update_modes,
            every_write_bumps_version_and_modifiedon,
            delete_modes,
            compare_every_column_type,
            text_comparisons_ignore_case,
            text_comparisons_fold_every_letter,
            text_functions_match_literally,
            quotes_and_sql_in_values_are_data,
            null_semantics,
            decimals_compare_as_numbers,
            and_or_not_and_column_comparisons,
            ordering_puts_nulls_first_ascending_last_descending,
            selected_columns_in_table_order_with_keys,
            keyset_paging_through_12000_rows,
            keyset_paging_across_mixed_orders,
            count_rows_counts_matches,
            backgroundoperation_rows_are_queryable,
            seeded_rows_exist,
            malformed_requests_are_refused,
            write_rows_applies_all_or_nothing,
            delete_children_removes_only_that_parents_rows,
            tables_stamp_moves_on_every_write,
        );
    };
    ($fresh:expr; $($(#[$attr:meta])* $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn $case() {
                let (_guard, store) = ($fresh)().await;
                $crate::conformance_tables::$case(store).await;
            }
        )+

        #[test]
        fn every_table_conformance_case_is_generated() {
            let mut generated: Vec<&str> = vec![$(stringify!($case)),+];
            let mut listed: Vec<&str> =
                $crate::conformance_tables::CASES.iter().map(|(n, _)| *n).collect();
            generated.sort_unstable();
            listed.sort_unstable();
            assert_eq!(generated, listed, "the generated tests must be exactly the suite's cases");
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fixed epoch for the cases (2023-11-14T22:13:20Z).
const EPOCH: i64 = 1_700_000_000_000;

/// `ms` milliseconds after the suite's epoch.
fn at(ms: i64) -> Timestamp {
    Timestamp(EPOCH + ms)
}

/// The catalogue table with this logical name.
fn table(name: &str) -> Arc<Table> {
    Catalogue::standard()
        .by_logical_name(name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

/// The column of `t` with this logical name.
fn col(t: &Table, name: &str) -> Column {
    *t.column(name)
        .unwrap_or_else(|| panic!("no column {}.{name}", t.logical_name))
}

fn write(ms: i64, user: UserId) -> WriteContext {
    WriteContext { now: at(ms), user }
}

/// A plan selecting `select` (plus the primary key), filtered, ordered by `orderby` then the
/// primary key; `select` empty means every column.
fn plan(t: &Table, select: &[&str], filter: Option<Filter>, orderby: &[(&str, bool)]) -> QueryPlan {
    let mut columns: Vec<Column> = if select.is_empty() {
        t.columns.clone()
    } else {
        select.iter().map(|n| col(t, n)).collect()
    };
    if !columns.iter().any(|c| c.logical_name == t.primary_id) {
        columns.insert(0, col(t, t.primary_id));
    }
    let mut order: Vec<(Column, bool)> = orderby.iter().map(|(n, d)| (col(t, n), *d)).collect();
    order.push((col(t, t.primary_id), false));
    QueryPlan {
        select: columns,
        explicit_select: !select.is_empty(),
        filter,
        orderby: order,
        top: None,
        count: false,
    }
}

fn cmp(t: &Table, column: &str, op: CmpOp, value: Cell) -> Filter {
    Filter::Compare {
        column: col(t, column),
        op,
        value,
    }
}

fn eq(t: &Table, column: &str, value: Cell) -> Filter {
    cmp(t, column, CmpOp::Eq, value)
}

fn is_null(t: &Table, column: &str, negated: bool) -> Filter {
    Filter::IsNull {
        column: col(t, column),
        negated,
    }
}

fn str_fn(t: &Table, func: StrFn, column: &str, value: &str) -> Filter {
    Filter::StrFunc {
        func,
        column: col(t, column),
        value: value.to_owned(),
    }
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

fn dec(s: &str) -> Cell {
    Cell::Decimal(s.to_owned())
}

/// The value of `column` in `row`.
fn cell<'r>(row: &'r Row, column: &str) -> &'r Cell {
    &row.iter()
        .find(|(n, _)| *n == column)
        .unwrap_or_else(|| panic!("row lacks {column}: {row:?}"))
        .1
}

fn version(row: &Row) -> i64 {
    match cell(row, "versionnumber") {
        Cell::Int(v) => *v,
        other => panic!("versionnumber is {other:?}"),
    }
}

/// Inserts a row that must be new; returns it as stored.
async fn insert(store: &dyn Store, t: &Arc<Table>, values: Row, ctx: WriteContext) -> Row {
    match store.insert_row(t.clone(), values, ctx).await {
        Ok(InsertOutcome::Created(row)) => row,
        other => panic!("insert into {}: {other:?}", t.logical_name),
    }
}

/// An account with this name and a fresh id.
fn account(name: &str) -> (Uuid, Row) {
    let id = Uuid::new_v4();
    (
        id,
        vec![("accountid", Cell::Guid(id)), ("name", text(name))],
    )
}

/// Inserts accounts with these extra values each; returns their ids, in order.
async fn accounts(store: &dyn Store, rows: Vec<(&str, Row)>) -> Vec<Uuid> {
    let t = table("account");
    let user = UserId::new_random();
    let mut ids = Vec::new();
    for (i, (name, extra)) in rows.into_iter().enumerate() {
        let (id, mut values) = account(name);
        values.extend(extra);
        insert(store, &t, values, write(i as i64, user)).await;
        ids.push(id);
    }
    ids
}

/// Every row matching `plan`, read in one page.
async fn all(store: &dyn Store, t: &Arc<Table>, plan: QueryPlan) -> Vec<Row> {
    let page = store
        .query_rows(
            t.clone(),
            plan,
            PageRequest {
                size: 100_000,
                after: None,
            },
        )
        .await
        .expect("query_rows");
    assert!(!page.more);
    page.rows
}

/// The `name`s of the accounts matching `filter`, ordered by name.
async fn names(store: &dyn Store, filter: Filter) -> Vec<String> {
    let t = table("account");
    let p = plan(&t, &["name"], Some(filter), &[("name", false)]);
    all(store, &t, p)
        .await
        .iter()
        .map(|r| match cell(r, "name") {
            Cell::Text(s) => s.clone(),
            other => panic!("name is {other:?}"),
        })
        .collect()
}

/// Reads every page of `plan` with pages of `size`; returns the pages.
async fn pages(store: &dyn Store, t: &Arc<Table>, plan: &QueryPlan, size: usize) -> Vec<RowPage> {
    let mut out: Vec<RowPage> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .query_rows(t.clone(), plan.clone(), PageRequest { size, after })
            .await
            .expect("query_rows");
        assert_eq!(page.rows.len(), page.keys.len(), "one key per row");
        assert!(page.rows.len() <= size);
        if page.more {
            assert_eq!(page.rows.len(), size, "only the last page is short");
        }
        after = page.keys.last().cloned();
        let more = page.more;
        out.push(page);
        if !more {
            return out;
        }
        assert!(out.len() < 100_000, "paging does not end");
    }
}

/// Orders two key cells of one column ascending as the store must: NULL first, text without
/// case (every letter lower-cased, then code point order), decimals as numbers.
fn cell_order(a: &Cell, b: &Cell) -> Ordering {
    match (a, b) {
        (Cell::Null, Cell::Null) => Ordering::Equal,
        (Cell::Null, _) => Ordering::Less,
        (_, Cell::Null) => Ordering::Greater,
        (Cell::Text(x), Cell::Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Cell::Decimal(x), Cell::Decimal(y)) => {
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            x.total_cmp(&y)
        }
        (Cell::Int(x), Cell::Int(y)) => x.cmp(y),
        (Cell::Bool(x), Cell::Bool(y)) => x.cmp(y),
        (Cell::DateTime(x), Cell::DateTime(y)) => x.cmp(y),
        (Cell::Guid(x), Cell::Guid(y)) => x.cmp(y),
        _ => panic!("keys of different kinds: {a:?} {b:?}"),
    }
}

/// Checks that `keys` are strictly increasing in the order `descending` describes.
fn assert_strictly_ordered(keys: &[Vec<Cell>], descending: &[bool]) {
    for pair in keys.windows(2) {
        let mut order = Ordering::Equal;
        for ((a, b), desc) in pair[0].iter().zip(&pair[1]).zip(descending) {
            let o = cell_order(a, b);
            order = if *desc { o.reverse() } else { o };
            if order != Ordering::Equal {
                break;
            }
        }
        assert_eq!(order, Ordering::Less, "out of order: {pair:?}");
    }
}
