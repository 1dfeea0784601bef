//! The storage conformance suite: the behaviour every [`Store`] backend must show, written once
//! against the trait so SQLite and PostgreSQL are held to the same contract.
//!
//! Each case is a public async fn taking a fresh, empty [`TestDatabase`]; [`CASES`] lists them
//! and [`run_all`] runs them in turn. A backend's test file usually calls
//! [`store_conformance_tests!`](crate::store_conformance_tests) instead, which generates one
//! `#[tokio::test]` per case so each passes or fails on its own:
//!
//! ```ignore
//! async fn fresh() -> MyTestDatabase { /* an empty database */ }
//! bgops_store::store_conformance_tests!(fresh);
//! ```
//!
//! Every time is a [`Timestamp`] chosen by the case: a store never reads the wall clock. Bounds
//! are inclusive: a retry is due, a lease has expired and a row's time to live has passed when
//! the time in question is at or before `now`.
//!
//! The cases live in one submodule per part of the contract and are re-exported here, so each
//! is `conformance::<case>` whichever file holds it.

mod cancellation;
mod changes;
mod claiming;
mod external_identity;
mod history;
mod idempotency;
mod leases;
mod observe;
mod outcomes;
mod reservations;
mod rows;
mod security;
mod ttl;
mod two_stores;
mod users_settings;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bgops_core::{
    BackgroundOperation, NewOperation, OperationError, OperationId, OperationState,
    OperationStatus, Timestamp, UserId,
};

use crate::{
    AttemptOutcome, AttemptResult, CancelOutcome, ClaimOutcome, ClaimRequest, ExpiredLease, Fence,
    LeaseState, OperationStatusView, ReleaseRequest, RenewRequest, StartAttempt, Store,
};

/// A boxed, sendable future, so cases can sit in one list whatever their body.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One conformance case: it panics when the backend misbehaves.
pub type Case = for<'a> fn(&'a dyn TestDatabase) -> BoxFuture<'a, ()>;

/// A database the suite runs against. Each case gets a new, empty one; most open one store over
/// it, [`reopen_keeps_rows`] opens a second after dropping the first, and the cases of
/// `two_stores` hold two open at once, as two nodes sharing the database would.
#[async_trait]
pub trait TestDatabase: Send + Sync {
    /// Opens (creating and migrating if needed) a store over this database. A store opened
    /// again, after the previous one was dropped or while it is still open, shows the same data.
    async fn open(&self) -> Arc<dyn Store>;
}

/// Lists the cases once, as `(name, fn)` pairs.
macro_rules! cases {
    ($($case:ident),+ $(,)?) => {
        /// Every case, by name, in the order [`run_all`] runs them.
        pub const CASES: &[(&str, Case)] = &[$((stringify!($case), |db| Box::pin($case(db)))),+];
    };
}

cases!(
    insert_then_get,
    failed_insert_affects_only_its_caller,
    concurrent_inserts_of_one_id_store_it_once,
    claim_orders_by_priority_then_age,
    concurrent_claims_never_share_a_row,
    reservation_is_invisible,
    start_attempt_needs_the_reservation,
    reserved_outcome_starts_and_ends_in_one_write,
    cancel_of_reserved_row_never_starts,
    lapsed_reservation_counts_nothing,
    released_claims_are_ready_again,
    sweep_spares_reserved_rows,
    retry_keeps_first_start_time,
    retry_waits_until_due,
    outcome_requires_current_attempt,
    stale_attempt_is_fenced_after_recovery,
    expired_lease_fence_waits_for_expiry,
    concurrent_outcomes_apply_once,
    many_outcomes_at_once_each_behind_its_fence,
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
    api_keys_expire_and_revoke,
    disabled_users_cannot_authenticate,
    roles_grant_privileges_at_depth,
    users_are_unique_and_found_by_object_id,
    external_users_are_found_and_provisioned_by_tenant_and_object_id,
    reopen_keeps_rows,
    versions_increase_across_two_stores,
    stale_version_is_refused_whichever_store_wrote_last,
    tables_stamp_moves_as_seen_from_both_stores,
    cancel_racing_an_outcome_ends_consistent,
    sweep_racing_a_claim_ends_consistent,
    keyed_insert_stores_once,
    idempotency_keys_are_per_user,
    expired_key_is_free_again,
    sweep_deletes_expired_keys,
    concurrent_keyed_inserts_store_one,
    changes_follow_versions,
    concurrent_status_reads_of_one_operation_all_find_it,
    queue_summary_counts_unfinished_rows,
    finished_per_minute_and_lease_holders,
    trace_parent_is_kept_with_the_row,
    failed_attempts_are_kept_with_the_row,
    delivery_tries_are_kept_with_the_delivery,
);

/// Runs every case, each on a fresh database from `fresh`; panics on the first failure, after
/// printing which case ran.
pub async fn run_all<D, F, Fut>(fresh: F)
where
    D: TestDatabase,
    F: Fn() -> Fut,
    Fut: Future<Output = D>,
{
    for (name, case) in CASES {
        eprintln!("store conformance: {name}");
        let db = fresh().await;
        case(&db).await;
    }
}

/// Generates one `#[tokio::test]` per conformance case, each on a fresh database from `$fresh`
/// (a fn or closure returning a future of a [`TestDatabase`]). The calling crate needs `tokio`
/// with the `macros` and `rt-multi-thread` features.
///
/// `store_conformance_tests!(fresh)` runs every case. To mark a case for one backend only (a
/// known bug, say), list the cases after a `;`, each with its attributes:
/// `store_conformance_tests!(fresh; insert_then_get, #[ignore = "why"] sweep_respects_limit, …)`.
/// Either way a generated test checks that the list names every case in [`CASES`], so a
/// backend cannot drop one silently.
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:expr) => {
        $crate::store_conformance_tests!($fresh;
            insert_then_get,
            failed_insert_affects_only_its_caller,
            concurrent_inserts_of_one_id_store_it_once,
            claim_orders_by_priority_then_age,
            concurrent_claims_never_share_a_row,
            reservation_is_invisible,
            start_attempt_needs_the_reservation,
            reserved_outcome_starts_and_ends_in_one_write,
            cancel_of_reserved_row_never_starts,
            lapsed_reservation_counts_nothing,
            released_claims_are_ready_again,
            sweep_spares_reserved_rows,
            retry_keeps_first_start_time,
            retry_waits_until_due,
            outcome_requires_current_attempt,
            stale_attempt_is_fenced_after_recovery,
            expired_lease_fence_waits_for_expiry,
            concurrent_outcomes_apply_once,
            many_outcomes_at_once_each_behind_its_fence,
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
            api_keys_expire_and_revoke,
            disabled_users_cannot_authenticate,
            roles_grant_privileges_at_depth,
            users_are_unique_and_found_by_object_id,
            external_users_are_found_and_provisioned_by_tenant_and_object_id,
            reopen_keeps_rows,
            versions_increase_across_two_stores,
            stale_version_is_refused_whichever_store_wrote_last,
            tables_stamp_moves_as_seen_from_both_stores,
            cancel_racing_an_outcome_ends_consistent,
            sweep_racing_a_claim_ends_consistent,
            keyed_insert_stores_once,
            idempotency_keys_are_per_user,
            expired_key_is_free_again,
            sweep_deletes_expired_keys,
            concurrent_keyed_inserts_store_one,
            changes_follow_versions,
            concurrent_status_reads_of_one_operation_all_find_it,
            queue_summary_counts_unfinished_rows,
            finished_per_minute_and_lease_holders,
            trace_parent_is_kept_with_the_row,
            failed_attempts_are_kept_with_the_row,
            delivery_tries_are_kept_with_the_delivery,
        );
    };
    ($fresh:expr; $($(#[$attr:meta])* $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn $case() {
                let db = ($fresh)().await;
                $crate::conformance::$case(&db).await;
            }
        )+

        #[test]
        fn every_conformance_case_is_generated() {
            let mut generated: Vec<&str> = vec![$(stringify!($case)),+];
            let mut listed: Vec<&str> = $crate::conformance::CASES.iter().map(|(n, _)| *n).collect();
            generated.sort_unstable();
            listed.sort_unstable();
            assert_eq!(generated, listed, "the generated tests must be exactly the suite's cases");
        }
    };
}

pub use cancellation::*;
pub use changes::*;
pub use claiming::*;
pub use external_identity::*;
pub use history::*;
pub use idempotency::*;
pub use leases::*;
pub use observe::*;
pub use outcomes::*;
pub use reservations::*;
pub use rows::*;
pub use security::*;
pub use ttl::*;
pub use two_stores::*;
pub use users_settings::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fixed epoch for the cases (2023-11-14T22:13:20Z), so times look like real ones.
const EPOCH: i64 = 1_700_000_000_000;

/// `ms` milliseconds after the suite's epoch.
fn t(ms: i64) -> Timestamp {
    Timestamp(EPOCH + ms)
}

/// A submission created at `created_on` with ordinary values; cases override fields with `..`.
fn new_op(created_on: Timestamp) -> NewOperation {
    NewOperation {
        id: OperationId::new_random(),
        name: "sample_Echo".to_owned(),
        display_name: "Echo".to_owned(),
        input_parameters: r#"[{"Key":"Text","Value":"hello"}]"#.to_owned(),
        run_as: UserId::new_random(),
        created_by: UserId::new_random(),
        priority: 0,
        ttl_seconds: 3600,
        max_retries: 3,
        created_on,
        callback_url: None,
        location: None,
        trace_parent: None,
    }
}

async fn insert(store: &dyn Store, ops: &[&NewOperation]) {
    store
        .insert_operations(ops.iter().map(|op| (*op).clone()).collect())
        .await
        .expect("insert_operations");
}

/// The row, which must exist.
async fn get(store: &dyn Store, id: OperationId) -> BackgroundOperation {
    store
        .get_operation(id)
        .await
        .expect("get_operation")
        .unwrap_or_else(|| panic!("row {id} is missing"))
}

async fn exists(store: &dyn Store, id: OperationId) -> bool {
    store
        .get_operation(id)
        .await
        .expect("get_operation")
        .is_some()
}

/// Reserves due rows for `owner` (the store's `claim`): nothing a reader sees changes.
async fn reserve(
    store: &dyn Store,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> ClaimOutcome {
    store
        .claim(ClaimRequest {
            owner: owner.to_owned(),
            now,
            lease_until,
            limit,
        })
        .await
        .expect("claim")
}

/// Starts attempt `attempt` of a row reserved by `owner`, at `now`, leased until
/// `lease_until`; returns whether it started.
async fn start(
    store: &dyn Store,
    owner: &str,
    id: OperationId,
    attempt: i64,
    now: Timestamp,
    lease_until: Timestamp,
) -> bool {
    store
        .start_attempt(StartAttempt {
            id,
            owner: owner.to_owned(),
            attempt,
            started: now,
            now,
            lease_until,
        })
        .await
        .expect("start_attempt")
}

/// What a node does when a worker is free for every row: reserves due rows, then starts each
/// one's attempt at once, at `now`, with a lease until `lease_until`. The outcome's rows are as
/// stored after the start.
async fn claim(
    store: &dyn Store,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> ClaimOutcome {
    let mut out = reserve(store, owner, now, lease_until, limit).await;
    for row in &mut out.claimed {
        assert!(
            start(store, owner, row.id, row.attempt + 1, now, lease_until).await,
            "a row just reserved starts"
        );
        *row = get(store, row.id).await;
    }
    out
}

/// Inserts `op` and claims it alone for `node-a` at `now`, with a long lease; returns the
/// claimed row.
async fn running(store: &dyn Store, op: &NewOperation, now: Timestamp) -> BackgroundOperation {
    insert(store, &[op]).await;
    let out = claim(store, "node-a", now, t(1_000_000_000), 1).await;
    assert_eq!(ids(&out.claimed), vec![op.id], "the new row is claimed");
    out.claimed.into_iter().next().expect("claimed row")
}

/// Claims one row for `node-a` and checks it is `id` (the highest priority due).
async fn claim_only(store: &dyn Store, id: OperationId) {
    let out = claim(store, "node-a", t(1_000), t(60_000), 1).await;
    assert_eq!(ids(&out.claimed), vec![id]);
}

/// The status monitor's rendering of the outputs that [`succeeded`] records.
const RENDERED: &str = r#"{"rendered":true}"#;

/// The status monitor's view of `id`, which must exist.
async fn status_view(store: &dyn Store, id: OperationId) -> OperationStatusView {
    store
        .get_operation_status(id)
        .await
        .expect("get_operation_status")
        .expect("the row exists")
}

/// Hands back `attempts` claimed by `owner`; returns how many rows changed.
async fn release(
    store: &dyn Store,
    owner: &str,
    attempts: &[(OperationId, i64)],
    now: Timestamp,
) -> usize {
    store
        .release_claims(ReleaseRequest {
            owner: owner.to_owned(),
            attempts: attempts.to_vec(),
            now,
        })
        .await
        .expect("release_claims")
}

async fn record(
    store: &dyn Store,
    id: OperationId,
    fence: Fence,
    now: Timestamp,
    result: AttemptResult,
) -> bool {
    store
        .record_outcome(AttemptOutcome {
            id,
            fence,
            now,
            result,
        })
        .await
        .expect("record_outcome")
        .applied()
}

async fn renew(
    store: &dyn Store,
    owner: &str,
    attempts: &[(OperationId, i64)],
    lease_until: Timestamp,
) -> Vec<LeaseState> {
    store
        .renew_leases(RenewRequest {
            owner: owner.to_owned(),
            attempts: attempts.to_vec(),
            lease_until,
        })
        .await
        .expect("renew_leases")
}

/// Expired leases sorted by id, since the order is not part of the contract.
async fn expired(store: &dyn Store, now: Timestamp, limit: usize) -> Vec<ExpiredLease> {
    let mut v = store
        .expired_leases(now, limit)
        .await
        .expect("expired_leases");
    v.sort_by_key(|l| l.id);
    v
}

async fn cancel(
    store: &dyn Store,
    id: OperationId,
    now: Timestamp,
    if_version: Option<i64>,
) -> CancelOutcome {
    store
        .request_cancel(id, now, if_version)
        .await
        .expect("request_cancel")
}

async fn sweep(store: &dyn Store, now: Timestamp, limit: usize) -> usize {
    store
        .sweep_expired(now, limit)
        .await
        .expect("sweep_expired")
}

fn succeeded(outputs: &str) -> AttemptResult {
    AttemptResult::Succeeded {
        outputs: outputs.to_owned(),
        outputs_json: Some(RENDERED.to_owned()),
    }
}

fn failed(message: &str, retry_at: Option<Timestamp>) -> AttemptResult {
    AttemptResult::Failed {
        error: OperationError::plugin(message, false),
        retry_at,
    }
}

fn ids(rows: &[BackgroundOperation]) -> Vec<OperationId> {
    rows.iter().map(|r| r.id).collect()
}

fn held(id: OperationId, cancel_requested: bool) -> LeaseState {
    LeaseState {
        id,
        held: true,
        cancel_requested,
    }
}

fn not_held(id: OperationId) -> LeaseState {
    LeaseState {
        id,
        held: false,
        cancel_requested: false,
    }
}

/// Asserts the row is terminal with `status`, ended at `now` and written then.
fn assert_ended(row: &BackgroundOperation, status: OperationStatus, now: Timestamp) {
    assert_eq!(row.status, status, "status of {}", row.id);
    assert_eq!(row.state(), OperationState::Completed);
    assert_eq!(row.end_time, Some(now), "endtime");
    assert_eq!(row.modified_on, now, "modifiedon");
}
