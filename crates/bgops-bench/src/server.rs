//! Child processes the harness measures: the real `bgops serve` on a SQLite file or a
//! PostgreSQL schema, and the
//! axum hello-world anchor (this binary's `anchor-server` mode). Both print one
//! `… listening on http://ADDR` line on standard output once they accept connections.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How `bgops serve` is started for a run.
#[derive(Clone, Debug)]
pub struct BgopsLaunch {
    /// The `bgops` executable.
    pub binary: PathBuf,
    /// The bootstrap administrator's API key (`--admin-token`).
    pub token: String,
    /// `--workers`.
    pub workers: usize,
    /// Where server logs (standard error) are written, one file per start.
    pub log_dir: PathBuf,
    /// More flags for `bgops serve`.
    pub extra: Vec<String>,
}

/// A running child server.
pub struct ChildServer {
    /// The process; `None` once it was stopped.
    child: Option<Child>,
    /// Its address, from the listening line.
    pub addr: SocketAddr,
    /// Its process id, for CPU and memory readings.
    pub pid: u32,
    /// What it is, for messages.
    name: String,
}

/// Starts `bgops serve` on `db` and waits for its listening line.
pub fn start_bgops(launch: &BgopsLaunch, db: &Path, tag: &str) -> Result<ChildServer> {
    let database = format!("sqlite://{}", db.display());
    start_bgops_on(launch, &database, launch.workers, tag)
}

/// Starts `bgops serve --database <database> --workers <workers>` (a PostgreSQL node) and
/// waits for its listening line.
pub fn start_bgops_on(
    launch: &BgopsLaunch,
    database: &str,
    workers: usize,
    tag: &str,
) -> Result<ChildServer> {
    start_bgops_with(launch, database, workers, tag, &[])
}

/// Like [`start_bgops_on`], with `extra` flags (JWT issuers, rate limits).
pub fn start_bgops_with(
    launch: &BgopsLaunch,
    database: &str,
    workers: usize,
    tag: &str,
    extra: &[String],
) -> Result<ChildServer> {
    let log = launch.log_dir.join(format!("bgops-{tag}.log"));
    let mut cmd = Command::new(&launch.binary);
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--database")
        .arg(database)
        .arg("--admin-token")
        .arg(&launch.token)
        .arg("--workers")
        .arg(workers.to_string())
        // The blocker operations of the submit scenario must outlive it.
        .arg("--attempt-timeout")
        .arg("1h")
        .arg("--shutdown-grace")
        .arg("10s")
        .args(&launch.extra)
        .args(extra)
        .env("RUST_LOG", "info");
    spawn(
        cmd,
        &log,
        "bgops listening on http://",
        &format!("bgops ({tag})"),
    )
}

/// Starts this binary's axum hello-world anchor server.
pub fn start_anchor(log_dir: &Path) -> Result<ChildServer> {
    let exe = std::env::current_exe().context("locating the bgops-bench executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("anchor-server").arg("--listen").arg("127.0.0.1:0");
    spawn(
        cmd,
        &log_dir.join("anchor-server.log"),
        "anchor listening on http://",
        "axum hello-world anchor",
    )
}

fn spawn(mut cmd: Command, log: &Path, prefix: &str, name: &str) -> Result<ChildServer> {
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let prefix = prefix.to_owned();
    // Keeps draining standard output so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix(&prefix) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(a) => a,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{name} did not start; its log ({}):\n{text}", log.display());
        }
    };
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("{name} printed a bad address '{addr}'"))?;
    Ok(ChildServer {
        pid: child.id(),
        child: Some(child),
        addr,
        name: name.to_owned(),
    })
}

impl ChildServer {
    /// Sends SIGTERM and waits (at most `timeout`, then SIGKILL) for the process to exit.
    pub fn stop(mut self, timeout: Duration) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    eprintln!("note: {} exited with {status}", self.name);
                }
                return Ok(());
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{} did not exit within {timeout:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
