//! An operation's history, as the dashboard's operation page shows it (SPEC §15): the row, its
//! failed attempts, its callback deliveries with their failed tries, and its
//! OnBackgroundOperationComplete system jobs.
//!
//! The row itself keeps only the last attempt; a failed attempt (including one whose lease was
//! taken back) is appended to a JSON array kept with the row (`attempthistory`) by the same
//! `UPDATE` that schedules the retry or writes the final failure, and a failed delivery try to
//! one kept with the delivery (`tries`). Successful attempts and tries write nothing more, so an
//! operation that succeeds the first time costs what it did before. Both arrays keep the last
//! [`HISTORY_CAP`] entries.

use bgops_core::{BackgroundOperation, Timestamp, UserId};
use uuid::Uuid;

use crate::CallbackDelivery;

/// How many failed attempts an operation keeps, and failed tries a delivery keeps: the oldest
/// is dropped when one more is appended. Retry policies allow far fewer attempts by default, so
/// only an operation retried past this loses its first ones (the row still counts them in
/// `retrycount`).
pub const HISTORY_CAP: usize = 20;

/// One failed attempt of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The attempt number, 1 for the first.
    pub attempt: i64,
    /// When it started, when known: exact for the first attempt and for an attempt started and
    /// ended in one write; for a later attempt, the time its start was written, unknown when a
    /// cancel request was written while it ran.
    pub started: Option<Timestamp>,
    /// When its failure was recorded (or its lease was found expired).
    pub ended: Timestamp,
    /// The error code, as stored on the row (`errorcode`).
    pub error_code: Option<i32>,
    /// The error message.
    pub error_message: Option<String>,
    /// The node that ran it (its lease owner), when known.
    pub owner: Option<String>,
}

/// One failed try of a callback delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryTry {
    /// The try number, 1 for the first.
    pub attempt: i64,
    /// When the try was claimed.
    pub started: Option<Timestamp>,
    /// When its failure was recorded.
    pub ended: Timestamp,
    /// What went wrong.
    pub error: String,
    /// The node that sent it.
    pub owner: Option<String>,
}

/// A callback delivery with its failed tries.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryHistory {
    /// The delivery as stored.
    pub delivery: CallbackDelivery,
    /// Its failed tries, oldest first (at most [`HISTORY_CAP`], the last ones).
    pub tries: Vec<DeliveryTry>,
}

/// An OnBackgroundOperationComplete system job of the operation (an `asyncoperation` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemJobSummary {
    /// `asyncoperationid`.
    pub id: Uuid,
    /// `name`.
    pub name: Option<String>,
    /// `owningextensionid`: the step it runs.
    pub step_id: Option<Uuid>,
    /// `statecode`.
    pub state_code: Option<i32>,
    /// `statuscode`.
    pub status_code: Option<i32>,
    /// Attempts started so far.
    pub attempts: i64,
    /// `retrycount`.
    pub retry_count: Option<i32>,
    /// `errorcode` of the last failure.
    pub error_code: Option<i32>,
    /// `message` of the last failure.
    pub message: Option<String>,
    /// `startedon`.
    pub started_on: Option<Timestamp>,
    /// `completedon`.
    pub completed_on: Option<Timestamp>,
    /// `createdon`.
    pub created_on: Timestamp,
    /// `createdby`: who owns the job at Basic read depth.
    pub created_by: Option<UserId>,
}

/// Everything the operation page shows of one operation.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationHistory {
    /// The row as stored.
    pub operation: BackgroundOperation,
    /// Its failed attempts, oldest first (at most [`HISTORY_CAP`], the last ones). Empty for
    /// an operation none of whose attempts failed.
    pub attempts: Vec<AttemptRecord>,
    /// When the row's latest attempt started (`None` before any did).
    pub last_attempt_started: Option<Timestamp>,
    /// Its callback deliveries, oldest first.
    pub deliveries: Vec<DeliveryHistory>,
    /// Its system jobs, oldest first.
    pub system_jobs: Vec<SystemJobSummary>,
}
