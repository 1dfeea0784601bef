//! The system job conformance suite against [`SqliteStore`], each case on a fresh database file
//! in its own temporary directory.

use std::sync::Arc;

use bgops_store::sqlite::SqliteStore;
use bgops_store::Store;

async fn fresh() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("bgops.db"))
        .await
        .expect("open the SQLite store");
    (dir, Arc::new(store))
}

bgops_store::store_job_conformance_tests!(fresh);
