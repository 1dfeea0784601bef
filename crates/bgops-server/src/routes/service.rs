//! The service surface clients discover before anything else: the service document,
//! `$metadata` (CSDL), `EntityDefinitions`, and `WhoAmI()`.

use std::fmt::Write as _;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::{Cell, Column, ColumnType, Row, Table, TableAccess, Writability};
use bgops_core::odata::{parse, validate};
use bgops_core::table_json;
use bgops_core::{ApiError, CustomApi, ParamType};
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{query_pairs, Root};
use crate::response;
use crate::state::AppState;

/// The business unit every user belongs to (bgops has one); execution contexts name it too.
pub const BUSINESS_UNIT_ID: &str = bgops_core::system_job::BUSINESS_UNIT_ID;
/// The organization id of this service; execution contexts name it too.
pub const ORGANIZATION_ID: &str = bgops_core::system_job::ORGANIZATION_ID;

/// `GET /api/data/v9.2/`: the entity sets.
pub async fn service_document(state: &AppState, root: &Root) -> Response {
    let sets: Vec<Value> = state
        .catalogue
        .tables()
        .iter()
        .map(|t| json!({"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}))
        .collect();
    response::json(
        StatusCode::OK,
        &json!({"@odata.context": format!("{}/api/data/v9.2/$metadata", root.0), "value": sets}),
    )
}

/// `WhoAmI()`.
pub async fn who_am_i(root: &Root, caller: &Caller) -> Response {
    response::json(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", root.0),
            "BusinessUnitId": BUSINESS_UNIT_ID,
            "UserId": caller.0.id.to_string(),
            "OrganizationId": ORGANIZATION_ID,
        }),
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn param_edm(t: ParamType) -> &'static str {
    match t {
        ParamType::Boolean => "Edm.Boolean",
        ParamType::DateTime => "Edm.DateTimeOffset",
        ParamType::Decimal | ParamType::Money => "Edm.Decimal",
        ParamType::Entity | ParamType::EntityReference => "mscrm.crmbaseentity",
        ParamType::EntityCollection => "Collection(mscrm.crmbaseentity)",
        ParamType::Float => "Edm.Double",
        ParamType::Integer | ParamType::Picklist => "Edm.Int32",
        ParamType::String => "Edm.String",
        ParamType::StringArray => "Collection(Edm.String)",
        ParamType::Guid => "Edm.Guid",
    }
}

/// The CSDL document of every table and custom API.
pub fn csdl(catalogue: &Catalogue, apis: &[std::sync::Arc<CustomApi>]) -> String {
    let mut x = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm"><EntityType Name="crmbaseentity" Abstract="true"/>"#,
    );
    for t in catalogue.tables() {
        let _ = write!(
            x,
            r#"<EntityType Name="{}" BaseType="mscrm.crmbaseentity"><Key><PropertyRef Name="{}"/></Key>"#,
            t.logical_name, t.primary_id
        );
        for c in &t.columns {
            let _ = write!(
                x,
                r#"<Property Name="{}" Type="{}"/>"#,
                c.property_name(),
                c.column_type.edm_type()
            );
        }
        for c in &t.columns {
            if let ColumnType::Lookup { targets } = c.column_type {
                for target in targets {
                    let nav = if targets.len() > 1 {
                        format!("{}_{}", c.logical_name, target)
                    } else {
                        c.logical_name.to_owned()
                    };
                    let _ = write!(
                        x,
                        r#"<NavigationProperty Name="{nav}" Type="mscrm.{target}"/>"#
                    );
                }
            }
        }
        x.push_str("</EntityType>");
    }
    for api in apis {
        let kind = if api.is_function {
            "Function"
        } else {
            "Action"
        };
        let _ = write!(x, r#"<{kind} Name="{}">"#, xml_escape(&api.unique_name));
        for p in &api.request_parameters {
            let _ = write!(
                x,
                r#"<Parameter Name="{}" Type="{}" Nullable="{}"/>"#,
                xml_escape(&p.name),
                param_edm(p.param_type),
                p.optional
            );
        }
        if !api.response_properties.is_empty() {
            let _ = write!(
                x,
                r#"<ReturnType Type="mscrm.{}Response" Nullable="false"/>"#,
                xml_escape(&api.unique_name)
            );
        }
        let _ = write!(x, "</{kind}>");
        if !api.response_properties.is_empty() {
            let _ = write!(
                x,
                r#"<ComplexType Name="{}Response">"#,
                xml_escape(&api.unique_name)
            );
            for p in &api.response_properties {
                let _ = write!(
                    x,
                    r#"<Property Name="{}" Type="{}"/>"#,
                    xml_escape(&p.name),
                    param_edm(p.param_type)
                );
            }
            x.push_str("</ComplexType>");
        }
    }
    x.push_str(r#"<EntityContainer Name="System">"#);
    for t in catalogue.tables() {
        let _ = write!(
            x,
            r#"<EntitySet Name="{}" EntityType="mscrm.{}"/>"#,
            t.entity_set, t.logical_name
        );
    }
    for api in apis {
        let kind = if api.is_function {
            "FunctionImport"
        } else {
            "ActionImport"
        };
        let attr = if api.is_function {
            "Function"
        } else {
            "Action"
        };
        let _ = write!(
            x,
            r#"<{kind} Name="{0}" {attr}="mscrm.{0}"/>"#,
            xml_escape(&api.unique_name)
        );
    }
    x.push_str("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    x
}

/// `GET /api/data/v9.2/$metadata`.
pub async fn metadata(state: &AppState) -> Response {
    let apis = state.engine.registry().current_apis().await;
    let mut resp = (StatusCode::OK, csdl(&state.catalogue, &apis)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp.headers_mut()
        .insert("OData-Version", HeaderValue::from_static("4.0"));
    resp
}

/// The columns of the `EntityDefinitions` pseudo-table, so `$select` and `$filter` work the
/// same way as on real tables.
fn entity_definition_table() -> Table {
    const fn ro(logical_name: &'static str, column_type: ColumnType) -> Column {
        Column {
            logical_name,
            column_type,
            writability: Writability::ReadOnly,
            required: false,
        }
    }
    Table {
        logical_name: "entity",
        entity_set: "EntityDefinitions",
        primary_id: "MetadataId",
        primary_name: "LogicalName",
        display_name: "Entity",
        columns: vec![
            ro("MetadataId", ColumnType::PrimaryKey),
            ro("LogicalName", ColumnType::String { max_len: 64 }),
            ro("EntitySetName", ColumnType::String { max_len: 64 }),
            ro("PrimaryIdAttribute", ColumnType::String { max_len: 64 }),
            ro("PrimaryNameAttribute", ColumnType::String { max_len: 64 }),
            ro("SchemaName", ColumnType::String { max_len: 64 }),
            ro("LogicalCollectionName", ColumnType::String { max_len: 64 }),
            ro(
                "IsReadOnlyInWebApi",
                ColumnType::Boolean {
                    true_label: "Yes",
                    false_label: "No",
                },
            ),
        ],
        access: TableAccess::ReadOnly,
    }
}

/// A stable id for a table's metadata.
fn metadata_id(t: &Table) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, t.logical_name.as_bytes())
}

fn entity_definition_row(t: &Table) -> Row {
    vec![
        ("MetadataId", Cell::Guid(metadata_id(t))),
        ("LogicalName", Cell::Text(t.logical_name.into())),
        ("EntitySetName", Cell::Text(t.entity_set.into())),
        ("PrimaryIdAttribute", Cell::Text(t.primary_id.into())),
        ("PrimaryNameAttribute", Cell::Text(t.primary_name.into())),
        ("SchemaName", Cell::Text(t.logical_name.into())),
        ("LogicalCollectionName", Cell::Text(t.entity_set.into())),
        (
            "IsReadOnlyInWebApi",
            Cell::Bool(t.access != TableAccess::ReadWrite),
        ),
    ]
}

fn render_definition(def: &Table, row: Row, select: Option<&[Column]>) -> Map<String, Value> {
    let row: Row = match select {
        Some(cols) => row
            .into_iter()
            .filter(|(c, _)| cols.iter().any(|s| s.logical_name == *c))
            .collect(),
        None => row,
    };
    let none = |_: &Column, _: &Cell| None;
    table_json::row_to_json(
        def,
        &row,
        &table_json::RenderOptions {
            annotations: None,
            lookup_label: &none,
        },
    )
}

/// `GET /api/data/v9.2/EntityDefinitions?$select=…&$filter=…`.
pub async fn entity_definitions(
    state: &AppState,
    root: &Root,
    query: Option<&str>,
) -> Result<Response, AppError> {
    let def = entity_definition_table();
    let pairs = query.map(query_pairs).unwrap_or_default();
    let options = parse::parse_options(&pairs)?;
    let plan = validate::plan(&def, &options)?;
    let select = plan.explicit_select.then_some(&plan.select[..]);
    let mut rows = Vec::new();
    for t in state.catalogue.tables() {
        let row = entity_definition_row(t);
        if plan
            .filter
            .as_ref()
            .is_none_or(|f| bgops_core::odata::eval::matches(f, &row))
        {
            rows.push(Value::Object(render_definition(&def, row, select)));
        }
    }
    let context = match select {
        Some(cols) => format!(
            "{}/api/data/v9.2/$metadata#EntityDefinitions({})",
            root.0,
            cols.iter()
                .map(|c| c.logical_name)
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => format!("{}/api/data/v9.2/$metadata#EntityDefinitions", root.0),
    };
    Ok(response::json(
        StatusCode::OK,
        &json!({"@odata.context": context, "value": rows}),
    ))
}

/// `GET /api/data/v9.2/EntityDefinitions(LogicalName='account')` (or by MetadataId).
pub async fn entity_definition(
    state: &AppState,
    root: &Root,
    key: &str,
    query: Option<&str>,
    _headers: &HeaderMap,
) -> Result<Response, AppError> {
    let def = entity_definition_table();
    let table = match key
        .strip_prefix("LogicalName=")
        .map(|k| k.trim_matches('\''))
    {
        Some(name) => state.catalogue.by_logical_name(name),
        None => state
            .catalogue
            .tables()
            .iter()
            .find(|t| metadata_id(t).to_string() == key.trim())
            .cloned(),
    }
    .ok_or_else(|| {
        ApiError::new(
            404,
            bgops_core::ErrorCode::NOT_FOUND,
            format!("Could not find an entity with key {key}."),
        )
    })?;
    let pairs = query.map(query_pairs).unwrap_or_default();
    let options = parse::parse_options(&pairs)?;
    let plan = validate::plan(&def, &options)?;
    let select = plan.explicit_select.then_some(&plan.select[..]);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/api/data/v9.2/$metadata#EntityDefinitions/$entity",
            root.0
        )),
    );
    body.extend(render_definition(
        &def,
        entity_definition_row(&table),
        select,
    ));
    Ok(response::json(StatusCode::OK, &Value::Object(body)))
}
