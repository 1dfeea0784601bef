//! Extractors that answer in our error shape: the JSON body (400 for malformed JSON, 413 over
//! the limit) and the request's root URL.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use bgops_core::ApiError;
use serde_json::{Map, Value};

use crate::error::AppError;
use crate::state::AppState;

/// A request body that must be a JSON object (an empty body reads as `{}`).
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            if !ct.starts_with("application/json") {
                return Err(ApiError::new(
                    415,
                    bgops_core::ErrorCode::BAD_PAYLOAD,
                    "The request body must be JSON (Content-Type: application/json).",
                )
                .into());
            }
        }
        let limit = state.config.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::from(ApiError::too_large(limit))
            } else {
                AppError::from(ApiError::bad_payload(rejection.body_text()))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::bad_payload("the body must be a JSON object").into()),
            Err(e) => Err(ApiError::bad_payload(format!("malformed JSON ({e})")).into()),
        }
    }
}

impl JsonObject {
    /// Reads the body of `req` (for handlers that choose the extractor after routing).
    pub async fn from_req(req: Request, state: &AppState) -> Result<Self, AppError> {
        <Self as FromRequest<AppState>>::from_request(req, state).await
    }
}

/// The service root as the client sees it: `{scheme}://{Host}`, or what `--public-url` or a
/// trusted proxy says.
pub struct Root(pub String);

impl FromRequestParts<AppState> for Root {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Behind the edge middleware: `--public-url`, trusted proxies' headers, `Host`.
        if let Some(seen) = parts.extensions.get::<crate::edge::Seen>() {
            let origin = state
                .edge
                .proxies
                .resolve(seen.peer, &parts.headers, state.config.scheme);
            return Ok(Self(origin.root));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '"']))
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_owned());
        Ok(Self(format!("{}://{}", state.config.scheme, host)))
    }
}

/// Splits and decodes a query string into `(name, value)` pairs: percent-decoding of names and
/// values, `+` as space.
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space) of one query name or value; a malformed escape stays
/// as written, invalid UTF-8 becomes U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value for a URL we build (`@odata.nextLink`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'$'
            | b','
            | b'('
            | b')'
            | b'\''
            | b':'
            | b'@'
            | b'/'
            | b'*' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_options() {
        let o = query_pairs("%24select=name%2Cerrorcode&x=a+b%20c");
        assert_eq!(o[0], ("$select".to_owned(), "name,errorcode".to_owned()));
        assert_eq!(o[1], ("x".to_owned(), "a b c".to_owned()));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%é%41"), "%éA");
        assert_eq!(percent_encode("a b&$c='d'"), "a%20b%26$c%3D'd'");
    }
}
