//! Claiming: priority then age, no row claimed twice, and retries waiting until they are due.

use std::collections::HashSet;

use bgops_core::{NewOperation, OperationStatus};

use super::{claim, failed, get, ids, insert, new_op, record, renew, running, t, TestDatabase};
use crate::Fence;

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
