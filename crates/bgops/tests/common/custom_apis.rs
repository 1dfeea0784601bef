//! Custom APIs defined as data over the Web API, for the tests that need one: the Echo plug-in
//! bound to a deep-inserted definition, as the Dataverse documentation writes it.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::Server;

pub const API: &str = "/api/data/v9.2";
pub const ECHO_PLUGIN: &str = "Bgops.Diagnostics.Echo";

/// The rows of `set` matching `filter` (URL-encoded by the caller where needed).
pub async fn rows(s: &Server, set: &str, filter: &str) -> Vec<Value> {
    let resp = s
        .req(Method::GET, &format!("{API}/{set}?$filter={filter}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET {set}");
    let body: Value = resp.json().await.unwrap();
    body["value"].as_array().cloned().unwrap_or_default()
}

/// The id of the plug-in type registered as `typename`.
pub async fn plugin_type_id(s: &Server, typename: &str) -> String {
    let found = rows(s, "plugintypes", &format!("typename%20eq%20'{typename}'")).await;
    assert_eq!(found.len(), 1, "plug-in type {typename}: {found:?}");
    found[0]["plugintypeid"].as_str().unwrap().to_owned()
}

/// The id in an `OData-EntityId` header.
pub fn entity_id(resp: &Response) -> String {
    let url = resp.headers()["odata-entityid"].to_str().unwrap();
    let start = url.rfind('(').unwrap() + 1;
    url[start..url.len() - 1].to_owned()
}

pub async fn post(s: &Server, path: &str, body: &Value) -> Response {
    s.req(Method::POST, &format!("{API}/{path}"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A deep-insert body for an action bound to `plugin`, as the Dataverse documentation writes it.
pub fn echo_api(name: &str, plugin: &str) -> Value {
    json!({
        "uniquename": name,
        "name": name,
        "displayname": "Echo, defined as data",
        "description": "Echoes Text and Number.",
        "bindingtype": 0,
        "isfunction": false,
        "isprivate": false,
        "allowedcustomprocessingsteptype": 0,
        "executeprivilegename": null,
        "PluginTypeId@odata.bind": format!("plugintypes({plugin})"),
        "CustomAPIRequestParameters": [
            {"uniquename": "Text", "name": "Text", "displayname": "Text",
             "description": "Some text", "type": 10, "isoptional": false},
            {"uniquename": "Number", "name": "Number", "displayname": "Number",
             "type": 7, "isoptional": true, "logicalentityname": null}
        ],
        "CustomAPIResponseProperties": [
            {"uniquename": "Text", "name": "Text", "displayname": "Text", "type": 10},
            {"uniquename": "Number", "name": "Number", "displayname": "Number", "type": 7}
        ]
    })
}

/// Creates `echo_api(name)` bound to the Echo plug-in; returns its id.
pub async fn create_echo(s: &Server, name: &str) -> String {
    let plugin = plugin_type_id(s, ECHO_PLUGIN).await;
    let resp = post(s, "customapis", &echo_api(name, &plugin)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "create {name}");
    entity_id(&resp)
}

/// Creates action `name` anyone may run, on built-in `plugin`, with one required input
/// `param` (name, type code) and one response property `out` of the same type.
pub async fn create_api(s: &Server, name: &str, plugin: &str, param: (&str, i64), out: &str) {
    let plugin = plugin_type_id(s, plugin).await;
    let resp = post(
        s,
        "customapis",
        &json!({
            "uniquename": name, "name": name, "displayname": name, "bindingtype": 0,
            "isfunction": false, "isprivate": false, "allowedcustomprocessingsteptype": 0,
            "executeprivilegename": null,
            "PluginTypeId@odata.bind": format!("plugintypes({plugin})"),
            "CustomAPIRequestParameters": [
                {"uniquename": param.0, "name": param.0, "displayname": param.0,
                 "type": param.1, "isoptional": false}
            ],
            "CustomAPIResponseProperties": [
                {"uniquename": out, "name": out, "displayname": out, "type": param.1}
            ]
        }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "create {name}");
}
