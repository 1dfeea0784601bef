//! Reservations: a node claims rows ahead of its free workers, but what every reader sees is
//! what is happening (SPEC §14). A reserved row reads exactly as a waiting one until its attempt
//! starts; a cancel ends it without a `starttime`; a reservation handed back or lapsed (its node
//! died) counts nothing, writes no error and sends no notification.

use bgops_core::{NewOperation, OperationStatus};

use super::{
    assert_ended, cancel, expired, failed, get, ids, insert, new_op, record, release, renew,
    reserve, start, status_view, succeeded, sweep, t, TestDatabase,
};
use crate::{CancelOutcome, Fence, Store};

/// A callback URL, so a terminal write would leave a delivery behind.
const URL: &str = "https://example.com/done";

/// Every callback delivery of `id`: none means no notification was written.
async fn deliveries(store: &dyn Store, id: bgops_core::OperationId) -> usize {
    store.deliveries_of(id).await.expect("deliveries_of").len()
}

/// A reserved row reads as it did before the claim (the whole row, and the status monitor's
/// view), is not claimed by anyone else while the reservation lasts, and is not a lost attempt.
pub async fn reservation_is_invisible(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = NewOperation {
        callback_url: Some(URL.to_owned()),
        ..new_op(t(0))
    };
    insert(store, &[&op]).await;
    let before = get(store, op.id).await;
    let view = status_view(store, op.id).await;

    let out = reserve(store, "node-a", t(1_000), t(31_000), 10).await;
    assert_eq!(ids(&out.claimed), vec![op.id]);
    assert_eq!(
        out.claimed[0], before,
        "the claim returns the row as readers see it"
    );
    assert_eq!(
        get(store, op.id).await,
        before,
        "nothing a reader sees changed"
    );
    assert_eq!(status_view(store, op.id).await, view);
    assert_eq!(before.status, OperationStatus::WaitingForResources);
    assert_eq!(before.start_time, None);

    let other = reserve(store, "node-b", t(30_999), t(60_000), 10).await;
    assert!(other.claimed.is_empty(), "{:?}", ids(&other.claimed));
    assert!(
        expired(store, t(1_000_000_000), 10).await.is_empty(),
        "a reservation is not an attempt: never recovered as a lost one"
    );
    assert_eq!(
        renew(store, "node-a", &[(op.id, 0), (op.id, 1)], t(60_000))
            .await
            .iter()
            .filter(|l| l.held)
            .count(),
        0,
        "no lease to renew before the attempt starts"
    );
    assert_eq!(deliveries(store, op.id).await, 0);
}

/// Starting the reserved row's attempt makes it In Progress with `starttime` = the start;
/// only the reserving node can start it, only once, and only as the next attempt.
pub async fn start_attempt_needs_the_reservation(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (a, b) = (new_op(t(0)), new_op(t(1)));
    insert(store, &[&a, &b]).await;
    let before = get(store, a.id).await;
    assert_eq!(
        reserve(store, "node-a", t(1_000), t(31_000), 10)
            .await
            .claimed
            .len(),
        2
    );

    assert!(
        !start(store, "node-b", a.id, 1, t(2_000), t(32_000)).await,
        "not its reservation"
    );
    assert!(
        !start(store, "node-a", a.id, 2, t(2_000), t(32_000)).await,
        "not the next attempt"
    );
    assert_eq!(
        get(store, a.id).await,
        before,
        "a refused start changes nothing"
    );

    assert!(start(store, "node-a", a.id, 1, t(2_000), t(32_000)).await);
    let row = get(store, a.id).await;
    assert_eq!(row.status, OperationStatus::InProgress);
    assert_eq!(row.state().code(), 2);
    assert_eq!(row.attempt, 1);
    assert_eq!(row.retry_count, 0);
    assert_eq!(
        row.start_time,
        Some(t(2_000)),
        "starttime is the start, not the claim"
    );
    assert_eq!(row.modified_on, t(2_000));
    assert!(row.version_number > before.version_number);
    assert!(
        !start(store, "node-a", a.id, 1, t(2_500), t(32_000)).await,
        "started once"
    );
    assert!(renew(store, "node-a", &[(a.id, 1)], t(40_000)).await[0].held);

    // Its lease is the attempt's: recovered as a lost attempt once it expires.
    let lost = expired(store, t(40_000), 10).await;
    assert_eq!(lost.iter().map(|l| l.id).collect::<Vec<_>>(), vec![a.id]);
    assert_eq!(lost[0].attempt, 1);

    // Still reserved, the other row is untouched by all of this.
    assert_eq!(
        get(store, b.id).await.status,
        OperationStatus::WaitingForResources
    );
}

/// A fast attempt records its start and its outcome in one write behind the reservation: the
/// row goes from Ready straight to its outcome, with both times. A retry counts the attempt
/// and keeps the first `starttime`.
pub async fn reserved_outcome_starts_and_ends_in_one_write(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = new_op(t(0));
    insert(store, &[&op]).await;
    reserve(store, "node-a", t(1_000), t(31_000), 1).await;
    let fence = |owner: &str, attempt| Fence::Reserved {
        owner: owner.to_owned(),
        attempt,
        started: t(2_000),
    };

    let retry = failed("transient", Some(t(10_000)));
    assert!(!record(store, op.id, fence("node-b", 1), t(2_010), retry.clone()).await);
    assert!(!record(store, op.id, fence("node-a", 2), t(2_010), retry.clone()).await);
    assert!(!record(store, op.id, Fence::Attempt(1), t(2_010), retry.clone()).await);
    assert!(record(store, op.id, fence("node-a", 1), t(2_010), retry.clone()).await);
    let waiting = get(store, op.id).await;
    assert_eq!(waiting.status, OperationStatus::WaitingForResources);
    assert_eq!(waiting.attempt, 1);
    assert_eq!(waiting.retry_count, 1, "the attempt ran: it counts");
    assert_eq!(waiting.start_time, Some(t(2_000)));
    assert_eq!(waiting.modified_on, t(2_010));
    assert!(
        !record(store, op.id, fence("node-a", 1), t(2_020), retry).await,
        "written once"
    );
    assert!(reserve(store, "node-a", t(9_999), t(40_000), 1)
        .await
        .claimed
        .is_empty());

    let again = reserve(store, "node-b", t(10_000), t(40_000), 1).await;
    assert_eq!(again.claimed[0].attempt, 1);
    let second = Fence::Reserved {
        owner: "node-b".to_owned(),
        attempt: 2,
        started: t(11_000),
    };
    assert!(record(store, op.id, second, t(11_005), succeeded("[]")).await);
    let done = get(store, op.id).await;
    assert_ended(&done, OperationStatus::Succeeded, t(11_005));
    assert_eq!(done.attempt, 2);
    assert_eq!(done.retry_count, 1);
    assert_eq!(
        done.start_time,
        Some(t(2_000)),
        "starttime of the first attempt"
    );
}

/// A cancel of a reserved row ends it Canceled without a `starttime`; the reserving node can
/// neither start it nor record an outcome for it, nor hand it back.
pub async fn cancel_of_reserved_row_never_starts(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = NewOperation {
        callback_url: Some(URL.to_owned()),
        ..new_op(t(0))
    };
    insert(store, &[&op]).await;
    reserve(store, "node-a", t(1_000), t(31_000), 1).await;
    assert_eq!(
        cancel(store, op.id, t(1_500), None).await,
        CancelOutcome::Requested { was_running: false }
    );
    let canceling = get(store, op.id).await;
    assert_eq!(canceling.status, OperationStatus::Canceling);
    assert_eq!(canceling.start_time, None);

    assert!(!start(store, "node-a", op.id, 1, t(1_600), t(31_000)).await);
    let fast = Fence::Reserved {
        owner: "node-a".to_owned(),
        attempt: 1,
        started: t(1_400),
    };
    assert!(!record(store, op.id, fast, t(1_600), succeeded("[]")).await);
    assert_eq!(release(store, "node-a", &[(op.id, 0)], t(1_700)).await, 0);
    assert_eq!(
        get(store, op.id).await,
        canceling,
        "none of those changed anything"
    );

    let out = reserve(store, "node-b", t(2_000), t(32_000), 10).await;
    assert_eq!(out.canceled, vec![op.id]);
    assert!(out.claimed.is_empty());
    let ended = get(store, op.id).await;
    assert_ended(&ended, OperationStatus::Canceled, t(2_000));
    assert_eq!(ended.start_time, None, "it never started");
    assert_eq!(ended.attempt, 0);
    assert_eq!(ended.retry_count, 0);
    assert_eq!(deliveries(store, op.id).await, 1, "the cancel's callback");
}

/// A node that dies holding reservations: when they lapse the rows are due again for any node,
/// with no attempt counted, no error written and no notification sent; the dead node's late
/// writes are refused.
pub async fn lapsed_reservation_counts_nothing(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = NewOperation {
        callback_url: Some(URL.to_owned()),
        max_retries: 0,
        ..new_op(t(0))
    };
    insert(store, &[&op]).await;
    let before = get(store, op.id).await;
    reserve(store, "node-a", t(1_000), t(5_000), 1).await;

    let early = reserve(store, "node-b", t(4_999), t(40_000), 1).await;
    assert!(early.claimed.is_empty());
    assert_eq!(
        early.next_due,
        Some(t(5_000)),
        "due again when the reservation lapses"
    );
    let out = reserve(store, "node-b", t(5_000), t(40_000), 1).await;
    assert_eq!(out.claimed, vec![before.clone()], "as if never reserved");
    assert_eq!(deliveries(store, op.id).await, 0);

    assert!(!start(store, "node-a", op.id, 1, t(5_100), t(40_000)).await);
    let late = Fence::Reserved {
        owner: "node-a".to_owned(),
        attempt: 1,
        started: t(1_100),
    };
    assert!(!record(store, op.id, late, t(5_100), succeeded("[]")).await);
    assert_eq!(release(store, "node-a", &[(op.id, 0)], t(5_100)).await, 0);

    assert!(start(store, "node-b", op.id, 1, t(5_200), t(40_000)).await);
    assert!(record(store, op.id, Fence::Attempt(1), t(5_300), succeeded("[]")).await);
    let done = get(store, op.id).await;
    assert_ended(&done, OperationStatus::Succeeded, t(5_300));
    assert_eq!(done.retry_count, 0);
    assert_eq!(done.error_code, None);
    assert_eq!(done.start_time, Some(t(5_200)));
}

/// Reservations handed back unstarted are due again at once for any node, and nothing a reader
/// sees changes; only the owner's current reservation can be handed back.
pub async fn released_claims_are_ready_again(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (a, b) = (new_op(t(0)), new_op(t(1)));
    insert(store, &[&a, &b]).await;
    let before = get(store, a.id).await;
    let out = reserve(store, "node-a", t(1_000), t(60_000), 10).await;
    assert_eq!(out.claimed.len(), 2);

    assert_eq!(release(store, "node-b", &[(a.id, 0)], t(2_000)).await, 0);
    assert_eq!(release(store, "node-a", &[(a.id, 1)], t(2_000)).await, 0);
    assert!(reserve(store, "node-b", t(2_000), t(60_000), 10)
        .await
        .claimed
        .is_empty());

    let attempts = [(a.id, 0), (b.id, 0)];
    assert_eq!(release(store, "node-a", &attempts, t(2_000)).await, 2);
    assert_eq!(
        get(store, a.id).await,
        before,
        "nothing a reader sees changed"
    );
    assert_eq!(
        release(store, "node-a", &attempts, t(2_500)).await,
        0,
        "handed back once"
    );

    let again = reserve(store, "node-b", t(3_000), t(60_000), 10).await;
    assert_eq!(ids(&again.claimed), vec![a.id, b.id]);
    assert!(start(store, "node-b", a.id, 1, t(3_000), t(60_000)).await);
    let row = get(store, a.id).await;
    assert_eq!(row.attempt, 1);
    assert_eq!(row.start_time, Some(t(3_000)));
}

/// The TTL sweep spares a reserved row (its node may start it any moment) and deletes it once
/// it is handed back.
pub async fn sweep_spares_reserved_rows(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let op = NewOperation {
        ttl_seconds: 1,
        ..new_op(t(0))
    };
    insert(store, &[&op]).await;
    reserve(store, "node-a", t(500), t(60_000), 1).await;
    assert_eq!(sweep(store, t(10_000), 10).await, 0);
    assert_eq!(get(store, op.id).await.id, op.id);
    assert_eq!(release(store, "node-a", &[(op.id, 0)], t(10_000)).await, 1);
    assert_eq!(sweep(store, t(10_000), 10).await, 1);
    assert!(store.get_operation(op.id).await.expect("get").is_none());
}
