//! Trace context end to end with the real binary (SPEC §15): a client's W3C `traceparent` is
//! stored with its operation, the attempt continues it, and the HTTP plug-in's request and the
//! completion callback carry it on. With `--otlp-endpoint`, the spans reach a loopback
//! OTLP/HTTP receiver as one trace: the submitting request (a child of the client's span), the
//! attempt (a child of the request) and the calls it made.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use common::Server;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The client's trace: the W3C recommendation's example.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// What the loopback receiver got, by path: the plug-in, the callback and OTLP exports.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>);

impl Seen {
    fn on(&self, path: &str) -> Vec<(HeaderMap, Bytes)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, h, b)| (h.clone(), b.clone()))
            .collect()
    }

    /// Waits (bounded) until `path` got at least `n` requests.
    async fn wait(&self, path: &str, n: usize) -> Vec<(HeaderMap, Bytes)> {
        let start = Instant::now();
        loop {
            let got = self.on(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{path} got {} requests, not {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn record(
    State(seen): State<Seen>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    seen.0.lock().unwrap().push((path.clone(), headers, body));
    match path.as_str() {
        "plugin" => Json(json!({"OutputParameters": {"Echoed": "ok"}})).into_response(),
        _ => Json(json!({})).into_response(),
    }
}

/// Starts the receiver on a loopback port; returns its base URL.
async fn receiver(seen: Seen) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/{*path}", post(record))
        .with_state(seen);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn flags<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut f = vec!["--callback-allow-http", "--callback-allow-private"];
    f.extend_from_slice(extra);
    f
}

/// Defines `contoso_Traced`, run by the HTTP plug-in at `base/plugin`.
async fn define(s: &Server, base: &str) {
    let resp = s
        .req(reqwest::Method::POST, "/api/data/v9.2/plugintypes")
        .json(&json!({
            "name": "Traced plug-in",
            "typename": "Contoso.Plugins.Traced",
            "bgops_endpointurl": format!("{base}/plugin"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let id = resp.headers()["OData-EntityId"]
        .to_str()
        .unwrap()
        .to_owned();
    let id = id
        .rsplit_once('(')
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_owned();
    let resp = s
        .req(reqwest::Method::POST, "/api/data/v9.2/customapis")
        .json(&json!({
            "uniquename": "contoso_Traced",
            "name": "contoso_Traced",
            "displayname": "Traced",
            "bindingtype": 0,
            "isfunction": false,
            "PluginTypeId@odata.bind": format!("plugintypes({id})"),
            "CustomAPIRequestParameters": [
                {"uniquename": "Text", "name": "Text", "displayname": "Text", "type": 10, "isoptional": true}
            ],
            "CustomAPIResponseProperties": [
                {"uniquename": "Echoed", "name": "Echoed", "displayname": "Echoed", "type": 10}
            ]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "{:?}",
        resp.text().await
    );
}

/// Submits `contoso_Traced` with `traceparent` and a callback to `base/callback`; returns the
/// operation id.
async fn submit(s: &Server, base: &str, traceparent: &str) -> String {
    let resp = s
        .req(reqwest::Method::POST, "/api/data/v9.2/contoso_Traced")
        .header("Prefer", "respond-async")
        .header("x-ms-dyn-callback-url", format!("{base}/callback"))
        .header("traceparent", traceparent)
        .json(&json!({"Text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::ACCEPTED,
        "{:?}",
        resp.text().await
    );
    resp.headers()["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn traceparent_of(headers: &HeaderMap) -> String {
    headers
        .get("traceparent")
        .expect("a traceparent header")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_clients_traceparent_reaches_the_plugin_and_the_callback() {
    let seen = Seen::default();
    let base = receiver(seen.clone()).await;
    let s = Server::start(&flags(&[]));
    define(&s, &base).await;
    let id = submit(&s, &base, TRACEPARENT).await;
    let done = s.wait_terminal(&id, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    // Without an exporter, the stored context is passed on as the client sent it.
    let plugin = seen.wait("plugin", 1).await;
    assert_eq!(traceparent_of(&plugin[0].0), TRACEPARENT);
    let callback = seen.wait("callback", 1).await;
    assert_eq!(traceparent_of(&callback[0].0), TRACEPARENT);

    // A malformed traceparent is ignored (a new trace), not refused; nothing is passed on.
    let id = submit(&s, &base, "00-not-a-trace-01").await;
    s.wait_terminal(&id, Duration::from_secs(20)).await;
    let plugin = seen.wait("plugin", 2).await;
    assert!(plugin[1].0.get("traceparent").is_none());
}

/// The spans of every OTLP/JSON export so far, flattened.
fn exported_spans(seen: &Seen) -> Vec<Value> {
    let mut spans = Vec::new();
    for (_, body) in seen.on("v1/traces") {
        let export: Value = serde_json::from_slice(&body).expect("OTLP/JSON");
        for rs in export["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                spans.extend(ss["spans"].as_array().into_iter().flatten().cloned());
            }
        }
    }
    spans
}

#[tokio::test]
async fn with_an_otlp_endpoint_the_request_the_attempt_and_its_calls_form_one_trace() {
    let seen = Seen::default();
    let base = receiver(seen.clone()).await;
    let s = Server::start(&flags(&[
        "--otlp-endpoint",
        &base,
        "--otlp-protocol",
        "http/json",
    ]));
    define(&s, &base).await;
    let id = submit(&s, &base, TRACEPARENT).await;
    s.wait_terminal(&id, Duration::from_secs(20)).await;
    let plugin = traceparent_of(&seen.wait("plugin", 1).await[0].0);
    let callback = traceparent_of(&seen.wait("callback", 1).await[0].0);
    for sent in [&plugin, &callback] {
        assert!(sent.starts_with(&format!("00-{TRACE_ID}-")), "{sent}");
        assert!(
            !sent.contains(CLIENT_SPAN),
            "names the sending span: {sent}"
        );
    }

    // Spans are exported in batches: wait (bounded) until the attempt's has arrived.
    let start = Instant::now();
    let spans = loop {
        let spans = exported_spans(&seen);
        let names: Vec<&str> = spans.iter().filter_map(|sp| sp["name"].as_str()).collect();
        let complete = [
            "POST /api/data/v9.2/contoso_Traced",
            "process contoso_Traced",
            "callback",
        ]
        .iter()
        .all(|want| names.contains(want));
        if complete {
            break spans;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "spans exported so far: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let find = |name: &str| {
        spans
            .iter()
            .find(|sp| sp["name"] == name)
            .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
            .clone()
    };
    let request = find("POST /api/data/v9.2/contoso_Traced");
    let attempt = find("process contoso_Traced");
    let delivery = find("callback");
    for span in [&request, &attempt, &delivery] {
        assert_eq!(span["traceId"], TRACE_ID, "{span:#}");
    }
    assert_eq!(
        request["parentSpanId"], CLIENT_SPAN,
        "the request continues the client's span"
    );
    assert_eq!(
        attempt["parentSpanId"], request["spanId"],
        "the attempt is the request's child"
    );
    assert_eq!(
        plugin,
        format!("00-{TRACE_ID}-{}-01", attempt["spanId"].as_str().unwrap()),
        "the plug-in's request names the attempt's span"
    );
    assert_eq!(
        callback,
        format!("00-{TRACE_ID}-{}-01", delivery["spanId"].as_str().unwrap()),
        "the callback names its own span"
    );
}
