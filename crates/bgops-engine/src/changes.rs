//! The change fan-out: whoever waits for an operation to change (a long poll, an event stream)
//! holds a [`ChangeWatch`] and sleeps until that operation changes state, with no database
//! read meanwhile. One map from operation id to a `tokio::sync::watch` channel, fed by this
//! node's own writes (SQLite) or by the store's events from every node (PostgreSQL's
//! `LISTEN/NOTIFY`, this node's included), and a node-wide generation for streams of every
//! change. A waiter re-reads the row when woken; the fan-out carries no state, only "look".

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bgops_core::OperationId;
use tokio::sync::watch;

/// The fan-out; cheap to clone (one shared map).
#[derive(Clone, Default)]
pub struct Changes {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// One channel per operation someone waits for; removed with its last watcher.
    by_id: Mutex<HashMap<OperationId, watch::Sender<u64>>>,
    /// Moves on every change of any operation (streams of every change).
    any: watch::Sender<u64>,
}

impl Changes {
    /// An empty fan-out.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<OperationId, watch::Sender<u64>>> {
        // Every change to the map is one call: a panic elsewhere leaves it consistent.
        self.inner
            .by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts watching `id`. Take the watch *before* reading the row: a change committed after
    /// the read then wakes it, so none is missed.
    pub fn watch(&self, id: OperationId) -> ChangeWatch {
        let rx = self
            .map()
            .entry(id)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        ChangeWatch {
            id,
            rx,
            changes: self.clone(),
        }
    }

    /// Watches every change (a stream of all operations).
    pub fn watch_all(&self) -> watch::Receiver<u64> {
        self.inner.any.subscribe()
    }

    /// These operations changed state: wakes their watchers and the streams of every change.
    pub fn publish(&self, ids: &[OperationId]) {
        if ids.is_empty() {
            return;
        }
        {
            let map = self.map();
            if !map.is_empty() {
                for id in ids {
                    if let Some(tx) = map.get(id) {
                        tx.send_modify(|n| *n = n.wrapping_add(1));
                    }
                }
            }
        }
        self.inner.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes may have been missed (a lost notification connection, a lagging relay): wakes
    /// every watcher to read once.
    pub fn publish_all(&self) {
        for tx in self.map().values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
        self.inner.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// How many operations are being watched (diagnostics, metrics, tests).
    pub fn watched(&self) -> usize {
        self.map().len()
    }
}

/// A wait for one operation's changes; dropping it (a client that went away) unregisters it.
pub struct ChangeWatch {
    id: OperationId,
    rx: watch::Receiver<u64>,
    changes: Changes,
}

impl ChangeWatch {
    /// Waits until the operation changes after the watch was taken or last woken.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The channel is only dropped with its last watcher, which is this one: never.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for ChangeWatch {
    fn drop(&mut self) {
        let mut map = self.changes.map();
        // Under the map's lock no one can subscribe meanwhile: the last watcher removes it.
        if map.get(&self.id).is_some_and(|tx| tx.receiver_count() <= 1) {
            map.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_change_wakes_the_watchers_of_that_operation_only() {
        let changes = Changes::new();
        let (a, b) = (OperationId::new_random(), OperationId::new_random());
        let mut wa1 = changes.watch(a);
        let mut wa2 = changes.watch(a);
        let mut wb = changes.watch(b);
        changes.publish(&[a]);
        tokio::time::timeout(Duration::from_secs(1), wa1.changed())
            .await
            .expect("woken");
        tokio::time::timeout(Duration::from_secs(1), wa2.changed())
            .await
            .expect("woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), wb.changed())
                .await
                .is_err(),
            "another operation's watcher stays asleep"
        );
        changes.publish_all();
        tokio::time::timeout(Duration::from_secs(1), wb.changed())
            .await
            .expect("a resync wakes everyone");
    }

    #[tokio::test]
    async fn a_change_before_the_wait_is_not_missed() {
        let changes = Changes::new();
        let id = OperationId::new_random();
        let mut w = changes.watch(id);
        changes.publish(&[id]);
        tokio::time::timeout(Duration::from_secs(1), w.changed())
            .await
            .expect("the change published between watch and wait wakes it");
    }

    #[test]
    fn the_last_watcher_leaving_unregisters_the_operation() {
        let changes = Changes::new();
        let id = OperationId::new_random();
        let w1 = changes.watch(id);
        let w2 = changes.watch(id);
        assert_eq!(changes.watched(), 1);
        drop(w1);
        assert_eq!(changes.watched(), 1, "one watcher is left");
        drop(w2);
        assert_eq!(changes.watched(), 0);
    }

    #[tokio::test]
    async fn streams_of_every_change_see_each_publish() {
        let changes = Changes::new();
        let mut all = changes.watch_all();
        changes.publish(&[OperationId::new_random()]);
        tokio::time::timeout(Duration::from_secs(1), all.changed())
            .await
            .expect("woken")
            .unwrap();
        changes.publish(&[]);
        assert!(!all.has_changed().unwrap(), "nothing changed, nothing sent");
    }
}
