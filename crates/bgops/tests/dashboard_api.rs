//! The dashboard's actions over HTTP against the real binary: the bulk cancel (a preview of the
//! count, then the cancel from the same filter) and resubmit, each with the signed-in user's
//! privileges (a Basic User reaches only their own operations), and refused when the dashboard
//! is read-only. Errors keep the Dataverse shape. Also an operation's history (its attempts,
//! callback deliveries with their tries, system jobs), read with the status monitor's checks.

mod common;
mod receiver;

use std::time::Duration;

use common::custom_apis::{create_api, entity_id, post, API, ECHO_PLUGIN};
use common::users::{user, User, BASIC_USER};
use common::{expect_error, Server};
use receiver::{Answer, Receiver, PERMISSIVE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ACCESS_DENIED: &str = "0x80048405";
/// A privilege the caller's roles do not grant.
const MISSING_PRIVILEGE: &str = "0x80040220";
const LONG: Duration = Duration::from_secs(20);

/// A Basic User made over the Web API, with a key.
async fn basic_user(s: &Server, name: &str) -> User {
    user(s, name, &[BASIC_USER], None).await
}

async fn setup(extra: &[&str]) -> (Server, User, User) {
    let s = Server::start(extra);
    create_api(&s, "test_Echo", ECHO_PLUGIN, ("Text", 10), "Text").await;
    create_api(
        &s,
        "test_Delay",
        "Bgops.Diagnostics.Delay",
        ("DelayMs", 7),
        "DelayedMs",
    )
    .await;
    let alice = basic_user(&s, "alice").await;
    let bob = basic_user(&s, "bob").await;
    (s, alice, bob)
}

/// A request with `key` (the admin token when `None`).
fn req(s: &Server, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
    s.client
        .request(method, s.url(path))
        .bearer_auth(key.unwrap_or(common::TOKEN))
}

async fn submit_as(s: &Server, key: &str, api: &str, body: Value) -> String {
    let resp = req(s, Method::POST, &format!("{API}/{api}"), Some(key))
        .header("Prefer", "respond-async")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED, "submit {api}");
    resp.headers()["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// `/api/dashboard/cancel` with `filter` (percent-encoded here), by `method`.
async fn bulk(s: &Server, method: Method, key: Option<&str>, filter: Option<&str>) -> Value {
    let mut r = req(s, method, "/api/dashboard/cancel", key);
    if let Some(f) = filter {
        r = r.query(&[("$filter", f)]);
    }
    let resp = r.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "bulk cancel");
    resp.json().await.unwrap()
}

async fn status_code(s: &Server, id: &str) -> i64 {
    s.status(id).await.2["backgroundOperationStatusCode"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_bulk_cancel_previews_the_count_then_cancels_only_the_callers_rows() {
    let (s, alice, bob) = setup(&[]).await;
    let long = json!({ "DelayMs": 600000 });
    let a1 = submit_as(&s, &alice.key, "test_Delay", long.clone()).await;
    let a2 = submit_as(&s, &alice.key, "test_Delay", long.clone()).await;
    let a_done = submit_as(&s, &alice.key, "test_Echo", json!({ "Text": "x" })).await;
    let b1 = submit_as(&s, &bob.key, "test_Delay", long.clone()).await;
    s.wait_terminal(&a_done, LONG).await;
    let filter = "name eq 'test_Delay'";

    // The preview counts what the caller may cancel: Alice's two, all three for the admin;
    // the finished echo is not counted.
    let p = bulk(&s, Method::GET, Some(&alice.key), Some(filter)).await;
    assert_eq!(p["count"], 2, "{p}");
    assert!(p["batch"].as_u64().unwrap() >= 2);
    assert_eq!(
        bulk(&s, Method::GET, Some(&alice.key), None).await["count"],
        2
    );
    assert_eq!(bulk(&s, Method::GET, None, Some(filter)).await["count"], 3);
    assert_eq!(
        bulk(&s, Method::GET, Some(&bob.key), Some(filter)).await["count"],
        1
    );

    // Alice's cancel with no filter reaches her unfinished rows only.
    let c = bulk(&s, Method::POST, Some(&alice.key), None).await;
    assert_eq!(c, json!({ "canceled": 2, "more": false }));
    for id in [&a1, &a2] {
        s.wait_status(id, 32, LONG).await;
    }
    assert!(
        [0, 20].contains(&status_code(&s, &b1).await),
        "Bob's operation is untouched"
    );
    assert_eq!(status_code(&s, &a_done).await, 30);
    assert_eq!(
        bulk(&s, Method::GET, Some(&alice.key), Some(filter)).await["count"],
        0
    );
    let c = bulk(&s, Method::POST, Some(&alice.key), Some(filter)).await;
    assert_eq!(c["canceled"], 0);

    // The admin's cancel from the same filter reaches Bob's.
    let c = bulk(&s, Method::POST, None, Some(filter)).await;
    assert_eq!(c["canceled"], 1);
    s.wait_status(&b1, 32, LONG).await;
    let _ = alice.id;
}

#[tokio::test]
async fn a_bad_filter_is_a_dataverse_error_and_a_user_without_the_privilege_is_refused() {
    let (s, _alice, _bob) = setup(&[]).await;
    for method in [Method::GET, Method::POST] {
        let resp = req(&s, method.clone(), "/api/dashboard/cancel", None)
            .query(&[("$filter", "nosuchcolumn eq 1")])
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, "unknown column").await;
        let resp = req(&s, method.clone(), "/api/dashboard/cancel", None)
            .query(&[("$filter", "name eq")])
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, "bad syntax").await;
        let resp = s
            .client
            .request(method, s.url("/api/dashboard/cancel"))
            .send()
            .await
            .unwrap();
        expect_error(resp, 401, None, "no key").await;
    }
    // A user with no role holds no Write on backgroundoperation.
    let resp = post(
        &s,
        "systemusers",
        &json!({ "fullname": "nora", "internalemailaddress": "nora@example.com" }),
    )
    .await;
    let nora = entity_id(&resp);
    let resp = post(
        &s,
        &format!("systemusers({nora})/bgops_apikeys"),
        &json!({ "name": "t" }),
    )
    .await;
    let key = resp.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = req(&s, Method::POST, "/api/dashboard/cancel", Some(&key))
        .send()
        .await
        .unwrap();
    expect_error(resp, 403, None, "no privilege").await;
}

#[tokio::test]
async fn resubmit_runs_the_same_inputs_again_as_the_caller_linked_to_the_original() {
    let (s, alice, bob) = setup(&[]).await;
    let first = submit_as(&s, &alice.key, "test_Echo", json!({ "Text": "again" })).await;
    s.wait_terminal(&first, LONG).await;

    let resp = req(
        &s,
        Method::POST,
        &format!("/api/dashboard/resubmit/{first}"),
        Some(&alice.key),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let new = body["backgroundOperationId"].as_str().unwrap().to_owned();
    assert_ne!(new, first);
    assert_eq!(body["resubmittedFrom"], first.as_str());
    assert_eq!(body["location"], location.as_str());
    assert!(location.ends_with(&format!("/api/backgroundoperation/{new}")));
    let done = s.wait_terminal(&new, LONG).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    assert_eq!(done["Text"], "again");
    let row = s.row(&new).await;
    assert_eq!(row["name"], "test_Echo");
    assert_eq!(
        row["_runas_value"].as_str().or(row["runas"].as_str()),
        Some(alice.id.as_str()),
        "{row}"
    );

    // Bob cannot see Alice's operation: not found, as an absent one.
    let resp = req(
        &s,
        Method::POST,
        &format!("/api/dashboard/resubmit/{first}"),
        Some(&bob.key),
    )
    .send()
    .await
    .unwrap();
    expect_error(resp, 404, None, "another user's operation").await;

    // Only finished operations; ids are GUIDs.
    let running = submit_as(&s, &alice.key, "test_Delay", json!({ "DelayMs": 600000 })).await;
    let resp = req(
        &s,
        Method::POST,
        &format!("/api/dashboard/resubmit/{running}"),
        Some(&alice.key),
    )
    .send()
    .await
    .unwrap();
    let msg = expect_error(resp, 400, None, "not finished").await;
    assert!(msg.contains("finished"), "{msg}");
    let resp = req(&s, Method::POST, "/api/dashboard/resubmit/not-a-guid", None)
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, None, "bad id").await;
}

#[tokio::test]
async fn read_only_refuses_every_action() {
    let s = Server::start(&["--dashboard", "read-only"]);
    let id = s.submit("bgops_Delay", json!({ "DelayMs": 600000 })).await;
    for (method, path) in [
        (Method::GET, "/api/dashboard/cancel".to_owned()),
        (Method::POST, "/api/dashboard/cancel".to_owned()),
        (Method::POST, format!("/api/dashboard/resubmit/{id}")),
    ] {
        let resp = req(&s, method, &path, None).send().await.unwrap();
        let msg = expect_error(resp, 403, Some(ACCESS_DENIED), &path).await;
        assert!(msg.contains("read-only"), "{msg}");
    }
    assert!([0, 20].contains(&status_code(&s, &id).await));
}

#[tokio::test]
async fn the_summary_counts_finished_operations_per_minute_and_shows_the_nodes_holding_leases() {
    let s = Server::start(&[]);
    let summary = || async {
        let resp = req(&s, Method::GET, "/api/dashboard/summary", None)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json::<Value>().await.unwrap()
    };
    let mut done = Vec::new();
    for i in 0..3 {
        done.push(
            s.submit("bgops_Echo", json!({ "Text": format!("e{i}") }))
                .await,
        );
    }
    done.push(
        s.submit(
            "bgops_Fail",
            json!({ "FailTimes": 5, "Permanent": true, "Message": "no" }),
        )
        .await,
    );
    for id in &done {
        s.wait_terminal(id, LONG).await;
    }
    let long = s.submit("bgops_Delay", json!({ "DelayMs": 600000 })).await;
    s.wait_status(&long, 20, LONG).await;

    let a = summary().await["activity"].clone();
    let minutes = a["minutes"].as_array().expect("minutes");
    assert_eq!(minutes.len(), 60, "one bucket per minute of the last hour");
    let sum = |k: &str| minutes.iter().map(|m| m[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        (sum("succeeded"), sum("failed"), sum("canceled")),
        (3, 1, 0),
        "{a}"
    );
    let by_api = a["byApi"].as_array().unwrap();
    let echo = by_api
        .iter()
        .find(|r| r["name"] == "bgops_Echo")
        .expect("echo");
    assert_eq!(echo["succeeded"], 3);
    let fail = by_api
        .iter()
        .find(|r| r["name"] == "bgops_Fail")
        .expect("fail");
    assert_eq!(fail["failed"], 1);
    let nodes = a["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{a}");
    assert_eq!(nodes[0]["leases"], 1);
    assert_eq!(nodes[0]["expired"], false);
    assert!(nodes[0]["latestLeaseExpiry"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}

#[tokio::test]
async fn the_page_and_its_modules_are_served_with_the_policy_and_an_unknown_asset_is_not_found() {
    let s = Server::start(&[]);
    for file in [
        "app.js",
        "ui.js",
        "overview.js",
        "operations.js",
        "history.js",
        "definitions.js",
        "app.css",
    ] {
        let resp = s
            .client
            .get(s.url(&format!("/ui/assets/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{file}");
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{file}: {csp}");
        assert!(!resp.text().await.unwrap().is_empty(), "{file}");
    }
    let resp = s
        .client
        .get(s.url("/ui/assets/nope.js"))
        .send()
        .await
        .unwrap();
    expect_error(resp, 404, None, "unknown asset").await;
}

/// `GET /api/dashboard/operations/{id}/history` with `key` (the admin token when `None`).
async fn history(s: &Server, id: &str, key: Option<&str>) -> reqwest::Response {
    req(
        s,
        Method::GET,
        &format!("/api/dashboard/operations/{id}/history"),
        key,
    )
    .send()
    .await
    .unwrap()
}

/// The history once `done` says it is complete (the callback is sent after the operation
/// ends), within [`LONG`].
async fn history_when(s: &Server, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let resp = history(s, id, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "history of {id}");
        let body: Value = resp.json().await.unwrap();
        if done(&body) {
            return body;
        }
        assert!(start.elapsed() < LONG, "history never complete: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_history_shows_every_attempt_with_its_error_and_each_callback_try() {
    let s = Server::start(PERMISSIVE);
    // The receiver refuses the first try and takes the second.
    let r = Receiver::start(vec![Answer::Status(500, None)]).await;
    let resp = req(&s, Method::POST, &format!("{API}/bgops_Fail"), None)
        .header("Prefer", "respond-async")
        .header("x-ms-dyn-callback-url", r.url("/hook?sig=secret-value"))
        .json(&json!({"FailTimes": 2, "Message": "not yet"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let id = resp.headers()["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .unwrap()
        .to_owned();
    s.wait_terminal(&id, LONG).await;
    let h = history_when(&s, &id, |h| h["deliveries"][0]["status"] == "delivered").await;

    assert_eq!(h["backgroundOperationId"], id.as_str());
    assert_eq!(h["backgroundOperationStatusCode"], 30);
    assert_eq!(h["retryCount"], 2);
    assert!(h["expiresOn"].is_string(), "{h}");
    let attempts = h["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3, "two failures and the success: {h}");
    for (i, a) in attempts[..2].iter().enumerate() {
        assert_eq!(a["attempt"], i as i64 + 1, "{a}");
        assert_eq!(a["outcome"], "Failed", "{a}");
        assert_eq!(a["errorMessage"], "not yet", "{a}");
        assert_eq!(a["errorCode"], -2147220891, "{a}");
        assert!(a["endedOn"].is_string() && a["node"].is_string(), "{a}");
    }
    assert!(
        attempts.iter().all(|a| a["startedOn"].is_string()),
        "every attempt's start is kept, the successful retry's too: {h}"
    );
    assert_eq!(attempts[2]["attempt"], 3);
    assert_eq!(attempts[2]["outcome"], "Succeeded");
    assert!(attempts[2]["endedOn"].is_string());
    assert!(
        attempts[2]["startedOn"].as_str() >= attempts[1]["endedOn"].as_str(),
        "the retry started no earlier than the failure before it ended: {h}"
    );
    assert_eq!(attempts[2]["errorMessage"], Value::Null);

    let deliveries = h["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 1, "{h}");
    let d = &deliveries[0];
    assert_eq!(d["url"], r.url("/hook"), "shown without its query string");
    assert!(!h.to_string().contains("secret-value"), "{h}");
    assert_eq!(d["attempts"], 2, "{d}");
    assert!(d["deliveredOn"].is_string() && d["firstAttemptOn"].is_string());
    assert!(d["webhookId"].as_str().unwrap().starts_with("msg_"), "{d}");
    let tries = d["tries"].as_array().expect("tries");
    assert_eq!(tries.len(), 1, "one failed try: {d}");
    assert_eq!(tries[0]["attempt"], 1);
    assert!(tries[0]["error"].as_str().unwrap().contains("500"), "{d}");
    assert_eq!(h["systemJobs"], json!([]), "no step registered");

    // An operation that succeeds the first time: one attempt, from the row.
    let ok = s.submit("bgops_Fail", json!({"FailTimes": 0})).await;
    s.wait_terminal(&ok, LONG).await;
    let h: Value = history(&s, &ok, None).await.json().await.unwrap();
    let attempts = h["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{h}");
    assert_eq!(attempts[0]["outcome"], "Succeeded");
    assert!(attempts[0]["startedOn"].is_string());
}

#[tokio::test]
async fn the_history_is_refused_exactly_as_the_status_monitor_refuses() {
    let (s, alice, _bob) = setup(common::FAST).await;
    let admins = s.submit("bgops_Fail", json!({"FailTimes": 1})).await;
    s.wait_terminal(&admins, LONG).await;
    let alices = submit_as(&s, &alice.key, "test_Echo", json!({"Text": "mine"})).await;
    s.wait_terminal(&alices, LONG).await;
    let nobody = user(&s, "nobody", &[], None).await;

    // Each caller gets from the history what the status monitor gives them.
    for (who, key, id, status, code) in [
        (
            "alice, another's",
            Some(alice.key.as_str()),
            &admins,
            404,
            None,
        ),
        (
            "alice, her own",
            Some(alice.key.as_str()),
            &alices,
            200,
            None,
        ),
        (
            "no role",
            Some(nobody.key.as_str()),
            &admins,
            403,
            Some(MISSING_PRIVILEGE),
        ),
        ("admin", None, &admins, 200, None),
    ] {
        let monitor = req(
            &s,
            Method::GET,
            &format!("/api/backgroundoperation/{id}"),
            key,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(monitor.status().as_u16(), status, "{who}: status monitor");
        let resp = history(&s, id, key).await;
        if status == 200 {
            assert_eq!(resp.status(), StatusCode::OK, "{who}");
            continue;
        }
        let monitor_message = expect_error(monitor, status, code, who).await;
        let message = expect_error(resp, status, code, who).await;
        assert_eq!(message, monitor_message, "{who}: the same error");
    }
    let body: Value = history(&s, &admins, None).await.json().await.unwrap();
    assert_eq!(body["attempts"].as_array().unwrap().len(), 2, "{body}");

    let unknown = uuid_like();
    expect_error(history(&s, &unknown, None).await, 404, None, "unknown").await;
    expect_error(
        history(&s, "not-a-guid", None).await,
        400,
        None,
        "malformed",
    )
    .await;
    let anonymous = s
        .client
        .get(s.url(&format!("/api/dashboard/operations/{admins}/history")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// An operation id no row has.
fn uuid_like() -> String {
    "0f0e0d0c-0b0a-4908-8706-050403020100".to_owned()
}
