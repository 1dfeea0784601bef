//! Graceful shutdown with the real binary (SPEC §1): on SIGTERM/SIGINT the service stops
//! accepting HTTP and claiming, lets running attempts finish within the grace period, and exits
//! 0; work it could not finish is taken back after a restart (SPEC §7).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

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

/// `(statecode, statuscode, retrycount, outputparameters)` of one row, straight from the file.
fn db_row(db: &Path, id: &str) -> (i64, i64, i64, Option<String>) {
    open_ro(db)
        .query_row(
            "SELECT backgroundoperationstatecode, backgroundoperationstatuscode, retrycount, \
             outputparameters FROM backgroundoperation WHERE backgroundoperationid = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap_or_else(|e| panic!("row {id}: {e}"))
}

fn send_signal(s: &Server, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(s.child.id() as i32);
    nix::sys::signal::kill(pid, signal).expect("signal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_running_attempt_finish_then_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut s = Server::start_on(&db, common::FAST);
    let id = s.submit("bgops_Delay", json!({ "DelayMs": 1500 })).await;
    s.wait_status(&id, 20, Duration::from_secs(10)).await;
    s.sigterm();
    let status = s.wait_exit(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        s.log_text()
    );
    assert_eq!(status.code(), Some(0));

    // The attempt finished before the process exited: its result is in the file.
    let (state, code, retries, _) = db_row(&db, &id);
    assert_eq!((state, code, retries), (3, 30, 0), "log:\n{}", s.log_text());
    drop(s);

    let s = Server::start_on(&db, common::FAST);
    let (_, _, body) = s.status(&id).await;
    assert_eq!(
        body,
        json!({
            "backgroundOperationStateCode": 3,
            "backgroundOperationStatusCode": 30,
            "DelayedMs": 1500
        })
    );
    let row = s.row(&id).await;
    assert_eq!(
        row["retrycount"], 0,
        "finished, not recovered as a lost attempt: {row}"
    );
    assert!(row["endtime"].is_string(), "{row}");
    assert!(row["errorcode"].is_null(), "{row}");
}

#[tokio::test]
async fn sigterm_when_idle_exits_0_promptly() {
    let mut s = Server::start(common::FAST);
    let h = s.client.get(s.url("/health")).send().await.expect("health");
    assert_eq!(h.status(), 200);
    let start = Instant::now();
    s.sigterm();
    let status = s.wait_exit(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        s.log_text()
    );
    assert_eq!(status.code(), Some(0));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn sigint_when_idle_exits_0_promptly() {
    let mut s = Server::start(common::FAST);
    send_signal(&s, nix::sys::signal::Signal::SIGINT);
    let status = s.wait_exit(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        s.log_text()
    );
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_and_claiming() {
    const FLAGS: &[&str] = &[
        "--workers",
        "1",
        "--retry-base-delay",
        "50ms",
        "--lease",
        "2s",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut s = Server::start_on(&db, FLAGS);
    let running = s.submit("bgops_Delay", json!({ "DelayMs": 3000 })).await;
    s.wait_status(&running, 20, Duration::from_secs(10)).await;
    // Queued behind the only worker.
    let queued = s.submit("bgops_Echo", json!({ "Text": "later" })).await;
    let sent = Instant::now();
    s.sigterm();

    // New connections are refused while the running attempt finishes.
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let refused = loop {
        match fresh.get(s.url("/health")).send().await {
            Err(_) => break true,
            Ok(_) if sent.elapsed() > Duration::from_secs(1) => break false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(refused, "still accepting HTTP 1 s after SIGTERM");
    assert!(
        s.child.try_wait().expect("try_wait").is_none(),
        "exited before the running attempt could finish; log:\n{}",
        s.log_text()
    );

    let status = s.wait_exit(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        s.log_text()
    );
    assert_eq!(db_row(&db, &running).0, 3, "the running attempt finished");
    assert_eq!(db_row(&db, &running).1, 30);
    assert_eq!(
        db_row(&db, &queued),
        (0, 0, 0, None),
        "nothing is claimed after SIGTERM; log:\n{}",
        s.log_text()
    );
    drop(s);

    let s = Server::start_on(&db, FLAGS);
    let body = s.wait_terminal(&queued, Duration::from_secs(10)).await;
    assert_eq!(
        body,
        json!({
            "backgroundOperationStateCode": 3,
            "backgroundOperationStatusCode": 30,
            "Text": "later"
        })
    );
    assert_eq!(s.row(&queued).await["retrycount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_grace_exceeded_leaves_work_for_recovery() {
    const FLAGS: &[&str] = &[
        "--shutdown-grace",
        "300ms",
        "--lease",
        "1s",
        "--retry-base-delay",
        "50ms",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bgops.db");
    let mut s = Server::start_on(&db, FLAGS);
    let id = s.submit("bgops_Delay", json!({ "DelayMs": 5000 })).await;
    s.wait_status(&id, 20, Duration::from_secs(10)).await;
    s.sigterm();
    let status = s.wait_exit(Duration::from_secs(5));
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        s.log_text()
    );
    assert_eq!(status.code(), Some(0));
    // Left Locked, under a lease nobody renews.
    let (state, code, retries, outputs): (i64, i64, i64, Option<String>) = db_row(&db, &id);
    assert_eq!((state, code, retries, outputs), (2, 20, 0, None));
    drop(s);

    let s = Server::start_on(&db, FLAGS);
    let body: Value = s.wait_terminal(&id, Duration::from_secs(20)).await;
    assert_eq!(
        body,
        json!({
            "backgroundOperationStateCode": 3,
            "backgroundOperationStatusCode": 30,
            "DelayedMs": 5000
        }),
        "log:\n{}",
        s.log_text()
    );
    let row = s.row(&id).await;
    assert_eq!(
        row["retrycount"], 1,
        "the unfinished attempt was taken back once: {row}"
    );
    assert!(row["errorcode"].is_null(), "{row}");
    assert!(row["endtime"].is_string(), "{row}");
}
