//! The change fan-out: whoever waits for an operation to change (a long poll, an event stream)
//! holds a [`ChangeWatch`] and sleeps until that operation changes state, with no database
//! read meanwhile. One map from operation id to a `tokio::sync::watch` channel, fed by this
//! node's own writes (SQLite) or by the store's events from every node (PostgreSQL's
//! `LISTEN/NOTIFY`, this node's included), and a node-wide generation for streams of every
//! change. A waiter re-reads the row when woken; the fan-out carries no state, only "look" —
//! and whether the change may have ended the operation: an attempt that started or a
//! submission did not, so a long poll waiting for the end sleeps through them without a read.

use std::sync::Arc;

use dashmap::DashMap;

use bgops_core::OperationId;
use tokio::sync::watch;

/// The fan-out; cheap to clone (one shared map).
#[derive(Clone, Default)]
pub struct Changes {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// One channel per operation someone waits for; removed with its last watcher. Sharded:
    /// thousands of long polls registering and leaving while the engine publishes must not
    /// queue on one lock (the engine publishes an attempt's start before running it).
    by_id: DashMap<OperationId, watch::Sender<Stamp>>,
    /// Moves on every change of any operation (streams of every change).
    any: watch::Sender<u64>,
}

impl Changes {
    /// An empty fan-out.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts watching `id`. Take the watch *before* reading the row: a change committed after
    /// the read then wakes it, so none is missed.
    pub fn watch(&self, id: OperationId) -> ChangeWatch {
        let rx = self
            .inner
            .by_id
            .entry(id)
            .or_insert_with(|| watch::channel(Stamp::default()).0)
            .subscribe();
        let ends = rx.borrow().ends;
        ChangeWatch {
            id,
            rx,
            ends,
            changes: self.clone(),
        }
    }

    /// Watches every change (a stream of all operations).
    pub fn watch_all(&self) -> watch::Receiver<u64> {
        self.inner.any.subscribe()
    }

    /// These operations changed state, perhaps to a terminal one (an outcome, a cancel, a
    /// lease taken back, or a change this node cannot tell apart): wakes their watchers and
    /// the streams of every change.
    pub fn publish(&self, ids: &[OperationId]) {
        self.send(ids, true);
    }

    /// These operations changed state but did not end (submitted, or an attempt started):
    /// wakes the streams of their changes, not the waits for their end.
    pub fn publish_not_ended(&self, ids: &[OperationId]) {
        self.send(ids, false);
    }

    fn send(&self, ids: &[OperationId], may_have_ended: bool) {
        if ids.is_empty() {
            return;
        }
        for id in ids {
            if let Some(tx) = self.inner.by_id.get(id) {
                tx.send_modify(|s| s.moved(may_have_ended));
            }
        }
        self.inner.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes may have been missed (a lost notification connection, a lagging relay): wakes
    /// every watcher to read once.
    pub fn publish_all(&self) {
        for tx in self.inner.by_id.iter() {
            tx.send_modify(|s| s.moved(true));
        }
        self.inner.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// How many operations are being watched (diagnostics, metrics, tests).
    pub fn watched(&self) -> usize {
        self.inner.by_id.len()
    }
}

/// What an operation's channel carries: how many changes were published, and how many of
/// them may have ended it. Counts, not flags, so a wake that finds several changes at once
/// still knows whether any of them may have ended it.
#[derive(Clone, Copy, Debug, Default)]
struct Stamp {
    changes: u64,
    ends: u64,
}

impl Stamp {
    fn moved(&mut self, may_have_ended: bool) {
        self.changes = self.changes.wrapping_add(1);
        if may_have_ended {
            self.ends = self.ends.wrapping_add(1);
        }
    }
}

/// A wait for one operation's changes; dropping it (a client that went away) unregisters it.
pub struct ChangeWatch {
    id: OperationId,
    rx: watch::Receiver<Stamp>,
    /// The `ends` count last seen.
    ends: u64,
    changes: Changes,
}

impl ChangeWatch {
    /// Waits until the operation changes after the watch was taken or last woken.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The channel is only dropped with its last watcher, which is this one: never.
            std::future::pending::<()>().await;
        }
        self.ends = self.rx.borrow_and_update().ends;
    }

    /// Waits until the operation changes in a way that may have ended it (after the watch was
    /// taken or last woken); sleeps through submissions and attempt starts.
    pub async fn may_have_ended(&mut self) {
        loop {
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            let ends = self.rx.borrow_and_update().ends;
            if ends != self.ends {
                self.ends = ends;
                return;
            }
        }
    }
}

impl Drop for ChangeWatch {
    fn drop(&mut self) {
        // Under the entry's shard lock no one can subscribe meanwhile: the last watcher
        // removes it.
        self.changes
            .inner
            .by_id
            .remove_if(&self.id, |_, tx| tx.receiver_count() <= 1);
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

    #[tokio::test]
    async fn a_wait_for_the_end_sleeps_through_starts_but_not_through_an_end_among_them() {
        let changes = Changes::new();
        let id = OperationId::new_random();
        let mut end = changes.watch(id);
        let mut any = changes.watch(id);
        changes.publish_not_ended(&[id]);
        tokio::time::timeout(Duration::from_secs(1), any.changed())
            .await
            .expect("a start is a change");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), end.may_have_ended())
                .await
                .is_err(),
            "a start does not wake a wait for the end"
        );
        // An end followed by a start (a retry) before the waiter runs: it still wakes.
        changes.publish(&[id]);
        changes.publish_not_ended(&[id]);
        tokio::time::timeout(Duration::from_secs(1), end.may_have_ended())
            .await
            .expect("the end among the changes wakes it");
        changes.publish_all();
        tokio::time::timeout(Duration::from_secs(1), end.may_have_ended())
            .await
            .expect("a resync wakes it");
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
