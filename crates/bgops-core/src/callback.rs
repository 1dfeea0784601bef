//! Completion callbacks (SPEC §9): the JSON body POSTed to a caller's callback URL when its
//! operation reaches a terminal state, and the schedule a delivery is retried on.
//!
//! The schedule, with `base` = `--retry-base-delay` (10 s by default):
//!
//! - An attempt succeeds on any 2xx answer.
//! - It is retried after a network error (connection refused, reset, DNS failure, time-out of
//!   [`DELIVERY_TIMEOUT`]) and after `408`, `429` and `5xx`; any other answer (`3xx` included:
//!   redirects are never followed) gives up at once.
//! - After failed attempt *n* the wait is a random time in `[0, base × 2^(n-1)]` (full jitter),
//!   each wait capped at [`MAX_DELIVERY_WAIT`] (1 hour); a `Retry-After` answer (seconds or an
//!   HTTP date) replaces the random wait, capped the same way.
//! - No attempt starts later than [`DELIVERY_WINDOW`] (24 hours) after the first: the last
//!   retry is moved to that instant if the wait would pass it, and a failure at or after it
//!   gives up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::OperationId;
use crate::retry::Jitter;
use crate::state::OperationStatus;

/// How long one delivery attempt (connect, send, read the answer) may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest wait between two attempts, whatever the attempt count.
pub const MAX_DELIVERY_WAIT: Duration = Duration::from_secs(3600);

/// How long after the first attempt a delivery keeps being retried before it is given up.
pub const DELIVERY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The body of a completion callback, exactly the keys of SPEC §9 in their order: never the
/// outputs (the receiver reads them from the status monitor at `location`), and the error keys
/// only for a Failed operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackPayload {
    /// The status monitor URL of the operation.
    pub location: String,
    /// The operation's id (lower-case GUID).
    pub background_operation_id: String,
    /// `backgroundoperationstatecode` (always 3, Completed).
    pub background_operation_state_code: i32,
    /// `backgroundoperationstatuscode`: 30 Succeeded, 31 Failed, 32 Canceled.
    pub background_operation_status_code: i32,
    /// The signed 32-bit error code, for a Failed operation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_operation_error_code: Option<i32>,
    /// The error message, for a Failed operation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_operation_error_message: Option<String>,
}

impl CallbackPayload {
    /// The payload for operation `id` that ended with `status`; `error` (code and message) is
    /// kept only when the status is Failed.
    pub fn new(
        location: impl Into<String>,
        id: OperationId,
        status: OperationStatus,
        error: Option<(i32, String)>,
    ) -> Self {
        let (code, message) = match error {
            Some((c, m)) if status == OperationStatus::Failed => (Some(c), Some(m)),
            _ => (None, None),
        };
        Self {
            location: location.into(),
            background_operation_id: id.to_string(),
            background_operation_state_code: status.state().code(),
            background_operation_status_code: status.code(),
            background_operation_error_code: code,
            background_operation_error_message: message,
        }
    }

    /// The JSON body as sent.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a callback payload always serializes")
    }
}

/// What the receiver's answer (or the lack of one) means for a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerClass {
    /// 2xx: delivered.
    Delivered,
    /// Network error, 408, 429 or 5xx: try again later.
    Retryable,
    /// Any other status: the receiver refused it; give up at once.
    Refused,
}

/// Classifies an HTTP status of a delivery answer.
pub fn classify_status(status: u16) -> AnswerClass {
    match status {
        200..=299 => AnswerClass::Delivered,
        408 | 429 | 500..=599 => AnswerClass::Retryable,
        _ => AnswerClass::Refused,
    }
}

/// The retry schedule of callback deliveries (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliverySchedule {
    /// The first retry waits up to this long (`--retry-base-delay`).
    pub base: Duration,
    /// The cap on each wait ([`MAX_DELIVERY_WAIT`]).
    pub max_wait: Duration,
    /// How long after the first attempt retries stop ([`DELIVERY_WINDOW`]).
    pub window: Duration,
}

impl DeliverySchedule {
    /// The schedule with `base` and the documented cap and window.
    pub fn new(base: Duration) -> Self {
        Self {
            base,
            max_wait: MAX_DELIVERY_WAIT,
            window: DELIVERY_WINDOW,
        }
    }

    /// The upper bound of the wait after failed attempt `n` (1-based): `base × 2^(n-1)`,
    /// capped at `max_wait`.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.base
            .checked_mul(factor)
            .unwrap_or(self.max_wait)
            .min(self.max_wait)
    }

    /// When to try again after failed attempt `attempts` (1-based) that ended at `now`, the
    /// first attempt having started at `first_attempt`; `None` to give up. `retry_after` is the
    /// receiver's `Retry-After`, which replaces the random wait.
    pub fn next_attempt(
        &self,
        attempts: u32,
        first_attempt: Timestamp,
        now: Timestamp,
        retry_after: Option<Duration>,
        jitter: &dyn Jitter,
    ) -> Option<Timestamp> {
        let deadline = first_attempt.plus(self.window);
        if now >= deadline {
            return None;
        }
        let wait = match retry_after {
            Some(d) => d.min(self.max_wait),
            None => jitter.pick(self.ceiling(attempts)),
        };
        Some(now.plus(wait).min(deadline))
    }
}

/// Reads a `Retry-After` value: delay seconds, or an HTTP date (counted from `now`; a date in
/// the past means no wait).
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let now = UNIX_EPOCH + Duration::from_millis(u64::try_from(now.millis()).unwrap_or(0));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A [`Timestamp`] for a [`SystemTime`] (receivers work with the standard library's time).
pub fn timestamp_of(t: SystemTime) -> Timestamp {
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    Timestamp(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::FixedJitter;

    const T0: Timestamp = Timestamp(1_700_000_000_000);

    fn id() -> OperationId {
        "3aadf856-1939-49d5-a1e0-870d76edefb2".parse().unwrap()
    }

    #[test]
    fn payload_has_exactly_the_spec_keys_in_order() {
        let ok = CallbackPayload::new(
            "https://h/api/backgroundoperation/x",
            id(),
            OperationStatus::Succeeded,
            Some((-1, "ignored".into())),
        );
        assert_eq!(
            String::from_utf8(ok.to_json_bytes()).unwrap(),
            r#"{"location":"https://h/api/backgroundoperation/x","backgroundOperationId":"3aadf856-1939-49d5-a1e0-870d76edefb2","backgroundOperationStateCode":3,"backgroundOperationStatusCode":30}"#
        );
        let failed = CallbackPayload::new(
            "l",
            id(),
            OperationStatus::Failed,
            Some((-2147220891, "boom".into())),
        );
        assert_eq!(
            String::from_utf8(failed.to_json_bytes()).unwrap(),
            r#"{"location":"l","backgroundOperationId":"3aadf856-1939-49d5-a1e0-870d76edefb2","backgroundOperationStateCode":3,"backgroundOperationStatusCode":31,"backgroundOperationErrorCode":-2147220891,"backgroundOperationErrorMessage":"boom"}"#
        );
        let canceled = CallbackPayload::new("l", id(), OperationStatus::Canceled, None);
        let v: serde_json::Value = serde_json::from_slice(&canceled.to_json_bytes()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 4);
        assert_eq!(v["backgroundOperationStatusCode"], 32);
        let back: CallbackPayload = serde_json::from_slice(&failed.to_json_bytes()).unwrap();
        assert_eq!(back, failed);
    }

    #[test]
    fn statuses_are_classified() {
        for s in [200, 201, 202, 204, 299] {
            assert_eq!(classify_status(s), AnswerClass::Delivered, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify_status(s), AnswerClass::Retryable, "{s}");
        }
        for s in [100, 301, 302, 307, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(classify_status(s), AnswerClass::Refused, "{s}");
        }
    }

    #[test]
    fn waits_double_with_full_jitter_and_are_capped() {
        let s = DeliverySchedule::new(Duration::from_secs(10));
        assert_eq!(s.ceiling(1), Duration::from_secs(10));
        assert_eq!(s.ceiling(2), Duration::from_secs(20));
        assert_eq!(s.ceiling(9), Duration::from_secs(2560));
        assert_eq!(s.ceiling(10), MAX_DELIVERY_WAIT);
        assert_eq!(s.ceiling(500), MAX_DELIVERY_WAIT);
        let full = FixedJitter(1.0);
        assert_eq!(
            s.next_attempt(1, T0, T0, None, &full),
            Some(T0.plus(Duration::from_secs(10)))
        );
        assert_eq!(
            s.next_attempt(
                3,
                T0,
                T0.plus(Duration::from_secs(5)),
                None,
                &FixedJitter(0.5)
            ),
            Some(T0.plus(Duration::from_secs(25)))
        );
        assert_eq!(s.next_attempt(2, T0, T0, None, &FixedJitter(0.0)), Some(T0));
    }

    #[test]
    fn retry_after_replaces_the_random_wait_and_is_capped() {
        let s = DeliverySchedule::new(Duration::from_secs(10));
        let j = FixedJitter(1.0);
        assert_eq!(
            s.next_attempt(1, T0, T0, Some(Duration::from_secs(120)), &j),
            Some(T0.plus(Duration::from_secs(120)))
        );
        assert_eq!(
            s.next_attempt(1, T0, T0, Some(Duration::from_secs(86_400)), &j),
            Some(T0.plus(MAX_DELIVERY_WAIT))
        );
    }

    #[test]
    fn gives_up_after_the_window() {
        let s = DeliverySchedule::new(Duration::from_secs(10));
        let j = FixedJitter(1.0);
        let deadline = T0.plus(DELIVERY_WINDOW);
        // A wait that would pass the deadline is moved to it: one last attempt there.
        let late = Timestamp(deadline.0 - 60_000);
        assert_eq!(s.next_attempt(40, T0, late, None, &j), Some(deadline));
        assert_eq!(s.next_attempt(41, T0, deadline, None, &j), None);
        assert_eq!(
            s.next_attempt(41, T0, deadline.plus(Duration::from_secs(1)), None, &j),
            None
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("120", T0), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", T0), Some(Duration::ZERO));
        // 2023-11-14T22:13:20Z is T0; 100 s later:
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:15:00 GMT", T0),
            Some(Duration::from_secs(100))
        );
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", T0),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", T0), None);
        assert_eq!(parse_retry_after("-5", T0), None);
        assert_eq!(parse_retry_after("", T0), None);
    }

    #[test]
    fn system_times_convert() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp_of(t), Timestamp(1_700_000_000_123));
    }
}
