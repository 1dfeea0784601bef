//! What every request leaves behind for operators: a tracing span that continues the
//! client's W3C trace (`traceparent`), and the HTTP metrics (by method, route template and
//! status). Route labels never hold a raw path: the Web API's catch-all `{segment}` is named
//! only when it is a known table or custom API, and the number of names is capped.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use bgops_core::TraceParent;
use bgops_engine::trace;
use tracing::Instrument;

use crate::routes::WEB_API;
use crate::state::AppState;

/// The client's `traceparent`, if it sent a valid one. An invalid one is ignored (the W3C
/// recommendation: start a new trace rather than refuse the request).
pub fn client_trace(headers: &HeaderMap) -> Option<TraceParent> {
    headers
        .get(trace::TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| TraceParent::parse(v).ok())
}

/// The trace context a background submission stores: the request's own span when spans are
/// exported (so the attempt is its child), else the client's `traceparent` as it came.
pub fn submission_trace(headers: &HeaderMap) -> Option<TraceParent> {
    trace::outgoing(client_trace(headers))
}

/// Wraps every request in a span (a child of the client's trace, when it sent one) and counts
/// it in the HTTP metrics.
pub async fn around_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = route_label(&state, &req);
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    if let Some(parent) = client_trace(req.headers()) {
        trace::set_parent(&span, parent);
    }
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    state.engine.config().metrics.http_request(
        method.as_str(),
        &route,
        status,
        started.elapsed(),
    );
    response
}

/// The route template of `req`; under the Web API, the `{segment}` is named when it is a
/// table's entity set, a custom API or one of the fixed names, else left as a placeholder.
fn route_label(state: &AppState, req: &Request) -> String {
    let Some(template) = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str) else {
        return "unmatched".to_owned();
    };
    let Some(rest) = template.strip_prefix(WEB_API) else {
        return template.to_owned();
    };
    if !rest.starts_with("/{segment}") {
        return template.to_owned();
    }
    let path = req.uri().path();
    let segment = path
        .strip_prefix(WEB_API)
        .and_then(|p| p.strip_prefix('/'))
        .and_then(|p| p.split('/').next())
        .unwrap_or("");
    let name = segment.split('(').next().unwrap_or("");
    let keyed = if segment.contains('(') { "(…)" } else { "" };
    let known = state.catalogue.by_entity_set(name).is_some()
        || matches!(
            name,
            "EntityDefinitions" | "WhoAmI" | "ExecuteBackgroundOperation"
        )
        || state.engine.registry().api(name).is_some();
    let shown = if known { name } else { "{segment}" };
    format!(
        "{WEB_API}/{shown}{keyed}{}",
        rest.strip_prefix("/{segment}").unwrap_or("")
    )
}
