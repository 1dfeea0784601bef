//! The single writer: one thread owns the write connection and commits whatever callers queued
//! meanwhile in one transaction, so a burst of submissions or completions costs one fsync.
//! Each caller's work runs in its own savepoint, so one failing statement fails only its caller.

use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::RestartRequest;
use crate::StoreError;

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 1024;

/// State the writer keeps between transactions.
pub struct WriterCtx {
    /// The last `versionnumber` handed out; every write of a row takes the next one.
    last_version: i64,
}

impl WriterCtx {
    /// The next row version.
    pub fn next_version(&mut self) -> i64 {
        self.last_version += 1;
        self.last_version
    }
}

type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection, &mut WriterCtx) -> Finisher + Send>;

/// The handle callers use to queue writes.
pub struct Writer {
    /// Queue to the writer thread; dropping the last sender stops the thread.
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    /// Between transactions it serves the checkpointer's `restart` requests.
    pub fn start(conn: Connection, restart: RestartRequest) -> Result<Self, StoreError> {
        let last_version = super::tables::max_version(&conn)?;
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("bgops-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, WriterCtx { last_version }, restart))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: tx })
    }

    /// Runs `f` inside the next batch's transaction and returns its result once committed.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &mut WriterCtx) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn, ctx| {
            let result = in_savepoint(conn, ctx, f);
            Box::new(move |commit: Result<(), StoreError>| {
                let _ = tx.send(commit.and(result));
            })
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn in_savepoint<R>(
    conn: &Connection,
    ctx: &mut WriterCtx,
    f: impl FnOnce(&Connection, &mut WriterCtx) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    // Cached statements: a savepoint per job is on the hot path of every write.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match f(conn, ctx) {
        Ok(r) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(r)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    mut ctx: WriterCtx,
    restart: RestartRequest,
) {
    while let Ok(first) = rx.recv() {
        restart.serve(&conn, super::BUSY_TIMEOUT);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let saved_version = ctx.last_version;
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            tracing::error!(error = %msg, "cannot begin write transaction");
            for job in batch {
                // Run nothing; tell each caller why.
                let finish = fail_job(job, &msg);
                finish(Err(StoreError::Backend(msg.clone())));
            }
            continue;
        }
        let finishers: Vec<Finisher> = batch.into_iter().map(|job| job(&conn, &mut ctx)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(StoreError::from);
        if let Err(e) = &commit {
            tracing::error!(error = %e, "write transaction failed to commit");
            let _ = conn.execute_batch("ROLLBACK");
            ctx.last_version = saved_version;
        }
        for finish in finishers {
            let c = match &commit {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Backend(e.to_string())),
            };
            finish(c);
        }
    }
}

/// A finisher for a job that never ran (its closure is dropped, which drops its reply channel).
fn fail_job(job: Job, _why: &str) -> Finisher {
    drop(job);
    Box::new(|_| {})
}
