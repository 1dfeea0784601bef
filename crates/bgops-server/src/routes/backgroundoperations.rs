//! The `backgroundoperations` entity set (SPEC §4, §6): read a row with `$select` and
//! annotations; PATCH it to Locked/Canceling to cancel. Rows are created only by submissions
//! and deleted only by TTL.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bgops_core::{ApiError, OperationId};
use bgops_store::{CancelOutcome, UpdateMode};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Root;
use crate::prefer::Prefer;
use crate::response;
use crate::state::AppState;

/// The logical name, used in messages.
const TABLE: &str = "backgroundoperation";

fn parse_key(raw: &str) -> Result<OperationId, ApiError> {
    let raw = raw.strip_prefix("backgroundoperationid=").unwrap_or(raw);
    raw.parse().map_err(|_| {
        ApiError::bad_syntax(format!(
            "'{raw}' is not a valid value for the key backgroundoperationid (a GUID)."
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
    let (condition, _) = super::tables::update_mode(headers)?;
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
    let access = caller.access(state);
    // `If-Match: *` or none: either way a missing row is 404, never an upsert.
    let if_version = match condition {
        UpdateMode::IfVersion(v) => Some(v),
        UpdateMode::MustExist | UpdateMode::Upsert => None,
    };
    match bgops_engine::access::cancel(&state.engine, &access, id, if_version).await? {
        // No upsert: rows are created only by submissions, with or without `If-Match: *`.
        CancelOutcome::NotFound => Err(ApiError::row_not_found(TABLE, id).into()),
        CancelOutcome::Terminal => Err(ApiError::terminal_cancel().into()),
        CancelOutcome::VersionMismatch => Err(ApiError::version_mismatch().into()),
        CancelOutcome::Requested { .. } => {
            if Prefer::from_headers(headers).return_representation() {
                let table = state
                    .catalogue
                    .by_logical_name(TABLE)
                    .ok_or_else(|| AppError::Internal("no backgroundoperation table".into()))?;
                let row = access
                    .get(table.clone(), id.0)
                    .await?
                    .ok_or_else(|| ApiError::row_not_found(TABLE, id))?;
                return super::tables::entity_response(
                    &access,
                    root,
                    &table,
                    row,
                    StatusCode::OK,
                    None,
                    None,
                )
                .await;
            }
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
    }
}
