//! Server-sent events (SPEC §15): the status monitor with `Accept: text/event-stream` streams
//! an operation's states until it is terminal; `GET /api/events` streams every change, and a
//! client that reconnects with `Last-Event-ID` loses nothing; at most `--max-event-streams`
//! streams run at once; bad event ids are 400 in the Dataverse error shape.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{expect_error, Server, FAST};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    id: Option<i64>,
    data: Value,
}

/// Reads events from a response body, a chunk at a time.
struct Reader {
    resp: reqwest::Response,
    buf: String,
}

impl Reader {
    fn new(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), StatusCode::OK);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Self {
            resp,
            buf: String::new(),
        }
    }

    /// The next event; `None` when the stream ended. Comment lines (keep-alives) are skipped.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().expect("numeric id"));
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment
                }
                return Some(Sse {
                    id,
                    data: serde_json::from_str(&data).expect("JSON data"),
                });
            }
            let chunk = tokio::time::timeout(WAIT, self.resp.chunk())
                .await
                .expect("an event or the end within the time limit")
                .expect("read");
            match chunk {
                Some(bytes) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }
}

async fn open(server: &Server, path: &str, last_event_id: Option<i64>) -> reqwest::Response {
    let mut req = server
        .req(Method::GET, path)
        .header("Accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    req.send().await.expect("open stream")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operations_stream_follows_it_to_the_end() {
    let server = Server::start(FAST);
    let id = server
        .submit("bgops_Delay", json!({ "DelayMs": 1000 }))
        .await;
    let path = format!("/api/backgroundoperation/{id}");
    let mut events = Reader::new(open(&server, &path, None).await);
    let mut seen = Vec::new();
    while let Some(e) = events.next().await {
        seen.push(e);
    }
    let last = seen.last().expect("at least the final state");
    assert_eq!(last.data["backgroundOperationStatusCode"], 30, "{seen:?}");
    assert_eq!(
        last.data["DelayedMs"], 1000,
        "the outputs, as the status monitor"
    );
    let ids: Vec<i64> = seen.iter().map(|e| e.id.expect("an id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    for e in &seen[..seen.len() - 1] {
        assert_ne!(
            e.data["backgroundOperationStateCode"], 3,
            "terminal only last"
        );
    }

    // Reconnecting after the terminal event: 204, which tells EventSource to stop.
    let resp = open(&server, &path, Some(*ids.last().unwrap())).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // From an earlier event: the current state, then the end.
    let mut again = Reader::new(open(&server, &path, Some(ids[0])).await);
    let e = again.next().await.expect("the current state");
    assert_eq!(e.data["backgroundOperationStatusCode"], 30);
    assert!(again.next().await.is_none(), "and the stream ends");
}

/// On PostgreSQL a stream on one node sees an attempt start that any node recorded: the start
/// travels as its own notification (`started:`, which wakes streams and not long polls), not
/// only with the end.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_on_one_node_sees_an_attempt_start_recorded_through_postgresql() {
    let schema = common::pg::Schema::new().await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--workers", "1", "--claim-ahead", "0s"];
    let a = Server::start_url(&schema.url, dir.path(), &flags);
    let b = Server::start_url(&schema.url, dir.path(), &flags);
    // Both nodes' one worker busy, so the operation waits while its stream opens.
    let held = [
        a.submit("bgops_Delay", json!({ "DelayMs": 2500 })).await,
        a.submit("bgops_Delay", json!({ "DelayMs": 2500 })).await,
    ];
    for h in &held {
        a.wait_status(h, 20, WAIT).await;
    }
    let id = a.submit("bgops_Delay", json!({ "DelayMs": 1000 })).await;
    let mut events = Reader::new(open(&b, &format!("/api/backgroundoperation/{id}"), None).await);
    let mut codes = Vec::new();
    while let Some(e) = events.next().await {
        codes.push(e.data["backgroundOperationStatusCode"].as_i64().unwrap());
    }
    assert_eq!(codes.first(), Some(&0), "waiting for a worker: {codes:?}");
    assert_eq!(codes.last(), Some(&30), "{codes:?}");
    assert!(
        codes.contains(&20),
        "its start (In Progress) is streamed before the end: {codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_ends_an_operations_stream() {
    let server = Server::start(FAST);
    let id = server
        .submit("bgops_Delay", json!({ "DelayMs": 120000 }))
        .await;
    server.wait_status(&id, 20, WAIT).await;
    let path = format!("/api/backgroundoperation/{id}");
    let mut events = Reader::new(open(&server, &path, None).await);
    let first = events.next().await.unwrap();
    assert_eq!(first.data["backgroundOperationStatusCode"], 20);
    let resp = server.req(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut codes = Vec::new();
    while let Some(e) = events.next().await {
        codes.push(e.data["backgroundOperationStatusCode"].as_i64().unwrap());
    }
    assert_eq!(codes.last(), Some(&32), "{codes:?}");
}

/// Reads `/api/events` until every id of `want` has shown a terminal state; returns the events.
async fn until_terminal(events: &mut Reader, want: &HashSet<String>) -> Vec<Sse> {
    let mut done = HashSet::new();
    let mut out = Vec::new();
    while !want.iter().all(|id| done.contains(id)) {
        let e = events.next().await.expect("the stream does not end");
        let op = e.data["backgroundOperationId"].as_str().unwrap().to_owned();
        if e.data["backgroundOperationStateCode"] == 3 {
            done.insert(op);
        }
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_of_every_change_resumes_without_losing_anything() {
    let server = Server::start(FAST);
    let before = server.submit("bgops_Echo", json!({ "Text": "old" })).await;
    server.wait_terminal(&before, WAIT).await;

    let mut events = Reader::new(open(&server, "/api/events", None).await);
    let mut first_batch = HashSet::new();
    for i in 0..10 {
        first_batch.insert(
            server
                .submit("bgops_Echo", json!({ "Text": format!("a{i}") }))
                .await,
        );
    }
    let seen = until_terminal(&mut events, &first_batch).await;
    assert!(
        seen.iter()
            .all(|e| e.data["backgroundOperationId"] != before.as_str()),
        "a stream without an event id starts now"
    );
    let e = &seen[0];
    for key in ["name", "createdOn", "modifiedOn", "location"] {
        assert!(e.data.get(key).is_some(), "{key} in {}", e.data);
    }
    let last_id = seen.iter().filter_map(|e| e.id).max().unwrap();
    drop(events);

    // While the client is away, more operations run and end.
    let mut second_batch = HashSet::new();
    for i in 0..10 {
        second_batch.insert(
            server
                .submit("bgops_Echo", json!({ "Text": format!("b{i}") }))
                .await,
        );
    }
    for id in &second_batch {
        server.wait_terminal(id, WAIT).await;
    }
    let mut resumed = Reader::new(open(&server, "/api/events", Some(last_id)).await);
    let later = until_terminal(&mut resumed, &second_batch).await;
    assert!(
        later.iter().all(|e| e.id.unwrap() > last_id),
        "only what came after the last event"
    );
    let mut last_state: HashMap<String, i64> = HashMap::new();
    for e in &later {
        last_state.insert(
            e.data["backgroundOperationId"].as_str().unwrap().to_owned(),
            e.data["backgroundOperationStatusCode"].as_i64().unwrap(),
        );
    }
    for id in &second_batch {
        assert_eq!(last_state.get(id), Some(&30), "{id} ended Succeeded");
    }

    // `?after=0` replays every operation still stored.
    let mut replay = Reader::new(open(&server, "/api/events?after=0", None).await);
    let mut all = first_batch.clone();
    all.extend(second_batch);
    all.insert(before);
    until_terminal(&mut replay, &all).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_are_capped_and_bad_event_ids_refused() {
    let mut flags = FAST.to_vec();
    flags.extend(["--max-event-streams", "2"]);
    let server = Server::start(&flags);
    let one = open(&server, "/api/events", None).await;
    let two = open(&server, "/api/events", None).await;
    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(two.status(), StatusCode::OK);
    let three = open(&server, "/api/events", None).await;
    expect_error(three, 429, Some("0x80072326"), "a third stream").await;
    // Long polls and plain reads are not streams.
    let id = server.submit("bgops_Echo", json!({ "Text": "x" })).await;
    server.wait_terminal(&id, WAIT).await;
    drop((one, two));

    let fresh = Server::start(FAST);
    for bad in ["abc", "-5", "1.5"] {
        let resp = fresh
            .req(Method::GET, "/api/events")
            .header("Accept", "text/event-stream")
            .header("Last-Event-ID", bad)
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, Some("0x80040203"), bad).await;
        let resp = fresh
            .req(Method::GET, &format!("/api/events?after={bad}"))
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, Some("0x80040203"), bad).await;
    }
    let unknown = uuid::Uuid::new_v4();
    let resp = open(&fresh, &format!("/api/backgroundoperation/{unknown}"), None).await;
    expect_error(resp, 404, Some("0x80040217"), "unknown operation").await;
}
