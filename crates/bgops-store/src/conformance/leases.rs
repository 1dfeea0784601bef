//! Leases: renewed only by the current attempt's owner, and listed for recovery once they lapse.

use bgops_core::{NewOperation, OperationError, OperationId, OperationStatus};

use super::{
    cancel, claim, expired, held, ids, insert, new_op, not_held, record, renew, succeeded, t,
    TestDatabase,
};
use crate::{AttemptResult, ExpiredLease, Fence};

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
        name: a.name.clone(),
    };
    assert_eq!(expired(store, t(5_000), 10).await, vec![lease_a(1, 0)]);

    cancel(store, b.id, t(6_000), None).await;
    let lease_b = ExpiredLease {
        id: b.id,
        attempt: 1,
        status: OperationStatus::Canceling,
        retry_count: 0,
        max_retries: 3,
        name: b.name.clone(),
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
