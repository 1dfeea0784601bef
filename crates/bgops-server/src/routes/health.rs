//! `GET /health`: no token; 200 once the service accepts work.

use axum::http::StatusCode;
use axum::response::Response;

use crate::response::json;

/// Answers 200 `{"status":"ok"}`.
pub async fn health() -> Response {
    json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}
