//! The TTL sweeper: deletes rows whose `modifiedon + ttlinseconds` has passed, and expired
//! idempotency keys, in small batches so it never holds the write lock for long.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::Inner;

/// Deletes expired rows.
pub struct Sweeper {
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl Sweeper {
    /// A sweeper that stops when `stop` fires.
    pub fn new(inner: Arc<Inner>, stop: CancellationToken) -> Self {
        Self { inner, stop }
    }

    /// Runs until stopped: a sweep at start, then every `ttl_sweep_interval`.
    pub async fn run(self) {
        loop {
            self.sweep_once().await;
            if !super::sleep_or_stop(self.inner.config.ttl_sweep_interval, &self.stop).await {
                return;
            }
        }
    }

    async fn sweep_once(&self) {
        let batch = self.inner.config.ttl_sweep_batch.max(1);
        let store = &self.inner.store;
        let deleted = self
            .drain(batch, "TTL sweep failed", |now| {
                store.sweep_expired(now, batch)
            })
            .await;
        if deleted > 0 {
            tracing::info!(deleted, "deleted operations past their time to live");
        }
        let keys = self
            .drain(batch, "sweeping idempotency keys failed", |now| {
                store.sweep_idempotency_keys(now, batch)
            })
            .await;
        if keys > 0 {
            tracing::debug!(deleted = keys, "deleted expired idempotency keys");
        }
    }

    /// Calls `sweep` (which deletes at most `batch` rows due at the time it is given) until it
    /// deletes fewer than `batch`, fails, or the sweeper is stopped; how many it deleted.
    async fn drain<'a, F, Fut>(&self, batch: usize, failed: &str, sweep: F) -> usize
    where
        F: Fn(bgops_core::Timestamp) -> Fut,
        Fut: std::future::Future<Output = Result<usize, bgops_store::StoreError>> + 'a,
    {
        let mut total = 0;
        while !self.stop.is_cancelled() {
            match sweep(self.inner.clock.now()).await {
                Ok(n) => {
                    total += n;
                    if n < batch {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "{failed}");
                    break;
                }
            }
        }
        total
    }
}
