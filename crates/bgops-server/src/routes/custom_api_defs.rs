//! Custom API definitions over the Web API (SPEC §8): `POST customapis` with deep insert of
//! `CustomAPIRequestParameters` and `CustomAPIResponseProperties`, `POST` of request parameters,
//! response properties and plug-in types, `PATCH` of their mutable columns and `DELETE` (a
//! custom API with its parameters and properties). Reads stay on the generic table routes.
//! The rules are bgops-core's, the writes the engine's; this module maps HTTP to them.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bgops_core::custom_api_rows::DefinitionKind;
use bgops_core::metadata::Table;
use bgops_core::ApiError;
use bgops_engine::definitions::DefinitionError;
use bgops_store::UpdateMode;
use serde_json::{Map, Value};

use super::tables::{parse_key, update_mode, written};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Root;
use crate::response;
use crate::state::AppState;
use bgops_core::security::Verb;

impl From<DefinitionError> for AppError {
    fn from(e: DefinitionError) -> Self {
        match e {
            DefinitionError::Api(e) => AppError::Api(e),
            DefinitionError::Store(e) => e.into(),
        }
    }
}

/// The definition kind of `table`, if its writes are served here.
pub fn kind(table: &Table) -> Option<DefinitionKind> {
    DefinitionKind::of_table(table.logical_name)
}

/// `POST /api/data/v9.2/{customapis|customapirequestparameters|customapiresponseproperties|plugintypes}`.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    table: Arc<Table>,
    kind: DefinitionKind,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    caller.access(state).authorize(Verb::Create, &table)?;
    let row = state
        .engine
        .definitions()
        .create(kind, &body, caller.principal.id)
        .await?;
    written(
        &caller.access(state),
        root,
        headers,
        &table,
        row,
        StatusCode::CREATED,
    )
    .await
}

/// `PATCH /api/data/v9.2/{set}({id})` of a definition row: mutable columns only, never an
/// upsert; `If-Match` is honoured.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    table: Arc<Table>,
    kind: DefinitionKind,
    key: &str,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    let id = parse_key(&table, key)?;
    let (mode, if_none_match) = update_mode(headers)?;
    if if_none_match {
        return Err(ApiError::invalid_argument(format!(
            "'If-None-Match: *' would create a {} row with PATCH; create definitions with POST.",
            table.logical_name
        ))
        .into());
    }
    caller.access(state).authorize(Verb::Write, &table)?;
    let if_version = match mode {
        UpdateMode::IfVersion(v) => Some(v),
        _ => None,
    };
    let row = state
        .engine
        .definitions()
        .update(kind, id, &body, if_version, caller.principal.id)
        .await?;
    written(
        &caller.access(state),
        root,
        headers,
        &table,
        row,
        StatusCode::OK,
    )
    .await
}

/// `DELETE /api/data/v9.2/{set}({id})` of a definition row; a custom API goes with its request
/// parameters and response properties, and is gone at once on every node.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    table: Arc<Table>,
    kind: DefinitionKind,
    key: &str,
) -> Result<Response, AppError> {
    let id = parse_key(&table, key)?;
    let if_version = match update_mode(headers)?.0 {
        UpdateMode::IfVersion(v) => Some(v),
        _ => None,
    };
    caller.access(state).authorize(Verb::Delete, &table)?;
    state
        .engine
        .definitions()
        .delete(kind, id, if_version, caller.principal.id)
        .await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}
