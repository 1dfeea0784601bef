//! Two stores over one database, as two nodes share it: row versions come from the database, so
//! they keep increasing whichever store writes, a stale version (`If-Match`) is refused through
//! either, and the tables' change stamp moves as both see it. And intents racing through the
//! two stores each end in one consistent state.

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::{Cell, Row, Table};
use bgops_core::{NewOperation, OperationStatus, UserId};
use uuid::Uuid;

use super::{
    cancel, claim, exists, failed, get, ids, insert, new_op, record, running, succeeded, sweep, t,
    TestDatabase,
};
use crate::{
    CancelOutcome, DeleteOutcome, Fence, InsertOutcome, Store, TablesStamp, UpdateMode,
    UpdateOutcome, WriteContext,
};

/// Two stores open at once over `db`.
async fn two_stores(db: &dyn TestDatabase) -> [Arc<dyn Store>; 2] {
    let a = db.open().await;
    let b = db.open().await;
    [a, b]
}

fn accounts() -> Arc<Table> {
    Catalogue::standard()
        .by_logical_name("account")
        .expect("the account table")
}

fn ctx() -> WriteContext {
    WriteContext {
        now: t(0),
        user: UserId::new_random(),
    }
}

fn version(row: &Row) -> i64 {
    match row.iter().find(|(n, _)| *n == "versionnumber") {
        Some((_, Cell::Int(v))) => *v,
        other => panic!("versionnumber: {other:?}"),
    }
}

/// Creates the account `id` named `name`; returns its version.
async fn create_account(store: &dyn Store, id: Uuid, name: &str) -> i64 {
    let values = vec![
        ("accountid", Cell::Guid(id)),
        ("name", Cell::Text(name.into())),
    ];
    match store.insert_row(accounts(), values, ctx()).await {
        Ok(InsertOutcome::Created(row)) => version(&row),
        other => panic!("insert account: {other:?}"),
    }
}

/// Renames the account `id` under `mode`.
async fn rename(store: &dyn Store, id: Uuid, name: &str, mode: UpdateMode) -> UpdateOutcome {
    let values = vec![("name", Cell::Text(name.into()))];
    store
        .update_row(accounts(), id, values, mode, ctx())
        .await
        .expect("update_row")
}

/// Renames the account `id` under `mode`, which must succeed; returns the new version.
async fn renamed(store: &dyn Store, id: Uuid, name: &str, mode: UpdateMode) -> i64 {
    match rename(store, id, name, mode).await {
        UpdateOutcome::Updated(row) => version(&row),
        other => panic!("rename to {name} under {mode:?}: {other:?}"),
    }
}

/// The account `id` as `store` reads it.
async fn read_account(store: &dyn Store, id: Uuid) -> Row {
    store
        .get_row(accounts(), id)
        .await
        .expect("get_row")
        .expect("the account exists")
}

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

/// Writes through two stores, one after another or at once, each get a version above every
/// earlier one; no two writes share a version.
pub async fn versions_increase_across_two_stores(db: &dyn TestDatabase) {
    let stores = two_stores(db).await;
    let id = Uuid::new_v4();
    let mut last = create_account(&*stores[0], id, "v0").await;
    for i in 1..=6 {
        let (writer, reader) = (&*stores[i % 2], &*stores[(i + 1) % 2]);
        let v = renamed(writer, id, &format!("v{i}"), UpdateMode::MustExist).await;
        assert!(v > last, "write {i}: version {v} after {last}");
        assert_eq!(
            version(&read_account(reader, id).await),
            v,
            "the other store"
        );
        last = v;
    }

    // Background operations take their versions from the same source.
    let op = new_op(t(0));
    insert(&*stores[0], &[&op]).await;
    let inserted = get(&*stores[1], op.id).await.version_number;
    assert!(
        inserted > last,
        "submission: version {inserted} after {last}"
    );
    cancel(&*stores[1], op.id, t(1_000), None).await;
    let canceled = get(&*stores[0], op.id).await.version_number;
    assert!(
        canceled > inserted,
        "cancel: version {canceled} after {inserted}"
    );

    let writes: Vec<_> = (0..40)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { create_account(&*store, Uuid::new_v4(), "at once").await })
        })
        .collect();
    let mut versions = Vec::new();
    for write in writes {
        versions.push(write.await.expect("write task"));
    }
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 40, "two writes share a version");
    assert!(versions[0] > canceled, "{} after {canceled}", versions[0]);
}

/// An update or delete naming a version the row no longer has is refused, whichever store
/// wrote the newer version and whichever the stale one comes through.
pub async fn stale_version_is_refused_whichever_store_wrote_last(db: &dyn TestDatabase) {
    let [a, b] = two_stores(db).await;
    let id = Uuid::new_v4();
    let v1 = create_account(&*a, id, "by a").await;
    let v2 = renamed(&*b, id, "by b", UpdateMode::IfVersion(v1)).await;
    assert_eq!(
        rename(&*a, id, "stale", UpdateMode::IfVersion(v1)).await,
        UpdateOutcome::VersionMismatch,
        "through the store that wrote it, after the other wrote"
    );
    let v3 = renamed(&*a, id, "by a again", UpdateMode::IfVersion(v2)).await;
    for store in [&a, &b] {
        for stale in [v1, v2] {
            assert_eq!(
                rename(&**store, id, "stale", UpdateMode::IfVersion(stale)).await,
                UpdateOutcome::VersionMismatch,
                "update at {stale} when the row is at {v3}"
            );
            assert_eq!(
                store.delete_row(accounts(), id, Some(stale)).await.unwrap(),
                DeleteOutcome::VersionMismatch,
                "delete at {stale} when the row is at {v3}"
            );
        }
    }
    let row = read_account(&*b, id).await;
    assert_eq!(version(&row), v3);
    assert!(row.contains(&("name", Cell::Text("by a again".into()))));

    // A background operation's cancel with If-Match, likewise.
    let op = new_op(t(0));
    insert(&*a, &[&op]).await;
    let submitted = get(&*b, op.id).await.version_number;
    assert_eq!(
        cancel(&*b, op.id, t(1_000), Some(submitted)).await,
        CancelOutcome::Requested { was_running: false }
    );
    assert_eq!(
        cancel(&*a, op.id, t(2_000), Some(submitted)).await,
        CancelOutcome::VersionMismatch
    );
}

/// Every insert, update and delete through either store moves the [`TablesStamp`], and both
/// stores read the same stamp.
pub async fn tables_stamp_moves_as_seen_from_both_stores(db: &dyn TestDatabase) {
    let [a, b] = two_stores(db).await;
    let mut seen = stamp(&*a).await;
    assert_eq!(stamp(&*b).await, seen);
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());

    create_account(&*a, first, "a").await;
    moved(&a, &b, &mut seen, "insert through a").await;
    renamed(&*b, first, "b", UpdateMode::MustExist).await;
    moved(&a, &b, &mut seen, "update through b").await;
    renamed(&*a, first, "a", UpdateMode::MustExist).await;
    moved(&a, &b, &mut seen, "update through a").await;
    create_account(&*b, second, "b").await;
    moved(&a, &b, &mut seen, "insert through b").await;
    let deleted = b.delete_row(accounts(), first, None).await.unwrap();
    assert_eq!(deleted, DeleteOutcome::Deleted);
    moved(&a, &b, &mut seen, "delete through b").await;
    renamed(&*a, second, "a", UpdateMode::MustExist).await;
    moved(&a, &b, &mut seen, "update through a after a delete").await;
}

async fn stamp(store: &dyn Store) -> TablesStamp {
    store
        .tables_stamp(vec![accounts()])
        .await
        .expect("tables_stamp")
}

/// Asserts both stores read one stamp and that it moved since `seen`; remembers it.
async fn moved(a: &Arc<dyn Store>, b: &Arc<dyn Store>, seen: &mut TablesStamp, write: &str) {
    let now = stamp(&**a).await;
    assert_eq!(stamp(&**b).await, now, "{write}: the stores disagree");
    assert_ne!(now, *seen, "{write}: the stamp stood still");
    *seen = now;
}

// ---------------------------------------------------------------------------------------------
// Races. Each round runs two intents at once, one through each store, and checks the row ends
// in a state one of the two orders gives: never a mix of both.
// ---------------------------------------------------------------------------------------------

/// Rounds per race, so that both orders are likely to occur.
const ROUNDS: usize = 40;

/// A cancel and an attempt's outcome at once: a success stays Succeeded whatever the cancel
/// answered; a failure with a retry either waited for its retry and was then canceled, or was
/// canceled first and so ended Failed without a retry. The outcome is recorded either way.
pub async fn cancel_racing_an_outcome_ends_consistent(db: &dyn TestDatabase) {
    let [a, b] = two_stores(db).await;
    for round in 0..ROUNDS {
        let op = new_op(t(0));
        running(&*a, &op, t(1_000)).await;
        let retries = round % 2 == 1;
        let result = if retries {
            failed("boom", Some(t(50_000)))
        } else {
            succeeded("[]")
        };
        let (canceler, recorder) = (b.clone(), a.clone());
        let canceled = tokio::spawn(async move { cancel(&*canceler, op.id, t(2_000), None).await });
        let recorded = tokio::spawn(async move {
            record(&*recorder, op.id, Fence::Attempt(1), t(2_000), result).await
        });
        let (canceled, recorded) = (canceled.await.unwrap(), recorded.await.unwrap());
        let row = get(&*a, op.id).await;
        assert!(recorded, "round {round}: the outcome was dropped");
        let consistent = match (retries, canceled, row.status) {
            (false, CancelOutcome::Terminal, OperationStatus::Succeeded) => true,
            (false, CancelOutcome::Requested { was_running }, OperationStatus::Succeeded) => {
                was_running
            }
            (true, CancelOutcome::Requested { was_running }, OperationStatus::Canceling) => {
                !was_running && row.retry_count == 1
            }
            (true, CancelOutcome::Requested { was_running }, OperationStatus::Failed) => {
                was_running && row.retry_count == 0
            }
            _ => false,
        };
        assert!(
            consistent,
            "round {round}: cancel answered {canceled:?}, the row ended {row:?}"
        );
    }
}

/// The time-to-live sweep and a claim at once, on a row that is both due and past its time to
/// live: either the sweep deleted it and the claim got nothing, or the claim got it and the
/// sweep left it, since a held row is never swept.
pub async fn sweep_racing_a_claim_ends_consistent(db: &dyn TestDatabase) {
    let [a, b] = two_stores(db).await;
    for round in 0..ROUNDS {
        let op = NewOperation {
            ttl_seconds: 1,
            ..new_op(t(0))
        };
        insert(&*a, &[&op]).await;
        let now = t(10_000);
        let (claimer, sweeper) = (a.clone(), b.clone());
        let claimed = tokio::spawn(async move {
            ids(&claim(&*claimer, "node-a", now, t(1_000_000), 1)
                .await
                .claimed)
        });
        let swept = tokio::spawn(async move { sweep(&*sweeper, now, 100).await });
        let (claimed, swept) = (claimed.await.unwrap(), swept.await.unwrap());
        let taken = claimed.contains(&op.id);
        let present = exists(&*a, op.id).await;
        assert!(
            matches!((taken, swept, present), (true, 0, true) | (false, 1, false)),
            "round {round}: claimed {taken}, swept {swept}, row present {present}"
        );
    }
}
