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
        let mut total = 0;
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            match self
                .inner
                .store
                .sweep_expired(self.inner.clock.now(), batch)
                .await
            {
                Ok(n) => {
                    total += n;
                    if n < batch {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "TTL sweep failed");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(
                deleted = total,
                "deleted operations past their time to live"
            );
        }
        self.sweep_keys(batch).await;
    }

    /// Deletes expired idempotency keys, `batch` at a time.
    async fn sweep_keys(&self, batch: usize) {
        let mut total = 0;
        while !self.stop.is_cancelled() {
            match self
                .inner
                .store
                .sweep_idempotency_keys(self.inner.clock.now(), batch)
                .await
            {
                Ok(n) => {
                    total += n;
                    if n < batch {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "sweeping idempotency keys failed");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::debug!(deleted = total, "deleted expired idempotency keys");
        }
    }
}
