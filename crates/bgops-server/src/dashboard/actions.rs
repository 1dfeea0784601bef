//! The dashboard's actions beyond one cancel (SPEC §15): cancel every operation a filter
//! selects, after a preview of the count, and resubmit a finished operation. They run on the
//! server, through the same service layer as the Web API (`bgops_engine::access`), with the
//! signed-in user's privileges: rows outside the caller's depth are neither counted nor
//! touched. `--dashboard read-only` refuses them all.
//!
//! - `GET /api/dashboard/cancel?$filter=…`: `{"count": n, "batch": B}`, the operations the
//!   filter selects that the caller may cancel and that are not finished or canceling yet.
//! - `POST /api/dashboard/cancel?$filter=…`: requests cancellation of at most B of them (oldest
//!   first), `{"canceled": n, "more": bool}`; the client calls again while `more`.
//! - `POST /api/dashboard/resubmit/{id}`: a new background operation with the same custom API
//!   and inputs as finished operation `id`, submitted by the caller; `202` with
//!   `{"backgroundOperationId", "location", "resubmittedFrom"}`. The link to the original is in
//!   this answer (and the dashboard's URL), not stored on the row: the operations table keeps
//!   Dataverse's columns.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bgops_core::metadata::{Cell, Table};
use bgops_core::odata::ast::CmpOp;
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::odata::{parse, validate};
use bgops_core::security::Verb;
use bgops_core::{ApiError, ErrorCode, OperationId, OperationStatus};
use bgops_store::{CancelOutcome, PageRequest};
use serde_json::json;

use super::DashboardMode;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{query_pairs, Root};
use crate::routes::{custom_api, status_monitor};
use crate::state::AppState;

/// The most operations one bulk-cancel request cancels: a bounded amount of work per request.
pub const BATCH: usize = 500;

/// The routes of the actions.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/dashboard/cancel", get(preview).post(cancel))
        .route("/api/dashboard/resubmit/{id}", post(resubmit))
}

/// The 403 of every action when the dashboard is read-only.
fn writable(state: &AppState) -> Result<(), ApiError> {
    if state.config.dashboard == DashboardMode::ReadOnly {
        return Err(ApiError::new(
            403,
            ErrorCode::ACCESS_DENIED,
            "The dashboard is read-only (--dashboard read-only): it cannot change data.",
        ));
    }
    Ok(())
}

fn operations_table(state: &AppState) -> Result<Arc<Table>, AppError> {
    state
        .catalogue
        .by_logical_name("backgroundoperation")
        .ok_or_else(|| AppError::Internal("no backgroundoperation table".into()))
}

/// `column eq value` on an integer column of `table`.
fn int_eq(table: &Table, column: &str, value: i64) -> Result<Filter, AppError> {
    let column = *table
        .column(column)
        .ok_or_else(|| AppError::Internal(format!("no column {column}")))?;
    Ok(Filter::Compare {
        column,
        op: CmpOp::Eq,
        value: Cell::Int(value),
    })
}

/// The plan of the rows a bulk cancel reaches: the request's `$filter` (nothing else of the
/// query is taken), narrowed to operations still waiting or in progress and to the caller's
/// Write depth, oldest first.
fn cancel_plan(
    state: &AppState,
    caller: &Caller,
    query: Option<&str>,
) -> Result<(Arc<Table>, QueryPlan), AppError> {
    let table = operations_table(state)?;
    let scope = caller.access(state).authorize(Verb::Write, &table)?;
    let pairs: Vec<(String, String)> = query
        .map(query_pairs)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "$filter")
        .chain([
            ("$select".to_owned(), table.primary_id.to_owned()),
            ("$orderby".to_owned(), "createdon asc".to_owned()),
        ])
        .collect();
    let options = parse::parse_options(&pairs)?;
    let mut plan = validate::plan(&table, &options)?;
    let status = "backgroundoperationstatuscode";
    let cancellable = Filter::Or(
        Box::new(int_eq(
            &table,
            status,
            OperationStatus::WaitingForResources.code().into(),
        )?),
        Box::new(int_eq(
            &table,
            status,
            OperationStatus::InProgress.code().into(),
        )?),
    );
    let filter = match plan.filter.take() {
        None => cancellable,
        Some(f) => Filter::And(Box::new(cancellable), Box::new(f)),
    };
    plan.filter = bgops_engine::access::scoped_filter(&table, scope, Some(filter));
    Ok((table, plan))
}

/// `GET /api/dashboard/cancel?$filter=…`: how many operations a bulk cancel would reach.
async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    uri: axum::http::Uri,
) -> Result<Response, AppError> {
    writable(&state)?;
    let (table, plan) = cancel_plan(&state, &caller, uri.query())?;
    let count = state.engine.store().count_rows(table, plan.filter).await?;
    Ok(crate::response::json(
        StatusCode::OK,
        &json!({ "count": count, "batch": BATCH }),
    ))
}

/// `POST /api/dashboard/cancel?$filter=…`: requests cancellation of at most [`BATCH`] of them,
/// each through the same service call as `DELETE /api/backgroundoperation/{id}`.
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    uri: axum::http::Uri,
) -> Result<Response, AppError> {
    writable(&state)?;
    let (table, plan) = cancel_plan(&state, &caller, uri.query())?;
    let page = state
        .engine
        .store()
        .query_rows(
            table.clone(),
            plan,
            PageRequest {
                size: BATCH,
                after: None,
            },
        )
        .await?;
    let access = caller.access(&state);
    let mut canceled = 0u64;
    for row in &page.rows {
        let Some(Cell::Guid(id)) = row
            .iter()
            .find(|(c, _)| *c == table.primary_id)
            .map(|(_, v)| v)
        else {
            continue;
        };
        // A row that finished or was canceled since the read is skipped, not an error.
        match bgops_engine::access::cancel(&state.engine, &access, OperationId(*id), None).await? {
            CancelOutcome::Requested { .. } => canceled += 1,
            CancelOutcome::NotFound | CancelOutcome::Terminal | CancelOutcome::VersionMismatch => {}
        }
    }
    tracing::info!(user = %caller.principal.id, canceled, "bulk cancel from the dashboard");
    Ok(crate::response::json(
        StatusCode::OK,
        &json!({ "canceled": canceled, "more": page.more }),
    ))
}

/// `POST /api/dashboard/resubmit/{id}`: the same request again, as a new operation.
async fn resubmit(
    State(state): State<AppState>,
    caller: Caller,
    root: Root,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    writable(&state)?;
    let id = status_monitor::parse_id(&raw)?;
    // Read through the caller's depth: another user's operation is not found.
    let view = caller
        .access(&state)
        .operation_status(id)
        .await?
        .ok_or_else(|| ApiError::item_not_found(id))?;
    if !view.status.is_terminal() {
        return Err(ApiError::invalid_argument(format!(
            "Operation {id} has not finished: only a finished operation can be resubmitted."
        ))
        .into());
    }
    let original = state
        .engine
        .store()
        .get_operation(id)
        .await?
        .ok_or_else(|| ApiError::item_not_found(id))?;
    let new = custom_api::resubmit(
        &state,
        &caller,
        &root,
        &original.name,
        &original.input_parameters,
    )
    .await?;
    tracing::info!(operation = %new, resubmitted_from = %id, "resubmitted from the dashboard");
    let location = custom_api::location(&root, new);
    let mut resp = crate::response::json(
        StatusCode::ACCEPTED,
        &json!({
            "backgroundOperationId": new.to_string(),
            "location": location,
            "resubmittedFrom": id.to_string(),
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert("Location", v);
    }
    Ok(resp)
}
