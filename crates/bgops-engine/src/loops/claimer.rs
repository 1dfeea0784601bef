//! The claimer: waits for free workers and due work, claims rows in batches and starts their
//! attempts. It sleeps until woken by a submission or cancel, or until the next retry is due.

use std::sync::Arc;
use std::time::Duration;

use bgops_store::ClaimRequest;
use tokio_util::sync::CancellationToken;

use super::{attempt, ERROR_BACKOFF};
use crate::engine::Inner;

/// Most rows claimed in one transaction.
const MAX_CLAIM: usize = 256;

/// Longest sleep without a wake-up: picks up rows written by another process on the same
/// database.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// Claims due work.
pub struct Claimer {
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl Claimer {
    /// A claimer that stops when `stop` fires.
    pub fn new(inner: Arc<Inner>, stop: CancellationToken) -> Self {
        Self { inner, stop }
    }

    /// Runs until stopped.
    pub async fn run(self) {
        let inner = &self.inner;
        loop {
            // Take every free worker (possibly none: a claim of zero rows still finalizes
            // cancel requests of queued rows, which must not wait for a worker).
            let mut permits = Vec::new();
            while permits.len() < MAX_CLAIM {
                match inner.workers.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let now = inner.clock.now();
            let req = ClaimRequest {
                owner: inner.node.clone(),
                now,
                lease_until: now.plus(inner.config.lease),
                limit: permits.len(),
            };
            let outcome = match inner.store.claim(req).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "claim failed");
                    drop(permits);
                    if !super::sleep_or_stop(ERROR_BACKOFF, &self.stop).await {
                        return;
                    }
                    continue;
                }
            };
            for id in &outcome.canceled {
                tracing::info!(operation = %id, "canceled before it ran");
            }
            if !outcome.canceled.is_empty() {
                inner.operations_ended();
            }
            let had_workers = !permits.is_empty();
            let full = had_workers && outcome.claimed.len() == permits.len();
            for op in outcome.claimed {
                let Some(permit) = permits.pop() else { break };
                attempt::spawn(inner.clone(), op, permit);
            }
            drop(permits);
            if full {
                continue;
            }
            if !had_workers {
                // Every worker is busy: wait for one to free up, or for a wake-up (a cancel of a
                // queued row is finalized without a worker).
                tokio::select! {
                    p = inner.workers.acquire() => if p.is_err() { return },
                    _ = inner.wake.notified() => {}
                    _ = self.stop.cancelled() => return,
                }
                continue;
            }
            // Nothing more due now: sleep until woken, the next retry, or the idle poll.
            let mut sleep = IDLE_POLL;
            if let Some(due) = outcome.next_due {
                let ms = (due.0 - inner.clock.now().0).max(0) as u64;
                sleep = sleep.min(Duration::from_millis(ms));
            }
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = self.stop.cancelled() => return,
            }
        }
    }
}
