//! Rows as stored: a submission reads back as written, a refused batch stores nothing, every
//! write raises `versionnumber`, and rows outlive the store that wrote them.

use bgops_core::{NewOperation, OperationId, OperationStatus};

use super::{
    cancel, claim, claim_only, exists, failed, get, ids, insert, new_op, record, succeeded, t,
    TestDatabase,
};
use crate::{AdminKey, AttemptResult, Fence, Store};

// ---------------------------------------------------------------------------------------------
// Insert and read
// ---------------------------------------------------------------------------------------------

/// A stored submission reads back with every column as given, Ready and untouched; an unknown
/// id reads as nothing.
pub async fn insert_then_get(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let a = NewOperation {
        name: "contoso_Import".to_owned(),
        display_name: "Import rows".to_owned(),
        input_parameters: r#"[{"Key":"Text","Value":"héllo \"quoted\" 'x'"}]"#.to_owned(),
        priority: 7,
        ttl_seconds: 120,
        max_retries: 5,
        ..new_op(t(1_000))
    };
    let b = NewOperation {
        priority: 0,
        ttl_seconds: 7_776_000,
        max_retries: 0,
        ..new_op(t(2_000))
    };
    store
        .insert_operations(Vec::new())
        .await
        .expect("empty insert");
    insert(store, &[&a, &b]).await;

    for op in [&a, &b] {
        let row = get(store, op.id).await;
        assert_eq!(row.id, op.id);
        assert_eq!(row.name, op.name);
        assert_eq!(row.display_name, op.display_name);
        assert_eq!(row.input_parameters, op.input_parameters);
        assert_eq!(row.run_as, op.run_as);
        assert_eq!(row.created_by, op.created_by);
        assert_eq!(row.priority, op.priority);
        assert_eq!(row.ttl_seconds, op.ttl_seconds);
        assert_eq!(row.max_retries, op.max_retries);
        assert_eq!(row.created_on, op.created_on);
        assert_eq!(row.modified_on, op.created_on, "modifiedon = createdon");
        assert_eq!(row.status, OperationStatus::WaitingForResources);
        assert_eq!(row.state().code(), 0);
        assert_eq!(row.status.code(), 0);
        assert_eq!(row.retry_count, 0);
        assert_eq!(row.attempt, 0);
        assert!(
            row.version_number > 0,
            "versionnumber {}",
            row.version_number
        );
        assert_eq!(row.output_parameters, None);
        assert_eq!(row.start_time, None);
        assert_eq!(row.end_time, None);
        assert_eq!(row.error_code, None);
        assert_eq!(row.error_message, None);
    }
    let unknown = store
        .get_operation(OperationId::new_random())
        .await
        .expect("get_operation");
    assert_eq!(unknown, None);
}

/// A batch that cannot be stored (a duplicate id) stores none of its rows and fails only its own
/// caller, even when other callers' writes are committed alongside it.
pub async fn failed_insert_affects_only_its_caller(db: &dyn TestDatabase) {
    let store = db.open().await;
    let existing = new_op(t(0));
    insert(&*store, &[&existing]).await;
    let before = get(&*store, existing.id).await;

    let fresh_row = new_op(t(1));
    let duplicate = NewOperation {
        name: "other_Name".to_owned(),
        ..existing.clone()
    };
    let refused = store
        .insert_operations(vec![fresh_row.clone(), duplicate.clone()])
        .await;
    assert!(refused.is_err(), "a duplicate id is refused");
    assert!(
        !exists(&*store, fresh_row.id).await,
        "a refused batch stored a row"
    );
    assert_eq!(get(&*store, existing.id).await, before);

    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        let op = if i == 8 {
            duplicate.clone()
        } else {
            new_op(t(i))
        };
        tasks.push(tokio::spawn(async move {
            let result = store.insert_operations(vec![op.clone()]).await;
            (op.id, result.is_ok())
        }));
    }
    for task in tasks {
        let (id, ok) = task.await.expect("insert task");
        if id == existing.id {
            assert!(!ok, "the duplicate was accepted");
        } else {
            assert!(ok, "{id} failed alongside the duplicate");
            assert!(exists(&*store, id).await);
        }
    }
    assert_eq!(get(&*store, existing.id).await, before);
}

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

/// Tracks one row's `versionnumber` across writes.
struct VersionTrail {
    /// The row.
    id: OperationId,
    /// Its version after the previous write.
    last: i64,
}

impl VersionTrail {
    async fn start(store: &dyn Store, id: OperationId) -> Self {
        let last = get(store, id).await.version_number;
        assert!(last > 0);
        Self { id, last }
    }

    /// Asserts the row's version grew since the last check.
    async fn grew(&mut self, store: &dyn Store, write: &str) {
        let v = get(store, self.id).await.version_number;
        assert!(
            v > self.last,
            "{write}: versionnumber {v} after {}",
            self.last
        );
        self.last = v;
    }
}

/// Every write of a row gives it a greater `versionnumber`.
pub async fn version_increases_on_every_write(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;

    let a = new_op(t(0));
    insert(store, &[&a]).await;
    let mut va = VersionTrail::start(store, a.id).await;
    let out = claim(store, "node-a", t(1_000), t(60_000), 1).await;
    assert_eq!(
        out.claimed[0].version_number,
        get(store, a.id).await.version_number
    );
    va.grew(store, "claim").await;
    assert!(
        record(
            store,
            a.id,
            Fence::Attempt(1),
            t(2_000),
            failed("x", Some(t(3_000)))
        )
        .await
    );
    va.grew(store, "failure with retry").await;
    claim(store, "node-a", t(3_000), t(60_000), 1).await;
    va.grew(store, "second claim").await;
    cancel(store, a.id, t(4_000), None).await;
    va.grew(store, "cancel of a running row").await;
    assert!(record(store, a.id, Fence::Attempt(2), t(5_000), failed("x", None)).await);
    va.grew(store, "failure").await;

    let b = new_op(t(0));
    insert(store, &[&b]).await;
    let mut vb = VersionTrail::start(store, b.id).await;
    cancel(store, b.id, t(6_000), None).await;
    vb.grew(store, "cancel of a ready row").await;
    claim(store, "node-a", t(7_000), t(60_000), 1).await;
    vb.grew(store, "finalized as canceled").await;

    for result in [succeeded("[]"), AttemptResult::Canceled] {
        let c = new_op(t(0));
        insert(store, &[&c]).await;
        let mut vc = VersionTrail::start(store, c.id).await;
        claim(store, "node-a", t(8_000), t(60_000), 1).await;
        vc.grew(store, "claim").await;
        assert!(record(store, c.id, Fence::Attempt(1), t(9_000), result).await);
        vc.grew(store, "outcome").await;
    }
}

// ---------------------------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------------------------

/// What a store wrote is there after it is dropped and the database reopened, and versions keep
/// growing past the old ones.
pub async fn reopen_keeps_rows(db: &dyn TestDatabase) {
    let store = db.open().await;
    let done = NewOperation {
        priority: 10,
        ..new_op(t(0))
    };
    let ready = new_op(t(1));
    insert(&*store, &[&done, &ready]).await;
    claim_only(&*store, done.id).await;
    assert!(
        record(
            &*store,
            done.id,
            Fence::Attempt(1),
            t(2_000),
            succeeded("[]")
        )
        .await
    );
    assert!(store
        .bootstrap_admin(AdminKey::Set("hash-1".to_owned()), t(0))
        .await
        .expect("bootstrap_admin"));
    let done_before = get(&*store, done.id).await;
    let ready_before = get(&*store, ready.id).await;
    drop(store);

    let store = db.open().await;
    assert_eq!(get(&*store, done.id).await, done_before);
    assert_eq!(get(&*store, ready.id).await, ready_before);
    let admin = store
        .find_user_by_key_hash("hash-1")
        .await
        .expect("find_user_by_key_hash");
    assert!(admin.is_some_and(|u| u.is_system_administrator));

    let out = claim(&*store, "node-a", t(3_000), t(60_000), 10).await;
    assert_eq!(
        ids(&out.claimed),
        vec![ready.id],
        "the finished row is not run again"
    );
    let newest = done_before.version_number.max(ready_before.version_number);
    assert!(
        out.claimed[0].version_number > newest,
        "versionnumber {} after reopen, {newest} before",
        out.claimed[0].version_number
    );
}

/// Submissions arriving together (a store may insert them in one statement) each get their own
/// answer: of two naming the same new id exactly one is stored, a call naming one id twice is
/// refused whole, and the others are stored.
pub async fn concurrent_inserts_of_one_id_store_it_once(db: &dyn TestDatabase) {
    let store = db.open().await;
    let shared = new_op(t(5));
    let twice = new_op(t(6));
    let mut calls: Vec<Vec<NewOperation>> = (0..12).map(|i| vec![new_op(t(i))]).collect();
    calls.push(vec![shared.clone()]);
    calls.push(vec![new_op(t(7)), shared.clone()]);
    calls.push(vec![twice.clone(), twice.clone()]);
    let results = futures_util::future::join_all(
        calls.iter().map(|ops| store.insert_operations(ops.clone())),
    )
    .await;
    for (ops, result) in calls.iter().zip(&results).take(12) {
        assert!(result.is_ok(), "{:?}", ops[0].id);
        assert!(exists(&*store, ops[0].id).await);
    }
    let shared_ok = usize::from(results[12].is_ok()) + usize::from(results[13].is_ok());
    assert_eq!(shared_ok, 1, "one of the two calls naming one id is stored");
    assert!(exists(&*store, shared.id).await);
    assert_eq!(
        exists(&*store, calls[13][0].id).await,
        results[13].is_ok(),
        "a refused call left a row behind"
    );
    assert!(
        results[14].is_err(),
        "a call naming one id twice was accepted"
    );
    assert!(!exists(&*store, twice.id).await);
}
