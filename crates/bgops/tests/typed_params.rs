//! Typed parameters end to end with the real binary (SPEC §3, §8, §13): a custom API created by
//! deep insert with one request parameter and one response property of every type 0–12, run by
//! a loopback HTTP plug-in that echoes its `InputParameters` back as `OutputParameters`. The
//! stored `inputparameters`/`outputparameters` hold the string forms of SPEC §13, the status
//! monitor and synchronous calls give the values back with native JSON types, Decimal and Money
//! keep every digit, and each validation rule answers its 400 before anything is stored.
//!
//! What the implementation (`bgops_core::params::ParamValue::from_json`) accepts, and so what
//! these tests pin down:
//! - Boolean: JSON `true`/`false` only (not `1`, not `"true"`).
//! - DateTime: an RFC 3339 string; an offset is converted to UTC; stored and shown as
//!   `YYYY-MM-DDTHH:MM:SSZ` (fractions dropped); a date alone or an impossible date is refused.
//! - Decimal, Money: a JSON number (its text is kept exactly); a string is refused.
//! - Float: any JSON number; Integer, Picklist: a JSON integer within Int32.
//! - Entity, EntityReference: any JSON object. `@odata.type` and a key are *not* checked: an
//!   object without them is accepted and passed on as it is (documented below by a test).
//! - EntityCollection: an array of objects; StringArray: an array of strings.
//! - Guid: a hyphenated 36-character GUID in either case, stored and returned lower-case.
//! - `null` is the same as leaving the parameter out.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::post as route_post;
use axum::{Json, Router};
use common::Server;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

const API: &str = "/api/data/v9.2";
const NAME: &str = "contoso_Typed";

/// A GUID for the EntityReference and Guid values.
const GUID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

/// Every type of SPEC §8: (code, parameter and property name).
const TYPES: [(i64, &str); 13] = [
    (0, "Flag"),
    (1, "When"),
    (2, "Price"),
    (3, "Customer"),
    (4, "Customers"),
    (5, "CustomerRef"),
    (6, "Ratio"),
    (7, "Count"),
    (8, "Amount"),
    (9, "Choice"),
    (10, "Text"),
    (11, "Tags"),
    (12, "Id"),
];

// ---------------------------------------------------------------------------------------------
// The echo plug-in.

type Seen = Arc<Mutex<Vec<Value>>>;

/// Answers `{"OutputParameters": <InputParameters>}`.
async fn echo(State(seen): State<Seen>, body: Bytes) -> AxumResponse {
    let request: Value = serde_json::from_slice(&body).expect("the plug-in request is JSON");
    seen.lock().unwrap().push(request.clone());
    Json(json!({"OutputParameters": request["InputParameters"]})).into_response()
}

/// Starts the echo plug-in on loopback; returns its URL and what it received.
async fn echo_plugin() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/echo", route_post(echo))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}/echo"), seen)
}

// ---------------------------------------------------------------------------------------------
// The service side.

async fn post(s: &Server, path: &str, body: &Value) -> Response {
    s.req(Method::POST, &format!("{API}/{path}"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Starts a server and defines [`NAME`] by deep insert, bound to the echo plug-in; `Text` is
/// required, every other parameter optional.
async fn setup() -> (Server, Seen) {
    let (url, seen) = echo_plugin().await;
    let s = Server::start(&[
        "--retry-base-delay",
        "50ms",
        "--callback-allow-http",
        "--callback-allow-private",
    ]);
    let resp = post(
        &s,
        "plugintypes",
        &json!({"name": "Echo over HTTP", "typename": "Contoso.TypedEcho", "bgops_endpointurl": url}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let entity_id = resp.headers()["odata-entityid"].to_str().unwrap();
    let plugin_type = &entity_id[entity_id.rfind('(').unwrap() + 1..entity_id.len() - 1];
    let params: Vec<Value> = TYPES
        .iter()
        .map(|(code, name)| {
            json!({"uniquename": name, "name": name, "displayname": name, "type": code,
                   "isoptional": *name != "Text"})
        })
        .collect();
    let props: Vec<Value> = TYPES
        .iter()
        .map(|(code, name)| json!({"uniquename": name, "name": name, "displayname": name, "type": code}))
        .collect();
    let resp = post(
        &s,
        "customapis",
        &json!({
            "uniquename": NAME,
            "name": NAME,
            "displayname": "Every type",
            "bindingtype": 0,
            "isfunction": false,
            "PluginTypeId@odata.bind": format!("plugintypes({plugin_type})"),
            "CustomAPIRequestParameters": params,
            "CustomAPIResponseProperties": props,
        }),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "{:?}",
        resp.text().await
    );
    (s, seen)
}

/// A JSON number from its exact text (a `json!` literal would go through f64).
fn number(text: &str) -> Value {
    Value::Number(text.parse().expect("a JSON number"))
}

/// One value of every type, in its Web API JSON form.
fn every_type() -> Value {
    let mut m = Map::new();
    m.insert("Flag".into(), json!(true));
    m.insert("When".into(), json!("2024-02-29T13:45:00Z"));
    m.insert("Price".into(), number("12345678901234567.89"));
    m.insert(
        "Customer".into(),
        json!({"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "x"}),
    );
    m.insert(
        "Customers".into(),
        json!([
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "Contoso, \"Ltd\""},
            {"@odata.type": "Microsoft.Dynamics.CRM.contact", "firstname": "Zoë", "accountid": GUID}
        ]),
    );
    m.insert(
        "CustomerRef".into(),
        json!({"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": GUID}),
    );
    m.insert("Ratio".into(), number("-3.25"));
    m.insert("Count".into(), json!(-2_147_483_648i64));
    m.insert("Amount".into(), number("98765432109876543.21"));
    m.insert("Choice".into(), json!(100_000_001));
    m.insert("Text".into(), json!("héllo \"quoted\", comma\r\nline"));
    m.insert("Tags".into(), json!(["a", "b,c", "é", ""]));
    m.insert("Id".into(), json!(GUID));
    Value::Object(m)
}

/// The stored string form of each value of [`every_type`] (SPEC §13).
fn every_type_stored() -> BTreeMap<String, String> {
    [
        ("Flag", "true"),
        ("When", "2024-02-29T13:45:00Z"),
        ("Price", "12345678901234567.89"),
        (
            "Customer",
            r#"{"@odata.type":"Microsoft.Dynamics.CRM.account","name":"x"}"#,
        ),
        (
            "Customers",
            r#"[{"@odata.type":"Microsoft.Dynamics.CRM.account","name":"Contoso, \"Ltd\""},{"@odata.type":"Microsoft.Dynamics.CRM.contact","firstname":"Zoë","accountid":"0f8fad5b-d9cb-469f-a165-70867728950e"}]"#,
        ),
        (
            "CustomerRef",
            r#"{"@odata.type":"Microsoft.Dynamics.CRM.account","accountid":"0f8fad5b-d9cb-469f-a165-70867728950e"}"#,
        ),
        ("Ratio", "-3.25"),
        ("Count", "-2147483648"),
        ("Amount", "98765432109876543.21"),
        ("Choice", "100000001"),
        ("Text", "héllo \"quoted\", comma\r\nline"),
        ("Tags", r#"["a","b,c","é",""]"#),
        ("Id", GUID),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A stored Key/Value array as (keys in order, map key → value); every Value must be a string.
fn key_values(stored: &Value) -> (Vec<String>, BTreeMap<String, String>) {
    let text = stored.as_str().expect("a JSON string column");
    let items: Vec<Value> = serde_json::from_str(text).expect("a JSON array");
    let mut keys = Vec::new();
    let mut map = BTreeMap::new();
    for kv in &items {
        assert_eq!(kv.as_object().unwrap().len(), 2, "only Key and Value: {kv}");
        let key = kv["Key"].as_str().unwrap().to_owned();
        let value = kv["Value"]
            .as_str()
            .unwrap_or_else(|| panic!("Value is a string: {kv}"))
            .to_owned();
        keys.push(key.clone());
        map.insert(key, value);
    }
    (keys, map)
}

/// Asserts that `got` holds each property of `sent` with the same JSON value and JSON type
/// (numbers compared by their exact text, so no digit is lost).
fn assert_same_values(got: &Value, sent: &Value) {
    for (name, value) in sent.as_object().unwrap() {
        let back = &got[name];
        assert_eq!(back, value, "{name}: {got}");
        assert_eq!(back.to_string(), value.to_string(), "{name} keeps its text");
    }
}

async fn count_rows(s: &Server) -> u64 {
    let resp = s
        .req(Method::GET, &format!("{API}/backgroundoperations/$count"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap().trim().parse().unwrap()
}

/// Submits `body` in the background and expects a 400 with `code`; returns the message.
async fn refused(s: &Server, body: &Value, code: &str) -> String {
    let resp = s
        .req(Method::POST, &format!("{API}/{NAME}"))
        .header("Prefer", "respond-async")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(
        resp.headers()
            .get("x-ms-dyn-backgroundoperationid")
            .is_none(),
        "{body}"
    );
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    answer["error"]["message"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Round trips.

#[tokio::test]
async fn every_type_round_trips_in_the_background_with_string_storage_and_native_outputs() {
    let (s, seen) = setup().await;
    let sent = every_type();
    let op = s.submit(NAME, sent.clone()).await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");

    // The plug-in got every input natively.
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_same_values(&requests[0]["InputParameters"], &sent);
    assert_eq!(
        requests[0]["InputParameters"].as_object().unwrap().len(),
        13
    );

    // The status monitor gives the outputs back with native JSON types, equal to what was sent.
    assert_same_values(&done, &sent);
    assert!(done["Flag"].is_boolean());
    assert!(done["Count"].is_i64() && done["Choice"].is_i64());
    assert!(done["Ratio"].is_number() && done["Price"].is_number() && done["Amount"].is_number());
    assert!(done["Customer"].is_object() && done["CustomerRef"].is_object());
    assert!(done["Customers"].is_array() && done["Tags"].is_array());
    assert!(done["When"].is_string() && done["Id"].is_string() && done["Text"].is_string());
    assert_eq!(
        done.as_object().unwrap().len(),
        2 + 13,
        "state, status and the 13 outputs: {done}"
    );

    // The row stores the string forms of SPEC §13, inputs in definition order.
    let row = s.row(&op).await;
    let (keys, inputs) = key_values(&row["inputparameters"]);
    let definition_order: Vec<String> = TYPES.iter().map(|(_, n)| (*n).to_owned()).collect();
    assert_eq!(keys, definition_order);
    assert_eq!(inputs, every_type_stored());
    let (_, outputs) = key_values(&row["outputparameters"]);
    assert_eq!(outputs, every_type_stored());
}

#[tokio::test]
async fn every_type_round_trips_synchronously() {
    let (s, seen) = setup().await;
    let sent = every_type();
    let resp = post(&s, NAME, &sent).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}{API}/$metadata#Microsoft.Dynamics.CRM.{NAME}Response",
            s.base
        )
    );
    assert_same_values(&body, &sent);
    assert_eq!(body.as_object().unwrap().len(), 1 + 13);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(count_rows(&s).await, 0, "a synchronous call stores no row");
}

#[tokio::test]
async fn values_are_normalised_guids_lower_case_dates_utc_to_the_second() {
    let (s, _) = setup().await;
    let upper = GUID.to_uppercase();
    let sent = json!({
        "Text": "n",
        "Id": upper,
        "CustomerRef": {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": GUID},
        "When": "2024-02-29T15:45:00.750+02:00",
        "Ratio": 2,
        "Flag": false,
        "Count": 2_147_483_647,
        "Tags": [],
        "Customers": [],
    });
    let op = s.submit(NAME, sent).await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    assert_eq!(done["Id"], GUID, "GUIDs are lower-case");
    assert_eq!(done["When"], "2024-02-29T13:45:00Z", "UTC, to the second");
    assert_eq!(done["Ratio"].as_f64(), Some(2.0));
    assert_eq!(done["Flag"], false);
    assert_eq!(done["Count"], 2_147_483_647);
    assert_eq!(done["Tags"], json!([]));
    assert_eq!(done["Customers"], json!([]));
    assert!(
        done.get("Price").is_none(),
        "an optional parameter left out is not an output"
    );

    let row = s.row(&op).await;
    let (keys, inputs) = key_values(&row["inputparameters"]);
    assert_eq!(
        keys,
        [
            "Flag",
            "When",
            "Customers",
            "CustomerRef",
            "Ratio",
            "Count",
            "Text",
            "Tags",
            "Id"
        ],
        "definition order, only what was sent"
    );
    assert_eq!(inputs["Id"], GUID);
    assert_eq!(inputs["When"], "2024-02-29T13:45:00Z");
    assert_eq!(inputs["Ratio"], "2", "invariant notation");
    assert_eq!(inputs["Flag"], "false");
    assert_eq!(inputs["Count"], "2147483647");
    assert_eq!(inputs["Tags"], "[]");
    assert_eq!(inputs["Customers"], "[]");
}

#[tokio::test]
async fn null_is_the_same_as_absent_and_entities_need_no_odata_type() {
    let (s, seen) = setup().await;
    // Decided by the implementation: Entity and EntityReference accept any JSON object, so an
    // object without `@odata.type` (or without a key) is accepted and passed on unchanged.
    let sent = json!({
        "Text": "x",
        "Price": null,
        "Customer": {"name": "no type"},
        "CustomerRef": {},
    });
    let op = s.submit(NAME, sent).await;
    let done = s.wait_terminal(&op, Duration::from_secs(20)).await;
    assert_eq!(done["backgroundOperationStatusCode"], 30, "{done}");
    assert_eq!(done["Customer"], json!({"name": "no type"}));
    assert_eq!(done["CustomerRef"], json!({}));
    assert!(done.get("Price").is_none(), "{done}");
    let inputs = seen.lock().unwrap()[0]["InputParameters"].clone();
    assert_eq!(
        inputs,
        json!({"Customer": {"name": "no type"}, "CustomerRef": {}, "Text": "x"})
    );
    let (keys, stored) = key_values(&s.row(&op).await["inputparameters"]);
    assert_eq!(keys, ["Customer", "CustomerRef", "Text"]);
    assert_eq!(stored["Customer"], r#"{"name":"no type"}"#);
}

// ---------------------------------------------------------------------------------------------
// Validation: each rule, before anything is stored.

#[tokio::test]
async fn an_undefined_parameter_is_0x8009732e_and_leaves_no_row() {
    let (s, seen) = setup().await;
    for (name, body) in [
        ("Nope", json!({"Text": "x", "Nope": 1})),
        // Names are case-sensitive.
        ("text", json!({"Text": "x", "text": "y"})),
        ("Unknown", json!({"Unknown": null, "Text": "x"})),
    ] {
        let message = refused(&s, &body, "0x8009732e").await;
        assert_eq!(
            message,
            format!("Parameter {name} is not defined on Custom API {NAME}.")
        );
    }
    // Annotations are not parameters.
    let op = s
        .submit(
            NAME,
            json!({"@odata.type": "Microsoft.Dynamics.CRM.contoso_Typed", "Text": "x"}),
        )
        .await;
    assert_eq!(
        s.wait_terminal(&op, Duration::from_secs(20)).await["backgroundOperationStatusCode"],
        30
    );
    assert_eq!(count_rows(&s).await, 1, "only the accepted submission");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_required_parameter_is_refused_and_leaves_no_row() {
    let (s, seen) = setup().await;
    for body in [json!({}), json!({"Count": 1}), json!({"Text": null})] {
        let message = refused(&s, &body, "0x80040200").await;
        assert_eq!(
            message,
            format!("Required parameter Text of Custom API {NAME} is missing.")
        );
    }
    // Synchronously too.
    let resp = post(&s, NAME, &json!({"Flag": true})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "0x80040200");
    assert_eq!(count_rows(&s).await, 0);
    assert!(seen.lock().unwrap().is_empty(), "the plug-in never ran");
}

#[tokio::test]
async fn a_wrong_type_is_0x8009732f_for_every_type_family_and_leaves_no_row() {
    let (s, seen) = setup().await;
    // (parameter, value sent, expected type label, provided type label)
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("Flag", json!(1), "Boolean", "Integer"),
        ("Flag", json!("true"), "Boolean", "String"),
        ("When", json!("yesterday"), "DateTime", "String"),
        ("When", json!("2024-02-30T00:00:00Z"), "DateTime", "String"),
        ("When", json!("2024-02-29"), "DateTime", "String"),
        ("When", json!(1_709_214_300), "DateTime", "Integer"),
        ("Price", json!("12.5"), "Decimal", "String"),
        ("Price", json!(true), "Decimal", "Boolean"),
        ("Customer", json!("account"), "Entity", "String"),
        ("Customer", json!([{"name": "x"}]), "Entity", "Array"),
        (
            "Customers",
            json!({"name": "x"}),
            "EntityCollection",
            "Object",
        ),
        ("Customers", json!(["x"]), "EntityCollection", "Array"),
        (
            "Customers",
            json!([{"name": "x"}, 1]),
            "EntityCollection",
            "Array",
        ),
        ("CustomerRef", json!(GUID), "EntityReference", "String"),
        ("Ratio", json!("1.5"), "Float", "String"),
        ("Ratio", json!(false), "Float", "Boolean"),
        ("Count", json!("5"), "Integer", "String"),
        ("Count", json!(1.5), "Integer", "Decimal"),
        ("Count", json!(true), "Integer", "Boolean"),
        ("Amount", json!("10.00"), "Money", "String"),
        ("Choice", json!("1"), "Picklist", "String"),
        ("Choice", json!(1.5), "Picklist", "Decimal"),
        ("Text", json!(5), "String", "Integer"),
        ("Text", json!(["a"]), "String", "Array"),
        ("Text", json!({"a": 1}), "String", "Object"),
        ("Tags", json!("a"), "StringArray", "String"),
        ("Tags", json!(["a", 1]), "StringArray", "Array"),
        ("Id", json!("not-a-guid"), "Guid", "String"),
        (
            "Id",
            json!("0f8fad5bd9cb469fa16570867728950e"),
            "Guid",
            "String",
        ),
        ("Id", json!(format!("{{{GUID}}}")), "Guid", "String"),
        ("Id", json!(12), "Guid", "Integer"),
    ];
    for (param, value, expected, provided) in cases {
        let mut body = json!({"Text": "x"});
        body[param] = value.clone();
        let message = refused(&s, &body, "0x8009732f").await;
        assert_eq!(
            message,
            format!(
                "Parameter {param} on Custom API {NAME} should be of type {expected} but provided type was {provided}."
            ),
            "{param} = {value}"
        );
    }
    assert_eq!(count_rows(&s).await, 0);
    assert!(seen.lock().unwrap().is_empty(), "the plug-in never ran");
}

#[tokio::test]
async fn integers_outside_int32_are_refused_and_leave_no_row() {
    let (s, seen) = setup().await;
    for (param, value) in [
        ("Count", json!(2_147_483_648i64)),
        ("Count", json!(-2_147_483_649i64)),
        ("Count", number("100000000000000000000")),
        ("Choice", json!(4_294_967_296i64)),
    ] {
        let mut body = json!({"Text": "x"});
        body[param] = value.clone();
        let message = refused(&s, &body, "0x8009732f").await;
        let expected = if param == "Count" {
            "Integer"
        } else {
            "Picklist"
        };
        assert_eq!(
            message,
            format!(
                "Parameter {param} on Custom API {NAME} should be of type {expected} but provided type was Integer outside the Int32 range."
            ),
            "{param} = {value}"
        );
    }
    // The bounds themselves are fine (checked without a row: synchronously).
    let resp = post(
        &s,
        NAME,
        &json!({"Text": "x", "Count": -2_147_483_648i64, "Choice": 2_147_483_647}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(count_rows(&s).await, 0);
    assert_eq!(seen.lock().unwrap().len(), 1);
}
