//! HTTP plug-ins against a real loopback endpoint: the wire contract of SPEC §8 (body, headers,
//! signature, typed outputs, failures) and the outbound URL safety of SPEC §9 (no private
//! addresses unless allowed, checked again at connection time; no redirects; bounded answers).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bgops_core::outbound_url::{OutboundUrl, UrlError, UrlPolicy};
use bgops_core::signing::WebhookSecret;
use bgops_core::{
    Clock, CustomApi, ErrorCode, OperationId, ParamType, ParamValue, Parameters, ResponseProperty,
    SystemClock, UserId,
};
use bgops_engine::outbound::{SendError, MAX_RESPONSE_BYTES};
use bgops_engine::{DataAccess, HttpPlugin, Outbound, Plugin, PluginContext, PluginError};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the endpoint received: headers and the raw body.
type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn ok(State(seen): State<Received>, headers: HeaderMap, body: Bytes) -> Json<Value> {
    seen.lock().unwrap().push((headers, body));
    Json(json!({"OutputParameters": {
        "Count": 7,
        "Name": "seven",
        "Flag": true,
        "Amount": 12.50,
        "When": "2024-05-06T07:08:09Z",
        "Tags": ["a", "b"],
        "Ignored": null
    }}))
}

async fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the backend is down for maintenance",
    )
        .into_response()
}

async fn permanent() -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": {"message": "The order does not exist.", "permanent": true}})),
    )
        .into_response()
}

async fn hang() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "too late"
}

async fn wrong_type() -> Json<Value> {
    Json(json!({"OutputParameters": {"Count": "seven"}}))
}

async fn redirect() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/ok")]).into_response()
}

async fn big() -> Vec<u8> {
    vec![b' '; MAX_RESPONSE_BYTES + 1]
}

/// A loopback endpoint; returns its port and what it received.
async fn endpoint() -> (u16, Received) {
    let seen: Received = Arc::default();
    let app = Router::new()
        .route("/ok", post(ok))
        .route("/unavailable", post(unavailable))
        .route("/permanent", post(permanent))
        .route("/hang", post(hang))
        .route("/wrong-type", post(wrong_type))
        .route("/redirect", post(redirect))
        .route("/big", post(big))
        .with_state(seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

/// A bare endpoint that answers with a chunked body (no Content-Length) over the limit.
async fn chunked_endpoint() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                for _ in 0..=(MAX_RESPONSE_BYTES / chunk.len()) + 1 {
                    let frame = format!("{:x}\r\n", chunk.len());
                    if socket.write_all(frame.as_bytes()).await.is_err()
                        || socket.write_all(&chunk).await.is_err()
                        || socket.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    port
}

fn outbound(policy: UrlPolicy) -> Arc<Outbound> {
    Arc::new(Outbound::new(policy, WebhookSecret::parse(SECRET).unwrap()).unwrap())
}

fn api() -> Arc<CustomApi> {
    let prop = |name: &str, param_type| ResponseProperty {
        name: name.to_owned(),
        param_type,
    };
    Arc::new(CustomApi {
        unique_name: "test_Http".into(),
        display_name: "Test HTTP plug-in".into(),
        is_function: false,
        request_parameters: vec![],
        response_properties: vec![
            prop("Count", ParamType::Integer),
            prop("Name", ParamType::String),
            prop("Flag", ParamType::Boolean),
            prop("Amount", ParamType::Money),
            prop("When", ParamType::DateTime),
            prop("Tags", ParamType::StringArray),
            prop("Ignored", ParamType::Guid),
        ],
        plugin_type: "Test.Http".into(),
        execute_privilege: None,
        attempt_timeout: None,
        max_retries: None,
    })
}

/// A context for `operation` (None: a synchronous call) with `timeout`.
async fn context(
    dir: &tempfile::TempDir,
    operation: Option<OperationId>,
    timeout: Duration,
) -> PluginContext {
    let store = bgops_store::open(&format!(
        "sqlite://{}",
        dir.path().join("bgops.db").display()
    ))
    .await
    .unwrap();
    let user = UserId::new_random();
    let mut inputs = Parameters::default();
    inputs.set("Text", ParamValue::String("héllo".into()));
    inputs.set("Number", ParamValue::Integer(42));
    inputs.set("Flag", ParamValue::Boolean(false));
    PluginContext {
        operation_id: operation,
        message_name: "test_Http".into(),
        user_id: user,
        attempt: 2,
        inputs,
        cancel: CancellationToken::new(),
        data: DataAccess::new(
            store,
            Arc::new(bgops_core::catalogue::Catalogue::standard()),
            user,
            Arc::new(SystemClock),
        ),
        api: api(),
        timeout,
        trace_parent: None,
    }
}

async fn call(
    url: &str,
    policy: UrlPolicy,
    operation: Option<OperationId>,
    timeout: Duration,
) -> Result<Parameters, PluginError> {
    let dir = tempfile::tempdir().unwrap();
    let plugin = HttpPlugin::new(url, outbound(policy)).unwrap();
    plugin
        .execute(context(&dir, operation, timeout).await)
        .await
}

fn failure(r: Result<Parameters, PluginError>) -> (String, Option<ErrorCode>, bool) {
    match r {
        Err(PluginError::Failed {
            message,
            code,
            permanent,
        }) => (message, code, permanent),
        other => panic!("expected a failed attempt, got {other:?}"),
    }
}

const SECOND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn outputs_come_back_with_native_types() {
    let (port, _) = endpoint().await;
    let out = call(
        &format!("http://127.0.0.1:{port}/ok"),
        UrlPolicy::PERMISSIVE,
        Some(OperationId::new_random()),
        SECOND,
    )
    .await
    .unwrap();
    assert_eq!(out.get("Count"), Some(&ParamValue::Integer(7)));
    assert_eq!(out.get("Name"), Some(&ParamValue::String("seven".into())));
    assert_eq!(out.get("Flag"), Some(&ParamValue::Boolean(true)));
    assert_eq!(out.get("Amount"), Some(&ParamValue::Money("12.5".into())));
    assert_eq!(
        out.get("When").map(ParamValue::to_json),
        Some(json!("2024-05-06T07:08:09Z"))
    );
    assert_eq!(
        out.get("Tags"),
        Some(&ParamValue::StringArray(vec!["a".into(), "b".into()]))
    );
    assert_eq!(out.get("Ignored"), None, "null is the same as absent");
}

#[tokio::test]
async fn the_request_is_the_documented_json_and_its_signature_verifies() {
    let (port, seen) = endpoint().await;
    let url = format!("http://127.0.0.1:{port}/ok");
    let id = OperationId::new_random();
    call(&url, UrlPolicy::PERMISSIVE, Some(id), SECOND)
        .await
        .unwrap();
    call(&url, UrlPolicy::PERMISSIVE, None, SECOND)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let now = SystemClock.now().millis() / 1000;
    for (n, (headers, body)) in seen.iter().enumerate() {
        let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "application/json");
        let msg_id = header("webhook-id");
        let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
        assert!((now - timestamp).abs() < 60, "timestamp in seconds");
        secret
            .verify(
                &msg_id,
                timestamp,
                body,
                &header("webhook-signature"),
                now,
                300,
            )
            .expect("the signature verifies");
        let json: Value = serde_json::from_slice(body).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "BackgroundOperationId",
                "MessageName",
                "UserId",
                "Attempt",
                "InputParameters"
            ]
        );
        assert_eq!(json["MessageName"], "test_Http");
        assert_eq!(json["Attempt"], 2);
        assert!(json["UserId"].as_str().unwrap().parse::<UserId>().is_ok());
        assert_eq!(
            json["InputParameters"],
            json!({"Text": "héllo", "Number": 42, "Flag": false})
        );
        if n == 0 {
            assert_eq!(json["BackgroundOperationId"], json!(id.to_string()));
            assert_eq!(
                msg_id,
                format!("msg_{id}_2"),
                "stable per operation and attempt"
            );
        } else {
            assert_eq!(json["BackgroundOperationId"], Value::Null);
            assert!(msg_id.starts_with("msg_sync_"), "{msg_id}");
        }
    }
}

#[tokio::test]
async fn a_non_2xx_answer_is_a_retryable_failure_with_status_and_excerpt() {
    let (port, _) = endpoint().await;
    let url = format!("http://127.0.0.1:{port}/unavailable");
    let (message, code, permanent) = failure(call(&url, UrlPolicy::PERMISSIVE, None, SECOND).await);
    assert!(!permanent);
    assert_eq!(code, None, "recorded as the plug-in error code");
    assert_eq!(
        message,
        "The HTTP plug-in answered HTTP 503 Service Unavailable: the backend is down for maintenance"
    );
}

#[tokio::test]
async fn a_permanent_error_is_permanent_with_its_message() {
    let (port, _) = endpoint().await;
    let url = format!("http://127.0.0.1:{port}/permanent");
    let (message, _, permanent) = failure(call(&url, UrlPolicy::PERMISSIVE, None, SECOND).await);
    assert!(permanent);
    assert_eq!(message, "The order does not exist.");
}

#[tokio::test]
async fn a_hanging_endpoint_hits_the_time_out() {
    let (port, _) = endpoint().await;
    let url = format!("http://127.0.0.1:{port}/hang");
    let started = std::time::Instant::now();
    let (message, code, permanent) = failure(
        call(
            &url,
            UrlPolicy::PERMISSIVE,
            None,
            Duration::from_millis(300),
        )
        .await,
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!permanent);
    assert_eq!(code, Some(ErrorCode::TIMEOUT));
    assert_eq!(message, bgops_core::error::TIMEOUT_MESSAGE);
}

#[tokio::test]
async fn a_wrong_output_type_fails_permanently_naming_the_property() {
    let (port, _) = endpoint().await;
    let url = format!("http://127.0.0.1:{port}/wrong-type");
    let (message, _, permanent) = failure(call(&url, UrlPolicy::PERMISSIVE, None, SECOND).await);
    assert!(permanent);
    assert_eq!(
        message,
        "The HTTP plug-in returned output parameter Count as String (\"seven\"), but Custom API test_Http defines it as Integer."
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (port, seen) = endpoint().await;
    let url = format!("http://127.0.0.1:{port}/redirect");
    let (message, _, permanent) = failure(call(&url, UrlPolicy::PERMISSIVE, None, SECOND).await);
    assert!(!permanent);
    assert!(
        message.starts_with("The HTTP plug-in answered HTTP 302 Found"),
        "{message}"
    );
    assert!(seen.lock().unwrap().is_empty(), "/ok was never called");
}

#[tokio::test]
async fn an_answer_over_one_mib_is_an_error() {
    let (port, _) = endpoint().await;
    let (message, _, permanent) = failure(
        call(
            &format!("http://127.0.0.1:{port}/big"),
            UrlPolicy::PERMISSIVE,
            None,
            SECOND,
        )
        .await,
    );
    assert!(!permanent);
    assert!(message.contains("larger than 1048576 bytes"), "{message}");

    // Without Content-Length the limit holds while reading.
    let port = chunked_endpoint().await;
    let url =
        OutboundUrl::parse(&format!("http://127.0.0.1:{port}/"), &UrlPolicy::PERMISSIVE).unwrap();
    let result = outbound(UrlPolicy::PERMISSIVE)
        .post_signed(&url, "msg_1", b"{}".to_vec(), SECOND)
        .await;
    assert!(matches!(result, Err(SendError::TooLarge)), "{result:?}");
}

const NO_PRIVATE: UrlPolicy = UrlPolicy {
    allow_http: true,
    allow_private: false,
};

/// A host name other than `localhost` that resolves only to loopback addresses, if any.
fn loopback_alias() -> Option<String> {
    use std::net::ToSocketAddrs;
    let own = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = own.trim().to_owned();
    if name.is_empty() || name.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let addrs: Vec<_> = (name.as_str(), 80).to_socket_addrs().ok()?.collect();
    (!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())).then_some(name)
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_refused_at_connection_time() {
    // `localhost` itself is refused by name when parsed; this needs another name that the
    // system resolver maps to loopback (the machine's own host name usually is, in /etc/hosts).
    let Some(name) = loopback_alias() else {
        eprintln!("SKIPPED: no host name other than localhost resolves to loopback here");
        return;
    };
    let (port, seen) = endpoint().await;
    // The name passes parsing: only its addresses are refused, when connecting.
    let url = format!("http://{name}:{port}/ok");
    let (message, _, permanent) = failure(call(&url, NO_PRIVATE, None, SECOND).await);
    assert!(permanent);
    assert!(
        message.starts_with("The HTTP plug-in endpoint is not allowed"),
        "{message}"
    );
    assert!(seen.lock().unwrap().is_empty());

    let client = outbound(NO_PRIVATE);
    let parsed = client.parse_url(&url).unwrap();
    let result = client
        .post_signed(&parsed, "msg_1", b"{}".to_vec(), SECOND)
        .await;
    match result {
        Err(SendError::Refused(UrlError::ForbiddenAddress(ip))) => assert!(ip.is_loopback()),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        client.check_host(&parsed).await,
        Err(UrlError::ForbiddenAddress(_))
    ));
    // With private addresses allowed, the same name works.
    call(&url, UrlPolicy::PERMISSIVE, None, SECOND)
        .await
        .unwrap();
}

#[tokio::test]
async fn loopback_literals_are_refused_including_ipv4_mapped_ipv6() {
    let (port, seen) = endpoint().await;
    let client = outbound(NO_PRIVATE);
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
        format!("http://[::1]:{port}/ok"),
    ] {
        // Refused when the plug-in is defined…
        assert!(
            matches!(
                HttpPlugin::new(&url, client.clone()),
                Err(UrlError::ForbiddenAddress(_))
            ),
            "{url}"
        );
        // …and at send time, for a URL accepted under another policy.
        let parsed = OutboundUrl::parse(&url, &UrlPolicy::PERMISSIVE).unwrap();
        let result = client
            .post_signed(&parsed, "msg_1", b"{}".to_vec(), SECOND)
            .await;
        assert!(
            matches!(
                result,
                Err(SendError::Refused(UrlError::ForbiddenAddress(_)))
            ),
            "{url}: {result:?}"
        );
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn http_is_refused_unless_allowed() {
    let strict = outbound(UrlPolicy::default());
    assert!(matches!(
        HttpPlugin::new("http://example.com/plugin", strict.clone()),
        Err(UrlError::NotHttps(_))
    ));
    let parsed = OutboundUrl::parse("http://example.com/plugin", &UrlPolicy::PERMISSIVE).unwrap();
    let result = strict
        .post_signed(&parsed, "msg_1", b"{}".to_vec(), SECOND)
        .await;
    assert!(matches!(
        result,
        Err(SendError::Refused(UrlError::NotHttps(_)))
    ));
}

#[tokio::test]
async fn a_cancel_stops_the_request() {
    let (port, _) = endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let plugin = HttpPlugin::new(
        &format!("http://127.0.0.1:{port}/hang"),
        outbound(UrlPolicy::PERMISSIVE),
    )
    .unwrap();
    let ctx = context(
        &dir,
        Some(OperationId::new_random()),
        Duration::from_secs(30),
    )
    .await;
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    assert_eq!(plugin.execute(ctx).await, Err(PluginError::Canceled));
}

#[tokio::test]
async fn a_synchronous_call_through_the_engine_returns_typed_outputs() {
    let (port, seen) = endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let store = bgops_store::open(&format!(
        "sqlite://{}",
        dir.path().join("bgops.db").display()
    ))
    .await
    .unwrap();
    let client = outbound(UrlPolicy::PERMISSIVE);
    let registry = Arc::new(bgops_engine::Registry::new());
    registry.add_api((*api()).clone());
    registry.add_plugin(
        "Test.Http",
        Arc::new(HttpPlugin::new(&format!("http://127.0.0.1:{port}/ok"), client.clone()).unwrap()),
    );
    let engine = bgops_engine::Engine::new(
        store,
        registry,
        Arc::new(bgops_core::catalogue::Catalogue::standard()),
        bgops_engine::EngineConfig {
            outbound: Some(client),
            ..Default::default()
        },
        Arc::new(SystemClock),
        Arc::new(bgops_engine::RandomJitter),
    );
    let out = engine
        .execute_sync(&api(), Parameters::default(), UserId::new_random())
        .await
        .unwrap();
    assert_eq!(out.get("Count"), Some(&ParamValue::Integer(7)));
    let body: Value = serde_json::from_slice(&seen.lock().unwrap()[0].1).unwrap();
    assert_eq!(body["BackgroundOperationId"], Value::Null);
    assert_eq!(body["Attempt"], 1);
}

#[tokio::test]
async fn a_network_error_is_retryable_and_does_not_show_the_url() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/secret-path?code=s3cr3t");
    let (message, code, permanent) = failure(call(&url, UrlPolicy::PERMISSIVE, None, SECOND).await);
    assert!(!permanent);
    assert_eq!(code, None);
    assert!(
        message.starts_with("The HTTP plug-in could not be reached: "),
        "{message}"
    );
    assert!(!message.contains("s3cr3t"), "{message}");
}
