//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): what bgops puts on every
//! outbound POST (HTTP plug-ins, completion callbacks, webhooks) and what receivers check.
//!
//! `webhook-signature: v1,{base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))}` with the
//! secret written `whsec_{base64 key}`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a secret in its text form.
pub const SECRET_PREFIX: &str = "whsec_";

/// A signing secret: the raw key behind a `whsec_…` string.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// Why a secret or a signature is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not `whsec_` followed by Base64 of at least 24 bytes.
    #[error("a webhook secret is 'whsec_' followed by Base64 of 24 to 64 random bytes")]
    BadSecret,
    /// No `v1,` signature matched.
    #[error("no signature matches the payload")]
    Mismatch,
    /// The timestamp is too far from now.
    #[error("the webhook timestamp is outside the tolerance")]
    Stale,
    /// A header is missing or not readable.
    #[error("missing or malformed webhook header: {0}")]
    BadHeader(&'static str),
}

impl WebhookSecret {
    /// Parses `whsec_…`.
    pub fn parse(s: &str) -> Result<Self, SignatureError> {
        let b64 = s
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SignatureError::BadSecret)?;
        let key = STANDARD
            .decode(b64)
            .map_err(|_| SignatureError::BadSecret)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SignatureError::BadSecret);
        }
        Ok(Self(key))
    }

    /// A secret from raw key bytes (e.g. freshly generated random bytes).
    pub fn from_bytes(key: &[u8]) -> Result<Self, SignatureError> {
        if !(24..=64).contains(&key.len()) {
            return Err(SignatureError::BadSecret);
        }
        Ok(Self(key.to_vec()))
    }

    /// The `whsec_…` text form.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Checks a received message: the `webhook-signature` header (space-separated `v1,…`
    /// signatures, any of which may match) and that `timestamp` is within `tolerance_secs` of
    /// `now_secs`.
    pub fn verify(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
        signature_header: &str,
        now_secs: i64,
        tolerance_secs: i64,
    ) -> Result<(), SignatureError> {
        // The timestamp is the sender's header, any i64: measure the distance without overflow.
        let stale = match u64::try_from(tolerance_secs) {
            Ok(tolerance) => now_secs.abs_diff(timestamp) > tolerance,
            Err(_) => true,
        };
        if stale {
            return Err(SignatureError::Stale);
        }
        for sig in signature_header.split(' ') {
            let Some(b64) = sig.strip_prefix("v1,") else {
                continue;
            };
            let Ok(tag) = STANDARD.decode(b64) else {
                continue;
            };
            if self.mac(id, timestamp, body).verify_slice(&tag).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_published_test_vector() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(s.sign(ID, TS, BODY.as_bytes()), SIGNATURE);
        assert_eq!(s.to_text(), SECRET);
    }

    #[test]
    fn verifies_and_refuses() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        let header = format!("v1,bogus {SIGNATURE}");
        assert_eq!(
            s.verify(ID, TS, BODY.as_bytes(), &header, TS + 10, 300),
            Ok(())
        );
        assert_eq!(
            s.verify(ID, TS, b"{\"test\": 1}", SIGNATURE, TS, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            s.verify(ID, TS, BODY.as_bytes(), SIGNATURE, TS + 301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_short"),
            Err(SignatureError::BadSecret)
        );
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SignatureError::BadSecret)
        );
    }

    /// Found by `fuzz/fuzz_targets/webhook_signature.rs`: `now - timestamp` overflowed (a
    /// panic in debug builds) for a `webhook-timestamp` far from now.
    #[test]
    fn timestamps_far_from_now_are_stale_without_overflow() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        for (timestamp, now) in [
            (i64::MIN, TS),
            (i64::MAX, -TS),
            (-8_249_187_138_026_668_032, 3_689_348_595_577_782_271),
        ] {
            assert_eq!(
                s.verify(ID, timestamp, BODY.as_bytes(), SIGNATURE, now, 300),
                Err(SignatureError::Stale)
            );
        }
        assert_eq!(
            s.verify(ID, i64::MIN, BODY.as_bytes(), SIGNATURE, i64::MAX, i64::MAX),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            s.verify(ID, TS, BODY.as_bytes(), SIGNATURE, TS, -1),
            Err(SignatureError::Stale)
        );
    }
}
