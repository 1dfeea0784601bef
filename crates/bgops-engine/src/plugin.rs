//! The native plug-in trait: what runs behind a custom API.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bgops_core::{CustomApi, ErrorCode, OperationId, Parameters, TraceParent, UserId};
use tokio_util::sync::CancellationToken;

use crate::data::DataAccess;

/// What a plug-in gets for one execution.
#[derive(Clone)]
pub struct PluginContext {
    /// The background operation, or `None` for a synchronous call.
    pub operation_id: Option<OperationId>,
    /// The custom API's unique name.
    pub message_name: String,
    /// The caller the operation runs as (`runas`); the plug-in acts with its privileges.
    pub user_id: UserId,
    /// The attempt number, 1 for the first.
    pub attempt: u32,
    /// The typed request parameters.
    pub inputs: Parameters,
    /// Fires when cancellation is requested or the attempt's time-out passes; a plug-in that
    /// watches it can stop early (return [`PluginError::Canceled`]).
    pub cancel: CancellationToken,
    /// The tables, as the user the operation runs as.
    pub data: DataAccess,
    /// The custom API being run: a plug-in that converts outputs (an HTTP plug-in) reads the
    /// response property types from it.
    pub api: Arc<CustomApi>,
    /// The attempt's time-out; the engine enforces it, and a plug-in waiting on another system
    /// (an HTTP plug-in) gives its own request the same bound.
    pub timeout: Duration,
    /// The W3C trace context an outbound call of this attempt sends as `traceparent` (the
    /// attempt's span, or the submitter's context stored with the operation).
    pub trace_parent: Option<TraceParent>,
}

/// How a plug-in fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginError {
    /// The work failed.
    Failed {
        /// The message recorded in `errormessage` (and sent to synchronous callers).
        message: String,
        /// The code recorded in `errorcode`; `0x80040265` when `None`.
        code: Option<ErrorCode>,
        /// A permanent error is never retried.
        permanent: bool,
    },
    /// The plug-in stopped because its cancellation signal fired.
    Canceled,
}

impl PluginError {
    /// A retryable failure with the plug-in error code.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            code: None,
            permanent: false,
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            code: None,
            permanent: true,
        }
    }
}

/// A plug-in: the code that performs a custom API's work.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Runs once per attempt (or per synchronous call) and returns the response properties.
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError>;
}
