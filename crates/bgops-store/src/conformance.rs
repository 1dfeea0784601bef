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

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bgops_core::{
    BackgroundOperation, ErrorCode, NewOperation, OperationError, OperationId, OperationState,
    OperationStatus, Timestamp, UserId,
};

use crate::{
    AdminKey, AttemptOutcome, AttemptResult, CancelOutcome, ClaimOutcome, ClaimRequest,
    ExpiredLease, Fence, LeaseState, RenewRequest, Store,
};

/// A boxed, sendable future, so cases can sit in one list whatever their body.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One conformance case: it panics when the backend misbehaves.
pub type Case = for<'a> fn(&'a dyn TestDatabase) -> BoxFuture<'a, ()>;

/// A database the suite runs against. Each case gets a new, empty one; most open one store over
/// it, and [`reopen_keeps_rows`] opens a second after dropping the first.
#[async_trait]
pub trait TestDatabase: Send + Sync {
    /// Opens (creating and migrating if needed) a store over this database. Opening again after
    /// the previous store was dropped must show the same data.
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
    claim_orders_by_priority_then_age,
    concurrent_claims_never_share_a_row,
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
            claim_orders_by_priority_then_age,
            concurrent_claims_never_share_a_row,
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

async fn claim(
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

// ---------------------------------------------------------------------------------------------
// Insert and read
// ---------------------------------------------------------------------------------------------

/// A stored submission reads back with every column as given, Ready and untouched; an unknown
/// id reads as nothing.
pub async fn insert_then_get(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let a = NewOperation {
        name: "contoso_Import".to_owned(),
        display_name: "Import rows".to_owned(),
        input_parameters: r#"[{"Key":"Text","Value":"héllo \"quoted\" 'x'"}]"#.to_owned(),
        priority: 7,
        ttl_seconds: 120,
        max_retries: 5,
        ..new_op(t(1_000))
    };
    let b = NewOperation {
        priority: 0,
        ttl_seconds: 7_776_000,
        max_retries: 0,
        ..new_op(t(2_000))
    };
    store
        .insert_operations(Vec::new())
        .await
        .expect("empty insert");
    insert(store, &[&a, &b]).await;

    for op in [&a, &b] {
        let row = get(store, op.id).await;
        assert_eq!(row.id, op.id);
        assert_eq!(row.name, op.name);
        assert_eq!(row.display_name, op.display_name);
        assert_eq!(row.input_parameters, op.input_parameters);
        assert_eq!(row.run_as, op.run_as);
        assert_eq!(row.created_by, op.created_by);
        assert_eq!(row.priority, op.priority);
        assert_eq!(row.ttl_seconds, op.ttl_seconds);
        assert_eq!(row.max_retries, op.max_retries);
        assert_eq!(row.created_on, op.created_on);
        assert_eq!(row.modified_on, op.created_on, "modifiedon = createdon");
        assert_eq!(row.status, OperationStatus::WaitingForResources);
        assert_eq!(row.state().code(), 0);
        assert_eq!(row.status.code(), 0);
        assert_eq!(row.retry_count, 0);
        assert_eq!(row.attempt, 0);
        assert!(
            row.version_number > 0,
            "versionnumber {}",
            row.version_number
        );
        assert_eq!(row.output_parameters, None);
        assert_eq!(row.start_time, None);
        assert_eq!(row.end_time, None);
        assert_eq!(row.error_code, None);
        assert_eq!(row.error_message, None);
    }
    let unknown = store
        .get_operation(OperationId::new_random())
        .await
        .expect("get_operation");
    assert_eq!(unknown, None);
}

/// A batch that cannot be stored (a duplicate id) stores none of its rows and fails only its own
/// caller, even when other callers' writes are committed alongside it.
pub async fn failed_insert_affects_only_its_caller(db: &dyn TestDatabase) {
    let store = db.open().await;
    let existing = new_op(t(0));
    insert(&*store, &[&existing]).await;
    let before = get(&*store, existing.id).await;

    let fresh_row = new_op(t(1));
    let duplicate = NewOperation {
        name: "other_Name".to_owned(),
        ..existing.clone()
    };
    let refused = store
        .insert_operations(vec![fresh_row.clone(), duplicate.clone()])
        .await;
    assert!(refused.is_err(), "a duplicate id is refused");
    assert!(
        !exists(&*store, fresh_row.id).await,
        "a refused batch stored a row"
    );
    assert_eq!(get(&*store, existing.id).await, before);

    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        let op = if i == 8 {
            duplicate.clone()
        } else {
            new_op(t(i))
        };
        tasks.push(tokio::spawn(async move {
            let result = store.insert_operations(vec![op.clone()]).await;
            (op.id, result.is_ok())
        }));
    }
    for task in tasks {
        let (id, ok) = task.await.expect("insert task");
        if id == existing.id {
            assert!(!ok, "the duplicate was accepted");
        } else {
            assert!(ok, "{id} failed alongside the duplicate");
            assert!(exists(&*store, id).await);
        }
    }
    assert_eq!(get(&*store, existing.id).await, before);
}

// ---------------------------------------------------------------------------------------------
// Claiming
// ---------------------------------------------------------------------------------------------

/// Claims take higher priority first, then older rows, at most `limit`; claimed rows are In
/// Progress under the claimer's lease with attempt 1 and are not claimed again.
pub async fn claim_orders_by_priority_then_age(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let low_old = new_op(t(500));
    let low_new = new_op(t(1_000));
    let mid_old = NewOperation {
        priority: 5,
        ..new_op(t(2_000))
    };
    let mid_new = NewOperation {
        priority: 5,
        ..new_op(t(3_000))
    };
    let high = NewOperation {
        priority: 10,
        ..new_op(t(4_000))
    };
    insert(store, &[&low_new, &mid_new, &high, &low_old, &mid_old]).await;
    let inserted_version = get(store, high.id).await.version_number;

    let none = claim(store, "node-a", t(10_000), t(40_000), 0).await;
    assert!(none.claimed.is_empty(), "limit 0 claims nothing");

    let now = t(10_000);
    let first = claim(store, "node-a", now, t(40_000), 3).await;
    assert_eq!(ids(&first.claimed), vec![high.id, mid_old.id, mid_new.id]);
    assert!(first.canceled.is_empty());
    for row in &first.claimed {
        assert_eq!(row.status, OperationStatus::InProgress);
        assert_eq!(row.state().code(), 2);
        assert_eq!(row.attempt, 1);
        assert_eq!(row.retry_count, 0);
        assert_eq!(row.start_time, Some(now), "starttime = claim time");
        assert_eq!(row.modified_on, now);
        assert_eq!(row.end_time, None);
        assert_eq!(
            *row,
            get(store, row.id).await,
            "claim returns the stored row"
        );
    }
    assert!(first.claimed[0].version_number > inserted_version);
    // The lease is node-a's.
    let attempts: Vec<_> = first.claimed.iter().map(|r| (r.id, 1)).collect();
    let leases = renew(store, "node-a", &attempts, t(40_000)).await;
    assert!(leases.iter().all(|l| l.held), "{leases:?}");

    let second = claim(store, "node-b", t(10_001), t(40_000), 10).await;
    assert_eq!(ids(&second.claimed), vec![low_old.id, low_new.id]);
    let third = claim(store, "node-b", t(10_002), t(40_000), 10).await;
    assert!(third.claimed.is_empty(), "{:?}", ids(&third.claimed));
}

/// Claimers racing for the same rows never get the same row twice.
pub async fn concurrent_claims_never_share_a_row(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ops: Vec<_> = (0..40).map(|i| new_op(t(i))).collect();
    insert(&*store, &ops.iter().collect::<Vec<_>>()).await;

    let mut tasks = Vec::new();
    for node in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("node-{node}");
            let mut mine = Vec::new();
            loop {
                let out = claim(&*store, &owner, t(100_000), t(200_000), 3).await;
                if out.claimed.is_empty() {
                    return mine;
                }
                mine.extend(ids(&out.claimed));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("claimer task"));
    }
    let unique: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a row was claimed twice");
    let expected: HashSet<_> = ops.iter().map(|o| o.id).collect();
    assert_eq!(unique, expected, "every row claimed once");
}

/// A retry keeps the first attempt's `starttime` and runs as attempt 2.
pub async fn retry_keeps_first_start_time(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(1_000));
    let first = running(store, &op, t(2_000)).await;
    assert_eq!(first.start_time, Some(t(2_000)));

    let retry = failed("transient", Some(t(5_000)));
    assert!(record(store, op.id, Fence::Attempt(1), t(3_000), retry).await);
    let waiting = get(store, op.id).await;
    assert_eq!(waiting.status, OperationStatus::WaitingForResources);
    assert_eq!(waiting.retry_count, 1);
    assert_eq!(waiting.start_time, Some(t(2_000)));

    let out = claim(store, "node-b", t(6_000), t(60_000), 1).await;
    assert_eq!(ids(&out.claimed), vec![op.id]);
    let second = get(store, op.id).await;
    assert_eq!(second, out.claimed[0]);
    assert_eq!(second.status, OperationStatus::InProgress);
    assert_eq!(
        second.start_time,
        Some(t(2_000)),
        "starttime of the first attempt"
    );
    assert_eq!(second.attempt, 2);
    assert_eq!(second.retry_count, 1);
    assert_eq!(second.modified_on, t(6_000));
}

/// A row waiting for a retry is not claimed before its retry time, and `next_due` names the
/// earliest such time.
pub async fn retry_waits_until_due(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (a, b) = (new_op(t(0)), new_op(t(1)));
    insert(store, &[&a, &b]).await;
    let out = claim(store, "node-a", t(2_000), t(60_000), 10).await;
    assert_eq!(out.next_due, None, "nothing waits yet");
    assert_eq!(out.claimed.len(), 2);
    assert!(
        record(
            store,
            a.id,
            Fence::Attempt(1),
            t(3_000),
            failed("a", Some(t(10_000)))
        )
        .await
    );
    assert!(
        record(
            store,
            b.id,
            Fence::Attempt(1),
            t(3_000),
            failed("b", Some(t(8_000)))
        )
        .await
    );

    let early = claim(store, "node-a", t(5_000), t(60_000), 10).await;
    assert!(early.claimed.is_empty(), "{:?}", ids(&early.claimed));
    assert_eq!(early.next_due, Some(t(8_000)));

    let at_b = claim(store, "node-a", t(8_000), t(60_000), 10).await;
    assert_eq!(ids(&at_b.claimed), vec![b.id], "due at its retry time");
    assert_eq!(at_b.next_due, Some(t(10_000)));

    let before_a = claim(store, "node-a", t(9_999), t(60_000), 10).await;
    assert!(before_a.claimed.is_empty());
    assert_eq!(before_a.next_due, Some(t(10_000)));

    let at_a = claim(store, "node-a", t(10_000), t(60_000), 10).await;
    assert_eq!(ids(&at_a.claimed), vec![a.id]);
    assert_eq!(at_a.next_due, None);
}

// ---------------------------------------------------------------------------------------------
// Fencing
// ---------------------------------------------------------------------------------------------

/// Only the current attempt's writer records an outcome, and only once.
pub async fn outcome_requires_current_attempt(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(1_000));
    running(store, &op, t(2_000)).await;
    let before = get(store, op.id).await;

    for fence in [Fence::Attempt(2), Fence::Attempt(0)] {
        assert!(
            !record(store, op.id, fence, t(3_000), succeeded("[]")).await,
            "{fence:?}"
        );
        assert_eq!(get(store, op.id).await, before, "{fence:?} changed the row");
    }
    let outputs = r#"[{"Key":"Out","Value":"1"}]"#;
    assert!(
        record(
            store,
            op.id,
            Fence::Attempt(1),
            t(3_000),
            succeeded(outputs)
        )
        .await
    );
    let after = get(store, op.id).await;
    assert_eq!(after.status, OperationStatus::Succeeded);

    let again = [
        failed("late", None),
        succeeded(r#"[{"Key":"Out","Value":"2"}]"#),
        AttemptResult::Canceled,
    ];
    for result in again {
        assert!(!record(store, op.id, Fence::Attempt(1), t(4_000), result).await);
        assert_eq!(
            get(store, op.id).await,
            after,
            "a second outcome was recorded"
        );
    }

    let unknown = OperationId::new_random();
    assert!(!record(store, unknown, Fence::Attempt(1), t(4_000), succeeded("[]")).await);

    let ready = new_op(t(1_000));
    insert(store, &[&ready]).await;
    let ready_before = get(store, ready.id).await;
    for fence in [Fence::Attempt(0), Fence::Attempt(1), Fence::ExpiredLease(0)] {
        assert!(!record(store, ready.id, fence, t(4_000), failed("x", None)).await);
    }
    assert_eq!(
        get(store, ready.id).await,
        ready_before,
        "a Ready row took an outcome"
    );
}

/// After recovery took an attempt back and the row ran again, the first node's late outcome and
/// renewal are refused.
pub async fn stale_attempt_is_fenced_after_recovery(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(0));
    insert(store, &[&op]).await;
    claim(store, "node-a", t(1_000), t(5_000), 1).await;

    let lost = AttemptResult::Failed {
        error: OperationError::worker_lost(),
        retry_at: Some(t(7_000)),
    };
    assert!(record(store, op.id, Fence::ExpiredLease(1), t(6_000), lost).await);
    let out = claim(store, "node-b", t(7_000), t(20_000), 1).await;
    assert_eq!(ids(&out.claimed), vec![op.id]);
    assert_eq!(out.claimed[0].attempt, 2);

    assert_eq!(
        renew(store, "node-a", &[(op.id, 1)], t(30_000)).await,
        vec![not_held(op.id)]
    );
    let before = get(store, op.id).await;
    assert!(!record(store, op.id, Fence::Attempt(1), t(8_000), succeeded("[]")).await);
    assert_eq!(get(store, op.id).await, before);

    assert!(record(store, op.id, Fence::Attempt(2), t(9_000), succeeded("[]")).await);
    let row = get(store, op.id).await;
    assert_ended(&row, OperationStatus::Succeeded, t(9_000));
    assert_eq!(row.retry_count, 1);
}

/// Recovery's outcome does not apply while the lease is valid (a renewal won the race), and does
/// once it has run out.
pub async fn expired_lease_fence_waits_for_expiry(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(0));
    insert(store, &[&op]).await;
    claim(store, "node-a", t(1_000), t(5_000), 1).await;
    assert_eq!(
        renew(store, "node-a", &[(op.id, 1)], t(9_000)).await,
        vec![held(op.id, false)]
    );
    let lost = || AttemptResult::Failed {
        error: OperationError::worker_lost(),
        retry_at: None,
    };
    let before = get(store, op.id).await;
    assert!(!record(store, op.id, Fence::ExpiredLease(1), t(6_000), lost()).await);
    assert!(!record(store, op.id, Fence::ExpiredLease(1), t(8_999), lost()).await);
    assert!(!record(store, op.id, Fence::ExpiredLease(2), t(9_000), lost()).await);
    assert_eq!(
        get(store, op.id).await,
        before,
        "recovery applied to a live lease"
    );

    assert!(record(store, op.id, Fence::ExpiredLease(1), t(9_000), lost()).await);
    let row = get(store, op.id).await;
    assert_ended(&row, OperationStatus::Failed, t(9_000));
    assert_eq!(row.error_code, Some(ErrorCode::WORKER_LOST.as_i32()));

    assert!(!record(store, op.id, Fence::Attempt(1), t(9_500), succeeded("[]")).await);
    assert_eq!(get(store, op.id).await.status, OperationStatus::Failed);
}

/// The node's outcome and recovery's outcome racing for the same attempt: exactly one applies.
pub async fn concurrent_outcomes_apply_once(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ops: Vec<_> = (0..8).map(|i| new_op(t(i))).collect();
    insert(&*store, &ops.iter().collect::<Vec<_>>()).await;
    let out = claim(&*store, "node-a", t(1_000), t(2_000), 8).await;
    assert_eq!(out.claimed.len(), 8);

    let mut races = Vec::new();
    for op in &ops {
        let (s1, s2, id) = (store.clone(), store.clone(), op.id);
        let node = tokio::spawn(async move {
            record(&*s1, id, Fence::Attempt(1), t(3_000), succeeded("[]")).await
        });
        let recovery = tokio::spawn(async move {
            let lost = AttemptResult::Failed {
                error: OperationError::worker_lost(),
                retry_at: None,
            };
            record(&*s2, id, Fence::ExpiredLease(1), t(3_000), lost).await
        });
        races.push((id, node, recovery));
    }
    for (id, node, recovery) in races {
        let node = node.await.expect("node task");
        let recovery = recovery.await.expect("recovery task");
        assert!(node ^ recovery, "{id}: node {node}, recovery {recovery}");
        let expected = if node {
            OperationStatus::Succeeded
        } else {
            OperationStatus::Failed
        };
        assert_eq!(get(&*store, id).await.status, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

/// Success ends the row 3/30 with its outputs and no error.
pub async fn succeeded_outcome_is_recorded(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(0));
    let claimed = running(store, &op, t(1_000)).await;
    let outputs = r#"[{"Key":"Count","Value":"42"}]"#;
    assert!(
        record(
            store,
            op.id,
            Fence::Attempt(1),
            t(2_000),
            succeeded(outputs)
        )
        .await
    );
    let row = get(store, op.id).await;
    assert_ended(&row, OperationStatus::Succeeded, t(2_000));
    assert_eq!(row.state().code(), 3);
    assert_eq!(row.status.code(), 30);
    assert_eq!(row.output_parameters.as_deref(), Some(outputs));
    assert_eq!(row.error_code, None);
    assert_eq!(row.error_message, None);
    assert_eq!(row.start_time, Some(t(1_000)));
    assert_eq!(row.retry_count, 0);
    assert!(row.version_number > claimed.version_number);
}

/// Failure without a retry ends the row 3/31 with the error's signed code and message.
pub async fn failed_outcome_is_recorded(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(0));
    running(store, &op, t(1_000)).await;
    let error = OperationError::plugin("The row is locked.", true);
    let result = AttemptResult::Failed {
        error,
        retry_at: None,
    };
    assert!(record(store, op.id, Fence::Attempt(1), t(2_000), result).await);
    let row = get(store, op.id).await;
    assert_ended(&row, OperationStatus::Failed, t(2_000));
    assert_eq!(row.status.code(), 31);
    assert_eq!(
        row.error_code,
        Some(-2_147_220_891),
        "0x80040265 as a signed Int32"
    );
    assert_eq!(row.error_code, Some(ErrorCode::PLUGIN_ERROR.as_i32()));
    assert_eq!(row.error_message.as_deref(), Some("The row is locked."));
    assert_eq!(row.output_parameters, None);
    assert_eq!(row.retry_count, 0);

    // The last attempt's error is the one kept.
    let retried = new_op(t(0));
    running(store, &retried, t(1_000)).await;
    let first = failed("first", Some(t(3_000)));
    assert!(record(store, retried.id, Fence::Attempt(1), t(2_000), first).await);
    claim(store, "node-a", t(3_000), t(60_000), 1).await;
    let last = AttemptResult::Failed {
        error: OperationError::timeout(),
        retry_at: None,
    };
    assert!(record(store, retried.id, Fence::Attempt(2), t(4_000), last).await);
    let row = get(store, retried.id).await;
    assert_ended(&row, OperationStatus::Failed, t(4_000));
    assert_eq!(row.error_code, Some(ErrorCode::TIMEOUT.as_i32()));
    assert_eq!(
        row.error_message.as_deref(),
        Some(OperationError::timeout().message.as_str())
    );
    assert_eq!(row.retry_count, 1);
    assert_eq!(row.start_time, Some(t(1_000)));
}

/// Failure with a retry time puts the row back to 0/0, one more retry counted, no error shown.
pub async fn failed_outcome_with_retry_waits(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(0));
    running(store, &op, t(1_000)).await;
    assert!(
        record(
            store,
            op.id,
            Fence::Attempt(1),
            t(2_000),
            failed("x", Some(t(9_000)))
        )
        .await
    );
    let row = get(store, op.id).await;
    assert_eq!(row.status, OperationStatus::WaitingForResources);
    assert_eq!(row.state().code(), 0);
    assert_eq!(row.retry_count, 1);
    assert_eq!(row.error_code, None);
    assert_eq!(row.error_message, None);
    assert_eq!(row.end_time, None);
    assert_eq!(row.output_parameters, None);
    assert_eq!(row.modified_on, t(2_000));
    assert_eq!(
        row.attempt, 1,
        "the attempt number stays until the next claim"
    );
    assert!(
        expired(store, t(1_000_000_000), 10).await.is_empty(),
        "a waiting row holds no lease"
    );
}

/// A plug-in that stopped on a cancel request ends the row 3/32, without error or outputs.
pub async fn canceled_outcome_is_recorded(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(0));
    running(store, &op, t(1_000)).await;
    assert_eq!(
        cancel(store, op.id, t(1_500), None).await,
        CancelOutcome::Requested { was_running: true }
    );
    assert!(
        record(
            store,
            op.id,
            Fence::Attempt(1),
            t(2_000),
            AttemptResult::Canceled
        )
        .await
    );
    let row = get(store, op.id).await;
    assert_ended(&row, OperationStatus::Canceled, t(2_000));
    assert_eq!(row.status.code(), 32);
    assert_eq!(row.error_code, None);
    assert_eq!(row.error_message, None);
    assert_eq!(row.output_parameters, None);
    assert_eq!(row.start_time, Some(t(1_000)));
}

// ---------------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------------

/// Canceling an unknown id finds nothing.
pub async fn cancel_unknown_is_not_found(db: &dyn TestDatabase) {
    let store = db.open().await;
    let id = OperationId::new_random();
    assert_eq!(
        cancel(&*store, id, t(0), None).await,
        CancelOutcome::NotFound
    );
    assert_eq!(
        cancel(&*store, id, t(0), Some(1)).await,
        CancelOutcome::NotFound
    );
}

/// A Ready row, new or waiting for a retry, becomes 2/22 and the next claim finalizes it as
/// Canceled instead of running it.
pub async fn cancel_ready_row_never_runs(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(0));
    insert(store, &[&op]).await;
    let before = get(store, op.id).await;
    assert_eq!(
        cancel(store, op.id, t(1_000), None).await,
        CancelOutcome::Requested { was_running: false }
    );
    let canceling = get(store, op.id).await;
    assert_eq!(canceling.status, OperationStatus::Canceling);
    assert_eq!(canceling.state().code(), 2);
    assert_eq!(canceling.modified_on, t(1_000));
    assert!(canceling.version_number > before.version_number);
    assert_eq!(canceling.start_time, None);
    assert!(
        expired(store, t(1_000_000_000), 10).await.is_empty(),
        "no lease"
    );
    assert_eq!(
        renew(store, "node-a", &[(op.id, 0)], t(5_000)).await,
        vec![not_held(op.id)]
    );

    let other = new_op(t(0));
    insert(store, &[&other]).await;
    let out = claim(store, "node-a", t(2_000), t(60_000), 10).await;
    assert_eq!(out.canceled, vec![op.id]);
    assert_eq!(
        ids(&out.claimed),
        vec![other.id],
        "the canceled row never runs"
    );
    let row = get(store, op.id).await;
    assert_ended(&row, OperationStatus::Canceled, t(2_000));
    assert_eq!(row.start_time, None);
    assert_eq!(row.attempt, 0);
    assert_eq!(row.error_code, None);
    let again = claim(store, "node-a", t(3_000), t(60_000), 10).await;
    assert!(again.canceled.is_empty() && again.claimed.is_empty());

    // A row waiting for a retry is not retried once canceled.
    let waiting = new_op(t(0));
    running(store, &waiting, t(4_000)).await;
    let retry = failed("x", Some(t(1_000_000)));
    assert!(record(store, waiting.id, Fence::Attempt(1), t(5_000), retry).await);
    assert_eq!(
        cancel(store, waiting.id, t(6_000), None).await,
        CancelOutcome::Requested { was_running: false }
    );
    let out = claim(store, "node-a", t(2_000_000), t(3_000_000), 10).await;
    assert_eq!(out.canceled, vec![waiting.id]);
    assert!(out.claimed.is_empty(), "{:?}", ids(&out.claimed));
    assert_eq!(out.next_due, None);
    let row = get(store, waiting.id).await;
    assert_ended(&row, OperationStatus::Canceled, t(2_000_000));
    assert_eq!(row.retry_count, 1);
}

/// Canceling a running row signals it through renewals; its failure is then final, and a
/// plug-in that stops ends it Canceled.
pub async fn cancel_running_row_is_signaled_and_not_retried(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (a, b) = (new_op(t(0)), new_op(t(1)));
    insert(store, &[&a, &b]).await;
    claim(store, "node-a", t(1_000), t(60_000), 2).await;

    assert_eq!(
        cancel(store, a.id, t(2_000), None).await,
        CancelOutcome::Requested { was_running: true }
    );
    let row = get(store, a.id).await;
    assert_eq!(row.status, OperationStatus::Canceling);
    assert_eq!(row.start_time, Some(t(1_000)));
    assert_eq!(row.attempt, 1);
    assert_eq!(row.modified_on, t(2_000));
    assert_eq!(
        renew(store, "node-a", &[(a.id, 1), (b.id, 1)], t(60_000)).await,
        vec![held(a.id, true), held(b.id, false)]
    );
    let out = claim(store, "node-a", t(3_000), t(60_000), 10).await;
    assert!(
        out.canceled.is_empty(),
        "a running row is finalized by its attempt"
    );
    assert!(out.claimed.is_empty());
    assert_eq!(get(store, a.id).await.status, OperationStatus::Canceling);

    let retry = failed("stopped", Some(t(4_000)));
    assert!(record(store, a.id, Fence::Attempt(1), t(3_500), retry).await);
    let row = get(store, a.id).await;
    assert_ended(&row, OperationStatus::Failed, t(3_500));
    assert_eq!(row.retry_count, 0, "not retried");
    assert_eq!(row.error_message.as_deref(), Some("stopped"));
    assert_eq!(row.error_code, Some(ErrorCode::PLUGIN_ERROR.as_i32()));
    let later = claim(store, "node-a", t(5_000), t(60_000), 10).await;
    assert!(later.claimed.is_empty());

    assert_eq!(
        cancel(store, b.id, t(4_000), None).await,
        CancelOutcome::Requested { was_running: true }
    );
    assert!(
        record(
            store,
            b.id,
            Fence::Attempt(1),
            t(4_500),
            AttemptResult::Canceled
        )
        .await
    );
    let row = get(store, b.id).await;
    assert_ended(&row, OperationStatus::Canceled, t(4_500));
    assert_eq!(row.error_code, None);
}

/// A terminal row refuses cancellation and does not change.
pub async fn cancel_terminal_row_is_refused(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let results = [succeeded("[]"), failed("x", None), AttemptResult::Canceled];
    for result in results {
        let op = new_op(t(0));
        running(store, &op, t(1_000)).await;
        assert!(record(store, op.id, Fence::Attempt(1), t(2_000), result).await);
        let before = get(store, op.id).await;
        assert_eq!(
            cancel(store, op.id, t(3_000), None).await,
            CancelOutcome::Terminal
        );
        let current = Some(before.version_number);
        assert_eq!(
            cancel(store, op.id, t(3_000), current).await,
            CancelOutcome::Terminal
        );
        assert_eq!(
            get(store, op.id).await,
            before,
            "{:?} changed",
            before.status
        );
    }
}

/// A cancel naming another version changes nothing; naming the current one applies.
pub async fn cancel_checks_version(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (a, b) = (new_op(t(0)), new_op(t(1)));
    insert(store, &[&a]).await;
    let before = get(store, a.id).await;
    let v = before.version_number;
    for wrong in [v + 1, v - 1, 0] {
        assert_eq!(
            cancel(store, a.id, t(1_000), Some(wrong)).await,
            CancelOutcome::VersionMismatch
        );
    }
    assert_eq!(get(store, a.id).await, before);
    assert_eq!(
        cancel(store, a.id, t(1_000), Some(v)).await,
        CancelOutcome::Requested { was_running: false }
    );
    assert_eq!(get(store, a.id).await.status, OperationStatus::Canceling);

    // A running row: the version from before the claim is stale.
    insert(store, &[&b]).await;
    let submitted = get(store, b.id).await.version_number;
    // The claim also finalizes `a` (canceled before it ran).
    claim(store, "node-a", t(2_000), t(60_000), 1).await;
    let running_row = get(store, b.id).await;
    assert_eq!(running_row.status, OperationStatus::InProgress);
    assert_eq!(
        cancel(store, b.id, t(3_000), Some(submitted)).await,
        CancelOutcome::VersionMismatch
    );
    assert_eq!(get(store, b.id).await, running_row);
    assert_eq!(
        cancel(store, b.id, t(3_000), Some(running_row.version_number)).await,
        CancelOutcome::Requested { was_running: true }
    );
}

/// A repeated cancel changes nothing and answers as the first did: `was_running` still says
/// whether an attempt runs, so the engine can signal it.
pub async fn repeated_cancel_answers_like_the_first(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (ready, busy) = (new_op(t(0)), new_op(t(1)));
    insert(store, &[&busy]).await;
    claim(store, "node-a", t(1_000), t(60_000), 1).await;
    insert(store, &[&ready]).await;

    for now in [t(2_000), t(3_000)] {
        assert_eq!(
            cancel(store, ready.id, now, None).await,
            CancelOutcome::Requested { was_running: false }
        );
        assert_eq!(
            get(store, ready.id).await.status,
            OperationStatus::Canceling
        );
    }
    for now in [t(2_000), t(3_000)] {
        assert_eq!(
            cancel(store, busy.id, now, None).await,
            CancelOutcome::Requested { was_running: true },
            "cancel at {now:?} of a running row"
        );
        assert_eq!(get(store, busy.id).await.status, OperationStatus::Canceling);
    }
    assert_eq!(
        renew(store, "node-a", &[(busy.id, 1)], t(60_000)).await,
        vec![held(busy.id, true)]
    );
    let out = claim(store, "node-a", t(4_000), t(60_000), 10).await;
    assert_eq!(out.canceled, vec![ready.id], "finalized once");
}

// ---------------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------------

/// Only the owner of the current attempt renews it; a renewal extends the lease.
pub async fn renew_leases_only_for_current_holder(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (a, b, ready) = (new_op(t(0)), new_op(t(1)), new_op(t(2)));
    insert(store, &[&a, &b]).await;
    claim(store, "node-a", t(1_000), t(5_000), 2).await;
    insert(store, &[&ready]).await;

    assert_eq!(
        renew(store, "node-b", &[(a.id, 1)], t(20_000)).await,
        vec![not_held(a.id)],
        "another owner"
    );
    assert_eq!(
        renew(store, "node-a", &[(a.id, 2), (a.id, 0)], t(20_000)).await,
        vec![not_held(a.id), not_held(a.id)],
        "a stale or future attempt"
    );
    let unknown = OperationId::new_random();
    assert_eq!(
        renew(
            store,
            "node-a",
            &[(unknown, 1), (ready.id, 0), (ready.id, 1)],
            t(20_000)
        )
        .await,
        vec![not_held(unknown), not_held(ready.id), not_held(ready.id)],
        "rows that do not run"
    );
    let lapsed: Vec<_> = expired(store, t(5_000), 10)
        .await
        .iter()
        .map(|l| l.id)
        .collect();
    let mut both = vec![a.id, b.id];
    both.sort();
    assert_eq!(lapsed, both, "refused renewals extended nothing");

    assert_eq!(
        renew(store, "node-a", &[(b.id, 1), (a.id, 1)], t(20_000)).await,
        vec![held(b.id, false), held(a.id, false)],
        "answers in request order"
    );
    assert!(
        expired(store, t(19_999), 10).await.is_empty(),
        "leases extended"
    );
    assert_eq!(expired(store, t(20_000), 10).await.len(), 2);

    assert!(record(store, a.id, Fence::Attempt(1), t(6_000), succeeded("[]")).await);
    assert_eq!(
        renew(store, "node-a", &[(a.id, 1)], t(30_000)).await,
        vec![not_held(a.id)],
        "a finished attempt"
    );
}

/// `expired_leases` lists exactly the attempts whose lease ran out, with what recovery needs.
pub async fn expired_leases_lists_only_lapsed_attempts(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let a = NewOperation {
        priority: 9,
        max_retries: 4,
        ..new_op(t(0))
    };
    let b = NewOperation {
        priority: 5,
        ..new_op(t(0))
    };
    let c = new_op(t(0));
    insert(store, &[&a, &b, &c]).await;
    assert!(
        expired(store, t(1_000_000), 10).await.is_empty(),
        "no leases yet"
    );
    claim(store, "node-a", t(1_000), t(5_000), 1).await;
    claim(store, "node-b", t(1_000), t(8_000), 1).await;

    assert!(expired(store, t(4_999), 10).await.is_empty());
    let lease_a = |attempt, retry_count| ExpiredLease {
        id: a.id,
        attempt,
        status: OperationStatus::InProgress,
        retry_count,
        max_retries: 4,
    };
    assert_eq!(expired(store, t(5_000), 10).await, vec![lease_a(1, 0)]);

    cancel(store, b.id, t(6_000), None).await;
    let lease_b = ExpiredLease {
        id: b.id,
        attempt: 1,
        status: OperationStatus::Canceling,
        retry_count: 0,
        max_retries: 3,
    };
    let mut want = vec![lease_a(1, 0), lease_b];
    want.sort_by_key(|l| l.id);
    assert_eq!(expired(store, t(8_000), 10).await, want);
    assert_eq!(expired(store, t(8_000), 1).await.len(), 1, "limit");

    let lost = AttemptResult::Failed {
        error: OperationError::worker_lost(),
        retry_at: Some(t(9_000)),
    };
    assert!(record(store, a.id, Fence::ExpiredLease(1), t(8_000), lost).await);
    assert!(
        record(
            store,
            b.id,
            Fence::ExpiredLease(1),
            t(8_000),
            AttemptResult::Canceled
        )
        .await
    );
    assert!(expired(store, t(8_000), 10).await.is_empty(), "recovered");
    let out = claim(store, "node-c", t(9_000), t(12_000), 1).await;
    assert_eq!(ids(&out.claimed), vec![a.id]);
    assert!(expired(store, t(11_999), 10).await.is_empty());
    assert_eq!(expired(store, t(12_000), 10).await, vec![lease_a(2, 1)]);
}

// ---------------------------------------------------------------------------------------------
// Time to live
// ---------------------------------------------------------------------------------------------

/// Rows are deleted once `modifiedon + ttlinseconds` has passed, never while Locked.
pub async fn sweep_deletes_rows_past_their_ttl(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let idle = NewOperation {
        ttl_seconds: 10,
        ..new_op(t(0))
    };
    let long = NewOperation {
        ttl_seconds: 1_000,
        ..new_op(t(0))
    };
    insert(store, &[&idle, &long]).await;
    assert_eq!(sweep(store, t(9_999), 100).await, 0);
    assert!(exists(store, idle.id).await);
    assert_eq!(sweep(store, t(10_000), 100).await, 1);
    assert!(
        !exists(store, idle.id).await,
        "a Ready row past its TTL is deleted"
    );
    assert!(exists(store, long.id).await);

    // The time to live counts from the last modification, not the creation.
    let finished = NewOperation {
        ttl_seconds: 10,
        ..new_op(t(20_000))
    };
    insert(store, &[&finished]).await;
    let out = claim(store, "node-a", t(25_000), t(1_000_000_000), 10).await;
    assert_eq!(out.claimed.len(), 2);
    assert!(
        record(
            store,
            finished.id,
            Fence::Attempt(1),
            t(30_000),
            succeeded("[]")
        )
        .await
    );
    assert_eq!(sweep(store, t(39_999), 100).await, 0);
    assert!(exists(store, finished.id).await);
    assert_eq!(sweep(store, t(40_000), 100).await, 1);
    assert!(!exists(store, finished.id).await);

    // Locked rows stay, running or canceling, however old.
    let far = t(10_000_000_000);
    assert_eq!(sweep(store, far, 100).await, 0);
    assert!(exists(store, long.id).await, "an In Progress row was swept");
    cancel(store, long.id, t(50_000), None).await;
    assert_eq!(sweep(store, far, 100).await, 0);
    assert!(exists(store, long.id).await, "a Canceling row was swept");
    let pending = new_op(t(0));
    insert(store, &[&pending]).await;
    cancel(store, pending.id, t(0), None).await;
    assert_eq!(
        sweep(store, far, 100).await,
        0,
        "canceled before it ran, not finalized"
    );
    assert!(exists(store, pending.id).await);

    assert!(
        record(
            store,
            long.id,
            Fence::Attempt(1),
            t(60_000),
            AttemptResult::Canceled
        )
        .await
    );
    claim(store, "node-a", t(60_000), t(70_000), 10).await;
    assert_eq!(sweep(store, far, 100).await, 2);
    assert!(!exists(store, long.id).await && !exists(store, pending.id).await);
}

/// A sweep deletes at most `limit` rows and reports how many.
pub async fn sweep_respects_limit(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let ops: Vec<_> = (0..5)
        .map(|i| NewOperation {
            ttl_seconds: 1,
            ..new_op(t(i))
        })
        .collect();
    insert(store, &ops.iter().collect::<Vec<_>>()).await;
    assert_eq!(sweep(store, t(10_000), 0).await, 0, "limit 0");
    assert_eq!(sweep(store, t(10_000), 2).await, 2);
    assert_eq!(sweep(store, t(10_000), 2).await, 2);
    assert_eq!(sweep(store, t(10_000), 2).await, 1);
    assert_eq!(sweep(store, t(10_000), 2).await, 0);
    for op in &ops {
        assert!(!exists(store, op.id).await);
    }
}

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

/// Tracks one row's `versionnumber` across writes.
struct VersionTrail {
    /// The row.
    id: OperationId,
    /// Its version after the previous write.
    last: i64,
}

impl VersionTrail {
    async fn start(store: &dyn Store, id: OperationId) -> Self {
        let last = get(store, id).await.version_number;
        assert!(last > 0);
        Self { id, last }
    }

    /// Asserts the row's version grew since the last check.
    async fn grew(&mut self, store: &dyn Store, write: &str) {
        let v = get(store, self.id).await.version_number;
        assert!(
            v > self.last,
            "{write}: versionnumber {v} after {}",
            self.last
        );
        self.last = v;
    }
}

/// Every write of a row gives it a greater `versionnumber`.
pub async fn version_increases_on_every_write(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;

    let a = new_op(t(0));
    insert(store, &[&a]).await;
    let mut va = VersionTrail::start(store, a.id).await;
    let out = claim(store, "node-a", t(1_000), t(60_000), 1).await;
    assert_eq!(
        out.claimed[0].version_number,
        get(store, a.id).await.version_number
    );
    va.grew(store, "claim").await;
    assert!(
        record(
            store,
            a.id,
            Fence::Attempt(1),
            t(2_000),
            failed("x", Some(t(3_000)))
        )
        .await
    );
    va.grew(store, "failure with retry").await;
    claim(store, "node-a", t(3_000), t(60_000), 1).await;
    va.grew(store, "second claim").await;
    cancel(store, a.id, t(4_000), None).await;
    va.grew(store, "cancel of a running row").await;
    assert!(record(store, a.id, Fence::Attempt(2), t(5_000), failed("x", None)).await);
    va.grew(store, "failure").await;

    let b = new_op(t(0));
    insert(store, &[&b]).await;
    let mut vb = VersionTrail::start(store, b.id).await;
    cancel(store, b.id, t(6_000), None).await;
    vb.grew(store, "cancel of a ready row").await;
    claim(store, "node-a", t(7_000), t(60_000), 1).await;
    vb.grew(store, "finalized as canceled").await;

    for result in [succeeded("[]"), AttemptResult::Canceled] {
        let c = new_op(t(0));
        insert(store, &[&c]).await;
        let mut vc = VersionTrail::start(store, c.id).await;
        claim(store, "node-a", t(8_000), t(60_000), 1).await;
        vc.grew(store, "claim").await;
        assert!(record(store, c.id, Fence::Attempt(1), t(9_000), result).await);
        vc.grew(store, "outcome").await;
    }
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// `IfAbsent` creates the bootstrap administrator once and never replaces its key.
pub async fn bootstrap_admin_if_absent(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let find = |hash: &'static str| async move {
        store
            .find_user_by_key_hash(hash)
            .await
            .expect("find_user_by_key_hash")
    };
    assert_eq!(find("hash-1").await, None);
    let created = store
        .bootstrap_admin(AdminKey::IfAbsent("hash-1".to_owned()), t(1_000))
        .await
        .expect("bootstrap_admin");
    assert!(created);
    let admin = find("hash-1").await.expect("the administrator");
    assert!(admin.is_system_administrator);
    assert!(!admin.full_name.is_empty());
    let by_id = store.find_user(admin.id).await.expect("find_user");
    assert_eq!(by_id, Some(admin.clone()));

    let again = store
        .bootstrap_admin(AdminKey::IfAbsent("hash-2".to_owned()), t(2_000))
        .await
        .expect("bootstrap_admin");
    assert!(!again, "an existing administrator keeps its key");
    assert_eq!(find("hash-1").await, Some(admin));
    assert_eq!(find("hash-2").await, None);
    assert_eq!(
        store
            .find_user(UserId::new_random())
            .await
            .expect("find_user"),
        None
    );
}

/// `Set` creates the administrator if needed and otherwise replaces its key, keeping the user.
pub async fn bootstrap_admin_set_replaces_key(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let find = |hash: &'static str| async move {
        store
            .find_user_by_key_hash(hash)
            .await
            .expect("find_user_by_key_hash")
    };
    let set = |hash: &'static str| async move {
        store
            .bootstrap_admin(AdminKey::Set(hash.to_owned()), t(1_000))
            .await
            .expect("bootstrap_admin")
    };
    assert!(set("hash-1").await, "creates on an empty store");
    let admin = find("hash-1").await.expect("the administrator");
    assert!(admin.is_system_administrator);

    assert!(set("hash-2").await);
    assert_eq!(find("hash-1").await, None, "the old key no longer works");
    assert_eq!(
        find("hash-2").await,
        Some(admin.clone()),
        "same user, new key"
    );

    let kept = store
        .bootstrap_admin(AdminKey::IfAbsent("hash-3".to_owned()), t(2_000))
        .await
        .expect("bootstrap_admin");
    assert!(!kept);
    assert_eq!(find("hash-2").await, Some(admin));
    assert_eq!(find("hash-3").await, None);
}

// ---------------------------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------------------------

/// What a store wrote is there after it is dropped and the database reopened, and versions keep
/// growing past the old ones.
pub async fn reopen_keeps_rows(db: &dyn TestDatabase) {
    let store = db.open().await;
    let done = NewOperation {
        priority: 10,
        ..new_op(t(0))
    };
    let ready = new_op(t(1));
    insert(&*store, &[&done, &ready]).await;
    claim_only(&*store, done.id).await;
    assert!(
        record(
            &*store,
            done.id,
            Fence::Attempt(1),
            t(2_000),
            succeeded("[]")
        )
        .await
    );
    assert!(store
        .bootstrap_admin(AdminKey::Set("hash-1".to_owned()), t(0))
        .await
        .expect("bootstrap_admin"));
    let done_before = get(&*store, done.id).await;
    let ready_before = get(&*store, ready.id).await;
    drop(store);

    let store = db.open().await;
    assert_eq!(get(&*store, done.id).await, done_before);
    assert_eq!(get(&*store, ready.id).await, ready_before);
    let admin = store
        .find_user_by_key_hash("hash-1")
        .await
        .expect("find_user_by_key_hash");
    assert!(admin.is_some_and(|u| u.is_system_administrator));

    let out = claim(&*store, "node-a", t(3_000), t(60_000), 10).await;
    assert_eq!(
        ids(&out.claimed),
        vec![ready.id],
        "the finished row is not run again"
    );
    let newest = done_before.version_number.max(ready_before.version_number);
    assert!(
        out.claimed[0].version_number > newest,
        "versionnumber {} after reopen, {newest} before",
        out.claimed[0].version_number
    );
}

/// A setting is created from its default once, kept across calls and reopening, and replaced
/// only by an explicit value.
pub async fn settings_are_created_once_and_kept(db: &dyn TestDatabase) {
    let store = db.open().await;
    let first = store
        .setting("webhook_secret", None, "a".into())
        .await
        .unwrap();
    assert_eq!(first, "a");
    let again = store
        .setting("webhook_secret", None, "b".into())
        .await
        .unwrap();
    assert_eq!(
        again, "a",
        "the default applies only when nothing is stored"
    );
    let set = store
        .setting("webhook_secret", Some("c".into()), "d".into())
        .await
        .unwrap();
    assert_eq!(set, "c");
    drop(store);
    let store = db.open().await;
    assert_eq!(
        store
            .setting("webhook_secret", None, "e".into())
            .await
            .unwrap(),
        "c"
    );
    assert_eq!(store.setting("other", None, "x".into()).await.unwrap(), "x");
}
