//! Idempotent submission (SPEC §15, the IETF `Idempotency-Key` draft): a retry with the same
//! key and body gets the original answer and stores no second operation; the same key with
//! another body is 422; keys are per user and expire; a storm of one key from many connections
//! stores one operation; bad keys are 400 in the Dataverse error shape and store nothing.

mod common;

use std::time::Duration;

use common::custom_apis::create_echo;
use common::users::{user, BASIC_USER};
use common::{expect_error, Server, FAST};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// How many operations the server holds.
async fn count(server: &Server) -> u64 {
    let resp = server
        .req(Method::GET, "/api/data/v9.2/backgroundoperations/$count")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap().trim().parse().unwrap()
}

/// A background submission of `api` with `body` under `key`, with `token`.
fn keyed(
    server: &Server,
    token: &str,
    api: &str,
    key: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    server
        .client
        .post(server.url(&format!("/api/data/v9.2/{api}")))
        .bearer_auth(token)
        .header("Prefer", "respond-async")
        .header("Idempotency-Key", key)
        .json(body)
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_gets_the_original_answer_and_no_second_row() {
    let server = Server::start(FAST);
    let body = json!({ "Text": "once" });
    let first = keyed(&server, common::TOKEN, "bgops_Echo", "key-1", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let id = header(&first, "x-ms-dyn-backgroundoperationid")
        .unwrap()
        .to_owned();
    let location = header(&first, "location").unwrap().to_owned();
    assert_eq!(header(&first, "idempotent-replayed"), None);
    server.wait_terminal(&id, Duration::from_secs(10)).await;

    // The retry, after the operation ran: the same 202, the same id, marked as a replay.
    let retry = keyed(&server, common::TOKEN, "bgops_Echo", "key-1", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&retry, "x-ms-dyn-backgroundoperationid"), Some(&*id));
    assert_eq!(header(&retry, "location"), Some(&*location));
    assert_eq!(header(&retry, "preference-applied"), Some("respond-async"));
    assert_eq!(header(&retry, "idempotent-replayed"), Some("true"));
    // The key written as a structured-field string is the same key.
    let quoted = keyed(&server, common::TOKEN, "bgops_Echo", "\"key-1\"", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&quoted, "x-ms-dyn-backgroundoperationid"),
        Some(&*id)
    );
    assert_eq!(count(&server).await, 1, "one operation for three requests");

    // The same key with another body: 422, nothing stored.
    let other = keyed(
        &server,
        common::TOKEN,
        "bgops_Echo",
        "key-1",
        &json!({ "Text": "twice" }),
    )
    .send()
    .await
    .unwrap();
    expect_error(other, 422, Some("0x80040203"), "other body").await;
    // ... or another custom API.
    let other = keyed(
        &server,
        common::TOKEN,
        "bgops_Delay",
        "key-1",
        &json!({ "DelayMs": 1 }),
    )
    .send()
    .await
    .unwrap();
    expect_error(other, 422, Some("0x80040203"), "other API").await;
    assert_eq!(count(&server).await, 1);

    // A new key is a new submission.
    let fresh = keyed(&server, common::TOKEN, "bgops_Echo", "key-2", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::ACCEPTED);
    assert_ne!(header(&fresh, "x-ms-dyn-backgroundoperationid"), Some(&*id));
    assert_eq!(count(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_background_operation_takes_keys_too() {
    let server = Server::start(FAST);
    let body = json!({"Request": {"RequestName": "bgops_Echo", "Parameters": {"Text": "sdk"}}});
    let send = || {
        server
            .req(Method::POST, "/api/data/v9.2/ExecuteBackgroundOperation")
            .header("Idempotency-Key", "sdk-key")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let retry = send().await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(header(&retry, "idempotent-replayed"), Some("true"));
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry, first, "the original answer");
    // The same JSON written in another member order and spacing is the same request.
    let reordered = server
        .req(Method::POST, "/api/data/v9.2/ExecuteBackgroundOperation")
        .header("Idempotency-Key", "sdk-key")
        .header("Content-Type", "application/json")
        .body(r#"{ "Request": { "Parameters": {"Text": "sdk"}, "RequestName": "bgops_Echo" } }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reordered.status(), StatusCode::OK);
    let reordered: Value = reordered.json().await.unwrap();
    assert_eq!(reordered, first);
    assert_eq!(count(&server).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_per_user() {
    let server = Server::start(FAST);
    // A custom API anyone may run, and a second user, a Basic User with an API key of its
    // own, made over the Web API.
    create_echo(&server, "test_Echo").await;
    let other = user(&server, "Second User", &[BASIC_USER], None).await;
    let other_token = other.key.as_str();
    let body = json!({ "Text": "mine" });
    let mine = keyed(&server, common::TOKEN, "test_Echo", "shared", &body)
        .send()
        .await
        .unwrap();
    let theirs = keyed(&server, other_token, "test_Echo", "shared", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), StatusCode::ACCEPTED);
    assert_eq!(
        theirs.status(),
        StatusCode::ACCEPTED,
        "{}",
        theirs.text().await.unwrap()
    );
    assert_ne!(
        header(&mine, "x-ms-dyn-backgroundoperationid"),
        header(&theirs, "x-ms-dyn-backgroundoperationid"),
        "another user's equal key is another key"
    );
    assert_eq!(header(&theirs, "idempotent-replayed"), None);
    assert_eq!(count(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_key_is_a_new_submission() {
    let mut flags = FAST.to_vec();
    flags.extend([
        "--idempotency-key-ttl",
        "1s",
        "--ttl-sweep-interval",
        "200ms",
    ]);
    let server = Server::start(&flags);
    let body = json!({ "Text": "again" });
    let first = keyed(&server, common::TOKEN, "bgops_Echo", "short", &body)
        .send()
        .await
        .unwrap();
    let first_id = header(&first, "x-ms-dyn-backgroundoperationid")
        .unwrap()
        .to_owned();
    // Past the key's lifetime (and a sweep or two).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = keyed(&server, common::TOKEN, "bgops_Echo", "short", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(later.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&later, "idempotent-replayed"), None);
    assert_ne!(
        header(&later, "x-ms-dyn-backgroundoperationid"),
        Some(&*first_id)
    );
    assert_eq!(count(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_one_key_stores_one_operation() {
    let server = Server::start(FAST);
    let body = json!({ "Text": "storm" });
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            // A connection each: the requests really arrive together.
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let req = client
                .post(server.url("/api/data/v9.2/bgops_Echo"))
                .bearer_auth(common::TOKEN)
                .header("Prefer", "respond-async")
                .header("Idempotency-Key", "storm-key")
                .json(&body);
            tokio::spawn(async move { req.send().await.unwrap() })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut in_flight = 0;
    for t in tasks {
        let resp = t.await.unwrap();
        match resp.status() {
            StatusCode::ACCEPTED => {
                ids.insert(
                    header(&resp, "x-ms-dyn-backgroundoperationid")
                        .unwrap()
                        .to_owned(),
                );
            }
            StatusCode::CONFLICT => {
                in_flight += 1;
                expect_error(resp, 409, Some("0x80040203"), "in flight").await;
            }
            other => panic!("unexpected {other}: {:?}", resp.text().await),
        }
    }
    assert_eq!(ids.len(), 1, "every 202 names the one operation");
    assert!(in_flight < 64, "at least one request was answered 202");
    assert_eq!(count(&server).await, 1, "exactly one operation stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_keys_are_refused_and_store_nothing() {
    let server = Server::start(FAST);
    let body = json!({ "Text": "bad" });
    let long = "k".repeat(256);
    for (key, what) in [
        ("", "empty"),
        ("\"\"", "empty quoted"),
        (&*long, "256 characters"),
    ] {
        let resp = keyed(&server, common::TOKEN, "bgops_Echo", key, &body)
            .send()
            .await
            .unwrap();
        let message = expect_error(resp, 400, Some("0x80040203"), what).await;
        assert!(message.contains("Idempotency-Key"), "{what}: {message}");
    }
    // 255 characters is the longest key.
    let resp = keyed(
        &server,
        common::TOKEN,
        "bgops_Echo",
        &"k".repeat(255),
        &body,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    // A synchronous call stores nothing a retry could be answered from: refused.
    let resp = server
        .req(Method::POST, "/api/data/v9.2/bgops_Echo")
        .header("Idempotency-Key", "sync")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, Some("0x80040203"), "synchronous call").await;
    // A refused request does not hold its key: the same key works once the request is valid.
    let resp = keyed(
        &server,
        common::TOKEN,
        "bgops_Echo",
        "fix-me",
        &json!({ "Text": 1 }),
    )
    .send()
    .await
    .unwrap();
    expect_error(resp, 400, Some("0x8009732f"), "wrong parameter type").await;
    let resp = keyed(&server, common::TOKEN, "bgops_Echo", "fix-me", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&resp, "idempotent-replayed"), None);
    assert_eq!(count(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_over_two_postgresql_nodes_stores_one_operation() {
    let schema = common::pg::Schema::new().await;
    let dir = tempfile::tempdir().unwrap();
    let nodes = [
        Server::start_url(&schema.url, dir.path(), FAST),
        Server::start_url(&schema.url, dir.path(), FAST),
    ];
    let body = json!({ "Text": "two nodes" });
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let node = &nodes[i % 2];
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let req = client
                .post(node.url("/api/data/v9.2/bgops_Echo"))
                .bearer_auth(common::TOKEN)
                .header("Prefer", "respond-async")
                .header("Idempotency-Key", "pg-storm")
                .json(&body);
            tokio::spawn(async move { req.send().await.unwrap() })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let resp = t.await.unwrap();
        match resp.status() {
            StatusCode::ACCEPTED => {
                ids.insert(
                    header(&resp, "x-ms-dyn-backgroundoperationid")
                        .unwrap()
                        .to_owned(),
                );
            }
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {:?}", resp.text().await),
        }
    }
    assert_eq!(ids.len(), 1, "both nodes answer with the one operation");
    assert_eq!(count(&nodes[0]).await, 1, "exactly one operation stored");
    assert_eq!(count(&nodes[1]).await, 1);
}
