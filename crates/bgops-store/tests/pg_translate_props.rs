//! The SQL translation over arbitrary queries on PostgreSQL: every `$filter`/`$orderby` the
//! OData layer accepts runs without an SQL error, changes nothing, and answers exactly as
//! SQLite does over the same rows (the same rows, order, keyset positions and counts; only
//! the versions, which each database numbers itself, differ).

mod pg_fixture;
mod query_props;

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::odata::parse::parse_options;
use bgops_core::odata::validate::plan;
use bgops_store::sqlite::SqliteStore;
use bgops_store::{RowPage, Store};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use query_props::{run_accepted, seed, soup, valid_filter, valid_order};

/// The pages without `versionnumber`.
fn without_versions((mut pages, count): (Vec<RowPage>, u64)) -> (Vec<RowPage>, u64) {
    for page in &mut pages {
        for row in &mut page.rows {
            row.retain(|(name, _)| *name != "versionnumber");
        }
    }
    (pages, count)
}

/// Runs `queries` (`$filter`, `$orderby`, page size) on both backends, seeded alike; a query
/// the OData layer refuses is skipped unless `must_plan`.
fn agree(queries: impl Strategy<Value = (String, String, usize)>, must_plan: bool) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let table = Catalogue::standard().by_logical_name("account").unwrap();
    let (schema, stores) = rt.block_on(async {
        let (schema, pg) = pg_fixture::fresh_store().await;
        let sqlite: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("props.db"))
                .await
                .unwrap(),
        );
        for store in [&pg, &sqlite] {
            seed(&**store, &table).await;
        }
        (schema, [pg, sqlite])
    });
    let mut runner = TestRunner::new(Config::with_cases(200));
    runner
        .run(&queries, |(filter, order, page)| {
            let mut pairs = vec![("$filter".to_owned(), filter.clone())];
            if !order.is_empty() {
                pairs.push(("$orderby".to_owned(), order.clone()));
            }
            let plan = match parse_options(&pairs).and_then(|o| plan(&table, &o)) {
                Ok(plan) => plan,
                Err(e) if must_plan => {
                    return Err(TestCaseError::fail(format!("{filter}: {e:?}")));
                }
                Err(_) => return Ok(()),
            };
            let [pg, sqlite] = rt.block_on(async {
                let pg = run_accepted(&*stores[0], &table, plan.clone(), page).await;
                let sqlite = run_accepted(&*stores[1], &table, plan, page).await;
                [pg, sqlite].map(without_versions)
            });
            if pg != sqlite {
                return Err(TestCaseError::fail(format!(
                    "$filter={filter} $orderby={order} page {page}:\n\
                     PostgreSQL {pg:?}\nSQLite {sqlite:?}"
                )));
            }
            Ok(())
        })
        .unwrap();
    drop(stores);
    drop(schema);
}

#[test]
fn well_typed_queries_answer_as_on_sqlite() {
    agree((valid_filter(), valid_order(), 1usize..15), true);
}

#[test]
fn accepted_queries_answer_as_on_sqlite() {
    agree((soup(), soup(), 1usize..15), false);
}
