//! How far a node claims ahead of its free workers.
//!
//! Claiming only for free workers costs one commit per handful of operations; claiming ahead
//! lets one commit take many. But a claimed row is In Progress under this node's lease, so no
//! other node can take it while it waits here for a worker. The node therefore claims ahead
//! only as many rows as its workers finished in the last horizon (`--claim-ahead`, 20 ms by
//! default): at that rate they start within about one horizon. Many fast operations are
//! claimed in bulk; while workers are busy with slow ones (or none finished lately) only one
//! row per free worker is claimed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most rows claimed ahead of free workers.
pub const MAX_AHEAD: usize = 256;

/// Attempts finished recently, counted per window of one horizon.
pub struct Pace {
    /// How soon a row claimed ahead is expected to start; zero claims nothing ahead.
    horizon: Duration,
    windows: Mutex<Windows>,
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
        }
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
        w.previous.max(w.current).min(MAX_AHEAD)
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
