//! The scenarios of issue 6, in the order they run, and how their figures are compared.
//!
//! 1. bgops on an empty table (one server): submit, burn-down, end to end, pickup latency,
//!    status poll, peak RSS. Then waiting (`waiting`): a burst of N with `--pollers`
//!    long-polling clients and without, and one `Idempotency-Key` from `--concurrency`
//!    connections at once (`waiting.rs`; `--waiting-only` runs just these).
//! 2. Anchors: axum hello-world (loaded like the status poll), raw batched inserts, apalis on
//!    a fresh database and after `ANALYZE`.
//! 3. Scale: burn-down and poll with `--scale-rows` rows in the table, 90% terminal.
//! 4. Memory: peak RSS with `--scale-rows` waiting operations.
//! 5. PostgreSQL (`--postgres`): bgops nodes (submit, burn-down, status poll, pickup across
//!    processes, two nodes), graphile-worker and apalis-postgres burn-downs, and the server's
//!    own limit, all on the same server.
//!
//! Submit runs while every worker is held by a `bgops_Delay` "blocker", so it measures
//! submissions alone and leaves N operations queued; cancelling the blockers then starts the
//! burn-down of that queue. Start and end times come from the SQLite file (milliseconds).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::load::{self, now_ms, LoadReport, Stop, Target, Workload, ECHO_BODY};
use crate::procstat::{self, CpuMeter, CpuUse};
use crate::report::{Report, Unit};
use crate::server::{self, BgopsLaunch, ChildServer};
use crate::{apalis_anchor, db, drain_timeout, BenchArgs};

mod anchors;
mod compare;
mod dashboard_scale;
mod edge;
mod empty;
mod observe;
mod pg_limit;
mod pg_report;
mod postgres;
mod scale;
mod waiting;

use anchors::{axum_anchor, poll, print_apalis, raw_anchor};
use compare::fill_report;
use empty::bgops_empty;
use pg_report::{fill_pg_report, run_postgres};
use scale::{memory, scale};

/// Throughput and latency of a load run.
#[derive(Clone, Debug, Serialize)]
struct Throughput {
    ops: usize,
    errors: usize,
    secs: f64,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu: CpuUse,
    cpu_per_1k: f64,
}

/// Says so when other processes loaded the machine during a measurement.
fn note_noise(cpu: &CpuUse) {
    let cores = cpu.other_cores();
    if cores > 0.1 {
        eprintln!("  note: other processes used {cores:.2} cores meanwhile");
    }
}

impl Throughput {
    fn of(r: &LoadReport, cpu: CpuUse) -> Self {
        note_noise(&cpu);
        if r.errors > 0 {
            eprintln!(
                "  warning: {} failed requests (first: {})",
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            );
        }
        Self {
            ops: r.ok,
            errors: r.errors,
            secs: r.elapsed.as_secs_f64(),
            rate: r.rate(),
            p50_ms: r.latency_ms(50.0),
            p99_ms: r.latency_ms(99.0),
            cpu,
            cpu_per_1k: cpu.per_thousand(r.ok),
        }
    }
}

/// Operations completed over a window read from the file.
#[derive(Clone, Debug, Serialize)]
struct Drain {
    ops: usize,
    secs: f64,
    rate: f64,
    cpu: CpuUse,
    cpu_per_1k: f64,
}

impl Drain {
    fn new(ops: usize, secs: f64, cpu: CpuUse) -> Self {
        note_noise(&cpu);
        Self {
            ops,
            secs,
            rate: ops as f64 / secs,
            cpu,
            cpu_per_1k: cpu.per_thousand(ops),
        }
    }
}

/// Pickup latency at a steady rate.
#[derive(Clone, Debug, Serialize)]
struct Pickup {
    offered_rate: f64,
    ops: usize,
    pickup_p50_ms: f64,
    pickup_p99_ms: f64,
    done_p50_ms: f64,
    done_p99_ms: f64,
    submit_p99_ms: f64,
    cpu_per_1k: f64,
    cpu: CpuUse,
}

/// The raw-insert anchor: rows of a bgops submission's shape, 256 per transaction.
#[derive(Debug, Serialize)]
struct Raw {
    rows: usize,
    batch: usize,
    secs: f64,
    rate: f64,
    cpu_per_1k: f64,
}

/// Burn-down and poll with a million rows in the table.
#[derive(Debug, Serialize)]
struct Scale {
    rows: usize,
    waiting: usize,
    load_secs: f64,
    /// The newest tenth waiting.
    burn: Drain,
    /// Every tenth row waiting, spread over the table.
    burn_spread: Drain,
    poll: Throughput,
    /// The dashboard's summary and list reads at this size.
    dashboard: Vec<dashboard_scale::DashboardRead>,
    peak_rss_mib: f64,
}

/// Peak RSS with a million waiting operations.
#[derive(Debug, Serialize)]
struct Memory {
    waiting: usize,
    secs: f64,
    peak_rss_mib: f64,
    rss_mib: f64,
    completed: i64,
    rate: f64,
}

/// What the empty-table server measured.
#[derive(Default)]
struct Empty {
    submit: Option<Throughput>,
    burn: Option<Drain>,
    e2e: Option<Drain>,
    pickup: Option<Pickup>,
    poll: Option<Throughput>,
    rss_mb: Option<f64>,
    poll_ids: Vec<String>,
    template: Option<db::Template>,
}

/// Runs every scenario the arguments allow and fills `report`.
pub async fn run_all(args: &BenchArgs, workdir: &Path, report: &mut Report) -> Result<()> {
    let nproc = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = args.workers.unwrap_or(2 * nproc);
    report.params = json!({
        "n": args.n, "concurrency": args.concurrency, "workers": workers, "rate": args.rate,
        "rate_secs": args.rate_secs, "poll_secs": args.poll_secs,
        "scale_rows": args.scale_rows, "mem_secs": args.mem_secs, "quick": args.quick,
        "url": args.url,
    });
    println!(
        "sizes: N={} concurrency={} workers={} rate={}/s for {} s, poll {} s, scale rows {}",
        args.n,
        args.concurrency,
        workers,
        args.rate,
        args.rate_secs,
        args.poll_secs,
        args.scale_rows
    );

    let launch = match &args.url {
        Some(_) => None,
        None => Some(BgopsLaunch {
            binary: bgops_binary(args)?,
            token: args.token.clone(),
            workers,
            log_dir: workdir.to_owned(),
            extra: Vec::new(),
        }),
    };

    if args.waiting_only {
        let launch = launch
            .as_ref()
            .context("--waiting-only starts its own servers: it does not take --url")?;
        return waiting::run(args, launch, workdir).await;
    }

    // 1. bgops on an empty table.
    let empty = match (&launch, &args.url) {
        (Some(launch), _) => {
            let db_path = workdir.join("bgops.db");
            let server = server::start_bgops(launch, &db_path, "empty")?;
            let target = Target::new(server.addr, &args.token);
            let e = bgops_empty(args, workers, &target, Some(&db_path), &[server.pid]).await;
            let rss = procstat::memory(server.pid).ok();
            server.stop(Duration::from_secs(60))?;
            let mut e = e?;
            e.rss_mb = rss.map(|(hwm, _)| mib(hwm));
            e
        }
        (None, Some(url)) => {
            let target = Target::new(crate::url_addr(url)?, &args.token);
            let pids: Vec<u32> = args.server_pid.into_iter().collect();
            let mut e = bgops_empty(args, workers, &target, args.db.as_deref(), &pids).await?;
            e.rss_mb = args
                .server_pid
                .and_then(|p| procstat::memory(p).ok())
                .map(|(hwm, _)| mib(hwm));
            e
        }
        (None, None) => unreachable!(),
    };

    // Waiting well: long polls during a burst, and an idempotency storm.
    if let Some(launch) = &launch {
        if args.runs("waiting") {
            waiting::run(args, launch, workdir).await?;
        }
    }

    // 1b. Issue 14: JWTs, many users, the limiter.
    if let (Some(launch), true) = (&launch, args.runs("edge")) {
        edge::edge(args, launch, workdir, report).await?;
    }

    // 2. Anchors.
    let axum = if args.runs("anchors") && !empty.poll_ids.is_empty() {
        Some(axum_anchor(args, workdir, empty.poll_ids.clone()).await?)
    } else {
        None
    };
    let raw = match (&empty.template, args.runs("anchors")) {
        (Some(t), true) => Some(raw_anchor(args, workdir, t).await?),
        _ => None,
    };
    let (apalis_fresh, apalis_analyzed) = if args.runs("apalis") {
        let timeout = Duration::from_secs_f64(args.apalis_timeout);
        let fresh = if args.runs("apalis-fresh") {
            println!(
                "apalis-sqlite, fresh database: enqueue {} single jobs, burn-down",
                args.n
            );
            let fresh =
                apalis_anchor::run(workdir, args.n, args.concurrency, workers, false, timeout)
                    .await?;
            print_apalis(&fresh);
            Some(fresh)
        } else {
            None
        };
        println!(
            "apalis-sqlite, ANALYZE before burn-down: enqueue {} jobs, burn-down",
            args.n
        );
        let analyzed =
            apalis_anchor::run(workdir, args.n, args.concurrency, workers, true, timeout).await?;
        print_apalis(&analyzed);
        (fresh, Some(analyzed))
    } else {
        (None, None)
    };

    // The cost of metrics and tracing, in one sitting.
    let observe = match &launch {
        Some(launch) if args.runs("observe") => {
            Some(observe::observe_cost(args, launch, workdir).await?)
        }
        _ => None,
    };

    // 3 and 4. A million rows.
    let (scale, memory) = match &launch {
        Some(launch) if args.scale_rows > 0 => {
            let scale = if args.runs("scale") {
                Some(scale(args, launch, workdir).await?)
            } else {
                None
            };
            let memory = if args.runs("memory") {
                Some(memory(args, launch, workdir).await?)
            } else {
                None
            };
            (scale, memory)
        }
        _ => (None, None),
    };

    // 5. PostgreSQL: bgops nodes, peers, the server's own limit.
    let pg = match &args.postgres {
        Some(url) => Some(run_postgres(args, workers, launch.as_ref(), url, workdir).await?),
        None => None,
    };

    fill_report(
        report,
        args,
        &empty,
        axum.as_ref(),
        raw.as_ref(),
        apalis_fresh.as_ref(),
        apalis_analyzed.as_ref(),
        scale.as_ref(),
        memory.as_ref(),
    );
    report.detail(
        "bgops_empty_table",
        json!({
            "submit": empty.submit, "burn_down": empty.burn, "end_to_end": empty.e2e,
            "pickup": empty.pickup, "poll": empty.poll, "peak_rss_mib": empty.rss_mb,
        }),
    );
    report.detail("axum_hello_world", json!(axum));
    report.detail("raw_inserts", json!(raw));
    report.detail("apalis_fresh", json!(apalis_fresh));
    report.detail("apalis_analyzed", json!(apalis_analyzed));
    report.detail("scale", json!(scale));
    report.detail("memory", json!(memory));
    report.detail("observability_cost", json!(observe));
    if let Some(pg) = &pg {
        fill_pg_report(report, args, workers, pg);
        report.detail("postgres", json!(pg));
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}

fn bgops_binary(args: &BenchArgs) -> Result<PathBuf> {
    let path = match &args.bgops {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("executable has no directory")?
            .join("bgops"),
    };
    if !path.is_file() {
        bail!(
            "no bgops executable at {} (build it with `cargo build --release -p bgops`, or pass \
             --bgops PATH or --url)",
            path.display()
        );
    }
    Ok(path)
}

/// Submits one operation outside a measured run; returns its id.
async fn submit_one(target: &Target, api: &str, body: &str) -> Result<String> {
    let (status, id, text) = load::request(
        target,
        Method::POST,
        &format!("/api/data/v9.2/{api}"),
        Some(body),
        true,
    )
    .await?;
    if status != StatusCode::ACCEPTED {
        bail!("submitting {api} answered {status}: {text}");
    }
    id.context("no x-ms-dyn-backgroundoperationid on the 202")
}

/// Polls the status monitor of `id` until `done` accepts its state and status codes.
async fn wait_status(target: &Target, id: &str, done: impl Fn(i64, i64) -> bool) -> Result<()> {
    let start = Instant::now();
    loop {
        let (status, _, body) = load::request(
            target,
            Method::GET,
            &format!("/api/backgroundoperation/{id}"),
            None,
            false,
        )
        .await?;
        if status == StatusCode::OK {
            let v: serde_json::Value = serde_json::from_str(&body)?;
            let state = v["backgroundOperationStateCode"].as_i64().unwrap_or(-1);
            let code = v["backgroundOperationStatusCode"].as_i64().unwrap_or(-1);
            if done(state, code) {
                return Ok(());
            }
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("operation {id} did not reach the expected state: {status} {body}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Occupies every worker with a long `bgops_Delay`, so submissions queue up untouched.
async fn hold_workers(target: &Target, workers: usize) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(workers);
    for _ in 0..workers {
        ids.push(submit_one(target, "bgops_Delay", r#"{"DelayMs":3600000}"#).await?);
    }
    for id in &ids {
        wait_status(target, id, |state, code| state == 2 && code == 20).await?;
    }
    Ok(ids)
}

/// Cancels the blockers: `bgops_Delay` stops at once, and the workers are free.
async fn release_workers(target: &Target, ids: &[String]) -> Result<()> {
    for id in ids {
        let (status, _, body) = load::request(
            target,
            Method::DELETE,
            &format!("/api/backgroundoperation/{id}"),
            None,
            false,
        )
        .await?;
        if status != StatusCode::OK {
            bail!("cancelling blocker {id} answered {status}: {body}");
        }
    }
    Ok(())
}

/// Warns about operations that did not end Succeeded (a benchmark of failures is no
/// benchmark).
fn warn_unsucceeded(timings: &[db::Timing]) {
    let failed = timings.iter().filter(|t| t.status != 30).count();
    if failed > 0 {
        eprintln!("  warning: {failed} operations did not end Succeeded");
    }
}

/// The first start and last end of `timings`, in seconds apart.
fn window_secs(timings: &[db::Timing]) -> Option<f64> {
    warn_unsucceeded(timings);
    let first = timings.iter().filter_map(|t| t.start).min()?;
    let last = timings.iter().filter_map(|t| t.end).max()?;
    Some((last - first).max(1) as f64 / 1000.0)
}

/// Pickup latency of the submissions of `r`: each operation's `starttime` and `endtime` in
/// `timings` minus the client clock when its request was sent.
fn pickup_figures(args: &BenchArgs, r: &LoadReport, timings: &[db::Timing], cpu: CpuUse) -> Pickup {
    let timings: HashMap<&str, &db::Timing> = timings.iter().map(|t| (t.id.as_str(), t)).collect();
    let mut pickup = Vec::with_capacity(r.submitted.len());
    let mut done = Vec::with_capacity(r.submitted.len());
    for s in &r.submitted {
        if let Some(t) = timings.get(s.id.as_str()) {
            let us =
                |at: Option<i64>| at.map(|ms| ((ms as f64 - s.sent_ms).max(0.0) * 1000.0) as u32);
            pickup.extend(us(t.start));
            done.extend(us(t.end));
        }
    }
    pickup.sort_unstable();
    done.sort_unstable();
    note_noise(&cpu);
    Pickup {
        offered_rate: args.rate,
        ops: pickup.len(),
        pickup_p50_ms: load::percentile_ms(&pickup, 50.0),
        pickup_p99_ms: load::percentile_ms(&pickup, 99.0),
        done_p50_ms: load::percentile_ms(&done, 50.0),
        done_p99_ms: load::percentile_ms(&done, 99.0),
        submit_p99_ms: r.latency_ms(99.0),
        cpu_per_1k: cpu.per_thousand(pickup.len()),
        cpu,
    }
}
