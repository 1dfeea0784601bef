//! The dashboard's reads at scale (issue 15: "the list and overview answer in under 50 ms at
//! 1,000,000 rows"): with `--scale-rows` rows in the table, the summary behind the overview —
//! its first read after the server started, which waits for the database, then as viewers get
//! it each time it is out of date (the harness waits out the refresh interval: the answer is the
//! last summary while a read in the background replaces it) — and the list pages the dashboard
//! asks for, each timed over sequential requests on one
//! connection-per-request client, as a browser tab would send them.

use serde::Serialize;

use super::*;

/// How long the server keeps a queue summary before reading it again (`QUEUE_REFRESH`).
const SUMMARY_REFRESH: Duration = Duration::from_millis(5_100);

/// The columns and order of the dashboard's operation list (`app.js`).
const LIST: &str = "/api/data/v9.2/backgroundoperations?$select=backgroundoperationid,name,\
backgroundoperationstatuscode,createdon,endtime&$orderby=createdon%20desc";

/// The page size the dashboard asks for.
const PREFER: &str = "odata.maxpagesize=50,odata.include-annotations=\"*\"";

/// One kind of dashboard read and how long it took.
#[derive(Clone, Debug, Serialize)]
pub(super) struct DashboardRead {
    what: &'static str,
    runs: usize,
    rows: usize,
    p50_ms: f64,
    max_ms: f64,
}

/// Times `path` `runs` times; returns the read, and the last answer's body.
async fn time(
    target: &Target,
    what: &'static str,
    path: &str,
    runs: usize,
    pause: Duration,
) -> Result<(DashboardRead, serde_json::Value)> {
    let mut took = Vec::with_capacity(runs);
    let mut body = serde_json::Value::Null;
    for _ in 0..runs {
        tokio::time::sleep(pause).await;
        let started = Instant::now();
        let (status, _, text) =
            load::request_with(target, Method::GET, path, None, &[("Prefer", PREFER)]).await?;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        if status != StatusCode::OK {
            bail!("{what}: {status}: {text}");
        }
        body = serde_json::from_str(&text).with_context(|| format!("{what}: {text}"))?;
    }
    took.sort_by(f64::total_cmp);
    let rows = body["value"].as_array().map_or(0, Vec::len);
    let read = DashboardRead {
        what,
        runs,
        rows,
        p50_ms: took[took.len() / 2],
        max_ms: *took.last().unwrap_or(&f64::NAN),
    };
    println!(
        "  dashboard at scale, {what}: p50 {:.2} ms, max {:.2} ms over {} requests ({} rows)",
        read.p50_ms, read.max_ms, read.runs, read.rows
    );
    Ok((read, body))
}

/// The overview's summary and the list's pages, filters and sort, at the table's present size.
pub(super) async fn dashboard_at_scale(target: &Target) -> Result<Vec<DashboardRead>> {
    let mut reads = Vec::new();
    let (read, _) = time(
        target,
        "overview summary, first read after start (waits for the database)",
        "/api/dashboard/summary",
        1,
        Duration::ZERO,
    )
    .await?;
    reads.push(read);
    let (read, _) = time(
        target,
        "overview summary, out of date (read again in the background)",
        "/api/dashboard/summary",
        3,
        SUMMARY_REFRESH,
    )
    .await?;
    reads.push(read);
    let runs = 10;
    let (read, first) = time(target, "list, first page", LIST, runs, Duration::ZERO).await?;
    reads.push(read);
    if let Some(next) = first["@odata.nextLink"].as_str() {
        let path = next
            .find("/api/")
            .map(|at| next[at..].to_owned())
            .context("a nextLink without /api/")?;
        let (read, _) = time(target, "list, next page", &path, runs, Duration::ZERO).await?;
        reads.push(read);
    }
    for (what, filter) in [
        (
            "list, status Succeeded",
            "backgroundoperationstatuscode%20eq%2030",
        ),
        (
            "list, status Waiting",
            "backgroundoperationstatuscode%20eq%200",
        ),
        ("list, custom API name", "name%20eq%20%27bgops_Echo%27"),
    ] {
        let path = format!("{LIST}&$filter={filter}");
        let (read, _) = time(target, what, &path, runs, Duration::ZERO).await?;
        reads.push(read);
    }
    Ok(reads)
}
