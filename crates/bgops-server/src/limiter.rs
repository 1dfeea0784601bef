//! Service protection, per user and per node, as Dataverse does it: more than `requests` in a
//! sliding `window`, or more than `concurrent` at once, get 429 with `Retry-After` and
//! Dataverse's codes and messages. The hot path takes no global lock: users live in a sharded
//! map (`DashMap`), each with its own small lock for the window and an atomic in-flight count.
//!
//! The window is a sliding-window counter: the previous fixed window's count, weighted by how
//! much of it the sliding window still covers, plus the current one's. It never lets through
//! more than `requests` in any window aligned to the counter, and over an arbitrary window at
//! most about that (the weighting assumes the previous window's requests were spread evenly).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgops_core::{ApiError, UserId};
use dashmap::DashMap;

/// `--rate-limit-requests`, `--rate-limit-window`, `--rate-limit-concurrent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Most requests per user in `window`; `None`: no such limit.
    pub requests: Option<u32>,
    /// The sliding window of `requests`.
    pub window: Duration,
    /// Most requests per user at once; `None`: no such limit.
    pub concurrent: Option<u32>,
}

/// Past this many tracked users, users idle for two windows are forgotten (at most once per
/// window).
const PRUNE_ABOVE: usize = 10_000;

/// The limiter of one node.
pub struct Limiter {
    /// The limits.
    limits: RateLimits,
    /// Per-user state.
    users: DashMap<UserId, Arc<UserState>>,
    /// The origin of window numbers and times.
    epoch: Instant,
    /// When users were last pruned (milliseconds since `epoch`).
    last_prune_ms: AtomicU64,
}

/// One user's counters.
#[derive(Default)]
struct UserState {
    /// The request window.
    window: Mutex<Window>,
    /// Requests of this user now running on this node.
    in_flight: AtomicU32,
}

/// Counts of the current and previous fixed windows.
#[derive(Default, Clone, Copy)]
struct Window {
    /// Number of the current fixed window (time since the epoch / window).
    index: u64,
    /// Requests counted in it.
    current: u32,
    /// Requests counted in the one before.
    previous: u32,
}

/// A request let through: holds its place among the user's concurrent requests until dropped.
pub struct Admitted {
    /// The user's counters (none without a concurrency limit).
    user: Option<Arc<UserState>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(user) = &self.user {
            user.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A request refused: the error and the seconds to wait.
#[derive(Debug)]
pub struct Refused {
    /// 429 with the Dataverse code and message.
    pub error: ApiError,
    /// `Retry-After`, whole seconds, at least 1.
    pub retry_after: u64,
}

impl Limiter {
    /// A limiter with `limits`.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            users: DashMap::new(),
            epoch: Instant::now(),
            last_prune_ms: AtomicU64::new(0),
        }
    }

    /// Counts a request of `user` at `now`: admitted, or refused with how long to wait.
    pub fn admit(&self, user: UserId, now: Instant) -> Result<Admitted, Refused> {
        let state = self.state(user, now);
        if let Some(limit) = self.limits.requests {
            let window = self.limits.window.as_secs_f64().max(0.001);
            let elapsed = now.saturating_duration_since(self.epoch).as_secs_f64();
            let mut index = (elapsed / window) as u64;
            let mut offset = elapsed - index as f64 * window;
            let mut w = state.window.lock().unwrap_or_else(|p| p.into_inner());
            if index < w.index {
                // Another request of this user, timed a moment later, got the lock first.
                index = w.index;
                offset = 0.0;
            }
            roll(&mut w, index);
            let estimate = w.previous as f64 * (1.0 - offset / window) + w.current as f64;
            if estimate + 1.0 > limit as f64 + 1e-9 {
                let wait = wait_secs(*w, limit, offset, window);
                return Err(Refused {
                    error: ApiError::too_many_requests(limit, self.limits.window.as_secs()),
                    retry_after: wait,
                });
            }
            w.current += 1;
        }
        let Some(limit) = self.limits.concurrent else {
            return Ok(Admitted { user: None });
        };
        let before = state.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            state.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused {
                error: ApiError::too_many_concurrent(limit),
                retry_after: 1,
            });
        }
        Ok(Admitted { user: Some(state) })
    }

    /// The state of `user`, created on first sight.
    fn state(&self, user: UserId, now: Instant) -> Arc<UserState> {
        if let Some(s) = self.users.get(&user) {
            return s.clone();
        }
        self.prune(now);
        self.users.entry(user).or_default().clone()
    }

    /// Forgets users idle for two windows with nothing running, when there are many.
    fn prune(&self, now: Instant) {
        if self.users.len() <= PRUNE_ABOVE {
            return;
        }
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let window_ms = self.limits.window.as_millis().max(1) as u64;
        let last = self.last_prune_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < window_ms
            || self
                .last_prune_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let index = now_ms / window_ms;
        self.users.retain(|_, s| {
            let w = *s.window.lock().unwrap_or_else(|p| p.into_inner());
            s.in_flight.load(Ordering::Acquire) > 0 || w.index + 2 > index
        });
    }
}

/// Moves `w` to fixed window `index`.
fn roll(w: &mut Window, index: u64) {
    if index == w.index {
        return;
    }
    w.previous = if index == w.index + 1 { w.current } else { 0 };
    w.current = 0;
    w.index = index;
}

/// Whole seconds until one more request fits: within the current fixed window while the
/// previous one's weight fades, else in the next one as the current one's fades.
fn wait_secs(w: Window, limit: u32, offset: f64, window: f64) -> u64 {
    let room = limit as f64 - 1.0;
    let secs = if (w.current as f64) <= room && w.previous > 0 {
        // previous * (1 - (offset + t) / window) + current <= room
        let t = window * (1.0 - (room - w.current as f64) / w.previous as f64) - offset;
        if t <= window - offset {
            t
        } else {
            window - offset + next_window_wait(w.current, room, window)
        }
    } else {
        window - offset + next_window_wait(w.current, room, window)
    };
    (secs.max(0.0).ceil() as u64).max(1)
}

/// Time into the next fixed window until `current * (1 - t / window) <= room`.
fn next_window_wait(current: u32, room: f64, window: f64) -> f64 {
    if current as f64 <= room {
        0.0
    } else {
        window * (1.0 - room / current as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: Option<u32>, window: u64, concurrent: Option<u32>) -> Limiter {
        Limiter::new(RateLimits {
            requests,
            window: Duration::from_secs(window),
            concurrent,
        })
    }

    #[test]
    fn the_request_limit_refuses_the_one_over_and_says_when_to_come_back() {
        let l = limiter(Some(3), 10, None);
        let user = UserId::new_random();
        let t0 = l.epoch + Duration::from_secs(1);
        for _ in 0..3 {
            l.admit(user, t0).expect("within the limit");
        }
        let refused = l.admit(user, t0).err().expect("the fourth is refused");
        assert_eq!(refused.error.status, 429);
        assert_eq!(refused.error.code.to_string(), "0x80072322");
        assert_eq!(
            refused.error.message,
            "Number of requests exceeded the limit of 3 over time window of 10 seconds."
        );
        // Three in window 0 at 1s: in window 1 they weigh 3 * (1 - t/10), below 3 - 1 = 2
        // from t = 3.33s, i.e. 9 + 3.33 = 12.33s after t0 -> 13 s.
        assert_eq!(refused.retry_after, 13);
        let back = t0 + Duration::from_secs(refused.retry_after);
        assert!(l.admit(user, back).is_ok(), "admitted after Retry-After");
        // Another user is not affected.
        assert!(l.admit(UserId::new_random(), t0).is_ok());
    }

    #[test]
    fn waits_are_exact_enough_that_the_retry_succeeds() {
        for limit in [1u32, 2, 5, 50] {
            for start_ms in [0u64, 500, 4_999, 9_999] {
                let l = limiter(Some(limit), 10, None);
                let user = UserId::new_random();
                let mut now = l.epoch + Duration::from_millis(start_ms);
                for round in 0..6 {
                    while l.admit(user, now).is_ok() {}
                    let refused = l.admit(user, now).err().expect("refused");
                    now += Duration::from_secs(refused.retry_after);
                    assert!(
                        l.admit(user, now).is_ok(),
                        "limit {limit} start {start_ms} round {round}: refused after Retry-After"
                    );
                }
            }
        }
    }

    #[test]
    fn the_concurrency_limit_counts_requests_until_they_finish() {
        let l = limiter(None, 300, Some(2));
        let user = UserId::new_random();
        let now = l.epoch;
        let a = l.admit(user, now).expect("one");
        let _b = l.admit(user, now).expect("two");
        let refused = l.admit(user, now).err().expect("three at once");
        assert_eq!(refused.error.code.to_string(), "0x80072326");
        assert_eq!(
            refused.error.message,
            "Number of concurrent requests exceeded the limit of 2."
        );
        assert_eq!(refused.retry_after, 1);
        drop(a);
        assert!(l.admit(user, now).is_ok(), "room once one finished");
    }
}
