//! What every request leaves behind for operators: a tracing span that continues the
//! client's W3C trace (`traceparent`), and the HTTP metrics (by method, route template and
//! status). Route labels never hold a raw path: the Web API's catch-all `{segment}` is named
//! only when it is a known table or custom API, and the number of names is capped.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use axum::response::Response;
use bgops_core::TraceParent;
use bgops_engine::trace;

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

/// The tracing target of request spans, which the span exporter records at DEBUG.
pub const REQUEST_SPAN_TARGET: &str = module_path!();

/// What one request leaves behind for operators, from before it is handled to its answer: a
/// span (a child of the client's trace, when it sent one) and the HTTP metrics. Begun and ended
/// by the edge middleware ([`crate::edge::middleware`]), the one layer every request passes:
/// each layer costs every request a boxed clone of the service stack below it.
pub struct Observed {
    started: Instant,
    method: axum::http::Method,
    route: RouteParts,
    span: tracing::Span,
}

impl Observed {
    /// Starts observing `req`; `None` with `--instrumentation off`.
    pub fn begin(state: &AppState, req: &Request) -> Option<Self> {
        if !state.engine.config().metrics.enabled() {
            return None;
        }
        let started = Instant::now();
        let method = req.method().clone();
        let route = RouteParts::of(req);
        // DEBUG: with the default log level the span costs nothing unless spans are exported
        // (the exporter's own filter takes this target at DEBUG).
        let span = tracing::debug_span!(
            "request",
            otel.name = %format_args!("{method} {}", route.template.as_deref().unwrap_or("unmatched")),
            otel.kind = "server",
            http.request.method = %method,
            http.route = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        if let Some(parent) = client_trace(req.headers()) {
            trace::set_parent(&span, parent);
        }
        Some(Self {
            started,
            method,
            route,
            span,
        })
    }

    /// The request's span, for the handler to run in.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Names the span after the route and counts the answer.
    pub fn end(self, state: &AppState, response: &Response) {
        let Self {
            started,
            method,
            route,
            span,
        } = self;
        // Named after the handler ran: a custom API defined moments ago is known by now.
        let named_segment = route.segment.is_some();
        let route = route.label(state);
        let status = response.status().as_u16();
        if named_segment {
            trace::rename(&span, format!("{method} {route}"));
        }
        span.record("http.route", route.as_str());
        span.record("http.response.status_code", status);
        state.engine.config().metrics.http_request(
            method.as_str(),
            &route,
            status,
            started.elapsed(),
        );
    }
}

/// What the route label is made of, taken from the request before it is handled.
struct RouteParts {
    /// The matched route template; `None` when no route matched. A copy, not the shared
    /// `MatchedPath`: its reference count is a cache line every core would write per request.
    template: Option<String>,
    /// Under the Web API's `{segment}` routes: the segment's name (before any `(key)`) and
    /// whether it had a key.
    segment: Option<(String, bool)>,
}

impl RouteParts {
    fn of(req: &Request) -> Self {
        let template = req
            .extensions()
            .get::<MatchedPath>()
            .map(|t| t.as_str().to_owned());
        let segment = template
            .as_ref()
            .filter(|t| {
                t.strip_prefix(WEB_API)
                    .is_some_and(|rest| rest.starts_with("/{segment}"))
            })
            .and_then(|_| {
                let seg = req
                    .uri()
                    .path()
                    .strip_prefix(WEB_API)?
                    .strip_prefix('/')?
                    .split('/')
                    .next()?;
                let name = seg.split('(').next().unwrap_or("");
                Some((name.to_owned(), seg.contains('(')))
            });
        Self { template, segment }
    }

    /// The route template; under the Web API, the `{segment}` is named when it is a table's
    /// entity set, a custom API or one of the fixed names, else left as a placeholder.
    fn label(self, state: &AppState) -> String {
        let Some(template) = self.template else {
            return "unmatched".to_owned();
        };
        let Some((name, keyed)) = self.segment else {
            return template;
        };
        let known = state.catalogue.by_entity_set(&name).is_some()
            || matches!(
                name.as_str(),
                "EntityDefinitions" | "WhoAmI" | "ExecuteBackgroundOperation"
            )
            || state.engine.registry().api(&name).is_some();
        let shown = if known { name.as_str() } else { "{segment}" };
        let rest = template
            .strip_prefix(&format!("{WEB_API}/{{segment}}"))
            .unwrap_or("");
        let key = if keyed { "(…)" } else { "" };
        format!("{WEB_API}/{shown}{key}{rest}")
    }
}
