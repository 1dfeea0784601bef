//! A typed async client for bgops servers, and the receiving side of
//! their completion callbacks.
//!
//! [`Client`] speaks the server's Web API (the Microsoft Dataverse background operations
//! contract, plus bgops's additions): run a custom API now ([`Client::execute`]) or in the
//! background ([`Client::submit`], with an optional idempotency key; functions with
//! [`Client::execute_function`] and [`Client::submit_function`]), read its state
//! ([`Client::status`]), wait for it to end ([`Client::wait`]: a long poll where the server
//! offers one, else polling that honours `Retry-After`, within a deadline), cancel it
//! ([`Client::cancel`]), list operations page by page with filters ([`Client::list`]), and read
//! the custom APIs with their typed parameters ([`Client::custom_apis`]). Errors are typed
//! ([`Error`]): a refusal carries the server's Dataverse code, message and HTTP status.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bgops_client::Error> {
//! # let (url, token) = doctest_server();
//! use std::time::Duration;
//! use bgops_client::{Client, OperationStatus};
//! use serde_json::json;
//!
//! let client = Client::new(&url, &token)?;
//!
//! // Synchronously: the response properties.
//! let out = client.execute("bgops_Echo", &json!({"Text": "hello"})).await?;
//! assert_eq!(out["Text"], "hello");
//!
//! // In the background: submit, then wait at most a minute.
//! let op = client.submit("bgops_Echo", &json!({"Number": 42})).await?;
//! let done = client.wait(op.id, Duration::from_secs(60)).await?;
//! assert_eq!(done.status, OperationStatus::Succeeded);
//! assert_eq!(done.outputs["Number"], 42);
//!
//! // A refusal says why, with the Dataverse code.
//! let err = client.submit("bgops_Echo", &json!({"Colour": "red"})).await.unwrap_err();
//! assert_eq!(err.code(), Some("0x8009732e"));
//! # Ok(()) }
//! # fn doctest_server() -> (String, String) {
//! #     let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!(
//! #         "{n} is not set: these examples run against a real server that scripts/test starts"));
//! #     (var("BGOPS_DOCTEST_URL"), var("BGOPS_DOCTEST_TOKEN"))
//! # }
//! ```
//!
//! Waiting and cancelling:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bgops_client::Error> {
//! # let (url, token) = doctest_server();
//! use std::time::Duration;
//! use bgops_client::{Client, Error, OperationStatus};
//! use serde_json::json;
//!
//! let client = Client::new(&url, &token)?;
//! let op = client.submit("bgops_Delay", &json!({"DelayMs": 60_000})).await?;
//!
//! // Not finished within a second: the error carries the last state seen.
//! match client.wait(op.id, Duration::from_secs(1)).await {
//!     Err(Error::Timeout { last, .. }) => assert!(!last.is_terminal()),
//!     other => panic!("expected a time-out, got {other:?}"),
//! }
//!
//! client.cancel(op.id).await?;
//! let done = client.wait(op.id, Duration::from_secs(60)).await?;
//! assert_eq!(done.status, OperationStatus::Canceled);
//!
//! // A finished operation cannot be canceled.
//! let err = client.cancel(op.id).await.unwrap_err();
//! assert_eq!(err.code(), Some("0x80048408"));
//! # Ok(()) }
//! # fn doctest_server() -> (String, String) {
//! #     let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!(
//! #         "{n} is not set: these examples run against a real server that scripts/test starts"));
//! #     (var("BGOPS_DOCTEST_URL"), var("BGOPS_DOCTEST_TOKEN"))
//! # }
//! ```
//!
//! Listing, and typing parameters given as text from a custom API's definition:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (url, token) = doctest_server();
//! use bgops_client::{Client, ListQuery, OperationStatus};
//!
//! let client = Client::new(&url, &token)?;
//! let echo = client.custom_api("bgops_Echo").await?.expect("always registered");
//! let body = echo.body_from_args(&["Text=hi", "Number=7", "Flag=true"])?;
//! let op = client.submit("bgops_Echo", &body).await?;
//! client.wait(op.id, std::time::Duration::from_secs(60)).await?;
//!
//! // Wrong types are caught before anything is sent, naming the parameter and its type.
//! let err = echo.body_from_args(&["Number=seven"]).unwrap_err();
//! assert!(err.to_string().starts_with("parameter Number of bgops_Echo is of type Integer"));
//!
//! // Newest first, 10 per page; follow the pages with next_page.
//! let query = ListQuery::new().api("bgops_Echo").status(OperationStatus::Succeeded).page_size(10);
//! let mut page = Some(client.list(&query).await?);
//! let mut seen = 0;
//! while let Some(p) = page {
//!     seen += p.operations.len();
//!     assert!(p.operations.iter().all(|o| o.name == "bgops_Echo"));
//!     page = client.next_page(&p).await?;
//! }
//! assert!(seen >= 1);
//! # Ok(()) }
//! # fn doctest_server() -> (String, String) {
//! #     let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!(
//! #         "{n} is not set: these examples run against a real server that scripts/test starts"));
//! #     (var("BGOPS_DOCTEST_URL"), var("BGOPS_DOCTEST_TOKEN"))
//! # }
//! ```
//!
//! The examples run as doc tests against a real server: `scripts/test` starts one and sets
//! `BGOPS_DOCTEST_URL` and `BGOPS_DOCTEST_TOKEN`.
#![warn(missing_docs)]

mod callback;
mod client;
mod custom_api;
mod definitions;
mod error;
mod http;
mod list;
mod operation;
mod retry;
mod wait;

pub use bgops_core::{OperationId, OperationState, OperationStatus, ParamType, Timestamp};
pub use bgops_core::{RequestParameter, ResponseProperty};
pub use callback::{
    verify_callback, verify_signature, CallbackPayload, HeaderLookup, VerifyError,
    DEFAULT_TOLERANCE, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};
pub use client::{Client, SubmitOptions, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
pub use custom_api::{untyped_body_from_args, value_from_text, ArgumentError, CustomApiInfo};
pub use error::{Error, ServerError};
pub use list::{ListQuery, OperationSummary, Page, MAX_PAGE_SIZE};
pub use operation::{Failure, Status, Submitted};
pub use retry::SUBMIT_RETRIES;
pub use wait::{DEFAULT_POLL_INTERVAL, MAX_LONG_POLL};
