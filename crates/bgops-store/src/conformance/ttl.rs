//! Time to live: the sweep deletes rows past `modifiedon + ttlinseconds`, never Locked ones,
//! at most `limit` at a time.

use bgops_core::NewOperation;

use super::{cancel, claim, exists, insert, new_op, record, succeeded, sweep, t, TestDatabase};
use crate::{AttemptResult, Fence};

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
