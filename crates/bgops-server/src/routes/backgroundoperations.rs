//! The `backgroundoperations` entity set (SPEC §4, §6): read a row with `$select` and
//! annotations; PATCH it to Locked/Canceling to cancel. Rows are created only by submissions
//! and deleted only by TTL.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bgops_core::{ApiError, BackgroundOperation, OperationId};
use bgops_store::CancelOutcome;
use serde_json::{Map, Value};

use crate::auth::{
    authorize, Caller, PRV_READ_BACKGROUND_OPERATION, PRV_WRITE_BACKGROUND_OPERATION,
};
use crate::error::AppError;
use crate::extract::Root;
use crate::prefer::Prefer;
use crate::response;
use crate::row_json::{self, RowView};
use crate::state::AppState;

/// The logical name, used in messages.
const TABLE: &str = "backgroundoperation";

/// Query options a single-row GET accepts.
const ROW_OPTIONS: &[&str] = &["$select"];

fn parse_key(raw: &str) -> Result<OperationId, ApiError> {
    let raw = raw.strip_prefix("backgroundoperationid=").unwrap_or(raw);
    raw.parse().map_err(|_| {
        ApiError::bad_syntax(format!(
            "'{raw}' is not a valid value for the key backgroundoperationid (a GUID)."
        ))
    })
}

/// Decodes a query string: percent-decoding of names and values, `+` as space.
fn query_options(query: Option<&str>) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    let Some(q) = query else { return Ok(out) };
    for (k, v) in form_pairs(q) {
        if out.insert(k.clone(), v).is_some() {
            return Err(ApiError::bad_syntax(format!(
                "the query option '{k}' is given more than once."
            )));
        }
    }
    Ok(out)
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
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

async fn read(state: &AppState, id: OperationId) -> Result<BackgroundOperation, AppError> {
    state
        .engine
        .store()
        .get_operation(id)
        .await?
        .ok_or_else(|| ApiError::row_not_found(TABLE, id).into())
}

/// Renders `op` as a single-entity response body.
async fn entity_body(
    state: &AppState,
    root: &Root,
    op: &BackgroundOperation,
    select: Option<&[String]>,
    annotations: Option<&str>,
) -> Result<Value, AppError> {
    let created_by_name = if row_json::wants_annotation(annotations, row_json::FORMATTED_VALUE) {
        state
            .engine
            .store()
            .find_user(op.created_by)
            .await?
            .map(|u| u.full_name)
    } else {
        None
    };
    let context = match select {
        Some(cols) if !cols.is_empty() => format!(
            "{}/api/data/v9.2/$metadata#backgroundoperations({})/$entity",
            root.0,
            cols.join(",")
        ),
        _ => format!(
            "{}/api/data/v9.2/$metadata#backgroundoperations/$entity",
            root.0
        ),
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context));
    body.extend(row_json::render(
        op,
        &RowView {
            select,
            annotations,
            created_by_name: created_by_name.as_deref(),
        },
    ));
    Ok(Value::Object(body))
}

/// `GET /api/data/v9.2/backgroundoperations({id})?$select=…`.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    key: &str,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let id = parse_key(key)?;
    let options = query_options(query)?;
    for name in options.keys() {
        if !ROW_OPTIONS.contains(&name.as_str()) {
            return Err(ApiError::bad_syntax(format!(
                "the query option '{name}' is not supported when reading one row; use $select."
            ))
            .into());
        }
    }
    let select = row_json::parse_select(options.get("$select").map(String::as_str))?;
    authorize(&caller.0, PRV_READ_BACKGROUND_OPERATION, TABLE)?;
    let op = read(state, id).await?;
    let prefer = Prefer::from_headers(headers);
    let annotations = prefer.include_annotations();
    let body = entity_body(state, root, &op, select.as_deref(), annotations).await?;
    let mut resp = response::json(StatusCode::OK, &body);
    if let Some(a) = annotations {
        if let Ok(v) = HeaderValue::from_str(&format!("odata.include-annotations=\"{a}\"")) {
            resp.headers_mut().insert("Preference-Applied", v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&row_json::etag(op.version_number)) {
        resp.headers_mut().insert("ETag", v);
    }
    Ok(resp)
}

/// What an `If-Match` header asks for.
enum IfMatch {
    Absent,
    Any,
    Version(i64),
}

fn if_match(headers: &HeaderMap) -> Result<IfMatch, ApiError> {
    let Some(v) = headers.get("if-match") else {
        return Ok(IfMatch::Absent);
    };
    let v = v.to_str().unwrap_or("").trim();
    if v == "*" {
        return Ok(IfMatch::Any);
    }
    let inner = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
    inner.parse().map(IfMatch::Version).map_err(|_| {
        ApiError::bad_syntax(format!(
            "'{v}' is not a valid If-Match value (use * or an @odata.etag)."
        ))
    })
}

/// `PATCH /api/data/v9.2/backgroundoperations({id})`: only the cancel pair (2, 22) is accepted.
pub async fn patch(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    key: &str,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    let id = parse_key(key)?;
    let condition = if_match(headers)?;
    for k in body.keys() {
        if k != "backgroundoperationstatecode"
            && k != "backgroundoperationstatuscode"
            && !k.starts_with('@')
        {
            return Err(ApiError::invalid_argument(format!(
                "The column '{k}' of backgroundoperation cannot be changed: only a cancel ({{\"backgroundoperationstatecode\":2,\"backgroundoperationstatuscode\":22}}) is accepted."
            ))
            .into());
        }
    }
    let state_code = body.get("backgroundoperationstatecode");
    let status_code = body.get("backgroundoperationstatuscode");
    match (state_code.and_then(Value::as_i64), status_code.and_then(Value::as_i64)) {
        (Some(2), Some(22)) => {}
        (None, None) if state_code.is_none() && status_code.is_none() => {
            return Err(ApiError::invalid_argument(
                "Send {\"backgroundoperationstatecode\":2,\"backgroundoperationstatuscode\":22} to cancel a background operation.",
            )
            .into())
        }
        _ => return Err(ApiError::invalid_state_pair().into()),
    }
    authorize(&caller.0, PRV_WRITE_BACKGROUND_OPERATION, TABLE)?;
    let if_version = match condition {
        IfMatch::Version(v) => Some(v),
        IfMatch::Any | IfMatch::Absent => None,
    };
    match state.engine.cancel(id, if_version).await? {
        // No upsert: rows are created only by submissions, with or without `If-Match: *`.
        CancelOutcome::NotFound => Err(ApiError::row_not_found(TABLE, id).into()),
        CancelOutcome::Terminal => Err(ApiError::terminal_cancel().into()),
        CancelOutcome::VersionMismatch => Err(ApiError::version_mismatch().into()),
        CancelOutcome::Requested { .. } => {
            if Prefer::from_headers(headers).return_representation() {
                let op = read(state, id).await?;
                let body = entity_body(state, root, &op, None, None).await?;
                return Ok(response::json(StatusCode::OK, &body));
            }
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_options() {
        let o = query_options(Some("%24select=name%2Cerrorcode&x=a+b%20c")).unwrap();
        assert_eq!(o["$select"], "name,errorcode");
        assert_eq!(o["x"], "a b c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%é%41"), "%éA");
        assert!(query_options(Some("$select=a&$select=b")).is_err());
    }
}
