//! The bgops domain, free of I/O: what a background operation is, the states it moves through,
//! the typed parameters of custom APIs, the retry policy and the Dataverse error catalogue.
//!
//! Every other crate speaks in these types; the storage, engine and HTTP crates only move them
//! around.
#![warn(missing_docs)]

pub mod callback;
pub mod catalogue;
pub mod clock;
pub mod custom_api;
pub mod custom_api_file;
pub mod custom_api_rows;
pub mod custom_api_rules;
pub mod entity_metadata;
pub mod error;
pub mod fetchxml;
pub mod function_args;
pub mod ids;
pub mod metadata;
pub mod odata;
pub mod operation;
pub mod outbound_url;
pub mod params;
pub mod retry;
pub mod security;
pub mod signing;
pub mod state;
pub mod step_rules;
pub mod system_job;
pub mod table_json;
pub mod trace_context;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use custom_api::{CustomApi, RequestParameter, ResponseProperty};
pub use error::{ApiError, ErrorCode};
pub use ids::{OperationId, UserId};
pub use operation::{BackgroundOperation, NewOperation, OperationError};
pub use params::{ParamType, ParamValue, Parameters};
pub use retry::{FailureDecision, Jitter, RetryPolicy};
pub use state::{OperationState, OperationStatus};
pub use trace_context::TraceParent;
