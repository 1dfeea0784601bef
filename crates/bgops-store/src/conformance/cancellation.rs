//! Cancellation: of unknown, ready, running and terminal rows, checked against a version, and
//! repeated.

use bgops_core::{ErrorCode, OperationId, OperationStatus};

use super::{
    assert_ended, cancel, claim, expired, failed, get, held, ids, insert, new_op, not_held, record,
    renew, running, succeeded, t, TestDatabase,
};
use crate::{AttemptResult, CancelOutcome, Fence};

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
