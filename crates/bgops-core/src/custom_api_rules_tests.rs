//! Unit tests of the custom API definition rules: one or more per rule.

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::custom_api_rows::PLUGIN_TYPE;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn plugin_row(typename: &str, source: Source) -> Row {
    let mut row: Row = vec![
        (
            "plugintypeid",
            Cell::Guid(stable_id(DefinitionKind::PluginType, typename)),
        ),
        ("typename", Cell::Text(typename.into())),
    ];
    set(&mut row, SOURCE_COLUMN, source.cell());
    row
}

fn api_row(name: &str, plugin: Option<&str>) -> Row {
    let mut row: Row = vec![
        (
            "customapiid",
            Cell::Guid(stable_id(DefinitionKind::CustomApi, name)),
        ),
        ("uniquename", Cell::Text(name.into())),
    ];
    if let Some(p) = plugin {
        row.push((
            "plugintypeid",
            Cell::Guid(stable_id(DefinitionKind::PluginType, p)),
        ));
    }
    prepare_api(&mut row, Source::WebApi);
    row
}

fn child(kind: DefinitionKind, api: &Row, name: &str, ty: i64) -> Row {
    let mut row: Row = vec![
        (kind.primary_id(), Cell::Guid(Uuid::new_v4())),
        ("uniquename", Cell::Text(name.into())),
        ("type", Cell::Int(ty)),
    ];
    prepare_child(kind, &mut row, api);
    row
}

struct World {
    rows: DefinitionRows,
    builtin: Vec<String>,
    native: Vec<String>,
}

impl World {
    fn new() -> Self {
        Self {
            rows: DefinitionRows {
                plugin_types: vec![plugin_row("Contoso.Do", Source::WebApi)],
                ..DefinitionRows::default()
            },
            builtin: vec!["bgops_Echo".into()],
            native: vec!["Bgops.Diagnostics.Echo".into()],
        }
    }

    fn facts(&self) -> RuleFacts<'_> {
        RuleFacts {
            rows: &self.rows,
            builtin_apis: &self.builtin,
            native_plugin_types: &self.native,
            url_policy: UrlPolicy::default(),
        }
    }
}

fn message(r: Result<(), ApiError>) -> String {
    let e = r.expect_err("refused");
    assert_eq!(e.status, 400, "{e}");
    e.message
}

#[test]
fn unique_name_pattern() {
    for ok in ["contoso_DoWork", "a_b", "new1_Api2", "X_1"] {
        assert!(is_valid_api_name(ok), "{ok}");
    }
    for bad in [
        "DoWork", "_x", "1a_x", "a_", "a_b_c", "a-b_c", "a_b c", "a_bé", "", "a__b",
    ] {
        assert!(!is_valid_api_name(bad), "{bad}");
    }
    let w = World::new();
    let api = api_row("NoPrefix", Some("Contoso.Do"));
    let m = message(check_new_api(&w.facts(), &api, &[], &[]));
    assert_eq!(
        m,
        "'NoPrefix' is not a valid custom API unique name: it must start with a customization prefix and an underscore, followed by letters and digits only (for example contoso_DoWork)."
    );
}

#[test]
fn parameter_names() {
    assert!(is_valid_parameter_name("FetchXml"));
    assert!(is_valid_parameter_name("_x1"));
    assert!(!is_valid_parameter_name("1x"));
    assert!(!is_valid_parameter_name("a b"));
    assert!(!is_valid_parameter_name("@p"));
    let w = World::new();
    let api = api_row("contoso_Do", Some("Contoso.Do"));
    let p = child(DefinitionKind::RequestParameter, &api, "a-b", 10);
    let m = message(check_new_api(&w.facts(), &api, &[p], &[]));
    assert!(m.contains("'a-b' is not a valid unique name"), "{m}");
}

#[test]
fn names_are_unique_across_apis_and_within_an_api() {
    let mut w = World::new();
    w.rows
        .apis
        .push(api_row("contoso_Taken", Some("Contoso.Do")));
    let api = api_row("CONTOSO_TAKEN", Some("Contoso.Do"));
    let e = check_new_api(&w.facts(), &api, &[], &[]).unwrap_err();
    assert_eq!(e.code, ErrorCode::DUPLICATE_RECORD);
    assert_eq!(
        e.message,
        "A custom API with the unique name CONTOSO_TAKEN already exists."
    );

    let api = api_row("contoso_New", Some("Contoso.Do"));
    let a = child(DefinitionKind::RequestParameter, &api, "Text", 10);
    let b = child(DefinitionKind::RequestParameter, &api, "text", 7);
    let m = message(check_new_api(&w.facts(), &api, &[a.clone(), b], &[]));
    assert_eq!(
        m,
        "Custom API contoso_New cannot have two custom API request parameters named text."
    );
    // A request parameter and a response property may share a name.
    let r = child(DefinitionKind::ResponseProperty, &api, "Text", 10);
    check_new_api(&w.facts(), &api, &[a], &[r]).unwrap();

    // Added on its own, a parameter must be new within its API.
    let taken = api_row("contoso_Taken", Some("Contoso.Do"));
    w.rows
        .request_parameters
        .push(child(DefinitionKind::RequestParameter, &taken, "Text", 10));
    let extra = child(DefinitionKind::RequestParameter, &taken, "TEXT", 10);
    let m = message(check_new_child(
        &w.facts(),
        DefinitionKind::RequestParameter,
        &extra,
        &taken,
    ));
    assert_eq!(
        m,
        "Custom API contoso_Taken already has a custom API request parameter named TEXT."
    );
}

#[test]
fn builtin_names_cannot_be_taken() {
    let w = World::new();
    for name in ["bgops_Echo", "BGOPS_ECHO"] {
        let api = api_row(name, Some("Contoso.Do"));
        let m = message(check_new_api(&w.facts(), &api, &[], &[]));
        assert_eq!(
            m,
            format!(
                "The unique name {name} belongs to a custom API built into bgops and cannot be used."
            )
        );
    }
}

#[test]
fn types_are_0_to_12() {
    let m = message(check_body(
        DefinitionKind::RequestParameter,
        &obj(json!({"uniquename": "X", "type": 13})),
    ));
    assert!(
        m.starts_with("13 is not a valid type for a custom API request parameter: use 0 (Boolean)"),
        "{m}"
    );
    check_body(
        DefinitionKind::ResponseProperty,
        &obj(json!({"uniquename": "X", "type": 12})),
    )
    .unwrap();
    let w = World::new();
    let api = api_row("contoso_Do", Some("Contoso.Do"));
    let mut p = child(DefinitionKind::RequestParameter, &api, "X", 0);
    p.retain(|(c, _)| *c != "type");
    let m = message(check_new_api(&w.facts(), &api, &[p], &[]));
    assert_eq!(
        m,
        "The custom API request parameter X needs a type from 0 (Boolean) to 12 (Guid)."
    );
}

#[test]
fn only_global_binding() {
    let m = message(check_body(
        DefinitionKind::CustomApi,
        &obj(json!({"bindingtype": 1})),
    ));
    assert_eq!(
        m,
        "bindingtype 1 (Entity) is not supported: bgops runs global custom APIs only (bindingtype 0)."
    );
    check_body(DefinitionKind::CustomApi, &obj(json!({"bindingtype": 0}))).unwrap();
    let w = World::new();
    let mut api = api_row("contoso_Do", Some("Contoso.Do"));
    set(&mut api, "bindingtype", Cell::Int(2));
    let m = message(check_new_api(&w.facts(), &api, &[], &[]));
    assert!(m.starts_with("bindingtype 2 (EntityCollection)"), "{m}");
}

#[test]
fn a_function_needs_a_response_property() {
    let w = World::new();
    let mut api = api_row("contoso_Fn", Some("Contoso.Do"));
    set(&mut api, "isfunction", Cell::Bool(true));
    let m = message(check_new_api(&w.facts(), &api, &[], &[]));
    assert_eq!(
        m,
        "Custom API contoso_Fn is a function, and a function must have at least one response property."
    );
    let r = child(DefinitionKind::ResponseProperty, &api, "Out", 10);
    check_new_api(&w.facts(), &api, &[], std::slice::from_ref(&r)).unwrap();

    // Its last response property cannot be deleted.
    let mut w = World::new();
    w.rows.apis.push(api.clone());
    w.rows.response_properties.push(r.clone());
    let m = message(check_delete(
        &w.facts(),
        DefinitionKind::ResponseProperty,
        &r,
    ));
    assert_eq!(
        m,
        "Custom API contoso_Fn is a function, and a function must keep at least one response property."
    );
}

#[test]
fn the_bound_plugin_must_exist() {
    let w = World::new();
    let api = api_row("contoso_Do", None);
    let m = message(check_new_api(&w.facts(), &api, &[], &[]));
    assert_eq!(
        m,
        "Custom API contoso_Do needs a plug-in: bind one with \"PluginTypeId@odata.bind\": \"plugintypes(<plugintypeid>)\"."
    );
    let api = api_row("contoso_Do", Some("Nope"));
    let m = message(check_new_api(&w.facts(), &api, &[], &[]));
    assert!(m.starts_with("The plug-in type with id "), "{m}");
    assert!(m.ends_with("bound to custom API contoso_Do does not exist: create it with POST plugintypes, or bind an existing one."), "{m}");

    // Rebinding is allowed, to a plug-in type that exists.
    let mut w = World::new();
    let api = api_row("contoso_Do", Some("Contoso.Do"));
    w.rows.apis.push(api.clone());
    let id = stable_id(DefinitionKind::PluginType, "Other");
    let changes: Row = vec![("plugintypeid", Cell::Guid(id))];
    message(check_update(
        &w.facts(),
        DefinitionKind::CustomApi,
        &api,
        &changes,
    ));
    w.rows
        .plugin_types
        .push(plugin_row("Other", Source::WebApi));
    check_update(&w.facts(), DefinitionKind::CustomApi, &api, &changes).unwrap();
}

#[test]
fn immutable_columns_cannot_change() {
    let w = World::new();
    let api = api_row("contoso_Do", Some("Contoso.Do"));
    let same: Row = vec![("uniquename", Cell::Text("contoso_Do".into()))];
    check_update(&w.facts(), DefinitionKind::CustomApi, &api, &same).unwrap();
    for (column, value) in [
        ("uniquename", Cell::Text("contoso_Other".into())),
        ("isfunction", Cell::Bool(true)),
        ("bindingtype", Cell::Int(1)),
        ("allowedcustomprocessingsteptype", Cell::Int(2)),
    ] {
        let changes: Row = vec![(column, value)];
        let m = message(check_update(
            &w.facts(),
            DefinitionKind::CustomApi,
            &api,
            &changes,
        ));
        assert_eq!(
            m,
            format!("The {column} of a custom API cannot be changed once it is created.")
        );
    }
    let mutable: Row = vec![
        ("displayname", Cell::Text("New".into())),
        ("isprivate", Cell::Bool(true)),
    ];
    check_update(&w.facts(), DefinitionKind::CustomApi, &api, &mutable).unwrap();
    let p = child(DefinitionKind::RequestParameter, &api, "X", 10);
    for column in ["type", "isoptional", "uniquename", "customapiid"] {
        let value = match column {
            "type" => Cell::Int(7),
            "isoptional" => Cell::Bool(true),
            "customapiid" => Cell::Guid(Uuid::new_v4()),
            _ => Cell::Text("Y".into()),
        };
        let m = message(check_update(
            &w.facts(),
            DefinitionKind::RequestParameter,
            &p,
            &vec![(column, value)],
        ));
        assert!(
            m.starts_with(&format!("The {column} of a custom API request parameter")),
            "{m}"
        );
    }
    let plugin = plugin_row("Contoso.Do", Source::WebApi);
    let m = message(check_update(
        &w.facts(),
        DefinitionKind::PluginType,
        &plugin,
        &vec![("typename", Cell::Text("Other".into()))],
    ));
    assert_eq!(
        m,
        "The typename of a plug-in type cannot be changed once it is created."
    );
}

#[test]
fn plugin_types() {
    let w = World::new();
    let mut row: Row = vec![("plugintypeid", Cell::Guid(Uuid::new_v4()))];
    prepare_plugin_type(&mut row, Source::WebApi);
    assert_eq!(
        message(check_new_plugin_type(&w.facts(), &row)),
        "A plug-in type needs a typename."
    );
    for taken in ["contoso.do", "Bgops.Diagnostics.Echo"] {
        let row: Row = vec![("typename", Cell::Text(taken.into()))];
        let e = check_new_plugin_type(&w.facts(), &row).unwrap_err();
        assert_eq!(e.code, ErrorCode::DUPLICATE_RECORD, "{taken}");
    }
    let ok: Row = vec![
        ("typename", Cell::Text("Contoso.Http".into())),
        (
            ENDPOINT_COLUMN,
            Cell::Text("https://plugins.contoso.example/run".into()),
        ),
    ];
    check_new_plugin_type(&w.facts(), &ok).unwrap();
    for bad in [
        "http://plugins.contoso.example/run",
        "https://127.0.0.1/x",
        "not a url",
    ] {
        let row: Row = vec![
            ("typename", Cell::Text("Contoso.Http".into())),
            (ENDPOINT_COLUMN, Cell::Text(bad.into())),
        ];
        let m = message(check_new_plugin_type(&w.facts(), &row));
        assert!(
            m.starts_with("The bgops_endpointurl of a plug-in type is not accepted: "),
            "{m}"
        );
    }
    // A plug-in type in use cannot be deleted.
    let mut w = World::new();
    w.rows.apis.push(api_row("contoso_Do", Some("Contoso.Do")));
    let m = message(check_delete(
        &w.facts(),
        DefinitionKind::PluginType,
        &w.rows.plugin_types[0].clone(),
    ));
    assert_eq!(
        m,
        "The plug-in type Contoso.Do is used by custom API contoso_Do: delete the custom API or bind it to another plug-in type first."
    );
    assert_eq!(
        DefinitionKind::of_table(PLUGIN_TYPE),
        Some(DefinitionKind::PluginType)
    );
}

#[test]
fn declared_and_builtin_rows_are_not_changed_over_the_web_api() {
    let w = World::new();
    let mut api = api_row("contoso_File", Some("Contoso.Do"));
    set(&mut api, SOURCE_COLUMN, Source::File.cell());
    let m = message(check_delete(&w.facts(), DefinitionKind::CustomApi, &api));
    assert_eq!(
        m,
        "The custom API contoso_File is declared in the custom API file of bgops serve (--custom-apis); change it there."
    );
    let p = child(DefinitionKind::RequestParameter, &api, "X", 10);
    assert_eq!(Source::of(&p), Source::File);
    message(check_new_child(
        &w.facts(),
        DefinitionKind::RequestParameter,
        &p,
        &api,
    ));
    let native = plugin_row("Bgops.Diagnostics.Echo", Source::Native);
    let m = message(check_update(
        &w.facts(),
        DefinitionKind::PluginType,
        &native,
        &vec![("name", Cell::Text("x".into()))],
    ));
    assert_eq!(
        m,
        "The plug-in type Bgops.Diagnostics.Echo is built into bgops (registered in code) and cannot be changed over the Web API."
    );
}

#[test]
fn deep_insert_is_split() {
    let body = obj(json!({
        "uniquename": "contoso_Do",
        "PluginTypeId@odata.bind": "plugintypes(00000000-0000-0000-0000-000000000001)",
        "CustomAPIRequestParameters": [{"uniquename": "A", "type": 10}],
        "CustomAPIResponseProperties": [{"uniquename": "B", "type": 12}, {"uniquename": "C", "type": 0}],
    }));
    let d = split_deep_insert(&body).unwrap();
    assert_eq!(d.api.len(), 2);
    assert_eq!(d.request_parameters.len(), 1);
    assert_eq!(d.response_properties.len(), 2);
    let bad = obj(json!({"CustomAPIRequestParameters": {"uniquename": "A"}}));
    assert_eq!(split_deep_insert(&bad).unwrap_err().status, 400);
    let bound = obj(json!({"CustomAPIRequestParameters": [
        {"uniquename": "A", "type": 10, "CustomAPIId@odata.bind": "customapis(00000000-0000-0000-0000-000000000001)"}
    ]}));
    assert_eq!(split_deep_insert(&bound).unwrap_err().status, 400);
}

#[test]
fn children_get_defaults_from_their_api() {
    let api = api_row("contoso_Do", Some("Contoso.Do"));
    let p = child(DefinitionKind::RequestParameter, &api, "Text", 10);
    assert_eq!(text(&p, "name"), Some("contoso_Do.Text"));
    assert_eq!(text(&p, "displayname"), Some("Text"));
    assert_eq!(boolean(&p, "isoptional"), Some(false));
    assert_eq!(guid(&p, "customapiid"), guid(&api, "customapiid"));
    assert_eq!(text(&api, "name"), Some("contoso_Do"));
    assert_eq!(int(&api, "bindingtype"), Some(0));
    assert_eq!(boolean(&api, "isfunction"), Some(false));
}
