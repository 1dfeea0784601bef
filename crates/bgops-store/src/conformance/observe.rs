//! What operators and traces read from a store: the queue summary and the stored trace context.

use bgops_core::{OperationId, OperationStatus, Timestamp, TraceParent};

use super::*;
use crate::QueueSummary;

/// The summary counts unfinished rows by status (reserved rows as waiting, as readers see
/// them), ignores finished ones, and names the oldest waiting row's creation time.
pub async fn queue_summary_counts_unfinished_rows(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = store.as_ref();
    assert_eq!(
        store.queue_summary().await.expect("queue_summary"),
        QueueSummary::default(),
        "an empty store has nothing queued"
    );
    let mk = |ms: i64| NewOperation {
        id: OperationId::new_random(),
        ..new_op(t(ms))
    };
    let (running_op, canceling_op, done_op) = (mk(0), mk(1), mk(2));
    running(store, &running_op, t(100)).await;
    running(store, &canceling_op, t(100)).await;
    running(store, &done_op, t(100)).await;
    assert!(
        record(
            store,
            done_op.id,
            Fence::Attempt(1),
            t(200),
            succeeded("[]")
        )
        .await
    );
    store
        .request_cancel(canceling_op.id, t(300), None)
        .await
        .expect("request_cancel");
    let (old, young, reserved) = (mk(10), mk(20), mk(30));
    insert(store, &[&young, &old, &reserved]).await;
    let mut due = reserve(store, "node-b", t(400), t(60_000), 3).await;
    due.claimed.retain(|r| r.id == reserved.id);
    let summary = store.queue_summary().await.expect("queue_summary");
    assert_eq!(
        summary,
        QueueSummary {
            waiting: 3,
            in_progress: 1,
            canceling: 1,
            oldest_waiting: Some(t(10)),
        }
    );
}

/// A submission's W3C trace context is stored with its row and read back as it was; rows
/// without one read `None`.
pub async fn trace_parent_is_kept_with_the_row(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = store.as_ref();
    let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .expect("a valid traceparent");
    let traced = NewOperation {
        id: OperationId::new_random(),
        trace_parent: Some(tp),
        ..new_op(t(0))
    };
    let plain = NewOperation {
        id: OperationId::new_random(),
        ..new_op(t(0))
    };
    insert(store, &[&traced, &plain]).await;
    assert_eq!(get(store, traced.id).await.trace_parent, Some(tp));
    assert_eq!(get(store, plain.id).await.trace_parent, None);
    // An attempt reads it from its claimed row, on any node.
    let out = reserve(store, "node-b", t(10), t(60_000), 2).await;
    let claimed = out
        .claimed
        .iter()
        .find(|r| r.id == traced.id)
        .expect("the traced row is claimed");
    assert_eq!(claimed.trace_parent, Some(tp));
}

/// Finished operations are counted per minute, custom API and outcome, within the asked range
/// only; unfinished ones are not. The lease holders are the nodes holding leases on rows.
pub async fn finished_per_minute_and_lease_holders(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = store.as_ref();
    // Times from the start of the minute after t(0).
    let m0 = t(0).0 / 60_000 * 60_000 + 60_000;
    let at = |ms: i64| Timestamp(m0 + ms);
    let all = |from: i64, to: i64| store.finished_per_minute(at(from), at(to));
    assert!(all(-60_000, 3_600_000).await.expect("finished").is_empty());
    assert!(store.lease_holders().await.expect("leases").is_empty());
    let mk = || NewOperation {
        id: OperationId::new_random(),
        ..new_op(t(0))
    };
    let (ok, bad, still) = (mk(), mk(), mk());
    for op in [&ok, &bad, &still] {
        running(store, op, t(100)).await;
    }
    assert!(record(store, ok.id, Fence::Attempt(1), at(5), succeeded("[]")).await);
    assert!(
        record(
            store,
            bad.id,
            Fence::Attempt(1),
            at(59_999),
            failed("no", None)
        )
        .await
    );

    let mut buckets = all(-60_000, 3_600_000).await.expect("finished");
    buckets.sort_by_key(|b| b.status.code());
    let name = new_op(t(0)).name;
    assert_eq!(
        buckets,
        vec![
            crate::FinishedBucket {
                minute: m0,
                name: name.clone(),
                status: OperationStatus::Succeeded,
                count: 1
            },
            crate::FinishedBucket {
                minute: m0,
                name,
                status: OperationStatus::Failed,
                count: 1
            },
        ]
    );
    // `from` is inclusive, `to` exclusive.
    assert_eq!(all(6, 3_600_000).await.expect("finished").len(), 1);
    assert!(all(-60_000, 5).await.expect("finished").is_empty());
    assert_eq!(all(5, 6).await.expect("finished").len(), 1);

    let holders = store.lease_holders().await.expect("leases");
    assert_eq!(
        holders,
        vec![crate::LeaseHolder {
            owner: "node-a".into(),
            leases: 1,
            latest_expiry: t(1_000_000_000),
        }]
    );
}
