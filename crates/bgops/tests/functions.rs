//! Functions (custom APIs with `isfunction`), black-box: `GET {name}(P=@p)?@p=…` with
//! parameter aliases and inline OData literals, `GET {name}()`, synchronously and with
//! `Prefer: respond-async`; the wrong method is an unknown segment, as in Dataverse.

mod common;

use std::time::Duration;

use common::Server;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/data/v9.2";

async fn echo_plugin(s: &Server) -> String {
    let resp = s
        .req(
            Method::GET,
            &format!("{API}/plugintypes?$filter=typename%20eq%20'Bgops.Diagnostics.Echo'&$select=plugintypeid"),
        )
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    body["value"][0]["plugintypeid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Creates function `contoso_Echo` (Text required; Number, Flag, When, Id optional) run by the
/// Echo plug-in, which answers its inputs.
async fn create_function(s: &Server) {
    let plugin = echo_plugin(s).await;
    let body = json!({
        "uniquename": "contoso_EchoFn",
        "name": "Echo function",
        "displayname": "Echo function",
        "isfunction": true,
        "PluginTypeId@odata.bind": format!("plugintypes({plugin})"),
        "CustomAPIRequestParameters": [
            {"uniquename": "Text", "type": 10, "isoptional": false},
            {"uniquename": "Number", "type": 7, "isoptional": true},
            {"uniquename": "Flag", "type": 0, "isoptional": true},
            {"uniquename": "When", "type": 1, "isoptional": true},
            {"uniquename": "Id", "type": 12, "isoptional": true}
        ],
        "CustomAPIResponseProperties": [
            {"uniquename": "Text", "type": 10},
            {"uniquename": "Number", "type": 7},
            {"uniquename": "Flag", "type": 0},
            {"uniquename": "When", "type": 1},
            {"uniquename": "Id", "type": 12}
        ]
    });
    let resp = s
        .req(Method::POST, &format!("{API}/customapis"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

async fn get(s: &Server, path_and_query: &str) -> Response {
    s.req(Method::GET, &format!("{API}/{path_and_query}"))
        .send()
        .await
        .unwrap()
}

async fn error(resp: Response, status: u16, what: &str) -> (String, String) {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{what}: {body}");
    (
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

const ID: &str = "3aadf856-1939-49d5-a1e0-870d76edefb2";

#[tokio::test]
async fn a_function_with_aliases_runs_synchronously() {
    let s = Server::start(common::FAST);
    create_function(&s).await;
    let resp = get(
        &s,
        &format!("contoso_EchoFn(Text=@t,Number=@n,Flag=@f,When=@w,Id=@id)?@t='it''s%20a%20test,%20really'&@n=42&@f=true&@w=2024-05-01T10:00:00Z&@id={ID}"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}{API}/$metadata#Microsoft.Dynamics.CRM.contoso_EchoFnResponse",
            s.base
        )
    );
    assert_eq!(body["Text"], "it's a test, really");
    assert_eq!(body["Number"], 42);
    assert_eq!(body["Flag"], true);
    assert_eq!(body["When"], "2024-05-01T10:00:00Z");
    assert_eq!(body["Id"], ID);

    // Inline literals, and a mix.
    let resp = get(&s, "contoso_EchoFn(Text='inline',Number=-7)").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["Text"], "inline");
    assert_eq!(body["Number"], -7);
    assert!(body.get("Flag").is_none(), "{body}");
}

#[tokio::test]
async fn a_function_runs_in_the_background_with_respond_async() {
    let s = Server::start(common::FAST);
    create_function(&s).await;
    let resp = s
        .req(
            Method::GET,
            &format!("{API}/contoso_EchoFn(Text=@t,Number=@n)?@t='later'&@n=5"),
        )
        .header("Prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers()["preference-applied"], "respond-async");
    let id = resp.headers()["x-ms-dyn-backgroundoperationid"]
        .to_str()
        .unwrap()
        .to_owned();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("{}/api/backgroundoperation/{id}", s.base));
    assert!(resp.text().await.unwrap().is_empty());
    let done = s.wait_terminal(&id, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    assert_eq!(done["Text"], "later");
    assert_eq!(done["Number"], 5);
    assert_eq!(s.row(&id).await["name"], "contoso_EchoFn");
}

#[tokio::test]
async fn a_function_without_parameters_is_called_with_empty_parentheses() {
    let s = Server::start(common::FAST);
    let plugin = echo_plugin(&s).await;
    let body = json!({
        "uniquename": "contoso_Ping",
        "isfunction": true,
        "PluginTypeId@odata.bind": format!("/plugintypes({plugin})"),
        "CustomAPIResponseProperties": [{"uniquename": "Text", "type": 10}]
    });
    let resp = s
        .req(Method::POST, &format!("{API}/customapis"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = get(&s, "contoso_Ping()").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}{API}/$metadata#Microsoft.Dynamics.CRM.contoso_PingResponse",
            s.base
        )
    );
    let resp = s
        .req(Method::GET, &format!("{API}/contoso_Ping()"))
        .header("Prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    // Parameters it does not define are refused.
    let (code, message) = error(get(&s, "contoso_Ping(Extra=1)").await, 400, "extra").await;
    assert_eq!(code, "0x8009732e");
    assert_eq!(
        message,
        "Parameter Extra is not defined on Custom API contoso_Ping."
    );
}

#[tokio::test]
async fn the_wrong_method_is_an_unknown_segment() {
    let s = Server::start(common::FAST);
    create_function(&s).await;
    // A function called with POST.
    let resp = s
        .req(Method::POST, &format!("{API}/contoso_EchoFn"))
        .json(&json!({"Text": "x"}))
        .send()
        .await
        .unwrap();
    let (code, message) = error(resp, 404, "POST a function").await;
    assert_eq!(code, "0x8006088a");
    assert_eq!(
        message,
        "Resource not found for the segment 'contoso_EchoFn'."
    );
    // An action called with GET.
    let (code, message) = error(get(&s, "bgops_Echo(Text='x')").await, 404, "GET an action").await;
    assert_eq!(code, "0x8006088a");
    assert_eq!(message, "Resource not found for the segment 'bgops_Echo'.");
    error(
        get(&s, "bgops_Echo()").await,
        404,
        "GET an action without parameters",
    )
    .await;
    // A function without parentheses, and an unknown function.
    error(get(&s, "contoso_EchoFn").await, 404, "no parentheses").await;
    error(get(&s, "contoso_Nothing()").await, 404, "unknown").await;
    // WhoAmI() is still a function.
    assert_eq!(get(&s, "WhoAmI()").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn function_parameters_are_validated_like_a_body() {
    let s = Server::start(common::FAST);
    create_function(&s).await;
    let (code, message) = error(get(&s, "contoso_EchoFn(Number=1)").await, 400, "missing").await;
    assert_eq!(code, "0x80040200");
    assert_eq!(
        message,
        "Required parameter Text of Custom API contoso_EchoFn is missing."
    );
    // An alias without a value is null.
    let (code, _) = error(get(&s, "contoso_EchoFn(Text=@t)").await, 400, "null alias").await;
    assert_eq!(code, "0x80040200");
    let (code, message) = error(
        get(&s, "contoso_EchoFn(Text='x',Number='one')").await,
        400,
        "type",
    )
    .await;
    assert_eq!(code, "0x8009732f");
    assert_eq!(message, "Parameter Number on Custom API contoso_EchoFn should be of type Integer but provided type was String.");
    let (code, _) = error(
        get(&s, "contoso_EchoFn(Text=x)").await,
        400,
        "unquoted text",
    )
    .await;
    assert_eq!(code, "0x80060888");
    let (code, _) = error(
        get(&s, &format!("contoso_EchoFn(Text={ID})")).await,
        400,
        "a GUID for text",
    )
    .await;
    assert_eq!(code, "0x8009732f");
    let (code, _) = error(
        get(&s, "contoso_EchoFn(Text='unterminated)").await,
        400,
        "syntax",
    )
    .await;
    assert_eq!(code, "0x80060888");
    let (code, _) = error(get(&s, "contoso_EchoFn(Text)").await, 400, "no value").await;
    assert_eq!(code, "0x80060888");
    // A refused call stores nothing.
    let resp = s
        .req(Method::GET, &format!("{API}/contoso_EchoFn(Number=1)"))
        .header("Prefer", "respond-async")
        .send()
        .await
        .unwrap();
    error(resp, 400, "async missing").await;
    let resp = get(&s, "backgroundoperations/$count").await;
    assert_eq!(resp.text().await.unwrap(), "0");
}
