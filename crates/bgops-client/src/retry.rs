//! When a submission is sent again: only with an idempotency key (the server then returns the
//! first submission's operation instead of starting a second, SPEC §15), and only for answers
//! that say the request may not have arrived or may succeed later.

use std::time::Duration;

use crate::client::SubmitOptions;
use crate::error::Error;

/// The retries [`SubmitOptions::idempotent`] asks for: with the backoff below, the last one
/// goes about 1.4 s after the first failure.
pub const SUBMIT_RETRIES: u32 = 3;

/// The first pause between tries; each next one is twice as long, at most [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The longest pause between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether a submission that ended with `e` is worth sending again with the same key.
pub(crate) fn worth_retrying(options: &SubmitOptions, e: &Error) -> bool {
    options.idempotency_key.is_some()
        && (e.is_unreachable() || matches!(e.http_status(), Some(409 | 502 | 503 | 504)))
}

/// The pause before retry `attempt + 1`.
pub(crate) fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServerError;

    fn server(status: u16) -> Error {
        Error::Server(ServerError {
            status,
            code: "0x80040216".into(),
            message: "x".into(),
        })
    }

    #[test]
    fn only_keyed_submissions_and_only_answers_that_may_change() {
        let keyed = SubmitOptions::idempotent("k");
        assert_eq!(keyed.retries, SUBMIT_RETRIES);
        for status in [409, 502, 503, 504] {
            assert!(worth_retrying(&keyed, &server(status)), "{status}");
            assert!(!worth_retrying(&SubmitOptions::default(), &server(status)));
        }
        for status in [400, 401, 403, 404, 413, 422, 500] {
            assert!(!worth_retrying(&keyed, &server(status)), "{status}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let pauses: Vec<u128> = (0..7).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(pauses, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
