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

bgops_store::store_conformance_tests!(fresh;
    insert_then_get,
    failed_insert_affects_only_its_caller,
    claim_orders_by_priority_then_age,
    concurrent_claims_never_share_a_row,
    released_claims_are_ready_again,
    retry_keeps_first_start_time,
    retry_waits_until_due,
    outcome_requires_current_attempt,
    stale_attempt_is_fenced_after_recovery,
    expired_lease_fence_waits_for_expiry,
    concurrent_outcomes_apply_once,
    succeeded_outcome_is_recorded,
    failed_outcome_is_recorded,
    failed_outcome_with_retry_waits,
    canceled_outcome_is_recorded,
    cancel_unknown_is_not_found,
    cancel_ready_row_never_runs,
    cancel_running_row_is_signaled_and_not_retried,
    cancel_terminal_row_is_refused,
    cancel_checks_version,
    repeated_cancel_answers_like_the_first,
    renew_leases_only_for_current_holder,
    expired_leases_lists_only_lapsed_attempts,
    sweep_deletes_rows_past_their_ttl,
    sweep_respects_limit,
    version_increases_on_every_write,
    bootstrap_admin_if_absent,
    bootstrap_admin_set_replaces_key,
    settings_are_created_once_and_kept,
    reopen_keeps_rows,
);
