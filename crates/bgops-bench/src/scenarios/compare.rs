//! How figures meet anchors and targets: the rows of the report.

use super::*;

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

/// Turns every measurement into report rows with anchors, ratios and targets.
#[allow(clippy::too_many_arguments)]
pub(super) fn fill_report(
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
        let sc = format!(
            "scale ({} rows in the table, 90% terminal, the newest tenth waiting)",
            s.rows
        );
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
        let row = report.add(
            &sc,
            "burn-down, every 10th row waiting",
            Unit::PerSec,
            s.burn_spread.rate,
        );
        if let Some(b) = &e.burn {
            row.anchor("same, empty table", b.rate);
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
