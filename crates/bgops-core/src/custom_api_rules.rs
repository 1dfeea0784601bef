//! The rules of custom API definitions as data (SPEC §8): what a new or changed `customapis`,
//! `customapirequestparameters`, `customapiresponseproperties` or `plugintypes` row must satisfy
//! before it is stored, each broken rule a 400 with a message saying what to do.
//!
//! Pure functions over JSON bodies and rows. The engine gathers the facts (the definition rows
//! stored now, the names registered in code, the URL policy) into [`RuleFacts`]; these functions
//! decide.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::custom_api_rows::{
    boolean, cell, guid, int, set, set_default, text, DefinitionKind, DefinitionRows, Source,
    ENDPOINT_COLUMN, REQUEST_PARAMETERS_NAV, RESPONSE_PROPERTIES_NAV, SOURCE_COLUMN,
};
use crate::error::{ApiError, ErrorCode};
use crate::metadata::{Cell, Row};
use crate::outbound_url::{OutboundUrl, UrlPolicy};
use crate::params::ParamType;

/// What a write is checked against.
#[derive(Clone, Copy, Debug)]
pub struct RuleFacts<'a> {
    /// The definition rows stored now.
    pub rows: &'a DefinitionRows,
    /// Names of the custom APIs registered in code (the diagnostic APIs, the samples, an
    /// embedding program's): no row may take them.
    pub builtin_apis: &'a [String],
    /// Type names of the plug-ins registered in code.
    pub native_plugin_types: &'a [String],
    /// The rules an HTTP plug-in's endpoint URL must pass.
    pub url_policy: UrlPolicy,
}

/// A `POST customapis` body split into the custom API and its deep-inserted children.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeepInsert {
    /// The custom API's own properties.
    pub api: Map<String, Value>,
    /// Each `CustomAPIRequestParameters` entry.
    pub request_parameters: Vec<Map<String, Value>>,
    /// Each `CustomAPIResponseProperties` entry.
    pub response_properties: Vec<Map<String, Value>>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_argument(message.into())
}

fn duplicate(message: impl Into<String>) -> ApiError {
    ApiError::new(400, ErrorCode::DUPLICATE_RECORD, message.into())
}

/// Whether `name` is a valid custom API unique name: a publisher prefix (a letter, then letters
/// or digits), an underscore, then letters or digits (`contoso_DoWork`).
pub fn is_valid_api_name(name: &str) -> bool {
    let Some((prefix, rest)) = name.split_once('_') else {
        return false;
    };
    prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && prefix.chars().all(|c| c.is_ascii_alphanumeric())
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Whether `name` is a valid parameter or property unique name: a letter or underscore, then
/// letters, digits or underscores (it is a JSON property name and an OData parameter name).
pub fn is_valid_parameter_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The message of an invalid custom API unique name.
pub fn invalid_api_name(name: &str) -> ApiError {
    invalid(format!(
        "'{name}' is not a valid custom API unique name: it must start with a customization prefix and an underscore, followed by letters and digits only (for example contoso_DoWork)."
    ))
}

/// Splits a `POST customapis` body into the custom API and its deep-inserted request
/// parameters and response properties.
pub fn split_deep_insert(body: &Map<String, Value>) -> Result<DeepInsert, ApiError> {
    let mut out = DeepInsert::default();
    for (key, value) in body {
        let target = if key.eq_ignore_ascii_case(REQUEST_PARAMETERS_NAV) {
            &mut out.request_parameters
        } else if key.eq_ignore_ascii_case(RESPONSE_PROPERTIES_NAV) {
            &mut out.response_properties
        } else {
            out.api.insert(key.clone(), value.clone());
            continue;
        };
        let Value::Array(items) = value else {
            return Err(ApiError::bad_payload(format!(
                "'{key}' must be an array of objects."
            )));
        };
        for item in items {
            let Value::Object(o) = item else {
                return Err(ApiError::bad_payload(format!(
                    "Each entry of '{key}' must be an object."
                )));
            };
            if o.keys()
                .any(|k| k.to_ascii_lowercase().starts_with("customapiid"))
            {
                return Err(invalid(format!(
                    "An entry of '{key}' cannot set CustomAPIId: it belongs to the custom API being created."
                )));
            }
            target.push(o.clone());
        }
    }
    Ok(out)
}

/// Checks the choice values of a create or update body whose wording the generic table layer
/// would get less helpfully: `type` (0–12) and `bindingtype` (only 0, Global, is supported).
pub fn check_body(kind: DefinitionKind, body: &Map<String, Value>) -> Result<(), ApiError> {
    if kind.is_child() {
        if let Some(t) = body.get("type").and_then(Value::as_i64) {
            if ParamType::from_code(t).is_none() {
                return Err(invalid(format!(
                    "{t} is not a valid type for a {}: use 0 (Boolean), 1 (DateTime), 2 (Decimal), 3 (Entity), 4 (EntityCollection), 5 (EntityReference), 6 (Float), 7 (Integer), 8 (Money), 9 (Picklist), 10 (String), 11 (StringArray) or 12 (Guid).",
                    kind.label()
                )));
            }
        }
    }
    if kind == DefinitionKind::CustomApi {
        if let Some(b) = body.get("bindingtype").and_then(Value::as_i64) {
            if b != 0 {
                return Err(unsupported_binding(b));
            }
        }
    }
    Ok(())
}

fn unsupported_binding(b: i64) -> ApiError {
    let label = match b {
        1 => "1 (Entity)".to_owned(),
        2 => "2 (EntityCollection)".to_owned(),
        other => other.to_string(),
    };
    invalid(format!(
        "bindingtype {label} is not supported: bgops runs global custom APIs only (bindingtype 0)."
    ))
}

/// Fills the defaults of a new custom API row (names, Global binding, an action) and marks its
/// source.
pub fn prepare_api(api: &mut Row, source: Source) {
    if let Some(name) = text(api, "uniquename").map(str::to_owned) {
        set_default(api, "name", Cell::Text(name));
    }
    if let Some(name) = text(api, "name").map(str::to_owned) {
        set_default(api, "displayname", Cell::Text(name));
    }
    set_default(api, "bindingtype", Cell::Int(0));
    set_default(api, "isfunction", Cell::Bool(false));
    set_default(api, "isprivate", Cell::Bool(false));
    set_default(api, "allowedcustomprocessingsteptype", Cell::Int(0));
    set_default(api, "workflowsdkstepenabled", Cell::Bool(false));
    set(api, SOURCE_COLUMN, source.cell());
}

/// Fills the defaults of a new request parameter or response property of `api` (its name
/// `{api}.{parameter}` as Dataverse recommends, required unless said otherwise), binds it to
/// the custom API, and gives it the custom API's source.
pub fn prepare_child(kind: DefinitionKind, row: &mut Row, api: &Row) {
    let api_name = text(api, "uniquename").unwrap_or_default().to_owned();
    if let Some(name) = text(row, "uniquename").map(str::to_owned) {
        set_default(row, "name", Cell::Text(format!("{api_name}.{name}")));
        set_default(row, "displayname", Cell::Text(name));
    }
    if kind == DefinitionKind::RequestParameter {
        set_default(row, "isoptional", Cell::Bool(false));
    }
    if let Some(id) = guid(api, "customapiid") {
        set(row, "customapiid", Cell::Guid(id));
    }
    set(row, SOURCE_COLUMN, Source::of(api).cell());
}

/// Fills the defaults of a new plug-in type row (its name is its type name) and marks its
/// source.
pub fn prepare_plugin_type(row: &mut Row, source: Source) {
    if let Some(name) = text(row, "typename").map(str::to_owned) {
        set_default(row, "name", Cell::Text(name));
    }
    set(row, SOURCE_COLUMN, source.cell());
}

/// A request parameter's or response property's own rules: a valid unique name and a type.
fn check_child_row(kind: DefinitionKind, row: &Row) -> Result<(), ApiError> {
    let Some(name) = text(row, "uniquename") else {
        return Err(invalid(format!("A {} needs a uniquename.", kind.label())));
    };
    if !is_valid_parameter_name(name) {
        return Err(invalid(format!(
            "'{name}' is not a valid unique name for a {}: use letters, digits and underscores, starting with a letter.",
            kind.label()
        )));
    }
    if int(row, "type").and_then(ParamType::from_code).is_none() {
        return Err(invalid(format!(
            "The {} {name} needs a type from 0 (Boolean) to 12 (Guid).",
            kind.label()
        )));
    }
    Ok(())
}

/// The first name appearing twice (without case) among `rows`.
fn repeated_name<'r>(rows: impl IntoIterator<Item = &'r Row>) -> Option<&'r str> {
    let mut seen: Vec<String> = Vec::new();
    for r in rows {
        let Some(n) = text(r, "uniquename") else {
            continue;
        };
        let lower = n.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Some(n);
        }
        seen.push(lower);
    }
    None
}

fn check_plugin_bound(facts: &RuleFacts<'_>, api: &Row) -> Result<(), ApiError> {
    let name = text(api, "uniquename").unwrap_or_default();
    match cell(api, "plugintypeid") {
        Some(Cell::Guid(id)) => {
            if facts.rows.find(DefinitionKind::PluginType, *id).is_none() {
                return Err(invalid(format!(
                    "The plug-in type with id {id} bound to custom API {name} does not exist: create it with POST plugintypes, or bind an existing one."
                )));
            }
            Ok(())
        }
        _ => Err(invalid(format!(
            "Custom API {name} needs a plug-in: bind one with \"PluginTypeId@odata.bind\": \"plugintypes(<plugintypeid>)\"."
        ))),
    }
}

/// Checks a new custom API with its deep-inserted children (prepared with [`prepare_api`] and
/// [`prepare_child`]).
pub fn check_new_api(
    facts: &RuleFacts<'_>,
    api: &Row,
    request_parameters: &[Row],
    response_properties: &[Row],
) -> Result<(), ApiError> {
    let Some(name) = text(api, "uniquename") else {
        return Err(invalid("A custom API needs a uniquename."));
    };
    if !is_valid_api_name(name) {
        return Err(invalid_api_name(name));
    }
    if facts
        .builtin_apis
        .iter()
        .any(|b| b.eq_ignore_ascii_case(name))
        || name.eq_ignore_ascii_case("ExecuteBackgroundOperation")
    {
        return Err(invalid(format!(
            "The unique name {name} belongs to a custom API built into bgops and cannot be used."
        )));
    }
    if facts.rows.api_named(name).is_some() {
        return Err(duplicate(format!(
            "A custom API with the unique name {name} already exists."
        )));
    }
    if let Some(b) = int(api, "bindingtype").filter(|b| *b != 0) {
        return Err(unsupported_binding(b));
    }
    if text(api, "boundentitylogicalname").is_some() {
        return Err(invalid(
            "boundentitylogicalname must be empty: bgops runs global custom APIs only.",
        ));
    }
    check_plugin_bound(facts, api)?;
    for (kind, rows) in [
        (DefinitionKind::RequestParameter, request_parameters),
        (DefinitionKind::ResponseProperty, response_properties),
    ] {
        for row in rows {
            check_child_row(kind, row)?;
        }
        if let Some(n) = repeated_name(rows) {
            return Err(duplicate(format!(
                "Custom API {name} cannot have two {}s named {n}.",
                kind.label()
            )));
        }
    }
    if boolean(api, "isfunction") == Some(true) && response_properties.is_empty() {
        return Err(invalid(format!(
            "Custom API {name} is a function, and a function must have at least one response property."
        )));
    }
    Ok(())
}

/// Refuses changes to rows that another source keeps in step: rows declared in the file and
/// rows registered in code.
fn check_source(kind: DefinitionKind, row: &Row) -> Result<(), ApiError> {
    let name = text(row, "uniquename")
        .or_else(|| text(row, "typename"))
        .unwrap_or_default();
    match Source::of(row) {
        Source::WebApi => Ok(()),
        Source::File => Err(invalid(format!(
            "The {} {name} is declared in the custom API file of bgops serve (--custom-apis); change it there.",
            kind.label()
        ))),
        Source::Native => Err(invalid(format!(
            "The {} {name} is built into bgops (registered in code) and cannot be changed over the Web API.",
            kind.label()
        ))),
    }
}

/// Checks a new request parameter or response property created on its own (with
/// `"CustomAPIId@odata.bind"`), prepared with [`prepare_child`]; `api` is its custom API.
pub fn check_new_child(
    facts: &RuleFacts<'_>,
    kind: DefinitionKind,
    row: &Row,
    api: &Row,
) -> Result<(), ApiError> {
    check_source(DefinitionKind::CustomApi, api)?;
    check_child_row(kind, row)?;
    let api_id = guid(api, "customapiid").unwrap_or_default();
    let name = text(row, "uniquename").unwrap_or_default();
    let siblings = facts.rows.children(kind, api_id);
    if siblings
        .iter()
        .any(|r| text(r, "uniquename").is_some_and(|n| n.eq_ignore_ascii_case(name)))
    {
        return Err(duplicate(format!(
            "Custom API {} already has a {} named {name}.",
            text(api, "uniquename").unwrap_or_default(),
            kind.label()
        )));
    }
    Ok(())
}

/// The custom API a new child row names in `customapiid`, or the error saying it is missing.
pub fn parent_api<'r>(
    facts: &RuleFacts<'r>,
    kind: DefinitionKind,
    row: &Row,
) -> Result<&'r Row, ApiError> {
    let Some(id) = guid(row, "customapiid") else {
        return Err(invalid(format!(
            "A {} belongs to a custom API: bind it with \"CustomAPIId@odata.bind\": \"customapis(<customapiid>)\".",
            kind.label()
        )));
    };
    facts
        .rows
        .find(DefinitionKind::CustomApi, id)
        .ok_or_else(|| invalid(format!("The custom API with id {id} does not exist.")))
}

fn check_endpoint(facts: &RuleFacts<'_>, row: &Row) -> Result<(), ApiError> {
    let Some(url) = text(row, ENDPOINT_COLUMN) else {
        return Ok(());
    };
    OutboundUrl::parse(url, &facts.url_policy).map_err(|e| {
        invalid(format!(
            "The bgops_endpointurl of a plug-in type is not accepted: {e}."
        ))
    })?;
    Ok(())
}

/// Checks a new plug-in type (prepared with [`prepare_plugin_type`]).
pub fn check_new_plugin_type(facts: &RuleFacts<'_>, row: &Row) -> Result<(), ApiError> {
    let Some(typename) = text(row, "typename").filter(|t| !t.trim().is_empty()) else {
        return Err(invalid("A plug-in type needs a typename."));
    };
    if facts.rows.plugin_type_named(typename).is_some()
        || facts
            .native_plugin_types
            .iter()
            .any(|n| n.eq_ignore_ascii_case(typename))
    {
        return Err(duplicate(format!(
            "A plug-in type with the typename {typename} already exists."
        )));
    }
    check_endpoint(facts, row)
}

/// Checks an update of `current` with `changes` (the columns a PATCH sets).
pub fn check_update(
    facts: &RuleFacts<'_>,
    kind: DefinitionKind,
    current: &Row,
    changes: &Row,
) -> Result<(), ApiError> {
    check_source(kind, current)?;
    for column in kind.immutable_columns() {
        if let Some(new) = cell(changes, column) {
            let old = cell(current, column).unwrap_or(&Cell::Null);
            if new != old {
                return Err(invalid(format!(
                    "The {column} of a {} cannot be changed once it is created.",
                    kind.label()
                )));
            }
        }
    }
    match kind {
        DefinitionKind::CustomApi if cell(changes, "plugintypeid").is_some() => {
            let mut merged = current.clone();
            if let Some(c) = cell(changes, "plugintypeid") {
                set(&mut merged, "plugintypeid", c.clone());
            }
            check_plugin_bound(facts, &merged)
        }
        DefinitionKind::PluginType => check_endpoint(facts, changes),
        _ => Ok(()),
    }
}

/// Checks a delete of `current` (a custom API goes with its parameters and properties).
pub fn check_delete(
    facts: &RuleFacts<'_>,
    kind: DefinitionKind,
    current: &Row,
) -> Result<(), ApiError> {
    check_source(kind, current)?;
    match kind {
        DefinitionKind::PluginType => {
            let id = guid(current, "plugintypeid").unwrap_or_default();
            if let Some(api) = facts.rows.apis_using(id).first() {
                return Err(invalid(format!(
                    "The plug-in type {} is used by custom API {}: delete the custom API or bind it to another plug-in type first.",
                    text(current, "typename").unwrap_or_default(),
                    text(api, "uniquename").unwrap_or_default()
                )));
            }
            Ok(())
        }
        DefinitionKind::ResponseProperty => {
            let api_id = guid(current, "customapiid").unwrap_or_default();
            let Some(api) = facts.rows.find(DefinitionKind::CustomApi, api_id) else {
                return Ok(());
            };
            let remaining = facts.rows.children(kind, api_id).len();
            if boolean(api, "isfunction") == Some(true) && remaining <= 1 {
                return Err(invalid(format!(
                    "Custom API {} is a function, and a function must keep at least one response property.",
                    text(api, "uniquename").unwrap_or_default()
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A GUID for a row of `kind` named `name`, the same on every node and every start: rows
/// declared in the file and registered in code keep their ids across restarts.
pub fn stable_id(kind: DefinitionKind, name: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("bgops:{}:{}", kind.table(), name.to_ascii_lowercase()).as_bytes(),
    )
}

#[cfg(test)]
#[path = "custom_api_rules_tests.rs"]
mod tests;
