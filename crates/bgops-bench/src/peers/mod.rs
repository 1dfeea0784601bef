//! The job libraries bgops on PostgreSQL is compared with, each burning down the same number
//! of queued no-op jobs on the same PostgreSQL server as bgops, with as many concurrent jobs
//! as bgops has workers: graphile-worker (Node, a child process) and apalis-postgres (in this
//! process).

use serde::Serialize;

use crate::pgcpu::PgCpu;

pub mod apalis_pg;
pub mod graphile;

/// What a peer's burn-down measured.
#[derive(Clone, Debug, Serialize)]
pub struct PeerBurn {
    /// The peer and its settings, as printed.
    pub name: String,
    /// Its version and the settings that differ from its defaults.
    pub settings: String,
    /// Jobs queued.
    pub jobs: usize,
    /// Jobs completed when the burn-down ended.
    pub completed: usize,
    /// From the worker's start until the last job was completed in the database.
    pub secs: f64,
    /// Completed jobs per second.
    pub rate: f64,
    /// Whether the time limit ended the burn-down first.
    pub timed_out: bool,
    /// Jobs queued per second while setting up (informational).
    pub enqueue_rate: f64,
    /// CPU of the burn-down.
    pub cpu: PgCpu,
}

impl PeerBurn {
    /// CPU seconds per 1,000 completed jobs of every process.
    pub fn cpu_per_1k(&self) -> f64 {
        PgCpu::per_thousand(self.cpu.total(), self.completed)
    }

    /// Prints the result as it finishes.
    pub fn print(&self) {
        println!(
            "{}: {} of {} jobs in {:.2} s → {:.0}/s{}; CPU per 1k: peer {:.3} s, backends \
             {:.3} s ({}), harness {:.3} s",
            self.name,
            self.completed,
            self.jobs,
            self.secs,
            self.rate,
            if self.timed_out {
                " (time limit hit)"
            } else {
                ""
            },
            PgCpu::per_thousand(self.cpu.app, self.completed),
            PgCpu::per_thousand(self.cpu.backends, self.completed),
            self.cpu.backend_count,
            PgCpu::per_thousand(self.cpu.bench, self.completed),
        );
    }
}
