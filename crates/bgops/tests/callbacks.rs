//! Completion callbacks with the real binary and loopback receivers (SPEC §3, §9): each way of
//! asking for one, the exact payload for each terminal status, the Standard Webhooks signature
//! (checked with `bgops_client::verify_callback`), retries on 5xx and `Retry-After`, a receiver
//! that is down for a while, a SIGKILL between the terminal state and the send, and every
//! validation error, which leaves no row.

mod common;
mod receiver;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use common::Server;
use receiver::{Answer, Receiver, PERMISSIVE, SECRET};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The ways of asking for a callback.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// `Prefer: respond-async, odata.callback; url="…"`.
    PreferSpaced,
    /// `Prefer: respond-async,odata.callback;url="…"`.
    PreferTight,
    /// `Prefer: respond-async` and `x-ms-dyn-callback-url: …`.
    Header,
    /// `ExecuteBackgroundOperation` with `CallbackUri`.
    Execute,
}

const FORMS: [Form; 4] = [
    Form::PreferSpaced,
    Form::PreferTight,
    Form::Header,
    Form::Execute,
];

/// The request for `api` with `params` and a callback to `url` in `form`.
fn request(
    s: &Server,
    form: Form,
    api: &str,
    params: &Value,
    url: &str,
) -> reqwest::RequestBuilder {
    let post = |path: &str| s.req(Method::POST, &format!("/api/data/v9.2/{path}"));
    match form {
        Form::PreferSpaced => post(api)
            .header(
                "Prefer",
                format!("respond-async, odata.callback; url=\"{url}\""),
            )
            .json(params),
        Form::PreferTight => post(api)
            .header(
                "Prefer",
                format!("respond-async,odata.callback;url=\"{url}\""),
            )
            .json(params),
        Form::Header => post(api)
            .header("Prefer", "respond-async")
            .header("x-ms-dyn-callback-url", url)
            .json(params),
        Form::Execute => post("ExecuteBackgroundOperation").json(&json!({
            "Request": {"RequestName": api, "Parameters": params},
            "CallbackUri": url,
        })),
    }
}

/// Submits with a callback and checks the answer of SPEC §3; returns `(id, location)`.
async fn submit(s: &Server, form: Form, api: &str, params: Value, url: &str) -> (String, String) {
    let resp = request(s, form, api, &params, url).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if let Form::Execute = form {
        assert_eq!(status, StatusCode::OK, "{form:?}: {body}");
        let id = body["BackgroundOperationId"].as_str().unwrap().to_owned();
        let location = body["Location"].as_str().unwrap().to_owned();
        assert_eq!(location, s.url(&format!("/api/backgroundoperation/{id}")));
        return (id, location);
    }
    assert_eq!(status, StatusCode::ACCEPTED, "{form:?}: {body}");
    assert_eq!(headers["preference-applied"], "callback", "{form:?}");
    let id = headers["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .unwrap()
        .to_owned();
    let location = headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, s.url(&format!("/api/backgroundoperation/{id}")));
    assert_eq!(
        body,
        json!({"backgroundOperationId": id, "location": location}),
        "{form:?}: the 202 body"
    );
    assert_eq!(body.as_object().unwrap().len(), 2);
    assert!(headers.get("odata-entityid").is_none());
    (id, location)
}

/// Checks one received callback: a signed JSON POST with exactly the keys of SPEC §9.
fn check_callback(got: &receiver::Received, id: &str, location: &str, status: i64) -> Value {
    assert_eq!(got.method, "POST");
    assert_eq!(got.headers["content-type"], "application/json");
    for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(got.headers.get(h).is_some(), "{h} header");
    }
    let payload = bgops_client::verify_callback(
        SECRET,
        &got.headers,
        &got.body,
        SystemTime::now(),
        bgops_client::DEFAULT_TOLERANCE,
    )
    .expect("the callback verifies with the service secret");
    assert_eq!(payload.background_operation_id, id);
    assert_eq!(payload.location, location);
    assert_eq!(payload.background_operation_state_code, 3);
    assert_eq!(i64::from(payload.background_operation_status_code), status);
    let body = got.json();
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = BTreeSet::from([
        "location",
        "backgroundOperationId",
        "backgroundOperationStateCode",
        "backgroundOperationStatusCode",
    ]);
    if status == 31 {
        expected.extend([
            "backgroundOperationErrorCode",
            "backgroundOperationErrorMessage",
        ]);
    }
    assert_eq!(keys, expected, "exactly the keys of SPEC §9: {body}");
    body
}

/// Sleeps a little, so a duplicate would have time to arrive.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_form_delivers_exactly_one_signed_post_on_success() {
    let s = Server::start(PERMISSIVE);
    let r = Receiver::start(vec![]).await;
    let mut submitted = Vec::new();
    for (n, form) in FORMS.into_iter().enumerate() {
        let url = r.url(&format!("/hook/{n}?sas=token%3D1"));
        let (id, location) = submit(&s, form, "bgops_Echo", json!({"Text": "secret"}), &url).await;
        submitted.push((n, id, location));
    }
    r.wait_for(FORMS.len(), WAIT).await;
    settle().await;
    let seen_after = r.seen();
    assert_eq!(seen_after.len(), FORMS.len(), "exactly one POST each");
    for (n, id, location) in submitted {
        let path = format!("/hook/{n}");
        let got: Vec<_> = seen_after.iter().filter(|g| g.path == path).collect();
        assert_eq!(got.len(), 1, "form {n}");
        let body = check_callback(got[0], &id, &location, 30);
        assert!(!body.to_string().contains("secret"), "never the outputs");
        let rows = receiver::deliveries(&s.db, &id);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].0.as_str(), rows[0].1), ("delivered", 1));
        assert_eq!(got[0].headers["webhook-id"], rows[0].3.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_operation_sends_the_error_keys() {
    let s = Server::start(PERMISSIVE);
    let r = Receiver::start(vec![]).await;
    for (n, form) in FORMS.into_iter().enumerate() {
        let url = r.url(&format!("/failed/{n}"));
        let params = json!({"FailTimes": 5, "Message": "It broke.", "Permanent": true});
        let (id, location) = submit(&s, form, "bgops_Fail", params, &url).await;
        let status = s.wait_terminal(&id, WAIT).await;
        assert_eq!(status["backgroundOperationStatusCode"], 31);
        let seen = r.wait_for(n + 1, WAIT).await;
        let got = seen
            .iter()
            .find(|g| g.path == format!("/failed/{n}"))
            .unwrap();
        let body = check_callback(got, &id, &location, 31);
        assert_eq!(
            body["backgroundOperationErrorCode"],
            status["backgroundOperationErrorCode"]
        );
        assert_eq!(body["backgroundOperationErrorMessage"], "It broke.");
    }
    settle().await;
    assert_eq!(r.seen().len(), FORMS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceled_operation_sends_canceled_without_error_keys() {
    let s = Server::start(PERMISSIVE);
    let r = Receiver::start(vec![]).await;
    for (n, form) in FORMS.into_iter().enumerate() {
        let url = r.url(&format!("/canceled/{n}"));
        let (id, location) =
            submit(&s, form, "bgops_Delay", json!({"DelayMs": 20_000}), &url).await;
        s.wait_status(&id, 20, WAIT).await;
        let resp = s
            .req(Method::DELETE, &format!("/api/backgroundoperation/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let seen = r.wait_for(n + 1, WAIT).await;
        let got = seen
            .iter()
            .find(|g| g.path == format!("/canceled/{n}"))
            .unwrap();
        check_callback(got, &id, &location, 32);
    }
    settle().await;
    assert_eq!(r.seen().len(), FORMS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_answering_503_twice_gets_it_on_the_third_attempt() {
    let s = Server::start(PERMISSIVE);
    let r = Receiver::start(vec![Answer::Status(503, None), Answer::Status(503, None)]).await;
    let (id, location) = submit(
        &s,
        Form::PreferSpaced,
        "bgops_Echo",
        json!({"Text": "x"}),
        &r.url("/flaky"),
    )
    .await;
    let seen = r.wait_for(3, WAIT).await;
    let row = receiver::wait_delivery_done(&s.db, &id, WAIT).await;
    settle().await;
    assert_eq!(
        r.seen().len(),
        3,
        "delivered on the third attempt, then never again"
    );
    assert_eq!(row.0, "delivered");
    assert_eq!(row.1, 3, "three attempts recorded");
    assert_eq!(row.2.as_deref(), Some("HTTP 503 Service Unavailable"));
    for got in &seen {
        check_callback(got, &id, &location, 30);
        assert_eq!(
            got.headers["webhook-id"], seen[0].headers["webhook-id"],
            "webhook-id is stable across retries"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_a_429_is_honoured() {
    let s = Server::start(PERMISSIVE);
    let r = Receiver::start(vec![Answer::Status(429, Some("1"))]).await;
    let (id, _) = submit(&s, Form::Header, "bgops_Echo", json!({}), &r.url("/busy")).await;
    let seen = r.wait_for(2, WAIT).await;
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "the second attempt waited for Retry-After: 1 (waited {gap:?})"
    );
    let row = receiver::wait_delivery_done(&s.db, &id, WAIT).await;
    assert_eq!((row.0.as_str(), row.1), ("delivered", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_answer_gives_up_at_once() {
    let s = Server::start(PERMISSIVE);
    let r = Receiver::start(vec![Answer::Status(410, None)]).await;
    let (id, _) = submit(
        &s,
        Form::PreferTight,
        "bgops_Echo",
        json!({}),
        &r.url("/gone"),
    )
    .await;
    let row = receiver::wait_delivery_done(&s.db, &id, WAIT).await;
    assert_eq!(row.0, "failed");
    assert_eq!(row.1, 1);
    assert_eq!(row.2.as_deref(), Some("HTTP 410 Gone"));
    settle().await;
    assert_eq!(r.seen().len(), 1, "never retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_for_a_while_gets_it_when_it_comes_back() {
    let s = Server::start(PERMISSIVE);
    let port = receiver::closed_port();
    let url = format!("http://127.0.0.1:{port}/late");
    let (id, location) = submit(&s, Form::PreferSpaced, "bgops_Echo", json!({}), &url).await;
    s.wait_terminal(&id, WAIT).await;
    // Let a few attempts fail against the closed port. `attempts` counts the attempts started,
    // the last of which may still be connecting: four started means at least three failed (an
    // attempt starts only once the one before it ended), so the one that reaches the receiver
    // is the fourth or later.
    let start = std::time::Instant::now();
    loop {
        let rows = receiver::deliveries(&s.db, &id);
        if rows.first().is_some_and(|r| r.1 >= 4 && r.2.is_some()) {
            assert_eq!(rows[0].0, "pending", "still being retried");
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "no failed attempts recorded: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = Receiver::start_on(port, vec![]).await;
    let seen = r.wait_for(1, WAIT).await;
    check_callback(&seen[0], &id, &location, 30);
    let row = receiver::wait_delivery_done(&s.db, &id, WAIT).await;
    assert_eq!(row.0, "delivered");
    assert!(row.1 >= 4, "attempts: {}", row.1);
    settle().await;
    assert_eq!(r.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_completion_still_delivers_after_restart() {
    let mut s = Server::start(PERMISSIVE);
    // `s` keeps the database's directory alive until the end.
    let db = s.db.clone();
    let port = receiver::closed_port();
    let url = format!("http://127.0.0.1:{port}/after-crash");
    let (id, location) = submit(&s, Form::Execute, "bgops_Echo", json!({"Text": "x"}), &url).await;
    s.wait_terminal(&id, WAIT).await;
    s.kill9();
    let rows = receiver::deliveries(&db, &id);
    assert_eq!(
        rows.len(),
        1,
        "the outbox row was written with the terminal state"
    );
    assert_eq!(
        rows[0].0, "pending",
        "nothing was delivered before the crash"
    );

    let r = Receiver::start_on(port, vec![]).await;
    let restarted = Server::start_on(&db, PERMISSIVE);
    let seen = r.wait_for(1, WAIT).await;
    check_callback(&seen[0], &id, &location, 30);
    let row = receiver::wait_delivery_done(&db, &id, WAIT).await;
    assert_eq!(row.0, "delivered");
    settle().await;
    assert_eq!(r.seen().len(), 1);
    drop(restarted);
    drop(s);
}

/// Every validation error of SPEC §3 and §9, in every form it can take; none leaves a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_callback_validation_error_leaves_no_row() {
    // The default rules: https only, no internal addresses.
    let s = Server::start(common::FAST);
    let echo = json!({"Text": "x"});
    let post = |path: &str| s.req(Method::POST, &format!("/api/data/v9.2/{path}"));
    let execute = |callback: Value| {
        post("ExecuteBackgroundOperation").json(&json!({
            "Request": {"RequestName": "bgops_Echo", "Parameters": {"Text": "x"}},
            "CallbackUri": callback,
        }))
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        (
            "Prefer callback without respond-async",
            post("bgops_Echo")
                .header("Prefer", "odata.callback; url=\"https://example.com/x\"")
                .json(&echo),
            "0x80097326",
        ),
        (
            "header callback without respond-async",
            post("bgops_Echo")
                .header("x-ms-dyn-callback-url", "https://example.com/x")
                .json(&echo),
            "0x80097326",
        ),
        (
            "Prefer and header",
            post("bgops_Echo")
                .header(
                    "Prefer",
                    "respond-async, odata.callback; url=\"https://example.com/x\"",
                )
                .header("x-ms-dyn-callback-url", "https://example.com/y")
                .json(&echo),
            "0x8009732d",
        ),
        (
            "two Prefer callbacks",
            post("bgops_Echo")
                .header(
                    "Prefer",
                    "respond-async, odata.callback; url=\"https://example.com/x\", odata.callback; url=\"https://example.com/y\"",
                )
                .json(&echo),
            "0x8009732d",
        ),
        (
            "two callback headers",
            post("bgops_Echo")
                .header("Prefer", "respond-async")
                .header("x-ms-dyn-callback-url", "https://example.com/x")
                .header("x-ms-dyn-callback-url", "https://example.com/y")
                .json(&echo),
            "0x8009732d",
        ),
        (
            "CallbackUri and header",
            execute(json!("https://example.com/x"))
                .header("x-ms-dyn-callback-url", "https://example.com/y"),
            "0x8009732d",
        ),
        (
            "CallbackUri and Prefer",
            execute(json!("https://example.com/x")).header(
                "Prefer",
                "respond-async, odata.callback; url=\"https://example.com/y\"",
            ),
            "0x8009732d",
        ),
        (
            "http in Prefer",
            post("bgops_Echo")
                .header(
                    "Prefer",
                    "respond-async, odata.callback; url=\"http://example.com/x\"",
                )
                .json(&echo),
            "0x80097328",
        ),
        (
            "http in header",
            post("bgops_Echo")
                .header("Prefer", "respond-async")
                .header("x-ms-dyn-callback-url", "http://example.com/x")
                .json(&echo),
            "0x80097328",
        ),
        (
            "http in CallbackUri",
            execute(json!("http://example.com/x")),
            "0x80097328",
        ),
        (
            "ftp in CallbackUri",
            execute(json!("ftp://example.com/x")),
            "0x80097328",
        ),
        (
            "# in Prefer",
            post("bgops_Echo")
                .header(
                    "Prefer",
                    "respond-async,odata.callback;url=\"https://example.com/x?a=1#b\"",
                )
                .json(&echo),
            "0x80097329",
        ),
        (
            "# in header",
            post("bgops_Echo")
                .header("Prefer", "respond-async")
                .header("x-ms-dyn-callback-url", "https://example.com/x?a=1#b")
                .json(&echo),
            "0x80097329",
        ),
        (
            "# in CallbackUri",
            execute(json!("https://example.com/x?a=1#b")),
            "0x80097329",
        ),
        (
            "loopback in Prefer",
            post("bgops_Echo")
                .header(
                    "Prefer",
                    "respond-async, odata.callback; url=\"https://127.0.0.1/x\"",
                )
                .json(&echo),
            "0x80040203",
        ),
        (
            "loopback name in header",
            post("bgops_Echo")
                .header("Prefer", "respond-async")
                .header("x-ms-dyn-callback-url", "https://localhost/x")
                .json(&echo),
            "0x80040203",
        ),
        (
            "private address in CallbackUri",
            execute(json!("https://10.0.0.1/x")),
            "0x80040203",
        ),
        (
            "not a URL",
            execute(json!("callback please")),
            "0x80040203",
        ),
        (
            "CallbackUri not a string",
            execute(json!(42)),
            "0x8009732f",
        ),
    ];
    for (what, rb, code) in cases {
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
    }
    assert_eq!(receiver::row_counts(&s.db), (0, 0), "no row was stored");
}

/// The messages of SPEC §9 and the Dataverse catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_errors_carry_the_dataverse_messages() {
    let s = Server::start(common::FAST);
    let s = &s;
    let message = |prefer: &'static str| async move {
        let resp = s
            .req(Method::POST, "/api/data/v9.2/bgops_Echo")
            .header("Prefer", prefer)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        body["error"]["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        message("respond-async, odata.callback; url=\"http://example.com/x\"").await,
        "Provided CallbackUri does not follow https scheme."
    );
    assert_eq!(
        message("respond-async, odata.callback; url=\"https://example.com/x?a#b\"").await,
        "Symbol # was used in callback URL query string which could lead to injection attacks."
    );
    assert_eq!(
        message("respond-async, odata.callback; url=\"https://127.0.0.1/x\"").await,
        "Callback URL resolves to a private or loopback address."
    );
    assert_eq!(
        message("odata.callback; url=\"https://example.com/x\"").await,
        "The callback preference cannot be honored without respond-async preference."
    );
}

/// Without a callback the 202 keeps its shape: no body, `Preference-Applied: respond-async`,
/// and nothing in the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_callback_no_delivery() {
    let s = Server::start(PERMISSIVE);
    let resp = s
        .req(Method::POST, "/api/data/v9.2/bgops_Echo")
        .header("Prefer", "respond-async")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers()["preference-applied"], "respond-async");
    let id = resp.headers()["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(resp.bytes().await.unwrap().is_empty());
    s.wait_terminal(&id, WAIT).await;
    settle().await;
    assert!(receiver::deliveries(&s.db, &id).is_empty());
}
