//! Idempotency keys: a user's key stores one operation while it lives, whoever asks and however
//! many ask at once; other users' keys and expired keys are free; the sweep deletes expired
//! keys.

use std::sync::Arc;

use bgops_core::{NewOperation, Timestamp, UserId};

use super::{exists, new_op, t, TestDatabase};
use crate::{IdempotencyKey, InsertOnce, KeyedOperation, Store};

fn key(user: UserId, text: &str, fingerprint: &str, now: Timestamp) -> IdempotencyKey {
    IdempotencyKey {
        user,
        key: text.to_owned(),
        fingerprint: fingerprint.to_owned(),
        now,
        expires: Timestamp(now.0 + 60_000),
    }
}

async fn once(store: &dyn Store, op: &NewOperation, key: IdempotencyKey) -> InsertOnce {
    store
        .insert_operation_once(KeyedOperation {
            op: op.clone(),
            key,
        })
        .await
        .expect("insert_operation_once")
}

/// The first submission under a key stores its operation; a second stores nothing and names
/// the first, with the first's fingerprint.
pub async fn keyed_insert_stores_once(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let user = UserId::new_random();
    let first = new_op(t(0));
    assert_eq!(
        once(store, &first, key(user, "k-1", "fp-a", t(0))).await,
        InsertOnce::Inserted
    );
    assert!(exists(store, first.id).await);
    let second = new_op(t(10));
    assert_eq!(
        once(store, &second, key(user, "k-1", "fp-b", t(10))).await,
        InsertOnce::Existing {
            operation: first.id,
            fingerprint: "fp-a".to_owned()
        },
        "the key names the first operation and what it was for"
    );
    assert!(!exists(store, second.id).await, "no second row");
}

/// Keys are per user: another user's equal key is another key.
pub async fn idempotency_keys_are_per_user(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let a = new_op(t(0));
    let b = new_op(t(0));
    assert_eq!(
        once(store, &a, key(alice, "same", "fp", t(0))).await,
        InsertOnce::Inserted
    );
    assert_eq!(
        once(store, &b, key(bob, "same", "fp", t(0))).await,
        InsertOnce::Inserted
    );
    assert!(exists(store, a.id).await && exists(store, b.id).await);
}

/// A key at or past its expiry is free again; the operation it named stays.
pub async fn expired_key_is_free_again(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let user = UserId::new_random();
    let first = new_op(t(0));
    once(store, &first, key(user, "k", "fp", t(0))).await;
    let early = new_op(t(59_999));
    assert!(matches!(
        once(store, &early, key(user, "k", "fp", t(59_999))).await,
        InsertOnce::Existing { .. }
    ));
    let late = new_op(t(60_000));
    assert_eq!(
        once(store, &late, key(user, "k", "other", t(60_000))).await,
        InsertOnce::Inserted,
        "expired at 60 s"
    );
    assert!(exists(store, first.id).await && exists(store, late.id).await);
    let again = new_op(t(60_001));
    assert_eq!(
        once(store, &again, key(user, "k", "x", t(60_001))).await,
        InsertOnce::Existing {
            operation: late.id,
            fingerprint: "other".to_owned()
        },
        "the key now names the new operation"
    );
}

/// The sweep deletes keys expired at `now`, at most `limit` at a time, and no other.
pub async fn sweep_deletes_expired_keys(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let user = UserId::new_random();
    for (i, at) in [0, 0, 0, 30_000].into_iter().enumerate() {
        once(
            store,
            &new_op(t(at)),
            key(user, &format!("k{i}"), "fp", t(at)),
        )
        .await;
    }
    let sweep = |now, limit| async move {
        store
            .sweep_idempotency_keys(now, limit)
            .await
            .expect("sweep_idempotency_keys")
    };
    assert_eq!(sweep(t(59_999), 100).await, 0);
    assert_eq!(sweep(t(60_000), 2).await, 2, "at most the limit");
    assert_eq!(sweep(t(60_000), 100).await, 1);
    assert_eq!(sweep(t(60_000), 100).await, 0, "the later key lives on");
    // A swept key is free: a new submission under it is stored.
    let op = new_op(t(60_000));
    assert_eq!(
        once(store, &op, key(user, "k0", "fp", t(60_000))).await,
        InsertOnce::Inserted
    );
    assert_eq!(sweep(t(90_000), 100).await, 1);
}

/// Many submissions under one key at once, through two stores over one database (two nodes):
/// exactly one operation is stored, and every other answer names it.
pub async fn concurrent_keyed_inserts_store_one(db: &dyn TestDatabase) {
    let stores: [Arc<dyn Store>; 2] = [db.open().await, db.open().await];
    let user = UserId::new_random();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = stores[i % 2].clone();
            let op = new_op(t(0));
            tokio::spawn(async move {
                let out = once(&*store, &op, key(user, "storm", "fp", t(0))).await;
                (op.id, out)
            })
        })
        .collect();
    let mut inserted = Vec::new();
    let mut named = Vec::new();
    let mut all = Vec::new();
    for task in tasks {
        let (id, out) = task.await.expect("task");
        all.push(id);
        match out {
            InsertOnce::Inserted => inserted.push(id),
            InsertOnce::Existing { operation, .. } => named.push(operation),
        }
    }
    assert_eq!(inserted.len(), 1, "exactly one submission stored");
    assert!(
        named.iter().all(|id| *id == inserted[0]),
        "every other answer names it"
    );
    for id in all {
        assert_eq!(exists(&*stores[0], id).await, id == inserted[0]);
    }
}
