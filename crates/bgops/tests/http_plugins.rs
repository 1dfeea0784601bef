//! HTTP plug-ins end to end with the real binary (SPEC §3, §8): a custom API created by deep
//! insert and bound to a `plugintypes` row whose `bgops_endpointurl` is a loopback test server
//! playing the plug-in. Synchronous and background calls with native outputs, the exact request
//! a plug-in gets (ids, user, attempt, inputs) and its Standard Webhooks signature, retries of a
//! failing plug-in, permanent errors, the attempt time-out, a wrong output type, the synchronous
//! error answer, and the outbound URL rule refusing a loopback plug-in URL.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::post as route_post;
use axum::{Json, Router};
use bgops_client::{verify_signature, VerifyError, DEFAULT_TOLERANCE};
use common::Server;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/data/v9.2";

/// The secret the servers of these tests sign with (our own, not the generated one).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `0x80040265` as the signed Int32 of `errorcode`.
const PLUGIN_ERROR: i64 = -2_147_220_891;
/// `0x80044173` as the signed Int32 of `errorcode`.
const TIMEOUT_ERROR: i64 = -2_147_204_749;
const TIMEOUT_MESSAGE: &str =
    "The plug-in execution failed because the operation has timed-out at the Sandbox Worker.";

/// The GUID the `ok` plug-in returns as `Id`.
const OUT_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
/// A Decimal with more digits than an f64 holds.
const BIG_DECIMAL: &str = "12345678901234567.89";

// ---------------------------------------------------------------------------------------------
// The plug-in: a loopback axum server answering per path.

/// A request the plug-in got.
#[derive(Clone, Debug)]
struct Seen {
    mode: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the plug-in request is JSON")
    }
}

#[derive(Clone, Default)]
struct PluginState {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Requests per (mode, BackgroundOperationId).
    counts: Arc<Mutex<HashMap<String, u32>>>,
}

/// The outputs of a successful answer, computed from the inputs.
fn ok_outputs(inputs: &Value) -> Value {
    let text = inputs["Text"].as_str().unwrap_or_default();
    let number = inputs["Number"].as_i64().unwrap_or(0);
    json!({"OutputParameters": {
        "Greeting": format!("Hello, {text}"),
        "Count": number * 2,
        "Flag": true,
        "Amount": big_decimal(),
        "Tags": ["a", "b,c", "\"d\""],
        "When": "2024-02-29T13:45:00Z",
        "Id": OUT_ID,
    }})
}

fn big_decimal() -> Value {
    Value::Number(BIG_DECIMAL.parse().expect("a JSON number"))
}

async fn plugin(
    State(state): State<PluginState>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumResponse {
    state.seen.lock().unwrap().push(Seen {
        mode: mode.clone(),
        headers,
        body: body.clone(),
    });
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = format!("{mode}/{}", request["BackgroundOperationId"]);
    let n = {
        let mut counts = state.counts.lock().unwrap();
        let n = counts.entry(key).or_default();
        *n += 1;
        *n
    };
    let inputs = &request["InputParameters"];
    match mode.as_str() {
        "ok" => Json(ok_outputs(inputs)).into_response(),
        // Fails its first two requests per operation.
        "flaky" if n <= 2 => (
            AxumStatus::SERVICE_UNAVAILABLE,
            format!("busy, request {n}"),
        )
            .into_response(),
        "flaky" => Json(ok_outputs(inputs)).into_response(),
        "unavailable" => (AxumStatus::SERVICE_UNAVAILABLE, "down for maintenance").into_response(),
        "permanent" => (
            AxumStatus::UNPROCESSABLE_ENTITY,
            Json(json!({"error": {"message": "nope", "permanent": true}})),
        )
            .into_response(),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Json(ok_outputs(inputs)).into_response()
        }
        "wrongtype" => {
            Json(json!({"OutputParameters": {"Greeting": "hi", "Count": "seven"}})).into_response()
        }
        _ => AxumStatus::NOT_FOUND.into_response(),
    }
}

/// A running plug-in server.
struct PluginServer {
    port: u16,
    state: PluginState,
}

impl PluginServer {
    async fn start() -> PluginServer {
        let state = PluginState::default();
        let app = Router::new()
            .route("/plugin/{mode}", route_post(plugin))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        PluginServer { port, state }
    }

    fn url(&self, mode: &str) -> String {
        format!("http://127.0.0.1:{}/plugin/{mode}", self.port)
    }

    /// The requests received for `mode`, in order.
    fn seen(&self, mode: &str) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.mode == mode)
            .cloned()
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The service side.

/// Flags of a server that may call plug-ins on loopback over http, signing with [`SECRET`].
fn flags<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut f = vec![
        "--retry-base-delay",
        "50ms",
        "--lease",
        "2s",
        "--callback-allow-http",
        "--callback-allow-private",
        "--webhook-secret",
        SECRET,
    ];
    f.extend_from_slice(extra);
    f
}

async fn post(s: &Server, path: &str, body: &Value) -> Response {
    s.req(Method::POST, &format!("{API}/{path}"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Reads an error answer: asserts the status, returns (code, message).
async fn error(resp: Response, status: u16, what: &str) -> (String, String) {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{what}: {body}");
    (
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The id in an `OData-EntityId` header.
fn entity_id(resp: &Response) -> String {
    let url = resp.headers()["odata-entityid"].to_str().unwrap();
    let start = url.rfind('(').unwrap() + 1;
    url[start..url.len() - 1].to_owned()
}

/// The custom API name for a plug-in mode.
fn api_name(mode: &str) -> String {
    format!("contoso_Http{mode}")
}

/// Creates an HTTP plug-in type for `mode` and a custom API bound to it by deep insert; returns
/// the API's unique name.
async fn define(s: &Server, plugin: &PluginServer, mode: &str) -> String {
    let resp = post(
        s,
        "plugintypes",
        &json!({
            "name": format!("Contoso {mode} plug-in"),
            "typename": format!("Contoso.Plugins.{mode}"),
            "bgops_endpointurl": plugin.url(mode),
        }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "plug-in type {mode}");
    let plugin_type = entity_id(&resp);
    let name = api_name(mode);
    let prop = |n: &str, t: i64| json!({"uniquename": n, "name": n, "displayname": n, "type": t});
    let resp = post(
        s,
        "customapis",
        &json!({
            "uniquename": name,
            "name": name,
            "displayname": format!("HTTP {mode}"),
            "bindingtype": 0,
            "isfunction": false,
            "PluginTypeId@odata.bind": format!("plugintypes({plugin_type})"),
            "CustomAPIRequestParameters": [
                {"uniquename": "Text", "name": "Text", "displayname": "Text", "type": 10, "isoptional": false},
                {"uniquename": "Number", "name": "Number", "displayname": "Number", "type": 7, "isoptional": true}
            ],
            "CustomAPIResponseProperties": [
                prop("Greeting", 10), prop("Count", 7), prop("Flag", 0), prop("Amount", 2),
                prop("Tags", 11), prop("When", 1), prop("Id", 12)
            ]
        }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "custom API {name}");
    name
}

async fn who_am_i(s: &Server) -> String {
    let resp = s
        .req(Method::GET, &format!("{API}/WhoAmI()"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["UserId"].as_str().unwrap().to_owned()
}

/// A stored Key/Value array as a map of key → string value; asserts every Value is a string.
fn key_values(stored: &Value) -> BTreeMap<String, String> {
    let text = stored.as_str().expect("a JSON string column");
    let items: Vec<Value> = serde_json::from_str(text).expect("a JSON array");
    items
        .iter()
        .map(|kv| {
            (
                kv["Key"].as_str().unwrap().to_owned(),
                kv["Value"]
                    .as_str()
                    .unwrap_or_else(|| panic!("Value is a string: {kv}"))
                    .to_owned(),
            )
        })
        .collect()
}

/// Asserts the native outputs of the `ok` plug-in for `Text`=`text`, `Number`=`number`.
fn assert_native_outputs(body: &Value, text: &str, number: i64) {
    assert_eq!(body["Greeting"], json!(format!("Hello, {text}")), "{body}");
    assert_eq!(body["Count"], json!(number * 2), "{body}");
    assert!(body["Count"].is_i64(), "{body}");
    assert_eq!(body["Flag"], json!(true), "{body}");
    assert_eq!(body["Amount"], big_decimal(), "{body}");
    assert_eq!(body["Amount"].to_string(), BIG_DECIMAL, "every digit");
    assert_eq!(body["Tags"], json!(["a", "b,c", "\"d\""]), "{body}");
    assert_eq!(body["When"], json!("2024-02-29T13:45:00Z"), "{body}");
    assert_eq!(body["Id"], json!(OUT_ID), "{body}");
}

/// Asserts that `seen` is signed with `secret` and that a changed body is not accepted.
fn assert_signed(seen: &Seen, secret: &str) {
    verify_signature(
        secret,
        &seen.headers,
        &seen.body,
        SystemTime::now(),
        DEFAULT_TOLERANCE,
    )
    .unwrap_or_else(|e| panic!("the plug-in request's signature verifies: {e}"));
    let mut tampered = seen.body.to_vec();
    tampered.push(b' ');
    assert_eq!(
        verify_signature(
            secret,
            &seen.headers,
            &tampered,
            SystemTime::now(),
            DEFAULT_TOLERANCE
        ),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        seen.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
}

fn header(seen: &Seen, name: &str) -> String {
    seen.headers[name].to_str().unwrap().to_owned()
}

/// Waits until the plug-in got `n` requests for `mode`.
async fn wait_seen(plugin: &PluginServer, mode: &str, n: usize) -> Vec<Seen> {
    let start = Instant::now();
    loop {
        let seen = plugin.seen(mode);
        if seen.len() >= n {
            return seen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{mode}: {} requests, expected {n}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn a_deep_inserted_api_on_an_http_plugin_runs_now_and_in_the_background() {
    let plugin = PluginServer::start().await;
    let s = Server::start(&flags(&[]));
    let name = define(&s, &plugin, "ok").await;
    let user = who_am_i(&s).await;

    // Synchronously: 200, the response properties with their native JSON types.
    let resp = post(&s, &name, &json!({"Text": "world", "Number": 21})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}{API}/$metadata#Microsoft.Dynamics.CRM.{name}Response",
            s.base
        )
    );
    assert_native_outputs(&body, "world", 21);

    // What the plug-in got: the documented JSON, in that order, signed.
    let seen = plugin.seen("ok");
    assert_eq!(seen.len(), 1);
    let request = seen[0].json();
    let keys: Vec<&str> = request
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
    assert_eq!(request["BackgroundOperationId"], Value::Null);
    assert_eq!(request["MessageName"], json!(name));
    assert_eq!(request["UserId"], json!(user));
    assert_eq!(request["Attempt"], 1);
    assert_eq!(
        request["InputParameters"],
        json!({"Text": "world", "Number": 21})
    );
    assert_signed(&seen[0], SECRET);
    assert!(
        header(&seen[0], "webhook-id").starts_with("msg_sync_"),
        "{:?}",
        seen[0].headers
    );

    // In the background: 202, then the status monitor shows the same outputs natively.
    let op = s.submit(&name, json!({"Text": "later", "Number": 7})).await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    assert_native_outputs(&done, "later", 7);
    assert!(done.get("backgroundOperationErrorCode").is_none(), "{done}");

    let seen = plugin.seen("ok");
    assert_eq!(seen.len(), 2);
    let request = seen[1].json();
    assert_eq!(request["BackgroundOperationId"], json!(op));
    assert_eq!(request["MessageName"], json!(name));
    assert_eq!(request["UserId"], json!(user));
    assert_eq!(request["Attempt"], 1);
    assert_eq!(
        request["InputParameters"],
        json!({"Text": "later", "Number": 7})
    );
    assert_signed(&seen[1], SECRET);
    assert_eq!(header(&seen[1], "webhook-id"), format!("msg_{op}_1"));

    // The row keeps the string forms of SPEC §13.
    let row = s.row(&op).await;
    assert_eq!(row["name"], json!(name));
    assert_eq!(row["retrycount"], 0);
    assert_eq!(row["errorcode"], Value::Null);
    assert_eq!(row["runas"], json!(user), "{row}");
    assert_eq!(
        key_values(&row["inputparameters"]),
        BTreeMap::from([
            ("Text".to_owned(), "later".to_owned()),
            ("Number".to_owned(), "7".to_owned()),
        ])
    );
    assert_eq!(
        key_values(&row["outputparameters"]),
        BTreeMap::from([
            ("Greeting".to_owned(), "Hello, later".to_owned()),
            ("Count".to_owned(), "14".to_owned()),
            ("Flag".to_owned(), "true".to_owned()),
            ("Amount".to_owned(), BIG_DECIMAL.to_owned()),
            ("Tags".to_owned(), r#"["a","b,c","\"d\""]"#.to_owned()),
            ("When".to_owned(), "2024-02-29T13:45:00Z".to_owned()),
            ("Id".to_owned(), OUT_ID.to_owned()),
        ])
    );
}

#[tokio::test]
async fn the_generated_secret_printed_by_the_cli_verifies_plugin_requests() {
    let plugin = PluginServer::start().await;
    // No --webhook-secret: the service generates one and stores it in the database.
    let s = Server::start(&[
        "--callback-allow-http",
        "--callback-allow-private",
        "--retry-base-delay",
        "50ms",
    ]);
    let name = define(&s, &plugin, "ok").await;
    let out = Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["webhook-secret", "--database"])
        .arg(format!("sqlite://{}", s.db.display()))
        .output()
        .expect("bgops webhook-secret");
    assert!(out.status.success(), "{out:?}");
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_ne!(secret, SECRET);

    let op = s.submit(&name, json!({"Text": "x"})).await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    let seen = plugin.seen("ok");
    assert_eq!(seen.len(), 1);
    assert_signed(&seen[0], &secret);
    // Not signed with some other secret.
    assert_eq!(
        verify_signature(
            SECRET,
            &seen[0].headers,
            &seen[0].body,
            SystemTime::now(),
            DEFAULT_TOLERANCE
        ),
        Err(VerifyError::Mismatch)
    );
}

#[tokio::test]
async fn a_plugin_failing_twice_then_succeeding_ends_succeeded_after_two_retries() {
    let plugin = PluginServer::start().await;
    let s = Server::start(&flags(&[]));
    let name = define(&s, &plugin, "flaky").await;

    let op = s.submit(&name, json!({"Text": "retry", "Number": 5})).await;
    let done = s.wait_terminal(&op, Duration::from_secs(30)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    assert_native_outputs(&done, "retry", 5);

    let row = s.row(&op).await;
    assert_eq!(row["retrycount"], 2, "{row}");
    assert_eq!(
        row["errorcode"],
        Value::Null,
        "the last error is not kept on success"
    );
    assert_eq!(row["errormessage"], Value::Null, "{row}");

    let seen = plugin.seen("flaky");
    assert_eq!(seen.len(), 3, "two failures and a success");
    for (n, request) in seen.iter().enumerate() {
        let attempt = n + 1;
        let body = request.json();
        assert_eq!(body["Attempt"], attempt, "{body}");
        assert_eq!(body["BackgroundOperationId"], json!(op));
        assert_eq!(
            body["InputParameters"],
            json!({"Text": "retry", "Number": 5})
        );
        assert_eq!(header(request, "webhook-id"), format!("msg_{op}_{attempt}"));
        assert_signed(request, SECRET);
    }
}

#[tokio::test]
async fn a_permanent_plugin_error_is_not_retried_and_a_sync_call_answers_400() {
    let plugin = PluginServer::start().await;
    let s = Server::start(&flags(&[]));
    let name = define(&s, &plugin, "permanent").await;

    let op = s.submit(&name, json!({"Text": "x"})).await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(
        done,
        json!({
            "backgroundOperationStateCode": 3,
            "backgroundOperationStatusCode": 31,
            "backgroundOperationErrorCode": PLUGIN_ERROR,
            "backgroundOperationErrorMessage": "nope",
        })
    );
    let row = s.row(&op).await;
    assert_eq!(row["retrycount"], 0, "{row}");
    assert_eq!(row["errorcode"], PLUGIN_ERROR);
    assert_eq!(row["errormessage"], "nope");
    assert_eq!(row["outputparameters"], Value::Null, "{row}");
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(plugin.seen("permanent").len(), 1);

    // Synchronously: 400 with the plug-in's code and message.
    let (code, message) = error(
        post(&s, &name, &json!({"Text": "x"})).await,
        400,
        "sync permanent",
    )
    .await;
    assert_eq!((code.as_str(), message.as_str()), ("0x80040265", "nope"));
    assert_eq!(plugin.seen("permanent").len(), 2);
}

#[tokio::test]
async fn a_sync_call_of_an_unavailable_plugin_answers_400_with_its_message() {
    let plugin = PluginServer::start().await;
    let s = Server::start(&flags(&[]));
    let name = define(&s, &plugin, "unavailable").await;
    let (code, message) = error(
        post(&s, &name, &json!({"Text": "x"})).await,
        400,
        "sync 503",
    )
    .await;
    assert_eq!(code, "0x80040265");
    assert_eq!(
        message,
        "The HTTP plug-in answered HTTP 503 Service Unavailable: down for maintenance"
    );
    assert_eq!(
        plugin.seen("unavailable").len(),
        1,
        "a synchronous call is not retried"
    );

    // In the background the same answer is retried until the retries are spent.
    let op = s.submit(&name, json!({"Text": "x"})).await;
    let done = s.wait_terminal(&op, Duration::from_secs(30)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 31, "{done}");
    assert_eq!(done["backgroundOperationErrorCode"], PLUGIN_ERROR);
    assert_eq!(done["backgroundOperationErrorMessage"], json!(message));
    let row = s.row(&op).await;
    assert_eq!(row["retrycount"], 3, "the default --max-retries: {row}");
    assert_eq!(plugin.seen("unavailable").len(), 1 + 4);
}

#[tokio::test]
async fn a_hanging_plugin_hits_the_attempt_timeout_and_is_retried() {
    let plugin = PluginServer::start().await;
    let s = Server::start(&flags(&[
        "--attempt-timeout",
        "500ms",
        "--max-retries",
        "1",
    ]));
    let name = define(&s, &plugin, "hang").await;

    let started = Instant::now();
    let op = s.submit(&name, json!({"Text": "x"})).await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    let elapsed = started.elapsed();
    assert_eq!(
        done,
        json!({
            "backgroundOperationStateCode": 3,
            "backgroundOperationStatusCode": 31,
            "backgroundOperationErrorCode": TIMEOUT_ERROR,
            "backgroundOperationErrorMessage": TIMEOUT_MESSAGE,
        })
    );
    assert!(
        elapsed >= Duration::from_millis(1000),
        "two attempts of 500ms each: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let row = s.row(&op).await;
    assert_eq!(row["retrycount"], 1, "{row}");
    assert_eq!(row["errorcode"], TIMEOUT_ERROR);
    let seen = plugin.seen("hang");
    assert_eq!(seen.len(), 2, "the time-out is retried");
    assert_eq!(seen[0].json()["Attempt"], 1);
    assert_eq!(seen[1].json()["Attempt"], 2);

    // Synchronously the same time-out applies.
    let started = Instant::now();
    let (code, message) = error(
        post(&s, &name, &json!({"Text": "x"})).await,
        400,
        "sync hang",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(code, "0x80044173");
    assert_eq!(message, TIMEOUT_MESSAGE);
    wait_seen(&plugin, "hang", 3).await;
}

#[tokio::test]
async fn a_wrong_output_type_fails_naming_the_property() {
    let plugin = PluginServer::start().await;
    let s = Server::start(&flags(&[]));
    let name = define(&s, &plugin, "wrongtype").await;
    let expected = format!(
        "The HTTP plug-in returned output parameter Count as String (\"seven\"), but Custom API {name} defines it as Integer."
    );

    let op = s.submit(&name, json!({"Text": "x"})).await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 31, "{done}");
    assert_eq!(done["backgroundOperationErrorCode"], PLUGIN_ERROR);
    assert_eq!(done["backgroundOperationErrorMessage"], json!(expected));
    assert!(done.get("Greeting").is_none(), "no outputs on failure");
    let row = s.row(&op).await;
    assert_eq!(
        row["retrycount"], 0,
        "a contract breach is not retried: {row}"
    );
    assert_eq!(row["outputparameters"], Value::Null, "{row}");
    assert_eq!(plugin.seen("wrongtype").len(), 1);

    let (code, message) = error(
        post(&s, &name, &json!({"Text": "x"})).await,
        400,
        "sync wrong type",
    )
    .await;
    assert_eq!(code, "0x80040265");
    assert_eq!(message, expected);
}

#[tokio::test]
async fn a_loopback_plugin_url_is_refused_without_callback_allow_private() {
    let plugin = PluginServer::start().await;
    let s = Server::start(&["--callback-allow-http", "--retry-base-delay", "50ms"]);
    let port = plugin.port;
    for url in [
        plugin.url("ok"),
        format!("http://localhost:{port}/plugin/ok"),
        format!("http://[::1]:{port}/plugin/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/plugin/ok"),
        "http://10.1.2.3/plugin/ok".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let resp = post(
            &s,
            "plugintypes",
            &json!({"name": "Loopback", "typename": "Contoso.Loopback", "bgops_endpointurl": url}),
        )
        .await;
        let (code, message) = error(resp, 400, &url).await;
        assert_eq!(code, "0x80040203", "{url}");
        assert!(
            message.starts_with("The bgops_endpointurl of a plug-in type is not accepted: "),
            "{url}: {message}"
        );
    }
    let resp = s
        .req(
            Method::GET,
            &format!("{API}/plugintypes?$filter=typename%20eq%20'Contoso.Loopback'"),
        )
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["value"], json!([]), "no row was created");

    // A public host over http is accepted on this server (the refusal is about the address).
    let resp = post(
        &s,
        "plugintypes",
        &json!({"name": "Public", "typename": "Contoso.Public", "bgops_endpointurl": "http://plugins.contoso.example/run"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(plugin.seen("ok").is_empty());
}
