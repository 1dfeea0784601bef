//! How far a node claims ahead of its free workers.
//!
//! Claiming only for free workers costs one commit per handful of operations; claiming ahead
//! lets one commit take many. But a claimed row is In Progress under this node's lease, so no
//! other node can take it while it waits here for a worker. The node therefore claims ahead
//! only as many rows as its workers finished in the last horizon (`--claim-ahead`, 20 ms by
//! default): at that rate they start within about one horizon. Many fast operations are
//! claimed in bulk; while workers are busy with slow ones (or none finished lately) only one
//! row per free worker is claimed.
//!
//! A claim itself takes time: a commit, which on a database server over the network (or a busy
//! machine) can take longer than the horizon. Claiming only one horizon's worth would then
//! starve the workers between claims, and fewer rows claimed mean fewer finished, which means
//! fewer claimed: the pace would settle far below what the node can run. So the node claims
//! ahead what its workers finish in two claim round trips when that is longer than the horizon.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most rows claimed ahead of free workers.
pub const MAX_AHEAD: usize = 256;

/// Attempts finished recently, counted per window of one horizon.
pub struct Pace {
    /// How soon a row claimed ahead is expected to start; zero claims nothing ahead.
    horizon: Duration,
    windows: Mutex<Windows>,
    /// How long recent claims took, in microseconds (a moving average).
    round_trip_us: AtomicU64,
}

#[derive(Default)]
struct Windows {
    /// Start of the current window; `None` before the first attempt finished.
    start: Option<Instant>,
    /// Attempts finished in the current window.
    current: usize,
    /// Attempts finished in the window before it, if that one was the previous horizon.
    previous: usize,
}

impl Windows {
    /// Moves the windows forward to `now`.
    fn advance(&mut self, now: Instant, horizon: Duration) {
        let Some(start) = self.start else { return };
        let age = now.saturating_duration_since(start);
        if age < horizon {
            return;
        }
        self.previous = if age < 2 * horizon { self.current } else { 0 };
        self.current = 0;
        self.start = Some(now);
    }
}

impl Pace {
    /// A pace that claims ahead what finished in the last `horizon`.
    pub fn new(horizon: Duration) -> Self {
        Self {
            horizon,
            windows: Mutex::default(),
            round_trip_us: AtomicU64::new(0),
        }
    }

    /// Counts how long a claim took (from asking to the answer).
    pub fn claim_took(&self, took: Duration) {
        let new = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let old = self.round_trip_us.load(Ordering::Relaxed);
        // Weighted 1:3 towards the past, so one slow commit does not swing the pace.
        let avg = if old == 0 { new } else { (old * 3 + new) / 4 };
        self.round_trip_us.store(avg, Ordering::Relaxed);
    }

    /// Counts one finished attempt, at `now`.
    pub fn finished(&self, now: Instant) {
        let Ok(mut w) = self.windows.lock() else {
            return;
        };
        if w.start.is_none() {
            w.start = Some(now);
        }
        w.advance(now, self.horizon);
        w.current += 1;
    }

    /// How many rows to hold claimed beyond those running, at `now`.
    pub fn ahead(&self, now: Instant) -> usize {
        if self.horizon.is_zero() {
            return 0;
        }
        let Ok(mut w) = self.windows.lock() else {
            return 0;
        };
        w.advance(now, self.horizon);
        let per_horizon = w.previous.max(w.current);
        // What finishes in two claim round trips, when that is longer than the horizon.
        let two_trips = 2 * u128::from(self.round_trip_us.load(Ordering::Relaxed));
        let horizon = self.horizon.as_micros().max(1);
        let scaled = (per_horizon as u128 * two_trips.max(horizon)) / horizon;
        usize::try_from(scaled).unwrap_or(usize::MAX).min(MAX_AHEAD)
    }

    /// Forgets what finished, so nothing is claimed ahead until attempts finish again.
    pub fn forget(&self) {
        if let Ok(mut w) = self.windows.lock() {
            *w = Windows::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HORIZON: Duration = Duration::from_millis(20);

    #[test]
    fn nothing_ahead_before_attempts_finish_or_when_turned_off() {
        assert_eq!(Pace::new(HORIZON).ahead(Instant::now()), 0);
        let off = Pace::new(Duration::ZERO);
        let now = Instant::now();
        for _ in 0..100 {
            off.finished(now);
        }
        assert_eq!(off.ahead(now), 0);
    }

    #[test]
    fn claims_ahead_what_finished_in_the_last_horizon() {
        let pace = Pace::new(HORIZON);
        let t0 = Instant::now();
        for _ in 0..30 {
            pace.finished(t0);
        }
        assert_eq!(pace.ahead(t0), 30);
        // The next window still remembers the last one.
        let t1 = t0 + HORIZON + Duration::from_millis(1);
        pace.finished(t1);
        assert_eq!(pace.ahead(t1), 30);
        // Nothing finished for two horizons: nothing ahead.
        let t2 = t1 + 2 * HORIZON;
        assert_eq!(pace.ahead(t2), 0);
    }

    #[test]
    fn slow_claims_claim_further_ahead() {
        let pace = Pace::new(HORIZON);
        let t0 = Instant::now();
        for _ in 0..10 {
            pace.finished(t0);
        }
        // Claims faster than the horizon: one horizon's worth.
        pace.claim_took(Duration::from_millis(2));
        assert_eq!(pace.ahead(t0), 10);
        // Claims of 40 ms: two of them are 80 ms, four horizons.
        let slow = Pace::new(HORIZON);
        for _ in 0..10 {
            slow.finished(t0);
        }
        slow.claim_took(Duration::from_millis(40));
        assert_eq!(slow.ahead(t0), 40);
        for _ in 0..100 {
            slow.claim_took(Duration::from_secs(1));
        }
        assert_eq!(slow.ahead(t0), MAX_AHEAD);
    }

    #[test]
    fn never_more_than_the_cap_and_nothing_after_forget() {
        let pace = Pace::new(HORIZON);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            pace.finished(t0);
        }
        assert_eq!(pace.ahead(t0), MAX_AHEAD);
        pace.forget();
        assert_eq!(pace.ahead(t0), 0);
    }
}
