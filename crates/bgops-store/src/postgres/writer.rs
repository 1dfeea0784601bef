//! Group commit on PostgreSQL: one task owns a write connection and commits whatever callers
//! queued meanwhile in one transaction, so a burst of submissions or outcomes costs one WAL
//! flush, as on SQLite. The engine's writes run without savepoints (see [`Writer::run`]); writes
//! that can fail on a caller's data run in a savepoint of their own, so such a failure is that
//! caller's alone ([`Writer::run_isolated`]). A caller is answered only after the commit.
//!
//! The engine's writes of one batch go out **pipelined**: their statements are sent one after
//! the other without waiting for each answer (tokio-postgres queues them on the connection), so
//! a batch of a thousand outcomes costs a few round trips, not a thousand. Writes in a savepoint
//! run one at a time, between them.
//!
//! Several nodes write at once: their transactions take row locks, so two batches can deadlock
//! or hit a serialization failure. PostgreSQL then rolls one batch back; its callers get
//! [`StoreError::Conflict`] and the engine's write loops try again. A lost connection fails the
//! batch with [`StoreError::Unavailable`] and the next batch reconnects.

use futures_util::future::{join_all, BoxFuture};
use tokio::sync::{mpsc, oneshot};

use super::db::{CachedClient, Db};

use super::connect::Connector;
use crate::StoreError;

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 1024;

type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// What a job's work leaves: what answers the caller at the commit, and the error that broke
/// the transaction, if it did (a statement failed outside a savepoint: nothing may commit).
struct Ran {
    finish: Finisher,
    broken: Option<StoreError>,
}

/// A job's work on the writer's connection.
type RunJob = Box<dyn for<'a> FnOnce(&'a dyn Db) -> BoxFuture<'a, Ran> + Send>;

/// A queued write: runs on the writer's connection inside the batch's transaction, or is
/// refused with a reason when the batch cannot begin.
struct Job {
    run: RunJob,
    /// In a savepoint of its own: runs alone, not pipelined with other jobs.
    isolated: bool,
    refuse: Box<dyn FnOnce(StoreError) + Send>,
}

/// The handle callers use to queue writes.
pub struct Writer {
    /// Queue to the writer task; dropping the last sender stops it.
    jobs: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Starts the writer task with its own connection from `connector`.
    pub async fn start(connector: Connector) -> Result<Self, StoreError> {
        let client = CachedClient::new(connector.connect().await?);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer_loop(connector, client, rx));
        Ok(Self { jobs: tx })
    }

    /// Runs `f` inside the next batch's transaction and returns its result once committed.
    /// For the engine's writes, whose statements do not fail short of a broken connection or a
    /// bug: no savepoint (a savepoint per job costs two statements and a subtransaction, and
    /// past 64 subtransactions every snapshot in the database gets slower). Should one fail
    /// all the same, the whole batch is rolled back and every caller in it gets an error.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a dyn Db) -> BoxFuture<'a, Result<R, StoreError>> + Send + 'static,
    {
        self.queue(false, f).await
    }

    /// Runs `f` like [`Writer::run`], in a savepoint of its own: for writes that can fail on a
    /// caller's data (a unique name taken, a row gone), so that failure is that caller's alone.
    pub async fn run_isolated<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a dyn Db) -> BoxFuture<'a, Result<R, StoreError>> + Send + 'static,
    {
        self.queue(true, f).await
    }

    async fn queue<R, F>(&self, isolated: bool, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a dyn Db) -> BoxFuture<'a, Result<R, StoreError>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
        let refuse_tx = tx.clone();
        let job = Job {
            run: Box::new(move |client| {
                Box::pin(async move {
                    let (result, broken) = if isolated {
                        match in_savepoint(client, f).await {
                            Ok(result) => (result, None),
                            Err(e) => (Err(e.clone()), Some(e)),
                        }
                    } else {
                        let result = f(client).await;
                        let broken = result
                            .as_ref()
                            .err()
                            .filter(|e| e.failed_in_database())
                            .cloned();
                        (result, broken)
                    };
                    let finish = Box::new(move |commit: Result<(), StoreError>| {
                        if let Some(tx) = take(&tx) {
                            let _ = tx.send(commit.and(result));
                        }
                    }) as Finisher;
                    Ran { finish, broken }
                })
            }),
            isolated,
            refuse: Box::new(move |why| {
                if let Some(tx) = take(&refuse_tx) {
                    let _ = tx.send(Err(why));
                }
            }),
        };
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// The reply channel, taken once by whichever path answers.
fn take<T>(slot: &std::sync::Mutex<Option<oneshot::Sender<T>>>) -> Option<oneshot::Sender<T>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// Runs `f` in a savepoint: the outer error is the savepoint's own (the transaction is then
/// broken), the inner one `f`'s (rolled back to the savepoint: the transaction goes on).
async fn in_savepoint<'a, R, F>(db: &'a dyn Db, f: F) -> Result<Result<R, StoreError>, StoreError>
where
    F: FnOnce(&'a dyn Db) -> BoxFuture<'a, Result<R, StoreError>>,
{
    // The savepoint goes out with the job's first statement (pipelined): one round trip less.
    let (savepoint, result) = tokio::join!(db.client().batch_execute("SAVEPOINT job"), f(db));
    savepoint?;
    match result {
        Ok(r) => {
            db.client().batch_execute("RELEASE SAVEPOINT job").await?;
            Ok(Ok(r))
        }
        Err(e) => {
            db.client()
                .batch_execute("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                .await?;
            Ok(Err(e))
        }
    }
}

/// Runs a batch's jobs inside its transaction: runs of engine writes pipelined, each write in a
/// savepoint alone. Returns what answers each caller, and what broke the transaction, if
/// anything did.
async fn run_batch(conn: &CachedClient, batch: Vec<Job>) -> (Vec<Finisher>, Option<StoreError>) {
    let mut finishers = Vec::with_capacity(batch.len());
    let mut broken = None;
    let mut pipelined = Vec::new();
    for job in batch {
        if job.isolated {
            for ran in join_all(pipelined.drain(..)).await {
                record(&mut finishers, &mut broken, ran);
            }
            record(&mut finishers, &mut broken, (job.run)(conn).await);
        } else {
            pipelined.push((job.run)(conn));
        }
    }
    for ran in join_all(pipelined).await {
        record(&mut finishers, &mut broken, ran);
    }
    (finishers, broken)
}

/// Keeps a job's finisher, and the error that broke the transaction: a conflict (deadlock,
/// serialization failure) before any other, since the statements pipelined after the one that
/// failed fail only because the transaction is aborted, and a conflict tells callers to retry.
fn record(finishers: &mut Vec<Finisher>, broken: &mut Option<StoreError>, ran: Ran) {
    finishers.push(ran.finish);
    if let Some(e) = ran.broken {
        let replace = match broken {
            None => true,
            Some(StoreError::Conflict(_)) => false,
            Some(_) => matches!(e, StoreError::Conflict(_)),
        };
        if replace {
            *broken = Some(e);
        }
    }
}

/// Sends the notifications the batch asked for, then commits (they are delivered with it).
async fn commit(conn: &CachedClient) -> Result<(), StoreError> {
    let payloads = conn.take_notifications();
    if !payloads.is_empty() {
        conn.execute(
            "SELECT pg_notify('bgops_' || current_schema(), p) FROM unnest($1::text[]) AS p",
            &[&payloads],
        )
        .await?;
    }
    conn.client().batch_execute("COMMIT").await?;
    Ok(())
}

async fn writer_loop(
    connector: Connector,
    client: CachedClient,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut client = Some(client);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A lost connection is replaced before the next batch.
        if client.as_ref().is_none_or(|c| c.client().is_closed()) {
            client = match connector.connect().await {
                Ok(c) => Some(CachedClient::new(c)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot reconnect the writer to PostgreSQL");
                    for job in batch {
                        (job.refuse)(e.clone());
                    }
                    client = None;
                    continue;
                }
            };
        }
        let Some(conn) = client.as_ref() else {
            continue;
        };
        if let Err(e) = conn.client().batch_execute("BEGIN").await {
            let e = StoreError::from(e);
            tracing::error!(error = %e, "cannot begin write transaction");
            for job in batch {
                (job.refuse)(e.clone());
            }
            continue;
        }
        let (finishers, broken) = run_batch(conn, batch).await;
        // A statement failed outside a savepoint: PostgreSQL has aborted the transaction, and
        // its COMMIT would roll back without an error; every caller must hear of it.
        let commit = match broken {
            Some(e) => Err(e),
            None => commit(conn).await,
        };
        if let Err(e) = &commit {
            tracing::warn!(error = %e, "write transaction failed to commit");
            let _ = conn.client().batch_execute("ROLLBACK").await;
        }
        for finish in finishers {
            finish(match &commit {
                Ok(()) => Ok(()),
                Err(e) => Err(e.clone()),
            });
        }
    }
}
