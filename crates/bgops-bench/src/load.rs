//! The keep-alive HTTP load generator: C tasks, each owning one HTTP/1.1 connection (hyper's
//! connection-level client, no pool lock on the hot path), sending either a fixed number of
//! requests, for a fixed time (closed loop), or at a steady rate (open loop). The same code
//! loads bgops and the axum anchor, so their figures differ only by the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// The body every benchmark submission of `bgops_Echo` carries.
pub const ECHO_BODY: &str = r#"{"Text":"bench","Number":42,"Flag":true}"#;

/// Where requests go and how they authenticate.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's socket address.
    pub addr: SocketAddr,
    /// The `Host` header (`127.0.0.1:PORT`).
    pub host: String,
    /// The bearer token.
    pub token: String,
    /// When set, each request carries one of these tokens, drawn at random (many users).
    pub tokens: Option<Arc<Vec<String>>>,
}

impl Target {
    /// A target at `addr` with `token`.
    pub fn new(addr: SocketAddr, token: &str) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            token: token.to_owned(),
            tokens: None,
        }
    }
}

/// What each request is.
#[derive(Clone, Debug)]
pub enum Workload {
    /// `POST /api/data/v9.2/bgops_Echo` with `Prefer: respond-async`; expects 202.
    Submit,
    /// `GET /api/backgroundoperation/{id}` of ids drawn at random from the list; expects 200.
    Poll(Arc<Vec<String>>),
}

impl Workload {
    fn request(&self, target: &Target, rng: &mut rand::rngs::StdRng) -> Request<Full<Bytes>> {
        let token = match &target.tokens {
            Some(tokens) => &tokens[rng.gen_range(0..tokens.len())],
            None => &target.token,
        };
        let builder = Request::builder()
            .header(http::header::HOST, &target.host)
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        match self {
            Workload::Submit => builder
                .method(Method::POST)
                .uri("/api/data/v9.2/bgops_Echo")
                .header(http::header::CONTENT_TYPE, "application/json")
                .header("Prefer", "respond-async")
                .body(Full::new(Bytes::from_static(ECHO_BODY.as_bytes()))),
            Workload::Poll(ids) => {
                let id = &ids[rng.gen_range(0..ids.len())];
                builder
                    .method(Method::GET)
                    .uri(format!("/api/backgroundoperation/{id}"))
                    .body(Full::new(Bytes::new()))
            }
        }
        .expect("a valid request")
    }

    fn expected(&self) -> StatusCode {
        match self {
            Workload::Submit => StatusCode::ACCEPTED,
            Workload::Poll(_) => StatusCode::OK,
        }
    }
}

/// When a closed-loop run ends.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After this many requests in total.
    Count(usize),
    /// After this long.
    Duration(Duration),
}

/// One accepted submission: the operation id and when the request was sent (ms since epoch).
#[derive(Clone, Debug)]
pub struct Submitted {
    /// `x-ms-dyn-backgroundoperationid` of the 202.
    pub id: String,
    /// Client clock when the request was handed to the connection, in ms since the epoch.
    pub sent_ms: f64,
}

/// What a load run measured.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Requests answered with the expected status.
    pub ok: usize,
    /// Requests that failed or got another status.
    pub errors: usize,
    /// The first failure, for the log.
    pub first_error: Option<String>,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Latency of every successful request in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Accepted submissions (submit workload only).
    pub submitted: Vec<Submitted>,
}

impl LoadReport {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile latency (0 < p ≤ 100) in milliseconds.
    pub fn latency_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }

    fn merge(&mut self, other: TaskResult) {
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_us.extend(other.latencies_us);
        self.submitted.extend(other.submitted);
    }
}

/// The `p`-th percentile of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

/// Milliseconds since the Unix epoch, with sub-millisecond precision.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[derive(Default)]
struct TaskResult {
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
    submitted: Vec<Submitted>,
}

/// One keep-alive connection that reconnects after a failure.
struct Connection {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    fn new(target: Target) -> Self {
        Self {
            target,
            sender: None,
        }
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.target.addr).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("just connected"))
    }

    /// Sends `req` and reads the whole answer: status and operation id header.
    async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Option<String>)> {
        let result = async {
            let sender = self.sender().await?;
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let id = resp
                .headers()
                .get("x-ms-dyn-backgroundoperationid")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            resp.into_body().collect().await?;
            anyhow::Ok((status, id))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    /// Sends one request of `workload` and records it in `out`.
    async fn one(
        &mut self,
        workload: &Workload,
        rng: &mut rand::rngs::StdRng,
        out: &mut TaskResult,
    ) {
        let req = workload.request(&self.target, rng);
        let sent_ms = now_ms();
        let start = Instant::now();
        match self.exchange(req).await {
            Ok((status, id)) if status == workload.expected() => {
                out.ok += 1;
                out.latencies_us
                    .push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if let (Workload::Submit, Some(id)) = (workload, id) {
                    out.submitted.push(Submitted { id, sent_ms });
                }
            }
            Ok((status, _)) => {
                out.errors += 1;
                out.first_error
                    .get_or_insert_with(|| format!("unexpected status {status}"));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}

/// Closed loop: `concurrency` connections each send their next request as soon as the last
/// one is answered, until `stop`.
pub async fn closed_loop(
    target: &Target,
    workload: &Workload,
    concurrency: usize,
    stop: Stop,
) -> LoadReport {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        let (target, workload, next) = (target.clone(), workload.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::new(target);
            let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64 + 1);
            let mut out = TaskResult::default();
            loop {
                let go = match stop {
                    Stop::Count(n) => next.fetch_add(1, Ordering::Relaxed) < n,
                    Stop::Duration(d) => start.elapsed() < d,
                };
                if !go {
                    break;
                }
                conn.one(&workload, &mut rng, &mut out).await;
            }
            out
        }));
    }
    collect(tasks, start).await
}

/// Open loop: requests are scheduled at a steady `rate` per second for `duration`, whatever
/// the answers do, and served by `concurrency` connections.
pub async fn open_loop(
    target: &Target,
    workload: &Workload,
    concurrency: usize,
    rate: f64,
    duration: Duration,
) -> LoadReport {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        let (target, workload, rx) = (target.clone(), workload.clone(), rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::new(target);
            let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64 + 1);
            let mut out = TaskResult::default();
            loop {
                let next = rx.lock().await.recv().await;
                if next.is_none() {
                    break;
                }
                conn.one(&workload, &mut rng, &mut out).await;
            }
            out
        }));
    }
    let total = (rate * duration.as_secs_f64()).round() as u64;
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let _ = tx.send(());
    }
    drop(tx);
    collect(tasks, start).await
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<TaskResult>>, start: Instant) -> LoadReport {
    let mut report = LoadReport::default();
    for t in tasks {
        match t.await {
            Ok(r) => report.merge(r),
            Err(e) => {
                report.errors += 1;
                report.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    report.elapsed = start.elapsed();
    report.latencies_us.sort_unstable();
    report
}

/// One request outside a measured run (set-up steps): method, path, optional JSON body.
/// Returns the status, the operation id header and the body text.
pub async fn request(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<&str>,
    prefer_async: bool,
) -> Result<(StatusCode, Option<String>, String)> {
    let headers: &[(&str, &str)] = if prefer_async {
        &[("Prefer", "respond-async")]
    } else {
        &[]
    };
    request_with(target, method, path, body, headers).await
}

/// [`request`] with extra request headers.
pub async fn request_with(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<(StatusCode, Option<String>, String)> {
    let stream = TcpStream::connect(target.addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, &target.host)
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", target.token),
        );
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let req = builder.body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let id = resp
        .headers()
        .get("x-ms-dyn-backgroundoperationid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, id, String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_samples() {
        let s: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&s, 50.0), 50.0);
        assert_eq!(percentile_ms(&s, 99.0), 99.0);
        assert_eq!(percentile_ms(&s, 100.0), 100.0);
        assert!(percentile_ms(&[], 50.0).is_nan());
    }
}
