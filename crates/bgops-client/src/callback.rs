//! Receiving completion callbacks (SPEC §9): [`verify_callback`] checks a callback's Standard
//! Webhooks signature and timestamp and reads its [`CallbackPayload`].
//!
//! ```no_run
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> Result<(), bgops_client::VerifyError> {
//! use std::time::{Duration, SystemTime};
//!
//! let secret = "whsec_…"; // what `bgops webhook-secret` prints
//! let payload = bgops_client::verify_callback(
//!     secret,
//!     headers,
//!     body,
//!     SystemTime::now(),
//!     bgops_client::DEFAULT_TOLERANCE,
//! )?;
//! // Drop duplicates by the `webhook-id` header: a callback is delivered at least once.
//! println!("{} ended with status {}", payload.background_operation_id,
//!          payload.background_operation_status_code);
//! # Ok(()) }
//! ```

use std::time::{Duration, SystemTime};

use bgops_core::callback::timestamp_of;
pub use bgops_core::callback::CallbackPayload;
use bgops_core::signing::{SignatureError, WebhookSecret};

/// How far a callback's `webhook-timestamp` may be from the receiver's clock: 5 minutes, as the
/// Standard Webhooks libraries default to. A replayed old message is refused after it.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The header carrying the message id, the same on every delivery attempt of a callback.
pub const WEBHOOK_ID: &str = "webhook-id";
/// The header carrying the send time, in seconds since the Unix epoch.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// The header carrying `v1,{base64 HMAC-SHA256}` signatures, separated by spaces.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// Why a callback is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The secret is not `whsec_` followed by Base64 of 24 to 64 bytes.
    #[error("the webhook secret is not usable: {0}")]
    BadSecret(SignatureError),
    /// A `webhook-*` header is absent or not text.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a number of seconds.
    #[error("the webhook-timestamp header is not a number of seconds")]
    BadTimestamp,
    /// The timestamp is further from now than the tolerance (a replay, or a skewed clock).
    #[error("the webhook timestamp is outside the tolerance")]
    Stale,
    /// No signature matches the message: it was not sent by a holder of the secret, or was
    /// changed on the way.
    #[error("no signature matches the message")]
    Mismatch,
    /// The signature is good but the body is not a callback payload.
    #[error("the body is not a callback payload: {0}")]
    BadPayload(String),
}

/// Header lookup, so [`verify_callback`] works with the header map of any HTTP library.
pub trait HeaderLookup {
    /// The value of header `name` (lower-case) as text, if present.
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderLookup for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// Checks that `body` with these `headers` was signed with `secret` (the `whsec_…` text) per
/// Standard Webhooks, at a time within `tolerance` of `now`. Signatures are compared in
/// constant time.
pub fn verify_signature<H: HeaderLookup + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let secret = WebhookSecret::parse(secret).map_err(VerifyError::BadSecret)?;
    let header = |name: &'static str| {
        headers
            .header(name)
            .map(str::trim)
            .ok_or(VerifyError::MissingHeader(name))
    };
    let id = header(WEBHOOK_ID)?;
    let timestamp: i64 = header(WEBHOOK_TIMESTAMP)?
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let signatures = header(WEBHOOK_SIGNATURE)?;
    let now_secs = timestamp_of(now).millis().div_euclid(1000);
    let tolerance_secs = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    secret
        .verify(id, timestamp, body, signatures, now_secs, tolerance_secs)
        .map_err(|e| match e {
            SignatureError::Stale => VerifyError::Stale,
            SignatureError::BadSecret => VerifyError::BadSecret(e),
            SignatureError::BadHeader(h) => VerifyError::MissingHeader(h),
            SignatureError::Mismatch => VerifyError::Mismatch,
        })
}

/// Verifies a completion callback as [`verify_signature`] does, then reads its payload. Only a
/// verified body is parsed.
pub fn verify_callback<H: HeaderLookup + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<CallbackPayload, VerifyError> {
    verify_signature(secret, headers, body, now, tolerance)?;
    serde_json::from_slice(body).map_err(|e| VerifyError::BadPayload(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    use bgops_core::OperationStatus;
    use http::{HeaderMap, HeaderValue};

    /// The test vector published with the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn headers(id: &str, ts: u64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(WEBHOOK_ID, HeaderValue::from_str(id).unwrap());
        h.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(ts));
        h.insert(WEBHOOK_SIGNATURE, HeaderValue::from_str(sig).unwrap());
        h
    }

    #[test]
    fn accepts_the_published_test_vector() {
        let h = headers(ID, TS, SIGNATURE);
        assert_eq!(
            verify_signature(SECRET, &h, BODY.as_bytes(), at(TS), DEFAULT_TOLERANCE),
            Ok(())
        );
        // Signed right, but not a callback payload.
        assert!(matches!(
            verify_callback(SECRET, &h, BODY.as_bytes(), at(TS), DEFAULT_TOLERANCE),
            Err(VerifyError::BadPayload(_))
        ));
        // The same through the slice form, with other header casing.
        let pairs = [
            ("Webhook-Id", ID.to_owned()),
            ("Webhook-Timestamp", TS.to_string()),
            ("Webhook-Signature", format!("v1,bogus= {SIGNATURE}")),
        ];
        assert_eq!(
            verify_signature(
                SECRET,
                &pairs[..],
                BODY.as_bytes(),
                at(TS + 10),
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
    }

    #[test]
    fn refuses_tampering_replays_and_missing_headers() {
        let h = headers(ID, TS, SIGNATURE);
        let check = |h: &HeaderMap, body: &str, now: u64| {
            verify_signature(SECRET, h, body.as_bytes(), at(now), DEFAULT_TOLERANCE)
        };
        assert_eq!(
            check(&h, r#"{"test": 2432232315}"#, TS),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&headers("msg_other", TS, SIGNATURE), BODY, TS),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check(&h, BODY, TS + 301), Err(VerifyError::Stale));
        assert_eq!(check(&h, BODY, TS - 301), Err(VerifyError::Stale));
        let mut no_sig = h.clone();
        no_sig.remove(WEBHOOK_SIGNATURE);
        assert_eq!(
            check(&no_sig, BODY, TS),
            Err(VerifyError::MissingHeader(WEBHOOK_SIGNATURE))
        );
        let mut bad_ts = h.clone();
        bad_ts.insert(WEBHOOK_TIMESTAMP, HeaderValue::from_static("yesterday"));
        assert_eq!(check(&bad_ts, BODY, TS), Err(VerifyError::BadTimestamp));
        assert!(matches!(
            verify_signature(
                "not-a-secret",
                &h,
                BODY.as_bytes(),
                at(TS),
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::BadSecret(_))
        ));
    }

    #[test]
    fn reads_a_payload_signed_like_bgops_signs_it() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let id = "3aadf856-1939-49d5-a1e0-870d76edefb2".parse().unwrap();
        let payload = CallbackPayload::new(
            format!("https://bgops.example/api/backgroundoperation/{id}"),
            id,
            OperationStatus::Failed,
            Some((-2147220891, "It broke.".into())),
        );
        let body = payload.to_json_bytes();
        let now = 1_700_000_000;
        let sig = secret.sign("msg_1", now as i64, &body);
        let got = verify_callback(
            SECRET,
            &headers("msg_1", now, &sig),
            &body,
            at(now + 2),
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        assert_eq!(got, payload);
        assert_eq!(got.background_operation_error_code, Some(-2147220891));
    }
}
