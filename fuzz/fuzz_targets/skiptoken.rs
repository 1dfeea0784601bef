//! `$skiptoken`. The input is used twice: as a token a client sends (`skiptoken::decode`), and
//! as a payload signed with the server's key (the MAC computed here as `skiptoken.rs` does), so
//! the fuzzer gets past the tag into the payload reader; a payload that decodes must re-encode
//! to a token that decodes to the same values (`encode` → `decode` → `encode` is stable).
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bgops_core::odata::skiptoken;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
/// A real fingerprint: accounts ordered by name, then by key.
const QUERY: &str = "account;name+,accountid+,;";

/// The token `skiptoken::encode` would write for `payload` (format version 1).
fn signed(payload: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY).expect("any key length");
    mac.update(&[1]);
    mac.update(&(QUERY.len() as u64).to_be_bytes());
    mac.update(QUERY.as_bytes());
    mac.update(payload);
    let mut bytes = vec![1];
    bytes.extend_from_slice(&mac.finalize().into_bytes());
    bytes.extend_from_slice(payload);
    URL_SAFE_NO_PAD.encode(bytes)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        if let Err(e) = skiptoken::decode(KEY, QUERY, token) {
            assert_eq!(e.status, 400, "{e:?}");
        }
    }
    match skiptoken::decode(KEY, QUERY, &signed(data)) {
        Ok(values) => {
            let token = skiptoken::encode(KEY, QUERY, &values);
            let again = skiptoken::decode(KEY, QUERY, &token).expect("a token this server wrote");
            assert_eq!(skiptoken::encode(KEY, QUERY, &again), token);
            assert!(skiptoken::decode(KEY, "account;;", &token).is_err());
        }
        Err(e) => assert_eq!(e.status, 400, "{e:?}"),
    }
});
