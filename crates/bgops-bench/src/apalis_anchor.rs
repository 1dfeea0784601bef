//! The job-library anchor: apalis 1.x with apalis-sqlite 1.0, in this process, on its own
//! SQLite file, with the durability bgops has (WAL, `synchronous=FULL` on every pooled
//! connection).
//!
//! apalis-sqlite's `SqliteStorage::setup` runs its migrations and sets `journal_mode=WAL`,
//! `temp_store=MEMORY`, `cache_size=64000`, `journal_size_limit=67108864`, `PRAGMA optimize`
//! and `synchronous=OFF` on one pooled connection. Here `setup` runs on a one-connection pool
//! that is then closed; the pools that enqueue and work set every one of those pragmas on
//! every connection, except `synchronous`, which is `FULL` (as bgops) instead of `OFF`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use apalis::prelude::*;
use apalis_sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteStorage};

use crate::procstat::{CpuMeter, CpuUse};

/// Single-job pushes from some tasks at once.
#[derive(Debug, serde::Serialize)]
pub struct Enqueue {
    /// Tasks pushing at once.
    pub concurrency: usize,
    /// Jobs pushed.
    pub jobs: usize,
    /// Pushes per second.
    pub rate: f64,
    /// Median push latency, ms.
    pub p50_ms: f64,
    /// 99th percentile push latency, ms.
    pub p99_ms: f64,
    /// CPU of the phase.
    pub cpu: CpuUse,
}

/// What one apalis run measured.
#[derive(Debug, serde::Serialize)]
pub struct ApalisRun {
    /// Whether `ANALYZE` ran between enqueue and burn-down.
    pub analyzed: bool,
    /// The first half of the jobs, pushed one after another from one task.
    pub enqueue_sequential: Enqueue,
    /// The second half, pushed from the harness's `--concurrency` tasks at once.
    pub enqueue_concurrent: Enqueue,
    /// Jobs completed (status Done in the file) per second during burn-down.
    pub burn_rate: f64,
    /// Jobs completed before the burn-down ended.
    pub burn_completed: usize,
    /// Seconds the burn-down took (or ran before its time limit).
    pub burn_secs: f64,
    /// Whether the burn-down hit its time limit before all jobs were Done.
    pub burn_timed_out: bool,
    /// CPU of the burn-down phase.
    pub burn_cpu: CpuUse,
}

impl ApalisRun {
    /// The faster of the two enqueue figures: the anchor a submission rate must beat.
    pub fn best_enqueue(&self) -> &Enqueue {
        if self.enqueue_sequential.rate >= self.enqueue_concurrent.rate {
            &self.enqueue_sequential
        } else {
            &self.enqueue_concurrent
        }
    }
}

/// Pushes jobs `first..first + count` from `concurrency` tasks, one transaction per job.
async fn enqueue(
    storage: &SqliteStorage<u64>,
    first: usize,
    count: usize,
    concurrency: usize,
) -> Result<Enqueue> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(first));
    let end = first + count;
    let meter = CpuMeter::start(&[]);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut s = storage.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let t = Instant::now();
                s.push(i as u64)
                    .await
                    .map_err(|e| anyhow::anyhow!("apalis push: {e:?}"))?;
                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::with_capacity(count);
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = meter.stop();
    lat.sort_unstable();
    Ok(Enqueue {
        concurrency,
        jobs: count,
        rate: count as f64 / secs,
        p50_ms: crate::load::percentile_ms(&lat, 50.0),
        p99_ms: crate::load::percentile_ms(&lat, 99.0),
        cpu,
    })
}

/// The no-op job handler.
async fn noop(_job: u64) -> Result<(), BoxDynError> {
    Ok(())
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(30))
        .pragma("journal_mode", "WAL")
        .pragma("synchronous", "FULL")
        .pragma("temp_store", "MEMORY")
        .pragma("cache_size", "64000")
        .pragma("journal_size_limit", "67108864")
}

async fn pool(path: &Path, max: u32) -> Result<SqlitePool> {
    Ok(SqlitePoolOptions::new()
        .max_connections(max)
        .connect_with(options(path))
        .await?)
}

/// Enqueues `n` single no-op jobs (one push, one transaction each: the first half from one
/// task, the second from `concurrency` tasks), optionally runs `ANALYZE`, then drains them with one worker of `workers` concurrency and
/// waits until every job is Done in the file (at most `timeout`).
pub async fn run(
    dir: &Path,
    n: usize,
    concurrency: usize,
    workers: usize,
    analyze: bool,
    timeout: Duration,
) -> Result<ApalisRun> {
    let path: PathBuf = dir.join(if analyze {
        "apalis-analyzed.db"
    } else {
        "apalis-fresh.db"
    });
    {
        let setup_pool = pool(&path, 1).await?;
        SqliteStorage::setup(&setup_pool)
            .await
            .context("apalis-sqlite setup")?;
        setup_pool.close().await;
    }

    // Enqueue: half one job after another, half from `concurrency` tasks at once.
    let enqueue_pool = pool(&path, 10).await?;
    let storage = SqliteStorage::<u64>::new(&enqueue_pool);
    let half = n / 2;
    let enqueue_sequential = enqueue(&storage, 0, half, 1).await?;
    let enqueue_concurrent = enqueue(&storage, half, n - half, concurrency).await?;
    enqueue_pool.close().await;

    if analyze {
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch("ANALYZE")?;
    }

    // Burn-down.
    let work_pool = pool(&path, 10).await?;
    let backend = SqliteStorage::<u64>::new(&work_pool);
    let worker = WorkerBuilder::new("bgops-bench")
        .backend(backend)
        .concurrency(workers)
        .build(noop);
    let meter = CpuMeter::start(&[]);
    let start = Instant::now();
    let watch_path = path.clone();
    let watch = tokio::task::spawn_blocking(move || wait_done(&watch_path, n, timeout));
    let (completed, timed_out) = tokio::select! {
        r = worker.run() => {
            anyhow::bail!("the apalis worker stopped early: {r:?}");
        }
        w = watch => w??,
    };
    let burn_secs = start.elapsed().as_secs_f64();
    let burn_cpu = meter.stop();
    work_pool.close().await;

    Ok(ApalisRun {
        analyzed: analyze,
        enqueue_sequential,
        enqueue_concurrent,
        burn_rate: completed as f64 / burn_secs,
        burn_completed: completed,
        burn_secs,
        burn_timed_out: timed_out,
        burn_cpu,
    })
}

/// Polls the jobs table every 20 ms until `n` jobs are Done or `timeout` passes.
fn wait_done(path: &Path, n: usize, timeout: Duration) -> Result<(usize, bool)> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let start = Instant::now();
    loop {
        let done: i64 =
            conn.query_row("SELECT COUNT(*) FROM Jobs WHERE status = 'Done'", [], |r| {
                r.get(0)
            })?;
        if done as usize >= n {
            return Ok((done as usize, false));
        }
        if start.elapsed() > timeout {
            return Ok((done as usize, true));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
