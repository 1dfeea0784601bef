//! The long poll (SPEC §15): `Prefer: wait=N` on the status monitor answers as soon as the
//! operation is terminal, or after N seconds with its current state, with
//! `Preference-Applied: wait=N`; many waiters on one operation are answered together, also
//! when the operation ends on another node (PostgreSQL); a bad `wait` is a 400 in the
//! Dataverse error shape.

mod common;

use std::time::Duration;

use common::{expect_error, pg, Server, FAST};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A long poll of `id` with `Prefer: {prefer}` on `server`: status, headers and body.
async fn long_poll(
    server: &Server,
    id: &str,
    prefer: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = server
        .req(Method::GET, &format!("/api/backgroundoperation/{id}"))
        .header("Prefer", prefer)
        .send()
        .await
        .expect("long poll");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

fn applied(headers: &reqwest::header::HeaderMap) -> Option<&str> {
    headers
        .get("preference-applied")
        .map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_answers_when_the_operation_ends() {
    let server = Server::start(FAST);
    let id = server
        .submit("bgops_Delay", json!({ "DelayMs": 1500 }))
        .await;
    // One request, no polling: it can only see the end by waiting for it.
    let (status, headers, body) = long_poll(&server, &id, "wait=30").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["backgroundOperationStateCode"], 3, "{body}");
    assert_eq!(body["backgroundOperationStatusCode"], 30, "{body}");
    assert_eq!(body["DelayedMs"], 1500, "the outputs, typed: {body}");
    assert_eq!(applied(&headers), Some("wait=30"));
    assert!(
        headers.get("retry-after").is_none(),
        "terminal: no Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_times_out_with_the_current_state() {
    let server = Server::start(FAST);
    let id = server
        .submit("bgops_Delay", json!({ "DelayMs": 120000 }))
        .await;
    server.wait_status(&id, 20, Duration::from_secs(10)).await;
    let (status, headers, body) = long_poll(&server, &id, "wait=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["backgroundOperationStateCode"], 2, "{body}");
    assert_eq!(body["backgroundOperationStatusCode"], 20, "{body}");
    assert_eq!(applied(&headers), Some("wait=1"));
    assert!(headers.get("retry-after").is_some(), "still running");

    // A cancel from another request ends a waiting long poll with the Canceled state.
    let waiter = {
        let server_base = server.base.clone();
        let client = server.client.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let resp = client
                .get(format!("{server_base}/api/backgroundoperation/{id}"))
                .bearer_auth(common::TOKEN)
                .header("Prefer", "wait=60")
                .send()
                .await
                .unwrap();
            resp.json::<Value>().await.unwrap()
        })
    };
    let resp = server
        .req(Method::DELETE, &format!("/api/backgroundoperation/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = waiter.await.unwrap();
    assert_eq!(body["backgroundOperationStateCode"], 3, "{body}");
    assert_eq!(body["backgroundOperationStatusCode"], 32, "{body}");
}

/// A long poll woken by an end this node recorded answers from that end without reading the
/// row: its body must be exactly what a read of the row shows afterwards, whatever the end.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_answers_with_exactly_what_the_row_says_at_the_end() {
    let server = Server::start(FAST);
    let cases = [
        // Succeeded, with typed outputs.
        ("bgops_Delay", json!({ "DelayMs": 800 })),
        // Retried twice (each retry wakes the waiter to read), then Succeeded.
        ("bgops_Fail", json!({ "FailTimes": 2 })),
        // Failed for good after the retries, with the message given.
        (
            "bgops_Fail",
            json!({ "FailTimes": 10, "Message": "still \"broken\", ünïcode" }),
        ),
    ];
    for (api, input) in cases {
        let id = server.submit(api, input.clone()).await;
        let (status, _, waited) = long_poll(&server, &id, "wait=30").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            waited["backgroundOperationStateCode"], 3,
            "{api} {input}: {waited}"
        );
        let (_, _, read) = server.status(&id).await;
        assert_eq!(
            waited, read,
            "{api} {input}: the long poll's answer and the row"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn many_long_polls_on_one_operation_are_answered_together() {
    let server = Server::start(FAST);
    let id = server
        .submit("bgops_Delay", json!({ "DelayMs": 3000 }))
        .await;
    let waiters: Vec<_> = (0..200)
        .map(|_| {
            let req = server
                .req(Method::GET, &format!("/api/backgroundoperation/{id}"))
                .header("Prefer", "wait=60");
            tokio::spawn(async move {
                let resp = req.send().await.expect("long poll");
                assert_eq!(resp.status(), StatusCode::OK);
                resp.json::<Value>().await.unwrap()
            })
        })
        .collect();
    for w in waiters {
        let body = w.await.unwrap();
        assert_eq!(body["backgroundOperationStatusCode"], 30, "{body}");
        assert_eq!(body["DelayedMs"], 3000, "{body}");
    }
    // The server still answers a plain poll after its waiters left.
    let (status, _, body) = server.status(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["backgroundOperationStatusCode"], 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_operation_answers_at_once_and_long_waits_are_capped() {
    let server = Server::start(FAST);
    let id = server.submit("bgops_Echo", json!({ "Text": "hi" })).await;
    server.wait_terminal(&id, Duration::from_secs(10)).await;
    // A terminal operation answers at once (a 3600 s wait would time the test out otherwise),
    // and says which wait was honoured: 60 s at most.
    let (status, headers, body) = long_poll(&server, &id, "wait=3600").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["Text"], "hi");
    assert_eq!(applied(&headers), Some("wait=60"));
    // With other preferences in the same header.
    let (_, headers, _) = long_poll(&server, &id, "return=minimal, wait=5").await;
    assert_eq!(applied(&headers), Some("wait=5"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_hangs_up_leaves_the_server_serving() {
    let server = Server::start(FAST);
    let id = server
        .submit("bgops_Delay", json!({ "DelayMs": 120000 }))
        .await;
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for _ in 0..20 {
        let r = impatient
            .get(server.url(&format!("/api/backgroundoperation/{id}")))
            .bearer_auth(common::TOKEN)
            .header("Prefer", "wait=60")
            .send()
            .await;
        assert!(r.is_err(), "the client gave up before the server answered");
    }
    let (status, _, body) = long_poll(&server, &id, "wait=0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["backgroundOperationStateCode"], 2, "{body}");
    let resp = server
        .req(Method::DELETE, &format!("/api/backgroundoperation/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_waits_are_refused_in_the_error_shape() {
    let server = Server::start(FAST);
    let id = server.submit("bgops_Echo", json!({ "Text": "hi" })).await;
    for bad in ["wait=abc", "wait=-1", "wait=", "wait=1.5", "wait"] {
        let resp = server
            .req(Method::GET, &format!("/api/backgroundoperation/{id}"))
            .header("Prefer", bad)
            .send()
            .await
            .unwrap();
        let message = expect_error(resp, 400, Some("0x80040203"), bad).await;
        assert!(message.contains("wait="), "{bad}: {message}");
    }
    // An unknown operation is a 404 at once, waiting or not.
    let unknown = uuid::Uuid::new_v4().to_string();
    let resp = server
        .req(Method::GET, &format!("/api/backgroundoperation/{unknown}"))
        .header("Prefer", "wait=60")
        .send()
        .await
        .unwrap();
    expect_error(resp, 404, Some("0x80040217"), "unknown id").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_on_one_node_sees_the_end_on_another() {
    let schema = pg::Schema::new().await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--lease", "2s", "--retry-base-delay", "50ms"];
    let a = Server::start_url(&schema.url, dir.path(), &flags);
    let b = Server::start_url(&schema.url, dir.path(), &flags);
    let id = a.submit("bgops_Delay", json!({ "DelayMs": 1500 })).await;
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let req = b
                .req(Method::GET, &format!("/api/backgroundoperation/{id}"))
                .header("Prefer", "wait=60");
            tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() })
        })
        .collect();
    for w in waiters {
        let body = w.await.unwrap();
        assert_eq!(body["backgroundOperationStatusCode"], 30, "{body}");
        assert_eq!(body["DelayedMs"], 1500, "{body}");
    }
    // And a cancel sent to A ends a long poll waiting on B.
    let id = a.submit("bgops_Delay", json!({ "DelayMs": 120000 })).await;
    let waiter = {
        let req = b
            .req(Method::GET, &format!("/api/backgroundoperation/{id}"))
            .header("Prefer", "wait=60");
        tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    a.wait_status(&id, 20, Duration::from_secs(10)).await;
    let resp = a
        .req(Method::DELETE, &format!("/api/backgroundoperation/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = waiter.await.unwrap();
    assert_eq!(body["backgroundOperationStatusCode"], 32, "{body}");
}
