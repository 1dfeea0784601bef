//! Calls gathered into batches: callers queue requests; a task takes whatever is waiting (up to
//! a limit) as one batch and runs it, with a few batches in flight at a time. A request that
//! arrives alone goes out at once, so no caller waits for company; under load one statement
//! serves many callers. Used for the status monitor's reads, submissions and successful
//! outcomes.

use std::future::Future;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Queues requests of type `Q` to a batching task that answers each with a `T`.
pub struct Batcher<Q, T> {
    requests: mpsc::UnboundedSender<(Q, Reply<T>)>,
}

impl<Q: Send + 'static, T: Send + 'static> Batcher<Q, T> {
    /// Starts the task: batches of at most `max_batch` requests (each weighing `weight`, e.g.
    /// its rows; a batch stops growing once it weighs `max_batch`), at most `in_flight` of them
    /// running at once through `run`, which answers each request of its batch, in order, or
    /// fails the whole batch.
    pub fn start<F, Fut>(
        max_batch: usize,
        in_flight: usize,
        weight: fn(&Q) -> usize,
        run: F,
    ) -> Self
    where
        F: Fn(Vec<Q>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Result<T, StoreError>>, StoreError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(gather(rx, max_batch, in_flight, weight, Arc::new(run)));
        Self { requests: tx }
    }

    /// Queues `request` and waits for its answer.
    pub async fn call(&self, request: Q) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((request, tx))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

async fn gather<Q, T, F, Fut>(
    mut rx: mpsc::UnboundedReceiver<(Q, Reply<T>)>,
    max_batch: usize,
    in_flight: usize,
    weight: fn(&Q) -> usize,
    run: Arc<F>,
) where
    Q: Send + 'static,
    T: Send + 'static,
    F: Fn(Vec<Q>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Result<T, StoreError>>, StoreError>> + Send + 'static,
{
    let mut running = FuturesUnordered::new();
    loop {
        // Take more requests only while fewer than `in_flight` batches run.
        let next = if running.len() < in_flight {
            tokio::select! {
                r = rx.recv() => Some(r),
                Some(()) = running.next(), if !running.is_empty() => None,
            }
        } else {
            running.next().await;
            None
        };
        let Some(first) = next else { continue };
        let Some(first) = first else { break };
        let mut total = weight(&first.0);
        let mut batch = vec![first];
        while total < max_batch {
            match rx.try_recv() {
                Ok(r) => {
                    total += weight(&r.0);
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        let run = run.clone();
        running.push(async move {
            let (requests, replies): (Vec<Q>, Vec<Reply<T>>) = batch.into_iter().unzip();
            match run(requests).await {
                Ok(results) => {
                    let mut results = results.into_iter();
                    for reply in replies {
                        let r = results.next().unwrap_or(Err(StoreError::Closed));
                        let _ = reply.send(r);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        });
    }
    while running.next().await.is_some() {}
}
