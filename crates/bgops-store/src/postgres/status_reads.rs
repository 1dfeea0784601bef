//! Status reads, coalesced: the status monitor is the most frequent request of all (every client
//! polls it), and each read is one primary-key lookup. Reads that arrive while others are in
//! flight are gathered into one statement (`= ANY($1)`, each id once), on a connection of their
//! own, with a few statements in flight at a time (pipelined). Under load PostgreSQL answers a
//! whole batch for the price of one lookup's protocol round; a read that arrives alone goes out at
//! once, so no read waits for company.

use std::collections::HashMap;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::connect::Connector;
use super::db::{CachedClient, Db};
use crate::store::OperationStatusView;
use crate::StoreError;
use bgops_core::OperationId;

/// Most ids in one statement.
const MAX_BATCH: usize = 256;
/// Statements in flight on the connection at once.
const IN_FLIGHT: usize = 4;

type Reply = oneshot::Sender<Result<Option<OperationStatusView>, StoreError>>;

/// Queues status reads to the coalescing task.
pub struct StatusReads {
    requests: mpsc::UnboundedSender<(OperationId, Reply)>,
}

impl StatusReads {
    /// Starts the task; it connects on its first read (and again after a lost connection).
    pub fn start(connector: Connector) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(connector, rx));
        Self { requests: tx }
    }

    /// The status of `id`, read with whatever other reads are waiting.
    pub async fn get(&self, id: OperationId) -> Result<Option<OperationStatusView>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((id, tx))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(connector: Connector, mut rx: mpsc::UnboundedReceiver<(OperationId, Reply)>) {
    let mut client: Option<std::sync::Arc<CachedClient>> = None;
    let mut in_flight = FuturesUnordered::new();
    loop {
        // Take more reads only while fewer than IN_FLIGHT statements are out.
        let next = if in_flight.len() < IN_FLIGHT {
            tokio::select! {
                r = rx.recv() => Some(r),
                Some(()) = in_flight.next(), if !in_flight.is_empty() => None,
            }
        } else {
            in_flight.next().await;
            None
        };
        let Some(first) = next else { continue };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if client.as_ref().is_none_or(|c| c.client().is_closed()) {
            client = match connector.connect().await {
                Ok(c) => Some(std::sync::Arc::new(CachedClient::new(c))),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect the status reader to PostgreSQL");
                    for (_, reply) in batch {
                        let _ = reply.send(Err(e.clone()));
                    }
                    continue;
                }
            };
        }
        if let Some(c) = client.clone() {
            in_flight.push(async move { answer(&c, batch).await });
        }
    }
    while in_flight.next().await.is_some() {}
}

/// Reads the batch's rows in one statement and answers each waiting read.
async fn answer(c: &CachedClient, batch: Vec<(OperationId, Reply)>) {
    let mut ids: Vec<String> = batch.iter().map(|(id, _)| id.to_string()).collect();
    ids.sort_unstable();
    ids.dedup();
    match read(c, &ids).await {
        Ok(mut rows) => {
            for (id, reply) in batch {
                let _ = reply.send(Ok(rows.remove(&id.to_string())));
            }
        }
        Err(e) => {
            for (_, reply) in batch {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

async fn read(
    c: &CachedClient,
    ids: &[String],
) -> Result<HashMap<String, OperationStatusView>, StoreError> {
    let rows = c
        .query(
            "SELECT backgroundoperationid, name, backgroundoperationstatuscode, \
             CASE WHEN backgroundoperationstatuscode = 30 THEN outputparameters END, \
             CASE WHEN backgroundoperationstatuscode = 31 THEN errorcode END, \
             CASE WHEN backgroundoperationstatuscode = 31 THEN errormessage END, \
             CASE WHEN backgroundoperationstatuscode = 30 THEN outputjson END, runas \
             FROM backgroundoperation WHERE backgroundoperationid = ANY($1)",
            &[&ids],
        )
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let (id, view) = super::operations::read_status(&r)?;
        out.insert(id, view);
    }
    Ok(out)
}
