//! What a client sees is what is happening (SPEC §4, §5, §14): a node claims rows ahead of its
//! free workers, but a row no worker has started reads Ready / Waiting For Resources (0/0) with
//! no `starttime` everywhere a client looks; a cancel of it leaves no `starttime`; a node killed
//! while holding such rows makes nothing fail; and a long attempt shows In Progress soon after
//! it starts, not at its end.
//!
//! Each test warms a one-worker node up with fast `bgops_Echo` rows, so it claims ahead by that
//! pace (`--claim-ahead 5s` remembers it), then holds the worker in a long `bgops_Delay`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bgops_core::Timestamp;
use common::Server;
use reqwest::Method;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// One worker, claim-ahead judged over 5 s, fast retries.
const FLAGS: &[&str] = &[
    "--workers",
    "1",
    "--claim-ahead",
    "5s",
    "--retry-base-delay",
    "50ms",
];

/// The log line the claimer writes when it hands back rows it had reserved.
const HANDED_BACK: &str = "handed back rows claimed ahead";

/// Runs `n` Echo rows to the end, so the node has a recent pace to claim ahead by.
async fn warm_up(s: &Server, n: usize) {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(s.submit("bgops_Echo", json!({ "Number": i })).await);
    }
    for id in &ids {
        s.wait_terminal(id, WAIT).await;
    }
}

/// Submits a Delay of `ms` and waits until it holds the only worker (2/20).
async fn block(s: &Server, ms: u64) -> String {
    let id = s.submit("bgops_Delay", json!({ "DelayMs": ms })).await;
    s.wait_status(&id, 20, WAIT).await;
    id
}

/// Submits `n` Echo rows (the node reserves them for its busy worker).
async fn queue(s: &Server, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            s.submit("bgops_Echo", json!({ "Text": format!("queued {i}") }))
                .await,
        );
    }
    ids
}

/// Reads `ids` through the status monitor and the `backgroundoperations` table (`$select` of
/// state, status and `starttime`, with labels) and asserts each reads as a waiting row.
async fn assert_waiting(s: &Server, ids: &[String]) {
    for id in ids {
        let (status, _, body) = s.status(id).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"backgroundOperationStateCode": 0, "backgroundOperationStatusCode": 0}),
            "status monitor of {id}"
        );
    }
    let filter = ids
        .iter()
        .map(|id| format!("backgroundoperationid eq {id}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let rows: Value = s
        .req(Method::GET, "/api/data/v9.2/backgroundoperations")
        .query(&[
            (
                "$select",
                "backgroundoperationstatecode,backgroundoperationstatuscode,starttime,retrycount",
            ),
            ("$filter", filter.as_str()),
        ])
        .header(
            "Prefer",
            "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
        )
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("query json");
    let rows = rows["value"].as_array().expect("value");
    assert_eq!(rows.len(), ids.len(), "{rows:?}");
    for row in rows {
        assert_eq!(row["backgroundoperationstatecode"], 0, "{row}");
        assert_eq!(row["backgroundoperationstatuscode"], 0, "{row}");
        assert_eq!(
            row["backgroundoperationstatecode@OData.Community.Display.V1.FormattedValue"], "Ready",
            "{row}"
        );
        assert_eq!(
            row["backgroundoperationstatuscode@OData.Community.Display.V1.FormattedValue"],
            "Waiting For Resources",
            "{row}"
        );
        assert_eq!(row["starttime"], Value::Null, "{row}");
        assert_eq!(row["retrycount"], 0, "{row}");
    }
    // And `$filter` on the state finds them among the waiting rows.
    let waiting: Value = s
        .req(Method::GET, "/api/data/v9.2/backgroundoperations")
        .query(&[
            ("$select", "backgroundoperationid"),
            ("$filter", "backgroundoperationstatecode eq 0"),
        ])
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("query json");
    let found: Vec<&str> = waiting["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|r| r["backgroundoperationid"].as_str())
        .collect();
    for id in ids {
        assert!(found.contains(&id.as_str()), "{id} not among {found:?}");
    }
}

/// With the only worker busy, rows the node reserved for it read 0/0 with no `starttime` for as
/// long as no worker is free, then run once each with no retry counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_rows_read_as_waiting_until_a_worker_starts_them() {
    let s = Server::start(FLAGS);
    warm_up(&s, 20).await;
    let blocker = block(&s, 3_000).await;
    let ids = queue(&s, 8).await;

    // Read them again and again while the worker is busy: the node reserves them at once and
    // hands them back after a quarter second; neither shows.
    let until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < until {
        assert_waiting(&s, &ids).await;
    }
    assert!(
        s.log_text().contains(HANDED_BACK),
        "the rows were reserved (and handed back) meanwhile; log:\n{}",
        s.log_text()
    );

    let first_end = s.wait_terminal(&blocker, WAIT).await;
    assert_eq!(
        first_end["backgroundOperationStatusCode"], 30,
        "{first_end}"
    );
    for id in &ids {
        let body = s.wait_terminal(id, WAIT).await;
        assert_eq!(body["backgroundOperationStatusCode"], 30, "{body}");
        let row = s.row(id).await;
        assert_eq!(row["retrycount"], 0, "{row}");
        assert!(row["starttime"].is_string(), "{row}");
    }
}

/// Rows reserved for the busy worker and canceled (DELETE on the status monitor, PATCH of the
/// row) end Canceled at once with no `starttime`: they never started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_reserved_rows_leaves_no_starttime() {
    let s = Server::start(FLAGS);
    warm_up(&s, 20).await;
    let blocker = block(&s, 4_000).await;
    let ids = queue(&s, 4).await;

    let resp = s
        .req(
            Method::DELETE,
            &format!("/api/backgroundoperation/{}", ids[0]),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 22})
    );
    let resp = s
        .req(
            Method::PATCH,
            &format!("/api/data/v9.2/backgroundoperations({})", ids[1]),
        )
        .header("If-Match", "*")
        .json(&json!({"backgroundoperationstatecode": 2, "backgroundoperationstatuscode": 22}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), 204);

    for id in &ids[..2] {
        let body = s.wait_terminal(id, Duration::from_secs(2)).await;
        assert_eq!(
            body,
            json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
        );
        let row = s.row(id).await;
        assert_eq!(row["starttime"], Value::Null, "never started: {row}");
        assert!(row["endtime"].is_string(), "{row}");
        assert_eq!(row["retrycount"], 0, "{row}");
        assert_eq!(row["outputparameters"], Value::Null, "{row}");
    }
    // The blocker still runs; the others wait and then run.
    let (_, _, body) = s.status(&blocker).await;
    assert_eq!(body["backgroundOperationStatusCode"], 20, "{body}");
    for id in &ids[2..] {
        let body = s.wait_terminal(id, WAIT).await;
        assert_eq!(body["backgroundOperationStatusCode"], 30, "{body}");
    }
}

/// Rows that `bgops` reserved and no worker started, read straight from the file (a
/// reservation shows nowhere else).
fn reserved_count(db: &Path) -> i64 {
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open read-only");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy");
    conn.query_row(
        "SELECT COUNT(*) FROM backgroundoperation \
         WHERE backgroundoperationstatecode = 0 AND leaseowner IS NOT NULL",
        [],
        |r| r.get(0),
    )
    .expect("count")
}

/// A node killed (SIGKILL) while holding reserved rows makes none of them fail, even with
/// `--max-retries 0`: after a restart each runs and ends Succeeded with `retrycount` 0. Only the
/// attempt that had started (the Delay) counts as a lost attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_with_reserved_rows_fails_nothing_that_never_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut flags = FLAGS.to_vec();
    flags.extend(["--max-retries", "0", "--lease", "1s"]);
    let mut first = Server::start_on(&db, &flags);
    warm_up(&first, 20).await;
    let blocker = block(&first, 60_000).await;
    let ids = queue(&first, 8).await;
    let start = Instant::now();
    while reserved_count(&db) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no row was reserved"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill9();
    let reserved = reserved_count(&db);
    assert!(reserved > 0);
    drop(first);

    let second = Server::start_on(&db, &flags);
    for id in &ids {
        let body = second.wait_terminal(id, WAIT).await;
        assert_eq!(
            body["backgroundOperationStatusCode"], 30,
            "a row that never started must not fail: {body}"
        );
        let row = second.row(id).await;
        assert_eq!(row["retrycount"], 0, "{row}");
        assert_eq!(row["errorcode"], Value::Null, "{row}");
    }
    let lost = second.wait_terminal(&blocker, WAIT).await;
    assert_eq!(lost["backgroundOperationStatusCode"], 31, "{lost}");
    assert_eq!(reserved_count(&db), 0);
}

/// A long attempt reads In Progress (2/20) soon after it starts, with its `starttime`: within
/// the documented bound (its start is written 20 ms in, plus one commit), checked here with
/// room for a slow machine, far from the attempt's 5 s end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_attempt_shows_in_progress_soon_after_it_starts() {
    let s = Server::start(FLAGS);
    let before = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64,
    );
    let submitted = Instant::now();
    let id = s.submit("bgops_Delay", json!({ "DelayMs": 5_000 })).await;
    loop {
        let (_, _, body) = s.status(&id).await;
        if body["backgroundOperationStatusCode"] == 20 {
            break;
        }
        assert_eq!(body["backgroundOperationStatusCode"], 0, "{body}");
        assert!(
            submitted.elapsed() < Duration::from_secs(1),
            "not In Progress 1 s after submission: {body}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seen = submitted.elapsed();
    let row = s.row(&id).await;
    let start = row["starttime"]
        .as_str()
        .and_then(Timestamp::parse_rfc3339)
        .unwrap_or_else(|| panic!("starttime: {row}"));
    // `starttime` has whole seconds: it lies between the submission (rounded down) and now.
    assert!(start.0 >= before.0 / 1000 * 1000, "{row}");
    assert!(start.0 <= before.0 + seen.as_millis() as i64, "{row}");
    assert_eq!(row["backgroundoperationstatuscode"], 20, "{row}");
}
