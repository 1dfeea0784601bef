//! Every table over the Web API (SPEC §6): collections with OData queries and keyset paging,
//! `/$count`, rows by key, and creates, updates and deletes with Dataverse's `If-Match` rules.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bgops_core::metadata::{Cell, Column, ColumnType, Row, Table, TableAccess};
use bgops_core::odata::{parse, skiptoken, validate};
use bgops_core::table_json::{self, RenderOptions, WriteKind};
use bgops_core::{ApiError, ErrorCode};
use bgops_store::{
    DeleteOutcome, InsertOutcome, PageRequest, UpdateMode, UpdateOutcome, WriteContext,
};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{percent_encode, query_pairs, Root};
use crate::prefer::Prefer;
use crate::response;
use crate::state::AppState;
use bgops_core::security::Verb;
use bgops_engine::{Access, AccessError};

/// The largest page a client may ask for, and the page size without `odata.maxpagesize`.
pub const MAX_PAGE_SIZE: usize = 5_000;
/// `@odata.count` and `/$count` stop counting here, as Dataverse does.
pub const MAX_COUNT: u64 = 5_000;

/// Parses a `({key})` segment: a GUID, or `{primaryid}={GUID}`.
pub fn parse_key(table: &Table, raw: &str) -> Result<uuid::Uuid, ApiError> {
    let prefix = format!("{}=", table.primary_id);
    let raw = raw.strip_prefix(prefix.as_str()).unwrap_or(raw);
    match Cell::guid(raw) {
        Ok(Cell::Guid(g)) => Ok(g),
        _ => Err(ApiError::bad_syntax(format!(
            "'{raw}' is not a valid value for the key {} (a GUID).",
            table.primary_id
        ))),
    }
}

/// Resolves the labels of the lookups in `rows` (primary names of the rows they point to),
/// for FormattedValue and lookuplogicalname annotations.
async fn lookup_labels(
    access: &Access,
    table: &Table,
    rows: &[Row],
) -> Result<HashMap<(String, uuid::Uuid), (String, &'static str)>, AppError> {
    let mut out = HashMap::new();
    for row in rows {
        for (name, cell) in row {
            let (Some(col), Cell::Guid(id)) = (table.column(name), cell) else {
                continue;
            };
            let ColumnType::Lookup { targets } = col.column_type else {
                continue;
            };
            let key = (col.logical_name.to_owned(), *id);
            if out.contains_key(&key) {
                continue;
            }
            for target in targets {
                let Some(t) = access.catalogue().by_logical_name(target) else {
                    continue;
                };
                // A row the caller may not read has no label for them.
                let found = match access.get(t.clone(), *id).await {
                    Ok(found) => found,
                    Err(AccessError::Api(_)) => None,
                    Err(e) => return Err(e.into()),
                };
                if let Some(found) = found {
                    let label = found
                        .iter()
                        .find(|(c, _)| *c == t.primary_name)
                        .and_then(|(_, v)| match v {
                            Cell::Text(s) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    out.insert(key.clone(), (label, t.logical_name));
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// Renders rows with the annotations `prefer` asks for.
async fn render_rows(
    access: &Access,
    table: &Table,
    rows: &[Row],
    annotations: Option<&str>,
) -> Result<Vec<Map<String, Value>>, AppError> {
    let wants = table_json::wants_annotation(annotations, table_json::FORMATTED_VALUE)
        || table_json::wants_annotation(annotations, table_json::LOOKUP_LOGICAL_NAME);
    let labels = if wants {
        lookup_labels(access, table, rows).await?
    } else {
        HashMap::new()
    };
    let lookup = |col: &Column, cell: &Cell| match cell {
        Cell::Guid(id) => labels.get(&(col.logical_name.to_owned(), *id)).cloned(),
        _ => None,
    };
    let opts = RenderOptions {
        annotations,
        lookup_label: &lookup,
    };
    Ok(rows
        .iter()
        .map(|r| table_json::row_to_json(table, r, &opts))
        .collect())
}

/// Keeps only the selected columns of a full row (plus the key and version).
fn select_columns(row: Row, select: &[Column]) -> Row {
    row.into_iter()
        .filter(|(c, _)| *c == "versionnumber" || select.iter().any(|s| s.logical_name == *c))
        .collect()
}

/// `@odata.context`: the entity set, with the `$select`ed properties as the client wrote them.
fn context(root: &Root, table: &Table, select: Option<&[String]>, entity: bool) -> String {
    let cols = select.map(|cols| cols.join(",")).filter(|s| !s.is_empty());
    let mut s = format!("{}/api/data/v9.2/$metadata#{}", root.0, table.entity_set);
    if let Some(cols) = cols {
        s.push_str(&format!("({cols})"));
    }
    if entity {
        s.push_str("/$entity");
    }
    s
}

pub(crate) fn preference_applied(resp: &mut Response, applied: &[String]) {
    if applied.is_empty() {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&applied.join(",")) {
        resp.headers_mut().insert("Preference-Applied", v);
    }
}

fn page_size(prefer: &Prefer) -> Result<Option<usize>, ApiError> {
    let Some(p) = prefer.get("odata.maxpagesize") else {
        return Ok(None);
    };
    let n = p
        .value
        .as_deref()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| {
            ApiError::bad_syntax(format!(
                "odata.maxpagesize must be a whole number from 1 to {MAX_PAGE_SIZE}."
            ))
        })?;
    Ok(Some(n))
}

/// The secret that signs `$skiptoken`s of this process.
fn token_key(state: &AppState) -> &[u8] {
    &state.skiptoken_key
}

/// `GET /api/data/v9.2/{set}?…`.
pub async fn get_collection(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    table: Arc<Table>,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let access = caller.access(state);
    let scope = access.read_scope(&table)?;
    let pairs = query.map(query_pairs).unwrap_or_default();
    let options = parse::parse_options(&pairs)?;
    let mut plan = validate::plan(&table, &options)?;
    // Narrowed to the caller's rows before anything else: the count, the pages and the
    // `$skiptoken` (its fingerprint) all belong to this view.
    plan.filter = bgops_engine::access::scoped_filter(&table, scope, plan.filter.take());
    let prefer = Prefer::from_headers(headers);
    let max_page = page_size(&prefer)?;
    let annotations = prefer.include_annotations().map(str::to_owned);
    let fp = skiptoken::fingerprint(&table, &plan);
    let after = match &options.skiptoken {
        Some(t) => Some(skiptoken::decode(token_key(state), &fp, t)?),
        None => None,
    };
    // `$top` limits the result unless a page size is asked for (then it is ignored).
    let (size, paged) = match (max_page, plan.top) {
        (Some(n), _) => (n, true),
        (None, Some(top)) => ((top as usize).min(MAX_PAGE_SIZE), false),
        (None, None) => (MAX_PAGE_SIZE, true),
    };
    let store = state.engine.store();
    // The row version is read for `@odata.etag` even when not selected. The plan is already
    // narrowed to the caller's scope, so the store is asked directly.
    let mut read_plan = plan.clone();
    if let Some(v) = table.column("versionnumber") {
        if !read_plan
            .select
            .iter()
            .any(|c| c.logical_name == v.logical_name)
        {
            read_plan.select.push(*v);
        }
    }
    let page = store
        .query_rows(table.clone(), read_plan, PageRequest { size, after })
        .await?;
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context(root, &table, options.select.as_deref(), false)),
    );
    if plan.count {
        let n = store.count_rows(table.clone(), plan.filter.clone()).await?;
        body.insert("@odata.count".into(), Value::from(n.min(MAX_COUNT)));
    }
    let keep_version = table.logical_name == "backgroundoperation";
    let rows = render_rows(&access, &table, &page.rows, annotations.as_deref()).await?;
    let rows = rows
        .into_iter()
        .map(|mut r| {
            if !keep_version {
                r.remove("versionnumber");
            }
            Value::Object(r)
        })
        .collect();
    body.insert("value".into(), Value::Array(rows));
    if paged && page.more {
        if let Some(last) = page.keys.last() {
            let token = skiptoken::encode(token_key(state), &fp, last);
            let mut q: Vec<String> = pairs
                .iter()
                .filter(|(k, _)| k != "$skiptoken")
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect();
            q.push(format!("$skiptoken={}", percent_encode(&token)));
            body.insert(
                "@odata.nextLink".into(),
                Value::String(format!(
                    "{}/api/data/v9.2/{}?{}",
                    root.0,
                    table.entity_set,
                    q.join("&")
                )),
            );
        }
    }
    let mut resp = response::json(StatusCode::OK, &Value::Object(body));
    let mut applied = Vec::new();
    if let Some(n) = max_page {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if let Some(a) = &annotations {
        applied.push(format!("odata.include-annotations=\"{a}\""));
    }
    preference_applied(&mut resp, &applied);
    Ok(resp)
}

/// `GET /api/data/v9.2/{set}/$count`: the number of rows (text), up to 5,000.
pub async fn get_count(
    state: &AppState,
    caller: &Caller,
    table: Arc<Table>,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let access = caller.access(state);
    access.read_scope(&table)?;
    let pairs = query.map(query_pairs).unwrap_or_default();
    let options = parse::parse_options(&pairs)?;
    let plan = validate::plan(&table, &options)?;
    let n = access.count(table, plan.filter).await?;
    let mut resp = (StatusCode::OK, n.min(MAX_COUNT).to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp.headers_mut()
        .insert("OData-Version", HeaderValue::from_static("4.0"));
    Ok(resp)
}

pub(crate) async fn entity_response(
    access: &Access,
    root: &Root,
    table: &Table,
    row: Row,
    status: StatusCode,
    select: Option<(&[Column], &[String])>,
    annotations: Option<&str>,
) -> Result<Response, AppError> {
    let row = match select {
        Some((cols, _)) => select_columns(row, cols),
        None => row,
    };
    let version = row.iter().find_map(|(c, v)| match (c, v) {
        (&"versionnumber", Cell::Int(v)) => Some(*v),
        _ => None,
    });
    let mut rendered = render_rows(access, table, std::slice::from_ref(&row), annotations).await?;
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context(root, table, select.map(|(_, names)| names), true)),
    );
    body.extend(rendered.pop().unwrap_or_default());
    if table.logical_name != "backgroundoperation" {
        body.remove("versionnumber");
    }
    let mut resp = response::json(status, &Value::Object(body));
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(&table_json::etag(v)).ok()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// `GET /api/data/v9.2/{set}({id})?$select=…`.
pub async fn get_row(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    table: Arc<Table>,
    key: &str,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let id = parse_key(&table, key)?;
    let pairs = query.map(query_pairs).unwrap_or_default();
    for (k, _) in &pairs {
        if k != "$select" && !k.starts_with('@') {
            return Err(ApiError::bad_syntax(format!(
                "The query option '{k}' is not supported when reading one row; use $select."
            ))
            .into());
        }
    }
    let options = parse::parse_options(&pairs)?;
    let plan = validate::plan(&table, &options)?;
    let access = caller.access(state);
    let row = access
        .get(table.clone(), id)
        .await?
        .ok_or_else(|| ApiError::row_not_found(table.logical_name, id))?;
    let prefer = Prefer::from_headers(headers);
    let annotations = prefer.include_annotations();
    let select = match (&options.select, plan.explicit_select) {
        (Some(names), true) => Some((&plan.select[..], &names[..])),
        _ => None,
    };
    let mut resp = entity_response(
        &access,
        root,
        &table,
        row,
        StatusCode::OK,
        select,
        annotations,
    )
    .await?;
    if let Some(a) = annotations {
        preference_applied(&mut resp, &[format!("odata.include-annotations=\"{a}\"")]);
    }
    Ok(resp)
}

fn writable(table: &Table) -> Result<(), ApiError> {
    match table.access {
        TableAccess::ReadWrite => Ok(()),
        TableAccess::ReadOnly | TableAccess::CancelOnly => {
            Err(ApiError::invalid_argument(format!(
                "The {} table cannot be changed over the Web API.",
                table.logical_name
            )))
        }
    }
}

pub(crate) fn entity_id_header(resp: &mut Response, root: &Root, table: &Table, id: uuid::Uuid) {
    let url = format!("{}/api/data/v9.2/{}({id})", root.0, table.entity_set);
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert("OData-EntityId", v);
    }
}

fn row_id(table: &Table, row: &Row) -> Option<uuid::Uuid> {
    row.iter().find_map(|(c, v)| match v {
        Cell::Guid(g) if *c == table.primary_id => Some(*g),
        _ => None,
    })
}

pub(crate) fn write_context(state: &AppState, caller: &Caller) -> WriteContext {
    caller.access(state).write_context()
}

/// Checks that every row the body binds to exists (404 naming it otherwise, as Dataverse), and
/// records a polymorphic lookup's table in its `…typecode` column (an annotation's
/// `objecttypecode`).
async fn check_references(
    state: &AppState,
    access: &Access,
    table: &Table,
    body: &Map<String, Value>,
    row: &mut Row,
) -> Result<(), AppError> {
    for (column, target, id) in table_json::bound_references(&state.catalogue, table, body) {
        // A row the caller may not read is bound to as if absent.
        let found = match access.get(target.clone(), id).await {
            Ok(found) => found,
            Err(AccessError::Api(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if found.is_none() {
            return Err(ApiError::row_not_found(target.logical_name, id).into());
        }
        if column == "objectid" && table.column("objecttypecode").is_some() {
            row.retain(|(c, _)| *c != "objecttypecode");
            row.push(("objecttypecode", Cell::Text(target.logical_name.to_owned())));
        }
    }
    Ok(())
}

/// The answer to a write of `row`: 204 with `OData-EntityId`, or the row with `status` under
/// `Prefer: return=representation`.
pub(crate) async fn written(
    access: &Access,
    root: &Root,
    headers: &HeaderMap,
    table: &Table,
    row: Row,
    status: StatusCode,
) -> Result<Response, AppError> {
    let id = row_id(table, &row).unwrap_or_default();
    let mut resp = if Prefer::from_headers(headers).return_representation() {
        let mut r = entity_response(access, root, table, row, status, None, None).await?;
        preference_applied(&mut r, &["return=representation".to_owned()]);
        r
    } else {
        response::empty(StatusCode::NO_CONTENT)
    };
    entity_id_header(&mut resp, root, table, id);
    Ok(resp)
}

/// `POST /api/data/v9.2/{set}`: 204 with `OData-EntityId`, or 201 with the row under
/// `Prefer: return=representation`.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    table: Arc<Table>,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    writable(&table)?;
    let access = caller.access(state);
    access.authorize(Verb::Create, &table)?;
    let mut row = table_json::row_from_json(&state.catalogue, &table, &body, WriteKind::Create)?;
    check_references(state, &access, &table, &body, &mut row).await?;
    let id = match row_id(&table, &row) {
        Some(id) => id,
        None => {
            let id = uuid::Uuid::new_v4();
            row.insert(0, (table.primary_id, Cell::Guid(id)));
            id
        }
    };
    let stored = match access.insert(table.clone(), row).await? {
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
    debug_assert_eq!(row_id(&table, &stored), Some(id));
    if table.logical_name == "systemuser" {
        caller.audit_change("user_created", &id.to_string(), "");
    }
    written(&access, root, headers, &table, stored, StatusCode::CREATED).await
}

/// `If-Match` / `If-None-Match` on a write.
pub(crate) fn update_mode(headers: &HeaderMap) -> Result<(UpdateMode, bool), ApiError> {
    let if_none_match_any = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "*");
    let Some(v) = headers.get("if-match") else {
        return Ok((UpdateMode::Upsert, if_none_match_any));
    };
    let v = v.to_str().unwrap_or("").trim();
    if v == "*" {
        return Ok((UpdateMode::MustExist, if_none_match_any));
    }
    let inner = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
    let version = inner.parse().map_err(|_| {
        ApiError::bad_syntax(format!(
            "'{v}' is not a valid If-Match value (use * or an @odata.etag)."
        ))
    })?;
    Ok((UpdateMode::IfVersion(version), if_none_match_any))
}

/// `PATCH /api/data/v9.2/{set}({id})`: update, or upsert without `If-Match`.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    headers: &HeaderMap,
    table: Arc<Table>,
    key: &str,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    let id = parse_key(&table, key)?;
    writable(&table)?;
    let (mode, create_only) = update_mode(headers)?;
    let access = caller.access(state);
    // The Write privilege, and a row outside the caller's scope is not found.
    let exists = access.check_update(table.clone(), id).await?;
    if create_only && exists {
        return Err(ApiError::new(
            412,
            ErrorCode::DUPLICATE_RECORD,
            "A record with matching key values already exists.",
        )
        .into());
    }
    // An upsert that creates reads the body as a create: defaults apply, create-only columns
    // may be set.
    let kind = if exists || mode != UpdateMode::Upsert {
        WriteKind::Update
    } else {
        WriteKind::Create
    };
    let mut row = table_json::row_from_json(&state.catalogue, &table, &body, kind)?;
    check_references(state, &access, &table, &body, &mut row).await?;
    let stored = match access.update(table.clone(), id, row, mode).await? {
        UpdateOutcome::Updated(r) | UpdateOutcome::Created(r) => r,
        UpdateOutcome::NotFound => {
            return Err(ApiError::row_not_found(table.logical_name, id).into())
        }
        UpdateOutcome::VersionMismatch => return Err(ApiError::version_mismatch().into()),
    };
    if table.logical_name == "systemuser" {
        // A disabled user's keys stop working on this node at once (other nodes: within the
        // authentication cache's time to live).
        state.auth.forget_all();
        let fields: Vec<&str> = body.keys().map(String::as_str).collect();
        caller.audit_change(
            if exists {
                "user_changed"
            } else {
                "user_created"
            },
            &id.to_string(),
            &fields.join(","),
        );
    }
    written(&access, root, headers, &table, stored, StatusCode::OK).await
}

/// `DELETE /api/data/v9.2/{set}({id})`.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    table: Arc<Table>,
    key: &str,
) -> Result<Response, AppError> {
    let id = parse_key(&table, key)?;
    writable(&table)?;
    if table.logical_name == "systemuser" {
        return Err(ApiError::method_not_allowed(
            "Users cannot be deleted; disable one with PATCH {\"isdisabled\": true}.",
        )
        .into());
    }
    let if_version = match update_mode(headers)?.0 {
        UpdateMode::IfVersion(v) => Some(v),
        _ => None,
    };
    match caller
        .access(state)
        .delete(table.clone(), id, if_version)
        .await?
    {
        DeleteOutcome::Deleted => Ok(response::empty(StatusCode::NO_CONTENT)),
        DeleteOutcome::NotFound => Err(ApiError::row_not_found(table.logical_name, id).into()),
        DeleteOutcome::VersionMismatch => Err(ApiError::version_mismatch().into()),
    }
}
