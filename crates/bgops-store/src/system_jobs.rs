//! System jobs as the engine sees them (SPEC §9): when a background operation reaches a
//! terminal state, one `asyncoperation` row per active OnBackgroundOperationComplete step is
//! written in the same transaction; the job runner claims due jobs under a lease, runs each
//! job's handler, and records the attempt's result behind a fence — the same life as a
//! background operation's, on its own table.

use bgops_core::{OperationError, Timestamp};
use uuid::Uuid;

use crate::store::{Fence, NodeId};

/// A job claimed to run: what its handler needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemJob {
    /// `asyncoperationid`.
    pub id: Uuid,
    /// `owningextensionid`: the step whose handler runs.
    pub step_id: Option<Uuid>,
    /// `regardingobjectid`: the background operation that completed.
    pub operation_id: Option<Uuid>,
    /// `data`: the event (`bgops_core::system_job::JobData` as JSON).
    pub data: String,
    /// The attempt just started, 1 for the first (the fence of its writes).
    pub attempt: i64,
    /// Retries already scheduled (`retrycount`).
    pub retry_count: i32,
    /// `createdon`.
    pub created_on: Timestamp,
}

/// What a claim of jobs did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobClaim {
    /// Jobs now In Progress (2/20) under the caller's lease, oldest due first.
    pub claimed: Vec<SystemJob>,
    /// When the next waiting job (a retry) becomes due, if any.
    pub next_due: Option<Timestamp>,
}

/// A lease renewal for the jobs a node runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRenewal {
    /// The node that claimed them.
    pub owner: NodeId,
    /// `(job, attempt)` pairs.
    pub jobs: Vec<(Uuid, i64)>,
    /// The new expiry.
    pub lease_until: Timestamp,
}

/// The answer for one renewed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobLeaseState {
    /// The job.
    pub id: Uuid,
    /// Whether the node still holds this attempt (false: stop, its result would be dropped).
    pub held: bool,
}

/// A job attempt whose lease expired: its node died or stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiredJobLease {
    /// The job.
    pub id: Uuid,
    /// The attempt that was lost.
    pub attempt: i64,
    /// Retries already scheduled.
    pub retry_count: i32,
}

/// How a job attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobResult {
    /// The handler succeeded: the job ends Succeeded (3/30) with `completedon`, or is deleted
    /// when its step asked for `asyncautodelete`.
    Succeeded,
    /// The attempt failed. With `retry_at` the job waits (0/0, `retrycount` + 1, the error kept
    /// in `errorcode`/`message`) until then; without it the job ends Failed (3/31) with it.
    Failed {
        /// The error.
        error: OperationError,
        /// When to try again, if the policy allows.
        retry_at: Option<Timestamp>,
    },
}

/// A job attempt's outcome to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobOutcome {
    /// The job.
    pub id: Uuid,
    /// Who may write it.
    pub fence: Fence,
    /// The time of the write.
    pub now: Timestamp,
    /// The result.
    pub result: JobResult,
}
