//! The dashboard (SPEC §15): hand-written HTML, CSS and JavaScript modules embedded in the
//! binary and served at `/` and `/ui/…`. It is a client of the Web API like any other — it signs in with
//! an API key kept in `sessionStorage` and calls the same endpoints with the same privileges —
//! plus one read: `GET /api/dashboard/summary`, the queue summary `/metrics` also uses, read in
//! the background at most every few seconds however many people watch (and not at all when
//! no one does); and the actions of [`actions`] (bulk
//! cancel, resubmit), which run through the same service layer with the caller's privileges.
//!
//! Its pages carry a strict Content-Security-Policy (only this origin's script and style, no
//! inline code, no framing), and [`refusal`] refuses cross-site writes (`Sec-Fetch-Site`) and,
//! with `--dashboard read-only`, every write a page of this origin sends.

mod actions;
pub mod activity;
mod history;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use bgops_core::{ApiError, ErrorCode};
use serde_json::json;

use crate::auth::Caller;
use crate::error::{api_error_response, AppError};
use crate::state::AppState;

/// Whether and how the dashboard is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DashboardMode {
    /// Served, with its actions (cancel, bulk cancel, resubmit).
    #[default]
    On,
    /// Served without actions: its pages hide them and the server refuses writes they send.
    ReadOnly,
    /// Not served: `/` and `/ui/…` are unknown paths.
    Off,
}

/// The policy of every dashboard page: this origin's script, style and API only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

const INDEX: &str = include_str!("assets/index.html");

/// The script modules and the style sheet, by file name under `/ui/assets/`.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("assets/app.js")),
    ("ui.js", JS, include_str!("assets/ui.js")),
    ("overview.js", JS, include_str!("assets/overview.js")),
    ("operations.js", JS, include_str!("assets/operations.js")),
    ("history.js", JS, include_str!("assets/history.js")),
    ("definitions.js", JS, include_str!("assets/definitions.js")),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";

/// The dashboard's routes (none when it is off).
pub fn routes(mode: DashboardMode) -> Router<AppState> {
    if mode == DashboardMode::Off {
        return Router::new();
    }
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/assets/{file}", get(asset_file))
        .route("/ui/{*view}", get(index))
        .route("/api/dashboard/summary", get(summary))
        .merge(actions::routes())
        .merge(history::routes())
}

/// Every view is the same page; the script reads the path.
async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

/// One of [`ASSETS`]; any other name is the unknown-segment 404.
async fn asset_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => asset(body, content_type),
        None => api_error_response(&ApiError::unknown_segment(&file)),
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /api/dashboard/summary`: the unfinished operations by status and the oldest waiting
/// one's creation time, as last read (read again in the background when older than
/// [`crate::routes::metrics::QUEUE_REFRESH`]), whether the dashboard is read-only, and the
/// [`activity::Activity`] (finished per minute over the last hour, by custom API, and the nodes
/// holding leases), kept the same way. While someone watches, no viewer waits for the
/// database.
async fn summary(State(state): State<AppState>, _caller: Caller) -> Result<Response, AppError> {
    let (summary, read_at) = crate::routes::metrics::queue_summary(&state)
        .await
        .ok_or_else(|| AppError::Internal("the queue summary could not be read".into()))?;
    let body = json!({
        "waiting": summary.waiting,
        "inProgress": summary.in_progress,
        "canceling": summary.canceling,
        "oldestWaitingCreatedOn": summary.oldest_waiting.map(|t| t.to_dataverse()),
        "readAt": read_at.to_dataverse(),
        "readOnly": state.config.dashboard == DashboardMode::ReadOnly,
        "activity": state.activity.read(&state).await,
    });
    Ok(crate::response::json(StatusCode::OK, &body))
}

/// The refusal of a write that a browser says comes from another site, and, with the dashboard
/// read-only, of a write from a page of this origin (the dashboard is the only page it serves);
/// `None` for every other request. Requests without `Sec-Fetch-Site` (programs, older
/// browsers) pass. Checked for every route by the request middleware (`observe` or `audit`),
/// not by a layer of its own: each layer costs every request a clone of the routes below it.
pub fn refusal(state: &AppState, req: &Request) -> Option<Response> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if site == "cross-site" || site == "same-site" {
            return Some(api_error_response(&ApiError::new(
                403,
                ErrorCode::ACCESS_DENIED,
                "Requests that change data are not accepted from another site's pages.",
            )));
        }
        if site == "same-origin" && state.config.dashboard == DashboardMode::ReadOnly {
            return Some(api_error_response(&ApiError::new(
                403,
                ErrorCode::ACCESS_DENIED,
                "The dashboard is read-only (--dashboard read-only): it cannot change data.",
            )));
        }
    }
    None
}
