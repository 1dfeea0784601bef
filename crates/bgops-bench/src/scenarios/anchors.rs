//! The status poll run, and the anchors it and submissions are compared with: axum
//! hello-world and raw batched inserts (apalis has its own module).

use super::*;

/// GET of the status monitor at the harness's concurrency for `--poll-secs`.
pub(super) async fn poll(
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

/// Starts the axum hello-world anchor and warms it up with `ids`, as bgops had its warm-up.
pub(super) async fn start_warm_anchor(
    args: &BenchArgs,
    workdir: &Path,
    ids: Arc<Vec<String>>,
) -> Result<(ChildServer, Target)> {
    let server = server::start_anchor(workdir)?;
    let target = Target::new(server.addr, &args.token);
    load::closed_loop(
        &target,
        &Workload::Poll(ids),
        args.concurrency,
        Stop::Count(500),
    )
    .await;
    Ok((server, target))
}

/// Starts the axum hello-world anchor and loads it exactly like the status poll.
pub(super) async fn axum_anchor(
    args: &BenchArgs,
    workdir: &Path,
    ids: Vec<String>,
) -> Result<Throughput> {
    let ids = Arc::new(ids);
    let (server, target) = start_warm_anchor(args, workdir, ids.clone()).await?;
    let t = poll(&target, ids, args, &[server.pid]).await;
    println!(
        "axum hello-world: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        t.rate, t.p50_ms, t.p99_ms
    );
    server.stop(Duration::from_secs(10))?;
    Ok(t)
}

/// Inserts `--n` rows shaped like `template` with rusqlite, 256 per transaction.
pub(super) async fn raw_anchor(
    args: &BenchArgs,
    workdir: &Path,
    template: &db::Template,
) -> Result<Raw> {
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

/// Prints one apalis run as it finishes.
pub(super) fn print_apalis(r: &apalis_anchor::ApalisRun) {
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
