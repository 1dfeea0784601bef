//! The life of a background operation, black-box: the status monitor and its Retry-After,
//! retries, the attempt time-out, cancellation (status monitor DELETE and row PATCH) and TTL.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{assert_json_headers, expect_error, Server};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);
const TIMEOUT_MESSAGE: &str =
    "The plug-in execution failed because the operation has timed-out at the Sandbox Worker.";
const TERMINAL_CANCEL: &str =
    "Canceling background operation is not allowed after it is in terminal state.";

/// Rows in the backgroundoperation table, read straight from the SQLite file.
fn row_count(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open sqlite read-only");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT COUNT(*) FROM backgroundoperation", [], |r| r.get(0))
        .expect("count rows")
}

/// Whether the row with `id` is in the SQLite file.
fn row_exists(db: &Path, id: &str) -> bool {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open sqlite read-only");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM backgroundoperation WHERE backgroundoperationid = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("count row");
    n > 0
}

fn row_path(id: &str) -> String {
    format!("/api/data/v9.2/backgroundoperations({id})")
}

fn cancel_body() -> Value {
    json!({"backgroundoperationstatecode": 2, "backgroundoperationstatuscode": 22})
}

/// DELETE on the status monitor.
async fn delete(s: &Server, id: &str) -> Response {
    s.req(Method::DELETE, &format!("/api/backgroundoperation/{id}"))
        .send()
        .await
        .unwrap()
}

/// Asserts a successful cancel request on the status monitor.
async fn cancel_ok(s: &Server, id: &str) {
    let resp = delete(s, id).await;
    assert_eq!(resp.status(), 200, "DELETE {id}");
    assert_json_headers(resp.headers(), "DELETE");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 22})
    );
}

async fn patch(s: &Server, id: &str, if_match: Option<&str>, body: &Value) -> Response {
    let mut rb = s.req(Method::PATCH, &row_path(id)).json(body);
    if let Some(m) = if_match {
        rb = rb.header("If-Match", m);
    }
    rb.send().await.unwrap()
}

fn retry_after(h: &HeaderMap) -> Option<String> {
    h.get("retry-after").map(|v| v.to_str().unwrap().to_owned())
}

// ---------------------------------------------------------------------------------------------
// Status monitor

#[tokio::test]
async fn status_monitor_unknown_id_is_404() {
    let s = Server::start(common::FAST);
    let id = uuid::Uuid::new_v4().to_string();
    let resp = s
        .req(Method::GET, &format!("/api/backgroundoperation/{id}"))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 404, Some("0x80040217"), "GET unknown").await;
    assert_eq!(msg, format!("Could not find item '{id}'."));
    let resp = delete(&s, &id).await;
    let msg = expect_error(resp, 404, Some("0x80040217"), "DELETE unknown").await;
    assert_eq!(msg, format!("Could not find item '{id}'."));
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn status_monitor_retry_after_until_terminal() {
    let s = Server::start(&[
        "--retry-base-delay",
        "50ms",
        "--workers",
        "1",
        "--poll-retry-after",
        "7s",
    ]);
    let running = s.submit("bgops_Delay", json!({"DelayMs": 3000})).await;
    s.wait_status(&running, 20, WAIT).await;
    let (st, h, body) = s.status(&running).await;
    assert_eq!(st, 200);
    assert_json_headers(&h, "status running");
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 20})
    );
    assert_eq!(retry_after(&h).as_deref(), Some("7"));

    // The only worker is busy: the next one waits, 0/0.
    let queued = s.submit("bgops_Echo", json!({"Number": 5})).await;
    let (st, h, body) = s.status(&queued).await;
    assert_eq!(st, 200);
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 0, "backgroundOperationStatusCode": 0})
    );
    assert_eq!(retry_after(&h).as_deref(), Some("7"));

    let done = s.wait_terminal(&running, WAIT).await;
    assert_eq!(
        done,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 30, "DelayedMs": 3000})
    );
    let (_, h, _) = s.status(&running).await;
    assert_eq!(retry_after(&h), None, "no Retry-After once terminal");

    let done = s.wait_terminal(&queued, WAIT).await;
    assert_eq!(
        done,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 30, "Number": 5})
    );
    let (_, h, _) = s.status(&queued).await;
    assert_eq!(retry_after(&h), None, "no Retry-After once terminal");
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn retries_then_success() {
    let s = Server::start(common::FAST);
    let id = s.submit("bgops_Fail", json!({"FailTimes": 2})).await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 30, "Attempts": 3})
    );
    let row = s.row(&id).await;
    assert_eq!(row["retrycount"], 2, "{row}");
    assert_eq!(row["backgroundoperationstatuscode"], 30);
}

#[tokio::test]
async fn retries_exhausted_fail_with_the_given_message() {
    let s = Server::start(common::FAST);
    let id = s
        .submit(
            "bgops_Fail",
            json!({"FailTimes": 10, "Message": "still broken"}),
        )
        .await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(
        body,
        json!({
            "backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 31,
            "backgroundOperationErrorCode": -2147220891,
            "backgroundOperationErrorMessage": "still broken"
        })
    );
    let row = s.row(&id).await;
    assert_eq!(row["retrycount"], 3, "{row}");
    assert_eq!(row["errorcode"], -2147220891);
    assert_eq!(row["errormessage"], "still broken");
    assert_eq!(
        row["outputparameters"],
        Value::Null,
        "no outputs on failure: {row}"
    );
}

#[tokio::test]
async fn retries_exhausted_fail_with_the_default_message() {
    let s = Server::start(common::FAST);
    let id = s.submit("bgops_Fail", json!({"FailTimes": 10})).await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(body["backgroundOperationStatusCode"], 31, "{body}");
    assert_eq!(body["backgroundOperationErrorCode"], -2147220891);
    let msg = body["backgroundOperationErrorMessage"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"));
    assert!(!msg.is_empty());
    assert_eq!(
        body.as_object().unwrap().len(),
        4,
        "only state, status, code, message: {body}"
    );
    let row = s.row(&id).await;
    assert_eq!(row["retrycount"], 3);
    assert_eq!(row["errorcode"], -2147220891);
    assert_eq!(row["errormessage"], msg);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let s = Server::start(common::FAST);
    let id = s
        .submit(
            "bgops_Fail",
            json!({"FailTimes": 10, "Permanent": true, "Message": "no"}),
        )
        .await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(body["backgroundOperationStatusCode"], 31, "{body}");
    assert_eq!(body["backgroundOperationErrorMessage"], "no");
    let row = s.row(&id).await;
    assert_eq!(row["retrycount"], 0, "{row}");
    assert_eq!(row["errorcode"], -2147220891);
}

#[tokio::test]
async fn max_retries_flag_bounds_the_retries() {
    let s = Server::start(&["--retry-base-delay", "50ms", "--max-retries", "1"]);
    let id = s.submit("bgops_Fail", json!({"FailTimes": 10})).await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(body["backgroundOperationStatusCode"], 31, "{body}");
    let row = s.row(&id).await;
    assert_eq!(row["retrycount"], 1, "{row}");
}

#[tokio::test]
async fn error_code_parameter_is_recorded() {
    let s = Server::start(common::FAST);
    let id = s
        .submit(
            "bgops_Fail",
            json!({"FailTimes": 10, "ErrorCode": -2147220970, "Message": "custom"}),
        )
        .await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(
        body,
        json!({
            "backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 31,
            "backgroundOperationErrorCode": -2147220970,
            "backgroundOperationErrorMessage": "custom"
        })
    );
    let row = s.row(&id).await;
    assert_eq!(row["errorcode"], -2147220970);
    assert_eq!(row["errormessage"], "custom");
}

// ---------------------------------------------------------------------------------------------
// Time-out

#[tokio::test]
async fn attempt_timeout_fails_the_row() {
    let s = Server::start(&[
        "--retry-base-delay",
        "50ms",
        "--attempt-timeout",
        "300ms",
        "--max-retries",
        "0",
    ]);
    let id = s.submit("bgops_Delay", json!({"DelayMs": 5000})).await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(
        body,
        json!({
            "backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 31,
            "backgroundOperationErrorCode": -2147204749,
            "backgroundOperationErrorMessage": TIMEOUT_MESSAGE
        })
    );
    let row = s.row(&id).await;
    assert_eq!(row["errorcode"], -2147204749);
    assert_eq!(row["errormessage"], TIMEOUT_MESSAGE);
    assert_eq!(row["retrycount"], 0);
}

#[tokio::test]
async fn attempt_timeout_is_retried() {
    let s = Server::start(&[
        "--retry-base-delay",
        "50ms",
        "--attempt-timeout",
        "300ms",
        "--max-retries",
        "1",
    ]);
    let id = s.submit("bgops_Delay", json!({"DelayMs": 5000})).await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(body["backgroundOperationStatusCode"], 31, "{body}");
    assert_eq!(body["backgroundOperationErrorCode"], -2147204749);
    let row = s.row(&id).await;
    assert_eq!(row["retrycount"], 1, "{row}");
    assert_eq!(row["errormessage"], TIMEOUT_MESSAGE);
}

// ---------------------------------------------------------------------------------------------
// Cancel

/// A queued row canceled while the only worker is busy is finalized at once (0/0 → 2/22 → 3/32
/// without running), not when a worker frees up.
#[tokio::test]
async fn cancel_before_start_ends_while_the_worker_is_busy() {
    let s = Server::start(&["--retry-base-delay", "50ms", "--workers", "1"]);
    let first = s.submit("bgops_Delay", json!({"DelayMs": 4000})).await;
    s.wait_status(&first, 20, WAIT).await;
    let second = s.submit("bgops_Echo", json!({"Text": "never"})).await;
    let (_, _, body) = s.status(&second).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 0, "backgroundOperationStatusCode": 0})
    );

    cancel_ok(&s, &second).await;
    let body = s.wait_terminal(&second, WAIT).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
    );
    // The first one is still running: the cancel did not wait for a worker.
    let (_, _, first_body) = s.status(&first).await;
    assert_eq!(
        first_body,
        json!({"backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 20})
    );
    assert_never_ran(&s.row(&second).await);

    // And the first one then runs to the end.
    let body = s.wait_terminal(&first, WAIT).await;
    assert_eq!(body["backgroundOperationStatusCode"], 30, "{body}");
}

/// The fields of a row canceled before any attempt ran.
fn assert_never_ran(row: &Value) {
    assert_eq!(row["backgroundoperationstatecode"], 3, "{row}");
    assert_eq!(row["backgroundoperationstatuscode"], 32, "{row}");
    assert_eq!(row["starttime"], Value::Null, "never started: {row}");
    assert!(row["endtime"].is_string(), "endtime set: {row}");
    assert_eq!(row["retrycount"], 0, "{row}");
    assert_eq!(row["errorcode"], Value::Null, "{row}");
    assert_eq!(row["errormessage"], Value::Null, "{row}");
    assert_eq!(row["outputparameters"], Value::Null, "{row}");
}

/// A row canceled while queued never runs: once a worker is free it ends 3/32 without starting.
#[tokio::test]
async fn cancel_before_start_never_runs() {
    let s = Server::start(&["--retry-base-delay", "50ms", "--workers", "1"]);
    let first = s.submit("bgops_Delay", json!({"DelayMs": 30000})).await;
    s.wait_status(&first, 20, WAIT).await;
    let second = s.submit("bgops_Echo", json!({"Text": "never"})).await;
    let (_, h, body) = s.status(&second).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 0, "backgroundOperationStatusCode": 0})
    );
    assert!(retry_after(&h).is_some(), "Retry-After while queued");

    cancel_ok(&s, &second).await;
    // Free the worker (cancel the blocker too).
    cancel_ok(&s, &first).await;
    let body = s.wait_terminal(&second, WAIT).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
    );
    assert_never_ran(&s.row(&second).await);
    let body = s.wait_terminal(&first, WAIT).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
    );
}

#[tokio::test]
async fn cancel_while_running() {
    let s = Server::start(common::FAST);
    let id = s.submit("bgops_Delay", json!({"DelayMs": 30000})).await;
    s.wait_status(&id, 20, WAIT).await;
    cancel_ok(&s, &id).await;
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
    );
    let row = s.row(&id).await;
    assert!(row["starttime"].is_string(), "started: {row}");
    assert!(row["endtime"].is_string(), "ended: {row}");
    assert_eq!(row["errorcode"], Value::Null, "{row}");
    assert_eq!(row["errormessage"], Value::Null, "{row}");
    assert_eq!(row["retrycount"], 0, "{row}");
}

#[tokio::test]
async fn cancel_of_a_terminal_row_is_refused() {
    let s = Server::start(common::FAST);
    let id = s.submit("bgops_Echo", json!({"Text": "x"})).await;
    s.wait_terminal(&id, WAIT).await;
    let resp = delete(&s, &id).await;
    let msg = expect_error(resp, 400, Some("0x80048408"), "cancel succeeded").await;
    assert_eq!(msg, TERMINAL_CANCEL);

    // Canceled is terminal too.
    let id = s.submit("bgops_Delay", json!({"DelayMs": 30000})).await;
    s.wait_status(&id, 20, WAIT).await;
    cancel_ok(&s, &id).await;
    s.wait_terminal(&id, WAIT).await;
    let resp = delete(&s, &id).await;
    let msg = expect_error(resp, 400, Some("0x80048408"), "cancel canceled").await;
    assert_eq!(msg, TERMINAL_CANCEL);
    let (_, _, body) = s.status(&id).await;
    assert_eq!(body["backgroundOperationStatusCode"], 32);
}

// ---------------------------------------------------------------------------------------------
// PATCH cancel

#[tokio::test]
async fn patch_cancels_a_running_row() {
    let s = Server::start(common::FAST);
    let id = s.submit("bgops_Delay", json!({"DelayMs": 30000})).await;
    s.wait_status(&id, 20, WAIT).await;
    let resp = patch(&s, &id, Some("*"), &cancel_body()).await;
    assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
    );
}

#[tokio::test]
async fn patch_unknown_id_is_404_never_an_upsert() {
    let s = Server::start(common::FAST);
    let id = uuid::Uuid::new_v4().to_string();
    let resp = patch(&s, &id, Some("*"), &cancel_body()).await;
    let msg = expect_error(resp, 404, Some("0x80040217"), "PATCH unknown").await;
    assert_eq!(
        msg,
        format!("backgroundoperation With Id = {id} Does Not Exist")
    );
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn patch_with_etags() {
    // A queued row (the only worker is busy), so nothing else changes its version.
    let s = Server::start(&["--retry-base-delay", "50ms", "--workers", "1"]);
    let blocker = s.submit("bgops_Delay", json!({"DelayMs": 30000})).await;
    s.wait_status(&blocker, 20, WAIT).await;
    let id = s.submit("bgops_Echo", json!({"Text": "x"})).await;

    let resp = patch(&s, &id, Some("W/\"999999\""), &cancel_body()).await;
    expect_error(resp, 412, None, "PATCH wrong etag").await;
    let (_, _, body) = s.status(&id).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 0, "backgroundOperationStatusCode": 0})
    );

    let row = s.row(&id).await;
    let etag = row["@odata.etag"].as_str().expect("@odata.etag").to_owned();
    let resp = patch(&s, &id, Some(&etag), &cancel_body()).await;
    assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
    // Canceling, or already Canceled: a queued row is finalized without waiting for a worker.
    let body = s.wait_terminal(&id, WAIT).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
    );
    assert_never_ran(&s.row(&id).await);
    cancel_ok(&s, &blocker).await;
    s.wait_terminal(&blocker, WAIT).await;
}

#[tokio::test]
async fn patch_refuses_other_changes() {
    let s = Server::start(common::FAST);
    let id = s.submit("bgops_Delay", json!({"DelayMs": 30000})).await;
    s.wait_status(&id, 20, WAIT).await;

    for pair in [(3, 32), (2, 20), (3, 30), (0, 0)] {
        let body = json!({"backgroundoperationstatecode": pair.0, "backgroundoperationstatuscode": pair.1});
        let resp = patch(&s, &id, Some("*"), &body).await;
        expect_error(resp, 400, Some("0x80048408"), &format!("PATCH {pair:?}")).await;
    }
    for body in [
        json!({"name": "renamed"}),
        json!({"backgroundoperationstatecode": 2, "backgroundoperationstatuscode": 22, "name": "renamed"}),
        json!({"priority": 5}),
    ] {
        let resp = patch(&s, &id, Some("*"), &body).await;
        expect_error(resp, 400, None, &format!("PATCH {body}")).await;
    }
    // Still running, still named.
    let row = s.row(&id).await;
    assert_eq!(row["name"], "bgops_Delay");
    assert_eq!(row["backgroundoperationstatuscode"], 20);
    assert_eq!(row["priority"], 0);

    cancel_ok(&s, &id).await;
    s.wait_terminal(&id, WAIT).await;
    // Terminal now: the PATCH cancel is refused with the terminal message.
    let resp = patch(&s, &id, Some("*"), &cancel_body()).await;
    let msg = expect_error(resp, 400, Some("0x80048408"), "PATCH terminal").await;
    assert_eq!(msg, TERMINAL_CANCEL);
}

// ---------------------------------------------------------------------------------------------
// TTL

#[tokio::test]
async fn ttl_deletes_completed_rows() {
    let s = Server::start(&[
        "--retry-base-delay",
        "50ms",
        "--default-ttl",
        "1s",
        "--ttl-sweep-interval",
        "200ms",
    ]);
    // Running rows are kept; read the row while the attempt runs.
    let id = s.submit("bgops_Delay", json!({"DelayMs": 1500})).await;
    s.wait_status(&id, 20, WAIT).await;
    let row = s.row(&id).await;
    assert_eq!(row["ttlinseconds"], 1, "{row}");

    let start = Instant::now();
    loop {
        let (st, _, body) = s.status(&id).await;
        if st == 404 {
            break;
        }
        assert_eq!(st, 200, "{body}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "row {id} not deleted by TTL: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!row_exists(&s.db, &id), "row {id} still in SQLite");
    assert_eq!(row_count(&s.db), 0);
}

#[tokio::test]
async fn default_ttl_is_90_days() {
    let s = Server::start(common::FAST);
    let id = s.submit("bgops_Echo", json!({})).await;
    s.wait_terminal(&id, WAIT).await;
    let row = s.row(&id).await;
    assert_eq!(row["ttlinseconds"], 7_776_000, "{row}");
}

/// A running row outlives its TTL; it goes only once it is terminal.
#[tokio::test]
async fn ttl_spares_running_rows() {
    let s = Server::start(&[
        "--retry-base-delay",
        "50ms",
        "--default-ttl",
        "1s",
        "--ttl-sweep-interval",
        "200ms",
    ]);
    let id = s.submit("bgops_Delay", json!({"DelayMs": 2500})).await;
    s.wait_status(&id, 20, WAIT).await;
    let running_since = Instant::now();
    let mut seen_running_past_ttl = false;
    loop {
        let (st, _, body) = s.status(&id).await;
        if st == 404 {
            break;
        }
        assert_eq!(st, 200, "{body}");
        if body["backgroundOperationStatusCode"] == 20
            && running_since.elapsed() > Duration::from_millis(1500)
        {
            seen_running_past_ttl = true;
        }
        assert!(
            running_since.elapsed() < Duration::from_secs(10),
            "row {id} not deleted by TTL: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen_running_past_ttl,
        "the row was deleted while its attempt was running"
    );
    assert!(!row_exists(&s.db, &id));
}

/// While a cancel is pending (2/22) the operation is not terminal: Retry-After still shows.
#[tokio::test]
async fn canceling_is_not_terminal() {
    let s = Server::start(&[
        "--retry-base-delay",
        "50ms",
        "--workers",
        "1",
        "--poll-retry-after",
        "3s",
    ]);
    let blocker = s.submit("bgops_Delay", json!({"DelayMs": 30000})).await;
    s.wait_status(&blocker, 20, WAIT).await;
    let id = s.submit("bgops_Echo", json!({})).await;
    cancel_ok(&s, &id).await;
    let (st, h, body) = s.status(&id).await;
    assert_eq!(st, 200);
    if body["backgroundOperationStateCode"] == 2 {
        assert_eq!(
            body,
            json!({"backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 22})
        );
        assert_eq!(retry_after(&h).as_deref(), Some("3"));
    } else {
        assert_eq!(
            body,
            json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
        );
        assert_eq!(retry_after(&h), None);
    }
    // A second cancel of a canceling row is accepted again (not terminal yet) or refused
    // as terminal; never anything else.
    let resp = delete(&s, &id).await;
    let st = resp.status().as_u16();
    if st == 400 {
        assert_eq!(
            expect_error(resp, 400, Some("0x80048408"), "second cancel").await,
            TERMINAL_CANCEL
        );
    } else {
        assert_eq!(st, 200);
    }
    cancel_ok(&s, &blocker).await;
    s.wait_terminal(&id, WAIT).await;
    s.wait_terminal(&blocker, WAIT).await;
}
