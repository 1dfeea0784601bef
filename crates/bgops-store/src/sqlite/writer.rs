//! The single writer: one thread owns the write connection and commits whatever callers queued
//! meanwhile in one transaction, so a burst of submissions or completions costs one fsync.
//! Each caller's work runs in its own savepoint, so one failing statement fails only its caller.
//!
//! Row versions come from the database, not from this process: each transaction reads the
//! `bgops_version` counter (migration 0009) right after `BEGIN IMMEDIATE`, hands out the next
//! numbers, and stores the last one before `COMMIT`. Since `BEGIN IMMEDIATE` takes the file's
//! write lock, every process writing the same file gives every write a version above all earlier
//! ones, and a stale ETag can never match again.

use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::RestartRequest;
use crate::{StoreError, WriterObserver};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 1024;

/// What the jobs of one write transaction share.
pub struct WriterCtx {
    /// The last `versionnumber` handed out: the database's counter as read when the transaction
    /// began, plus one per version taken since.
    last_version: i64,
}

impl WriterCtx {
    /// The next row version: above every version handed out before, by any process.
    pub fn next_version(&mut self) -> i64 {
        self.last_version += 1;
        self.last_version
    }
}

type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One caller's queued work.
trait Job: Send {
    /// Runs the work inside the batch's transaction; the finisher answers the caller once the
    /// commit's result is known.
    fn run(self: Box<Self>, conn: &Connection, ctx: &mut WriterCtx) -> Finisher;

    /// The batch's transaction could not begin: answers the caller with `why`, running nothing.
    fn refuse(self: Box<Self>, why: StoreError);
}

/// A caller's work and where its answer goes.
struct Pending<F, R> {
    /// Runs inside the transaction.
    work: F,
    /// The caller waiting in [`Writer::run`].
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> Job for Pending<F, R>
where
    R: Send + 'static,
    F: FnOnce(&Connection, &mut WriterCtx) -> Result<R, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection, ctx: &mut WriterCtx) -> Finisher {
        let Pending { work, reply } = *self;
        let result = in_savepoint(conn, ctx, work);
        Box::new(move |commit: Result<(), StoreError>| {
            let _ = reply.send(commit.and(result));
        })
    }

    fn refuse(self: Box<Self>, why: StoreError) {
        let _ = self.reply.send(Err(why));
    }
}

/// The handle callers use to queue writes.
pub struct Writer {
    /// Queue to the writer thread; dropping the last sender stops the thread.
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, whose database must hold the `bgops_version` counter.
    /// Between transactions it serves the checkpointer's `restart` requests.
    /// `observer` hears of every transaction.
    pub fn start(
        conn: Connection,
        restart: RestartRequest,
        observer: WriterObserver,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        thread::Builder::new()
            .name("bgops-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, restart, observer))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: tx })
    }

    /// Runs `f` inside the next batch's transaction and returns its result once committed.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &mut WriterCtx) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending { work: f, reply });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
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
    rx: mpsc::Receiver<Box<dyn Job>>,
    restart: RestartRequest,
    observer: WriterObserver,
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
        let mut ctx = match begin(&conn) {
            Ok(ctx) => ctx,
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, "cannot begin write transaction");
                for job in batch {
                    job.refuse(StoreError::Backend(msg.clone()));
                }
                continue;
            }
        };
        let stored_version = ctx.last_version;
        let jobs = batch.len();
        let finishers: Vec<Finisher> = batch
            .into_iter()
            .map(|job| job.run(&conn, &mut ctx))
            .collect();
        let committing = std::time::Instant::now();
        let commit = commit(&conn, &ctx, stored_version);
        observer.transaction("sqlite", jobs, committing.elapsed(), commit.is_ok());
        if let Err(e) = &commit {
            tracing::error!(error = %e, "write transaction failed to commit");
            // The counter rolls back with the rows: the versions this batch took were never seen.
            let _ = conn.execute_batch("ROLLBACK");
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

/// Begins a batch's transaction, taking the file's write lock, and reads the version counter.
fn begin(conn: &Connection) -> Result<WriterCtx, rusqlite::Error> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let counter = conn
        .prepare_cached("SELECT last FROM bgops_version WHERE id = 1")
        .and_then(|mut read| read.query_row([], |r| r.get(0)));
    match counter {
        Ok(last_version) => Ok(WriterCtx { last_version }),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Stores the version counter if the batch took versions (`stored` is the value read when it
/// began), then commits.
fn commit(conn: &Connection, ctx: &WriterCtx, stored: i64) -> Result<(), rusqlite::Error> {
    if ctx.last_version != stored {
        conn.prepare_cached("UPDATE bgops_version SET last = ?1 WHERE id = 1")?
            .execute([ctx.last_version])?;
    }
    conn.execute_batch("COMMIT")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A writer on `path`, whose database has the version counter at 0 and a table `t` with a
    /// foreign key checked at commit. It waits at most 100 ms for a lock.
    fn writer_on(path: &Path) -> Writer {
        let conn = Connection::open(path).unwrap();
        conn.busy_timeout(std::time::Duration::from_millis(100))
            .unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
             CREATE TABLE bgops_version (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
             INSERT INTO bgops_version VALUES (1, 0);
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE t (v INTEGER NOT NULL,
                 parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        Writer::start(conn, RestartRequest::default(), WriterObserver::default()).unwrap()
    }

    /// Inserts a row of `t` with the next version (and `parent`, which the commit checks);
    /// returns the version.
    async fn write(writer: &Writer, parent: Option<i64>) -> Result<i64, StoreError> {
        writer
            .run(move |conn, ctx| {
                let v = ctx.next_version();
                conn.execute("INSERT INTO t (v, parent) VALUES (?1, ?2)", (v, parent))?;
                Ok(v)
            })
            .await
    }

    fn counter(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT last FROM bgops_version", [], |r| r.get(0))
            .unwrap()
    }

    /// Versions continue from the stored counter, and each committed batch stores its last.
    #[tokio::test]
    async fn versions_come_from_the_stored_counter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let writer = writer_on(&path);
        assert_eq!(write(&writer, None).await.unwrap(), 1);
        assert_eq!(counter(&path), 1);
        Connection::open(&path)
            .unwrap()
            .execute("UPDATE bgops_version SET last = 41", [])
            .unwrap();
        assert_eq!(
            write(&writer, None).await.unwrap(),
            42,
            "another writer's 41"
        );
        assert_eq!(counter(&path), 42);
    }

    /// A batch whose commit fails leaves the counter where it was, so no version it took counts.
    #[tokio::test]
    async fn a_failed_commit_does_not_advance_the_counter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let writer = writer_on(&path);
        assert_eq!(write(&writer, None).await.unwrap(), 1);
        let refused = write(&writer, Some(7)).await;
        assert!(
            matches!(&refused, Err(StoreError::Backend(m)) if m.contains("FOREIGN KEY")),
            "{refused:?}"
        );
        assert_eq!(counter(&path), 1);
        assert_eq!(write(&writer, None).await.unwrap(), 2);
    }

    /// When the transaction cannot begin, every caller of the batch gets the reason, not
    /// "closed".
    #[tokio::test]
    async fn a_batch_that_cannot_begin_tells_each_caller_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let writer = writer_on(&path);
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (a, b) = tokio::join!(write(&writer, None), write(&writer, None));
        for answer in [a, b] {
            assert!(
                matches!(&answer, Err(StoreError::Backend(m)) if m.contains("locked")),
                "{answer:?}"
            );
        }
        holder.execute_batch("ROLLBACK").unwrap();
        assert_eq!(write(&writer, None).await.unwrap(), 1);
    }
}
