//! The status monitor `/api/backgroundoperation/{id}` (SPEC §5): GET the state with outputs or
//! error, DELETE to request cancellation. Not part of the Web API: no labels, no etags.
//! Beyond Dataverse (SPEC §15): a long poll with `Prefer: wait=N`, and a stream of the
//! operation's changes with `Accept: text/event-stream`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;

use bgops_core::params::{parse_key_value_refs, stored_value_to_json};
use bgops_core::{ApiError, CustomApi, OperationId, OperationStatus, ParamType};
use bgops_store::{CancelOutcome, OperationStatusView};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::json;

use crate::auth::Caller;
use crate::error::AppError;
use crate::prefer::Prefer;
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

/// `GET /api/backgroundoperation/{id}`: the state now, or with `Prefer: wait=N` (a long poll)
/// once the operation is terminal or after N seconds, whichever comes first, with
/// `Preference-Applied: wait=N`. While it waits a request reads the row only when the
/// operation changed (see `bgops_engine::changes`). With `Accept: text/event-stream`, a stream
/// of its changes (`routes::events`).
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    let wait = Prefer::from_headers(&headers).wait()?;
    // A long poll watches before its first read, so a change committed after the read wakes it.
    let long_poll = wait.map(|wait| (wait, state.engine.changes().watch(id)));
    // A row outside the caller's depth is not found, exactly as an absent one.
    let visible = caller
        .access(&state)
        .operation_status(id)
        .await?
        .ok_or_else(|| ApiError::item_not_found(id))?;
    if super::events::wants_event_stream(&headers) {
        return super::events::operation_stream(state, id, &headers).await;
    }
    let op = match long_poll {
        Some((wait, watch)) => wait_for_end(&state, visible, watch, wait).await?,
        None => visible,
    };
    let mut resp = render(&state, op).await;
    if let Some(wait) = wait {
        resp.headers_mut().insert(
            "Preference-Applied",
            HeaderValue::from_str(&format!("wait={}", wait.as_secs()))
                .map_err(|e| AppError::Internal(e.to_string()))?,
        );
    }
    Ok(resp)
}

/// What the status monitor shows of `id`, or the 404.
pub(crate) async fn read(
    state: &AppState,
    id: OperationId,
) -> Result<OperationStatusView, AppError> {
    Ok(state
        .engine
        .store()
        .get_operation_status(id)
        .await?
        .ok_or_else(|| ApiError::item_not_found(id))?)
}

/// Waits from `op` (read after `watch` was taken, so a change committed in between still wakes
/// it) until the operation is terminal, `wait` has passed or the service stops. Woken only by
/// a change that may have ended it (not by its start); answers from the end this node recorded
/// when that is what woke it, and reads the row otherwise. The watch is dropped with the
/// request (a client that hangs up leaves nothing behind).
async fn wait_for_end(
    state: &AppState,
    mut op: OperationStatusView,
    mut watch: bgops_engine::changes::ChangeWatch,
    wait: Duration,
) -> Result<OperationStatusView, AppError> {
    let deadline = tokio::time::Instant::now() + wait;
    while !op.status.is_terminal() {
        let ended = tokio::select! {
            ended = watch.may_have_ended() => ended,
            _ = tokio::time::sleep_until(deadline) => break,
            _ = state.stopping.cancelled() => break,
        };
        op = match ended {
            Some(ended) => ended_view(op, &ended),
            None => read(state, watch.id()).await?,
        };
    }
    Ok(op)
}

/// `op` as it ended. The name and the run-as user cannot change; `version` stays the one read
/// before (the status monitor's answer does not show it).
fn ended_view(
    op: OperationStatusView,
    ended: &bgops_engine::changes::Ended,
) -> OperationStatusView {
    OperationStatusView {
        status: ended.status,
        output_parameters: ended.output_parameters.clone(),
        outputs_json: ended.outputs_json.clone(),
        error_code: ended.error_code,
        error_message: ended.error_message.clone(),
        ..op
    }
}

/// The status monitor's answer for `op`: its body, and `Retry-After` until it is terminal.
pub(crate) async fn render(state: &AppState, op: OperationStatusView) -> Response {
    let terminal = op.status.is_terminal();
    let mut resp = response::json_bytes(StatusCode::OK, body_bytes(state, op).await);
    if !terminal {
        let secs = crate::retry_after_value(state.config.poll_retry_after);
        if let Ok(v) = HeaderValue::from_str(&secs) {
            resp.headers_mut().insert("Retry-After", v);
        }
    }
    resp
}

/// The status monitor's JSON body for `op` (also the data of an event stream's events).
pub(crate) async fn body_bytes(state: &AppState, op: OperationStatusView) -> Vec<u8> {
    if let Some(bytes) = rendered_success(&op) {
        return bytes;
    }
    let api = match op.status {
        OperationStatus::Succeeded => {
            // Outputs are typed by the definition, which another node may have created.
            state.engine.registry().resolve(&op.name).await
        }
        _ => None,
    };
    serde_json::to_vec(&Body { op, api }).unwrap_or_default()
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
            version: 7,
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
