//! The service surface clients discover before anything else: the service document,
//! `$metadata` (CSDL) and `WhoAmI()`. `EntityDefinitions` has its own module.

use std::fmt::Write as _;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bgops_core::catalogue::Catalogue;
use bgops_core::entity_metadata::csdl as metadata_csdl;
use bgops_core::metadata::ColumnType;
use bgops_core::{CustomApi, ParamType};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::extract::Root;
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
            "UserId": caller.principal.id.to_string(),
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
    x.push_str(&metadata_csdl::metadata_types());
    x.push_str(r#"<EntityContainer Name="System">"#);
    x.push_str(metadata_csdl::ENTITY_SET);
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
