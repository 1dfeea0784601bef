//! The lease renewer: every third of the lease, extends the leases of all attempts running
//! here (started, not merely reserved) in one write, and passes on what the answer says: a cancel request fires the attempt's
//! signal; a lease taken back stops the attempt (its result would be dropped anyway).

use std::sync::Arc;

use bgops_store::RenewRequest;
use tokio_util::sync::CancellationToken;

use crate::engine::Inner;

/// Renews leases of running attempts.
pub struct Renewer {
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl Renewer {
    /// A renewer that stops when `stop` fires.
    pub fn new(inner: Arc<Inner>, stop: CancellationToken) -> Self {
        Self { inner, stop }
    }

    /// Runs until stopped.
    pub async fn run(self) {
        let period = (self.inner.config.lease / 3).max(std::time::Duration::from_millis(50));
        while super::sleep_or_stop(period, &self.stop).await {
            self.renew_once().await;
        }
    }

    async fn renew_once(&self) {
        let inner = &self.inner;
        // Only started attempts hold a lease; a reservation lapses on its own.
        let attempts: Vec<_> = inner
            .lock_running()
            .iter()
            .filter(|(_, run)| run.started)
            .map(|(id, run)| (*id, run.attempt))
            .collect();
        if attempts.is_empty() {
            return;
        }
        let now = inner.clock.now();
        let req = RenewRequest {
            owner: inner.node.clone(),
            attempts,
            lease_until: now.plus(inner.config.lease),
        };
        let states = match inner.store.renew_leases(req).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "lease renewal failed");
                return;
            }
        };
        let running = inner.lock_running();
        for s in states {
            if let Some(run) = running.get(&s.id) {
                if !s.held {
                    tracing::warn!(operation = %s.id, "lease lost; stopping the attempt");
                    run.cancel.cancel();
                } else if s.cancel_requested && !run.cancel.is_cancelled() {
                    tracing::info!(operation = %s.id, "cancel requested; signalling the plug-in");
                    run.cancel.cancel();
                }
            }
        }
    }
}
