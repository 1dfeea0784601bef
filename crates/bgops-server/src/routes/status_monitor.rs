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

use crate::auth::Caller;
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

/// The body of a Succeeded operation whose outputs were rendered when it was recorded: the
/// codes, then that JSON object's members, with no parsing. `None` for any other row, for rows
/// recorded before outputs were rendered, and (to keep the codes unambiguous) for outputs
/// named like the codes.
fn rendered_success(op: &OperationStatusView) -> Option<Vec<u8>> {
    if op.status != OperationStatus::Succeeded {
        return None;
    }
    let object = op.outputs_json.as_deref()?.trim();
    let members = object.strip_prefix('{')?.strip_suffix('}')?.trim();
    if members.contains("\"backgroundOperation") {
        return None;
    }
    let mut out = Vec::with_capacity(members.len() + 80);
    out.extend_from_slice(
        br#"{"backgroundOperationStateCode":3,"backgroundOperationStatusCode":30"#,
    );
    if !members.is_empty() {
        out.push(b',');
        out.extend_from_slice(members.as_bytes());
    }
    out.push(b'}');
    Some(out)
}

/// `GET /api/backgroundoperation/{id}`.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    // A row outside the caller's depth is not found, exactly as an absent one.
    let op = caller
        .access(&state)
        .operation_status(id)
        .await?
        .ok_or_else(|| ApiError::item_not_found(id))?;
    let terminal = op.status.is_terminal();
    let mut resp = match rendered_success(&op) {
        Some(bytes) => response::json_bytes(StatusCode::OK, bytes),
        None => {
            let api = match op.status {
                OperationStatus::Succeeded => {
                    // Outputs are typed by the definition, which another node may have created.
                    state.engine.registry().resolve(&op.name).await
                }
                _ => None,
            };
            response::json(StatusCode::OK, &Body { op, api })
        }
    };
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
    let access = caller.access(&state);
    match bgops_engine::access::cancel(&state.engine, &access, id, None).await? {
        CancelOutcome::NotFound => Err(ApiError::item_not_found(id).into()),
        CancelOutcome::Terminal => Err(ApiError::terminal_cancel().into()),
        CancelOutcome::VersionMismatch => Err(ApiError::version_mismatch().into()),
        CancelOutcome::Requested { .. } => Ok(response::json(
            StatusCode::OK,
            &json!({ "backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 22 }),
        )),
    }
}

#[cfg(test)]
mod tests {
    use bgops_core::custom_api::diagnostics;
    use bgops_core::{ParamValue, Parameters};
    use serde_json::Value;

    use super::*;

    fn succeeded(outputs: &Parameters, rendered: bool) -> OperationStatusView {
        OperationStatusView {
            name: diagnostics::ECHO.to_owned(),
            status: OperationStatus::Succeeded,
            output_parameters: Some(outputs.to_key_value_json()),
            error_code: None,
            error_message: None,
            outputs_json: rendered.then(|| outputs.to_json_text()),
            run_as: bgops_core::UserId::new_random(),
        }
    }

    fn echo_api() -> Arc<CustomApi> {
        Arc::new(
            diagnostics::all()
                .into_iter()
                .find(|a| a.unique_name == diagnostics::ECHO)
                .unwrap(),
        )
    }

    #[test]
    fn rendered_outputs_read_the_same_as_outputs_typed_on_read() {
        let mut outputs = Parameters::default();
        outputs.set("Text", ParamValue::String("say \"hi\", ünïcode".into()));
        outputs.set("Number", ParamValue::Integer(-42));
        outputs.set("Flag", ParamValue::Boolean(true));
        let fast = rendered_success(&succeeded(&outputs, true)).expect("rendered");
        let slow = serde_json::to_vec(&Body {
            op: succeeded(&outputs, false),
            api: Some(echo_api()),
        })
        .unwrap();
        let fast: Value = serde_json::from_slice(&fast).unwrap();
        let slow: Value = serde_json::from_slice(&slow).unwrap();
        assert_eq!(fast, slow);
        assert_eq!(fast["Number"], -42);
        assert_eq!(fast["backgroundOperationStatusCode"], 30);
    }

    #[test]
    fn no_outputs_give_the_codes_alone() {
        let fast = rendered_success(&succeeded(&Parameters::default(), true)).unwrap();
        let v: Value = serde_json::from_slice(&fast).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "backgroundOperationStateCode": 3,
                "backgroundOperationStatusCode": 30
            })
        );
    }

    #[test]
    fn other_rows_and_outputs_named_like_the_codes_are_not_spliced() {
        let mut named = Parameters::default();
        named.set("backgroundOperationStatusCode", ParamValue::Integer(1));
        assert!(rendered_success(&succeeded(&named, true)).is_none());
        let old_row = succeeded(&Parameters::default(), false);
        assert!(
            rendered_success(&old_row).is_none(),
            "recorded before rendering"
        );
        let failed = OperationStatusView {
            status: OperationStatus::Failed,
            ..succeeded(&Parameters::default(), true)
        };
        assert!(rendered_success(&failed).is_none());
    }
}
