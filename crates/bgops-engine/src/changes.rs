//! The change fan-out: whoever waits for an operation to change (a long poll, an event stream)
//! holds a [`ChangeWatch`] and sleeps until that operation changes state, with no database
//! read meanwhile. One map from operation id to its channels, fed by this node's own writes
//! (SQLite) or by the store's events from every node (PostgreSQL's `LISTEN/NOTIFY`, this
//! node's included), and a node-wide generation for streams of every change. A waiter re-reads
//! the row when woken; the fan-out carries no state, only "look" — except the end this node
//! recorded itself ([`Ended`]): a long poll woken by it answers from it, with no read at all.
//!
//! Each watched operation has two channels: one moved by every change (event streams follow
//! it) and one moved only by changes that may have ended the operation (long polls sleep on
//! it), so an attempt's start or a submission wakes no long poll at all.
//!
//! **The relay.** Publishing from the engine's threads would wake every waiter from there:
//! each wake of a task on the HTTP runtime is a system call, and the woken HTTP thread
//! preempts the engine thread in the middle of its claim → start → outcome pipeline. A server
//! runs [`Changes::relay`] on the runtime of its waiters instead: a publish then only queues the
//! ids that someone watches and wakes the relay once, and the relay wakes the waiters from
//! that runtime's own thread. Without a relay a publish wakes the waiters itself.

use std::sync::{Arc, Mutex, OnceLock};

use dashmap::DashMap;

use bgops_core::{OperationId, OperationStatus};
use tokio::sync::{watch, Notify};

/// How an operation ended, as this node's engine wrote it (the same values, committed): what
/// the status monitor shows of a terminal operation, so a long poll woken by it needs no read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Succeeded, Failed or Canceled.
    pub status: OperationStatus,
    /// `outputparameters` (Key/Value JSON), when Succeeded.
    pub output_parameters: Option<String>,
    /// The outputs as the status monitor shows them, when Succeeded and rendered.
    pub outputs_json: Option<String>,
    /// `errorcode`, when Failed.
    pub error_code: Option<i32>,
    /// `errormessage`, when Failed.
    pub error_message: Option<String>,
}

impl Ended {
    /// Succeeded with these outputs (stored Key/Value JSON, and rendered if they were).
    pub fn succeeded(outputs: &str, outputs_json: Option<&str>) -> Self {
        Self {
            status: OperationStatus::Succeeded,
            output_parameters: Some(outputs.to_owned()),
            outputs_json: outputs_json.map(str::to_owned),
            error_code: None,
            error_message: None,
        }
    }

    /// Failed for good with this error.
    pub fn failed(code: i32, message: &str) -> Self {
        Self {
            status: OperationStatus::Failed,
            error_code: Some(code),
            error_message: Some(message.to_owned()),
            ..Self::canceled()
        }
    }

    /// Canceled.
    pub fn canceled() -> Self {
        Self {
            status: OperationStatus::Canceled,
            output_parameters: None,
            outputs_json: None,
            error_code: None,
            error_message: None,
        }
    }
}

/// One published change of one operation.
#[derive(Clone, Debug)]
enum Change {
    /// It did not end (submitted, an attempt started).
    NotEnded,
    /// It may have ended (read it to know).
    MayHaveEnded,
    /// It ended so.
    Ended(Arc<Ended>),
}

/// The fan-out; cheap to clone (one shared map).
#[derive(Clone, Default)]
pub struct Changes {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The channels of each operation someone waits for; removed with its last watcher.
    /// Sharded: thousands of long polls registering and leaving while the engine publishes
    /// must not queue on one lock.
    by_id: DashMap<OperationId, Channels>,
    /// Moves on every change of any operation (streams of every change).
    any: watch::Sender<u64>,
    /// Set once [`Changes::relay`] runs.
    relay: OnceLock<Relay>,
}

/// One watched operation's channels.
struct Channels {
    /// Every change (a count).
    changes: watch::Sender<u64>,
    /// Changes that may have ended the operation: the end, when the last of them is one this
    /// node recorded.
    ends: watch::Sender<Option<Arc<Ended>>>,
}

impl Channels {
    fn new() -> Self {
        Self {
            changes: watch::channel(0).0,
            ends: watch::channel(None).0,
        }
    }

    fn moved(&self, change: Change) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        match change {
            Change::NotEnded => {}
            Change::MayHaveEnded => {
                self.ends.send_replace(None);
            }
            Change::Ended(ended) => {
                self.ends.send_replace(Some(ended));
            }
        }
    }

    fn watchers(&self) -> usize {
        self.changes.receiver_count()
    }
}

/// What the engine's threads leave for the relay.
#[derive(Default)]
struct Relay {
    pending: Mutex<Pending>,
    wake: Notify,
}

#[derive(Default)]
struct Pending {
    /// Watched operations that changed, and how.
    ids: Vec<(OperationId, Change)>,
    /// Whether the generation of every change must move.
    any: bool,
}

impl Changes {
    /// An empty fan-out.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts watching `id`. Take the watch *before* reading the row: a change committed after
    /// the read then wakes it, so none is missed.
    pub fn watch(&self, id: OperationId) -> ChangeWatch {
        let (changes, ends) = {
            let entry = self.inner.by_id.entry(id).or_insert_with(Channels::new);
            (entry.changes.subscribe(), entry.ends.subscribe())
        };
        ChangeWatch {
            id,
            changes,
            ends,
            fanout: self.clone(),
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
        self.send(ids, Change::MayHaveEnded);
    }

    /// This node recorded how `id` ended (committed): wakes its watchers, and a long poll
    /// answers from `ended` without reading the row.
    pub fn publish_ended(&self, id: OperationId, ended: Ended) {
        self.send(&[id], Change::Ended(Arc::new(ended)));
    }

    /// Whether anyone watches `id` (to skip building what only a watcher would use).
    pub fn is_watched(&self, id: OperationId) -> bool {
        self.inner.by_id.contains_key(&id)
    }

    /// These operations changed state but did not end (submitted, or an attempt started):
    /// wakes the streams of their changes, not the waits for their end.
    pub fn publish_not_ended(&self, ids: &[OperationId]) {
        self.send(ids, Change::NotEnded);
    }

    fn send(&self, ids: &[OperationId], change: Change) {
        if ids.is_empty() {
            return;
        }
        let Some(relay) = self.inner.relay.get() else {
            self.deliver(ids.iter().map(|id| (*id, change.clone())), true);
            return;
        };
        let any = self.inner.any.receiver_count() > 0;
        let mut watched = ids
            .iter()
            .filter(|id| self.inner.by_id.contains_key(id))
            .peekable();
        if watched.peek().is_none() && !any {
            // No one looks: nothing to wake, and the relay stays asleep.
            return;
        }
        {
            let mut pending = relay.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.ids.extend(watched.map(|id| (*id, change.clone())));
            pending.any |= any;
        }
        relay.wake.notify_one();
    }

    /// Wakes the watchers of `ids` (those still watched) and, if `any`, the streams of every
    /// change.
    fn deliver(&self, ids: impl IntoIterator<Item = (OperationId, Change)>, any: bool) {
        for (id, change) in ids {
            if let Some(channels) = self.inner.by_id.get(&id) {
                channels.moved(change);
            }
        }
        if any {
            self.inner.any.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Relays publishes to the waiters, from the task that runs this (spawn it on the runtime
    /// the waiters run on); runs until dropped. Once it runs, publishing only queues and wakes
    /// this task. Run it at most once per fan-out: a second call returns at once.
    pub async fn relay(self) {
        if self.inner.relay.set(Relay::default()).is_err() {
            return;
        }
        let relay = self.inner.relay.get().expect("set above");
        loop {
            relay.wake.notified().await;
            let batch =
                std::mem::take(&mut *relay.pending.lock().unwrap_or_else(|e| e.into_inner()));
            self.deliver(batch.ids, batch.any);
        }
    }

    /// Changes may have been missed (a lost notification connection, a lagging relay): wakes
    /// every watcher to read once.
    pub fn publish_all(&self) {
        for channels in self.inner.by_id.iter() {
            channels.moved(Change::MayHaveEnded);
        }
        self.inner.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// How many operations are being watched (diagnostics, metrics, tests).
    pub fn watched(&self) -> usize {
        self.inner.by_id.len()
    }
}

/// A wait for one operation's changes; dropping it (a client that went away) unregisters it.
pub struct ChangeWatch {
    id: OperationId,
    /// Every change.
    changes: watch::Receiver<u64>,
    /// Changes that may have ended it.
    ends: watch::Receiver<Option<Arc<Ended>>>,
    fanout: Changes,
}

impl ChangeWatch {
    /// The operation watched.
    pub fn id(&self) -> OperationId {
        self.id
    }

    /// Waits until the operation changes after the watch was taken or last woken.
    pub async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            // The channel is only dropped with its last watcher, which is this one: never.
            std::future::pending::<()>().await;
        }
        // Whatever ended it is seen now too.
        self.ends.mark_unchanged();
    }

    /// Waits until the operation changes in a way that may have ended it (after the watch was
    /// taken or last woken); sleeps through submissions and attempt starts, without waking.
    /// Returns how it ended when the last such change is an end this node recorded (no need to
    /// read the row), else `None` (read it).
    pub async fn may_have_ended(&mut self) -> Option<Arc<Ended>> {
        if self.ends.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.changes.mark_unchanged();
        self.ends.borrow_and_update().clone()
    }
}

impl Drop for ChangeWatch {
    fn drop(&mut self) {
        // Under the entry's shard lock no one can subscribe meanwhile: the last watcher
        // removes it.
        self.fanout
            .inner
            .by_id
            .remove_if(&self.id, |_, channels| channels.watchers() <= 1);
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
    async fn through_the_relay_a_publish_wakes_the_same_watchers() {
        let changes = Changes::new();
        tokio::spawn(changes.clone().relay());
        // Let the relay install itself.
        for _ in 0..100 {
            if changes.inner.relay.get().is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(changes.inner.relay.get().is_some(), "the relay runs");
        let (a, b) = (OperationId::new_random(), OperationId::new_random());
        let mut end = changes.watch(a);
        let mut stream = changes.watch(a);
        let mut other = changes.watch(b);
        let mut all = changes.watch_all();
        changes.publish_not_ended(&[a]);
        tokio::time::timeout(Duration::from_secs(1), stream.changed())
            .await
            .expect("a start reaches the stream through the relay");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), end.may_have_ended())
                .await
                .is_err(),
            "a start does not wake a wait for the end"
        );
        changes.publish(&[a, OperationId::new_random()]);
        tokio::time::timeout(Duration::from_secs(1), end.may_have_ended())
            .await
            .expect("an end reaches the wait for the end through the relay");
        tokio::time::timeout(Duration::from_secs(1), all.changed())
            .await
            .expect("the streams of every change move")
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), other.changed())
                .await
                .is_err(),
            "another operation's watcher stays asleep"
        );
    }

    #[tokio::test]
    async fn an_end_recorded_here_reaches_the_wait_with_how_it_ended() {
        let changes = Changes::new();
        let id = OperationId::new_random();
        let mut end = changes.watch(id);
        assert!(changes.is_watched(id));
        let ended = Ended::failed(-2147188475, "boom");
        changes.publish_ended(id, ended.clone());
        let got = tokio::time::timeout(Duration::from_secs(1), end.may_have_ended())
            .await
            .expect("woken");
        assert_eq!(got.as_deref(), Some(&ended), "answered without a read");
        // An end followed by a change this node cannot tell apart: read.
        changes.publish_ended(id, ended);
        changes.publish(&[id]);
        let got = tokio::time::timeout(Duration::from_secs(1), end.may_have_ended())
            .await
            .expect("woken");
        assert_eq!(got, None, "the last change says: read the row");
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
