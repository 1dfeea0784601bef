//! The lease reaper: takes back attempts whose lease expired (their node died or stalled).
//! The lost attempt counts as a failed one: the row is retried per policy, or ends Failed, or
//! ends Canceled if a cancel was requested. Each write is fenced on the expired lease, so an
//! attempt that renewed meanwhile keeps running.

use std::sync::Arc;
use std::time::Duration;

use bgops_core::{OperationError, OperationStatus};
use bgops_store::{AttemptOutcome, AttemptResult, Fence};
use tokio_util::sync::CancellationToken;

use crate::engine::Inner;
use crate::outcome;

/// Most expired leases handled per pass.
const BATCH: usize = 256;

/// Recovers attempts whose lease expired.
pub struct Reaper {
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl Reaper {
    /// A reaper that stops when `stop` fires.
    pub fn new(inner: Arc<Inner>, stop: CancellationToken) -> Self {
        Self { inner, stop }
    }

    /// Runs until stopped: once at start (recovering what a crash left), then every half lease.
    pub async fn run(self) {
        let period = (self.inner.config.lease / 2).max(Duration::from_millis(100));
        loop {
            self.reap_once().await;
            if !super::sleep_or_stop(period, &self.stop).await {
                return;
            }
        }
    }

    async fn reap_once(&self) {
        let inner = &self.inner;
        loop {
            let now = inner.clock.now();
            let expired = match inner.store.expired_leases(now, BATCH).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "reading expired leases failed");
                    return;
                }
            };
            let n = expired.len();
            let mut recovered = 0;
            for lease in expired {
                let result = if lease.status == OperationStatus::Canceling {
                    AttemptResult::Canceled
                } else {
                    outcome::failure(
                        lease.retry_count,
                        lease.max_retries,
                        OperationError::worker_lost(),
                        false,
                        inner.policy(),
                        inner.jitter.as_ref(),
                        now,
                    )
                };
                let write = AttemptOutcome {
                    id: lease.id,
                    fence: Fence::ExpiredLease(lease.attempt),
                    now,
                    result,
                };
                match inner.store.record_outcome(write.clone()).await {
                    Ok(r) if r.applied() => {
                        recovered += 1;
                        inner.changed(&[lease.id]);
                        inner.config.metrics.lease_taken_back();
                        super::attempt::count_outcome(
                            &inner.config.metrics,
                            &lease.name,
                            &write.result,
                        );
                        tracing::warn!(operation = %lease.id, attempt = lease.attempt, "took back an attempt whose lease expired");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "recovering an expired lease failed");
                        return;
                    }
                }
            }
            if recovered > 0 {
                inner.wake.notify_one();
                inner.operations_ended();
            }
            if n < BATCH {
                return;
            }
        }
    }
}
