//! The `backgroundoperation` row (SPEC §4) as the domain sees it, what a submission creates, and
//! the error an attempt ends with.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::ErrorCode;
use crate::ids::{OperationId, UserId};
use crate::state::{OperationState, OperationStatus};
use crate::trace_context::TraceParent;

/// The default `ttlinseconds`: 90 days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// A background operation row with every column of SPEC §4, plus the engine's bookkeeping.
#[derive(Clone, Debug, PartialEq)]
pub struct BackgroundOperation {
    /// `backgroundoperationid`.
    pub id: OperationId,
    /// `name`: the custom API's unique name.
    pub name: String,
    /// `displayname`: the custom API's display name.
    pub display_name: String,
    /// `backgroundoperationstatuscode` (the state code follows from it).
    pub status: OperationStatus,
    /// `inputparameters`: the stored Key/Value JSON.
    pub input_parameters: String,
    /// `outputparameters`: the stored Key/Value JSON, once succeeded.
    pub output_parameters: Option<String>,
    /// `starttime`: when the first attempt started.
    pub start_time: Option<Timestamp>,
    /// `endtime`: when the row reached a terminal state.
    pub end_time: Option<Timestamp>,
    /// `retrycount`: how many retries were scheduled.
    pub retry_count: i32,
    /// `errorcode`: signed 32-bit code, set only on Failed rows.
    pub error_code: Option<i32>,
    /// `errormessage`: set only on Failed rows.
    pub error_message: Option<String>,
    /// `runas`: the user whose identity the plug-in gets.
    pub run_as: UserId,
    /// `priority` 0–10: higher runs first.
    pub priority: i32,
    /// `ttlinseconds`: the row is deleted this long after `modifiedon`.
    pub ttl_seconds: i64,
    /// `createdon`.
    pub created_on: Timestamp,
    /// `modifiedon`.
    pub modified_on: Timestamp,
    /// `_createdby_value`: the caller that submitted it.
    pub created_by: UserId,
    /// `versionnumber`: grows on every write; also the `@odata.etag`.
    pub version_number: i64,
    /// The number of the last attempt started (0 before the first): fences attempt writes.
    pub attempt: i64,
    /// Retries this row may have (fixed at submission from the API or the service default).
    pub max_retries: i32,
    /// The submitter's W3C trace context (an internal column): attempts and the calls they
    /// make continue that trace.
    pub trace_parent: Option<TraceParent>,
}

impl BackgroundOperation {
    /// `backgroundoperationstatecode`.
    pub fn state(&self) -> OperationState {
        self.status.state()
    }
}

/// What a background submission stores.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOperation {
    /// The new row's id.
    pub id: OperationId,
    /// The custom API's unique name.
    pub name: String,
    /// The custom API's display name.
    pub display_name: String,
    /// The stored Key/Value JSON of the inputs.
    pub input_parameters: String,
    /// Who the plug-in runs as.
    pub run_as: UserId,
    /// Who submitted it.
    pub created_by: UserId,
    /// 0–10, higher first.
    pub priority: i32,
    /// Time to live after the last modification.
    pub ttl_seconds: i64,
    /// Retries allowed.
    pub max_retries: i32,
    /// Submission time.
    pub created_on: Timestamp,
    /// The completion callback URL (SPEC §3, §9), already checked against the URL rules; a
    /// callback is POSTed there when the row reaches a terminal state.
    pub callback_url: Option<String>,
    /// The status monitor URL of the row as the caller saw it, sent in the callback payload.
    pub location: Option<String>,
    /// The W3C trace context of the submitting request's span, continued by every attempt.
    pub trace_parent: Option<TraceParent>,
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationError {
    /// The code recorded in `errorcode`.
    pub code: ErrorCode,
    /// The message recorded in `errormessage`.
    pub message: String,
    /// A permanent error is never retried.
    pub permanent: bool,
}

impl OperationError {
    /// A plug-in's own error (`0x80040265`).
    pub fn plugin(message: impl Into<String>, permanent: bool) -> Self {
        Self {
            code: ErrorCode::PLUGIN_ERROR,
            message: message.into(),
            permanent,
        }
    }

    /// An attempt that ran past its time-out (`0x80044173`); retryable.
    pub fn timeout() -> Self {
        Self {
            code: ErrorCode::TIMEOUT,
            message: crate::error::TIMEOUT_MESSAGE.to_owned(),
            permanent: false,
        }
    }

    /// An attempt lost with its node; retryable.
    pub fn worker_lost() -> Self {
        Self {
            code: ErrorCode::WORKER_LOST,
            message: crate::error::WORKER_LOST_MESSAGE.to_owned(),
            permanent: false,
        }
    }
}
