//! Fresh planner statistics for the operations table.
//!
//! PostgreSQL plans a prepared statement once its generic plan looks good enough, from the
//! table's statistics at that time, and keeps that plan until the statistics change. A new
//! deployment (or a bulk import) prepares its statements while the table is empty or small: the
//! planner then believes a scan of the whole table costs nothing, and the claim, the outcome
//! writes and the callback writes scan every row, each time, until autovacuum gets round to an
//! `ANALYZE` (a minute later at best, under load often much later). A queue that grows from
//! nothing to tens of thousands of rows in seconds is exactly what bgops is for, so the store
//! analyzes the table itself once it has grown by a good part since it last did: 1,000 rows and
//! a fifth of what it held then, at most once every few seconds, on a connection of its own
//! (`ANALYZE` samples at most 30,000 rows: milliseconds). The new statistics make every node
//! replan its cached statements.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connect::Connector;
use crate::StoreError;

/// Rows inserted since the last `ANALYZE` before another is worth it, at least.
const MIN_GROWTH: u64 = 1_000;
/// Shortest time between two `ANALYZE`s by this node.
const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// Counts inserted rows and analyzes the table when it has grown enough.
#[derive(Clone)]
pub struct Statistics {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    /// Rows inserted by this node since its last `ANALYZE`.
    inserted: AtomicU64,
    /// How many rows the table held at the last `ANALYZE`.
    rows_then: AtomicU64,
    /// An `ANALYZE` is running.
    running: AtomicBool,
    /// When the last one started.
    last: std::sync::Mutex<Option<Instant>>,
}

impl Statistics {
    /// A keeper that analyzes through its own connections from `connector`.
    pub fn new(connector: Connector) -> Self {
        Self {
            inner: Arc::new(Inner {
                connector,
                inserted: AtomicU64::new(0),
                rows_then: AtomicU64::new(0),
                running: AtomicBool::new(false),
                last: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Counts `n` rows inserted (committed); starts an `ANALYZE` in the background when the
    /// table has grown enough since the last.
    pub fn inserted(&self, n: usize) {
        let inner = &self.inner;
        let total = inner.inserted.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let threshold = MIN_GROWTH.max(inner.rows_then.load(Ordering::Relaxed) / 5);
        if total < threshold {
            return;
        }
        {
            let mut last = inner
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < MIN_INTERVAL) {
                return;
            }
            if inner.running.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Some(Instant::now());
        }
        inner.inserted.store(0, Ordering::Relaxed);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            match analyze(&inner.connector).await {
                Ok(rows) => {
                    inner.rows_then.store(rows, Ordering::Relaxed);
                    tracing::debug!(rows, "analyzed backgroundoperation");
                }
                Err(e) => tracing::warn!(error = %e, "cannot analyze backgroundoperation"),
            }
            inner.running.store(false, Ordering::Release);
        });
    }
}

/// Runs `ANALYZE` and returns the row count it estimated.
async fn analyze(connector: &Connector) -> Result<u64, StoreError> {
    let client = connector.connect().await?;
    client.batch_execute("ANALYZE backgroundoperation").await?;
    let row = client
        .query_one(
            "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class \
             WHERE oid = 'backgroundoperation'::regclass",
            &[],
        )
        .await?;
    Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
}
