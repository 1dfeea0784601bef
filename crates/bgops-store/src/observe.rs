//! What a store tells about itself for metrics: the queue's shape (read on demand, from the
//! partial indexes only) and each write transaction its writer commits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bgops_core::{OperationStatus, Timestamp, TraceParent};

/// The operations not yet finished, by status, and the oldest one waiting. Read only from the
/// partial indexes of unfinished rows, so its cost grows with the queue, never with the rows
/// kept after they finished.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// Rows Waiting For Resources (0/0), reserved ones included (readers see them waiting).
    pub waiting: u64,
    /// Rows In Progress (2/20).
    pub in_progress: u64,
    /// Rows Canceling (2/22).
    pub canceling: u64,
    /// `createdon` of the oldest waiting row.
    pub oldest_waiting: Option<Timestamp>,
}

impl QueueSummary {
    /// The counts with the status each belongs to.
    pub fn by_status(&self) -> [(OperationStatus, u64); 3] {
        [
            (OperationStatus::WaitingForResources, self.waiting),
            (OperationStatus::InProgress, self.in_progress),
            (OperationStatus::Canceling, self.canceling),
        ]
    }
}

/// Told about every write transaction a store's writer ends: how many callers' jobs it held,
/// how long its `COMMIT` took, and whether it committed.
pub trait WriteObserver: Send + Sync + 'static {
    /// One transaction ended.
    fn transaction(&self, backend: &'static str, jobs: usize, commit: Duration, committed: bool);
}

/// An optional [`WriteObserver`], for [`crate::OpenOptions`].
#[derive(Clone, Default)]
pub struct WriterObserver(Option<Arc<dyn WriteObserver>>);

impl WriterObserver {
    /// Tells `observer` about every transaction.
    pub fn new(observer: Arc<dyn WriteObserver>) -> Self {
        Self(Some(observer))
    }

    /// Reports a transaction, if anyone listens.
    pub(crate) fn transaction(
        &self,
        backend: &'static str,
        jobs: usize,
        commit: Duration,
        committed: bool,
    ) {
        if let Some(o) = &self.0 {
            o.transaction(backend, jobs, commit, committed);
        }
    }
}

impl fmt::Debug for WriterObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "WriterObserver(set)"
        } else {
            "WriterObserver(none)"
        })
    }
}

impl PartialEq for WriterObserver {
    /// Observers do not change what a store does: any two compare equal.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for WriterObserver {}

/// A stored `traceparent` column: a value that no longer parses (it was checked when stored)
/// is dropped rather than failing the read of its row.
pub(crate) fn trace_column(text: Option<String>) -> Option<TraceParent> {
    text.and_then(|t| TraceParent::parse(&t).ok())
}

/// Operations that finished in one minute with one outcome, for one custom API: a bucket of
/// the dashboard's throughput and failure-rate charts, read from the `endtime` index alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedBucket {
    /// The minute's start (milliseconds since the epoch, a multiple of 60,000).
    pub minute: i64,
    /// The custom API's unique name.
    pub name: String,
    /// Succeeded, Failed or Canceled.
    pub status: OperationStatus,
    /// How many.
    pub count: u64,
}

/// A node as the operations table knows it: the owner of leases on rows (there is no node
/// table), with how many it holds and when the latest one expires (renewals push it forward,
/// so it is the node's last sign of life plus one lease length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The `leaseowner` (the node id).
    pub owner: String,
    /// Rows it holds a lease on (attempts running, or reserved).
    pub leases: u64,
    /// The latest of their `leaseexpiresat`.
    pub latest_expiry: Timestamp,
}
