//! The WAL stays bounded under a steady stream of commits: passive checkpoints alone never
//! catch up with a writer that never pauses, so without restarts the `-wal` file grows for as
//! long as the load lasts (hundreds of MB a minute), and every read gets slower as it searches
//! it. The store restarts the WAL once it is longer than 16 MiB and keeps the file at most
//! 64 MiB after a restart. The test writes until enough went through the WAL, so a busy machine
//! makes it slower, not meaningless.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgops_core::{NewOperation, OperationId, Timestamp, UserId};
use bgops_store::sqlite::SqliteStore;
use bgops_store::Store;

fn new_op() -> NewOperation {
    NewOperation {
        id: OperationId::new_random(),
        name: "sample_Echo".to_owned(),
        display_name: "Echo".to_owned(),
        input_parameters: format!(r#"[{{"Key":"Text","Value":"{}"}}]"#, "x".repeat(200)),
        run_as: UserId::new_random(),
        created_by: UserId::new_random(),
        priority: 0,
        ttl_seconds: 3600,
        max_retries: 3,
        created_on: Timestamp(1_700_000_000_000),
        callback_url: None,
        location: None,
        trace_parent: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_stays_bounded_under_continuous_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bgops.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let wal = dir.path().join("bgops.db-wal");

    // Four writers commit small batches back to back, with a reader beside them, until well
    // over the limit went through the WAL (at least a page per row), however fast this machine
    // is at the moment (a busy machine takes longer, not fewer rows).
    const ENOUGH_ROWS: u64 = 100 * 1024 * 1024 / 4096;
    let stop = Arc::new(AtomicBool::new(false));
    let written_rows = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (store, stop, counter) = (store.clone(), stop.clone(), written_rows.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let ops: Vec<NewOperation> = (0..4).map(|_| new_op()).collect();
                let id = ops[0].id;
                store.insert_operations(ops).await.unwrap();
                assert!(store.get_operation(id).await.unwrap().is_some());
                n += 4;
                counter.fetch_add(4, Ordering::Relaxed);
            }
            n
        }));
    }
    let start = Instant::now();
    let mut largest = 0u64;
    let mut shrank = false;
    let mut last = 0u64;
    while written_rows.load(Ordering::Relaxed) < ENOUGH_ROWS
        && start.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        largest = largest.max(size);
        shrank |= size < last;
        last = size;
    }
    stop.store(true, Ordering::Relaxed);
    let mut rows = 0;
    for t in tasks {
        rows += t.await.unwrap();
    }
    let written = rows * 4096; // at least a page per row went through the WAL
    eprintln!("{rows} rows; largest WAL {largest} bytes; shrank: {shrank}");
    assert!(
        written > 96 * 1024 * 1024,
        "the load must write well over the limit through the WAL to mean anything ({rows} rows)"
    );
    assert!(
        largest <= 80 * 1024 * 1024,
        "the WAL grew to {largest} bytes (limit 64 MiB, restarts from 16 MiB)"
    );
}
