//! Trace context across the engine: an attempt's span continues the trace its submitter
//! started (the W3C `traceparent` stored with the operation), and every outbound call made
//! inside it (an HTTP plug-in, a callback) carries `traceparent` on.
//!
//! With an OpenTelemetry layer installed (`bgops serve --otlp-endpoint`), spans are exported
//! and the header names the sending span; without one, the stored context is passed on as it
//! came, so a receiver still joins the client's trace.

use bgops_core::TraceParent;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header name.
pub const TRACEPARENT: &str = "traceparent";

/// Makes `span` a child of the remote span `parent` names (a no-op when no OpenTelemetry
/// layer records spans).
pub fn set_parent(span: &tracing::Span, parent: TraceParent) {
    let remote = SpanContext::new(
        TraceId::from_bytes(parent.trace_id()),
        SpanId::from_bytes(parent.span_id()),
        TraceFlags::new(parent.flags()),
        true,
        TraceState::default(),
    );
    let cx = opentelemetry::Context::new().with_remote_span_context(remote);
    let _ = span.set_parent(cx);
}

/// Gives the OpenTelemetry span behind `span` the name `name` (once a span has started,
/// recording `otel.name` no longer renames it).
pub fn rename(span: &tracing::Span, name: String) {
    span.context().span().update_name(name);
}

/// The context of `span` as a `traceparent`, when an OpenTelemetry layer records it.
pub fn of_span(span: &tracing::Span) -> Option<TraceParent> {
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    if !sc.is_valid() {
        return None;
    }
    TraceParent::new(
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.trace_flags().to_u8(),
    )
}

/// The `traceparent` a call made now should send: the current span's context when spans are
/// recorded, else `fallback` (the context stored with the operation) unchanged.
pub fn outgoing(fallback: Option<TraceParent>) -> Option<TraceParent> {
    of_span(&tracing::Span::current()).or(fallback)
}
