//! Several `bgops serve` processes on one PostgreSQL database (SPEC §14): they share the work,
//! each operation ends exactly once with its own outputs, a submission on one node is started
//! at once by an idle other, a cancel sent to one node stops the attempt running on another, a
//! custom API created on one node is callable on another, and a node killed with SIGKILL loses
//! nothing acknowledged.
//!
//! Needs the PostgreSQL test server (`BGOPS_TEST_POSTGRES`); each test gets its own schema.

mod common;
mod receiver;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::custom_apis::create_echo;
use common::{pg, Server};
use receiver::{Receiver, PERMISSIVE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// Short leases so a killed node's attempts come back quickly; fast retries.
const FLAGS: &[&str] = &["--lease", "1s", "--retry-base-delay", "50ms"];

/// Starts `n` nodes on `schema`, logging into `dir`.
fn nodes(schema: &pg::Schema, dir: &std::path::Path, n: usize, extra: &[&str]) -> Vec<Server> {
    let mut flags = FLAGS.to_vec();
    flags.extend_from_slice(extra);
    (0..n)
        .map(|_| Server::start_url(&schema.url, dir, &flags))
        .collect()
}

/// How many attempts each node's log says succeeded, by operation id.
fn succeeded_on(node: &Server) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for line in node.log_text().lines() {
        if !line.contains("succeeded") {
            continue;
        }
        if let Some(start) = line.find("operation=") {
            let id: String = line[start + "operation=".len()..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                .collect();
            *out.entry(id).or_default() += 1;
        }
    }
    out
}

/// Submits `n` Echo operations round-robin over `nodes`; returns `(id, text)` of each.
async fn burst(nodes: &[Server], n: usize, tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let text = format!("{tag} {i}");
        let id = nodes[i % nodes.len()]
            .submit("bgops_Echo", json!({ "Text": text }))
            .await;
        out.push((id, text));
    }
    out
}

/// Waits until every operation is terminal (read through `node`) and checks each Succeeded
/// with its own output, nothing counted against it.
async fn assert_all_succeeded(node: &Server, ops: &[(String, String)]) {
    let deadline = Instant::now() + WAIT;
    for (id, text) in ops {
        let left = deadline.saturating_duration_since(Instant::now());
        let body = node
            .wait_terminal(id, left.max(Duration::from_millis(1)))
            .await;
        assert_eq!(body["backgroundOperationStatusCode"], 30, "{id}: {body}");
        assert_eq!(body["Text"], text.as_str(), "{id}: its own output");
    }
}

/// Three nodes share a burst of submissions: every operation ends once, with its own output,
/// and each node ran some of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_a_burst_and_run_each_operation_once() {
    let schema = pg::Schema::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes = nodes(&schema, dir.path(), 3, &["--workers", "2"]);
    let ops = burst(&nodes, 300, "burst").await;
    assert_all_succeeded(&nodes[0], &ops).await;

    let per_node: Vec<HashMap<String, usize>> = nodes.iter().map(succeeded_on).collect();
    let mut runs: HashMap<&str, usize> = HashMap::new();
    for log in &per_node {
        for (id, n) in log {
            *runs.entry(id.as_str()).or_default() += n;
        }
    }
    for (id, _) in &ops {
        assert_eq!(runs.get(id.as_str()), Some(&1), "{id} ran exactly once");
    }
    for (i, log) in per_node.iter().enumerate() {
        assert!(
            !log.is_empty(),
            "node {i} ran none of the 300: {per_node:?}"
        );
    }
}

/// A submission to a node whose only worker is busy is started by an idle other node at once
/// (a notification), not at that node's next poll (every 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_node_starts_work_submitted_to_a_busy_one_at_once() {
    let schema = pg::Schema::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = Server::start_url(&schema.url, dir.path(), &["--workers", "1"]);
    let blocker = busy
        .submit("bgops_Delay", json!({ "DelayMs": 20_000 }))
        .await;
    busy.wait_status(&blocker, 20, WAIT).await;
    let idle = Server::start_url(&schema.url, dir.path(), &["--workers", "2"]);
    // The idle node has started and looked once; from now on only a notification wakes it
    // sooner than its poll.
    tokio::time::sleep(Duration::from_millis(500)).await;

    for i in 0..5 {
        let sent = Instant::now();
        let id = busy
            .submit("bgops_Echo", json!({ "Text": i.to_string() }))
            .await;
        let body = busy.wait_terminal(&id, WAIT).await;
        assert_eq!(body["backgroundOperationStatusCode"], 30, "{body}");
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "took {:?}: the idle node was not woken",
            sent.elapsed()
        );
        assert_eq!(
            succeeded_on(&idle).get(&id),
            Some(&1),
            "ran on the idle node"
        );
    }
}

/// A cancel sent to one node stops the attempt running on another at once (a notification;
/// the lease renewal would take a third of the 30 s lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_on_one_node_stops_the_attempt_on_another() {
    let schema = pg::Schema::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = Server::start_url(&schema.url, dir.path(), &["--lease", "30s"]);
    let id = runner
        .submit("bgops_Delay", json!({ "DelayMs": 60_000 }))
        .await;
    runner.wait_status(&id, 20, WAIT).await;
    let other = Server::start_url(&schema.url, dir.path(), &["--lease", "30s"]);

    let sent = Instant::now();
    let resp = other
        .req(Method::DELETE, &format!("/api/backgroundoperation/{id}"))
        .send()
        .await
        .expect("cancel");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = other.wait_terminal(&id, Duration::from_secs(5)).await;
    assert_eq!(
        body,
        json!({"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 32})
    );
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "the attempt on the other node stopped after {:?}",
        sent.elapsed()
    );
}

/// A custom API created on one node is callable on another at once, and gone there once
/// deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_api_created_on_one_node_is_callable_on_another() {
    let schema = pg::Schema::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes = nodes(&schema, dir.path(), 2, &[]);
    let call = |node: &Server| {
        node.req(Method::POST, "/api/data/v9.2/contoso_Everywhere")
            .json(&json!({ "Text": "hi" }))
            .send()
    };
    assert_eq!(call(&nodes[1]).await.expect("call").status(), 404);
    let id = create_echo(&nodes[0], "contoso_Everywhere").await;
    let resp = call(&nodes[1]).await.expect("call");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.expect("json")["Text"], "hi");

    let resp = nodes[0]
        .req(Method::DELETE, &format!("/api/data/v9.2/customapis({id})"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(call(&nodes[1]).await.expect("call").status(), 404);
}

/// SIGKILL of a node in the middle of a burst of slow work loses no acknowledged operation
/// and records no result twice; its attempts are taken back by the others, and the node
/// restarted on the same database rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_burst_loses_nothing_and_rejoins() {
    let schema = pg::Schema::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes = nodes(&schema, dir.path(), 3, &["--workers", "2"]);
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(
            nodes[i % 3]
                .submit("bgops_Delay", json!({ "DelayMs": 200 }))
                .await,
        );
    }
    // Kill the second node while it holds attempts.
    let start = Instant::now();
    loop {
        let running: i64 = schema
            .client()
            .await
            .query_one(
                "SELECT COUNT(*) FROM backgroundoperation WHERE backgroundoperationstatecode = 2",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        if running > 0 {
            break;
        }
        assert!(start.elapsed() < WAIT, "nothing ever ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes[1].kill9();
    for id in &ids {
        let body = nodes[0].wait_terminal(id, WAIT).await;
        assert_eq!(body["backgroundOperationStatusCode"], 30, "{id}: {body}");
    }
    // Each result was recorded once: the survivors' logs and the dead node's together name
    // every operation, and no row says it ran more than its attempts allow.
    let rows: Vec<(String, i64, i64)> = schema
        .client()
        .await
        .query(
            "SELECT backgroundoperationid, attempt, retrycount FROM backgroundoperation",
            &[],
        )
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows.len(), ids.len());
    let known: HashSet<&String> = ids.iter().collect();
    for (id, attempt, retries) in &rows {
        assert!(known.contains(id));
        assert_eq!(
            *attempt,
            retries + 1,
            "{id}: one attempt recorded the result"
        );
    }

    // The killed node comes back on the same database and takes work again.
    let back = Server::start_url(&schema.url, dir.path(), &["--workers", "2"]);
    nodes[1] = back;
    let more = burst(&nodes, 30, "after").await;
    assert_all_succeeded(&nodes[1], &more).await;
}

/// A node killed while it runs a long attempt: another node takes the attempt back when the
/// lease expires and runs it again; the operation ends once, Succeeded, with the lost attempt
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_attempt_of_a_killed_node_is_taken_back_by_another() {
    let schema = pg::Schema::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Server::start_url(&schema.url, dir.path(), FLAGS);
    let id = first
        .submit("bgops_Delay", json!({ "DelayMs": 3_000 }))
        .await;
    first.wait_status(&id, 20, WAIT).await;
    let second = Server::start_url(&schema.url, dir.path(), FLAGS);
    first.kill9();

    let body = second.wait_terminal(&id, WAIT).await;
    assert_eq!(body["backgroundOperationStatusCode"], 30, "{body}");
    assert_eq!(body["DelayedMs"], 3_000, "{body}");
    let row = second.row(&id).await;
    assert_eq!(row["retrycount"], 1, "the lost attempt counts: {row}");
    assert_eq!(
        succeeded_on(&second).get(&id),
        Some(&1),
        "run to the end once"
    );
}

/// Callbacks arrive for every operation, whichever node ran it: at least once each, and every
/// try of one operation's callback carries the same `webhook-id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callbacks_arrive_for_every_operation_from_every_node() {
    let schema = pg::Schema::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut flags = PERMISSIVE.to_vec();
    flags.extend(["--workers", "2"]);
    let nodes: Vec<Server> = (0..3)
        .map(|_| Server::start_url(&schema.url, dir.path(), &flags))
        .collect();
    let r = Receiver::start(vec![]).await;
    let mut ids = Vec::new();
    for i in 0..60 {
        let node = &nodes[i % nodes.len()];
        let resp = node
            .req(Method::POST, "/api/data/v9.2/bgops_Echo")
            .header("Prefer", "respond-async")
            .header("x-ms-dyn-callback-url", r.url(&format!("/done/{i}")))
            .json(&json!({ "Text": i.to_string() }))
            .send()
            .await
            .expect("submit");
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        ids.push(
            resp.headers()["x-ms-dyn-backgroundoperationid"]
                .to_str()
                .expect("id")
                .to_owned(),
        );
    }
    r.wait_for(ids.len(), WAIT).await;
    let seen = r.seen();
    for (i, id) in ids.iter().enumerate() {
        let path = format!("/done/{i}");
        let got: Vec<_> = seen.iter().filter(|g| g.path == path).collect();
        assert!(!got.is_empty(), "no callback for {id}");
        let webhook_ids: HashSet<&str> = got
            .iter()
            .map(|g| g.headers["webhook-id"].to_str().expect("webhook-id"))
            .collect();
        assert_eq!(webhook_ids.len(), 1, "{id}: one webhook-id on every try");
        let body = got[0].json();
        assert_eq!(body["backgroundOperationId"], id.as_str());
        assert_eq!(body["backgroundOperationStatusCode"], 30);
    }
}
