//! `EntityDefinitions` over HTTP (SPEC §6): the tables, one table by `LogicalName` or
//! `MetadataId` (with `$expand=Attributes(...)`), its `Attributes`, one attribute, and the
//! casts to an attribute metadata type with `$expand=OptionSet`. The metadata itself is built
//! in `bgops_core::entity_metadata`; this module reads the URL and sends the answer.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use bgops_core::entity_metadata::query::{take_expand, AttributeQuery};
use bgops_core::entity_metadata::types::MetadataType;
use bgops_core::entity_metadata::{entity_definition_row, entity_definition_table, MetadataKey};
use bgops_core::metadata::{Column, Row, Table};
use bgops_core::odata::expand::parse_expand;
use bgops_core::odata::{eval, parse, validate};
use bgops_core::{table_json, ApiError, ErrorCode};
use serde_json::{json, Map, Value};

use crate::error::AppError;
use crate::extract::{query_pairs, Root};
use crate::response;
use crate::state::AppState;

fn render_definition(def: &Table, row: Row, select: Option<&[Column]>) -> Map<String, Value> {
    let row: Row = match select {
        Some(cols) => row
            .into_iter()
            .filter(|(c, _)| cols.iter().any(|s| s.logical_name == *c))
            .collect(),
        None => row,
    };
    let none = |_: &Column, _: &bgops_core::metadata::Cell| None;
    table_json::row_to_json(
        def,
        &row,
        &table_json::RenderOptions {
            annotations: None,
            lookup_label: &none,
        },
    )
}

/// The checked options of a request on `EntityDefinitions`: the table-like `$select` and
/// `$filter`, and `$expand=Attributes(...)`.
struct EntityQuery {
    def: Table,
    plan: bgops_core::odata::plan::QueryPlan,
    attributes: Option<AttributeQuery>,
}

impl EntityQuery {
    fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let pairs = query.map(query_pairs).unwrap_or_default();
        let (rest, expand) = take_expand(&pairs)?;
        let def = entity_definition_table();
        let options = parse::parse_options(&rest)?;
        let plan = validate::plan(&def, &options)?;
        let mut attributes = None;
        if let Some(text) = expand {
            for item in parse_expand(&text)? {
                if item.property != "Attributes" {
                    let shown: String = item.property.chars().take(128).collect();
                    return Err(ApiError::bad_syntax(format!(
                        "Could not find a property named '{shown}' on type 'Microsoft.Dynamics.CRM.EntityMetadata'."
                    )));
                }
                attributes = Some(AttributeQuery::parse(&item.options, MetadataType::base())?);
            }
        }
        Ok(Self {
            def,
            plan,
            attributes,
        })
    }

    fn select(&self) -> Option<&[Column]> {
        self.plan.explicit_select.then_some(&self.plan.select[..])
    }

    fn render(&self, table: &Table) -> Map<String, Value> {
        let mut body = render_definition(&self.def, entity_definition_row(table), self.select());
        if let Some(q) = &self.attributes {
            body.insert("Attributes".into(), Value::Array(q.render_all(table)));
        }
        body
    }

    /// The `(…)` of `@odata.context`, if anything was selected or expanded.
    fn context_properties(&self) -> String {
        let mut parts: Vec<String> = self
            .select()
            .map(|cols| cols.iter().map(|c| c.logical_name.to_owned()).collect())
            .unwrap_or_default();
        if let Some(q) = &self.attributes {
            parts.push(format!(
                "Attributes{}",
                q.context_properties().unwrap_or_else(|| "()".into())
            ));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("({})", parts.join(","))
        }
    }
}

/// `GET /api/data/v9.2/EntityDefinitions?$select=…&$filter=…&$expand=Attributes(…)`.
pub async fn collection(
    state: &AppState,
    root: &Root,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let q = EntityQuery::parse(query)?;
    let mut rows = Vec::new();
    for t in state.catalogue.tables() {
        let row = entity_definition_row(t);
        if q.plan
            .filter
            .as_ref()
            .is_none_or(|f| eval::matches(f, &row))
        {
            rows.push(Value::Object(q.render(t)));
        }
    }
    let context = format!(
        "{}/api/data/v9.2/$metadata#EntityDefinitions{}",
        root.0,
        q.context_properties()
    );
    Ok(response::json(
        StatusCode::OK,
        &json!({"@odata.context": context, "value": rows}),
    ))
}

/// The table a key segment names: 400 for a key of neither form, 404 for no such table.
fn find_table(state: &AppState, key: &str) -> Result<Arc<Table>, ApiError> {
    let parsed = MetadataKey::parse(key).ok_or_else(|| {
        ApiError::bad_syntax(format!(
            "The key '{}' of EntityDefinitions is not valid: write LogicalName='name' or a MetadataId.",
            key.chars().take(128).collect::<String>()
        ))
    })?;
    state
        .catalogue
        .tables()
        .iter()
        .find(|t| parsed.names_table(t))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                404,
                ErrorCode::NOT_FOUND,
                format!("Could not find an entity with key {key}."),
            )
        })
}

/// `GET /api/data/v9.2/EntityDefinitions(LogicalName='account')` (or by MetadataId).
pub async fn entity(
    state: &AppState,
    root: &Root,
    key: &str,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let table = find_table(state, key)?;
    let q = EntityQuery::parse(query)?;
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/api/data/v9.2/$metadata#EntityDefinitions{}/$entity",
            root.0,
            q.context_properties()
        )),
    );
    body.extend(q.render(&table));
    Ok(response::json(StatusCode::OK, &Value::Object(body)))
}

/// `GET /api/data/v9.2/EntityDefinitions({key})/{rest}`: `Attributes`, `Attributes({key})`,
/// each optionally followed by a cast (`/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`).
pub async fn nested(
    state: &AppState,
    root: &Root,
    key: &str,
    rest: &str,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let table = find_table(state, key)?;
    let mut parts = rest.split('/');
    let first = parts.next().unwrap_or_default();
    let (name, attribute_key) = match first.split_once('(') {
        Some((name, k)) if k.ends_with(')') => (name, Some(&k[..k.len() - 1])),
        _ => (first, None),
    };
    if name != "Attributes" {
        return Err(ApiError::unknown_segment(first).into());
    }
    let cast = match parts.next() {
        None | Some("") => MetadataType::base(),
        Some(segment) => {
            MetadataType::from_cast(segment).ok_or_else(|| ApiError::unknown_segment(segment))?
        }
    };
    if let Some(extra) = parts.find(|p| !p.is_empty()) {
        return Err(ApiError::unknown_segment(extra).into());
    }
    let pairs = query.map(query_pairs).unwrap_or_default();
    let cast_path = if cast.base.is_some() {
        format!("/{}", cast.qualified())
    } else {
        String::new()
    };
    let context_base = format!(
        "{}/api/data/v9.2/$metadata#EntityDefinitions({key})/Attributes{cast_path}",
        root.0
    );
    match attribute_key {
        None => {
            let q = AttributeQuery::parse(&pairs, cast)?;
            let context = format!(
                "{context_base}{}",
                q.context_properties().unwrap_or_default()
            );
            Ok(response::json(
                StatusCode::OK,
                &json!({"@odata.context": context, "value": q.render_all(&table)}),
            ))
        }
        Some(attribute_key) => {
            if pairs.iter().any(|(n, _)| n == "$filter") {
                return Err(ApiError::bad_syntax(
                    "The query option '$filter' applies to collections; this URL names one attribute.",
                )
                .into());
            }
            let q = AttributeQuery::parse(&pairs, cast)?;
            let column = MetadataKey::parse(attribute_key)
                .and_then(|k| k.find_column(&table).copied())
                .ok_or_else(|| {
                    ApiError::new(
                        404,
                        ErrorCode::NOT_FOUND,
                        format!(
                            "Could not find an attribute with key {attribute_key} on the entity '{}'.",
                            table.logical_name
                        ),
                    )
                })?;
            let mut body = Map::new();
            body.insert(
                "@odata.context".into(),
                Value::String(format!(
                    "{context_base}{}/$entity",
                    q.context_properties().unwrap_or_default()
                )),
            );
            let rendered = q.render(&table, &column).ok_or_else(|| {
                ApiError::new(
                    404,
                    ErrorCode::NOT_FOUND,
                    format!(
                        "The attribute '{}' of the entity '{}' is a {}, not a {}.",
                        column.logical_name,
                        table.logical_name,
                        MetadataType::of_column(&column).qualified(),
                        cast.qualified()
                    ),
                )
            })?;
            body.extend(rendered);
            Ok(response::json(StatusCode::OK, &Value::Object(body)))
        }
    }
}
