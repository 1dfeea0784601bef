//! The `Idempotency-Key` request header on submissions (SPEC §15, the IETF
//! `draft-ietf-httpapi-idempotency-key-header`): reading and checking the key, the request's
//! fingerprint, and the set of keys whose first request is still being processed on this node.
//!
//! The key itself is stored by the store in the same transaction as the operation
//! (`Store::insert_operation_once`), so a retry on any node finds it; the in-flight set only
//! lets a retry that arrives while the first request is still validating or writing on this
//! node get its 409 at once. (On another node such a retry waits for the first write to commit
//! and then gets the original answer.)

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderMap;
use bgops_core::{ApiError, UserId};
use sha2::{Digest, Sha256};

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// The longest key accepted, in characters (the draft sets no limit; Stripe's is 255).
pub const MAX_KEY_CHARS: usize = 255;

/// The key of a request, if it sent one: the header's value, unquoted when written as a
/// structured-field string (`"abc"`, as the draft writes it) and taken as is otherwise.
/// Empty, over [`MAX_KEY_CHARS`], not visible ASCII, or sent twice: 400.
pub fn key_from_headers(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_argument(
            "Idempotency-Key was sent more than once; send one key.",
        ));
    }
    let bad = |why: &str| {
        ApiError::invalid_argument(format!(
            "Idempotency-Key {why}: send 1 to {MAX_KEY_CHARS} visible ASCII characters, e.g. a UUID."
        ))
    };
    let text = value.to_str().map_err(|_| bad("is not ASCII text"))?.trim();
    let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner,
        None => text,
    };
    if text.is_empty() {
        return Err(bad("is empty"));
    }
    if text.chars().count() > MAX_KEY_CHARS {
        return Err(bad("is too long"));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(bad("holds characters that are not visible ASCII"));
    }
    Ok(Some(text.to_owned()))
}

/// A fingerprint of what a request asks for: a SHA-256 over its parts (method, path, the
/// callback, the body as parsed JSON), each length-prefixed so no two requests share one.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A JSON body as fingerprinted: objects' members sorted by name at every depth, no white
/// space, so two bodies that differ only in member order or spacing are the same request.
pub fn canonical_body(body: &serde_json::Map<String, serde_json::Value>) -> String {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut members: Vec<_> = m.iter().collect();
                members.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(&serde_json::Value::Object(body.clone()), &mut out);
    out
}

/// Keys whose first request is still being processed on this node, per user.
#[derive(Clone, Default)]
pub struct InFlight {
    keys: Arc<Mutex<HashSet<(UserId, String)>>>,
}

impl InFlight {
    /// Marks `user`'s `key` as being processed until the guard drops (the request answered or
    /// abandoned); a request already processing it: the 409.
    pub fn enter(&self, user: UserId, key: &str) -> Result<InFlightGuard, ApiError> {
        let entry = (user, key.to_owned());
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if !keys.insert(entry.clone()) {
            return Err(ApiError::idempotency_key_in_flight());
        }
        Ok(InFlightGuard {
            set: self.clone(),
            entry,
        })
    }
}

/// Holds a key in the in-flight set; dropping it releases the key.
pub struct InFlightGuard {
    set: InFlight,
    entry: (UserId, String),
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.set
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn key(v: &str) -> Result<Option<String>, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_str(v).unwrap());
        key_from_headers(&h)
    }

    #[test]
    fn keys_are_read_quoted_or_not_and_checked() {
        assert_eq!(key_from_headers(&HeaderMap::new()).unwrap(), None);
        assert_eq!(key("abc-1").unwrap().as_deref(), Some("abc-1"));
        assert_eq!(key("\"abc-1\"").unwrap().as_deref(), Some("abc-1"));
        assert_eq!(key(&"k".repeat(255)).unwrap().unwrap().len(), 255);
        for bad in ["", "\"\"", "  ", &"k".repeat(256)] {
            assert_eq!(key(bad).unwrap_err().status, 400, "{bad:?}");
        }
        let mut twice = HeaderMap::new();
        twice.append(HEADER, HeaderValue::from_static("a"));
        twice.append(HEADER, HeaderValue::from_static("b"));
        assert_eq!(key_from_headers(&twice).unwrap_err().status, 400);
    }

    #[test]
    fn fingerprints_differ_with_any_part() {
        let base = fingerprint(&["POST", "/x", "", "{}"]);
        assert_eq!(base, fingerprint(&["POST", "/x", "", "{}"]));
        assert_ne!(base, fingerprint(&["POST", "/y", "", "{}"]));
        assert_ne!(base, fingerprint(&["POST", "/x", "https://cb", "{}"]));
        assert_ne!(
            fingerprint(&["ab", "c"]),
            fingerprint(&["a", "bc"]),
            "parts are delimited"
        );
    }

    #[test]
    fn bodies_differing_only_in_member_order_are_one_request() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"q":2,"p":3}],"x":"s"}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "a": {"x":"s", "y":[1,{"p":3,"q":2}]}, "b":1 }"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a":{"x":"s"},"b":1}"#).unwrap();
        let canon = |v: &serde_json::Value| canonical_body(v.as_object().unwrap());
        assert_eq!(canon(&a), canon(&b));
        assert_ne!(canon(&a), canon(&c));
        assert_eq!(canon(&c), r#"{"a":{"x":"s"},"b":1}"#);
    }

    #[test]
    fn a_key_is_in_flight_until_its_guard_drops() {
        let set = InFlight::default();
        let user = UserId::new_random();
        let guard = set.enter(user, "k").unwrap();
        assert_eq!(set.enter(user, "k").err().unwrap().status, 409);
        assert!(
            set.enter(UserId::new_random(), "k").is_ok(),
            "another user's key"
        );
        drop(guard);
        assert!(set.enter(user, "k").is_ok());
    }
}
