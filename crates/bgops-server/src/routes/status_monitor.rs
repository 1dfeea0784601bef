//! The status monitor `/api/backgroundoperation/{id}` (SPEC §5): GET the state with outputs or
//! error, DELETE to request cancellation. Not part of the Web API: no labels, no etags.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use bgops_core::params::stored_value_to_json;
use bgops_core::{ApiError, OperationId, OperationStatus};
use bgops_store::{CancelOutcome, OperationStatusView};
use serde_json::{json, Map, Value};

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

/// The status monitor body of `op`.
fn body(state: &AppState, op: OperationStatusView) -> Value {
    let mut out = Map::new();
    out.insert(
        "backgroundOperationStateCode".into(),
        Value::from(op.status.state().code()),
    );
    out.insert(
        "backgroundOperationStatusCode".into(),
        Value::from(op.status.code()),
    );
    match op.status {
        OperationStatus::Succeeded => {
            let api = state.engine.registry().api(&op.name);
            let stored = op.output_parameters.as_deref().unwrap_or("[]");
            for (name, value) in bgops_core::params::parse_key_value_json(stored) {
                let ty = api.as_ref().and_then(|a| a.response_type(&name));
                out.insert(name, stored_value_to_json(ty, value));
            }
        }
        OperationStatus::Failed => {
            out.insert(
                "backgroundOperationErrorCode".into(),
                op.error_code.map_or(Value::Null, Value::from),
            );
            out.insert(
                "backgroundOperationErrorMessage".into(),
                op.error_message.map_or(Value::Null, Value::String),
            );
        }
        _ => {}
    }
    Value::Object(out)
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
    let mut resp = response::json(StatusCode::OK, &body(&state, op));
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
