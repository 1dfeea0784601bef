//! The retry policy of SPEC §7: up to `max_retries` retries after `base × 2^(n-1)` with full
//! jitter, never for permanent errors. Jitter is injected so the schedule is tested exactly.

use std::time::Duration;

/// A source of jitter: picks a delay in `[0, upper]`.
pub trait Jitter: Send + Sync + 'static {
    /// A delay between zero and `upper`, inclusive.
    fn pick(&self, upper: Duration) -> Duration;
}

/// Jitter that always picks the same fraction of the upper bound: for tests.
#[derive(Clone, Copy, Debug)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn pick(&self, upper: Duration) -> Duration {
        upper.mul_f64(self.0.clamp(0.0, 1.0))
    }
}

/// How failed attempts are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The base delay: the first retry waits up to this long.
    pub base: Duration,
    /// How many retries follow a first failed attempt.
    pub max_retries: u32,
}

/// The longest any single retry wait may be, whatever the base and attempt count.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 3600);

/// What happens to an operation after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureDecision {
    /// Wait this long, then run again (the row goes back to 0/0 and `retrycount` grows by one).
    RetryAfter(Duration),
    /// Give up: the row ends Failed (3/31) with this attempt's error.
    GiveUp,
}

impl RetryPolicy {
    /// The upper bound of the wait before retry number `n` (1-based): `base × 2^(n-1)`, capped.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.base
            .checked_mul(factor)
            .unwrap_or(MAX_RETRY_DELAY)
            .min(MAX_RETRY_DELAY)
    }

    /// Decides what follows a failed attempt, given how many retries already ran.
    pub fn after_failure(
        &self,
        retries_done: u32,
        permanent: bool,
        jitter: &dyn Jitter,
    ) -> FailureDecision {
        if permanent || retries_done >= self.max_retries {
            return FailureDecision::GiveUp;
        }
        FailureDecision::RetryAfter(jitter.pick(self.ceiling(retries_done + 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        base: Duration::from_secs(10),
        max_retries: 3,
    };

    #[test]
    fn exponential_ceiling_with_full_jitter() {
        let full = FixedJitter(1.0);
        assert_eq!(
            POLICY.after_failure(0, false, &full),
            FailureDecision::RetryAfter(Duration::from_secs(10))
        );
        assert_eq!(
            POLICY.after_failure(1, false, &full),
            FailureDecision::RetryAfter(Duration::from_secs(20))
        );
        assert_eq!(
            POLICY.after_failure(2, false, &full),
            FailureDecision::RetryAfter(Duration::from_secs(40))
        );
        assert_eq!(
            POLICY.after_failure(2, false, &FixedJitter(0.25)),
            FailureDecision::RetryAfter(Duration::from_secs(10))
        );
        assert_eq!(
            POLICY.after_failure(0, false, &FixedJitter(0.0)),
            FailureDecision::RetryAfter(Duration::ZERO)
        );
    }

    #[test]
    fn gives_up_after_max_or_when_permanent() {
        let j = FixedJitter(0.5);
        assert_eq!(POLICY.after_failure(3, false, &j), FailureDecision::GiveUp);
        assert_eq!(POLICY.after_failure(0, true, &j), FailureDecision::GiveUp);
        let none = RetryPolicy {
            max_retries: 0,
            ..POLICY
        };
        assert_eq!(none.after_failure(0, false, &j), FailureDecision::GiveUp);
    }

    #[test]
    fn ceiling_saturates() {
        assert_eq!(POLICY.ceiling(200), MAX_RETRY_DELAY);
    }
}
