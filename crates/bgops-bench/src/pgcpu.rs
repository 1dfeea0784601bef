//! CPU of every process a PostgreSQL scenario involves: the bgops nodes or the peer process,
//! the PostgreSQL backends serving them, and the harness. Backends are found by their
//! `application_name` (every measured client of a run connects with `<run>_<who>`), sampled
//! from `pg_stat_activity` every 100 ms, and charged with `utime + stime` from
//! `/proc/<pid>/stat` (the server runs on this machine): a backend already there at the start
//! from its reading then, one started later from zero, one gone before the end with its last
//! reading (at most 100 ms of its work is missed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_postgres::Client;

use crate::procstat::{self, cpu_seconds, machine_busy_seconds};

/// CPU seconds used during one PostgreSQL measurement, by kind of process.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct PgCpu {
    /// The measured application processes (bgops nodes, or the graphile-worker Node process).
    pub app: f64,
    /// The PostgreSQL backends serving them.
    pub backends: f64,
    /// How many backends served them.
    pub backend_count: usize,
    /// The harness process (load generator, result polling, in-process peers like apalis).
    pub bench: f64,
    /// Wall-clock seconds of the interval.
    pub wall: f64,
    /// CPU seconds other processes used meanwhile (noise; includes PostgreSQL's own
    /// background processes such as the WAL writer, which serve every database).
    pub others: f64,
}

impl PgCpu {
    /// Every measured process together.
    pub fn total(&self) -> f64 {
        self.app + self.backends + self.bench
    }

    /// `secs` CPU seconds per 1,000 of `ops`.
    pub fn per_thousand(secs: f64, ops: usize) -> f64 {
        if ops == 0 {
            return f64::NAN;
        }
        secs * 1000.0 / ops as f64
    }

    /// Cores' worth of CPU other processes used on average.
    pub fn other_cores(&self) -> f64 {
        self.others / self.wall
    }

    /// As the SQLite scenarios' CPU record (server = app + backends).
    pub fn as_cpu_use(&self) -> procstat::CpuUse {
        procstat::CpuUse {
            server: self.app + self.backends,
            bench: self.bench,
            wall: self.wall,
            others: self.others,
        }
    }
}

/// Per backend: CPU seconds at its first and its last reading.
type Seen = HashMap<i32, (f64, f64)>;

/// Measures the CPU of some application processes, the backends whose `application_name`
/// starts with a prefix, and this process, from [`PgMeter::start`] to [`PgMeter::stop`].
pub struct PgMeter {
    app_pids: Vec<u32>,
    start_app: f64,
    start_self: f64,
    start_machine: f64,
    started: Instant,
    seen: Arc<Mutex<Seen>>,
    sampler: tokio::task::JoinHandle<()>,
    client: Arc<Client>,
    prefix: String,
    since_boot: f64,
}

/// When a process started, in seconds since boot (`/proc/<pid>/stat` field 22).
fn started_since_boot(pid: i32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = text.rsplit_once(')')?.1;
    let ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    Some(ticks / procstat::ticks_per_second())
}

/// Seconds since boot now.
fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

async fn sample(client: &Client, prefix: &str, since_boot: f64, seen: &Mutex<Seen>) {
    let Ok(rows) = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE starts_with(application_name, $1)",
            &[&prefix],
        )
        .await
    else {
        return;
    };
    let mut seen = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for r in rows {
        let pid: i32 = r.get(0);
        let Ok(now) = cpu_seconds(Some(pid as u32)) else {
            continue;
        };
        let entry = seen.entry(pid).or_insert_with(|| {
            // Started during the interval: all its CPU belongs to it.
            let born_after = started_since_boot(pid).is_some_and(|b| b >= since_boot);
            (if born_after { 0.0 } else { now }, now)
        });
        entry.1 = now;
    }
}

impl PgMeter {
    /// Starts measuring `app_pids`, the backends named `prefix…` (found through `client`) and
    /// this process.
    pub async fn start(client: Arc<Client>, prefix: &str, app_pids: &[u32]) -> Self {
        let since_boot = uptime();
        let seen = Arc::new(Mutex::new(Seen::new()));
        sample(&client, prefix, since_boot, &seen).await;
        let sampler = {
            let (client, prefix, seen) = (client.clone(), prefix.to_owned(), seen.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    sample(&client, &prefix, since_boot, &seen).await;
                }
            })
        };
        Self {
            start_app: app_cpu(app_pids),
            app_pids: app_pids.to_vec(),
            start_self: cpu_seconds(None).unwrap_or(0.0),
            start_machine: machine_busy_seconds(),
            started: Instant::now(),
            seen,
            sampler,
            client,
            prefix: prefix.to_owned(),
            since_boot,
        }
    }

    /// The CPU used since the start. Call while the processes still run.
    pub async fn stop(self) -> PgCpu {
        self.sampler.abort();
        sample(&self.client, &self.prefix, self.since_boot, &self.seen).await;
        let app = app_cpu(&self.app_pids) - self.start_app;
        let bench = cpu_seconds(None).unwrap_or(0.0) - self.start_self;
        let machine = machine_busy_seconds() - self.start_machine;
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let backends: f64 = seen.values().map(|(first, last)| last - first).sum();
        PgCpu {
            app,
            backends,
            backend_count: seen.len(),
            bench,
            wall: self.started.elapsed().as_secs_f64(),
            others: (machine - app - backends - bench).max(0.0),
        }
    }
}

fn app_cpu(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|p| cpu_seconds(Some(*p)).unwrap_or(0.0))
        .sum()
}
