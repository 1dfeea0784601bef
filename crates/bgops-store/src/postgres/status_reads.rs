//! Status reads, coalesced: the status monitor is the most frequent request of all (every client
//! polls it), and each read is one primary-key lookup. Reads that arrive while others are in
//! flight are gathered into one statement (`= ANY($1)`, each id once), on a connection of their
//! own, with a few statements in flight at a time (pipelined). Under load PostgreSQL answers a
//! whole batch for the price of one lookup's protocol round; a read that arrives alone goes out at
//! once, so no read waits for company.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::batcher::Batcher;
use super::connect::Connector;
use super::db::{CachedClient, Db};
use crate::store::OperationStatusView;
use crate::StoreError;
use bgops_core::OperationId;

/// Most ids in one statement.
const MAX_BATCH: usize = 256;
/// Statements in flight on the connection at once. Two keep the connection busy (one is read
/// while the next is sent) and let reads gather into larger batches than four did: fewer
/// statements for PostgreSQL's backend, which shares the machine (bgops-bench's PostgreSQL
/// status poll).
const IN_FLIGHT: usize = 2;

/// Queues status reads to the coalescing task.
pub struct StatusReads {
    batcher: Batcher<OperationId, Option<OperationStatusView>>,
}

impl StatusReads {
    /// Starts the task; it connects on its first read (and again after a lost connection).
    pub fn start(connector: Connector) -> Self {
        let conn = Arc::new(Connection {
            connector,
            client: Mutex::new(None),
        });
        let batcher = Batcher::start(
            MAX_BATCH,
            IN_FLIGHT,
            |_| 1,
            move |ids| {
                let conn = conn.clone();
                async move { conn.answer(ids).await }
            },
        );
        Self { batcher }
    }

    /// The status of `id`, read with whatever other reads are waiting.
    pub async fn get(&self, id: OperationId) -> Result<Option<OperationStatusView>, StoreError> {
        self.batcher.call(id).await
    }
}

/// The reads' connection, made on first use and again after it was lost.
struct Connection {
    connector: Connector,
    client: Mutex<Option<Arc<CachedClient>>>,
}

impl Connection {
    async fn client(&self) -> Result<Arc<CachedClient>, StoreError> {
        let mut client = self.client.lock().await;
        if let Some(c) = client.as_ref().filter(|c| !c.client().is_closed()) {
            return Ok(c.clone());
        }
        let c = Arc::new(CachedClient::new(
            self.connector.connect().await.inspect_err(
                |e| tracing::warn!(error = %e, "cannot connect the status reader to PostgreSQL"),
            )?,
        ));
        *client = Some(c.clone());
        Ok(c)
    }

    /// Reads the batch's rows in one statement; an answer per id, in order.
    async fn answer(
        &self,
        batch: Vec<OperationId>,
    ) -> Result<Vec<Result<Option<OperationStatusView>, StoreError>>, StoreError> {
        let c = self.client().await?;
        let mut ids: Vec<String> = batch.iter().map(ToString::to_string).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows = read(&c, &ids).await?;
        Ok(batch
            .iter()
            .map(|id| Ok(rows.get(&id.to_string()).cloned()))
            .collect())
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
             CASE WHEN backgroundoperationstatuscode = 30 THEN outputjson END, versionnumber, runas \
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
