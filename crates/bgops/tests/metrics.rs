//! `GET /metrics` with the real binary (SPEC §15): it exists only with `--metrics-token`,
//! answers only to that token, and its numbers move with real work — submissions, attempts,
//! outcomes, retries, HTTP requests by route template (never a raw path), the writer's batches
//! and the queue gauges.

mod common;

use std::time::Duration;

use common::Server;
use reqwest::{Method, StatusCode};
use serde_json::json;

const METRICS_TOKEN: &str = "metrics-token-for-tests";

/// Flags of a server that serves `/metrics` and retries fast.
fn flags<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut f = vec![
        "--metrics-token",
        METRICS_TOKEN,
        "--retry-base-delay",
        "50ms",
        "--lease",
        "2s",
    ];
    f.extend_from_slice(extra);
    f
}

/// One scrape's samples, by their full name with labels (`name{a="x",b="y"}`).
struct Scrape(String);

impl Scrape {
    /// The value of the sample whose name and labels are exactly `series`, or 0 when absent
    /// (a counter not yet created).
    fn value(&self, series: &str) -> f64 {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                (name == series).then(|| value.parse::<f64>().expect("a number"))
            })
            .unwrap_or(0.0)
    }

    fn has(&self, text: &str) -> bool {
        self.0.contains(text)
    }
}

async fn scrape(s: &Server) -> Scrape {
    let resp = s
        .client
        .get(s.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = resp.text().await.expect("body");
    assert!(text.ends_with("# EOF\n"), "a complete exposition");
    Scrape(text)
}

#[tokio::test]
async fn metrics_need_the_token_and_do_not_exist_without_one() {
    let plain = Server::start(&[]);
    let resp = plain
        .client
        .get(plain.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let s = Server::start(&flags(&[]));
    for auth in [
        None,
        Some("wrong-token-of-some-length"),
        Some(common::TOKEN),
    ] {
        let mut req = s.client.get(s.url("/metrics"));
        if let Some(token) = auth {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "token {auth:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "0x80044306", "{body}");
    }
    scrape(&s).await;
}

#[tokio::test]
async fn a_short_metrics_token_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["serve", "--metrics-token", "short"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics-token"));
}

#[tokio::test]
async fn the_queue_gauges_show_running_and_waiting_operations() {
    let s = Server::start(&flags(&["--workers", "1"]));
    let running = s.submit("bgops_Delay", json!({"DelayMs": 60_000})).await;
    s.wait_status(&running, 20, Duration::from_secs(10)).await;
    let waiting = s.submit("bgops_Echo", json!({"Text": "later"})).await;
    // The first scrape reads the queue summary.
    let m = scrape(&s).await;
    assert_eq!(
        m.value(r#"bgops_queue_depth{state="locked",status="in_progress"}"#),
        1.0
    );
    assert_eq!(
        m.value(r#"bgops_queue_depth{state="ready",status="waiting_for_resources"}"#),
        1.0
    );
    assert!(m.has("bgops_queue_oldest_waiting_age_seconds "));
    assert_eq!(
        m.value(r#"bgops_attempts_started_total{api="bgops_Delay"}"#),
        1.0
    );
    // Cancel the long one: the waiting one runs, and the cancel is counted when recorded.
    let resp = s
        .req(
            Method::DELETE,
            &format!("/api/backgroundoperation/{running}"),
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    s.wait_terminal(&running, Duration::from_secs(10)).await;
    s.wait_terminal(&waiting, Duration::from_secs(10)).await;
    let m = scrape(&s).await;
    assert_eq!(
        m.value(r#"bgops_operations_finished_total{api="bgops_Delay",outcome="canceled"}"#),
        1.0
    );
}

#[tokio::test]
async fn counters_move_with_real_work() {
    let s = Server::start(&flags(&[]));
    let before = scrape(&s).await;
    assert_eq!(
        before.value(r#"bgops_operations_submitted_total{api="bgops_Echo"}"#),
        0.0
    );

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(s.submit("bgops_Echo", json!({"Number": i})).await);
    }
    // Fails once, then succeeds on its retry.
    ids.push(s.submit("bgops_Fail", json!({"FailTimes": 1})).await);
    // Fails for good.
    ids.push(
        s.submit("bgops_Fail", json!({"FailTimes": 5, "Permanent": true}))
            .await,
    );
    for id in &ids {
        s.wait_terminal(id, Duration::from_secs(20)).await;
    }
    // A synchronous call is no submission.
    let resp = s
        .req(Method::POST, "/api/data/v9.2/bgops_Echo")
        .json(&json!({"Text": "now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // A name that is no table and no API must not become a label.
    let resp = s
        .req(Method::GET, "/api/data/v9.2/no_such_thing_4711")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let m = scrape(&s).await;
    let v = |series: &str| m.value(series);
    assert_eq!(
        v(r#"bgops_operations_submitted_total{api="bgops_Echo"}"#),
        3.0
    );
    assert_eq!(
        v(r#"bgops_operations_submitted_total{api="bgops_Fail"}"#),
        2.0
    );
    assert_eq!(
        v(r#"bgops_operations_finished_total{api="bgops_Echo",outcome="succeeded"}"#),
        3.0
    );
    assert_eq!(
        v(r#"bgops_operations_finished_total{api="bgops_Fail",outcome="succeeded"}"#),
        1.0
    );
    assert_eq!(
        v(r#"bgops_operations_finished_total{api="bgops_Fail",outcome="failed"}"#),
        1.0
    );
    assert_eq!(
        v(r#"bgops_attempts_failed_total{api="bgops_Fail",retried="true"}"#),
        1.0
    );
    assert_eq!(
        v(r#"bgops_attempts_failed_total{api="bgops_Fail",retried="false"}"#),
        1.0
    );
    assert_eq!(v(r#"bgops_attempts_started_total{api="bgops_Fail"}"#), 3.0);
    assert_eq!(
        v(r#"bgops_operation_wait_seconds_count{api="bgops_Echo"}"#),
        3.0
    );
    assert_eq!(
        v(r#"bgops_attempt_duration_seconds_count{api="bgops_Echo"}"#),
        3.0
    );
    assert_eq!(
        v(
            r#"bgops_http_requests_total{method="POST",route="/api/data/v9.2/bgops_Echo",status="202"}"#
        ),
        3.0
    );
    assert_eq!(
        v(
            r#"bgops_http_requests_total{method="POST",route="/api/data/v9.2/bgops_Echo",status="200"}"#
        ),
        1.0
    );
    assert!(
        v(
            r#"bgops_http_requests_total{method="GET",route="/api/backgroundoperation/{id}",status="200"}"#
        ) >= 5.0
    );
    assert_eq!(
        v(
            r#"bgops_http_requests_total{method="GET",route="/api/data/v9.2/{segment}",status="404"}"#
        ),
        1.0
    );
    assert!(!m.has("no_such_thing_4711"), "a raw path became a label");
    assert!(v(r#"bgops_store_write_batch_jobs_count{backend="sqlite"}"#) >= 1.0);
    assert!(v(r#"bgops_store_commit_duration_seconds_count{backend="sqlite"}"#) >= 1.0);
    // The previous scrape is counted too.
    assert_eq!(
        v(r#"bgops_http_requests_total{method="GET",route="/metrics",status="200"}"#),
        1.0
    );
}

/// On PostgreSQL: the writer's batches are counted under `backend="postgres"`, counters are per
/// node, and the queue gauges describe the whole database, the same on every node.
#[tokio::test]
async fn on_postgresql_counters_are_per_node_and_the_queue_is_shared() {
    let schema = common::pg::Schema::new().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_url(&schema.url, dir.path(), &flags(&["--workers", "1"]));
    let b = Server::start_url(&schema.url, dir.path(), &flags(&["--workers", "1"]));
    let held_a = a.submit("bgops_Delay", json!({"DelayMs": 60_000})).await;
    let held_b = b.submit("bgops_Delay", json!({"DelayMs": 60_000})).await;
    a.wait_status(&held_a, 20, Duration::from_secs(20)).await;
    a.wait_status(&held_b, 20, Duration::from_secs(20)).await;
    let waiting = a.submit("bgops_Echo", json!({})).await;
    let (ma, mb) = (scrape(&a).await, scrape(&b).await);
    for m in [&ma, &mb] {
        assert_eq!(
            m.value(r#"bgops_queue_depth{state="locked",status="in_progress"}"#),
            2.0
        );
        assert_eq!(
            m.value(r#"bgops_queue_depth{state="ready",status="waiting_for_resources"}"#),
            1.0
        );
        assert!(m.value(r#"bgops_store_write_batch_jobs_count{backend="postgres"}"#) >= 1.0);
    }
    assert_eq!(
        ma.value(r#"bgops_operations_submitted_total{api="bgops_Delay"}"#),
        1.0
    );
    assert_eq!(
        ma.value(r#"bgops_operations_submitted_total{api="bgops_Echo"}"#),
        1.0
    );
    assert_eq!(
        mb.value(r#"bgops_operations_submitted_total{api="bgops_Delay"}"#),
        1.0
    );
    for id in [&held_a, &held_b] {
        let resp = a
            .req(Method::DELETE, &format!("/api/backgroundoperation/{id}"))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    a.wait_terminal(&waiting, Duration::from_secs(20)).await;
}
