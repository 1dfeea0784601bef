//! An operation's history ([`Store::operation_history`]): each failed attempt kept with the row,
//! whatever fence recorded it, the last [`HISTORY_CAP`] only; nothing for an attempt that
//! succeeded; callback deliveries with their failed tries.

use bgops_core::{ErrorCode, NewOperation, OperationError, OperationId, Timestamp};

use super::{claim, get, insert, new_op, record, reserve, running, succeeded, t, TestDatabase};
use crate::{
    AttemptRecord, AttemptResult, DeliveryClaimRequest, DeliveryOutcome, DeliveryResult,
    DeliveryStatus, DeliveryTry, Fence, OperationHistory, Store, HISTORY_CAP,
};

fn failure(code: ErrorCode, message: &str, retry_at: Option<Timestamp>) -> AttemptResult {
    AttemptResult::Failed {
        error: OperationError {
            code,
            message: message.to_owned(),
            permanent: false,
        },
        retry_at,
    }
}

/// `ms` milliseconds after `at`.
fn later(at: Timestamp, ms: i64) -> Timestamp {
    Timestamp(at.0 + ms)
}

async fn history(store: &dyn Store, id: OperationId) -> OperationHistory {
    store
        .operation_history(id)
        .await
        .expect("operation_history")
        .unwrap_or_else(|| panic!("no history for {id}"))
}

fn entry(
    attempt: i64,
    started: Option<Timestamp>,
    ended: Timestamp,
    code: ErrorCode,
    message: &str,
    owner: &str,
) -> AttemptRecord {
    AttemptRecord {
        attempt,
        started,
        ended,
        error_code: Some(code.as_i32()),
        error_message: Some(message.to_owned()),
        owner: Some(owner.to_owned()),
    }
}

/// Failed attempts are appended with their times, error and node, by a retry, a final failure,
/// an attempt started and ended in one write and a lease taken back alike; an attempt that
/// succeeds adds nothing, and only the last [`HISTORY_CAP`] are kept.
pub async fn failed_attempts_are_kept_with_the_row(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let code = ErrorCode::from_i32(0x8004_0265_u32 as i32);

    assert!(
        store
            .operation_history(OperationId::new_random())
            .await
            .expect("operation_history")
            .is_none(),
        "an unknown operation has no history"
    );

    // Succeeds the first time: nothing kept, and the history carries the row as stored.
    let ok = new_op(t(0));
    running(store, &ok, t(1_000)).await;
    assert!(record(store, ok.id, Fence::Attempt(1), t(1_500), succeeded("[]")).await);
    let h = history(store, ok.id).await;
    assert_eq!(h.operation, get(store, ok.id).await);
    assert!(h.attempts.is_empty(), "{:?}", h.attempts);
    assert!(h.deliveries.is_empty() && h.system_jobs.is_empty());
    assert_eq!(h.last_attempt_started, Some(t(1_000)), "its start is kept");

    // Fails, is retried, fails for good.
    let op = new_op(t(0));
    running(store, &op, t(2_000)).await;
    let first = failure(code, "first failure", Some(t(3_500)));
    assert!(record(store, op.id, Fence::Attempt(1), t(3_000), first).await);
    let out = claim(store, "node-b", t(5_000), t(1_000_000_000), 1).await;
    assert_eq!(out.claimed.len(), 1);
    let h = history(store, op.id).await;
    assert_eq!(
        (h.operation.start_time, h.last_attempt_started),
        (Some(t(2_000)), Some(t(5_000))),
        "the row keeps the first attempt's start, the history the running retry's"
    );
    let last = failure(code, "second failure", None);
    assert!(record(store, op.id, Fence::Attempt(2), t(6_000), last).await);
    let h = history(store, op.id).await;
    assert_eq!(
        h.attempts,
        vec![
            entry(1, Some(t(2_000)), t(3_000), code, "first failure", "node-a"),
            entry(
                2,
                Some(t(5_000)),
                t(6_000),
                code,
                "second failure",
                "node-b"
            ),
        ]
    );
    assert_eq!(h.operation.error_message.as_deref(), Some("second failure"));

    // An attempt of a reserved row started and ended in one write.
    let fast = new_op(t(0));
    insert(store, &[&fast]).await;
    reserve(store, "node-c", t(7_000), t(60_000), 1).await;
    let reserved = Fence::Reserved {
        owner: "node-c".to_owned(),
        attempt: 1,
        started: t(7_100),
    };
    // Final failures from here on, so the claims below find only the row they are about.
    let result = failure(code, "fast failure", None);
    assert!(record(store, fast.id, reserved, t(7_200), result).await);
    assert_eq!(
        history(store, fast.id).await.last_attempt_started,
        Some(t(7_100))
    );
    assert_eq!(
        history(store, fast.id).await.attempts,
        vec![entry(
            1,
            Some(t(7_100)),
            t(7_200),
            code,
            "fast failure",
            "node-c"
        )]
    );

    // A lease taken back counts as a failed attempt of the node that held it.
    let lost = new_op(t(0));
    insert(store, &[&lost]).await;
    let out = claim(store, "node-d", t(9_000), t(10_000), 1).await;
    assert_eq!(out.claimed.len(), 1);
    let result = failure(ErrorCode::from_i32(-1), "lease lost", None);
    assert!(record(store, lost.id, Fence::ExpiredLease(1), t(20_000), result).await);
    assert_eq!(
        history(store, lost.id).await.attempts,
        vec![entry(
            1,
            Some(t(9_000)),
            t(20_000),
            ErrorCode::from_i32(-1),
            "lease lost",
            "node-d"
        )]
    );

    // Retried past the cap: the last ones are kept, oldest first.
    let many = NewOperation {
        max_retries: 100,
        priority: 10,
        ..new_op(t(0))
    };
    insert(store, &[&many]).await;
    let rounds = HISTORY_CAP as i64 + 5;
    for attempt in 1..=rounds {
        let now = t(100_000 + attempt * 1_000);
        let out = reserve(store, "node-e", now, later(now, 500), 1).await;
        assert_eq!(out.claimed.len(), 1, "attempt {attempt} reserved");
        let fence = Fence::Reserved {
            owner: "node-e".to_owned(),
            attempt,
            started: now,
        };
        let result = failure(code, &format!("failure {attempt}"), Some(later(now, 1)));
        assert!(record(store, many.id, fence, later(now, 1), result).await);
    }
    let kept = history(store, many.id).await.attempts;
    assert_eq!(kept.len(), HISTORY_CAP);
    let numbers: Vec<i64> = kept.iter().map(|a| a.attempt).collect();
    let expected: Vec<i64> = (rounds - HISTORY_CAP as i64 + 1..=rounds).collect();
    assert_eq!(numbers, expected);
    assert_eq!(
        kept.last().and_then(|a| a.error_message.clone()),
        Some(format!("failure {rounds}"))
    );
}

/// A callback delivery is listed with its operation, and each failed try is kept with its
/// time, error and node; the try that succeeds adds nothing.
pub async fn delivery_tries_are_kept_with_the_delivery(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = NewOperation {
        callback_url: Some("https://receiver.example/hook?sig=abc".to_owned()),
        location: Some("https://bgops.example/api/backgroundoperation/x".to_owned()),
        ..new_op(t(0))
    };
    running(store, &op, t(1_000)).await;
    assert!(record(store, op.id, Fence::Attempt(1), t(2_000), succeeded("[]")).await);
    let h = history(store, op.id).await;
    assert_eq!(h.deliveries.len(), 1, "one delivery");
    assert!(h.deliveries[0].tries.is_empty());

    let claim_at = |now: Timestamp| DeliveryClaimRequest {
        owner: "node-x".to_owned(),
        now,
        lease_until: later(now, 30_000),
        limit: 10,
    };
    let claimed = store
        .claim_deliveries(claim_at(t(3_000)))
        .await
        .expect("claim_deliveries");
    assert_eq!(claimed.claimed.len(), 1);
    let lease = claimed.claimed[0].lease(&"node-x".to_owned());
    let retry = DeliveryOutcome {
        lease,
        now: t(3_400),
        result: DeliveryResult::Retry {
            at: t(4_000),
            error: "HTTP 500".to_owned(),
        },
    };
    assert!(store.record_delivery(retry).await.expect("record_delivery"));
    let claimed = store
        .claim_deliveries(claim_at(t(4_000)))
        .await
        .expect("claim_deliveries");
    assert_eq!(claimed.claimed.len(), 1);
    let done = DeliveryOutcome {
        lease: claimed.claimed[0].lease(&"node-x".to_owned()),
        now: t(4_100),
        result: DeliveryResult::Delivered,
    };
    assert!(store.record_delivery(done).await.expect("record_delivery"));

    let h = history(store, op.id).await;
    assert_eq!(h.deliveries.len(), 1);
    let d = &h.deliveries[0];
    assert_eq!(d.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(d.delivery.attempts, 2);
    assert_eq!(d.delivery.delivered_on, Some(t(4_100)));
    assert_eq!(
        d.tries,
        vec![DeliveryTry {
            attempt: 1,
            started: Some(t(3_000)),
            ended: t(3_400),
            error: "HTTP 500".to_owned(),
            owner: Some("node-x".to_owned()),
        }]
    );
}
