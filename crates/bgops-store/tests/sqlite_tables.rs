//! The table conformance suite against [`SqliteStore`], each case on a fresh database file in
//! its own temporary directory; and what only a file on disk can show: versions keep growing
//! after a restart.

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::Cell;
use bgops_core::{Timestamp, UserId};
use bgops_store::sqlite::SqliteStore;
use bgops_store::{DeleteOutcome, InsertOutcome, Store, UpdateMode, UpdateOutcome, WriteContext};

async fn fresh() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("bgops.db"))
        .await
        .expect("open the SQLite store");
    (dir, Arc::new(store))
}

bgops_store::store_table_conformance_tests!(fresh);

fn version(row: &[(&str, Cell)]) -> i64 {
    match row.iter().find(|(n, _)| *n == "versionnumber") {
        Some((_, Cell::Int(v))) => *v,
        other => panic!("versionnumber: {other:?}"),
    }
}

/// A row written before a restart gets a higher version on its next write, even when no
/// background operation exists to carry the highest version and the row that had it was deleted:
/// versions come from the database's counter, not from the rows left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_keep_growing_after_reopen() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bgops.db");
    let accounts = Catalogue::standard().by_logical_name("account").unwrap();
    let ctx = WriteContext {
        now: Timestamp(1_700_000_000_000),
        user: UserId::new_random(),
    };
    let id = uuid::Uuid::new_v4();
    let mut last = 0;
    {
        let store = SqliteStore::open(&path).await.unwrap();
        let values = vec![
            ("accountid", Cell::Guid(id)),
            ("name", Cell::Text("a".into())),
        ];
        let InsertOutcome::Created(row) = store
            .insert_row(accounts.clone(), values, ctx)
            .await
            .unwrap()
        else {
            panic!("not created");
        };
        for _ in 0..3 {
            let outcome = store
                .update_row(accounts.clone(), id, vec![], UpdateMode::MustExist, ctx)
                .await
                .unwrap();
            let UpdateOutcome::Updated(row) = outcome else {
                panic!("{outcome:?}");
            };
            last = version(&row);
        }
        assert!(last > version(&row));
        let gone = uuid::Uuid::new_v4();
        let InsertOutcome::Created(row) = store
            .insert_row(accounts.clone(), vec![("accountid", Cell::Guid(gone))], ctx)
            .await
            .unwrap()
        else {
            panic!("not created");
        };
        last = version(&row);
        let deleted = store.delete_row(accounts.clone(), gone, None).await;
        assert_eq!(deleted.unwrap(), DeleteOutcome::Deleted);
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let outcome = store
        .update_row(accounts, id, vec![], UpdateMode::MustExist, ctx)
        .await
        .unwrap();
    let UpdateOutcome::Updated(row) = outcome else {
        panic!("{outcome:?}");
    };
    assert!(version(&row) > last, "{} after {last}", version(&row));
}
