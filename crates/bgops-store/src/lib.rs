//! Storage for bgops: one interface ([`Store`]) expressed as the engine's intents (insert, claim
//! under a lease, renew, record an outcome behind a fence, cancel, sweep), and its
//! implementations. No backend type leaves this crate.
#![warn(missing_docs)]

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance_tables;
mod error;
pub mod sqlite;
mod store;
mod url;

pub use error::StoreError;
pub use store::*;
pub use url::{open, DatabaseUrl};
