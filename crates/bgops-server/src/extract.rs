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

/// The service root as the client sees it: `{scheme}://{Host}`.
pub struct Root(pub String);

impl FromRequestParts<AppState> for Root {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
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
