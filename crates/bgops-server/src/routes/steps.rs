//! Subscribing to OnBackgroundOperationComplete over the Web API (SPEC §9): `POST`, `PATCH` and
//! `DELETE` of `serviceendpoints` (webhooks) and `sdkmessageprocessingsteps`. Reads stay on the
//! generic table routes. The rules are bgops-core's (`step_rules`); this module reads the rows
//! a write refers to, applies the rules and writes through the store.
//!
//! A service endpoint's `authvalue` is write-only, as in Dataverse: it is accepted on create
//! and update and used by the job runner, but no read returns it.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bgops_core::catalogue::serviceendpoint_with_authvalue;
use bgops_core::custom_api_rows::guid;
use bgops_core::metadata::{Cell, Row, Table};
use bgops_core::odata::ast::CmpOp;
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::outbound_url::UrlPolicy;
use bgops_core::step_rules::{self, StepFacts, StepHandler};
use bgops_core::table_json::{self, WriteKind};
use bgops_core::{ApiError, ErrorCode};
use bgops_store::{DeleteOutcome, InsertOutcome, PageRequest, UpdateMode, UpdateOutcome};
use serde_json::{Map, Value};

use super::tables::{parse_key, update_mode, write_context, written};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Root;
use crate::response;
use crate::state::AppState;
use bgops_core::security::Verb;

/// The two tables whose writes are served here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `serviceendpoints`.
    ServiceEndpoint,
    /// `sdkmessageprocessingsteps`.
    Step,
}

/// The kind of `table`, if its writes are served here.
pub fn kind(table: &Table) -> Option<Kind> {
    match table.logical_name {
        "serviceendpoint" => Some(Kind::ServiceEndpoint),
        "sdkmessageprocessingstep" => Some(Kind::Step),
        _ => None,
    }
}

/// The table rows are written to: for service endpoints the one with `authvalue`.
fn storage_table(kind: Kind, table: &Arc<Table>) -> Arc<Table> {
    match kind {
        Kind::ServiceEndpoint => Arc::new(serviceendpoint_with_authvalue()),
        Kind::Step => table.clone(),
    }
}

fn url_policy(state: &AppState) -> UrlPolicy {
    state
        .engine
        .config()
        .outbound
        .as_ref()
        .map(|o| *o.policy())
        .unwrap_or_default()
}

/// Every row the body binds to must exist: 404 naming it otherwise, as Dataverse answers.
async fn check_binds(
    state: &AppState,
    table: &Table,
    body: &Map<String, Value>,
) -> Result<(), AppError> {
    for (_, target, id) in table_json::bound_references(&state.catalogue, table, body) {
        if state
            .engine
            .store()
            .get_row(target.clone(), id)
            .await?
            .is_none()
        {
            return Err(ApiError::row_not_found(target.logical_name, id).into());
        }
    }
    Ok(())
}

async fn row_of(
    state: &AppState,
    logical_name: &str,
    id: uuid::Uuid,
) -> Result<Option<Row>, AppError> {
    let Some(table) = state.catalogue.by_logical_name(logical_name) else {
        return Ok(None);
    };
    Ok(state.engine.store().get_row(table, id).await?)
}

/// The message and handler rows a step names.
struct StepRows {
    message: Option<Row>,
    endpoint: Option<Row>,
    plugin_type: Option<Row>,
}

impl StepRows {
    async fn read(state: &AppState, step: &Row) -> Result<Self, AppError> {
        let message = match guid(step, "sdkmessageid") {
            Some(id) => row_of(state, "sdkmessage", id).await?,
            None => None,
        };
        let (mut endpoint, mut plugin_type) = (None, None);
        if let Some(id) = step_rules::step_handler_id(step) {
            endpoint = row_of(state, "serviceendpoint", id).await?;
            if endpoint.is_none() {
                plugin_type = row_of(state, "plugintype", id).await?;
            }
        }
        Ok(Self {
            message,
            endpoint,
            plugin_type,
        })
    }

    fn handler(&self) -> Option<StepHandler<'_>> {
        match (&self.endpoint, &self.plugin_type) {
            (Some(e), _) => Some(StepHandler::ServiceEndpoint(e)),
            (None, Some(p)) => Some(StepHandler::PluginType(p)),
            (None, None) => None,
        }
    }

    fn facts(&self) -> StepFacts<'_> {
        StepFacts {
            message: self.message.as_ref(),
            handler: self.handler(),
        }
    }
}

/// Checks a service endpoint as it would be stored, including that its host does not resolve
/// only to refused addresses (checked again at each delivery).
async fn check_endpoint(state: &AppState, row: &Row) -> Result<(), AppError> {
    let policy = url_policy(state);
    step_rules::check_service_endpoint(row, &policy)?;
    if let (Some(outbound), Some(Cell::Text(url))) = (
        state.engine.config().outbound.as_ref(),
        row.iter().find(|(c, _)| *c == "url").map(|(_, v)| v),
    ) {
        let parsed = outbound.parse_url(url).map_err(|e| e.api_error())?;
        outbound.check_host(&parsed).await.map_err(|e| {
            ApiError::invalid_argument(format!(
                "The url of a service endpoint is not accepted: {e}."
            ))
        })?;
    }
    Ok(())
}

/// `POST /api/data/v9.2/{serviceendpoints|sdkmessageprocessingsteps}`.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    table: Arc<Table>,
    kind: Kind,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    caller.access(state).authorize(Verb::Create, &table)?;
    let storage = storage_table(kind, &table);
    let mut row = table_json::row_from_json(&state.catalogue, &storage, &body, WriteKind::Create)?;
    check_binds(state, &storage, &body).await?;
    match kind {
        Kind::ServiceEndpoint => {
            step_rules::prepare_service_endpoint(&mut row);
            check_endpoint(state, &row).await?;
        }
        Kind::Step => {
            step_rules::prepare_step(&mut row)?;
            let rows = StepRows::read(state, &row).await?;
            step_rules::check_step(&row, &rows.facts())?;
            if let Some(handler) = rows.handler() {
                step_rules::record_handler(&mut row, &handler);
            }
        }
    }
    if guid(&row, table.primary_id).is_none() {
        row.insert(0, (table.primary_id, Cell::Guid(uuid::Uuid::new_v4())));
    }
    let stored = match state
        .engine
        .store()
        .insert_row(storage, row, write_context(state, caller))
        .await?
    {
        InsertOutcome::Created(row) => row,
        InsertOutcome::Duplicate => {
            return Err(ApiError::new(
                412,
                ErrorCode::DUPLICATE_RECORD,
                "A record with matching key values already exists.",
            )
            .into())
        }
    };
    written(
        &caller.access(state),
        root,
        headers,
        &table,
        stored,
        StatusCode::CREATED,
    )
    .await
}

/// `PATCH /api/data/v9.2/{set}({id})`: the row with the body's changes must still follow the
/// rules; never an upsert; `If-Match` is honoured.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    table: Arc<Table>,
    kind: Kind,
    key: &str,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    let id = parse_key(&table, key)?;
    let (mode, if_none_match) = update_mode(headers)?;
    if if_none_match {
        return Err(ApiError::invalid_argument(format!(
            "'If-None-Match: *' would create a {} row with PATCH; create it with POST.",
            table.logical_name
        ))
        .into());
    }
    caller.access(state).authorize(Verb::Write, &table)?;
    let storage = storage_table(kind, &table);
    let store = state.engine.store();
    let current = store
        .get_row(storage.clone(), id)
        .await?
        .ok_or_else(|| ApiError::row_not_found(table.logical_name, id))?;
    let mut changes =
        table_json::row_from_json(&state.catalogue, &storage, &body, WriteKind::Update)?;
    check_binds(state, &storage, &body).await?;
    match kind {
        Kind::ServiceEndpoint => {
            check_endpoint(state, &step_rules::merged(&current, &changes)).await?;
        }
        Kind::Step => {
            step_rules::complete_state_change(&mut changes);
            step_rules::align_plugin_type(&mut changes)?;
            let merged = step_rules::merged(&current, &changes);
            let rows = StepRows::read(state, &merged).await?;
            step_rules::check_step(&merged, &rows.facts())?;
            if let (Some(handler), true) =
                (rows.handler(), guid(&changes, "eventhandler").is_some())
            {
                step_rules::record_handler(&mut changes, &handler);
            }
        }
    }
    let mode = match mode {
        UpdateMode::IfVersion(v) => UpdateMode::IfVersion(v),
        _ => UpdateMode::MustExist,
    };
    let stored = match store
        .update_row(storage, id, changes, mode, write_context(state, caller))
        .await?
    {
        UpdateOutcome::Updated(r) | UpdateOutcome::Created(r) => r,
        UpdateOutcome::NotFound => {
            return Err(ApiError::row_not_found(table.logical_name, id).into())
        }
        UpdateOutcome::VersionMismatch => return Err(ApiError::version_mismatch().into()),
    };
    written(
        &caller.access(state),
        root,
        headers,
        &table,
        stored,
        StatusCode::OK,
    )
    .await
}

/// The steps whose handler is `endpoint`.
async fn steps_using(state: &AppState, endpoint: uuid::Uuid) -> Result<Vec<Row>, AppError> {
    let Some(steps) = state.catalogue.by_logical_name("sdkmessageprocessingstep") else {
        return Ok(Vec::new());
    };
    let column = |name: &str| {
        steps
            .column(name)
            .copied()
            .ok_or_else(|| AppError::Internal(format!("sdkmessageprocessingstep lacks {name}")))
    };
    let plan = QueryPlan {
        select: vec![column(steps.primary_id)?, column("name")?],
        explicit_select: true,
        filter: Some(Filter::Compare {
            column: column("eventhandler")?,
            op: CmpOp::Eq,
            value: Cell::Guid(endpoint),
        }),
        orderby: vec![(column(steps.primary_id)?, false)],
        top: Some(1),
        count: false,
    };
    let page = state
        .engine
        .store()
        .query_rows(
            steps,
            plan,
            PageRequest {
                size: 1,
                after: None,
            },
        )
        .await?;
    Ok(page.rows)
}

/// `DELETE /api/data/v9.2/{set}({id})`; a service endpoint still handling a step is kept.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    table: Arc<Table>,
    kind: Kind,
    key: &str,
) -> Result<Response, AppError> {
    let id = parse_key(&table, key)?;
    let if_version = match update_mode(headers)?.0 {
        UpdateMode::IfVersion(v) => Some(v),
        _ => None,
    };
    caller.access(state).authorize(Verb::Delete, &table)?;
    let store = state.engine.store();
    if kind == Kind::ServiceEndpoint {
        let current = store
            .get_row(table.clone(), id)
            .await?
            .ok_or_else(|| ApiError::row_not_found(table.logical_name, id))?;
        step_rules::check_service_endpoint_delete(&current, &steps_using(state, id).await?)?;
    }
    match store.delete_row(table.clone(), id, if_version).await? {
        DeleteOutcome::Deleted => Ok(response::empty(StatusCode::NO_CONTENT)),
        DeleteOutcome::NotFound => Err(ApiError::row_not_found(table.logical_name, id).into()),
        DeleteOutcome::VersionMismatch => Err(ApiError::version_mismatch().into()),
    }
}
