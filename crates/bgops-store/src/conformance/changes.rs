//! Reading operations by version, for streams of every change: rows above a version, in
//! version order, each once with its latest state, a page at a time; and the latest version.

use bgops_core::OperationStatus;

use super::{claim, insert, new_op, record, succeeded, t, TestDatabase};
use crate::Fence;

/// Every change a reader can see moves a row past the stream's cursor, once, in version order.
pub async fn changes_follow_versions(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    assert_eq!(store.latest_operation_version().await.unwrap(), 0);
    let ops: Vec<_> = (0..3).map(|i| new_op(t(i))).collect();
    for op in &ops {
        insert(store, &[op]).await;
    }
    let all = store.operations_changed_after(0, 100).await.unwrap();
    let ids: Vec<_> = all.iter().map(|o| o.id).collect();
    assert_eq!(
        ids,
        ops.iter().map(|o| o.id).collect::<Vec<_>>(),
        "version order"
    );
    assert!(all
        .windows(2)
        .all(|w| w[0].version_number < w[1].version_number));
    let latest = store.latest_operation_version().await.unwrap();
    assert_eq!(latest, all[2].version_number);
    assert!(store
        .operations_changed_after(latest, 100)
        .await
        .unwrap()
        .is_empty());

    // Pages: at most `limit`, continuing after the last version read.
    let first = store.operations_changed_after(0, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store
        .operations_changed_after(first[1].version_number, 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, ops[2].id);

    // Starting and ending an attempt are two changes; a row changed twice since the cursor
    // appears once, with its latest state.
    let out = claim(store, "node-a", t(10), t(1_000_000), 1).await;
    assert_eq!(out.claimed[0].id, ops[0].id);
    assert!(record(store, ops[0].id, Fence::Attempt(1), t(20), succeeded("[]")).await);
    let changed = store.operations_changed_after(latest, 100).await.unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].id, ops[0].id);
    assert_eq!(changed[0].status, OperationStatus::Succeeded);
    assert!(changed[0].version_number > latest);
    assert_eq!(
        store.latest_operation_version().await.unwrap(),
        changed[0].version_number
    );
}

/// Many readers of one operation at once (long polls woken together) each find it: a backend
/// that gathers concurrent reads answers every reader of an id, not only the first.
pub async fn concurrent_status_reads_of_one_operation_all_find_it(db: &dyn TestDatabase) {
    let store = db.open().await;
    let op = new_op(t(0));
    insert(&*store, &[&op]).await;
    let reads: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.get_operation_status(op.id).await })
        })
        .collect();
    for r in reads {
        let view = r.await.expect("task").expect("get_operation_status");
        assert!(view.is_some(), "every reader finds the operation");
    }
}
