//! graphile-worker, run as a child process: `node peers/graphile/burn.mjs` (installed with
//! `npm ci` from the committed lock file) queues N no-op jobs in a fresh schema, then works
//! them off when told "go". The harness counts the jobs left in `<schema>._private_jobs` (a
//! completed job is deleted) every 20 ms from its own connection.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio_postgres::Client;

use super::PeerBurn;
use crate::pg::{self, PgServer};
use crate::pgcpu::PgMeter;

/// The package folder shipped with the harness's sources.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/graphile")
}

/// Whether graphile-worker is installed in `dir` (its `node_modules`).
pub fn installed(dir: &Path) -> bool {
    dir.join("node_modules/graphile-worker/package.json")
        .is_file()
}

/// The installed graphile-worker version.
pub fn version(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("node_modules/graphile-worker/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Installs the locked packages with `npm ci` unless they are already there.
pub fn ensure_installed(dir: &Path) -> Result<()> {
    if installed(dir) {
        return Ok(());
    }
    println!("installing graphile-worker: npm ci in {}", dir.display());
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .context("running npm ci (is npm installed?)")?;
    if !status.success() || !installed(dir) {
        bail!("npm ci in {} failed ({status})", dir.display());
    }
    Ok(())
}

/// The Node child and its standard output.
struct Peer {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    /// Waits (at most `timeout`) for the JSON event line `event`.
    async fn event(&mut self, event: &str, timeout: Duration) -> Result<serde_json::Value> {
        let wait = async {
            while let Some(line) = self.out.next_line().await? {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["event"] == event {
                        return Ok(v);
                    }
                }
            }
            bail!("graphile-worker exited before '{event}'")
        };
        tokio::time::timeout(timeout, wait)
            .await
            .with_context(|| format!("graphile-worker did not report '{event}' in {timeout:?}"))?
    }

    async fn say(&mut self, line: &str) -> Result<()> {
        let stdin = self.child.stdin.as_mut().context("no stdin")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }
}

/// One burn-down of `n` queued no-op jobs with `concurrency` concurrent jobs, with
/// graphile-worker's defaults or (`batching`) its documented batching.
#[allow(clippy::too_many_arguments)]
pub async fn burn(
    pg: &PgServer,
    control: Arc<Client>,
    dir: &Path,
    log_dir: &Path,
    n: usize,
    concurrency: usize,
    batching: bool,
    timeout: Duration,
) -> Result<PeerBurn> {
    let tag = if batching {
        "graphile_batched"
    } else {
        "graphile"
    };
    let schema = format!("{}_{tag}", pg.run);
    pg::drop_schema(&control, &schema).await?;
    let result = run(
        pg,
        &control,
        dir,
        log_dir,
        &schema,
        tag,
        n,
        concurrency,
        batching,
        timeout,
    )
    .await;
    pg::drop_schema(&control, &schema).await?;
    result
}

#[allow(clippy::too_many_arguments)]
async fn run(
    pg: &PgServer,
    control: &Arc<Client>,
    dir: &Path,
    log_dir: &Path,
    schema: &str,
    tag: &str,
    n: usize,
    concurrency: usize,
    batching: bool,
    timeout: Duration,
) -> Result<PeerBurn> {
    let log = log_dir.join(format!("{tag}.log"));
    let mut cmd = Command::new("node");
    cmd.arg("burn.mjs")
        .args(["--url", &pg.url(tag, None)])
        .args(["--schema", schema])
        .args(["--n", &n.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log)?))
        .kill_on_drop(true);
    if batching {
        cmd.arg("--batching");
    }
    let mut child = cmd
        .spawn()
        .context("starting node (is Node.js installed?)")?;
    let out = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    let pid = child.id().context("node exited at once")?;
    let mut peer = Peer { child, out };

    let queued = peer
        .event("queued", Duration::from_secs(600))
        .await
        .with_context(|| format!("see {}", log.display()))?;
    let enqueue_secs = queued["enqueue_secs"].as_f64().unwrap_or(f64::NAN);

    let meter = PgMeter::start(control.clone(), &pg.app_prefix(), &[pid]).await;
    let start = Instant::now();
    peer.say("go").await?;
    let count = format!("SELECT COUNT(*) FROM \"{schema}\"._private_jobs");
    let (left, timed_out) = pg::wait_count(control, &count, |c| c == 0, timeout).await?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = meter.stop().await;

    peer.say("stop").await?;
    let _ = peer.event("stopped", Duration::from_secs(30)).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), peer.child.wait()).await;
    let completed = n - left.max(0) as usize;
    let settings = if batching {
        "localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0"
    } else {
        "defaults"
    };
    Ok(PeerBurn {
        name: format!(
            "graphile-worker{}",
            if batching { ", batching" } else { "" }
        ),
        settings: format!(
            "graphile-worker {} on Node {}, concurrentJobs {concurrency}, {settings}",
            version(dir),
            node_version()
        ),
        jobs: n,
        completed,
        secs,
        rate: completed as f64 / secs,
        timed_out,
        enqueue_rate: n as f64 / enqueue_secs,
        cpu,
    })
}

fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
}
