//! Submission over the Web API, black-box: background and synchronous requests, the SDK-message
//! form, validation before anything is stored, authentication, body limits and malformed input.

mod common;

use std::path::Path;

use common::Server;
use reqwest::header::HeaderMap;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::time::Duration;

const ECHO_ID_FIELD: &str = "x-ms-dyn-backgroundoperationid";

/// Rows in the backgroundoperation table, read straight from the SQLite file.
fn row_count(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open sqlite read-only");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT COUNT(*) FROM backgroundoperation", [], |r| r.get(0))
        .expect("count rows")
}

/// `Content-Type: application/json; odata.metadata=minimal` and `OData-Version: 4.0`.
fn assert_json_headers(h: &HeaderMap, what: &str) {
    let ct = h
        .get("content-type")
        .unwrap_or_else(|| panic!("{what}: no Content-Type"))
        .to_str()
        .unwrap();
    assert_eq!(
        ct, "application/json; odata.metadata=minimal",
        "{what}: Content-Type"
    );
    let v = h
        .get("odata-version")
        .unwrap_or_else(|| panic!("{what}: no OData-Version"))
        .to_str()
        .unwrap();
    assert_eq!(v, "4.0", "{what}: OData-Version");
}

/// A lower-case, hyphenated GUID.
fn assert_guid(s: &str) {
    assert_eq!(s.len(), 36, "not a hyphenated GUID: {s}");
    assert_eq!(s, s.to_lowercase(), "GUID not lower-case: {s}");
    let u = uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("not a GUID: {s}: {e}"));
    assert_eq!(u.hyphenated().to_string(), s);
}

/// Asserts the Dataverse error shape with a lower-case hex code; returns (code, message).
async fn error_shape(resp: Response, status: u16, what: &str) -> (String, String) {
    let got = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: HTTP status; body: {text}");
    assert_json_headers(&headers, what);
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {text}"));
    let obj = body.as_object().expect("error body is an object");
    assert_eq!(obj.len(), 1, "{what}: only `error` at top level: {body}");
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.code: {body}"))
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.message: {body}"))
        .to_owned();
    assert!(
        code.len() == 10
            && code.starts_with("0x")
            && code[2..]
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{what}: code is not lower-case 0x-hex: {code}"
    );
    (code, message)
}

/// Asserts an error with the given status and code; returns the message.
async fn expect_error(resp: Response, status: u16, code: &str, what: &str) -> String {
    let (got, message) = error_shape(resp, status, what).await;
    assert_eq!(got, code, "{what}: error code (message: {message})");
    message
}

fn api(name: &str) -> String {
    format!("/api/data/v9.2/{name}")
}

/// A background submission request (no body yet).
fn post_async(s: &Server, name: &str) -> reqwest::RequestBuilder {
    s.req(Method::POST, &api(name))
        .header("Prefer", "respond-async")
}

// ---------------------------------------------------------------------------------------------
// Background submission

async fn assert_accepted(s: &Server, resp: Response) -> String {
    assert_eq!(resp.status(), 202, "submit: {:?}", resp.headers());
    let h = resp.headers().clone();
    let id = h
        .get(ECHO_ID_FIELD)
        .expect("x-ms-dyn-backgroundoperationid")
        .to_str()
        .unwrap()
        .to_owned();
    assert_guid(&id);
    assert_eq!(
        h.get("location").expect("Location").to_str().unwrap(),
        format!("{}/api/backgroundoperation/{id}", s.base)
    );
    assert_eq!(
        h.get("preference-applied")
            .expect("Preference-Applied")
            .to_str()
            .unwrap(),
        "respond-async"
    );
    assert!(
        h.get("odata-entityid").is_none(),
        "a 202 carries no OData-EntityId: {h:?}"
    );
    let body = resp.bytes().await.unwrap();
    assert!(body.is_empty(), "a 202 has no body: {body:?}");
    id
}

#[tokio::test]
async fn background_submit_answers_202_with_location_and_id() {
    let s = Server::start(common::FAST);
    let resp = post_async(&s, "bgops_Echo")
        .json(&json!({"Text": "hi", "Number": 7, "Flag": true}))
        .send()
        .await
        .unwrap();
    let id = assert_accepted(&s, resp).await;
    assert_eq!(row_count(&s.db), 1);
    let body = s.wait_terminal(&id, Duration::from_secs(10)).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 30,
               "Text": "hi", "Number": 7, "Flag": true})
    );
}

#[tokio::test]
async fn background_submit_with_extra_preferences() {
    let s = Server::start(common::FAST);
    for prefer in [
        "respond-async,odata.include-annotations=\"*\"",
        "odata.include-annotations=\"*\", respond-async",
        "respond-async, odata.maxpagesize=10",
    ] {
        let resp = s
            .req(Method::POST, &api("bgops_Echo"))
            .header("Prefer", prefer)
            .json(&json!({"Text": "p"}))
            .send()
            .await
            .unwrap();
        let id = assert_accepted(&s, resp).await;
        let body = s.wait_terminal(&id, Duration::from_secs(10)).await;
        assert_eq!(
            body["backgroundOperationStatusCode"], 30,
            "{prefer}: {body}"
        );
        assert_eq!(body["Text"], "p");
    }
    assert_eq!(row_count(&s.db), 3);
}

// ---------------------------------------------------------------------------------------------
// Synchronous execution

#[tokio::test]
async fn synchronous_echo_returns_only_the_properties_sent() {
    let s = Server::start(common::FAST);
    let context = format!(
        "{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.bgops_EchoResponse",
        s.base
    );
    let resp = s
        .req(Method::POST, &api("bgops_Echo"))
        .json(&json!({"Text": "hello", "Number": -42, "Flag": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_json_headers(resp.headers(), "sync echo");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"@odata.context": context, "Text": "hello", "Number": -42, "Flag": false})
    );

    let resp = s
        .req(Method::POST, &api("bgops_Echo"))
        .json(&json!({"Text": "only"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"@odata.context": context, "Text": "only"}));
}

#[tokio::test]
async fn synchronous_fail_is_a_plugin_error() {
    let s = Server::start(common::FAST);
    let resp = s
        .req(Method::POST, &api("bgops_Fail"))
        .json(&json!({"FailTimes": 1, "Message": "it broke"}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 400, "0x80040265", "sync fail").await;
    assert_eq!(msg, "it broke");

    let resp = s
        .req(Method::POST, &api("bgops_Fail"))
        .json(&json!({"FailTimes": 1, "ErrorCode": -2147220970, "Message": "custom code"}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 400, "0x80040216", "sync fail with ErrorCode").await;
    assert_eq!(msg, "custom code");
}

// ---------------------------------------------------------------------------------------------
// ExecuteBackgroundOperation

#[tokio::test]
async fn execute_background_operation_message() {
    let s = Server::start(common::FAST);
    let resp = s
        .req(Method::POST, &api("ExecuteBackgroundOperation"))
        .json(&json!({"Request": {"RequestName": "bgops_Echo", "Parameters": {"Text": "x"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_json_headers(resp.headers(), "ExecuteBackgroundOperation");
    let body: Value = resp.json().await.unwrap();
    let id = body["BackgroundOperationId"]
        .as_str()
        .unwrap_or_else(|| panic!("no BackgroundOperationId: {body}"))
        .to_owned();
    assert_guid(&id);
    assert_eq!(
        body["Location"]
            .as_str()
            .unwrap_or_else(|| panic!("no Location: {body}")),
        format!("{}/api/backgroundoperation/{id}", s.base)
    );
    let done = s.wait_terminal(&id, Duration::from_secs(10)).await;
    assert_eq!(
        done,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 30, "Text": "x"})
    );
    assert_eq!(row_count(&s.db), 1);
}

#[tokio::test]
async fn execute_background_operation_unknown_request_name() {
    let s = Server::start(common::FAST);
    let resp = s
        .req(Method::POST, &api("ExecuteBackgroundOperation"))
        .json(&json!({"Request": {"RequestName": "bgops_Nope", "Parameters": {}}}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 404, "0x8006088a", "unknown RequestName").await;
    assert!(msg.contains("bgops_Nope"), "{msg}");
    assert_eq!(row_count(&s.db), 0);
}

// ---------------------------------------------------------------------------------------------
// Validation: nothing is stored

#[tokio::test]
async fn unknown_api_is_404_and_stores_nothing() {
    let s = Server::start(common::FAST);
    for prefer in [Some("respond-async"), None] {
        let mut rb = s.req(Method::POST, &api("bgops_Nope"));
        if let Some(p) = prefer {
            rb = rb.header("Prefer", p);
        }
        let resp = rb.json(&json!({"Text": "x"})).send().await.unwrap();
        let msg = expect_error(resp, 404, "0x8006088a", "unknown api").await;
        assert_eq!(msg, "Resource not found for the segment 'bgops_Nope'.");
    }
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn undefined_parameter_is_rejected() {
    let s = Server::start(common::FAST);
    let resp = post_async(&s, "bgops_Echo")
        .json(&json!({"Text": "x", "Nope": 1}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 400, "0x8009732e", "undefined parameter").await;
    assert_eq!(
        msg,
        "Parameter Nope is not defined on Custom API bgops_Echo."
    );
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn wrong_parameter_type_is_rejected() {
    let s = Server::start(common::FAST);
    let resp = post_async(&s, "bgops_Echo")
        .json(&json!({"Number": "x"}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 400, "0x8009732f", "wrong type").await;
    assert_eq!(
        msg,
        "Parameter Number on Custom API bgops_Echo should be of type Integer but provided type was String."
    );
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn missing_required_parameter_is_rejected() {
    let s = Server::start(common::FAST);
    let resp = post_async(&s, "bgops_Delay")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 400, "0x80040200", "missing DelayMs").await;
    assert!(
        msg.contains("DelayMs"),
        "message names the parameter: {msg}"
    );
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn callback_without_respond_async_is_rejected() {
    let s = Server::start(common::FAST);
    let resp = s
        .req(Method::POST, &api("bgops_Echo"))
        .header("Prefer", "odata.callback; url=\"https://example.com/x\"")
        .json(&json!({"Text": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(
        resp,
        400,
        "0x80097326",
        "Prefer callback without respond-async",
    )
    .await;

    let resp = s
        .req(Method::POST, &api("bgops_Echo"))
        .header("x-ms-dyn-callback-url", "https://example.com/x")
        .json(&json!({"Text": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(
        resp,
        400,
        "0x80097326",
        "x-ms-dyn-callback-url without respond-async",
    )
    .await;
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn callback_given_twice_is_rejected() {
    let s = Server::start(common::FAST);
    let resp = s
        .req(Method::POST, &api("bgops_Echo"))
        .header(
            "Prefer",
            "respond-async, odata.callback; url=\"https://example.com/x\"",
        )
        .header("x-ms-dyn-callback-url", "https://example.com/y")
        .json(&json!({"Text": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, "0x8009732d", "callback twice").await;
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn callback_url_rules() {
    let s = Server::start(common::FAST);
    let cases: &[(Option<&str>, Option<&str>, &str)] = &[
        // (Prefer, x-ms-dyn-callback-url, expected code)
        (
            Some("respond-async, odata.callback; url=\"http://example.com/x\""),
            None,
            "0x80097328",
        ),
        (
            Some("respond-async,odata.callback;url=\"http://example.com\""),
            None,
            "0x80097328",
        ),
        (
            Some("respond-async"),
            Some("http://example.com/x"),
            "0x80097328",
        ),
        (
            Some("respond-async, odata.callback; url=\"https://example.com/x?a=1#b\""),
            None,
            "0x80097329",
        ),
        (
            Some("respond-async"),
            Some("https://example.com/x?a=1#b"),
            "0x80097329",
        ),
        // A host resolving to a loopback address (more in callbacks_ssrf.rs).
        (
            Some("respond-async, odata.callback; url=\"https://localhost/x\""),
            None,
            "0x80040203",
        ),
        (
            Some("respond-async,odata.callback;url=\"https://localhost/x\""),
            None,
            "0x80040203",
        ),
        (
            Some("respond-async"),
            Some("https://localhost/x"),
            "0x80040203",
        ),
    ];
    for (prefer, header, code) in cases {
        let mut rb = s.req(Method::POST, &api("bgops_Echo"));
        if let Some(p) = prefer {
            rb = rb.header("Prefer", *p);
        }
        if let Some(h) = header {
            rb = rb.header("x-ms-dyn-callback-url", *h);
        }
        let resp = rb.json(&json!({"Text": "x"})).send().await.unwrap();
        expect_error(
            resp,
            400,
            code,
            &format!("Prefer {prefer:?} header {header:?}"),
        )
        .await;
    }
    assert_eq!(row_count(&s.db), 0);
}

// ---------------------------------------------------------------------------------------------
// Authentication

async fn expect_401(resp: Response, what: &str) {
    let www = resp
        .headers()
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.starts_with("Bearer"), "{what}: WWW-Authenticate: {www}");
    error_shape(resp, 401, what).await;
}

#[tokio::test]
async fn every_endpoint_but_health_needs_a_token() {
    let s = Server::start(common::FAST);
    // A real row, so a 401 cannot be confused with a 404.
    let id = s.submit("bgops_Echo", json!({"Text": "x"})).await;
    s.wait_terminal(&id, Duration::from_secs(10)).await;

    let cancel = json!({"backgroundoperationstatecode": 2, "backgroundoperationstatuscode": 22});
    let targets: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, api("bgops_Echo"), Some(json!({"Text": "x"}))),
        (
            Method::POST,
            api("ExecuteBackgroundOperation"),
            Some(json!({"Request": {"RequestName": "bgops_Echo", "Parameters": {"Text": "x"}}})),
        ),
        (Method::GET, format!("/api/backgroundoperation/{id}"), None),
        (
            Method::DELETE,
            format!("/api/backgroundoperation/{id}"),
            None,
        ),
        (
            Method::GET,
            api(&format!("backgroundoperations({id})")),
            None,
        ),
        (
            Method::PATCH,
            api(&format!("backgroundoperations({id})")),
            Some(cancel),
        ),
    ];
    for (method, path, body) in targets {
        for auth in [
            None,
            Some("Bearer wrong-token".to_owned()),
            Some("Bearer ".to_owned()),
            Some(format!("Basic {}", "dGVzdC1hZG1pbi10b2tlbjo=")),
            Some(common::TOKEN.to_owned()),
        ] {
            let token = auth.clone();
            let mut rb = s.client.request(method.clone(), s.url(&path));
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            if method == Method::POST {
                rb = rb.header("Prefer", "respond-async");
            }
            if method == Method::PATCH {
                rb = rb.header("If-Match", "*");
            }
            if let Some(b) = &body {
                rb = rb.json(b);
            }
            let resp = rb.send().await.unwrap();
            expect_401(resp, &format!("{method} {path} token {token:?}")).await;
        }
    }
    // Nothing was submitted and the row was not canceled.
    assert_eq!(row_count(&s.db), 1);
    let (st, _, body) = s.status(&id).await;
    assert_eq!(st, 200);
    assert_eq!(body["backgroundOperationStatusCode"], 30);

    let h = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(h.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Limits and malformed input

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let s = Server::start(&["--retry-base-delay", "50ms", "--max-body-bytes", "1000"]);
    let big = "a".repeat(2000);
    for prefer in [Some("respond-async"), None] {
        let mut rb = s.req(Method::POST, &api("bgops_Echo"));
        if let Some(p) = prefer {
            rb = rb.header("Prefer", p);
        }
        let resp = rb.json(&json!({"Text": big})).send().await.unwrap();
        expect_error(resp, 413, "0x80044185", "body over limit").await;
    }
    // Under the limit still works.
    let id = s.submit("bgops_Echo", json!({"Text": "small"})).await;
    s.wait_terminal(&id, Duration::from_secs(10)).await;
    assert_eq!(row_count(&s.db), 1);
}

#[tokio::test]
async fn malformed_bodies_are_400_or_415() {
    let s = Server::start(common::FAST);
    let send = |body: &'static str, ct: &'static str| {
        post_async(&s, "bgops_Echo")
            .header("Content-Type", ct)
            .body(body)
            .send()
    };
    let resp = send("{\"Text\":", "application/json").await.unwrap();
    expect_error(resp, 400, "0x80048d19", "malformed JSON").await;
    let resp = send("{not json}", "application/json").await.unwrap();
    expect_error(resp, 400, "0x80048d19", "malformed JSON 2").await;
    let resp = send("[{\"Text\":\"x\"}]", "application/json")
        .await
        .unwrap();
    error_shape(resp, 400, "JSON array body").await;
    let resp = send("{\"Text\":\"x\"}", "text/plain").await.unwrap();
    error_shape(resp, 415, "text/plain body").await;
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn malformed_ids_are_400() {
    let s = Server::start(common::FAST);
    let cancel = json!({"backgroundoperationstatecode": 2, "backgroundoperationstatuscode": 22});
    for (method, path) in [
        (
            Method::GET,
            "/api/backgroundoperation/not-a-guid".to_owned(),
        ),
        (
            Method::DELETE,
            "/api/backgroundoperation/not-a-guid".to_owned(),
        ),
        (Method::GET, api("backgroundoperations(not-a-guid)")),
        (Method::PATCH, api("backgroundoperations(not-a-guid)")),
    ] {
        let mut rb = s.req(method.clone(), &path);
        if method == Method::PATCH {
            rb = rb.header("If-Match", "*").json(&cancel);
        }
        let resp = rb.send().await.unwrap();
        expect_error(resp, 400, "0x80060888", &format!("{method} {path}")).await;
    }
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn unknown_path_is_404_error_shape() {
    let s = Server::start(common::FAST);
    for path in ["/nope", "/api/nope/deeper", "/api/backgroundoperation"] {
        let resp = s.req(Method::GET, path).send().await.unwrap();
        error_shape(resp, 404, path).await;
    }
}

/// Odd inputs: never a 5xx, always the error shape, a row only for an accepted submission.
#[tokio::test]
async fn odd_inputs_never_answer_500() {
    let s = Server::start(common::FAST);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"".to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"\"text\"".to_vec()),
        ("application/json", b"42".to_vec()),
        ("application/json", b"{\"Number\": 1e30}".to_vec()),
        ("application/json", b"{\"Number\": 2147483648}".to_vec()),
        ("application/json", b"{\"Number\": 1.5}".to_vec()),
        (
            "application/json",
            b"{\"Number\": null, \"Flag\": \"true\"}".to_vec(),
        ),
        (
            "application/json",
            b"{\"Text\": {\"nested\": [1,2]}}".to_vec(),
        ),
        (
            "application/json",
            b"{\"Text\": \"a\", \"Text\": 1}".to_vec(),
        ),
        (
            "application/json",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
        ),
        ("application/xml", b"<a/>".to_vec()),
        ("application/json; charset=utf-8", b"{\"Flag\": 1}".to_vec()),
    ];
    let mut accepted = 0;
    for (ct, body) in bodies {
        let resp = post_async(&s, "bgops_Echo")
            .header("Content-Type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let what = format!("{ct} {:?}", String::from_utf8_lossy(&body));
        assert!(status < 500, "{what}: {status}");
        assert!(status == 202 || status >= 400, "{what}: {status}");
        if status == 202 {
            accepted += 1;
        } else {
            error_shape(resp, status, &what).await;
        }
    }
    assert_eq!(row_count(&s.db), accepted);
    // Odd ids and segments.
    for (method, path) in [
        (Method::GET, "/api/backgroundoperation/%00".to_owned()),
        (
            Method::GET,
            "/api/backgroundoperation/00000000-0000-0000-0000-00000000000g".to_owned(),
        ),
        (Method::DELETE, "/api/backgroundoperation/%7B%7D".to_owned()),
        (Method::GET, api("backgroundoperations()")),
        (Method::GET, api("backgroundoperations(')")),
        (
            Method::GET,
            api("backgroundoperations(00000000-0000-0000-0000-000000000000"),
        ),
        (Method::PUT, api("bgops_Echo")),
        (
            Method::DELETE,
            api("backgroundoperations(00000000-0000-0000-0000-000000000001)"),
        ),
        (
            Method::PUT,
            api("backgroundoperations(00000000-0000-0000-0000-000000000001)"),
        ),
        (Method::POST, api("backgroundoperations")),
    ] {
        let resp = s.req(method.clone(), &path).send().await.unwrap();
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{method} {path}: {status}");
        error_shape(resp, status, &format!("{method} {path}")).await;
    }
}

/// Absolute URLs follow the `Host` the client used.
#[tokio::test]
async fn location_follows_the_host_header() {
    let s = Server::start(common::FAST);
    let resp = post_async(&s, "bgops_Echo")
        .header("Host", "bgops.example.test:4321")
        .json(&json!({"Text": "h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.headers()[ECHO_ID_FIELD].to_str().unwrap().to_owned();
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        format!("http://bgops.example.test:4321/api/backgroundoperation/{id}")
    );

    let resp = s
        .req(Method::POST, &api("bgops_Echo"))
        .header("Host", "bgops.example.test:4321")
        .json(&json!({"Text": "h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        "http://bgops.example.test:4321/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.bgops_EchoResponse"
    );
}

/// `application/json; charset=utf-8` is JSON; bodiless GET and DELETE may carry
/// `Content-Type: application/json`.
#[tokio::test]
async fn content_type_variants_are_accepted() {
    let s = Server::start(common::FAST);
    let resp = post_async(&s, "bgops_Echo")
        .header("Content-Type", "application/json; charset=utf-8")
        .body("{\"Text\":\"é\"}")
        .send()
        .await
        .unwrap();
    let id = assert_accepted(&s, resp).await;
    let body = s.wait_terminal(&id, Duration::from_secs(10)).await;
    assert_eq!(body["Text"], "é");

    let resp = s
        .req(Method::GET, &format!("/api/backgroundoperation/{id}"))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = s
        .req(Method::GET, &api(&format!("backgroundoperations({id})")))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = s
        .req(Method::DELETE, &format!("/api/backgroundoperation/{id}"))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    // Terminal already: refused, but as a cancel, not as a bad request body.
    assert_eq!(
        expect_error(resp, 400, "0x80048408", "DELETE with Content-Type").await,
        "Canceling background operation is not allowed after it is in terminal state."
    );
}

/// A method a route does not serve is still an error in the Dataverse shape (with the JSON
/// headers), not an empty 405.
#[tokio::test]
async fn unsupported_methods_answer_the_error_shape() {
    let s = Server::start(common::FAST);
    let monitor = "/api/backgroundoperation/00000000-0000-0000-0000-000000000001";
    for (method, path) in [
        (Method::POST, "/health".to_owned()),
        (Method::PUT, monitor.to_owned()),
        (Method::PATCH, monitor.to_owned()),
        (Method::POST, monitor.to_owned()),
        (Method::POST, api("")),
    ] {
        let resp = s
            .req(method.clone(), &path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{method} {path}: {status}");
        error_shape(resp, status, &format!("{method} {path}")).await;
    }
    assert_eq!(row_count(&s.db), 0);
}
