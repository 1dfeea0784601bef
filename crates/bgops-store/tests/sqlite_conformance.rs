//! The storage conformance suite against [`SqliteStore`], each case on a fresh database file in
//! its own temporary directory.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bgops_store::conformance::TestDatabase;
use bgops_store::sqlite::SqliteStore;
use bgops_store::Store;

/// An SQLite file that lives as long as the test.
struct SqliteFile {
    /// Removes the file (and its WAL) when the test ends.
    _dir: tempfile::TempDir,
    /// The database file inside `_dir`.
    path: PathBuf,
}

#[async_trait]
impl TestDatabase for SqliteFile {
    async fn open(&self) -> Arc<dyn Store> {
        let store = SqliteStore::open(&self.path)
            .await
            .expect("open the SQLite store");
        Arc::new(store)
    }
}

async fn fresh() -> SqliteFile {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bgops.db");
    SqliteFile { _dir: dir, path }
}

bgops_store::store_conformance_tests!(fresh);
