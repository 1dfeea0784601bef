//! Loopback callback receivers for the black-box callback tests: small axum servers that record
//! every request and answer from a script.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

/// The secret every callback test server signs with (the Standard Webhooks test vector's).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Flags of a server that may call receivers on loopback over http, signing with [`SECRET`].
pub const PERMISSIVE: &[&str] = &[
    "--retry-base-delay",
    "50ms",
    "--lease",
    "2s",
    "--callback-allow-http",
    "--callback-allow-private",
    "--webhook-secret",
    SECRET,
];

/// One answer of a receiver's script.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This status, with an optional `Retry-After` value.
    Status(u16, Option<&'static str>),
    /// `302 Found` to this URL.
    Redirect(String),
}

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("callback body is JSON")
    }
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Received>>,
    script: Mutex<Vec<Answer>>,
}

/// A running receiver.
pub struct Receiver {
    /// Its port on 127.0.0.1.
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.seen.lock().unwrap().push(Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers,
        body,
        at: Instant::now(),
    });
    let next = {
        let mut script = shared.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    match next {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(Answer::Status(code, retry_after)) => {
            let mut resp = StatusCode::from_u16(code).unwrap().into_response();
            if let Some(v) = retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, v.parse().unwrap());
            }
            resp
        }
        Some(Answer::Redirect(to)) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
    }
}

impl Receiver {
    /// A receiver on a free port answering `script` in order, then 204.
    pub async fn start(script: Vec<Answer>) -> Receiver {
        Self::start_on(0, script).await
    }

    /// A receiver on `port` (0: any free one).
    pub async fn start_on(port: u16, script: Vec<Answer>) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            seen: Mutex::default(),
            script: Mutex::new(script),
        });
        let app = Router::new().fallback(record).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { port, shared, task }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Received> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                start.elapsed() < timeout,
                "receiver on port {} got {} requests, expected {n} within {timeout:?}",
                self.port,
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A port nothing listens on (bound once, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// A delivery row as stored: `(status, attempts, lasterror, webhookid)`.
pub type DeliveryRow = (String, i64, Option<String>, String);

/// The callback deliveries of operation `id`, read straight from the SQLite file.
pub fn deliveries(db: &Path, id: &str) -> Vec<DeliveryRow> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open sqlite read-only");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT status, attempts, lasterror, webhookid FROM callbackdelivery \
             WHERE backgroundoperationid = ?1",
        )
        .unwrap();
    let rows = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Rows in the `backgroundoperation` and `callbackdelivery` tables.
pub fn row_counts(db: &Path) -> (i64, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open sqlite read-only");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get(0)).unwrap();
    (
        count("SELECT COUNT(*) FROM backgroundoperation"),
        count("SELECT COUNT(*) FROM callbackdelivery"),
    )
}

/// Waits until the delivery of `id` is no longer pending; returns it.
pub async fn wait_delivery_done(db: &Path, id: &str, timeout: Duration) -> DeliveryRow {
    let start = Instant::now();
    loop {
        let rows = deliveries(db, id);
        if let [row] = &rows[..] {
            if row.0 != "pending" {
                return row.clone();
            }
        }
        assert!(
            start.elapsed() < timeout,
            "delivery of {id} not finished within {timeout:?}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
