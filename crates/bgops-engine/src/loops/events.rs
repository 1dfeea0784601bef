//! The event relay: passes what other nodes did (the store's events, from PostgreSQL's
//! `LISTEN/NOTIFY`) to this node's loops at once, instead of at their next poll: new work wakes
//! the claimer, a cancel reaches the attempt running here, ended operations wake the senders of
//! callbacks and system jobs. A backend without events (SQLite) leaves the loops to their polls.

use std::sync::Arc;

use bgops_store::StoreEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::engine::Inner;

/// Relays store events to the loops.
pub struct EventRelay {
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl EventRelay {
    /// A relay that stops when `stop` fires.
    pub fn new(inner: Arc<Inner>, stop: CancellationToken) -> Self {
        Self { inner, stop }
    }

    /// Runs until stopped (at once when the store has no events).
    pub async fn run(self) {
        let Some(mut events) = self.inner.store.subscribe() else {
            return;
        };
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                _ = self.stop.cancelled() => return,
            };
            match event {
                Ok(event) => self.apply(event),
                // Fell behind: some events were dropped, so look at everything.
                Err(RecvError::Lagged(_)) => self.apply(StoreEvent::Resync),
                Err(RecvError::Closed) => return,
            }
        }
    }

    fn apply(&self, event: StoreEvent) {
        let inner = &self.inner;
        match event {
            StoreEvent::Work => inner.wake.notify_one(),
            StoreEvent::Canceled(id) => {
                if let Some(run) = inner.lock_running().get(&id) {
                    if !run.cancel.is_cancelled() {
                        tracing::info!(operation = %id, "cancel requested on another node; signalling the attempt");
                        run.cancel.cancel();
                    }
                }
            }
            StoreEvent::Ended => inner.operations_ended(),
            StoreEvent::Changed(ids) => inner.changes.publish(&ids),
            StoreEvent::Started(ids) => inner.changes.publish_not_ended(&ids),
            StoreEvent::Resync => {
                inner.wake.notify_one();
                inner.operations_ended();
                // Changes may have been missed: every waiter reads once.
                inner.changes.publish_all();
                // Cancels may have been missed: the renewer's next pass reports them.
            }
        }
    }
}
