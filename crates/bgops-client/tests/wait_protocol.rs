//! `Client::wait` against a scripted status monitor: it long-polls where the server applies
//! `Prefer: wait=N`, falls back to polling that honours `Retry-After` where it does not, and
//! never waits past the caller's deadline. (Against the real server, the crate's doc tests
//! and `crates/bgops/tests/cli_client.rs` wait too.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use bgops_client::{Client, Error, OperationId, OperationStatus};

/// What the scripted server does and saw.
#[derive(Default)]
struct Script {
    /// Answers until the operation is Succeeded.
    running_answers: usize,
    /// Whether it applies `Prefer: wait`.
    long_poll: bool,
    /// The `Retry-After` it sends while running.
    retry_after: u64,
    /// Each request: when it came and its `Prefer` header.
    seen: Vec<(Instant, Option<String>)>,
}

async fn monitor(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = script.lock().unwrap();
    s.seen.push((Instant::now(), prefer.clone()));
    let mut out = HeaderMap::new();
    out.insert("content-type", HeaderValue::from_static("application/json"));
    if s.seen.len() > s.running_answers {
        return (
            out,
            r#"{"backgroundOperationStateCode":3,"backgroundOperationStatusCode":30,"Answer":42}"#,
        );
    }
    out.insert("retry-after", HeaderValue::from(s.retry_after));
    if s.long_poll {
        if let Some(p) = prefer.filter(|p| p.starts_with("wait=")) {
            out.insert("preference-applied", HeaderValue::from_str(&p).unwrap());
        }
    }
    (
        out,
        r#"{"backgroundOperationStateCode":2,"backgroundOperationStatusCode":20}"#,
    )
}

async fn serve(script: Script) -> (Client, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(script));
    let app = axum::Router::new()
        .route("/api/backgroundoperation/{id}", get(monitor))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Client::new(&format!("http://{addr}"), "t").unwrap(), script)
}

fn id() -> OperationId {
    "3aadf856-1939-49d5-a1e0-870d76edefb2".parse().unwrap()
}

#[tokio::test]
async fn long_polls_are_asked_again_at_once_when_the_server_applies_them() {
    // Retry-After says a minute: a client that ignored the long poll would run out of its
    // 30 s and fail.
    let (client, script) = serve(Script {
        running_answers: 3,
        long_poll: true,
        retry_after: 60,
        ..Script::default()
    })
    .await;
    let mut progress = Vec::new();
    let done = client
        .wait_with(id(), Duration::from_secs(30), Duration::from_secs(5), |s| {
            progress.push(s.status)
        })
        .await
        .unwrap();
    assert_eq!(progress, [OperationStatus::InProgress; 3]);
    assert_eq!(done.status, OperationStatus::Succeeded);
    assert_eq!(done.outputs["Answer"], 42);
    let seen = &script.lock().unwrap().seen;
    assert_eq!(seen.len(), 4);
    for (_, prefer) in seen {
        let secs: u64 = prefer
            .as_deref()
            .and_then(|p| p.strip_prefix("wait="))
            .and_then(|n| n.parse().ok())
            .expect("every look is a long poll");
        assert!(
            (1..=5).contains(&secs),
            "wait={secs}, at most the 5 s asked for"
        );
    }
}

#[tokio::test]
async fn without_long_polls_it_polls_no_faster_than_retry_after() {
    let (client, script) = serve(Script {
        running_answers: 2,
        long_poll: false,
        retry_after: 1,
        ..Script::default()
    })
    .await;
    let mut seen_running = 0;
    let done = client
        .wait_with(id(), Duration::from_secs(30), Duration::from_secs(5), |s| {
            assert_eq!(s.status, OperationStatus::InProgress);
            assert_eq!(s.retry_after, Some(Duration::from_secs(1)));
            seen_running += 1;
        })
        .await
        .unwrap();
    assert_eq!(done.status, OperationStatus::Succeeded);
    assert_eq!(seen_running, 2);
    let seen = &script.lock().unwrap().seen;
    assert_eq!(seen.len(), 3);
    // After the first unapplied long poll, plain polls, each at least Retry-After apart.
    assert!(seen[1..].iter().all(|(_, p)| p.is_none()), "{:?}", seen);
    for pair in seen.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= Duration::from_secs(1));
    }
}

#[tokio::test]
async fn the_deadline_cuts_a_long_retry_after_short() {
    let (client, script) = serve(Script {
        running_answers: usize::MAX,
        long_poll: false,
        retry_after: 3600,
        ..Script::default()
    })
    .await;
    match client.wait(id(), Duration::from_millis(1500)).await {
        Err(Error::Timeout { id: got, last }) => {
            assert_eq!(got, id());
            assert_eq!(last.status, OperationStatus::InProgress);
        }
        other => panic!("expected a time-out, got {other:?}"),
    }
    // One look at the start and one at the deadline, not one an hour later.
    assert_eq!(script.lock().unwrap().seen.len(), 2);
}
