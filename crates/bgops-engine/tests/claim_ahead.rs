//! Claiming ahead of free workers: after fast attempts, a node reserves more rows than it has
//! free workers, and those wait here for a worker. These tests hold the node's only worker in a
//! `bgops_Delay` while fast rows are claimed ahead, and check what users rely on:
//! - a reserved row reads exactly as a waiting one (Ready, no `starttime`, attempt 0);
//! - rows that waited too long for a worker are handed back, so another node can take them at
//!   once, and run later with attempt 1 and no retry counted;
//! - a row canceled while claimed ahead never runs and has no `starttime`;
//! - shutdown hands the rows claimed ahead back instead of leaving them to lapse.
//!
//! Claim-ahead is sized by the attempts finished in the last `claim_ahead`; the tests use
//! 5 s so the warm-up's pace is still remembered when the rows of interest are claimed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bgops_core::catalogue::Catalogue;
use bgops_core::{
    BackgroundOperation, Clock, NewOperation, OperationId, OperationStatus, SystemClock, UserId,
};
use bgops_engine::{Engine, EngineConfig, EngineHandle, RandomJitter, Registry};
use bgops_store::sqlite::SqliteStore;
use bgops_store::{CancelOutcome, ClaimRequest, ReleaseRequest, Store};
use tokio_util::sync::CancellationToken;

struct Node {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    engine: Engine,
    handle: EngineHandle,
    shutdown: CancellationToken,
}

/// One worker, claim-ahead judged over 5 s.
async fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("bgops.db"))
            .await
            .unwrap(),
    );
    let config = EngineConfig {
        workers: 1,
        claim_ahead: Duration::from_secs(5),
        lease: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(10),
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        store.clone(),
        Arc::new(Registry::with_builtins()),
        Arc::new(Catalogue::standard()),
        config,
        Arc::new(SystemClock),
        Arc::new(RandomJitter),
    );
    let shutdown = CancellationToken::new();
    let handle = engine.start(shutdown.clone());
    Node {
        _dir: dir,
        store,
        engine,
        handle,
        shutdown,
    }
}

fn op(name: &str, inputs: &str, priority: i32) -> NewOperation {
    let user = UserId::new_random();
    NewOperation {
        id: OperationId::new_random(),
        name: name.into(),
        display_name: name.into(),
        input_parameters: inputs.into(),
        run_as: user,
        created_by: user,
        priority,
        ttl_seconds: 3600,
        max_retries: 3,
        created_on: SystemClock.now(),
        callback_url: None,
        location: None,
        trace_parent: None,
    }
}

fn echo() -> NewOperation {
    op("bgops_Echo", r#"[{"Key":"Text","Value":"hi"}]"#, 0)
}

fn delay(ms: u32) -> NewOperation {
    op(
        "bgops_Delay",
        &format!(r#"[{{"Key":"DelayMs","Value":"{ms}"}}]"#),
        1,
    )
}

async fn get(store: &dyn Store, id: OperationId) -> BackgroundOperation {
    store.get_operation(id).await.unwrap().expect("row exists")
}

/// Polls until `check` holds for every row of `ids`, or panics after `within`.
async fn wait_rows(
    store: &dyn Store,
    ids: &[OperationId],
    within: Duration,
    what: &str,
    check: impl Fn(&BackgroundOperation) -> bool,
) -> Vec<BackgroundOperation> {
    let start = Instant::now();
    loop {
        let mut rows = Vec::new();
        for id in ids {
            rows.push(get(store, *id).await);
        }
        if rows.iter().all(&check) {
            return rows;
        }
        assert!(
            start.elapsed() < within,
            "not {what} within {within:?}: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs 20 Echo rows to completion so the node has a recent pace to claim ahead by.
async fn warm_up(node: &Node) {
    let ops: Vec<NewOperation> = (0..20).map(|_| echo()).collect();
    let ids: Vec<OperationId> = ops.iter().map(|o| o.id).collect();
    node.engine.submit(ops).await.unwrap();
    wait_rows(&*node.store, &ids, Duration::from_secs(10), "done", |r| {
        r.status == OperationStatus::Succeeded
    })
    .await;
}

/// Submits a Delay (first by priority) and `n` Echo rows in one write, and waits until the
/// Delay holds the only worker (In Progress) and the Echo rows are claimed ahead; checks that
/// they still read as waiting rows.
async fn block_and_claim_ahead(
    node: &Node,
    delay_ms: u32,
    n: usize,
) -> (OperationId, Vec<OperationId>) {
    let blocker = delay(delay_ms);
    let blocker_id = blocker.id;
    let echoes: Vec<NewOperation> = (0..n).map(|_| echo()).collect();
    let ids: Vec<OperationId> = echoes.iter().map(|o| o.id).collect();
    let mut batch = vec![blocker];
    batch.extend(echoes);
    node.engine.submit(batch).await.unwrap();
    wait_rows(
        &*node.store,
        &[blocker_id],
        Duration::from_secs(5),
        "running",
        |r| r.status == OperationStatus::InProgress,
    )
    .await;
    let start = Instant::now();
    while node.engine.claimed_ahead() < n {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{} rows claimed ahead, not {n}",
            node.engine.claimed_ahead()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for id in &ids {
        let r = get(&*node.store, *id).await;
        assert_eq!(r.status, OperationStatus::WaitingForResources, "{r:?}");
        assert_eq!(
            (r.attempt, r.retry_count, r.start_time),
            (0, 0, None),
            "{r:?}"
        );
    }
    (blocker_id, ids)
}

/// Proves the rows are free for any node: another node reserves them all (then hands them
/// back, so this node runs them later).
async fn another_node_can_take(store: &dyn Store, ids: &[OperationId]) {
    let now = SystemClock.now();
    let probe = store
        .claim(ClaimRequest {
            owner: "node-probe".into(),
            now,
            lease_until: now.plus(Duration::from_secs(30)),
            limit: 100,
        })
        .await
        .unwrap();
    let mut taken: Vec<OperationId> = probe.claimed.iter().map(|r| r.id).collect();
    taken.sort();
    let mut expected = ids.to_vec();
    expected.sort();
    assert_eq!(taken, expected, "every row handed back, and only those");
    let released = store
        .release_claims(ReleaseRequest {
            owner: "node-probe".into(),
            attempts: probe.claimed.iter().map(|r| (r.id, r.attempt)).collect(),
            now,
        })
        .await
        .unwrap();
    assert_eq!(released, ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_claimed_ahead_are_handed_back_when_no_worker_frees_up() {
    let node = node().await;
    warm_up(&node).await;
    let (blocker, ids) = block_and_claim_ahead(&node, 3_000, 10).await;

    // The worker is stuck for 3 s: after a quarter second the rows are handed back, free for
    // any node, as never claimed.
    let start = Instant::now();
    while node.engine.claimed_ahead() > 0 {
        assert!(
            start.elapsed() < Duration::from_millis(2_500),
            "not handed back"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        get(&*node.store, blocker).await.status,
        OperationStatus::InProgress
    );
    another_node_can_take(&*node.store, &ids).await;
    for id in &ids {
        let r = get(&*node.store, *id).await;
        assert_eq!(
            (r.attempt, r.retry_count, r.start_time),
            (0, 0, None),
            "{r:?}"
        );
    }

    // Once the worker is free they run, each once, with no retry counted.
    let done = wait_rows(
        &*node.store,
        &ids,
        Duration::from_secs(10),
        "succeeded",
        |r| r.status == OperationStatus::Succeeded,
    )
    .await;
    let blocker_row = get(&*node.store, blocker).await;
    assert_eq!(blocker_row.status, OperationStatus::Succeeded);
    for r in &done {
        assert_eq!((r.attempt, r.retry_count), (1, 0), "{r:?}");
        assert!(
            r.start_time >= blocker_row.end_time,
            "ran after the worker freed up"
        );
    }
    node.shutdown.cancel();
    node.handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_canceled_while_claimed_ahead_never_runs() {
    let node = node().await;
    warm_up(&node).await;
    let (_blocker, ids) = block_and_claim_ahead(&node, 2_000, 3).await;

    assert_eq!(
        node.engine.cancel(ids[0], None).await.unwrap(),
        CancelOutcome::Requested { was_running: false }
    );
    let canceled = wait_rows(
        &*node.store,
        &ids[..1],
        Duration::from_secs(10),
        "ended",
        |r| r.status.is_terminal(),
    )
    .await;
    assert_eq!(canceled[0].status, OperationStatus::Canceled);
    assert_eq!(canceled[0].output_parameters, None, "Echo never ran");
    assert_eq!(canceled[0].start_time, None, "it never started");
    assert_eq!(canceled[0].attempt, 0);
    let rest = wait_rows(
        &*node.store,
        &ids[1..],
        Duration::from_secs(10),
        "ended",
        |r| r.status.is_terminal(),
    )
    .await;
    assert!(rest.iter().all(|r| r.status == OperationStatus::Succeeded));
    node.shutdown.cancel();
    node.handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_back_rows_claimed_ahead() {
    let node = node().await;
    warm_up(&node).await;
    let (blocker, ids) = block_and_claim_ahead(&node, 500, 5).await;

    node.shutdown.cancel();
    node.handle.wait().await;

    // The running attempt finished within the grace period; the rows waiting for it did not
    // start and are Ready for the next node, with nothing counted against them.
    assert_eq!(
        get(&*node.store, blocker).await.status,
        OperationStatus::Succeeded
    );
    for id in &ids {
        let r = get(&*node.store, *id).await;
        assert_eq!(r.status, OperationStatus::WaitingForResources, "{r:?}");
        assert_eq!(
            (r.attempt, r.retry_count, r.start_time),
            (0, 0, None),
            "{r:?}"
        );
    }
    another_node_can_take(&*node.store, &ids).await;
}
