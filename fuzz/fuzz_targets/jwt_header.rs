//! Bearer tokens before verification. The input is used twice: as the `Authorization` header
//! (`bearer_token`, then the checks below on the token); and, split at its first two newlines
//! into a JOSE header, a payload and a signature that are Base64url-encoded into a token, so the
//! fuzzer reaches the JSON behind the encoding. On each token: `looks_like_jwt`,
//! `jsonwebtoken::decode_header` and `unverified_issuer` (run on every JWT before a key is
//! chosen), and the claims a verified token may carry mapped to a user (`Claims::identity`,
//! `new_user`).
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bgops_server::edge::bearer_token;
use bgops_server::jwt::claims::Claims;
use bgops_server::jwt::{looks_like_jwt, unverified_issuer};
use http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fn check(token: &str) {
    let _ = looks_like_jwt(token);
    let _ = jsonwebtoken::decode_header(token);
    let _ = unverified_issuer(token);
    // The claims as `jsonwebtoken::decode` would hand them over once the signature verified.
    let Some(payload) = token.split('.').nth(1) else {
        return;
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return;
    };
    let Ok(claims) = serde_json::from_slice::<Claims>(&bytes) else {
        return;
    };
    if let Some(identity) = claims.identity() {
        let user = claims.new_user(&identity);
        assert!(user.full_name.chars().count() <= 200);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        if let Some(token) = bearer_token(&headers) {
            check(token);
        }
    }
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let token: Vec<String> = (0..3)
        .map(|_| URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default()))
        .collect();
    check(&token.join("."));
});
