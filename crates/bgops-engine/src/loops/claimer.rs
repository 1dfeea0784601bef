//! The claimer: waits for free workers and due work, reserves rows in batches and hands them
//! to workers. It claims ahead of its free workers as many rows as finished lately (see
//! [`super::pace`]), so with fast attempts one commit takes many rows; those wait in
//! [`Inner::ready`] and the workers take them as they finish. A reservation is invisible to
//! readers (the rows stay Ready until a worker starts their attempt) and lapses after one
//! lease if this node dies. The claimer sleeps until woken by a submission, a cancel, a worker
//! running low, or until the next retry is due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bgops_store::{ClaimRequest, ReleaseRequest};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::{worker, ERROR_BACKOFF};
use crate::engine::{Claimed, Inner, Running};

/// Most rows claimed in one transaction.
const MAX_CLAIM: usize = 256;

/// Longest sleep without a wake-up: picks up rows written by another process on the same
/// database.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// A row claimed ahead that waited this long for a worker (every worker busy with slower
/// attempts than the recent pace said) is handed back, so another node (or this one, later)
/// can take it.
const STALE: Duration = Duration::from_millis(250);

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

    /// Runs until stopped; then hands back the rows claimed ahead.
    pub async fn run(self) {
        self.claim_until_stopped().await;
        self.release_ready("shutting down").await;
    }

    async fn claim_until_stopped(&self) {
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
            let had_workers = !permits.is_empty();
            // Rows claimed ahead go to free workers first.
            let mut waiting = self.start_ready(&mut permits);
            if self.oldest_ready_waited() >= STALE {
                // Attempts take longer than their recent pace said: claim ahead again only
                // once attempts finish again.
                inner.pace.forget();
                self.release_ready("no worker freed up in time").await;
                waiting = 0;
            }
            let room = inner.pace.ahead(Instant::now()).saturating_sub(waiting);
            let limit = (permits.len() + room).min(MAX_CLAIM);
            let now = inner.clock.now();
            let req = ClaimRequest {
                owner: inner.node.clone(),
                now,
                lease_until: now.plus(inner.config.lease),
                limit,
            };
            let asked = Instant::now();
            let outcome = inner.store.claim(req).await;
            inner.pace.claim_took(asked.elapsed());
            let outcome = match outcome {
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
            let full = limit > 0 && outcome.claimed.len() == limit;
            for op in outcome.claimed {
                let claimed = self.register(op);
                match permits.pop() {
                    Some(permit) => worker::spawn(inner.clone(), claimed, permit),
                    None => inner.lock_ready().push_back(claimed),
                }
            }
            drop(permits);
            if full {
                continue;
            }
            // Also wake when the oldest row claimed ahead would go stale.
            let mut sleep = self.until_stale().unwrap_or(IDLE_POLL);
            if !had_workers {
                // Every worker is busy: wait for one to free up, or for a wake-up (a cancel of a
                // queued row is finalized without a worker; the rows claimed ahead run low).
                tokio::select! {
                    p = inner.workers.acquire() => if p.is_err() { return },
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep(sleep) => {}
                    _ = self.stop.cancelled() => return,
                }
                continue;
            }
            // Nothing more due now: sleep until woken, the next retry, or the idle poll.
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

    /// Registers a reserved row here: a cancel request reaches its token from now on (and,
    /// once its attempt starts, the renewer keeps its lease).
    fn register(&self, op: bgops_core::BackgroundOperation) -> Claimed {
        let cancel = CancellationToken::new();
        self.inner.lock_running().insert(
            op.id,
            Running {
                attempt: op.attempt + 1,
                cancel: cancel.clone(),
                started: false,
            },
        );
        Claimed {
            op,
            cancel,
            since: Instant::now(),
        }
    }

    /// Starts workers on rows claimed ahead while there are free permits; returns how many rows
    /// still wait.
    fn start_ready(&self, permits: &mut Vec<OwnedSemaphorePermit>) -> usize {
        let mut ready = self.inner.lock_ready();
        while !ready.is_empty() {
            let Some(permit) = permits.pop() else { break };
            if let Some(claimed) = ready.pop_front() {
                worker::spawn(self.inner.clone(), claimed, permit);
            }
        }
        ready.len()
    }

    fn oldest_ready_waited(&self) -> Duration {
        self.inner
            .lock_ready()
            .front()
            .map(|c| c.since.elapsed())
            .unwrap_or_default()
    }

    /// How long until the oldest row claimed ahead goes stale, if any waits.
    fn until_stale(&self) -> Option<Duration> {
        let ready = self.inner.lock_ready();
        let oldest = ready.front()?;
        Some(STALE.saturating_sub(oldest.since.elapsed()))
    }

    /// Hands every row claimed ahead back: due again at once for any node, with nothing
    /// counted. (A row canceled meanwhile is no longer reserved; the next claim ends it.)
    async fn release_ready(&self, why: &str) {
        let inner = &self.inner;
        let taken: Vec<Claimed> = inner.lock_ready().drain(..).collect();
        if taken.is_empty() {
            return;
        }
        {
            let mut running = inner.lock_running();
            for c in &taken {
                running.remove(&c.op.id);
            }
        }
        let req = ReleaseRequest {
            owner: inner.node.clone(),
            attempts: taken.iter().map(|c| (c.op.id, c.op.attempt)).collect(),
            now: inner.clock.now(),
        };
        match inner.store.release_claims(req).await {
            Ok(n) => {
                tracing::info!(rows = n, reason = why, "handed back rows claimed ahead");
                inner.wake.notify_one();
            }
            Err(e) => tracing::error!(
                error = %e,
                "handing back rows claimed ahead failed; they are due again when their reservations lapse"
            ),
        }
    }
}
