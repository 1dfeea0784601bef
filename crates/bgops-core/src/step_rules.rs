//! The rules of OnBackgroundOperationComplete subscriptions (SPEC §9): what a `serviceendpoints`
//! or `sdkmessageprocessingsteps` row written over the Web API must satisfy, each broken rule a
//! 400 with a message saying what to do, and what a webhook endpoint's `authtype`/`authvalue`
//! mean on the wire ([`WebhookAuth`]).
//!
//! Pure functions over rows. The HTTP layer reads the rows a write refers to (the current row,
//! the bound message and handler) into [`StepFacts`]; these functions decide.

use uuid::Uuid;

use crate::custom_api_rows::{cell, guid, int, set, set_default, text};
use crate::error::ApiError;
use crate::metadata::{Cell, Row};
use crate::outbound_url::{OutboundUrl, UrlPolicy};

/// The name of the message fired when a background operation reaches a terminal state.
pub const ON_BACKGROUND_OPERATION_COMPLETE: &str = "OnBackgroundOperationComplete";

/// The fixed id of the `OnBackgroundOperationComplete` row of `sdkmessages` (seeded by the
/// storage migrations).
pub const ON_BACKGROUND_OPERATION_COMPLETE_ID: Uuid =
    Uuid::from_u128(0x10bb454c_9e87_4f40_b9b5_7422624bbdb5);

/// `contract` 8: a webhook, the only kind of service endpoint bgops delivers to.
pub const CONTRACT_WEBHOOK: i64 = 8;
/// `messageformat` 2: JSON, the only format bgops sends.
pub const MESSAGE_FORMAT_JSON: i64 = 2;
/// `stage` 40: Post-operation, the only stage of an asynchronous step.
pub const STAGE_POST_OPERATION: i64 = 40;
/// `mode` 1: Asynchronous.
pub const MODE_ASYNCHRONOUS: i64 = 1;
/// `authtype` 4: the `authvalue` is sent as `?code={authvalue}`.
pub const AUTH_WEBHOOK_KEY: i64 = 4;
/// `authtype` 5: the `authvalue` holds headers.
pub const AUTH_HTTP_HEADER: i64 = 5;
/// `authtype` 6: the `authvalue` holds query string parameters.
pub const AUTH_HTTP_QUERY_STRING: i64 = 6;

/// The longest `authvalue`, as the column allows.
const MAX_AUTH_VALUE: usize = 4000;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_argument(message.into())
}

// ---------------------------------------------------------------------------------------------
// Webhook authentication
// ---------------------------------------------------------------------------------------------

/// What a webhook endpoint's `authtype` and `authvalue` add to each request.
#[derive(Clone, PartialEq, Eq)]
pub enum WebhookAuth {
    /// WebhookKey (4): `?code={key}` appended to the URL (what Azure Functions expect).
    Key(String),
    /// HttpHeader (5): these headers on the request.
    Headers(Vec<(String, String)>),
    /// HttpQueryString (6): these parameters appended to the URL's query.
    Query(Vec<(String, String)>),
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The values are secrets: show only their names.
        match self {
            Self::Key(_) => f.write_str("WebhookKey(***)"),
            Self::Headers(h) => {
                let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
                write!(f, "HttpHeader({names:?})")
            }
            Self::Query(q) => {
                let names: Vec<&str> = q.iter().map(|(n, _)| n.as_str()).collect();
                write!(f, "HttpQueryString({names:?})")
            }
        }
    }
}

impl WebhookAuth {
    /// Reads `authvalue` for `authtype`. For HttpHeader and HttpQueryString the value is a list
    /// of key-value pairs, written either as Dataverse stores them (the Plug-in Registration
    /// tool's `<settings><setting name="Key1" value="Value1" /></settings>`) or as a JSON
    /// object (`{"Key1":"Value1"}`). The error says what is wrong, for a 400 or a failed job.
    pub fn parse(authtype: i64, authvalue: &str) -> Result<Self, String> {
        if authvalue.len() > MAX_AUTH_VALUE {
            return Err(format!(
                "the authvalue is longer than {MAX_AUTH_VALUE} characters"
            ));
        }
        match authtype {
            AUTH_WEBHOOK_KEY => {
                let key = authvalue.trim();
                if key.is_empty() {
                    return Err("a WebhookKey endpoint needs the key in authvalue".into());
                }
                Ok(Self::Key(key.to_owned()))
            }
            AUTH_HTTP_HEADER => {
                let pairs = key_value_pairs(authvalue)?;
                for (name, value) in &pairs {
                    if !is_header_name(name) {
                        return Err(format!("'{name}' is not a valid HTTP header name"));
                    }
                    if !is_header_value(value) {
                        return Err(format!(
                            "the value of header '{name}' holds characters a header cannot carry"
                        ));
                    }
                    if is_reserved_header(name) {
                        return Err(format!("the header '{name}' is set by bgops itself"));
                    }
                }
                Ok(Self::Headers(pairs))
            }
            AUTH_HTTP_QUERY_STRING => Ok(Self::Query(key_value_pairs(authvalue)?)),
            other => Err(format!(
                "authtype {other} is not supported for a webhook: use 4 (WebhookKey), 5 (HttpHeader) or 6 (HttpQueryString)"
            )),
        }
    }

    /// The query parameters to append to the endpoint URL.
    pub fn query(&self) -> Vec<(String, String)> {
        match self {
            Self::Key(k) => vec![("code".to_owned(), k.clone())],
            Self::Query(q) => q.clone(),
            Self::Headers(_) => Vec::new(),
        }
    }

    /// The headers to add to the request.
    pub fn headers(&self) -> &[(String, String)] {
        match self {
            Self::Headers(h) => h,
            _ => &[],
        }
    }
}

/// Reads key-value pairs from the `<settings>` XML or a JSON object of strings.
fn key_value_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let s = s.trim();
    let pairs = if s.starts_with('<') {
        settings_xml(s)?
    } else if s.starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(s)
            .map_err(|e| format!("the authvalue is not a valid JSON object ({e})"))?;
        map.into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(v) => Ok((k, v)),
                other => Err(format!("the value of '{k}' must be a string, not {other}")),
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        return Err(
            "the authvalue must list key-value pairs, as <settings><setting name=\"Key1\" value=\"Value1\" /></settings> or {\"Key1\":\"Value1\"}"
                .into(),
        );
    };
    if pairs.is_empty() {
        return Err("the authvalue lists no key-value pair".into());
    }
    for (i, (k, _)) in pairs.iter().enumerate() {
        if k.trim().is_empty() {
            return Err("a key of the authvalue is empty".into());
        }
        if pairs[..i].iter().any(|(o, _)| o.eq_ignore_ascii_case(k)) {
            return Err(format!("the key '{k}' is given twice in the authvalue"));
        }
    }
    Ok(pairs)
}

/// `<settings><setting name="…" value="…" />…</settings>`.
fn settings_xml(s: &str) -> Result<Vec<(String, String)>, String> {
    let doc = roxmltree::Document::parse(s)
        .map_err(|e| format!("the authvalue is not valid <settings> XML ({e})"))?;
    let root = doc.root_element();
    if !root.has_tag_name("settings") {
        return Err("the authvalue XML must be a <settings> element".into());
    }
    root.children()
        .filter(|n| n.is_element())
        .map(|n| {
            if !n.has_tag_name("setting") {
                return Err(format!(
                    "<settings> may only hold <setting> elements, not <{}>",
                    n.tag_name().name()
                ));
            }
            match (n.attribute("name"), n.attribute("value")) {
                (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
                _ => Err("each <setting> needs a name and a value attribute".into()),
            }
        })
        .collect()
}

/// An HTTP header name: a token of RFC 9110.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value: visible ASCII, spaces and tabs, no line breaks.
fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Headers bgops sets on every webhook request, which an endpoint's auth cannot replace.
fn is_reserved_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "content-type" | "content-length" | "host" | "transfer-encoding" | "connection"
    ) || n.starts_with("x-ms-dynamics-")
        || n.starts_with("webhook-")
}

// ---------------------------------------------------------------------------------------------
// Service endpoints
// ---------------------------------------------------------------------------------------------

/// Fills the defaults of a new service endpoint: a webhook sending JSON.
pub fn prepare_service_endpoint(row: &mut Row) {
    set_default(row, "contract", Cell::Int(CONTRACT_WEBHOOK));
    set_default(row, "messageformat", Cell::Int(MESSAGE_FORMAT_JSON));
}

/// Checks a service endpoint as it would be stored (a new row, or the current row with a
/// PATCH's changes applied), including its write-only `authvalue`.
pub fn check_service_endpoint(row: &Row, policy: &UrlPolicy) -> Result<(), ApiError> {
    if text(row, "name").is_none_or(|n| n.trim().is_empty()) {
        return Err(invalid("A service endpoint needs a name."));
    }
    match int(row, "contract") {
        Some(CONTRACT_WEBHOOK) => {}
        other => {
            return Err(invalid(format!(
                "contract {} is not supported: bgops delivers to webhooks only (contract 8).",
                other.map_or("(none)".to_owned(), |c| c.to_string())
            )))
        }
    }
    if let Some(f) = int(row, "messageformat").filter(|f| *f != MESSAGE_FORMAT_JSON) {
        return Err(invalid(format!(
            "messageformat {f} is not supported: a webhook receives JSON (messageformat 2)."
        )));
    }
    let Some(url) = text(row, "url").filter(|u| !u.trim().is_empty()) else {
        return Err(invalid("A webhook service endpoint needs a url."));
    };
    OutboundUrl::parse(url, policy).map_err(|e| {
        invalid(format!(
            "The url of a service endpoint is not accepted: {e}."
        ))
    })?;
    let Some(authtype) = int(row, "authtype") else {
        return Err(invalid(
            "A webhook service endpoint needs an authtype: 4 (WebhookKey), 5 (HttpHeader) or 6 (HttpQueryString).",
        ));
    };
    let authvalue = text(row, "authvalue").unwrap_or_default();
    WebhookAuth::parse(authtype, authvalue).map_err(|e| {
        invalid(format!(
            "The authentication of the service endpoint is not accepted: {e}."
        ))
    })?;
    Ok(())
}

/// Checks a delete of a service endpoint: `steps` are the steps whose handler it is.
pub fn check_service_endpoint_delete(endpoint: &Row, steps: &[Row]) -> Result<(), ApiError> {
    match steps.first() {
        Some(step) => Err(invalid(format!(
            "The service endpoint {} is the handler of step {}: delete the step or bind it to another handler first.",
            text(endpoint, "name").unwrap_or_default(),
            text(step, "name").unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

/// The handler a step names in `eventhandler`, as found.
#[derive(Clone, Copy, Debug)]
pub enum StepHandler<'a> {
    /// A `serviceendpoints` row (a webhook).
    ServiceEndpoint(&'a Row),
    /// A `plugintypes` row (a native or HTTP plug-in).
    PluginType(&'a Row),
}

/// The rows a step refers to, read by the caller.
#[derive(Clone, Copy, Debug)]
pub struct StepFacts<'a> {
    /// The `sdkmessages` row named by `sdkmessageid`, if it exists.
    pub message: Option<&'a Row>,
    /// The row named by `eventhandler`, if it exists.
    pub handler: Option<StepHandler<'a>>,
}

/// Fills the defaults of a new step as Dataverse does (`rank` 1, no auto-delete, server only;
/// `mode` is left as given: Dataverse's default is Synchronous, which this message refuses) and
/// takes the handler from `plugintypeid` when only that is bound.
pub fn prepare_step(row: &mut Row) -> Result<(), ApiError> {
    set_default(row, "rank", Cell::Int(1));
    set_default(row, "asyncautodelete", Cell::Bool(false));
    set_default(row, "supporteddeployment", Cell::Int(0));
    align_plugin_type(row)
}

/// Keeps `plugintypeid` and `eventhandler` in step: binding either names the handler.
pub fn align_plugin_type(row: &mut Row) -> Result<(), ApiError> {
    match (guid(row, "plugintypeid"), guid(row, "eventhandler")) {
        (Some(p), None) => set(row, "eventhandler", Cell::Guid(p)),
        (Some(p), Some(h)) if p != h => {
            return Err(invalid(
                "plugintypeid and eventhandler name different handlers: bind the step's handler once, with \"eventhandler_plugintype@odata.bind\" or \"eventhandler_serviceendpoint@odata.bind\".",
            ))
        }
        _ => {}
    }
    Ok(())
}

/// Records which kind of handler a step names: `plugintypeid` holds the plug-in type when the
/// handler is one, and is empty for a webhook.
pub fn record_handler(row: &mut Row, handler: &StepHandler<'_>) {
    match (handler, guid(row, "eventhandler")) {
        (StepHandler::PluginType(_), Some(id)) => set(row, "plugintypeid", Cell::Guid(id)),
        (StepHandler::ServiceEndpoint(_), _) => set(row, "plugintypeid", Cell::Null),
        _ => {}
    }
}

/// The id of the handler a step (as it would be stored) names.
pub fn step_handler_id(row: &Row) -> Option<Uuid> {
    guid(row, "eventhandler").or_else(|| guid(row, "plugintypeid"))
}

/// Checks a step as it would be stored (a new row prepared with [`prepare_step`], or the
/// current row with a PATCH's changes applied) against the rows it refers to.
pub fn check_step(row: &Row, facts: &StepFacts<'_>) -> Result<(), ApiError> {
    if text(row, "name").is_none_or(|n| n.trim().is_empty()) {
        return Err(invalid("A step needs a name."));
    }
    let Some(message_id) = guid(row, "sdkmessageid") else {
        return Err(invalid(format!(
            "A step needs its message: bind it with \"sdkmessageid@odata.bind\": \"/sdkmessages({ON_BACKGROUND_OPERATION_COMPLETE_ID})\" ({ON_BACKGROUND_OPERATION_COMPLETE})."
        )));
    };
    let message_name = facts.message.and_then(|m| text(m, "name")).ok_or_else(|| {
        invalid(format!(
            "The sdkmessage with id {message_id} does not exist."
        ))
    })?;
    if message_name != ON_BACKGROUND_OPERATION_COMPLETE {
        return Err(invalid(format!(
            "Steps cannot be registered on the {message_name} message: bgops runs steps on the {ON_BACKGROUND_OPERATION_COMPLETE} message only."
        )));
    }
    match int(row, "mode") {
        Some(MODE_ASYNCHRONOUS) => {}
        other => {
            let label = match other {
                Some(0) | None => "0 (Synchronous)".to_owned(),
                Some(m) => m.to_string(),
            };
            return Err(invalid(format!(
                "The {ON_BACKGROUND_OPERATION_COMPLETE} message only allows asynchronous step registrations: mode {label} is not supported; set mode to 1 (Asynchronous)."
            )));
        }
    }
    match int(row, "stage") {
        Some(STAGE_POST_OPERATION) => {}
        other => {
            let label = match other {
                Some(10) => "10 (Pre-validation)".to_owned(),
                Some(20) => "20 (Pre-operation)".to_owned(),
                Some(30) => "30 (Main Operation)".to_owned(),
                Some(s) => s.to_string(),
                None => "(none)".to_owned(),
            };
            return Err(invalid(format!(
                "An asynchronous step on the {ON_BACKGROUND_OPERATION_COMPLETE} message must be registered in stage 40 (Post-operation), not stage {label}."
            )));
        }
    }
    if let Some(d) = int(row, "supporteddeployment").filter(|d| *d != 0) {
        return Err(invalid(format!(
            "supporteddeployment {d} is not supported: bgops runs steps on the server (supporteddeployment 0)."
        )));
    }
    if int(row, "rank").is_some_and(|r| r < 0) {
        return Err(invalid("The rank of a step cannot be negative."));
    }
    check_state_pair(row)?;
    let Some(handler_id) = step_handler_id(row) else {
        return Err(invalid(
            "A step needs a handler: bind a webhook with \"eventhandler_serviceendpoint@odata.bind\": \"/serviceendpoints(<id>)\" or a plug-in with \"eventhandler_plugintype@odata.bind\": \"/plugintypes(<id>)\".",
        ));
    };
    match facts.handler {
        None => Err(invalid(format!(
            "The handler with id {handler_id} is neither a service endpoint nor a plug-in type."
        ))),
        Some(StepHandler::ServiceEndpoint(e)) if int(e, "contract") != Some(CONTRACT_WEBHOOK) => {
            Err(invalid(format!(
                "The service endpoint {} is not a webhook (contract 8).",
                text(e, "name").unwrap_or_default()
            )))
        }
        Some(_) => Ok(()),
    }
}

/// `statecode` 0 Enabled goes with `statuscode` 1, 1 Disabled with 2.
fn check_state_pair(row: &Row) -> Result<(), ApiError> {
    match (int(row, "statecode"), int(row, "statuscode")) {
        (Some(0), Some(1)) | (Some(1), Some(2)) | (None, None) => Ok(()),
        (state, status) => Err(ApiError::new(
            400,
            crate::error::ErrorCode::INVALID_STATE,
            format!(
                "statuscode {} is not valid for statecode {} of a step: use 0/1 (Enabled) or 1/2 (Disabled).",
                status.map_or("(none)".to_owned(), |s| s.to_string()),
                state.map_or("(none)".to_owned(), |s| s.to_string())
            ),
        )),
    }
}

/// Completes a PATCH that sets only one of `statecode`/`statuscode`: the other follows
/// (Enabled 0/1, Disabled 1/2).
pub fn complete_state_change(changes: &mut Row) {
    match (int(changes, "statecode"), cell(changes, "statuscode")) {
        (Some(0), None) => set(changes, "statuscode", Cell::Int(1)),
        (Some(1), None) => set(changes, "statuscode", Cell::Int(2)),
        _ => {}
    }
    match (cell(changes, "statecode"), int(changes, "statuscode")) {
        (None, Some(1)) => set(changes, "statecode", Cell::Int(0)),
        (None, Some(2)) => set(changes, "statecode", Cell::Int(1)),
        _ => {}
    }
}

/// `current` with `changes` applied: what an update would store.
pub fn merged(current: &Row, changes: &Row) -> Row {
    let mut out = current.clone();
    for (column, value) in changes {
        set(&mut out, column, value.clone());
    }
    out
}

#[cfg(test)]
#[path = "step_rules_tests.rs"]
mod tests;
