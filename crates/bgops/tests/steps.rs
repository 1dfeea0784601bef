//! OnBackgroundOperationComplete, black-box (SPEC §9): registering webhooks and steps over the
//! Web API with the rules and 400s of a Dataverse-like service, one system job per active step
//! for each Succeeded, Failed and Canceled operation, the execution context and headers a
//! webhook receives, each authentication type, retries of a failing receiver, auto-delete, and
//! failed jobs keeping their error. Receivers are small axum servers on loopback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing;
use axum::Router;
use common::Server;
use reqwest::{Method, Response};
use serde_json::{json, Value};

const API: &str = "/api/data/v9.2";
const MESSAGE_ID: &str = "10bb454c-9e87-4f40-b9b5-7422624bbdb5";

/// Flags of a server that may call receivers on loopback over http, with fast retries.
fn start(extra: &[&str]) -> Server {
    let mut args = vec![
        "--retry-base-delay",
        "50ms",
        "--lease",
        "2s",
        "--callback-allow-http",
        "--callback-allow-private",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

// ---------------------------------------------------------------------------------------------
// A loopback webhook receiver
// ---------------------------------------------------------------------------------------------

/// A request a receiver got.
#[derive(Clone, Debug)]
struct Hit {
    /// The raw query string.
    query: Option<String>,
    headers: HeaderMap,
    body: Value,
}

impl Hit {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The decoded query parameters.
    fn query_pairs(&self) -> Vec<(String, String)> {
        let q = self.query.clone().unwrap_or_default();
        reqwest::Url::parse(&format!("http://x/?{q}"))
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The value of `key` in a `[{"key","value"}]` collection of the context.
    fn param(&self, collection: &str, key: &str) -> Value {
        self.body[collection]
            .as_array()
            .unwrap_or_else(|| panic!("{collection} is not an array: {}", self.body))
            .iter()
            .find(|kv| kv["key"] == key)
            .map(|kv| kv["value"].clone())
            .unwrap_or_else(|| panic!("{collection} lacks {key}: {}", self.body))
    }
}

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// The statuses of the first answers; then `then`.
    script: Arc<Vec<u16>>,
    then: u16,
}

async fn hook(
    State(st): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AxumResponse {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = {
        let mut hits = st.hits.lock().unwrap();
        hits.push(Hit {
            query: uri.query().map(str::to_owned),
            headers,
            body,
        });
        hits.len() - 1
    };
    let status = st.script.get(n).copied().unwrap_or(st.then);
    if status == HANG {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return (StatusCode::OK, "too late").into_response();
    }
    let status = StatusCode::from_u16(status).unwrap();
    (status, format!("receiver says {}", status.as_u16())).into_response()
}

/// In a receiver's script: answer nothing for 30 s.
const HANG: u16 = 0;

/// A receiver answering `script` in turn, then `then` for ever.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    async fn start(script: &[u16], then: u16) -> Receiver {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            hits: hits.clone(),
            script: Arc::new(script.to_vec()),
            then,
        };
        let app = Router::new()
            .route("/hook", routing::post(hook))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            hits,
        }
    }

    async fn ok() -> Receiver {
        Receiver::start(&[], 200).await
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived.
    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Hit> {
        let start = Instant::now();
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            assert!(
                start.elapsed() < timeout,
                "{} of {n} requests arrived within {timeout:?}",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Web API helpers
// ---------------------------------------------------------------------------------------------

async fn post(s: &Server, set: &str, body: &Value) -> Response {
    s.req(Method::POST, &format!("{API}/{set}"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn patch(s: &Server, set: &str, id: &str, body: &Value) -> Response {
    s.req(Method::PATCH, &format!("{API}/{set}({id})"))
        .header("If-Match", "*")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get_json(s: &Server, path: &str) -> Value {
    let resp = s.req(Method::GET, path).send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The id in an `OData-EntityId` header of a 204.
async fn created(resp: Response, what: &str) -> String {
    let status = resp.status();
    if status != 204 {
        panic!("{what}: {status} {}", resp.text().await.unwrap_or_default());
    }
    let url = resp.headers()["odata-entityid"].to_str().unwrap();
    let start = url.rfind('(').unwrap() + 1;
    url[start..url.len() - 1].to_owned()
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

/// Registers a webhook service endpoint; returns its id.
async fn endpoint(s: &Server, url: &str, authtype: i64, authvalue: &str) -> String {
    let body = json!({
        "name": format!("hook {authtype}"),
        "url": url,
        "contract": 8,
        "authtype": authtype,
        "authvalue": authvalue,
    });
    created(
        post(s, "serviceendpoints", &body).await,
        "POST serviceendpoints",
    )
    .await
}

fn step_body(name: &str, endpoint: &str, autodelete: bool) -> Value {
    json!({
        "name": name,
        "stage": 40,
        "mode": 1,
        "rank": 1,
        "supporteddeployment": 0,
        "asyncautodelete": autodelete,
        "sdkmessageid@odata.bind": format!("/sdkmessages({MESSAGE_ID})"),
        "eventhandler_serviceendpoint@odata.bind": format!("/serviceendpoints({endpoint})"),
    })
}

/// Registers a step on OnBackgroundOperationComplete handled by `endpoint`; returns its id.
async fn step(s: &Server, name: &str, endpoint: &str, autodelete: bool) -> String {
    created(
        post(
            s,
            "sdkmessageprocessingsteps",
            &step_body(name, endpoint, autodelete),
        )
        .await,
        "POST sdkmessageprocessingsteps",
    )
    .await
}

/// A webhook step to `url` with WebhookKey auth; returns the step id.
async fn webhook_step(s: &Server, name: &str, url: &str, autodelete: bool) -> String {
    let e = endpoint(s, url, 4, "k3y").await;
    step(s, name, &e, autodelete).await
}

/// Submits `api` in the background; returns its id and the Location it answered.
async fn submit(s: &Server, api: &str, body: Value) -> (String, String) {
    let resp = s
        .req(Method::POST, &format!("{API}/{api}"))
        .header("Prefer", "respond-async")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "submit {api}");
    let id = resp.headers()["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .unwrap()
        .to_owned();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    (id, location)
}

/// The system jobs of an operation.
async fn jobs_of(s: &Server, op: &str) -> Vec<Value> {
    let body = get_json(
        s,
        &format!("{API}/asyncoperations?$filter=_regardingobjectid_value%20eq%20{op}"),
    )
    .await;
    body["value"].as_array().cloned().unwrap_or_default()
}

/// Polls the jobs of `op` until `done` holds.
async fn wait_jobs(
    s: &Server,
    op: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs = jobs_of(s, op).await;
        if done(&jobs) {
            return jobs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: jobs of {op}: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn state_status(job: &Value) -> (i64, i64) {
    (
        job["statecode"].as_i64().unwrap_or(-1),
        job["statuscode"].as_i64().unwrap_or(-1),
    )
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn webhooks_and_steps_are_registered_and_synchronous_steps_refused() {
    let s = start(&[]);
    let r = Receiver::ok().await;

    // A webhook; its authvalue is write-only.
    let e = endpoint(&s, &r.url, 4, "k3y").await;
    let row = get_json(&s, &format!("{API}/serviceendpoints({e})")).await;
    assert_eq!(row["url"], r.url.as_str(), "{row}");
    assert_eq!(row["contract"], 8);
    assert_eq!(row["authtype"], 4);
    assert_eq!(row["messageformat"], 2, "JSON by default: {row}");
    assert!(
        row.get("authvalue").is_none(),
        "authvalue is never read: {row}"
    );
    let resp = s
        .req(
            Method::GET,
            &format!("{API}/serviceendpoints?$select=name,authvalue"),
        )
        .send()
        .await
        .unwrap();
    error(resp, 400, "$select=authvalue").await;

    // An asynchronous post-operation step: 201 with the row under return=representation.
    let resp = s
        .req(Method::POST, &format!("{API}/sdkmessageprocessingsteps"))
        .header("Prefer", "return=representation")
        .json(&step_body("notify", &e, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let row: Value = resp.json().await.unwrap();
    assert_eq!(row["mode"], 1);
    assert_eq!(row["stage"], 40);
    assert_eq!(row["asyncautodelete"], true);
    assert_eq!(row["statecode"], 0);
    assert_eq!(row["statuscode"], 1);
    assert_eq!(row["_sdkmessageid_value"], MESSAGE_ID);
    assert_eq!(row["_eventhandler_value"], e.as_str());
    let step_id = row["sdkmessageprocessingstepid"]
        .as_str()
        .unwrap()
        .to_owned();

    // A synchronous step is refused, so is another stage.
    let mut sync = step_body("sync", &e, false);
    sync["mode"] = json!(0);
    let (code, message) = error(
        post(&s, "sdkmessageprocessingsteps", &sync).await,
        400,
        "mode 0",
    )
    .await;
    assert_eq!(code, "0x80040203");
    assert_eq!(message, "The OnBackgroundOperationComplete message only allows asynchronous step registrations: mode 0 (Synchronous) is not supported; set mode to 1 (Asynchronous).");
    let mut pre = step_body("pre", &e, false);
    pre["stage"] = json!(20);
    let (code, message) = error(
        post(&s, "sdkmessageprocessingsteps", &pre).await,
        400,
        "stage 20",
    )
    .await;
    assert_eq!(code, "0x80040203");
    assert_eq!(message, "An asynchronous step on the OnBackgroundOperationComplete message must be registered in stage 40 (Post-operation), not stage 20 (Pre-operation).");
    // Nor can a PATCH make a step synchronous.
    let (_, message) = error(
        patch(
            &s,
            "sdkmessageprocessingsteps",
            &step_id,
            &json!({"mode": 0}),
        )
        .await,
        400,
        "PATCH mode 0",
    )
    .await;
    assert!(
        message.contains("only allows asynchronous step registrations"),
        "{message}"
    );

    // The message and the handler must be bound, and exist.
    let mut no_message = step_body("x", &e, false);
    no_message
        .as_object_mut()
        .unwrap()
        .remove("sdkmessageid@odata.bind");
    let (_, message) = error(
        post(&s, "sdkmessageprocessingsteps", &no_message).await,
        400,
        "no message",
    )
    .await;
    assert!(message.contains("sdkmessageid@odata.bind"), "{message}");
    let missing = uuid::Uuid::new_v4();
    let (_, message) = error(
        post(
            &s,
            "sdkmessageprocessingsteps",
            &step_body("x", &missing.to_string(), false),
        )
        .await,
        404,
        "unknown endpoint",
    )
    .await;
    assert_eq!(
        message,
        format!("serviceendpoint With Id = {missing} Does Not Exist")
    );

    // Webhooks only, with a supported auth type and a URL the rules accept.
    for (body, expected) in [
        (
            json!({"name": "q", "url": r.url, "contract": 1, "authtype": 4, "authvalue": "k"}),
            "webhooks only",
        ),
        (
            json!({"name": "q", "url": r.url, "contract": 8, "authtype": 2, "authvalue": "k"}),
            "4 (WebhookKey)",
        ),
        (
            json!({"name": "q", "url": "ftp://example.com/x", "contract": 8, "authtype": 4, "authvalue": "k"}),
            "not accepted",
        ),
        (
            json!({"name": "q", "url": r.url, "contract": 8, "authtype": 5, "authvalue": "Authorization: Basic eA=="}),
            "key-value pairs",
        ),
    ] {
        let (_, message) = error(post(&s, "serviceendpoints", &body).await, 400, "endpoint").await;
        assert!(message.contains(expected), "{message}");
    }

    // An endpoint in use is kept; once its step is gone it can be deleted.
    let resp = s
        .req(Method::DELETE, &format!("{API}/serviceendpoints({e})"))
        .send()
        .await
        .unwrap();
    let (_, message) = error(resp, 400, "DELETE endpoint in use").await;
    assert!(
        message.contains("is the handler of step notify"),
        "{message}"
    );
    for path in [
        format!("{API}/sdkmessageprocessingsteps({step_id})"),
        format!("{API}/serviceendpoints({e})"),
    ] {
        let resp = s.req(Method::DELETE, &path).send().await.unwrap();
        assert_eq!(resp.status(), 204, "DELETE {path}");
    }

    // Other service-managed tables still refuse writes.
    for (set, body) in [
        ("sdkmessages", json!({"name": "Mine"})),
        ("asyncoperations", json!({"name": "Mine"})),
    ] {
        let resp = post(&s, set, &body).await;
        assert!(
            resp.status().is_client_error(),
            "POST {set}: {}",
            resp.status()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs and deliveries
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_terminal_state_starts_one_job_per_active_step() {
    let s = start(&[]);
    let (a, b, c) = (
        Receiver::ok().await,
        Receiver::ok().await,
        Receiver::ok().await,
    );
    let step_a = webhook_step(&s, "a", &a.url, false).await;
    let step_b = webhook_step(&s, "b", &b.url, false).await;
    let step_c = webhook_step(&s, "c", &c.url, false).await;
    // Step c is disabled: it starts nothing.
    let resp = patch(
        &s,
        "sdkmessageprocessingsteps",
        &step_c,
        &json!({"statecode": 1}),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let row = get_json(&s, &format!("{API}/sdkmessageprocessingsteps({step_c})")).await;
    assert_eq!(
        (row["statecode"].as_i64(), row["statuscode"].as_i64()),
        (Some(1), Some(2))
    );

    let succeeded = submit(&s, "bgops_Echo", json!({"Text": "hi"})).await;
    let failed = submit(
        &s,
        "bgops_Fail",
        json!({"FailTimes": 5, "Permanent": true, "Message": "nope"}),
    )
    .await;
    let canceled = submit(&s, "bgops_Delay", json!({"DelayMs": 20000})).await;
    s.wait_status(&canceled.0, 20, Duration::from_secs(10))
        .await;
    let resp = s
        .req(
            Method::DELETE,
            &format!("/api/backgroundoperation/{}", canceled.0),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ops = [
        (&succeeded, "bgops_Echo", 30),
        (&failed, "bgops_Fail", 31),
        (&canceled, "bgops_Delay", 32),
    ];
    for ((id, _), _, status) in &ops {
        let body = s.wait_terminal(id, Duration::from_secs(10)).await;
        assert_eq!(body["backgroundOperationStatusCode"], *status, "{body}");
    }

    let hits_a = a.wait_for(3, Duration::from_secs(10)).await;
    let hits_b = b.wait_for(3, Duration::from_secs(10)).await;
    for ((id, location), name, status) in &ops {
        // Exactly one job per active step, both succeeded and kept (no auto-delete).
        let jobs = wait_jobs(&s, id, "two succeeded jobs", |jobs| {
            jobs.len() == 2 && jobs.iter().all(|j| state_status(j) == (3, 30))
        })
        .await;
        let mut steps: Vec<&str> = jobs
            .iter()
            .map(|j| j["_owningextensionid_value"].as_str().unwrap())
            .collect();
        steps.sort_unstable();
        let mut expected = vec![step_a.as_str(), step_b.as_str()];
        expected.sort_unstable();
        assert_eq!(steps, expected);
        for job in &jobs {
            assert_eq!(job["name"], "OnBackgroundOperationComplete");
            assert_eq!(job["operationtype"], 1);
            assert!(job["completedon"].is_string(), "{job}");
        }
        // Each receiver got this operation's context once.
        for (hits, step_id, step_name) in [(&hits_a, &step_a, "a"), (&hits_b, &step_b, "b")] {
            let mine: Vec<&Hit> = hits
                .iter()
                .filter(|h| h.param("InputParameters", "BackgroundOperationId") == id.as_str())
                .collect();
            assert_eq!(mine.len(), 1, "{name} to {step_name}");
            let hit = mine[0];
            let body = &hit.body;
            assert_eq!(body["MessageName"], "OnBackgroundOperationComplete");
            assert_eq!(body["PrimaryEntityName"], "none");
            assert_eq!(body["Stage"], 40);
            assert_eq!(body["Mode"], 1);
            assert_eq!(body["Depth"], 1);
            assert!(body["UserId"].is_string() && body["InitiatingUserId"].is_string());
            assert!(body["OrganizationId"].is_string() && body["CorrelationId"].is_string());
            assert!(
                body["OperationCreatedOn"]
                    .as_str()
                    .unwrap()
                    .starts_with("/Date("),
                "{body}"
            );
            assert_eq!(body["OwningExtension"]["Id"], step_id.as_str());
            assert_eq!(body["OwningExtension"]["Name"], step_name);
            assert_eq!(hit.param("InputParameters", "PayloadType"), 0);
            assert_eq!(
                hit.param("InputParameters", "LocationUrl"),
                location.as_str()
            );
            assert_eq!(hit.param("OutputParameters", "OperationName"), *name);
            assert_eq!(
                hit.param("OutputParameters", "BackgroundOperationStateCode"),
                3
            );
            assert_eq!(
                hit.param("OutputParameters", "BackgroundOperationStatusCode"),
                *status
            );
            assert_eq!(
                hit.header("x-ms-dynamics-request-name"),
                Some("OnBackgroundOperationComplete")
            );
            assert_eq!(hit.header("x-ms-dynamics-entity-name"), Some("none"));
            assert_eq!(hit.header("x-ms-dynamics-organization"), Some("127.0.0.1"));
            assert_eq!(
                hit.header("x-ms-correlation-request-id"),
                body["CorrelationId"].as_str()
            );
            assert!(hit.header("x-ms-dynamics-msg-size-exceeded").is_none());
            assert_eq!(hit.header("content-type"), Some("application/json"));
            assert_eq!(
                hit.query_pairs(),
                vec![("code".to_owned(), "k3y".to_owned())]
            );
        }
    }
    // Nothing more arrives, and the disabled step never got anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.hits().len(), 3);
    assert_eq!(b.hits().len(), 3);
    assert!(c.hits().is_empty(), "a disabled step starts nothing");
}

#[tokio::test]
async fn a_disabled_step_starts_nothing() {
    let s = start(&[]);
    let r = Receiver::ok().await;
    let step_id = webhook_step(&s, "off", &r.url, false).await;
    let resp = patch(
        &s,
        "sdkmessageprocessingsteps",
        &step_id,
        &json!({"statecode": 1, "statuscode": 2}),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let (id, _) = submit(&s, "bgops_Echo", json!({})).await;
    s.wait_terminal(&id, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(r.hits().is_empty());
    assert!(jobs_of(&s, &id).await.is_empty());

    // Enabled again, the next operation starts its job.
    let resp = patch(
        &s,
        "sdkmessageprocessingsteps",
        &step_id,
        &json!({"statecode": 0}),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let (id, _) = submit(&s, "bgops_Echo", json!({})).await;
    s.wait_terminal(&id, Duration::from_secs(10)).await;
    r.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(jobs_of(&s, &id).await.len(), 1);
}

#[tokio::test]
async fn each_auth_type_puts_the_key_where_it_belongs() {
    let s = start(&[]);
    let (key, headers, query) = (
        Receiver::ok().await,
        Receiver::ok().await,
        Receiver::ok().await,
    );
    let e = endpoint(&s, &format!("{}?fixed=1", key.url), 4, "the-function-key").await;
    step(&s, "key", &e, true).await;
    let e = endpoint(
        &s,
        &headers.url,
        5,
        r#"<settings><setting name="x-api-key" value="s3cret" /><setting name="X-Tenant" value="contoso" /></settings>"#,
    )
    .await;
    step(&s, "headers", &e, true).await;
    let e = endpoint(&s, &query.url, 6, r#"{"sig":"a b&c","v":"2"}"#).await;
    step(&s, "query", &e, true).await;

    let (id, _) = submit(&s, "bgops_Echo", json!({})).await;
    s.wait_terminal(&id, Duration::from_secs(10)).await;
    let hit = key.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(
        hit.query_pairs(),
        vec![
            ("fixed".to_owned(), "1".to_owned()),
            ("code".to_owned(), "the-function-key".to_owned())
        ]
    );
    assert!(hit.header("x-api-key").is_none());
    let hit = headers.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(hit.header("x-api-key"), Some("s3cret"));
    assert_eq!(hit.header("x-tenant"), Some("contoso"));
    assert!(hit.query.is_none(), "{:?}", hit.query);
    let hit = query.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(
        hit.query_pairs(),
        vec![
            ("sig".to_owned(), "a b&c".to_owned()),
            ("v".to_owned(), "2".to_owned())
        ]
    );
    // All three succeeded and were auto-deleted.
    wait_jobs(&s, &id, "auto-deleted", |jobs| jobs.is_empty()).await;
}

#[tokio::test]
async fn a_receiver_failing_twice_then_succeeding_ends_succeeded() {
    let s = start(&[]);
    let deleted = Receiver::start(&[500, 503], 200).await;
    let kept = Receiver::start(&[502, 500], 200).await;
    let deleted_step = webhook_step(&s, "autodelete", &deleted.url, true).await;
    let kept_step = webhook_step(&s, "keep", &kept.url, false).await;
    let (id, _) = submit(&s, "bgops_Echo", json!({})).await;
    s.wait_terminal(&id, Duration::from_secs(10)).await;

    for r in [&deleted, &kept] {
        let hits = r.wait_for(3, Duration::from_secs(10)).await;
        // The same job each time: one webhook-id, attempts of one system job.
        let ids: Vec<_> = hits.iter().map(|h| h.header("webhook-id")).collect();
        assert!(
            ids[0].is_some() && ids.iter().all(|i| *i == ids[0]),
            "{ids:?}"
        );
    }
    let jobs = wait_jobs(&s, &id, "one kept succeeded job", |jobs| {
        jobs.len() == 1 && state_status(&jobs[0]) == (3, 30)
    })
    .await;
    let job = &jobs[0];
    assert_eq!(job["_owningextensionid_value"], kept_step.as_str());
    assert_eq!(job["retrycount"], 2);
    assert!(job["message"].is_null(), "{job}");
    assert!(job["errorcode"].is_null(), "{job}");
    assert!(job["startedon"].is_string() && job["completedon"].is_string());
    assert!(!jobs
        .iter()
        .any(|j| j["_owningextensionid_value"] == deleted_step.as_str()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(deleted.hits().len(), 3);
    assert_eq!(kept.hits().len(), 3);
}

#[tokio::test]
async fn a_receiver_always_failing_ends_the_job_failed_with_its_error() {
    let s = start(&["--max-retries", "2"]);
    let r = Receiver::start(&[], 500).await;
    // Even with auto-delete, a failed job stays.
    let step_id = webhook_step(&s, "down", &r.url, true).await;
    let (id, _) = submit(&s, "bgops_Echo", json!({})).await;
    s.wait_terminal(&id, Duration::from_secs(10)).await;
    let jobs = wait_jobs(&s, &id, "a failed job", |jobs| {
        jobs.len() == 1 && state_status(&jobs[0]) == (3, 31)
    })
    .await;
    let job = &jobs[0];
    assert_eq!(job["_owningextensionid_value"], step_id.as_str());
    assert_eq!(job["retrycount"], 2);
    assert_eq!(job["errorcode"], -2147220891, "{job}");
    let message = job["message"].as_str().unwrap();
    assert!(message.contains("500"), "{message}");
    assert!(message.contains("receiver says 500"), "{message}");
    assert!(!message.contains("k3y"), "the key stays secret: {message}");
    assert!(job["completedon"].is_string());
    assert_eq!(r.hits().len(), 3, "one attempt and two retries");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.hits().len(), 3);
    assert_eq!(jobs_of(&s, &id).await.len(), 1);
}

#[tokio::test]
async fn a_job_whose_server_died_runs_again_after_restart() {
    let args = [
        "--retry-base-delay",
        "50ms",
        "--lease",
        "2s",
        "--callback-allow-http",
        "--callback-allow-private",
    ];
    let mut s = Server::start(&args);
    let r = Receiver::start(&[HANG], 200).await;
    webhook_step(&s, "survivor", &r.url, false).await;
    let (id, _) = submit(&s, "bgops_Echo", json!({})).await;
    s.wait_terminal(&id, Duration::from_secs(10)).await;
    // The first attempt is under way (the receiver holds it) when the server dies.
    r.wait_for(1, Duration::from_secs(10)).await;
    s.kill9();
    let s2 = Server::start_on(&s.db.clone(), &args);
    let hits = r.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    let jobs = wait_jobs(&s2, &id, "succeeded after recovery", |jobs| {
        jobs.len() == 1 && state_status(&jobs[0]) == (3, 30)
    })
    .await;
    assert_eq!(
        jobs[0]["retrycount"], 1,
        "the lost attempt counts: {}",
        jobs[0]
    );
}
