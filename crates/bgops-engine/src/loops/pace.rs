//! How far a node claims ahead of its free workers.
//!
//! Claiming only for free workers costs one commit per handful of operations; claiming ahead
//! lets one commit take many. But a claimed row is In Progress under this node's lease, so no
//! other node can take it while it waits here for a worker. The node therefore claims ahead
//! only as much as its workers are expected to start within [`HORIZON`], judged from how long
//! recent attempts took: many fast operations are claimed in bulk; slow ones (or any, until
//! the first attempts finished) only one per free worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How soon a row claimed ahead is expected to start.
pub const HORIZON: Duration = Duration::from_millis(20);

/// Most rows claimed ahead of free workers.
pub const MAX_AHEAD: usize = 256;

/// No attempt measured yet.
const UNKNOWN: u64 = u64::MAX;

/// A moving average of attempt durations.
pub struct Pace {
    /// Microseconds, weighted 1/8 to the newest attempt; [`UNKNOWN`] before the first.
    average_us: AtomicU64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            average_us: AtomicU64::new(UNKNOWN),
        }
    }
}

impl Pace {
    /// Takes one attempt's duration (plug-in start to result) into the average.
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(UNKNOWN - 1);
        // Racing updates may lose one sample; the average stays an average.
        let old = self.average_us.load(Ordering::Relaxed);
        let new = if old == UNKNOWN {
            us
        } else {
            old - old / 8 + us / 8
        };
        self.average_us.store(new, Ordering::Relaxed);
    }

    /// Forgets the average, so nothing is claimed ahead until the next attempt finishes.
    pub fn forget(&self) {
        self.average_us.store(UNKNOWN, Ordering::Relaxed);
    }

    /// How many rows to hold claimed beyond those running, for `workers` workers.
    pub fn ahead(&self, workers: usize) -> usize {
        let us = self.average_us.load(Ordering::Relaxed);
        if us == UNKNOWN {
            return 0;
        }
        let horizon = HORIZON.as_micros() as u64;
        let n = (workers as u64).saturating_mul(horizon) / us.max(1);
        (n as usize).min(MAX_AHEAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_ahead_before_the_first_attempt() {
        assert_eq!(Pace::default().ahead(4), 0);
    }

    #[test]
    fn fast_attempts_claim_far_ahead_slow_ones_not_at_all() {
        let fast = Pace::default();
        for _ in 0..20 {
            fast.observe(Duration::from_micros(30));
        }
        assert_eq!(fast.ahead(4), MAX_AHEAD);

        let medium = Pace::default();
        medium.observe(Duration::from_millis(2));
        // 4 workers × 20 ms / 2 ms.
        assert_eq!(medium.ahead(4), 40);

        let slow = Pace::default();
        slow.observe(Duration::from_secs(1));
        assert_eq!(slow.ahead(4), 0);
    }

    #[test]
    fn a_run_of_slow_attempts_stops_claiming_ahead() {
        let pace = Pace::default();
        for _ in 0..20 {
            pace.observe(Duration::from_micros(30));
        }
        for _ in 0..40 {
            pace.observe(Duration::from_secs(2));
        }
        assert_eq!(pace.ahead(4), 0);
    }
}
