//! apalis 1.0 with apalis-postgres 1.0, in this process, with its defaults (`PostgresStorage::new`:
//! polling, 10 tasks fetched at a time, results persisted, a sqlx pool of 10 connections). Its
//! tables live in a fixed schema (`apalis`), so each run gets a scratch database of its own
//! on the same server, dropped afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use apalis::prelude::*;
use apalis_postgres::{PgPool, PostgresStorage};
use tokio_postgres::Client;

use super::PeerBurn;
use crate::pg::{self, PgServer};
use crate::pgcpu::PgMeter;

/// The no-op job handler.
async fn noop(_job: u64) -> Result<(), BoxDynError> {
    Ok(())
}

/// Pushes `n` jobs from `concurrency` tasks, one transaction each; returns the seconds taken.
async fn enqueue(storage: &PostgresStorage<u64>, n: usize, concurrency: usize) -> Result<f64> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (mut s, next) = (storage.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                s.push(i as u64)
                    .await
                    .map_err(|e| anyhow::anyhow!("apalis-postgres push: {e:?}"))?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// One burn-down of `n` queued no-op jobs with a worker of `workers` concurrency.
pub async fn burn(
    pg: &PgServer,
    control: Arc<Client>,
    n: usize,
    concurrency: usize,
    workers: usize,
    timeout: Duration,
) -> Result<PeerBurn> {
    let db = format!("{}_apalis", pg.run);
    control
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .await?;
    control
        .batch_execute(&format!("CREATE DATABASE \"{db}\""))
        .await
        .with_context(|| format!("creating scratch database {db}"))?;
    let result = run(pg, control.clone(), &db, n, concurrency, workers, timeout).await;
    control
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .await?;
    result
}

async fn run(
    pg: &PgServer,
    control: Arc<Client>,
    db: &str,
    n: usize,
    concurrency: usize,
    workers: usize,
    timeout: Duration,
) -> Result<PeerBurn> {
    let scratch = pg.with_database(db)?;
    let pool = PgPool::connect(&scratch.url("apalis", None))
        .await
        .context("connecting apalis-postgres")?;
    PostgresStorage::setup(&pool)
        .await
        .context("apalis-postgres setup")?;
    let storage = PostgresStorage::<u64>::new(&pool);
    let enqueue_secs = enqueue(&storage, n, concurrency).await?;

    let watch = scratch.connect().await?;
    let worker = WorkerBuilder::new("bgops-bench")
        .backend(storage)
        .concurrency(workers)
        .build(noop);
    let meter = PgMeter::start(control, &pg.app_prefix(), &[]).await;
    let start = Instant::now();
    let done = pg::wait_count(
        &watch,
        "SELECT COUNT(*) FROM apalis.jobs WHERE status = 'Done'",
        |c| c as usize >= n,
        timeout,
    );
    let (completed, timed_out) = tokio::select! {
        r = worker.run() => anyhow::bail!("the apalis-postgres worker stopped early: {r:?}"),
        d = done => d?,
    };
    let secs = start.elapsed().as_secs_f64();
    let cpu = meter.stop().await;
    pool.close().await;
    Ok(PeerBurn {
        name: "apalis-postgres".to_owned(),
        settings: format!(
            "apalis 1.0, apalis-postgres 1.0 (defaults: polling, batch 10, results kept), \
             concurrency {workers}"
        ),
        jobs: n,
        completed: completed as usize,
        secs,
        rate: completed as f64 / secs,
        timed_out,
        enqueue_rate: n as f64 / enqueue_secs,
        cpu,
    })
}
