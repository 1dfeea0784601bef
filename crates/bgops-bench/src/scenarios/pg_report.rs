//! The PostgreSQL section of the report: bgops's figures beside the peers' and the server's
//! own limit, with the targets of issue 11.

use super::pg_limit::{server_limit, Limit};
use super::postgres::{bgops_postgres, PgBgops, WithCpu};
use super::*;
use crate::peers::{apalis_pg, graphile, PeerBurn};
use crate::pg::PgServer;
use crate::pgcpu::PgCpu;

/// Everything measured on PostgreSQL.
#[derive(Default, Serialize)]
pub(super) struct PgResults {
    pub server: String,
    pub bgops: PgBgops,
    pub graphile: Option<PeerBurn>,
    pub graphile_batched: Option<PeerBurn>,
    pub apalis: Option<PeerBurn>,
    pub limit: Option<Limit>,
}

/// Runs the PostgreSQL scenarios: bgops nodes, the peers, the server's limit.
pub(super) async fn run_postgres(
    args: &BenchArgs,
    workers: usize,
    launch: Option<&BgopsLaunch>,
    url: &str,
    workdir: &Path,
) -> Result<PgResults> {
    let pg = PgServer::new(url)?;
    let control = Arc::new(pg.connect().await?);
    let version: String = control.query_one("SHOW server_version", &[]).await?.get(0);
    println!(
        "PostgreSQL {version} at {url}; this run's schemas and databases: {}_*",
        pg.run
    );
    let mut out = PgResults {
        server: version,
        ..Default::default()
    };
    if let (Some(launch), true) = (launch, args.runs("pg")) {
        out.bgops = bgops_postgres(args, workers, launch, &pg, control.clone(), workdir).await?;
    }
    let timeout = Duration::from_secs_f64(args.apalis_timeout);
    let dir = args
        .graphile_dir
        .clone()
        .unwrap_or_else(graphile::default_dir);
    let graphile_runs = args.runs("graphile") || args.runs("graphile-batched");
    if graphile_runs && !args.quick {
        graphile::ensure_installed(&dir)?;
    }
    for batching in [false, true] {
        let name = if batching {
            "graphile-batched"
        } else {
            "graphile"
        };
        if !args.runs(name) || !graphile::installed(&dir) {
            continue;
        }
        println!(
            "graphile-worker{}: queue {} jobs, burn-down",
            if batching { " with batching" } else { "" },
            args.n
        );
        let r = graphile::burn(
            &pg,
            control.clone(),
            &dir,
            workdir,
            args.n,
            workers,
            batching,
            timeout,
        )
        .await?;
        r.print();
        if batching {
            out.graphile_batched = Some(r);
        } else {
            out.graphile = Some(r);
        }
    }
    if args.runs("apalis-pg") {
        println!("apalis-postgres: enqueue {} jobs, burn-down", args.n);
        let r = apalis_pg::burn(
            &pg,
            control.clone(),
            args.n,
            args.concurrency,
            workers,
            timeout,
        )
        .await?;
        r.print();
        out.apalis = Some(r);
    }
    if args.runs("pg-limit") {
        out.limit = Some(server_limit(args, &pg, control.clone()).await?);
    }
    Ok(out)
}

/// One kind of process's share of a [`PgCpu`].
type CpuPart = fn(&PgCpu) -> f64;

/// Rows of CPU per 1,000 operations, split by process kind, bgops beside a peer.
fn cpu_rows(report: &mut Report, sc: &str, ops: usize, cpu: &PgCpu, peer: Option<&PeerBurn>) {
    let parts: [(&str, CpuPart); 4] = [
        ("CPU per 1k, all processes", PgCpu::total),
        ("CPU per 1k, bgops nodes / peer", |c| c.app),
        ("CPU per 1k, PostgreSQL backends", |c| c.backends),
        ("CPU per 1k, harness", |c| c.bench),
    ];
    for (metric, part) in parts {
        let row = report.add(
            sc,
            metric,
            Unit::CpuPer1k,
            PgCpu::per_thousand(part(cpu), ops),
        );
        if let Some(p) = peer {
            row.anchor(&p.name, PgCpu::per_thousand(part(&p.cpu), p.completed));
        }
    }
}

fn noise_row(report: &mut Report, sc: &str, cpu: &PgCpu, anchor: Option<(&str, &PgCpu)>) {
    let row = report.add(
        sc,
        "other processes' load (noise)",
        Unit::Cores,
        cpu.other_cores(),
    );
    if let Some((name, a)) = anchor {
        row.anchor_name = Some(name.to_owned());
        row.anchor = Some(a.other_cores());
    }
}

/// Turns the PostgreSQL measurements into report rows.
pub(super) fn fill_pg_report(report: &mut Report, args: &BenchArgs, workers: usize, r: &PgResults) {
    let n = args.n;
    let c = args.concurrency;
    let b = &r.bgops;
    if let Some(WithCpu { figure: s, cpu }) = &b.submit {
        let sc = format!("PostgreSQL submit ({n} × bgops_Echo, {c} connections, one node)");
        report
            .add(&sc, "submissions/s", Unit::PerSec, s.rate)
            .target("≥ 10,000/s", s.rate >= 10_000.0);
        if let Some(l) = &r.limit {
            report
                .add(&sc, "submissions/s vs server limit", Unit::PerSec, s.rate)
                .anchor(
                    &format!("single-row commits, {c} conns"),
                    l.single_commits.rate,
                );
            report
                .add(&sc, "submissions/s vs batched rows", Unit::PerSec, s.rate)
                .anchor("256 rows/txn, INSERT each", l.batched_statements.rate);
        }
        report.add(&sc, "latency p50", Unit::Ms, s.p50_ms);
        report.add(&sc, "latency p99", Unit::Ms, s.p99_ms);
        cpu_rows(report, &sc, s.ops, cpu, None);
        if let Some(l) = &r.limit {
            report
                .add(
                    &sc,
                    "CPU per 1k vs server limit",
                    Unit::CpuPer1k,
                    PgCpu::per_thousand(cpu.total(), s.ops),
                )
                .anchor("single-row commits", l.single_commits.cpu_per_1k);
        }
        noise_row(report, &sc, cpu, None);
    }
    let peers = [
        (&r.graphile, 2.0),
        (&r.graphile_batched, 0.0),
        (&r.apalis, 3.0),
    ];
    if let Some(WithCpu { figure: d, cpu }) = &b.burn {
        let sc = format!(
            "PostgreSQL burn-down ({} queued no-op bgops_Echo, {workers} workers, one node)",
            d.ops
        );
        report.add(&sc, "completed/s", Unit::PerSec, d.rate);
        for (peer, times) in peers {
            let Some(p) = peer else { continue };
            let row = report.add(&sc, "completed/s vs peer", Unit::PerSec, d.rate);
            row.anchor(&p.name, p.rate);
            if times > 0.0 {
                let met = row.ratio.unwrap_or(0.0) >= times;
                row.target(&format!("≥ {times}× {}", p.name), met);
            }
        }
        cpu_rows(report, &sc, d.ops, cpu, r.graphile.as_ref());
        for p in [&r.graphile_batched, &r.apalis].into_iter().flatten() {
            report
                .add(
                    &sc,
                    "CPU per 1k, all processes",
                    Unit::CpuPer1k,
                    PgCpu::per_thousand(cpu.total(), d.ops),
                )
                .anchor(&p.name, p.cpu_per_1k());
        }
        noise_row(
            report,
            &sc,
            cpu,
            r.graphile.as_ref().map(|p| (p.name.as_str(), &p.cpu)),
        );
    } else {
        // Peers alone (bgops skipped or unavailable): their figures in the anchor column.
        for p in peers.iter().filter_map(|(p, _)| p.as_ref()) {
            let sc = format!(
                "PostgreSQL peer burn-down ({} queued no-op jobs, {workers} concurrent)",
                p.jobs
            );
            let per_1k = |secs: f64| PgCpu::per_thousand(secs, p.completed);
            let rows = [
                ("completed/s", Unit::PerSec, p.rate),
                ("CPU per 1k, all processes", Unit::CpuPer1k, p.cpu_per_1k()),
                (
                    "CPU per 1k, peer process",
                    Unit::CpuPer1k,
                    per_1k(p.cpu.app),
                ),
                (
                    "CPU per 1k, PostgreSQL backends",
                    Unit::CpuPer1k,
                    per_1k(p.cpu.backends),
                ),
                ("CPU per 1k, harness", Unit::CpuPer1k, per_1k(p.cpu.bench)),
                (
                    "other processes' load (noise)",
                    Unit::Cores,
                    p.cpu.other_cores(),
                ),
            ];
            for (metric, unit, value) in rows {
                let row = report.add(&sc, metric, unit, f64::NAN);
                row.anchor_name = Some(p.name.clone());
                row.anchor = Some(value);
            }
        }
    }
    if let Some(WithCpu { figure: p, cpu }) = &b.pickup {
        let sc = format!(
            "PostgreSQL pickup ({}/s for {} s to node A, run by node B)",
            args.rate, args.rate_secs
        );
        report
            .add(&sc, "submit → starttime p50", Unit::Ms, p.pickup_p50_ms)
            .target("≤ 5 ms", p.pickup_p50_ms <= 5.0);
        report
            .add(&sc, "submit → starttime p99", Unit::Ms, p.pickup_p99_ms)
            .target("≤ 25 ms", p.pickup_p99_ms <= 25.0);
        report.add(&sc, "submit → endtime p50", Unit::Ms, p.done_p50_ms);
        report.add(&sc, "submit → endtime p99", Unit::Ms, p.done_p99_ms);
        cpu_rows(report, &sc, p.ops, cpu, None);
        noise_row(report, &sc, cpu, None);
    }
    if let Some(WithCpu { figure: p, cpu }) = &b.poll {
        let sc = format!("PostgreSQL status poll (GET status monitor, {c} connections)");
        let row = report.add(&sc, "requests/s", Unit::PerSec, p.rate);
        if let Some(a) = &b.axum {
            row.anchor("axum hello-world", a.rate);
            let met = row.ratio.unwrap_or(0.0) >= 0.4;
            row.target("≥ 0.4× axum", met);
        }
        let row = report.add(&sc, "latency p99", Unit::Ms, p.p99_ms);
        if let Some(a) = &b.axum {
            row.anchor("axum hello-world", a.p99_ms);
        }
        cpu_rows(report, &sc, p.ops, cpu, None);
        noise_row(report, &sc, cpu, None);
    }
    if let Some(WithCpu { figure: two, cpu }) = &b.two_nodes {
        let sc = format!(
            "PostgreSQL two nodes ({} queued, {workers} workers each)",
            two.ops
        );
        let row = report.add(&sc, "completed/s", Unit::PerSec, two.rate);
        if let Some(one) = &b.burn {
            row.anchor("one node", one.figure.rate);
            let met = row.ratio.unwrap_or(0.0) >= 1.0;
            row.target("≥ one node", met);
        }
        let per_1k = PgCpu::per_thousand(cpu.total(), two.ops);
        let row = report.add(&sc, "CPU per 1k, all processes", Unit::CpuPer1k, per_1k);
        if let Some(one) = &b.burn {
            row.anchor(
                "one node",
                PgCpu::per_thousand(one.cpu.total(), one.figure.ops),
            );
            let met = row.ratio.unwrap_or(f64::MAX) <= 1.3;
            row.target("≤ 1.3× one node", met);
        }
        cpu_rows(report, &sc, two.ops, cpu, None);
        noise_row(
            report,
            &sc,
            cpu,
            b.burn.as_ref().map(|o| ("one node", &o.cpu)),
        );
    }
    if let Some(l) = &r.limit {
        let sc =
            format!("PostgreSQL server limit ({n} rows of a submission's shape, tokio-postgres)");
        report.add(
            &sc,
            &format!("single-row commits, {c} connections"),
            Unit::PerSec,
            l.single_commits.rate,
        );
        report.add(
            &sc,
            "256 rows/txn, one INSERT each",
            Unit::PerSec,
            l.batched_statements.rate,
        );
        report
            .add(
                &sc,
                "256/txn, SAVEPOINT+INSERT+RELEASE",
                Unit::PerSec,
                l.batched_savepoints.rate,
            )
            .anchor("without savepoints", l.batched_statements.rate);
        report.add(
            &sc,
            "256 rows/txn, one INSERT … unnest",
            Unit::PerSec,
            l.batched_unnest.rate,
        );
        report.add(
            &sc,
            "CPU per 1k, single-row commits",
            Unit::CpuPer1k,
            l.single_commits.cpu_per_1k,
        );
        report
            .add(
                &sc,
                "CPU per 1k, with savepoints",
                Unit::CpuPer1k,
                l.batched_savepoints.cpu_per_1k,
            )
            .anchor("without savepoints", l.batched_statements.cpu_per_1k);
        noise_row(report, &sc, &l.single_commits.cpu, None);
    }
}
