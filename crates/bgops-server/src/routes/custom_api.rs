//! Calling custom APIs (SPEC §3): actions with POST and functions with GET (parameters in the
//! URL), synchronously, in the background with `Prefer: respond-async`, or through the
//! `ExecuteBackgroundOperation` message. Every check
//! runs before anything is stored: a refused request leaves no row.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bgops_core::function_args::function_parameters;
use bgops_core::TraceParent;
use bgops_core::{ApiError, CustomApi, ErrorCode, NewOperation, OperationId, Parameters};
use bgops_store::{IdempotencyKey, InsertOnce, KeyedOperation};
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{query_pairs, Root};
use crate::idempotency::{self, InFlightGuard};
use crate::prefer::Prefer;
use crate::response;
use crate::state::AppState;

/// The SDK-message form of a background request.
pub const EXECUTE_BACKGROUND_OPERATION: &str = "ExecuteBackgroundOperation";

/// The header naming a callback URL outside `Prefer`.
const CALLBACK_HEADER: &str = "x-ms-dyn-callback-url";

/// How long a submission waits for the callback host's addresses before accepting it.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The custom API named `name` as currently defined on any node, or the unknown-segment 404.
async fn lookup(state: &AppState, name: &str) -> Result<std::sync::Arc<CustomApi>, ApiError> {
    state
        .engine
        .registry()
        .resolve(name)
        .await
        .ok_or_else(|| ApiError::unknown_segment(name))
}

/// Checks the privileges of running `api` (in the background when `background`).
fn authorize_call(
    state: &AppState,
    caller: &Caller,
    api: &CustomApi,
    background: bool,
) -> Result<(), ApiError> {
    caller.access(state).authorize_call(api, background)
}

/// Applies the callback URL rules of SPEC §3 and §9 to `url`: https (unless
/// `--callback-allow-http`), no `#`, and a host that is not and does not resolve to an internal
/// address (unless `--callback-allow-private`; checked again at each delivery). Returns the
/// normalised URL to store.
async fn check_callback(state: &AppState, url: &str) -> Result<String, ApiError> {
    let Some(outbound) = state.engine.config().outbound.as_ref() else {
        return Err(ApiError::invalid_argument(
            "Completion callbacks are not available: this service has no outbound HTTP client.",
        ));
    };
    let parsed = outbound.parse_url(url).map_err(|e| e.api_error())?;
    // A name that does not resolve in time passes, like one that does not resolve at all:
    // nothing can be reached through it now, and every connection is checked again.
    let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, outbound.check_host(&parsed)).await;
    if let Ok(checked) = resolved {
        checked.map_err(|e| e.api_error())?;
    }
    Ok(parsed.as_str().to_owned())
}

/// The callback URL of a `Prefer`/header request, after the checks of SPEC §3 and §9.
async fn callback_from_headers(
    state: &AppState,
    headers: &HeaderMap,
    prefer: &Prefer,
) -> Result<Option<String>, ApiError> {
    let mut urls = prefer.callback_urls();
    let header_urls: Vec<String> = headers
        .get_all(CALLBACK_HEADER)
        .iter()
        .filter_map(|h| h.to_str().ok().map(str::to_owned))
        .collect();
    let total = urls.len() + header_urls.len();
    if total == 0 {
        return Ok(None);
    }
    if !prefer.respond_async() {
        return Err(ApiError::new(
            400,
            ErrorCode::CALLBACK_WITHOUT_ASYNC,
            "The callback preference cannot be honored without respond-async preference.",
        ));
    }
    if total > 1 {
        return Err(ApiError::new(
            400,
            ErrorCode::CALLBACK_TWICE,
            "Callback Uri provided in both prefer as well as x-ms-dyn-callback-url header. Use only one of them.",
        ));
    }
    urls.extend(header_urls);
    let url = urls.remove(0);
    check_callback(state, &url).await.map(Some)
}

/// What follows a background submission: the checked callback URL and the trace context its
/// attempts continue.
struct FollowUp {
    /// The callback URL (SPEC §9), already checked.
    callback: Option<String>,
    /// The W3C trace context the attempts continue.
    trace: Option<TraceParent>,
}

/// A submission under an `Idempotency-Key` (SPEC §15): the key, the request's fingerprint,
/// and the mark that makes a concurrent retry on this node a 409, held until the answer.
struct Keyed {
    key: String,
    fingerprint: String,
    _in_flight: InFlightGuard,
}

/// Reads the request's `Idempotency-Key`, if any, and marks it in flight. `parts` say what the
/// request asks for (method, path, callback, body): the same key with other parts is a 422.
/// Only background submissions take a key: a synchronous call stores nothing to replay.
fn keyed(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    background: bool,
    parts: &[&str],
) -> Result<Option<Keyed>, ApiError> {
    let Some(key) = idempotency::key_from_headers(headers)? else {
        return Ok(None);
    };
    if !background {
        return Err(ApiError::invalid_argument(
            "Idempotency-Key applies to background submissions (Prefer: respond-async, or ExecuteBackgroundOperation); a synchronous call stores nothing that a retry could be answered from.",
        ));
    }
    let in_flight = state.in_flight.enter(caller.principal.id, &key)?;
    Ok(Some(Keyed {
        key,
        fingerprint: idempotency::fingerprint(parts),
        _in_flight: in_flight,
    }))
}

/// The callback URLs a request names in its headers, as sent, for its fingerprint.
fn callback_text(headers: &HeaderMap, prefer: &Prefer) -> String {
    let mut urls = prefer.callback_urls();
    urls.extend(
        headers
            .get_all(CALLBACK_HEADER)
            .iter()
            .filter_map(|h| h.to_str().ok().map(str::to_owned)),
    );
    urls.join("\n")
}

/// A stored submission: its operation, and whether it was stored by an earlier request with
/// the same `Idempotency-Key` (a replay: nothing new was stored).
struct Submitted {
    id: OperationId,
    replayed: bool,
}

/// Stores a background operation for `api` with `inputs` and its follow-up (callback, trace), under
/// the request's idempotency key if it has one; returns its id once durable.
async fn submit(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    api: &CustomApi,
    inputs: &Parameters,
    follow_up: FollowUp,
    keyed: Option<&Keyed>,
) -> Result<Submitted, AppError> {
    let engine = &state.engine;
    let id = OperationId::new_random();
    let max_retries = api.max_retries.unwrap_or(engine.config().max_retries);
    let now = engine.clock().now();
    let op = NewOperation {
        id,
        name: api.unique_name.clone(),
        display_name: api.display_name.clone(),
        input_parameters: inputs.to_key_value_json(),
        // Impersonated: runs as the user acted for, created by the one who authenticated.
        run_as: caller.principal.id,
        created_by: caller.authenticated,
        priority: 0,
        ttl_seconds: i64::try_from(state.config.default_ttl.as_secs()).unwrap_or(i64::MAX),
        max_retries: i32::try_from(max_retries).unwrap_or(i32::MAX),
        created_on: now,
        callback_url: follow_up.callback,
        location: Some(location(root, id)),
        trace_parent: follow_up.trace,
    };
    let Some(keyed) = keyed else {
        engine.submit(vec![op]).await?;
        return Ok(Submitted {
            id,
            replayed: false,
        });
    };
    let key = IdempotencyKey {
        user: caller.principal.id,
        key: keyed.key.clone(),
        fingerprint: keyed.fingerprint.clone(),
        now,
        expires: now.plus(state.config.idempotency_key_ttl),
    };
    match engine.submit_once(KeyedOperation { op, key }).await? {
        InsertOnce::Inserted => Ok(Submitted {
            id,
            replayed: false,
        }),
        InsertOnce::Existing {
            operation,
            fingerprint,
        } if fingerprint == keyed.fingerprint => Ok(Submitted {
            id: operation,
            replayed: true,
        }),
        InsertOnce::Existing { .. } => Err(ApiError::idempotency_key_reused().into()),
    }
}

/// Submits `name` again in the background, as `caller`, with the inputs an earlier operation
/// stored (`stored_inputs`, the Key/Value text): the dashboard's resubmit. The inputs are typed
/// and checked against the custom API as it is defined now, and the caller's privileges apply,
/// exactly as for a new request; no callback and no trace context are carried over.
pub(crate) async fn resubmit(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    name: &str,
    stored_inputs: &str,
) -> Result<OperationId, AppError> {
    let api = lookup(state, name).await?;
    authorize_call(state, caller, &api, true)?;
    let body: Map<String, Value> = bgops_core::params::parse_key_value_json(stored_inputs)
        .into_iter()
        .map(|(k, v)| {
            let json = bgops_core::params::stored_value_to_json(api.request_type(&k), v);
            (k, json)
        })
        .collect();
    let inputs = api.validate_request(&body)?;
    let follow_up = FollowUp {
        callback: None,
        trace: None,
    };
    let submitted = submit(state, caller, root, &api, &inputs, follow_up, None).await?;
    Ok(submitted.id)
}

/// Marks a response answered from an earlier request with the same `Idempotency-Key`.
fn mark_replay(resp: &mut Response, submitted: &Submitted) {
    if submitted.replayed {
        resp.headers_mut()
            .insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
}

/// The status monitor URL of `id`.
pub fn location(root: &Root, id: OperationId) -> String {
    location_of(&root.0, id)
}

/// The status monitor URL of `id` under the service root `root`.
pub fn location_of(root: &str, id: OperationId) -> String {
    format!("{root}/api/backgroundoperation/{id}")
}

/// `POST /api/data/v9.2/{uniquename}`.
pub async fn invoke(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    name: &str,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    let api = lookup(state, name).await?;
    if api.is_function {
        return Err(ApiError::unknown_segment(name).into());
    }
    let prefer = Prefer::from_headers(headers);
    authorize_call(state, caller, &api, prefer.respond_async())?;
    let body_text = idempotency::canonical_body(&body);
    let path = format!("{}/{name}", super::WEB_API);
    let keyed = keyed(
        state,
        caller,
        headers,
        prefer.respond_async(),
        &["POST", &path, &callback_text(headers, &prefer), &body_text],
    )?;
    let callback = callback_from_headers(state, headers, &prefer).await?;
    let inputs = api.validate_request(&body)?;
    let follow_up = FollowUp {
        callback,
        trace: crate::observe::submission_trace(headers),
    };
    run(
        state,
        caller,
        root,
        &prefer,
        &api,
        inputs,
        follow_up,
        keyed.as_ref(),
    )
    .await
}

/// `GET /api/data/v9.2/{uniquename}({args})?@p1=…` for a function: `args` is the text between
/// the parentheses (`P1=@p1,P2='x'`, or empty), `query` the query string holding the aliases.
/// Calling an action this way is the unknown-segment 404, as in Dataverse.
pub async fn invoke_function(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    name: &str,
    args: &str,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let api = lookup(state, name).await?;
    if !api.is_function {
        return Err(ApiError::unknown_segment(name).into());
    }
    let prefer = Prefer::from_headers(headers);
    authorize_call(state, caller, &api, prefer.respond_async())?;
    let path = format!("{}/{name}({args})", super::WEB_API);
    let keyed = keyed(
        state,
        caller,
        headers,
        prefer.respond_async(),
        &[
            "GET",
            &path,
            &callback_text(headers, &prefer),
            query.unwrap_or(""),
        ],
    )?;
    let callback = callback_from_headers(state, headers, &prefer).await?;
    let pairs = query.map(query_pairs).unwrap_or_default();
    let inputs = function_parameters(&api, args, &pairs)?;
    let follow_up = FollowUp {
        callback,
        trace: crate::observe::submission_trace(headers),
    };
    run(
        state,
        caller,
        root,
        &prefer,
        &api,
        inputs,
        follow_up,
        keyed.as_ref(),
    )
    .await
}

/// Runs a validated call: in the background with `Prefer: respond-async` (202 and the status
/// monitor; with a `callback`, also `{"backgroundOperationId","location"}`), else now (200 with
/// the response properties, 204 when there are none).
#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    prefer: &Prefer,
    api: &CustomApi,
    inputs: Parameters,
    follow_up: FollowUp,
    keyed: Option<&Keyed>,
) -> Result<Response, AppError> {
    if prefer.respond_async() {
        let with_callback = follow_up.callback.is_some();
        let submitted = submit(state, caller, root, api, &inputs, follow_up, keyed).await?;
        let id = submitted.id;
        let loc = location(root, id);
        let (mut resp, applied) = if with_callback {
            let body = json!({"backgroundOperationId": id.to_string(), "location": loc});
            (response::json(StatusCode::ACCEPTED, &body), "callback")
        } else {
            (response::empty(StatusCode::ACCEPTED), "respond-async")
        };
        let h = resp.headers_mut();
        h.insert("Location", header_value(&loc)?);
        h.insert(
            "x-ms-dyn-backgroundoperationid",
            header_value(&id.to_string())?,
        );
        h.insert("Preference-Applied", HeaderValue::from_static(applied));
        mark_replay(&mut resp, &submitted);
        return Ok(resp);
    }

    let outputs = state
        .engine
        .execute_sync(api, inputs, caller.principal.id)
        .await?;
    if api.response_properties.is_empty() {
        return Ok(response::empty(StatusCode::NO_CONTENT));
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.{}Response",
            root.0, api.unique_name
        )),
    );
    body.extend(outputs.to_json_object());
    Ok(response::json(StatusCode::OK, &Value::Object(body)))
}

/// `POST /api/data/v9.2/ExecuteBackgroundOperation` with
/// `{"Request":{"RequestName","Parameters"},"CallbackUri"}`; the request may also be written
/// as `{"@odata.type":"Microsoft.Dynamics.CRM.{name}", …parameters}`.
pub async fn execute_background_operation(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    for key in body.keys() {
        if key != "Request" && key != "CallbackUri" && !key.starts_with('@') {
            return Err(ApiError::param_not_defined(key, EXECUTE_BACKGROUND_OPERATION).into());
        }
    }
    let Some(Value::Object(request)) = body.get("Request") else {
        return Err(ApiError::invalid_argument(
            "ExecuteBackgroundOperation needs 'Request': {\"RequestName\": \"{custom API}\", \"Parameters\": {…}}.",
        )
        .into());
    };
    let (name, params) = match request.get("RequestName") {
        Some(Value::String(name)) => {
            let params = match request.get("Parameters") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(p)) => p.clone(),
                Some(_) => {
                    return Err(ApiError::invalid_argument(
                        "'Request.Parameters' must be a JSON object of parameter values.",
                    )
                    .into())
                }
            };
            (name.clone(), params)
        }
        _ => match request
            .get("@odata.type")
            .and_then(Value::as_str)
            .and_then(|t| t.strip_prefix("Microsoft.Dynamics.CRM."))
        {
            Some(name) => {
                let mut params = request.clone();
                params.remove("@odata.type");
                (name.to_owned(), params)
            }
            None => {
                return Err(ApiError::invalid_argument(
                    "'Request' must name the custom API in 'RequestName' (or '@odata.type').",
                )
                .into())
            }
        },
    };
    let api = lookup(state, &name).await?;
    authorize_call(state, caller, &api, true)?;
    let body_text = idempotency::canonical_body(&body);
    let path = format!("{}/{EXECUTE_BACKGROUND_OPERATION}", super::WEB_API);
    let keyed = keyed(
        state,
        caller,
        headers,
        true,
        &[
            "POST",
            &path,
            &callback_text(headers, &Prefer::from_headers(headers)),
            &body_text,
        ],
    )?;
    let callback = match body.get("CallbackUri") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => {
            if headers.get(CALLBACK_HEADER).is_some()
                || !Prefer::from_headers(headers).callback_urls().is_empty()
            {
                return Err(ApiError::new(
                    400,
                    ErrorCode::CALLBACK_TWICE,
                    "Callback Uri provided in both prefer as well as x-ms-dyn-callback-url header. Use only one of them.",
                )
                .into());
            }
            Some(check_callback(state, url).await?)
        }
        Some(other) => {
            return Err(ApiError::param_type(
                "CallbackUri",
                EXECUTE_BACKGROUND_OPERATION,
                "String",
                bgops_core::params::json_type_name(other),
            )
            .into())
        }
    };
    let inputs = api.validate_request(&params)?;
    let follow_up = FollowUp {
        callback,
        trace: crate::observe::submission_trace(headers),
    };
    let submitted = submit(
        state,
        caller,
        root,
        &api,
        &inputs,
        follow_up,
        keyed.as_ref(),
    )
    .await?;
    let id = submitted.id;
    let loc = location(root, id);
    let mut resp = response::json(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.ExecuteBackgroundOperationResponse", root.0),
            "BackgroundOperationId": id.to_string(),
            "Location": loc,
        }),
    );
    resp.headers_mut().insert(
        "x-ms-dyn-backgroundoperationid",
        header_value(&id.to_string())?,
    );
    mark_replay(&mut resp, &submitted);
    Ok(resp)
}

fn header_value(s: &str) -> Result<HeaderValue, AppError> {
    HeaderValue::from_str(s).map_err(|e| AppError::Internal(format!("bad header value: {e}")))
}
