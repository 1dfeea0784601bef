//! The one mapping from errors to HTTP responses in the Dataverse shape
//! `{"error":{"code":"0x…","message":"…"}}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bgops_core::ApiError;
use bgops_store::StoreError;

use crate::response::odata_headers;

/// An error a handler returns.
#[derive(Debug)]
pub enum AppError {
    /// A domain error the caller should see as is.
    Api(ApiError),
    /// A failure inside the service: logged with its cause, answered 500 without details.
    Internal(String),
}

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        AppError::Api(e)
    }
}

impl From<bgops_engine::AccessError> for AppError {
    fn from(e: bgops_engine::AccessError) -> Self {
        match e {
            bgops_engine::AccessError::Api(e) => AppError::Api(e),
            bgops_engine::AccessError::Store(e) => e.into(),
        }
    }
}

/// The message of a 403 answer, kept on the response for the audit log.
#[derive(Clone, Debug)]
pub struct Denial(pub String);

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Internal(e.to_string())
    }
}

/// The response for a domain error.
pub fn api_error_response(e: &ApiError) -> Response {
    let body = serde_json::json!({
        "error": { "code": e.code.to_string(), "message": e.message }
    });
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    odata_headers(resp.headers_mut());
    if e.status == 403 {
        resp.extensions_mut().insert(Denial(e.message.clone()));
    }
    if e.status == 401 {
        resp.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Api(e) => api_error_response(&e),
            AppError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                api_error_response(&ApiError::internal())
            }
        }
    }
}
