//! Response conventions of SPEC §2: OData headers, JSON bodies, absolute URLs built from the
//! request's scheme and `Host`.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `Content-Type` of every JSON response.
pub const JSON_CONTENT_TYPE: &str = "application/json; odata.metadata=minimal";

/// Adds `Content-Type` and `OData-Version`.
pub fn odata_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    h.insert(ODATA_VERSION, HeaderValue::from_static("4.0"));
}

/// The `OData-Version` header's name.
const ODATA_VERSION: header::HeaderName = header::HeaderName::from_static("odata-version");

/// A JSON response with the OData headers.
pub fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    // Serialized straight into the body's buffer (not through `Display`).
    json_bytes(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A JSON response with the OData headers, from bytes already serialized.
pub fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = (status, bytes).into_response();
    odata_headers(resp.headers_mut());
    resp
}

/// A bodiless response with `OData-Version`.
pub fn empty(status: StatusCode) -> Response {
    let mut resp = status.into_response();
    resp.headers_mut()
        .insert("OData-Version", HeaderValue::from_static("4.0"));
    resp
}
