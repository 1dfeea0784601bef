//! Recording an attempt's outcome: fenced to the current attempt (and, for recovery, to an
//! expired lease), applied once, and written as Succeeded, Failed, retried or Canceled.

use bgops_core::{ErrorCode, NewOperation, OperationError, OperationId, OperationStatus};

use super::{
    assert_ended, cancel, claim, expired, failed, get, held, ids, insert, new_op, not_held, record,
    renew, reserve, running, start, status_view, succeeded, t, TestDatabase, RENDERED,
};
use crate::{AttemptOutcome, AttemptResult, CancelOutcome, Fence, OperationStatusView, Recorded};

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
            !record(store, op.id, fence.clone(), t(3_000), succeeded("[]")).await,
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
    assert_eq!(
        status_view(store, op.id).await,
        OperationStatusView {
            name: row.name.clone(),
            status: OperationStatus::Succeeded,
            output_parameters: Some(outputs.to_owned()),
            error_code: None,
            error_message: None,
            outputs_json: Some(RENDERED.to_owned()),
            version: row.version_number,
            run_as: row.run_as,
        },
        "the status monitor's read shows the outputs, and their rendering"
    );
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
    assert_eq!(
        status_view(store, op.id).await,
        OperationStatusView {
            name: row.name.clone(),
            status: OperationStatus::Failed,
            output_parameters: None,
            error_code: row.error_code,
            error_message: row.error_message.clone(),
            outputs_json: None,
            version: row.version_number,
            run_as: row.run_as,
        },
        "the status monitor's read shows the error"
    );

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

/// Many outcomes recorded at once (a node finishing fast work; a store may write them together):
/// each applies behind its own fence exactly as alone — a reservation's outcome starts and ends
/// the row, a started attempt's ends it, a stale owner's is dropped, a row's second outcome is
/// dropped — and only rows with a callback URL get a delivery.
pub async fn many_outcomes_at_once_each_behind_its_fence(db: &dyn TestDatabase) {
    const URL: &str = "https://example.com/done";
    let store = db.open().await;
    let store = &*store;
    let ops: Vec<NewOperation> = (0..24)
        .map(|i| NewOperation {
            callback_url: (i % 2 == 0).then(|| URL.to_owned()),
            ..new_op(t(i))
        })
        .collect();
    insert(store, &ops.iter().collect::<Vec<_>>()).await;
    let claimed = reserve(store, "node-a", t(1_000), t(60_000), 24).await;
    assert_eq!(claimed.claimed.len(), 24);
    // Every third row's attempt has started (a slow one); the others are still reserved.
    for op in ops.iter().skip(2).step_by(3) {
        assert!(start(store, "node-a", op.id, 1, t(1_100), t(60_000)).await);
    }
    let fence = |i: usize| match i % 3 {
        0 => Fence::Reserved {
            owner: "node-b".to_owned(),
            attempt: 1,
            started: t(1_200),
        },
        1 => Fence::Reserved {
            owner: "node-a".to_owned(),
            attempt: 1,
            started: t(1_200),
        },
        _ => Fence::Attempt(1),
    };
    let outputs = |i: usize| format!(r#"[{{"Key":"N","Value":"{i}"}}]"#);
    // Row 1 is recorded twice at once: one write applies, the other is dropped.
    let mut writes: Vec<(usize, Fence)> = (0..24).map(|i| (i, fence(i))).collect();
    writes.push((1, fence(1)));
    let results = futures_util::future::join_all(writes.iter().map(|(i, fence)| {
        store.record_outcome(AttemptOutcome {
            id: ops[*i].id,
            fence: fence.clone(),
            now: t(1_300),
            result: succeeded(&outputs(*i)),
        })
    }))
    .await;
    let mut applied_row_1 = 0;
    for ((i, _), result) in writes.iter().zip(results) {
        let recorded = result.expect("record_outcome");
        let i = *i;
        if i == 1 {
            applied_row_1 += usize::from(recorded.applied());
            continue;
        }
        match i % 3 {
            0 => assert_eq!(
                recorded,
                Recorded::Dropped,
                "row {i}: a stale owner's outcome"
            ),
            _ => assert_eq!(
                recorded,
                Recorded::Applied { notify: i % 2 == 0 },
                "row {i}"
            ),
        }
    }
    assert_eq!(applied_row_1, 1, "row 1's outcome applied once");
    for (i, op) in ops.iter().enumerate() {
        let row = get(store, op.id).await;
        let deliveries = store
            .deliveries_of(op.id)
            .await
            .expect("deliveries_of")
            .len();
        if i % 3 == 0 {
            assert_eq!(row.status, OperationStatus::WaitingForResources, "row {i}");
            assert_eq!(row.start_time, None, "row {i}");
            assert_eq!(deliveries, 0, "row {i}");
            continue;
        }
        assert_ended(&row, OperationStatus::Succeeded, t(1_300));
        assert_eq!(
            row.output_parameters.as_deref(),
            Some(&*outputs(i)),
            "row {i}"
        );
        assert_eq!(row.attempt, 1, "row {i}");
        assert_eq!(row.retry_count, 0, "row {i}");
        let started = if i % 3 == 1 { t(1_200) } else { t(1_100) };
        assert_eq!(row.start_time, Some(started), "row {i}");
        assert_eq!(deliveries, usize::from(i % 2 == 0), "row {i}");
    }
}
