//! The status monitor `/api/backgroundoperation/{id}` (SPEC §5): GET the state with outputs or
//! error, DELETE to request cancellation. Not part of the Web API: no labels, no etags.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use std::sync::Arc;

use bgops_core::params::{parse_key_value_refs, stored_value_to_json};
use bgops_core::{ApiError, CustomApi, OperationId, OperationStatus, ParamType};
use bgops_store::{CancelOutcome, OperationStatusView};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::json;

use crate::auth::{
    authorize, Caller, PRV_READ_BACKGROUND_OPERATION, PRV_WRITE_BACKGROUND_OPERATION,
};
use crate::error::AppError;
use crate::response;
use crate::state::AppState;

/// Parses the id segment; a malformed one is 400.
pub fn parse_id(raw: &str) -> Result<OperationId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_syntax(format!(
            "'{raw}' is not a valid background operation id (a GUID)."
        ))
    })
}

/// The status monitor body of an operation, serialized straight from the stored row: the state
/// and status codes, then the outputs typed by the custom API when Succeeded, or the error when
/// Failed.
struct Body {
    op: OperationStatusView,
    /// The custom API, to type the outputs.
    api: Option<Arc<CustomApi>>,
}

const STATE_CODE: &str = "backgroundOperationStateCode";
const STATUS_CODE: &str = "backgroundOperationStatusCode";

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let op = &self.op;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(STATE_CODE, &op.status.state().code())?;
        map.serialize_entry(STATUS_CODE, &op.status.code())?;
        match op.status {
            OperationStatus::Succeeded => {
                let stored = op.output_parameters.as_deref().unwrap_or("[]");
                for (name, value) in parse_key_value_refs(stored) {
                    if name == STATE_CODE || name == STATUS_CODE {
                        continue;
                    }
                    match self.api.as_ref().and_then(|a| a.response_type(&name)) {
                        None | Some(ParamType::String) => map.serialize_entry(&name, &value)?,
                        ty => map.serialize_entry(
                            &name,
                            &stored_value_to_json(ty, value.into_owned()),
                        )?,
                    }
                }
            }
            OperationStatus::Failed => {
                map.serialize_entry("backgroundOperationErrorCode", &op.error_code)?;
                map.serialize_entry("backgroundOperationErrorMessage", &op.error_message)?;
            }
            _ => {}
        }
        map.end()
    }
}

/// `GET /api/backgroundoperation/{id}`.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    authorize(
        &caller.0,
        PRV_READ_BACKGROUND_OPERATION,
        "backgroundoperation",
    )?;
    let op = state
        .engine
        .store()
        .get_operation_status(id)
        .await?
        .ok_or_else(|| ApiError::item_not_found(id))?;
    if op.status == OperationStatus::Succeeded {
        // Outputs are typed by the definition, which another node may have created.
        let _ = state.engine.registry().resolve(&op.name).await;
    }
    let terminal = op.status.is_terminal();
    let api = match op.status {
        OperationStatus::Succeeded => state.engine.registry().api(&op.name),
        _ => None,
    };
    let mut resp = response::json(StatusCode::OK, &Body { op, api });
    if !terminal {
        let secs = crate::retry_after_value(state.config.poll_retry_after);
        if let Ok(v) = HeaderValue::from_str(&secs) {
            resp.headers_mut().insert("Retry-After", v);
        }
    }
    Ok(resp)
}

/// `DELETE /api/backgroundoperation/{id}`: request cancellation.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    authorize(
        &caller.0,
        PRV_WRITE_BACKGROUND_OPERATION,
        "backgroundoperation",
    )?;
    match state.engine.cancel(id, None).await? {
        CancelOutcome::NotFound => Err(ApiError::item_not_found(id).into()),
        CancelOutcome::Terminal => Err(ApiError::terminal_cancel().into()),
        CancelOutcome::VersionMismatch => Err(ApiError::version_mismatch().into()),
        CancelOutcome::Requested { .. } => Ok(response::json(
            StatusCode::OK,
            &json!({ "backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 22 }),
        )),
    }
}
