//! The bgops HTTP server: the Dataverse Web API surface (custom API submission, the
//! `backgroundoperations` table), the status monitor, and authentication. Handlers translate
//! HTTP to engine calls and domain errors to the Dataverse error shape; they hold no business
//! logic and no SQL.
#![warn(missing_docs)]

mod app;
pub mod audit;
pub mod auth;
pub mod dashboard;
mod definitions;
mod demo;
pub mod edge;
mod error;
mod extract;
mod observe;

pub use observe::REQUEST_SPAN_TARGET;
pub mod forwarded;
mod idempotency;
pub mod jwt;
pub mod limiter;
pub mod prefer;
mod response;
mod routes;
mod state;
pub mod tls;

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use app::{run, run_with_registry, webhook_secret, RunError, Settings};
pub use edge::EdgeSettings;
pub use error::AppError;
/// How handlers read query strings and write `@odata.nextLink`; public for the fuzz targets
/// (`fuzz/`), which feed the parsers exactly what a request's query string becomes.
pub use extract::{percent_decode, percent_encode, query_pairs};
pub use state::{AppState, ServerConfig};

/// The router with every route, limit and fallback, over `state`, behind the edge middleware
/// (public origin, authentication, service protection, the 401 challenge).
pub fn router(state: AppState) -> Router {
    routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        state,
        edge::middleware,
    ))
}

/// Serves `state` on `listener` until `shutdown` fires, then stops accepting and lets open
/// requests finish (each is bounded by the attempt time-out of synchronous calls). With a
/// certificate in the state's edge, serves HTTPS and reloads the certificate when it changes.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let tls = state.edge.tls.clone();
    let app = router(state).into_make_service_with_connect_info::<edge::PeerAddr>();
    let stop = async move { shutdown.cancelled().await };
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
        Some(resolver) => {
            let config = tls::server_config(resolver.clone()).map_err(std::io::Error::other)?;
            let watching = CancellationToken::new();
            tokio::spawn(tls::watch(resolver, watching.clone()));
            let _stop_watching = watching.drop_guard();
            let listener = tls::TlsListener::new(listener, config)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}

/// How long clients are told to wait before polling again, as a header value.
pub(crate) fn retry_after_value(d: Duration) -> String {
    d.as_secs().max(1).to_string()
}
