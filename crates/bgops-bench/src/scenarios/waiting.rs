//! Waiting well (issue 12): `--pollers` clients long-polling (`Prefer: wait=60`) operations
//! of a burst of N while it burns down, against the same burst without pollers (burst
//! throughput, server CPU and memory, the pollers' requests per completion, the server's CPU
//! while the pollers wait and nothing changes); and a duplicate-submission storm: one
//! `Idempotency-Key` from `--concurrency` connections at once must store one operation.
//!
//! Each run gets its own server on a fresh SQLite file. Every worker is held by a blocker
//! first, so the N operations are queued before the pollers connect and the burn-down starts
//! when the blockers are cancelled, exactly as in the burn-down scenario.
//!
//! The pollers run twice, as the two kinds of client there are ([`Clients`]): clients that keep
//! their connection once answered (an HTTP client's pool: `bgops-client`, reqwest, a browser)
//! and clients that hang up at their answer (`bgops wait`, curl). On loopback the TCP teardown
//! of a hang-up costs both ends' kernel work on the two cores the server runs on; a client on
//! another machine does its half there.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{hold_workers, mib, release_workers};
use crate::load::{self, Stop, Target, Workload};
use crate::procstat::{self, CpuMeter};
use crate::server::{self, BgopsLaunch};
use crate::BenchArgs;

/// What the pollers do with their connection once their operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clients {
    /// Keep it (as a pooled HTTP client does) until the burst was measured.
    Keep,
    /// Close it at once.
    HangUp,
}

impl Clients {
    fn describe(self) -> &'static str {
        match self {
            Clients::Keep => "keeping their connections once answered (a pooled client: bgops-client, reqwest, a browser)",
            Clients::HangUp => "hanging up at their answer (bgops wait, curl)",
        }
    }
}

/// What one burst measured.
struct Burst {
    pollers: usize,
    clients: Clients,
    ops: usize,
    /// First `starttime` to last `endtime` of the burst's operations (the server's clock).
    secs: f64,
    rate: f64,
    /// Release of the workers to the harness seeing no operation left (100 ms steps).
    wall_secs: f64,
    server_cpu_secs: f64,
    /// CPU of this harness (the submitting client and the pollers) during the burst.
    harness_cpu_secs: f64,
    idle_cpu_secs: Option<f64>,
    idle_secs: f64,
    rss_mib: f64,
    peak_rss_mib: f64,
    poll_requests: usize,
    poll_errors: usize,
    /// The server's threads during the burst: which ones took the time, and how long they
    /// waited for a core.
    threads: procstat::ThreadTimes,
}

/// Rounds of the three bursts (without pollers, pollers that keep their connections, pollers
/// that hang up), in turns: one burst against one other differs by up to 10% on a two-core
/// machine, so each ratio is the median over the rounds.
const ROUNDS: usize = 5;

/// Runs both waiting scenarios and prints their figures.
pub async fn run(args: &BenchArgs, launch: &BgopsLaunch, workdir: &Path) -> Result<()> {
    let pollers = args.pollers.min(args.n);
    println!(
        "waiting: a burst of {} operations with {} long-polling clients, and without; {ROUNDS} rounds in turns",
        args.n, pollers
    );
    let kinds = [None, Some(Clients::Keep), Some(Clients::HangUp)];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 1..=ROUNDS {
        println!(" round {round}");
        for (k, kind) in kinds.iter().enumerate() {
            let b = match kind {
                None => burst(args, launch, workdir, 0, Clients::Keep).await?,
                Some(clients) => burst(args, launch, workdir, pollers, *clients).await?,
            };
            print_burst(&b);
            rates[k].push(b.rate);
        }
    }
    let without = median(&rates[0]);
    println!("  burst without pollers: median {without:.0} ops/s");
    for (k, kind) in kinds.iter().enumerate().skip(1) {
        let clients = kind.expect("with pollers");
        let per_round: Vec<String> = rates[k]
            .iter()
            .zip(&rates[0])
            .map(|(w, o)| format!("{:.1}%", 100.0 * w / o))
            .collect();
        println!(
            "  burst throughput with pollers {}: median {:.0} ops/s = {:.1}% of without (rounds: {}){}",
            clients.describe(),
            median(&rates[k]),
            100.0 * median(&rates[k]) / without,
            per_round.join(", "),
            if clients == Clients::Keep {
                " (target: within 10%)"
            } else {
                ""
            }
        );
    }
    storm(args, launch, workdir).await
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn print_burst(b: &Burst) {
    println!(
        "  {} pollers{}: {} ops in {:.3} s (first start to last end; {:.2} s to the harness) = {:.0} ops/s; server CPU {:.2} s ({:.3} s per 1k), harness (clients) {:.2} s: {:.2} of {} cores busy; RSS {:.0} MiB (peak {:.0} MiB)",
        b.pollers,
        match (b.pollers, b.clients) {
            (0, _) => "",
            (_, Clients::Keep) => " keeping their connections",
            (_, Clients::HangUp) => " hanging up",
        },
        b.ops,
        b.secs,
        b.wall_secs,
        b.rate,
        b.server_cpu_secs,
        1000.0 * b.server_cpu_secs / b.ops as f64,
        b.harness_cpu_secs,
        (b.server_cpu_secs + b.harness_cpu_secs) / b.wall_secs,
        std::thread::available_parallelism().map_or(0, usize::from),
        b.rss_mib,
        b.peak_rss_mib
    );
    println!("    server threads: {}", b.threads.describe());
    if b.pollers > 0 {
        println!(
            "    pollers: {} long-poll requests for {} operations = {:.2} per completion ({} failed); server CPU while {} wait and nothing changes: {:.3} s over {:.1} s",
            b.poll_requests,
            b.pollers,
            b.poll_requests as f64 / b.pollers as f64,
            b.poll_errors,
            b.pollers,
            b.idle_cpu_secs.unwrap_or(f64::NAN),
            b.idle_secs
        );
    }
}

async fn burst(
    args: &BenchArgs,
    launch: &BgopsLaunch,
    workdir: &Path,
    pollers: usize,
    clients: Clients,
) -> Result<Burst> {
    let tag = format!("waiting-{pollers}-{clients:?}");
    let db = workdir.join(format!("{tag}.db"));
    let srv = server::start_bgops(launch, &db, &tag)?;
    let target = Target::new(srv.addr, &args.token);
    let result = burst_on(
        args,
        &target,
        &db,
        srv.pid,
        launch.workers,
        pollers,
        clients,
    )
    .await;
    srv.stop(Duration::from_secs(60))?;
    result
}

async fn burst_on(
    args: &BenchArgs,
    target: &Target,
    db: &Path,
    pid: u32,
    workers: usize,
    pollers: usize,
    clients: Clients,
) -> Result<Burst> {
    let blockers = hold_workers(target, workers).await?;
    let queued = load::closed_loop(
        target,
        &Workload::Submit,
        args.concurrency,
        Stop::Count(args.n),
    )
    .await;
    if queued.errors > 0 || queued.submitted.len() != args.n {
        bail!(
            "queueing the burst failed: {} errors, first {:?}",
            queued.errors,
            queued.first_error
        );
    }
    let ids: Vec<String> = queued.submitted.iter().map(|s| s.id.clone()).collect();

    // The pollers: one connection each, long-polling one operation of the burst until it ends.
    let requests = Arc::new(AtomicUsize::new(0));
    let waiting = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(pollers);
    for id in ids.iter().take(pollers) {
        let (target, id) = (target.clone(), id.clone());
        let (requests, waiting, errors) = (requests.clone(), waiting.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            match long_poll(&target, &id, &requests, &waiting).await {
                Ok(stream) if clients == Clients::Keep => Some(stream),
                Ok(_) => None,
                Err(e) => {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("  poller failed: {e:#}");
                    }
                    None
                }
            }
        }));
    }
    let mut idle = None;
    let idle_secs = 3.0;
    if pollers > 0 {
        let deadline = Instant::now() + Duration::from_secs(120);
        while waiting.load(Ordering::Relaxed) + errors.load(Ordering::Relaxed) < pollers {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {pollers} pollers connected",
                    waiting.load(Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the last requests reach their handlers, then measure the cost of waiting.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = procstat::cpu_seconds(Some(pid))?;
        tokio::time::sleep(Duration::from_secs_f64(idle_secs)).await;
        idle = Some(procstat::cpu_seconds(Some(pid))? - before);
    }
    let rss_waiting = procstat::memory(pid).ok();

    let meter = CpuMeter::start(&[pid]);
    let threads_before = procstat::ThreadTimes::read(pid)?;
    let start = Instant::now();
    // Whole milliseconds, as the server writes `starttime`: no burst operation starts earlier.
    let released_ms = load::now_ms().floor() as i64;
    release_workers(target, &blockers).await?;
    // Counted from the file through the due and lease indexes, as the burn-down scenario does:
    // a `$count` over the Web API scans the whole table on the server's HTTP threads, and every
    // 100 ms that scan took up to a fifth of a core from the burst it was timing.
    crate::db::wait_drained(db, crate::drain_timeout(args.n + blockers.len())).await?;
    let wall_secs = start.elapsed().as_secs_f64();
    let cpu = meter.stop();
    let threads = procstat::ThreadTimes::read(pid)?.since(&threads_before);
    // The burst's own window, as the burn-down scenario measures it: the harness sees the end
    // only at its next 100 ms count, a step as long as a seventh of a 20,000 burst.
    let (started, first, last) = crate::db::window_since(db, released_ms)?;
    if started as usize != args.n {
        bail!(
            "{started} operations started after the release; {} expected",
            args.n
        );
    }
    let (Some(first), Some(last)) = (first, last) else {
        bail!("the burst's operations have no start or end time");
    };
    let secs = (last - first).max(1) as f64 / 1000.0;
    // Measured: the clients that kept their connection close it now.
    let mut kept = Vec::with_capacity(tasks.len());
    for t in tasks {
        kept.extend(t.await.ok().flatten());
    }
    drop(kept);
    let (peak, rss) = procstat::memory(pid).context("reading the server's memory")?;
    Ok(Burst {
        pollers,
        clients,
        ops: args.n,
        secs,
        rate: args.n as f64 / secs,
        wall_secs,
        server_cpu_secs: cpu.server,
        harness_cpu_secs: cpu.bench,
        idle_cpu_secs: idle,
        idle_secs,
        rss_mib: mib(rss_waiting.map_or(rss, |(_, r)| r.max(rss))),
        peak_rss_mib: mib(peak),
        poll_requests: requests.load(Ordering::Relaxed),
        poll_errors: errors.load(Ordering::Relaxed),
        threads,
    })
}

/// Long-polls `id` on one connection until it is terminal; returns the connection.
///
/// The client is as small as an HTTP/1.1 client can be (one prebuilt request, the response
/// read into one buffer, the state code found in the body), so that on the two cores it
/// shares with the server it takes as little as possible of what the burst needs: the figure
/// is the server's cost of 10,000 waiters, and a real deployment's clients run elsewhere.
async fn long_poll(
    target: &Target,
    id: &str,
    requests: &AtomicUsize,
    waiting: &AtomicUsize,
) -> Result<TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET /api/backgroundoperation/{id} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nPrefer: wait=60\r\n\r\n",
        target.host, target.token
    );
    let mut buf = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        stream.write_all(request.as_bytes()).await?;
        requests.fetch_add(1, Ordering::Relaxed);
        if std::mem::take(&mut first) {
            waiting.fetch_add(1, Ordering::Relaxed);
        }
        buf.clear();
        let body = loop {
            if stream.read_buf(&mut buf).await? == 0 {
                bail!("the server closed the connection mid-answer");
            }
            if let Some(body) = complete_body(&buf)? {
                break body;
            }
        };
        if !buf.starts_with(b"HTTP/1.1 200") {
            bail!(
                "long poll answered {}",
                String::from_utf8_lossy(&buf[..buf.len().min(40)])
            );
        }
        if contains(&buf[body..], br#""backgroundOperationStateCode":3"#) {
            return Ok(stream);
        }
    }
}

/// Where the body of the one response in `buf` starts, once all of it (by `Content-Length`)
/// has arrived.
fn complete_body(buf: &[u8]) -> Result<Option<usize>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end])?;
    let length: usize = head
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .context("a long-poll answer without Content-Length")?;
    Ok((buf.len() >= end + 4 + length).then_some(end + 4))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The same `Idempotency-Key` from `--concurrency` connections at once: one operation.
async fn storm(args: &BenchArgs, launch: &BgopsLaunch, workdir: &Path) -> Result<()> {
    let connections = args.concurrency;
    println!("idempotency storm: one Idempotency-Key from {connections} connections at once");
    let db = workdir.join("storm.db");
    let srv = server::start_bgops(launch, &db, "storm")?;
    let target = Target::new(srv.addr, &args.token);
    let result = storm_on(&target, connections).await;
    srv.stop(Duration::from_secs(60))?;
    let (accepted, conflicts, ids, stored) = result?;
    println!(
        "  {accepted} answered 202 naming {ids} operation(s), {conflicts} answered 409 (in flight); operations stored: {stored}"
    );
    if ids != 1 || stored != 1 {
        bail!("the storm stored {stored} operations ({ids} ids answered); exactly one expected");
    }
    Ok(())
}

async fn storm_on(target: &Target, connections: usize) -> Result<(usize, usize, usize, usize)> {
    // Connect everyone first, then send at once.
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(target.addr).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        senders.push(sender);
    }
    let go = Arc::new(tokio::sync::Barrier::new(connections));
    let mut tasks = Vec::with_capacity(connections);
    for mut sender in senders {
        let (target, go) = (target.clone(), go.clone());
        tasks.push(tokio::spawn(async move {
            let req = Request::builder()
                .method(Method::POST)
                .uri("/api/data/v9.2/bgops_Echo")
                .header(http::header::HOST, &target.host)
                .header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {}", target.token),
                )
                .header(http::header::CONTENT_TYPE, "application/json")
                .header("Prefer", "respond-async")
                .header("Idempotency-Key", "bench-storm")
                .body(Full::new(Bytes::from_static(load::ECHO_BODY.as_bytes())))?;
            go.wait().await;
            let resp = sender.send_request(req).await?;
            let id = resp
                .headers()
                .get("x-ms-dyn-backgroundoperationid")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            anyhow::Ok((resp.status(), id))
        }));
    }
    let (mut accepted, mut conflicts) = (0, 0);
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, id) = t.await??;
        match status {
            StatusCode::ACCEPTED => {
                accepted += 1;
                ids.extend(id);
            }
            StatusCode::CONFLICT => conflicts += 1,
            other => bail!("a storm request answered {other}"),
        }
    }
    let (status, _, body) = load::request(
        target,
        Method::GET,
        "/api/data/v9.2/backgroundoperations/$count",
        None,
        false,
    )
    .await?;
    if status != StatusCode::OK {
        bail!("counting operations answered {status}: {body}");
    }
    Ok((accepted, conflicts, ids.len(), body.trim().parse()?))
}
