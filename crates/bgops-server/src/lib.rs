//! The bgops HTTP server: the Dataverse Web API surface (custom API submission, the
//! `backgroundoperations` table), the status monitor, and authentication. Handlers translate
//! HTTP to engine calls and domain errors to the Dataverse error shape; they hold no business
//! logic and no SQL.
#![warn(missing_docs)]

mod app;
pub mod audit;
pub mod auth;
mod definitions;
mod demo;
mod error;
mod extract;
mod prefer;
mod response;
mod routes;
mod state;

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use app::{run, run_with_registry, webhook_secret, RunError, Settings};
pub use error::AppError;
pub use state::{AppState, ServerConfig};

/// The router with every route, limit and fallback, over `state`.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// Serves `state` on `listener` until `shutdown` fires, then stops accepting and lets open
/// requests finish (each is bounded by the attempt time-out of synchronous calls).
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// How long clients are told to wait before polling again, as a header value.
pub(crate) fn retry_after_value(d: Duration) -> String {
    d.as_secs().max(1).to_string()
}
