//! bgops on an empty table: submit (workers held), burn-down, end to end, pickup latency
//! and status poll, in that order on one server.

use super::*;

/// Runs the empty-table scenarios against `target` (whose SQLite file is `db_path`, if
/// known), charging CPU to `pids`.
pub(super) async fn bgops_empty(
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
        println!("→ submit: all {workers} workers held, submitting {n}");
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
        let timings = db::timings_since(p, marker, "bgops_Echo")?;
        let pk = pickup_figures(args, &r, &timings, cpu);
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
