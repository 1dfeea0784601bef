//! A million rows: burn-down, poll and the dashboard's reads with 90% of them terminal, and
//! peak RSS with all of them waiting. Rows are written straight into the stopped server's file.
//!
//! The waiting tenth is the newest tenth, as in a live table (the figure held to the target);
//! the burn-down is also run with the waiting rows spread evenly over the table, one in ten,
//! the worst case for how many pages each claim and completion writes.

use super::*;

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

/// Bulk-loads rows on a blocking thread and prints the load rate.
async fn bulk(
    path: &Path,
    t: db::Template,
    rows: usize,
    waiting: db::Waiting,
    sample: usize,
) -> Result<db::BulkLoad> {
    let p = path.to_owned();
    let load =
        tokio::task::spawn_blocking(move || db::bulk_load(&p, &t, rows, waiting, sample)).await??;
    println!(
        "  loaded {} rows ({} waiting) in {:.1} s ({:.0} rows/s)",
        load.rows,
        load.waiting,
        load.secs,
        load.rows as f64 / load.secs
    );
    Ok(load)
}

/// Burn-down of the waiting tenth and status poll with `--scale-rows` rows in the table, then
/// the burn-down again with the waiting tenth spread over the table.
pub(super) async fn scale(args: &BenchArgs, launch: &BgopsLaunch, workdir: &Path) -> Result<Scale> {
    println!(
        "scale: {} rows, 90% terminal, the newest tenth waiting",
        args.scale_rows
    );
    let path = workdir.join("scale.db");
    let template = prepare(args, launch, &path, "scale").await?;
    let newest = db::Waiting::Newest(args.scale_rows / 10);
    let load = bulk(&path, template.clone(), args.scale_rows, newest, 100_000).await?;
    let (server, burn) = burn_at_scale(launch, &path, "scale", load.waiting).await?;

    let pids = [server.pid];
    let target = Target::new(server.addr, &args.token);
    let poll = poll(&target, Arc::new(load.sample.clone()), args, &pids).await;
    println!(
        "  status poll at scale: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        poll.rate, poll.p50_ms, poll.p99_ms
    );
    let dashboard = super::dashboard_scale::dashboard_at_scale(&target).await?;
    let (hwm, _) = procstat::memory(server.pid)?;
    server.stop(Duration::from_secs(60))?;

    println!("scale: the same with every tenth row waiting, spread over the table");
    let spread_path = workdir.join("scale-spread.db");
    let template = prepare(args, launch, &spread_path, "scale-spread").await?;
    let spread = bulk(
        &spread_path,
        template,
        args.scale_rows,
        db::Waiting::Every(10),
        0,
    )
    .await?;
    let (server, burn_spread) =
        burn_at_scale(launch, &spread_path, "scale-spread", spread.waiting).await?;
    server.stop(Duration::from_secs(60))?;
    Ok(Scale {
        rows: load.rows,
        waiting: load.waiting,
        load_secs: load.secs,
        burn,
        burn_spread,
        poll,
        dashboard,
        peak_rss_mib: mib(hwm),
    })
}

/// Starts a server on `path` and times the burn-down of its `waiting` rows, which starts as
/// soon as the server does; returns the server still running.
async fn burn_at_scale(
    launch: &BgopsLaunch,
    path: &Path,
    tag: &str,
    waiting: usize,
) -> Result<(ChildServer, Drain)> {
    let restart = now_ms() as i64;
    let mut meter = CpuMeter::start_from_zero(&[]);
    let server = server::start_bgops(launch, path, tag)?;
    meter.add_new_process(server.pid);
    db::wait_drained(path, drain_timeout(waiting)).await?;
    let cpu = meter.stop();
    let (count, first, last) = db::window_since(path, restart)?;
    let secs = match (first, last) {
        (Some(f), Some(l)) => (l - f).max(1) as f64 / 1000.0,
        _ => bail!("no waiting row ran at scale"),
    };
    let burn = Drain::new(count as usize, secs, cpu);
    println!(
        "  burn-down at scale: {} operations in {:.2} s → {:.0}/s",
        burn.ops, burn.secs, burn.rate
    );
    Ok((server, burn))
}

/// Peak RSS of a server started on `--scale-rows` waiting operations.
pub(super) async fn memory(
    args: &BenchArgs,
    launch: &BgopsLaunch,
    workdir: &Path,
) -> Result<Memory> {
    println!("memory: {} waiting operations", args.scale_rows);
    let path = workdir.join("memory.db");
    let template = prepare(args, launch, &path, "memory").await?;
    let load = bulk(&path, template, args.scale_rows, db::Waiting::Every(1), 0).await?;
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
