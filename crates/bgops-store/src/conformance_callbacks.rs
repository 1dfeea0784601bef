//! The conformance suite for the callback outbox (`claim_deliveries`, `renew_delivery`,
//! `record_delivery`, `deliveries_of`, and the deliveries written when a row ends): what every
//! [`Store`] backend must do so that a completion callback is written with its terminal state,
//! sent by one node at a time, and retried or finished behind a fence.
//!
//! Each case is a public async fn taking a fresh, empty, migrated store; [`CASES`] lists them.
//! A backend's test file calls
//! [`store_callback_conformance_tests!`](crate::store_callback_conformance_tests):
//!
//! ```ignore
//! async fn fresh() -> (TempDir, Arc<dyn Store>) { /* an empty database and a store on it */ }
//! bgops_store::store_callback_conformance_tests!(fresh);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bgops_core::{
    ErrorCode, NewOperation, OperationError, OperationId, OperationStatus, Timestamp, UserId,
};

use crate::{
    AttemptOutcome, AttemptResult, CallbackDelivery, ClaimRequest, DeliveryClaim,
    DeliveryClaimRequest, DeliveryLease, DeliveryOutcome, DeliveryResult, DeliveryStatus, Fence,
    Store,
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
    terminal_row_with_callback_writes_one_delivery,
    row_without_callback_writes_none,
    retried_attempt_writes_no_delivery,
    failed_and_canceled_rows_carry_their_payload,
    claim_leases_each_delivery_once,
    expired_delivery_lease_is_taken_back,
    record_is_fenced_on_attempt_and_owner,
    retry_waits_until_due,
    delivered_and_given_up_are_final,
    renew_extends_only_the_holders_lease,
    sweep_deletes_deliveries_with_their_operation,
);

/// Generates one `#[tokio::test]` per callback conformance case, each on a fresh store from
/// `$fresh`: a fn or closure returning a future of `(guard, Arc<dyn Store>)`, where the guard
/// lives until the case ends. The calling crate needs `tokio` with the `macros` and
/// `rt-multi-thread` features.
///
/// `store_callback_conformance_tests!(fresh)` runs every case; to mark cases for one backend,
/// list them after a `;`, each with its attributes. Either way a generated test checks that the
/// list names every case in [`CASES`].
#[macro_export]
macro_rules! store_callback_conformance_tests {
    ($fresh:expr) => {
        $crate::store_callback_conformance_tests!($fresh;
            terminal_row_with_callback_writes_one_delivery,
            row_without_callback_writes_none,
            retried_attempt_writes_no_delivery,
            failed_and_canceled_rows_carry_their_payload,
            claim_leases_each_delivery_once,
            expired_delivery_lease_is_taken_back,
            record_is_fenced_on_attempt_and_owner,
            retry_waits_until_due,
            delivered_and_given_up_are_final,
            renew_extends_only_the_holders_lease,
            sweep_deletes_deliveries_with_their_operation,
        );
    };
    ($fresh:expr; $($(#[$attr:meta])* $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn $case() {
                let (_guard, store) = ($fresh)().await;
                $crate::conformance_callbacks::$case(store).await;
            }
        )+

        #[test]
        fn every_callback_conformance_case_is_generated() {
            let mut generated: Vec<&str> = vec![$(stringify!($case)),+];
            let mut listed: Vec<&str> =
                $crate::conformance_callbacks::CASES.iter().map(|(n, _)| *n).collect();
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
fn t(ms: i64) -> Timestamp {
    Timestamp(EPOCH + ms)
}

const URL: &str = "https://receiver.example/hook?sig=abc";

fn location(id: OperationId) -> String {
    format!("https://bgops.example/api/backgroundoperation/{id}")
}

/// A submission at `t(0)`, with a callback when `callback`.
fn new_op(callback: bool) -> NewOperation {
    let id = OperationId::new_random();
    let user = UserId::new_random();
    NewOperation {
        id,
        name: "sample_Echo".to_owned(),
        display_name: "Echo".to_owned(),
        input_parameters: "[]".to_owned(),
        run_as: user,
        created_by: user,
        priority: 0,
        ttl_seconds: 60,
        max_retries: 3,
        created_on: t(0),
        callback_url: callback.then(|| URL.to_owned()),
        location: Some(location(id)),
        trace_parent: None,
    }
}

/// Inserts `op`, claims it and records the outcome `result` of attempt 1 at `now`.
async fn finish(store: &dyn Store, op: &NewOperation, result: AttemptResult, now: Timestamp) {
    store
        .insert_operations(vec![op.clone()])
        .await
        .expect("insert");
    let claim = store
        .claim(ClaimRequest {
            owner: "node-run".to_owned(),
            now: t(1),
            lease_until: t(600_000),
            limit: 100,
        })
        .await
        .expect("claim");
    assert!(claim.claimed.iter().any(|o| o.id == op.id), "claimed");
    let applied = store
        .record_outcome(AttemptOutcome {
            id: op.id,
            // Started and ended in one write, as a fast attempt records it.
            fence: Fence::Reserved {
                owner: "node-run".to_owned(),
                attempt: 1,
                started: t(1),
            },
            now,
            result,
        })
        .await
        .expect("record outcome");
    assert!(applied.applied(), "outcome applied");
}

fn succeeded() -> AttemptResult {
    AttemptResult::Succeeded {
        outputs: r#"[{"Key":"Text","Value":"secret output"}]"#.to_owned(),
        outputs_json: None,
    }
}

async fn deliveries(store: &dyn Store, id: OperationId) -> Vec<CallbackDelivery> {
    store.deliveries_of(id).await.expect("deliveries_of")
}

async fn only_delivery(store: &dyn Store, id: OperationId) -> CallbackDelivery {
    let mut all = deliveries(store, id).await;
    assert_eq!(all.len(), 1, "one delivery: {all:?}");
    all.remove(0)
}

async fn claim(store: &dyn Store, owner: &str, now: Timestamp, limit: usize) -> DeliveryClaim {
    store
        .claim_deliveries(DeliveryClaimRequest {
            owner: owner.to_owned(),
            now,
            lease_until: now.plus(std::time::Duration::from_secs(30)),
            limit,
        })
        .await
        .expect("claim deliveries")
}

async fn record(
    store: &dyn Store,
    lease: &DeliveryLease,
    now: Timestamp,
    result: DeliveryResult,
) -> bool {
    store
        .record_delivery(DeliveryOutcome {
            lease: lease.clone(),
            now,
            result,
        })
        .await
        .expect("record delivery")
}

fn ids(claim: &DeliveryClaim) -> Vec<OperationId> {
    claim.claimed.iter().map(|d| d.operation_id).collect()
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// A row that asked for a callback gets exactly one pending delivery, due at once, in the same
/// write as its terminal state, with the payload of SPEC §9 and no outputs.
pub async fn terminal_row_with_callback_writes_one_delivery(store: Arc<dyn Store>) {
    let store = &*store;
    let op = new_op(true);
    finish(store, &op, succeeded(), t(5_000)).await;
    let d = only_delivery(store, op.id).await;
    assert_eq!(d.operation_id, op.id);
    assert_eq!(d.url, URL);
    assert_eq!(d.location, location(op.id));
    assert_eq!(d.operation_status, OperationStatus::Succeeded);
    assert_eq!((d.error_code, d.error_message.as_deref()), (None, None));
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.attempts, 0);
    assert_eq!(d.next_attempt_at, Some(t(5_000)));
    assert_eq!(d.first_attempt_at, None);
    assert_eq!(d.created_on, t(5_000));
    assert_eq!(d.delivered_on, None);
    assert!(!d.webhook_id.is_empty());
    let body = String::from_utf8(d.payload().to_json_bytes()).unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"location":"{}","backgroundOperationId":"{}","backgroundOperationStateCode":3,"backgroundOperationStatusCode":30}}"#,
            location(op.id),
            op.id
        )
    );
}

/// Without a callback URL nothing is written.
pub async fn row_without_callback_writes_none(store: Arc<dyn Store>) {
    let store = &*store;
    let op = new_op(false);
    finish(store, &op, succeeded(), t(5_000)).await;
    assert!(deliveries(store, op.id).await.is_empty());
    assert!(claim(store, "node-a", t(10_000), 10)
        .await
        .claimed
        .is_empty());
}

/// A failed attempt that will be retried is not terminal: no delivery yet.
pub async fn retried_attempt_writes_no_delivery(store: Arc<dyn Store>) {
    let store = &*store;
    let op = new_op(true);
    let failed = AttemptResult::Failed {
        error: OperationError::plugin("try again", false),
        retry_at: Some(t(9_000)),
    };
    finish(store, &op, failed, t(5_000)).await;
    assert!(deliveries(store, op.id).await.is_empty());
}

/// Failed rows carry their error code and message; Canceled rows (here canceled before they
/// ran, finalized by the operation claim) carry neither.
pub async fn failed_and_canceled_rows_carry_their_payload(store: Arc<dyn Store>) {
    let store = &*store;
    let op = new_op(true);
    let failed = AttemptResult::Failed {
        error: OperationError::plugin("It broke.", true),
        retry_at: None,
    };
    finish(store, &op, failed, t(5_000)).await;
    let d = only_delivery(store, op.id).await;
    assert_eq!(d.operation_status, OperationStatus::Failed);
    assert_eq!(d.error_code, Some(ErrorCode::PLUGIN_ERROR.as_i32()));
    assert_eq!(d.error_message.as_deref(), Some("It broke."));
    let payload = d.payload();
    assert_eq!(payload.background_operation_status_code, 31);
    assert_eq!(
        payload.background_operation_error_code,
        Some(ErrorCode::PLUGIN_ERROR.as_i32())
    );

    let canceled = new_op(true);
    store
        .insert_operations(vec![canceled.clone()])
        .await
        .unwrap();
    store
        .request_cancel(canceled.id, t(6_000), None)
        .await
        .unwrap();
    assert!(deliveries(store, canceled.id).await.is_empty(), "not yet");
    let out = store
        .claim(ClaimRequest {
            owner: "node-run".to_owned(),
            now: t(7_000),
            lease_until: t(600_000),
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(out.canceled, vec![canceled.id]);
    let d = only_delivery(store, canceled.id).await;
    assert_eq!(d.operation_status, OperationStatus::Canceled);
    assert_eq!((d.error_code, d.error_message), (None, None));
    assert_eq!(d.next_attempt_at, Some(t(7_000)));
}

/// A due delivery is leased to one claimer; its attempt count grows; nobody else gets it while
/// the lease holds, and the claim says when it is due again (the lease's end).
pub async fn claim_leases_each_delivery_once(store: Arc<dyn Store>) {
    let store = &*store;
    let a = new_op(true);
    let b = new_op(true);
    finish(store, &a, succeeded(), t(1_000)).await;
    finish(store, &b, succeeded(), t(2_000)).await;

    assert!(
        claim(store, "node-a", t(500), 10).await.claimed.is_empty(),
        "not due before it was written"
    );
    let first = claim(store, "node-a", t(3_000), 1).await;
    assert_eq!(ids(&first), vec![a.id], "longest due first");
    let d = &first.claimed[0];
    assert_eq!(d.attempts, 1);
    assert_eq!(d.first_attempt_at, Some(t(3_000)));
    assert_eq!(
        first.next_due,
        Some(t(33_000)),
        "a is due again when its lease ends (b, due now, is not counted)"
    );

    let second = claim(store, "node-b", t(3_000), 10).await;
    assert_eq!(ids(&second), vec![b.id]);
    assert_eq!(second.next_due, Some(t(33_000)), "a's lease ends then");
    let third = claim(store, "node-c", t(4_000), 10).await;
    assert!(third.claimed.is_empty(), "both leased");
    assert_eq!(third.next_due, Some(t(33_000)));
}

/// An attempt whose node died is taken back when its lease ends: the next claim gets it with
/// the next attempt number, and the first attempt's time is kept.
pub async fn expired_delivery_lease_is_taken_back(store: Arc<dyn Store>) {
    let store = &*store;
    let op = new_op(true);
    finish(store, &op, succeeded(), t(1_000)).await;
    let first = claim(store, "node-a", t(2_000), 10).await;
    assert_eq!(first.claimed[0].attempts, 1);
    assert!(claim(store, "node-b", t(31_999), 10)
        .await
        .claimed
        .is_empty());
    let again = claim(store, "node-b", t(32_000), 10).await;
    assert_eq!(ids(&again), vec![op.id]);
    assert_eq!(again.claimed[0].attempts, 2);
    assert_eq!(again.claimed[0].first_attempt_at, Some(t(2_000)));
    assert_eq!(again.claimed[0].webhook_id, first.claimed[0].webhook_id);
}

/// Only the current holder's result applies: another owner, an older attempt, or a second write
/// after the first changes nothing.
pub async fn record_is_fenced_on_attempt_and_owner(store: Arc<dyn Store>) {
    let store = &*store;
    let op = new_op(true);
    finish(store, &op, succeeded(), t(1_000)).await;
    let stale = claim(store, "node-a", t(2_000), 10).await.claimed[0].lease(&"node-a".into());
    let current = claim(store, "node-b", t(32_000), 10).await.claimed[0].lease(&"node-b".into());
    assert_eq!(current.attempt, 2);

    let wrong_owner = DeliveryLease {
        owner: "node-a".into(),
        ..current.clone()
    };
    assert!(!record(store, &stale, t(33_000), DeliveryResult::Delivered).await);
    assert!(!record(store, &wrong_owner, t(33_000), DeliveryResult::Delivered).await);
    let d = only_delivery(store, op.id).await;
    assert_eq!(d.status, DeliveryStatus::Pending);

    let gave_up = DeliveryResult::GaveUp {
        error: "HTTP 410 Gone".into(),
    };
    assert!(record(store, &current, t(33_000), gave_up.clone()).await);
    assert!(
        !record(store, &current, t(34_000), DeliveryResult::Delivered).await,
        "recorded once"
    );
    let d = only_delivery(store, op.id).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.last_error.as_deref(), Some("HTTP 410 Gone"));
}

/// A retry waits until its time, keeps the last error, and is claimed again then with the next
/// attempt number.
pub async fn retry_waits_until_due(store: Arc<dyn Store>) {
    let store = &*store;
    let op = new_op(true);
    finish(store, &op, succeeded(), t(1_000)).await;
    let lease = claim(store, "node-a", t(2_000), 10).await.claimed[0].lease(&"node-a".into());
    let retry = DeliveryResult::Retry {
        at: t(10_000),
        error: "HTTP 503 Service Unavailable".into(),
    };
    assert!(record(store, &lease, t(2_500), retry).await);
    let d = only_delivery(store, op.id).await;
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.next_attempt_at, Some(t(10_000)));
    assert_eq!(
        d.last_error.as_deref(),
        Some("HTTP 503 Service Unavailable")
    );
    assert_eq!(d.attempts, 1);

    let early = claim(store, "node-a", t(9_999), 10).await;
    assert!(early.claimed.is_empty());
    assert_eq!(early.next_due, Some(t(10_000)));
    let due = claim(store, "node-b", t(10_000), 10).await;
    assert_eq!(ids(&due), vec![op.id]);
    assert_eq!(due.claimed[0].attempts, 2);
    assert_eq!(due.claimed[0].first_attempt_at, Some(t(2_000)));
}

/// Delivered and given-up deliveries are never claimed again; a delivery keeps the error of
/// its last failed attempt for diagnostics.
pub async fn delivered_and_given_up_are_final(store: Arc<dyn Store>) {
    let store = &*store;
    let ok = new_op(true);
    let bad = new_op(true);
    finish(store, &ok, succeeded(), t(1_000)).await;
    finish(store, &bad, succeeded(), t(1_000)).await;
    let claimed = claim(store, "node-a", t(2_000), 10).await;
    assert_eq!(claimed.claimed.len(), 2);
    for d in &claimed.claimed {
        let lease = d.lease(&"node-a".into());
        let retry = DeliveryResult::Retry {
            at: t(3_000),
            error: "connection refused".into(),
        };
        assert!(record(store, &lease, t(2_100), retry).await);
    }
    let claimed = claim(store, "node-a", t(3_000), 10).await;
    for d in &claimed.claimed {
        let lease = d.lease(&"node-a".into());
        let result = if d.operation_id == ok.id {
            DeliveryResult::Delivered
        } else {
            DeliveryResult::GaveUp {
                error: "HTTP 404 Not Found".into(),
            }
        };
        assert!(record(store, &lease, t(3_500), result).await);
    }
    let delivered = only_delivery(store, ok.id).await;
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert_eq!(delivered.delivered_on, Some(t(3_500)));
    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.next_attempt_at, None);
    assert_eq!(delivered.last_error.as_deref(), Some("connection refused"));
    let failed = only_delivery(store, bad.id).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.delivered_on, None);
    assert_eq!(failed.last_error.as_deref(), Some("HTTP 404 Not Found"));

    let later = claim(store, "node-b", t(1_000_000_000), 10).await;
    assert!(later.claimed.is_empty());
    assert_eq!(later.next_due, None);
}

/// Renewal moves the lease (and so when the delivery is due again) only for its holder.
pub async fn renew_extends_only_the_holders_lease(store: Arc<dyn Store>) {
    let store = &*store;
    let op = new_op(true);
    finish(store, &op, succeeded(), t(1_000)).await;
    let lease = claim(store, "node-a", t(2_000), 10).await.claimed[0].lease(&"node-a".into());
    assert!(store
        .renew_delivery(lease.clone(), t(90_000))
        .await
        .unwrap());
    assert!(
        claim(store, "node-b", t(60_000), 10)
            .await
            .claimed
            .is_empty(),
        "renewed past the first lease"
    );
    let other = DeliveryLease {
        owner: "node-b".into(),
        ..lease.clone()
    };
    assert!(!store.renew_delivery(other, t(200_000)).await.unwrap());
    let taken = claim(store, "node-b", t(90_000), 10).await.claimed[0].lease(&"node-b".into());
    assert!(
        !store
            .renew_delivery(lease.clone(), t(300_000))
            .await
            .unwrap(),
        "taken back: the old holder cannot renew"
    );
    assert!(record(store, &taken, t(91_000), DeliveryResult::Delivered).await);
    assert!(!store.renew_delivery(taken, t(300_000)).await.unwrap());
}

/// The TTL sweep deletes an operation's deliveries with it, pending or not.
pub async fn sweep_deletes_deliveries_with_their_operation(store: Arc<dyn Store>) {
    let store = &*store;
    let pending = new_op(true);
    let delivered = new_op(true);
    finish(store, &pending, succeeded(), t(1_000)).await;
    finish(store, &delivered, succeeded(), t(1_000)).await;
    let claimed = claim(store, "node-a", t(2_000), 10).await;
    let d = claimed
        .claimed
        .iter()
        .find(|d| d.operation_id == delivered.id)
        .unwrap();
    assert!(
        record(
            store,
            &d.lease(&"node-a".into()),
            t(2_100),
            DeliveryResult::Delivered
        )
        .await
    );
    let p = claimed
        .claimed
        .iter()
        .find(|d| d.operation_id == pending.id)
        .unwrap();
    let retry = DeliveryResult::Retry {
        at: t(500_000),
        error: "HTTP 502 Bad Gateway".into(),
    };
    assert!(record(store, &p.lease(&"node-a".into()), t(2_100), retry).await);

    // ttlinseconds is 60: both rows expire a minute after they ended.
    assert_eq!(store.sweep_expired(t(60_999), 100).await.unwrap(), 0);
    assert_eq!(store.sweep_expired(t(61_000), 100).await.unwrap(), 2);
    assert!(deliveries(store, pending.id).await.is_empty());
    assert!(deliveries(store, delivered.id).await.is_empty());
    let after = claim(store, "node-a", t(600_000), 10).await;
    assert!(after.claimed.is_empty());
    assert_eq!(after.next_due, None);
}
