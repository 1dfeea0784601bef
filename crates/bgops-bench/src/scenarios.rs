//! The scenarios of issue 6, in the order they run, and how their figures are compared.
//!
//! 1. bgops on an empty table (one server): submit, burn-down, end to end, pickup latency,
//!    status poll, peak RSS.
//! 2. Anchors: axum hello-world (loaded like the status poll), raw batched inserts, apalis on
//!    a fresh database and after `ANALYZE`.
//! 3. Scale: burn-down and poll with `--scale-rows` rows in the table, 90% terminal.
//! 4. Memory: peak RSS with `--scale-rows` waiting operations.
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
        }),
    };

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
        println!(
            "apalis-sqlite, fresh database: enqueue {} single jobs, burn-down",
            args.n
        );
        let fresh =
            apalis_anchor::run(workdir, args.n, args.concurrency, workers, false, timeout).await?;
        print_apalis(&fresh);
        println!(
            "apalis-sqlite, ANALYZE before burn-down: enqueue {} jobs, burn-down",
            args.n
        );
        let analyzed =
            apalis_anchor::run(workdir, args.n, args.concurrency, workers, true, timeout).await?;
        print_apalis(&analyzed);
        (Some(fresh), Some(analyzed))
    } else {
        (None, None)
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

async fn bgops_empty(
    args: &BenchArgs,
    workers: usize,
    target: &Target,
    db_path: Option<&Path>,
    pids: &[u32],
) -> Result<Empty> {
    let mut out = Empty::default();
    let c = args.concurrency;
    let n = args.n;
    let drain = drain_timeout(n);

    // Warm-up: connections, caches, the first pages of the file.
    let warm = load::closed_loop(target, &Workload::Submit, c, Stop::Count(n.min(500))).await;
    if warm.ok == 0 {
        bail!(
            "bgops accepted no submission during warm-up: {}",
            warm.first_error.unwrap_or_default()
        );
    }
    let first_id = warm.submitted[0].id.clone();
    match db_path {
        Some(p) => db::wait_drained(p, drain).await?,
        None => tokio::time::sleep(Duration::from_secs(1)).await,
    }
    if let Some(p) = db_path {
        out.template = Some(db::template(p, &first_id)?);
    }

    if args.runs("submit") {
        // Submit, with every worker held.
        let blockers = hold_workers(target, workers).await?;
        let marker = now_ms() as i64;
        let meter = CpuMeter::start(pids);
        let sub = load::closed_loop(target, &Workload::Submit, c, Stop::Count(n)).await;
        let t = Throughput::of(&sub, meter.stop());
        println!(
            "submit: {} × bgops_Echo in {:.2} s → {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            t.ops, t.secs, t.rate, t.p50_ms, t.p99_ms
        );
        out.submit = Some(t);
        out.poll_ids = sub.submitted.iter().map(|s| s.id.clone()).collect();

        // Burn-down of the queue they left.
        let meter = CpuMeter::start(pids);
        release_workers(target, &blockers).await?;
        if let Some(p) = db_path {
            db::wait_drained(p, drain).await?;
            let cpu = meter.stop();
            let timings = db::timings_since(p, marker, "bgops_Echo")?;
            let secs = window_secs(&timings).context("no operation ran")?;
            let d = Drain::new(timings.len(), secs, cpu);
            println!(
                "burn-down: {} operations in {:.2} s → {:.0}/s",
                d.ops, d.secs, d.rate
            );
            out.burn = Some(d);
        } else {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    if let (Some(p), true) = (db_path, args.runs("e2e")) {
        // End to end: submissions racing the workers.
        let marker = now_ms() as i64;
        let meter = CpuMeter::start(pids);
        let e = load::closed_loop(target, &Workload::Submit, c, Stop::Count(n)).await;
        db::wait_drained(p, drain).await?;
        let cpu = meter.stop();
        let timings = db::timings_since(p, marker, "bgops_Echo")?;
        warn_unsucceeded(&timings);
        let first_sent = e
            .submitted
            .iter()
            .map(|s| s.sent_ms)
            .fold(f64::MAX, f64::min);
        let last_end = timings.iter().filter_map(|t| t.end).max().unwrap_or(0) as f64;
        let d = Drain::new(timings.len(), (last_end - first_sent) / 1000.0, cpu);
        println!(
            "end to end: {} operations, first submit → last completion {:.2} s → {:.0}/s \
             (submissions alone {:.0}/s)",
            d.ops,
            d.secs,
            d.rate,
            e.rate()
        );
        out.e2e = Some(d);
        if out.poll_ids.is_empty() {
            out.poll_ids = e.submitted.iter().map(|s| s.id.clone()).collect();
        }
    }

    if let (Some(p), true) = (db_path, args.runs("pickup")) {
        let marker = now_ms() as i64;
        let meter = CpuMeter::start(pids);
        let secs = Duration::from_secs_f64(args.rate_secs);
        let r = load::open_loop(target, &Workload::Submit, c, args.rate, secs).await;
        db::wait_drained(p, drain).await?;
        let cpu = meter.stop();
        let timings: HashMap<String, db::Timing> = db::timings_since(p, marker, "bgops_Echo")?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let mut pickup = Vec::with_capacity(r.submitted.len());
        let mut done = Vec::with_capacity(r.submitted.len());
        for s in &r.submitted {
            if let Some(t) = timings.get(&s.id) {
                let us = |at: Option<i64>| {
                    at.map(|ms| ((ms as f64 - s.sent_ms).max(0.0) * 1000.0) as u32)
                };
                pickup.extend(us(t.start));
                done.extend(us(t.end));
            }
        }
        pickup.sort_unstable();
        done.sort_unstable();
        let pk = Pickup {
            offered_rate: args.rate,
            ops: pickup.len(),
            pickup_p50_ms: load::percentile_ms(&pickup, 50.0),
            pickup_p99_ms: load::percentile_ms(&pickup, 99.0),
            done_p50_ms: load::percentile_ms(&done, 50.0),
            done_p99_ms: load::percentile_ms(&done, 99.0),
            submit_p99_ms: r.latency_ms(99.0),
            cpu_per_1k: cpu.per_thousand(pickup.len()),
            cpu,
        };
        note_noise(&cpu);
        println!(
            "pickup at {}/s: {} operations, submit → starttime p50 {:.2} ms, p99 {:.2} ms; \
             → endtime p50 {:.2} ms, p99 {:.2} ms",
            args.rate, pk.ops, pk.pickup_p50_ms, pk.pickup_p99_ms, pk.done_p50_ms, pk.done_p99_ms
        );
        out.pickup = Some(pk);
    }

    if args.runs("poll") && !out.poll_ids.is_empty() {
        let ids = Arc::new(out.poll_ids.clone());
        let t = poll(target, ids, args, pids).await;
        println!(
            "status poll: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            t.rate, t.p50_ms, t.p99_ms
        );
        out.poll = Some(t);
    }
    Ok(out)
}

/// GET of the status monitor at the harness's concurrency for `--poll-secs`.
async fn poll(
    target: &Target,
    ids: Arc<Vec<String>>,
    args: &BenchArgs,
    pids: &[u32],
) -> Throughput {
    let meter = CpuMeter::start(pids);
    let r = load::closed_loop(
        target,
        &Workload::Poll(ids),
        args.concurrency,
        Stop::Duration(Duration::from_secs_f64(args.poll_secs)),
    )
    .await;
    Throughput::of(&r, meter.stop())
}

async fn axum_anchor(args: &BenchArgs, workdir: &Path, ids: Vec<String>) -> Result<Throughput> {
    let server = server::start_anchor(workdir)?;
    let target = Target::new(server.addr, &args.token);
    // Warm-up, as bgops had.
    load::closed_loop(
        &target,
        &Workload::Poll(Arc::new(ids.clone())),
        args.concurrency,
        Stop::Count(500),
    )
    .await;
    let t = poll(&target, Arc::new(ids), args, &[server.pid]).await;
    println!(
        "axum hello-world: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        t.rate, t.p50_ms, t.p99_ms
    );
    server.stop(Duration::from_secs(10))?;
    Ok(t)
}

#[derive(Debug, Serialize)]
struct Raw {
    rows: usize,
    batch: usize,
    secs: f64,
    rate: f64,
    cpu_per_1k: f64,
}

async fn raw_anchor(args: &BenchArgs, workdir: &Path, template: &db::Template) -> Result<Raw> {
    let path = workdir.join("raw-inserts.db");
    let (n, t) = (args.n, template.clone());
    let meter = CpuMeter::start(&[]);
    let secs = tokio::task::spawn_blocking(move || db::raw_inserts(&path, &t, n, 256)).await??;
    let cpu = meter.stop();
    let raw = Raw {
        rows: n,
        batch: 256,
        secs,
        rate: n as f64 / secs,
        cpu_per_1k: cpu.per_thousand(n),
    };
    println!(
        "raw batched inserts (rusqlite, 256 per transaction, WAL, synchronous FULL): {:.0} rows/s",
        raw.rate
    );
    Ok(raw)
}

fn print_apalis(r: &apalis_anchor::ApalisRun) {
    for e in [&r.enqueue_sequential, &r.enqueue_concurrent] {
        println!(
            "  enqueue {} jobs from {} task(s): {:.0}/s (p50 {:.2} ms, p99 {:.2} ms)",
            e.jobs, e.concurrency, e.rate, e.p50_ms, e.p99_ms
        );
    }
    println!(
        "  burn-down {} jobs in {:.2} s → {:.0}/s{}",
        r.burn_completed,
        r.burn_secs,
        r.burn_rate,
        if r.burn_timed_out {
            " (time limit hit)"
        } else {
            ""
        }
    );
}

/// Starts a server on a new file so it migrates, runs one `bgops_Echo` to completion, stops
/// it, and returns that row as the template of bulk-loaded rows.
async fn prepare(
    args: &BenchArgs,
    launch: &BgopsLaunch,
    path: &Path,
    tag: &str,
) -> Result<db::Template> {
    let server = server::start_bgops(launch, path, &format!("{tag}-prepare"))?;
    let target = Target::new(server.addr, &args.token);
    let id = submit_one(&target, "bgops_Echo", ECHO_BODY).await?;
    wait_status(&target, &id, |state, _| state == 3).await?;
    server.stop(Duration::from_secs(60))?;
    db::template(path, &id)
}

#[derive(Debug, Serialize)]
struct Scale {
    rows: usize,
    waiting: usize,
    load_secs: f64,
    burn: Drain,
    poll: Throughput,
    peak_rss_mib: f64,
}

async fn bulk(
    path: &Path,
    t: db::Template,
    rows: usize,
    every: usize,
    sample: usize,
) -> Result<db::BulkLoad> {
    let p = path.to_owned();
    let load =
        tokio::task::spawn_blocking(move || db::bulk_load(&p, &t, rows, every, sample)).await??;
    println!(
        "  loaded {} rows ({} waiting) in {:.1} s ({:.0} rows/s)",
        load.rows,
        load.waiting,
        load.secs,
        load.rows as f64 / load.secs
    );
    Ok(load)
}

async fn scale(args: &BenchArgs, launch: &BgopsLaunch, workdir: &Path) -> Result<Scale> {
    println!("scale: {} rows, 90% terminal", args.scale_rows);
    let path = workdir.join("scale.db");
    let template = prepare(args, launch, &path, "scale").await?;
    let load = bulk(&path, template, args.scale_rows, 10, 100_000).await?;

    // Burn-down of the waiting tenth, which starts as soon as the server does.
    let restart = now_ms() as i64;
    let mut meter = CpuMeter::start_from_zero(&[]);
    let server = server::start_bgops(launch, &path, "scale")?;
    meter.add_new_process(server.pid);
    let pids = [server.pid];
    db::wait_drained(&path, drain_timeout(load.waiting)).await?;
    let cpu = meter.stop();
    let (count, first, last) = db::window_since(&path, restart)?;
    let secs = match (first, last) {
        (Some(f), Some(l)) => (l - f).max(1) as f64 / 1000.0,
        _ => bail!("no waiting row ran at scale"),
    };
    let burn = Drain::new(count as usize, secs, cpu);
    println!(
        "  burn-down at scale: {} operations in {:.2} s → {:.0}/s",
        burn.ops, burn.secs, burn.rate
    );

    let target = Target::new(server.addr, &args.token);
    let poll = poll(&target, Arc::new(load.sample.clone()), args, &pids).await;
    println!(
        "  status poll at scale: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        poll.rate, poll.p50_ms, poll.p99_ms
    );
    let (hwm, _) = procstat::memory(server.pid)?;
    server.stop(Duration::from_secs(60))?;
    Ok(Scale {
        rows: load.rows,
        waiting: load.waiting,
        load_secs: load.secs,
        burn,
        poll,
        peak_rss_mib: mib(hwm),
    })
}

#[derive(Debug, Serialize)]
struct Memory {
    waiting: usize,
    secs: f64,
    peak_rss_mib: f64,
    rss_mib: f64,
    completed: i64,
    rate: f64,
}

async fn memory(args: &BenchArgs, launch: &BgopsLaunch, workdir: &Path) -> Result<Memory> {
    println!("memory: {} waiting operations", args.scale_rows);
    let path = workdir.join("memory.db");
    let template = prepare(args, launch, &path, "memory").await?;
    let load = bulk(&path, template, args.scale_rows, 1, 0).await?;
    let restart = now_ms() as i64;
    let server: ChildServer = server::start_bgops(launch, &path, "memory")?;
    tokio::time::sleep(Duration::from_secs_f64(args.mem_secs)).await;
    let (hwm, rss) = procstat::memory(server.pid)?;
    let (completed, first, last) = db::window_since(&path, restart)?;
    server.stop(Duration::from_secs(60))?;
    let rate = match (first, last) {
        (Some(f), Some(l)) if l > f => completed as f64 * 1000.0 / (l - f) as f64,
        _ => f64::NAN,
    };
    let m = Memory {
        waiting: load.waiting,
        secs: args.mem_secs,
        peak_rss_mib: mib(hwm),
        rss_mib: mib(rss),
        completed,
        rate,
    };
    println!(
        "  peak RSS {:.1} MiB (now {:.1} MiB) after {} s; {} operations ran meanwhile ({:.0}/s)",
        m.peak_rss_mib, m.rss_mib, m.secs, m.completed, m.rate
    );
    Ok(m)
}

/// A row with the other processes' load during a bgops figure and during its anchor's.
fn noise(report: &mut Report, scenario: &str, cpu: &CpuUse, anchor: Option<(&str, &CpuUse)>) {
    let row = report.add(
        scenario,
        "other processes' load (noise)",
        Unit::Cores,
        cpu.other_cores(),
    );
    if let Some((name, a)) = anchor {
        row.anchor_name = Some(name.to_owned());
        row.anchor = Some(a.other_cores());
    }
}

#[allow(clippy::too_many_arguments)]
fn fill_report(
    report: &mut Report,
    args: &BenchArgs,
    e: &Empty,
    axum: Option<&Throughput>,
    raw: Option<&Raw>,
    fresh: Option<&apalis_anchor::ApalisRun>,
    analyzed: Option<&apalis_anchor::ApalisRun>,
    scale: Option<&Scale>,
    memory: Option<&Memory>,
) {
    let n = args.n;
    let c = args.concurrency;
    if let Some(s) = &e.submit {
        let sc = format!("submit ({n} × bgops_Echo, respond-async, {c} connections)");
        for (db_name, a) in [("fresh db", fresh), ("2nd db", analyzed)] {
            let Some(a) = a else { continue };
            for e in [&a.enqueue_sequential, &a.enqueue_concurrent] {
                let row = report.add(&sc, "submissions/s vs apalis push", Unit::PerSec, s.rate);
                row.anchor(
                    &format!("apalis, {} task(s), {db_name}", e.concurrency),
                    e.rate,
                );
                if std::ptr::eq(e, a.best_enqueue()) && db_name == "fresh db" {
                    let met = row.ratio.unwrap_or(0.0) >= 2.0;
                    row.target("≥ 2× apalis (its best)", met);
                }
            }
        }
        report
            .add(&sc, "submissions/s, absolute", Unit::PerSec, s.rate)
            .target("≥ 10,000/s", s.rate >= 10_000.0);
        if let Some(r) = raw {
            report
                .add(&sc, "submissions/s vs raw inserts", Unit::PerSec, s.rate)
                .anchor("rusqlite 256 rows/txn", r.rate);
        }
        let a = fresh.map(|a| &a.enqueue_concurrent);
        let name = format!("apalis, {c} tasks");
        let row = report.add(&sc, "latency p50", Unit::Ms, s.p50_ms);
        if let Some(a) = a {
            row.anchor(&name, a.p50_ms);
        }
        let row = report.add(&sc, "latency p99", Unit::Ms, s.p99_ms);
        if let Some(a) = a {
            row.anchor(&name, a.p99_ms);
        }
        let row = report.add(
            &sc,
            "CPU per 1k (server + client)",
            Unit::CpuPer1k,
            s.cpu_per_1k,
        );
        if let Some(a) = fresh.map(|a| a.best_enqueue()) {
            row.anchor(
                &format!("apalis, {} task(s)", a.concurrency),
                a.cpu.per_thousand(a.jobs),
            );
        }
        if let Some(r) = raw {
            report
                .add(
                    &sc,
                    "CPU per 1k vs raw inserts",
                    Unit::CpuPer1k,
                    s.cpu_per_1k,
                )
                .anchor("rusqlite 256 rows/txn", r.cpu_per_1k);
        }
    }
    if let Some(s) = &e.submit {
        let sc = format!("submit ({n} × bgops_Echo, respond-async, {c} connections)");
        let a = fresh.map(|a| a.best_enqueue());
        noise(report, &sc, &s.cpu, a.map(|a| ("apalis enqueue", &a.cpu)));
    }
    if let Some(b) = &e.burn {
        let sc = format!(
            "burn-down ({} queued bgops_Echo, {} workers)",
            b.ops, report.params["workers"]
        );
        for (name, a) in [
            ("apalis, fresh db", fresh),
            ("apalis, after ANALYZE", analyzed),
        ] {
            if let Some(a) = a {
                let row = report.add(&sc, "completed/s", Unit::PerSec, b.rate);
                row.anchor(name, a.burn_rate);
                let met = row.ratio.unwrap_or(0.0) >= 2.0;
                row.target("≥ 2× apalis", met);
            }
        }
        if fresh.is_none() {
            report.add(&sc, "completed/s", Unit::PerSec, b.rate);
        }
        let row = report.add(
            &sc,
            "CPU per 1k (server + client)",
            Unit::CpuPer1k,
            b.cpu_per_1k,
        );
        if let Some(a) = analyzed {
            row.anchor(
                "apalis, after ANALYZE",
                a.burn_cpu.per_thousand(a.burn_completed),
            );
        }
        noise(
            report,
            &sc,
            &b.cpu,
            analyzed.map(|a| ("apalis, after ANALYZE", &a.burn_cpu)),
        );
    }
    if let Some(d) = &e.e2e {
        let sc = format!("end to end ({n} submissions racing the workers)");
        report.add(&sc, "first submit → last completion", Unit::Secs, d.secs);
        report.add(&sc, "operations/s", Unit::PerSec, d.rate);
        report.add(
            &sc,
            "CPU per 1k (server + client)",
            Unit::CpuPer1k,
            d.cpu_per_1k,
        );
        noise(report, &sc, &d.cpu, None);
    }
    if let Some(p) = &e.pickup {
        let sc = format!("pickup latency ({}/s for {} s)", args.rate, args.rate_secs);
        report
            .add(&sc, "submit → starttime p50", Unit::Ms, p.pickup_p50_ms)
            .target("≤ 5 ms", p.pickup_p50_ms <= 5.0);
        report
            .add(&sc, "submit → starttime p99", Unit::Ms, p.pickup_p99_ms)
            .target("≤ 25 ms", p.pickup_p99_ms <= 25.0);
        report.add(&sc, "submit → endtime p50", Unit::Ms, p.done_p50_ms);
        report.add(&sc, "submit → endtime p99", Unit::Ms, p.done_p99_ms);
        report.add(
            &sc,
            "CPU per 1k (server + client)",
            Unit::CpuPer1k,
            p.cpu_per_1k,
        );
        noise(report, &sc, &p.cpu, None);
    }
    if let Some(p) = &e.poll {
        let sc = format!("status poll (GET status monitor, {c} connections)");
        let row = report.add(&sc, "requests/s", Unit::PerSec, p.rate);
        if let Some(a) = axum {
            row.anchor("axum hello-world", a.rate);
            let met = row.ratio.unwrap_or(0.0) >= 0.5;
            row.target("≥ 0.5× axum", met);
        }
        let row = report.add(&sc, "latency p50", Unit::Ms, p.p50_ms);
        if let Some(a) = axum {
            row.anchor("axum hello-world", a.p50_ms);
        }
        let row = report.add(&sc, "latency p99", Unit::Ms, p.p99_ms);
        if let Some(a) = axum {
            row.anchor("axum hello-world", a.p99_ms);
        }
        row.target("< 5 ms", p.p99_ms < 5.0);
        let row = report.add(
            &sc,
            "CPU per 1k (server + client)",
            Unit::CpuPer1k,
            p.cpu_per_1k,
        );
        if let Some(a) = axum {
            row.anchor("axum hello-world", a.cpu_per_1k);
        }
        noise(
            report,
            &sc,
            &p.cpu,
            axum.map(|a| ("axum hello-world", &a.cpu)),
        );
    }
    if let Some(s) = scale {
        let sc = format!("scale ({} rows in the table, 90% terminal)", s.rows);
        if let Some(p) = &e.poll {
            let row = report.add(&sc, "status poll requests/s", Unit::PerSec, s.poll.rate);
            row.anchor("same, empty table", p.rate);
            let met = row.ratio.unwrap_or(0.0) >= 1.0 / 1.3;
            row.target("within 1.3× of empty", met);
            report
                .add(&sc, "status poll p99", Unit::Ms, s.poll.p99_ms)
                .anchor("same, empty table", p.p99_ms);
        }
        let row = report.add(
            &sc,
            &format!("burn-down of {} waiting, /s", s.waiting),
            Unit::PerSec,
            s.burn.rate,
        );
        if let Some(b) = &e.burn {
            row.anchor("same, empty table", b.rate);
            let met = row.ratio.unwrap_or(0.0) >= 1.0 / 1.3;
            row.target("within 1.3× of empty", met);
        }
        report.add(&sc, "poll CPU per 1k", Unit::CpuPer1k, s.poll.cpu_per_1k);
        report.add(
            &sc,
            "burn-down CPU per 1k",
            Unit::CpuPer1k,
            s.burn.cpu_per_1k,
        );
        report.add(&sc, "server peak RSS", Unit::Mb, s.peak_rss_mib);
        let row = report.add(
            &sc,
            "noise during poll / burn-down",
            Unit::Cores,
            s.poll.cpu.other_cores(),
        );
        row.anchor_name = Some("burn-down".to_owned());
        row.anchor = Some(s.burn.cpu.other_cores());
    }
    if let Some(m) = memory {
        let sc = format!("memory ({} waiting operations)", m.waiting);
        let row = report.add(
            &sc,
            &format!("peak RSS after {} s", m.secs),
            Unit::Mb,
            m.peak_rss_mib,
        );
        if let Some(r) = e.rss_mb {
            row.anchor("same server, empty table", r);
        }
        row.target("< 200 MiB", m.peak_rss_mib < 200.0);
        let row = report.add(&sc, "completed/s meanwhile", Unit::PerSec, m.rate);
        if let Some(b) = &e.burn {
            row.anchor("burn-down, empty table", b.rate);
        }
    }
}
