//! Storage for bgops: one interface ([`Store`]) expressed as the engine's intents (insert, claim
//! under a lease, renew, record an outcome behind a fence, cancel, sweep), and its
//! implementations. No backend type leaves this crate.
#![warn(missing_docs)]

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance_callbacks;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance_jobs;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance_tables;
mod deliveries;
mod error;
mod history;
mod idempotency;
mod observe;
pub mod postgres;
mod security;
pub mod sqlite;
mod store;
mod system_jobs;
mod table_sql;
mod url;

pub use deliveries::*;
pub use error::StoreError;
pub use history::*;
pub use idempotency::*;
pub(crate) use observe::trace_column;
pub use observe::{FinishedBucket, LeaseHolder, QueueSummary, WriteObserver, WriterObserver};
pub use security::*;
pub use store::*;
pub use system_jobs::*;
pub use url::{open, open_with, shown_url, DatabaseUrl, OpenOptions};
