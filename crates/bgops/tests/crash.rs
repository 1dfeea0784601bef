//! Crash recovery with the real binary: SIGKILL the process, restart it on the same SQLite file,
//! and check that every acknowledged submission survives, that lost attempts are taken back
//! (counted as failed attempts) and that nothing is recorded twice or left Locked (SPEC §4, §7,
//! §14).

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Server;
use reqwest::StatusCode;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

/// The signed 32-bit `errorcode` of an attempt whose node died (0x8004418d).
const WORKER_LOST: i64 = -2147204723;

/// Opens the database read-only, for direct assertions.
fn open_ro(db: &Path) -> Connection {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the database read-only");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

/// `(statecode, statuscode, retrycount, starttime)` of every operation row, by id.
fn snapshot(db: &Path) -> HashMap<String, (i64, i64, i64, Option<i64>)> {
    let conn = open_ro(db);
    let mut stmt = conn
        .prepare(
            "SELECT backgroundoperationid, backgroundoperationstatecode, \
             backgroundoperationstatuscode, retrycount, starttime FROM backgroundoperation",
        )
        .expect("prepare snapshot");
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
            ))
        })
        .expect("snapshot");
    rows.map(|r| r.expect("snapshot row")).collect()
}

fn count(db: &Path, sql: &str) -> i64 {
    open_ro(db)
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Submits `api` in the background with its own client; `Ok(id)` on a 202, else the status and
/// body.
async fn submit_raw(
    client: &reqwest::Client,
    base: &str,
    api: &str,
    body: &Value,
) -> Result<String, (StatusCode, String)> {
    let resp = client
        .post(format!("{base}/api/data/v9.2/{api}"))
        .bearer_auth(common::TOKEN)
        .header("Prefer", "respond-async")
        .json(body)
        .send()
        .await
        .map_err(|e| (StatusCode::IM_A_TEAPOT, format!("transport error: {e}")))?;
    let status = resp.status();
    if status != StatusCode::ACCEPTED {
        return Err((status, resp.text().await.unwrap_or_default()));
    }
    Ok(resp.headers()["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .expect("operation id header")
        .to_owned())
}

/// Waits until every id is terminal (state 3) on `s`, within one shared deadline; returns the
/// final status monitor bodies.
async fn wait_all_terminal(
    s: &Server,
    ids: &[String],
    timeout: Duration,
) -> HashMap<String, Value> {
    let deadline = Instant::now() + timeout;
    let mut out = HashMap::new();
    for id in ids {
        let left = deadline.saturating_duration_since(Instant::now());
        let body = s
            .wait_terminal(id, left.max(Duration::from_millis(1)))
            .await;
        out.insert(id.clone(), body);
    }
    out
}

/// Polls the database until `sql` (a `SELECT COUNT(*)`) is positive.
async fn wait_count_positive(db: &Path, sql: &str, timeout: Duration) {
    let start = Instant::now();
    loop {
        if count(db, sql) > 0 {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "never true within {timeout:?}: {sql}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_submissions_survive_sigkill() {
    const FLAGS: &[&str] = &[
        "--lease",
        "1s",
        "--retry-base-delay",
        "50ms",
        "--workers",
        "4",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut first = Server::start_on(&db, FLAGS);

    // 40 Delay 200–800 ms, 20 Echo, 10 Fail (FailTimes 0), interleaved, submitted concurrently
    // (at most 16 in flight).
    let mut requests: Vec<(&'static str, Value)> = Vec::new();
    for i in 0..70u32 {
        let r = match i % 7 {
            0 | 2 | 4 | 6 => ("bgops_Delay", json!({ "DelayMs": 200 + (i * 37) % 601 })),
            1 | 5 => (
                "bgops_Echo",
                json!({ "Text": format!("echo {i}"), "Number": i }),
            ),
            _ => ("bgops_Fail", json!({ "FailTimes": 0 })),
        };
        requests.push(r);
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for (api, body) in requests {
        let client = first.client.clone();
        let base = first.base.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            (api, submit_raw(&client, &base, api, &body).await)
        });
    }
    let mut acked: Vec<(String, &'static str)> = Vec::new();
    let mut refused = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("submission task") {
            (api, Ok(id)) => acked.push((id, api)),
            (api, Err(e)) => refused.push((api, e)),
        }
    }
    // Throttling (429) may legitimately refuse some; anything else is a failure.
    assert!(
        refused
            .iter()
            .all(|(_, (status, _))| *status == StatusCode::TOO_MANY_REQUESTS),
        "submissions refused: {refused:?}"
    );
    assert!(
        acked.len() >= 60,
        "too few acknowledged: {} ({refused:?})",
        acked.len()
    );
    let ids: Vec<String> = acked.iter().map(|(id, _)| id.clone()).collect();
    let kinds: HashMap<String, &str> = acked.iter().cloned().collect();

    // Kill while a Delay attempt (≥ 200 ms) is running.
    wait_count_positive(
        &db,
        "SELECT COUNT(*) FROM backgroundoperation WHERE name = 'bgops_Delay' \
         AND backgroundoperationstatecode = 2 AND backgroundoperationstatuscode = 20",
        Duration::from_secs(10),
    )
    .await;
    first.kill9();

    // Straight from the file, before any restart: every acknowledged id is there, once.
    let before = snapshot(&db);
    for id in &ids {
        assert!(
            before.contains_key(id),
            "acknowledged {id} missing after SIGKILL"
        );
    }
    assert_eq!(
        before.len(),
        ids.len(),
        "rows in SQLite vs acknowledged ids after SIGKILL"
    );
    let lost: HashSet<String> = before
        .iter()
        .filter(|(_, (state, status, _, _))| *state == 2 && *status == 20)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(!lost.is_empty(), "no attempt was running at the kill");
    assert!(
        before.values().any(|(state, _, _, _)| *state == 0),
        "no acknowledged row was still queued at the kill"
    );
    assert!(
        before.values().all(|(_, _, retries, _)| *retries == 0),
        "a retry happened before the kill: {before:?}"
    );
    drop(first);

    let mut second = Server::start_on(&db, FLAGS);
    let finals = wait_all_terminal(&second, &ids, Duration::from_secs(30)).await;
    for id in &ids {
        let body = &finals[id];
        assert_eq!(
            (
                &body["backgroundOperationStateCode"],
                &body["backgroundOperationStatusCode"]
            ),
            (&json!(3), &json!(30)),
            "{} {id} did not succeed: {body}\nlog:\n{}",
            kinds[id],
            second.log_text()
        );
        let row = second.row(id).await;
        let retries = row["retrycount"].as_i64().expect("retrycount");
        if lost.contains(id) {
            assert_eq!(
                retries, 1,
                "{id} was running at the kill: its lost attempt counts once: {row}"
            );
        } else {
            assert_eq!(retries, 0, "{id} was not running at the kill: {row}");
        }
        assert!(row["starttime"].is_string(), "{id} has no starttime: {row}");
        assert!(row["endtime"].is_string(), "{id} has no endtime: {row}");
        match kinds[id] {
            "bgops_Fail" => assert_eq!(
                body["Attempts"].as_i64(),
                Some(retries + 1),
                "bgops_Fail {id}: the recorded result must be the last attempt's: {body} {row}"
            ),
            "bgops_Delay" => assert!(body["DelayedMs"].as_i64().is_some(), "{body}"),
            _ => assert!(body["Text"].is_string(), "{body}"),
        }
    }

    // Stop the restarted node cleanly, then check the file directly.
    second.sigterm();
    let status = second.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "restarted node exited with {status}");
    let after = snapshot(&db);
    assert_eq!(
        after.len(),
        ids.len(),
        "rows in SQLite vs acknowledged ids at the end"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM backgroundoperation WHERE backgroundoperationstatecode = 2"
        ),
        0,
        "rows left Locked"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM backgroundoperation WHERE backgroundoperationstatuscode <> 30"
        ),
        0,
        "rows not Succeeded"
    );
    for id in &lost {
        // starttime is set on the first attempt and kept.
        assert_eq!(
            after[id].3, before[id].3,
            "{id}: starttime changed by the retry"
        );
        assert_eq!(after[id].2, 1, "{id}: retrycount in SQLite");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_survives_sigkill_right_after_its_202() {
    // One worker, blocked by a long Delay; a long lease keeps that row Locked on the restarted
    // node so the queued Echo rows are not stuck behind its retry.
    const FLAGS: &[&str] = &[
        "--workers",
        "1",
        "--lease",
        "60s",
        "--retry-base-delay",
        "50ms",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut first = Server::start_on(&db, FLAGS);

    let blocker = first
        .submit("bgops_Delay", json!({ "DelayMs": 60000 }))
        .await;
    first
        .wait_status(&blocker, 20, Duration::from_secs(10))
        .await;
    let mut echoes = Vec::new();
    for i in 0..20 {
        echoes.push(first.submit("bgops_Echo", json!({ "Number": i })).await);
    }
    first.kill9();

    let before = snapshot(&db);
    assert_eq!(before.len(), 21, "rows after SIGKILL: {before:?}");
    for id in &echoes {
        assert_eq!(
            before.get(id).map(|r| (r.0, r.1, r.2)),
            Some((0, 0, 0)),
            "acknowledged {id} not stored as queued"
        );
    }
    assert_eq!(before[&blocker].0, 2, "the blocker was running at the kill");
    drop(first);

    let second = Server::start_on(&db, FLAGS);
    let finals = wait_all_terminal(&second, &echoes, Duration::from_secs(30)).await;
    for (i, id) in echoes.iter().enumerate() {
        assert_eq!(
            finals[id],
            json!({
                "backgroundOperationStateCode": 3,
                "backgroundOperationStatusCode": 30,
                "Number": i
            }),
            "{id}"
        );
        assert_eq!(second.row(id).await["retrycount"], 0, "{id}");
    }
}

#[tokio::test]
async fn lost_attempt_without_retries_ends_failed() {
    const FLAGS: &[&str] = &[
        "--lease",
        "1s",
        "--max-retries",
        "0",
        "--retry-base-delay",
        "50ms",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut first = Server::start_on(&db, FLAGS);
    let id = first
        .submit("bgops_Delay", json!({ "DelayMs": 60000 }))
        .await;
    first.wait_status(&id, 20, Duration::from_secs(10)).await;
    first.kill9();
    drop(first);

    let second = Server::start_on(&db, FLAGS);
    let body = second.wait_terminal(&id, Duration::from_secs(10)).await;
    assert_eq!(body["backgroundOperationStateCode"], 3, "{body}");
    assert_eq!(body["backgroundOperationStatusCode"], 31, "{body}");
    assert_eq!(body["backgroundOperationErrorCode"], WORKER_LOST, "{body}");
    assert!(
        body["backgroundOperationErrorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let row = second.row(&id).await;
    assert_eq!(row["backgroundoperationstatecode"], 3, "{row}");
    assert_eq!(row["backgroundoperationstatuscode"], 31, "{row}");
    assert_eq!(row["errorcode"], WORKER_LOST, "{row}");
    assert!(row["endtime"].is_string(), "endtime not set: {row}");
    assert!(row["starttime"].is_string(), "starttime not set: {row}");
    assert!(
        row["outputparameters"].is_null(),
        "a failed row has no outputs: {row}"
    );
}

#[tokio::test]
async fn cancel_while_running_ends_canceled_promptly() {
    let s = Server::start(&["--lease", "1s", "--retry-base-delay", "50ms"]);
    let id = s.submit("bgops_Delay", json!({ "DelayMs": 60000 })).await;
    s.wait_status(&id, 20, Duration::from_secs(10)).await;
    let resp = s
        .req(
            reqwest::Method::DELETE,
            &format!("/api/backgroundoperation/{id}"),
        )
        .send()
        .await
        .expect("cancel");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("cancel body");
    assert_eq!(
        body,
        json!({ "backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 22 })
    );
    let start = Instant::now();
    let body = s.wait_terminal(&id, Duration::from_secs(5)).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        body,
        json!({ "backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32 })
    );
    let row = s.row(&id).await;
    assert!(row["errorcode"].is_null(), "{row}");
    assert!(row["endtime"].is_string(), "{row}");
    assert_eq!(row["retrycount"], 0, "{row}");
}

#[tokio::test]
async fn canceling_row_of_dead_node_ends_canceled() {
    // A lease long enough that the restarted node is up, and the cancel requested, before the
    // dead node's lease runs out: the row is then 2/22 with a lease nobody renews.
    const FLAGS: &[&str] = &["--lease", "6s", "--retry-base-delay", "50ms"];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut first = Server::start_on(&db, FLAGS);
    let id = first
        .submit("bgops_Delay", json!({ "DelayMs": 60000 }))
        .await;
    first.wait_status(&id, 20, Duration::from_secs(10)).await;
    first.kill9();
    drop(first);

    let second = Server::start_on(&db, FLAGS);
    let resp = second
        .req(
            reqwest::Method::DELETE,
            &format!("/api/backgroundoperation/{id}"),
        )
        .send()
        .await
        .expect("cancel");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("cancel body");
    assert_eq!(
        body,
        json!({ "backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 22 })
    );
    // Still the dead node's attempt: Canceling, not yet taken back.
    let row = second.row(&id).await;
    assert_eq!(
        (&row["backgroundoperationstatecode"], &row["backgroundoperationstatuscode"]),
        (&json!(2), &json!(22)),
        "the cancel must land on the dead node's Locked row (was the restart slower than the lease?): {row}"
    );
    // Taken back when the lease expires (≤ 6 s), as Canceled, without a retry.
    let body = second.wait_terminal(&id, Duration::from_secs(15)).await;
    assert_eq!(
        body,
        json!({ "backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32 }),
        "log:\n{}",
        second.log_text()
    );
    let row = second.row(&id).await;
    assert!(
        row["errorcode"].is_null(),
        "a canceled row has no errorcode: {row}"
    );
    assert!(row["endtime"].is_string(), "{row}");
    assert_eq!(
        row["retrycount"], 0,
        "a canceled lost attempt is not retried: {row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_a_submission_burst_loses_no_acknowledged_row() {
    const FLAGS: &[&str] = &[
        "--lease",
        "1s",
        "--retry-base-delay",
        "50ms",
        "--workers",
        "4",
    ];
    const SUBMITTERS: usize = 8;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut first = Server::start_on(&db, FLAGS);

    // Submitters keep going until the process is gone; the kill lands mid-burst.
    let acked_so_far = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..SUBMITTERS {
        let client = first.client.clone();
        let base = first.base.clone();
        let acked_so_far = acked_so_far.clone();
        tasks.spawn(async move {
            let mut acked = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            for n in 0.. {
                let (api, body) = if n % 3 == 0 {
                    ("bgops_Delay", json!({ "DelayMs": 100 }))
                } else {
                    ("bgops_Echo", json!({ "Text": format!("{t}/{n}") }))
                };
                match submit_raw(&client, &base, api, &body).await {
                    Ok(id) => {
                        acked.push(id);
                        acked_so_far.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err((status, _)) if status == StatusCode::TOO_MANY_REQUESTS => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(_) => break,
                }
                if Instant::now() > deadline {
                    break;
                }
            }
            acked
        });
    }
    let start = Instant::now();
    while acked_so_far.load(std::sync::atomic::Ordering::SeqCst) < 150 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "submissions too slow"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill9();
    let mut ids = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        ids.extend(joined.expect("submitter"));
    }
    drop(first);

    let before = snapshot(&db);
    for id in &ids {
        assert!(
            before.contains_key(id),
            "acknowledged {id} missing after SIGKILL"
        );
    }
    // At most one unacknowledged (in-flight) submission per submitter may have been stored.
    assert!(
        before.len() >= ids.len() && before.len() <= ids.len() + SUBMITTERS,
        "{} rows for {} acknowledged submissions",
        before.len(),
        ids.len()
    );

    let second = Server::start_on(&db, FLAGS);
    let all: Vec<String> = before.keys().cloned().collect();
    let finals = wait_all_terminal(&second, &all, Duration::from_secs(30)).await;
    for (id, body) in &finals {
        assert_eq!(
            (
                &body["backgroundOperationStateCode"],
                &body["backgroundOperationStatusCode"]
            ),
            (&json!(3), &json!(30)),
            "{id}: {body}"
        );
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM backgroundoperation WHERE backgroundoperationstatecode <> 3"
        ),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM backgroundoperation WHERE retrycount > 1"
        ),
        0,
        "a lost attempt counted more than once"
    );
    assert_eq!(
        snapshot(&db).len(),
        before.len(),
        "rows appeared or vanished after the restart"
    );
}
