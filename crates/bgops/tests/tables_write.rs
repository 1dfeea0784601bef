//! Writes over the Web API, black-box: POST, GET by key, PATCH (update and upsert), DELETE,
//! the `If-Match`/`If-None-Match` rules, etags, server-set columns, refusals, `@odata.bind`
//! and derived columns.

mod common;

use std::time::Duration;

use common::{assert_json_headers, Server};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/data/v9.2";

/// A server on a fresh database without the demo accounts, so tests see only their own rows.
fn start() -> Server {
    let mut args = common::FAST.to_vec();
    args.extend(["--demo-data", "false"]);
    Server::start(&args)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Asserts an error with the given status (and code, when given); returns the message.
async fn expect_error(resp: Response, status: u16, code: Option<&str>, what: &str) -> String {
    let got = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: HTTP status; body: {text}");
    error_shape(&headers, &text, code, what)
}

/// Asserts a 4xx error in the Dataverse shape; returns the message.
async fn expect_client_error(resp: Response, what: &str) -> String {
    let got = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    assert!(
        (400..500).contains(&got),
        "{what}: HTTP {got}; body: {text}"
    );
    error_shape(&headers, &text, None, what)
}

fn error_shape(headers: &HeaderMap, text: &str, code: Option<&str>, what: &str) -> String {
    assert_json_headers(headers, what);
    let body: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: body not JSON ({e}): {text}"));
    let got_code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.code: {body}"));
    assert!(
        got_code.starts_with("0x") && got_code == got_code.to_lowercase(),
        "{what}: code {got_code}"
    );
    if let Some(code) = code {
        assert_eq!(got_code, code, "{what}: error code; body: {body}");
    }
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.message: {body}"))
        .to_owned()
}

fn row_path(set: &str, id: &str) -> String {
    format!("{API}/{set}({id})")
}

fn assert_guid(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {v}"));
    let u = uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("{what}: not a GUID {s}: {e}"));
    assert_eq!(
        u.hyphenated().to_string(),
        s,
        "{what}: lower-case hyphenated"
    );
}

/// The id at the end of an `OData-EntityId` URL.
fn id_of_entity_url(url: &str) -> String {
    url.rsplit_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("OData-EntityId {url}"))
        .to_owned()
}

/// POST that must answer 204; returns the new id.
async fn create(s: &Server, set: &str, body: Value) -> String {
    let resp = s
        .req(Method::POST, &format!("{API}/{set}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "create {set} {body}: {:?}",
        resp.text().await
    );
    id_of_entity_url(headers["odata-entityid"].to_str().unwrap())
}

/// GET by key that must answer 200.
async fn read(s: &Server, set: &str, id: &str) -> Value {
    let resp = s.req(Method::GET, &row_path(set, id)).send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "GET {set}({id}): {text}");
    serde_json::from_str(&text).unwrap()
}

async fn status_of(rb: RequestBuilder) -> (StatusCode, String) {
    let resp = rb.send().await.unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

async fn count(s: &Server, set: &str) -> u64 {
    let resp = s
        .req(Method::GET, &format!("{API}/{set}/$count"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap().trim().parse().unwrap()
}

fn patch(s: &Server, set: &str, id: &str, body: &Value) -> RequestBuilder {
    s.req(Method::PATCH, &row_path(set, id)).json(body)
}

fn etag(row: &Value) -> String {
    row["@odata.etag"]
        .as_str()
        .unwrap_or_else(|| panic!("no @odata.etag: {row}"))
        .to_owned()
}

async fn who_am_i(s: &Server) -> Value {
    let resp = s
        .req(Method::GET, &format!("{API}/WhoAmI()"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Create and read.

#[tokio::test]
async fn post_answers_204_with_the_entity_id_and_get_reads_it() {
    let s = start();
    let resp = s
        .req(Method::POST, &format!("{API}/accounts"))
        .json(
            &json!({"name": "Contoso", "revenue": 125000.50, "numberofemployees": 40,
                      "creditonhold": false, "address1_city": "Oslo"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let url = resp.headers()["odata-entityid"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(resp.text().await.unwrap().is_empty(), "204 has no body");
    let id = id_of_entity_url(&url);
    assert_guid(&json!(id), "new id");
    assert_eq!(url, format!("{}{API}/accounts({id})", s.base));

    let resp = s
        .req(Method::GET, &row_path("accounts", &id))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_json_headers(resp.headers(), "GET by key");
    let row: Value = resp.json().await.unwrap();
    assert_eq!(
        row["@odata.context"],
        format!("{}{API}/$metadata#accounts/$entity", s.base)
    );
    assert_eq!(row["accountid"], id.as_str());
    assert_eq!(row["name"], "Contoso");
    assert_eq!(row["revenue"].as_f64(), Some(125000.5));
    assert_eq!(row["numberofemployees"], 40);
    assert_eq!(row["creditonhold"], false);
    assert_eq!(row["address1_city"], "Oslo");
    assert_eq!(row["telephone1"], Value::Null);
    assert_eq!(row["statecode"], 0, "a new row is Active");
    assert_eq!(row["statuscode"], 1);
    assert!(row["@odata.etag"].as_str().unwrap().starts_with("W/\""));

    // $select on a single row.
    let resp = s
        .req(
            Method::GET,
            &format!("{}?$select=name", row_path("accounts", &id)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let row: Value = resp.json().await.unwrap();
    assert_eq!(
        row["@odata.context"],
        format!("{}{API}/$metadata#accounts(name)/$entity", s.base)
    );
    let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
    let mut keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec!["@odata.context", "@odata.etag", "accountid", "name"]
    );

    // The key may also be written `accountid={id}`.
    let row = read(&s, "accounts", &format!("accountid={id}")).await;
    assert_eq!(row["name"], "Contoso");
}

#[tokio::test]
async fn post_with_return_representation_answers_201_with_the_row() {
    let s = start();
    let resp = s
        .req(Method::POST, &format!("{API}/accounts"))
        .header("Prefer", "return=representation")
        .json(&json!({"name": "Fabrikam", "numberofemployees": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_json_headers(resp.headers(), "201");
    let url = resp.headers()["odata-entityid"]
        .to_str()
        .unwrap()
        .to_owned();
    let row: Value = resp.json().await.unwrap();
    let id = id_of_entity_url(&url);
    assert_eq!(row["accountid"], id.as_str());
    assert_eq!(row["name"], "Fabrikam");
    assert_eq!(row["numberofemployees"], 7);
    assert!(
        row["@odata.etag"].as_str().unwrap().starts_with("W/\""),
        "{row}"
    );
    assert_eq!(
        row["@odata.context"],
        format!("{}{API}/$metadata#accounts/$entity", s.base)
    );
    assert_eq!(
        read(&s, "accounts", &id).await["@odata.etag"],
        row["@odata.etag"]
    );
}

#[tokio::test]
async fn post_with_a_client_chosen_id() {
    let s = start();
    let id = uuid::Uuid::new_v4().to_string();
    let got = create(&s, "accounts", json!({"accountid": id, "name": "Chosen"})).await;
    assert_eq!(got, id);
    assert_eq!(read(&s, "accounts", &id).await["name"], "Chosen");
}

#[tokio::test]
async fn unknown_key_is_404() {
    let s = start();
    let id = uuid::Uuid::new_v4().to_string();
    let resp = s
        .req(Method::GET, &row_path("accounts", &id))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 404, Some("0x80040217"), "unknown account").await;
    assert_eq!(msg, format!("account With Id = {id} Does Not Exist"));

    let resp = s
        .req(Method::GET, &row_path("contacts", &id))
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 404, Some("0x80040217"), "unknown contact").await;
    assert_eq!(msg, format!("contact With Id = {id} Does Not Exist"));

    // A key that is not a GUID is a 400, not a 404.
    let resp = s
        .req(Method::GET, &row_path("accounts", "not-a-guid"))
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, None, "malformed key").await;
}

// ---------------------------------------------------------------------------------------------
// Update, etags and server-set columns.

#[tokio::test]
async fn patch_updates_and_the_etag_and_modifiedon_move() {
    let s = start();
    let id = create(
        &s,
        "accounts",
        json!({"name": "Before", "numberofemployees": 1}),
    )
    .await;
    let v0 = read(&s, "accounts", &id).await;

    // Dates have whole seconds: wait so that modifiedon can move.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, text) = status_of(patch(
        &s,
        "accounts",
        &id,
        &json!({"name": "After", "telephone1": "555-0100"}),
    ))
    .await;
    assert_eq!(status, 204, "{text}");
    assert!(text.is_empty());
    let v1 = read(&s, "accounts", &id).await;
    assert_eq!(v1["name"], "After");
    assert_eq!(v1["telephone1"], "555-0100");
    assert_eq!(v1["numberofemployees"], 1, "untouched columns stay");
    assert_ne!(etag(&v1), etag(&v0), "etag changes on update");
    assert_eq!(v1["createdon"], v0["createdon"], "createdon stays");
    assert!(
        v1["modifiedon"].as_str().unwrap() > v0["modifiedon"].as_str().unwrap(),
        "modifiedon moves: {} → {}",
        v0["modifiedon"],
        v1["modifiedon"]
    );
    assert_eq!(v1["_createdby_value"], v0["_createdby_value"]);

    // With return=representation: 200 and the row.
    let resp = patch(&s, "accounts", &id, &json!({"numberofemployees": 2}))
        .header("Prefer", "return=representation")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_json_headers(resp.headers(), "PATCH representation");
    let v2: Value = resp.json().await.unwrap();
    assert_eq!(v2["accountid"], id.as_str());
    assert_eq!(v2["numberofemployees"], 2);
    assert_eq!(v2["name"], "After");
    assert_ne!(etag(&v2), etag(&v1), "etag changes on every write");
    assert_eq!(etag(&read(&s, "accounts", &id).await), etag(&v2));

    // Setting a column to null.
    let (status, _) = status_of(patch(&s, "accounts", &id, &json!({"telephone1": null}))).await;
    assert_eq!(status, 204);
    let v3 = read(&s, "accounts", &id).await;
    assert_eq!(v3["telephone1"], Value::Null);
    assert_ne!(etag(&v3), etag(&v2));
}

#[tokio::test]
async fn if_match_star_never_creates() {
    let s = start();
    let id = uuid::Uuid::new_v4().to_string();
    let resp = patch(&s, "accounts", &id, &json!({"name": "Ghost"}))
        .header("If-Match", "*")
        .send()
        .await
        .unwrap();
    let msg = expect_error(
        resp,
        404,
        Some("0x80040217"),
        "If-Match: * on a missing row",
    )
    .await;
    assert!(msg.contains(&id), "{msg}");
    let resp = s
        .req(Method::GET, &row_path("accounts", &id))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "nothing was created");
    assert_eq!(count(&s, "accounts").await, 0);

    // On an existing row it updates.
    let id = create(&s, "accounts", json!({"name": "Real"})).await;
    let (status, text) =
        status_of(patch(&s, "accounts", &id, &json!({"name": "Real 2"})).header("If-Match", "*"))
            .await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(read(&s, "accounts", &id).await["name"], "Real 2");
}

#[tokio::test]
async fn if_match_with_a_stale_etag_is_412() {
    let s = start();
    let id = create(&s, "accounts", json!({"name": "V1"})).await;
    let old = etag(&read(&s, "accounts", &id).await);

    // The current etag works.
    let (status, text) = status_of(
        patch(&s, "accounts", &id, &json!({"name": "V2"})).header("If-Match", old.as_str()),
    )
    .await;
    assert_eq!(status, 204, "{text}");

    // Now it is stale.
    let resp = patch(&s, "accounts", &id, &json!({"name": "V3"}))
        .header("If-Match", old.as_str())
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 412, None, "stale If-Match").await;
    assert_eq!(
        msg,
        "The version of the existing record doesn't match the RowVersion property provided."
    );
    assert_eq!(
        read(&s, "accounts", &id).await["name"],
        "V2",
        "nothing changed"
    );

    // A stale etag on a missing row: never a create.
    let missing = uuid::Uuid::new_v4().to_string();
    let resp = patch(&s, "accounts", &missing, &json!({"name": "no"}))
        .header("If-Match", old.as_str())
        .send()
        .await
        .unwrap();
    expect_error(
        resp,
        404,
        Some("0x80040217"),
        "If-Match etag on a missing row",
    )
    .await;
    let resp = s
        .req(Method::GET, &row_path("accounts", &missing))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn patch_without_if_match_upserts() {
    let s = start();
    let id = uuid::Uuid::new_v4().to_string();
    let resp = patch(
        &s,
        "accounts",
        &id,
        &json!({"name": "Upserted", "numberofemployees": 3}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 204, "upsert create");
    let row = read(&s, "accounts", &id).await;
    assert_eq!(row["accountid"], id.as_str());
    assert_eq!(row["name"], "Upserted");
    assert_eq!(row["numberofemployees"], 3);
    assert!(row["createdon"].is_string());
    let who = who_am_i(&s).await;
    assert_eq!(row["_createdby_value"], who["UserId"]);

    // Again: an update.
    let (status, _) = status_of(patch(&s, "accounts", &id, &json!({"name": "Upserted 2"}))).await;
    assert_eq!(status, 204);
    assert_eq!(read(&s, "accounts", &id).await["name"], "Upserted 2");
    assert_eq!(count(&s, "accounts").await, 1);
}

#[tokio::test]
async fn a_row_created_by_upsert_starts_active() {
    let s = start();
    let id = uuid::Uuid::new_v4().to_string();
    let (status, text) = status_of(patch(&s, "accounts", &id, &json!({"name": "Upserted"}))).await;
    assert_eq!(status, 204, "{text}");
    let row = read(&s, "accounts", &id).await;
    assert_eq!(row["statecode"], 0, "{row}");
    assert_eq!(row["statuscode"], 1, "{row}");
}

#[tokio::test]
async fn if_none_match_star_never_updates() {
    let s = start();
    let id = create(&s, "accounts", json!({"name": "Existing"})).await;
    let resp = patch(&s, "accounts", &id, &json!({"name": "Overwritten"}))
        .header("If-None-Match", "*")
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 412, None, "If-None-Match: * on an existing row").await;
    assert!(msg.contains("already exists"), "{msg}");
    assert_eq!(read(&s, "accounts", &id).await["name"], "Existing");

    // On a missing row it creates.
    let new = uuid::Uuid::new_v4().to_string();
    let (status, text) = status_of(
        patch(&s, "accounts", &new, &json!({"name": "Fresh"})).header("If-None-Match", "*"),
    )
    .await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(read(&s, "accounts", &new).await["name"], "Fresh");
}

#[tokio::test]
async fn delete_answers_204_then_404_and_honours_if_match() {
    let s = start();
    let id = create(&s, "accounts", json!({"name": "Doomed"})).await;
    let resp = s
        .req(Method::DELETE, &row_path("accounts", &id))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = s
        .req(Method::GET, &row_path("accounts", &id))
        .send()
        .await
        .unwrap();
    expect_error(resp, 404, Some("0x80040217"), "deleted row").await;
    let resp = s
        .req(Method::DELETE, &row_path("accounts", &id))
        .send()
        .await
        .unwrap();
    expect_error(resp, 404, Some("0x80040217"), "delete twice").await;

    // A stale etag: 412 and the row stays; the current one deletes.
    let id = create(&s, "accounts", json!({"name": "Guarded"})).await;
    let old = etag(&read(&s, "accounts", &id).await);
    let (status, _) = status_of(patch(&s, "accounts", &id, &json!({"name": "Guarded 2"}))).await;
    assert_eq!(status, 204);
    let resp = s
        .req(Method::DELETE, &row_path("accounts", &id))
        .header("If-Match", old.as_str())
        .send()
        .await
        .unwrap();
    expect_error(resp, 412, None, "DELETE with a stale etag").await;
    let current = etag(&read(&s, "accounts", &id).await);
    let resp = s
        .req(Method::DELETE, &row_path("accounts", &id))
        .header("If-Match", current.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(count(&s, "accounts").await, 0);
}

#[tokio::test]
async fn created_by_is_the_caller() {
    let s = start();
    let who = who_am_i(&s).await;
    assert_guid(&who["UserId"], "UserId");
    let id = create(&s, "accounts", json!({"name": "Mine"})).await;
    let row = read(&s, "accounts", &id).await;
    assert_eq!(row["_createdby_value"], who["UserId"], "{row}");
    let id = create(&s, "contacts", json!({"lastname": "Mine"})).await;
    let row = read(&s, "contacts", &id).await;
    assert_eq!(row["_createdby_value"], who["UserId"], "{row}");
    // A client cannot claim another creator.
    let resp = s
        .req(Method::POST, &format!("{API}/accounts"))
        .json(&json!({"name": "Forged", "createdby@odata.bind": format!("/systemusers({})", uuid::Uuid::new_v4())}))
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, None, "createdby bind").await;
}

/// The number in a `W/"n"` etag.
fn etag_version(etag: &str) -> i64 {
    etag.strip_prefix("W/\"")
        .and_then(|e| e.strip_suffix('"'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("etag {etag}"))
}

/// Two `bgops serve` processes on one database file, as two nodes: whichever wrote last, every
/// write gets a higher version than all before it, and an etag that is no longer current gets
/// 412 through either process.
#[tokio::test]
async fn etags_stay_true_with_two_processes_on_one_file() {
    let a = start();
    let b = Server::start_on(&a.db, common::FAST);
    let nodes = [&a, &b];
    let id = create(&a, "accounts", json!({"name": "v0"})).await;
    let mut etags = vec![etag(&read(&b, "accounts", &id).await)];
    for (i, node) in [0, 1, 0, 1, 1, 0].into_iter().enumerate() {
        let current = etags.last().unwrap().clone();
        let name = format!("v{}", i + 1);
        let (status, text) = status_of(
            patch(nodes[node], "accounts", &id, &json!({ "name": name }))
                .header("If-Match", current.as_str()),
        )
        .await;
        assert_eq!(status, 204, "{name} through node {node}: {text}");
        let written = etag(&read(nodes[1 - node], "accounts", &id).await);
        assert!(
            etag_version(&written) > etag_version(&current),
            "{name} through node {node}: etag {written} after {current}"
        );
        etags.push(written);
    }
    let current = etags.pop().unwrap();
    for node in nodes {
        assert_eq!(etag(&read(node, "accounts", &id).await), current);
        for stale in &etags {
            let resp = patch(node, "accounts", &id, &json!({"name": "stale"}))
                .header("If-Match", stale.as_str())
                .send()
                .await
                .unwrap();
            expect_error(resp, 412, None, &format!("stale If-Match {stale}")).await;
        }
    }
    assert_eq!(read(&a, "accounts", &id).await["name"], "v6");
}

// ---------------------------------------------------------------------------------------------
// Refusals.

#[tokio::test]
async fn read_only_columns_are_refused() {
    let s = start();
    let account = create(&s, "accounts", json!({"name": "Base"})).await;
    let contact = create(&s, "contacts", json!({"firstname": "Ada", "lastname": "L"})).await;
    let note = create(&s, "annotations", json!({"subject": "n"})).await;
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "accounts",
            &account,
            json!({"name": "x", "createdon": "2020-01-01T00:00:00Z"}),
        ),
        (
            "accounts",
            &account,
            json!({"name": "x", "modifiedon": "2020-01-01T00:00:00Z"}),
        ),
        (
            "accounts",
            &account,
            json!({"name": "x", "versionnumber": 99}),
        ),
        (
            "contacts",
            &contact,
            json!({"lastname": "x", "fullname": "Someone Else"}),
        ),
        ("annotations", &note, json!({"subject": "x", "filesize": 5})),
    ];
    for (set, id, body) in &cases {
        let before = count(&s, set).await;
        let resp = s
            .req(Method::POST, &format!("{API}/{set}"))
            .json(body)
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, &format!("POST {set} {body}")).await;
        assert_eq!(
            count(&s, set).await,
            before,
            "POST {set} {body}: nothing created"
        );

        let old = read(&s, set, id).await;
        let resp = patch(&s, set, id, body).send().await.unwrap();
        expect_error(resp, 400, None, &format!("PATCH {set} {body}")).await;
        assert_eq!(
            etag(&read(&s, set, id).await),
            etag(&old),
            "PATCH {set} {body}: nothing changed"
        );
    }
    // The key cannot be changed by PATCH.
    let resp = patch(
        &s,
        "accounts",
        &account,
        &json!({"accountid": uuid::Uuid::new_v4().to_string()}),
    )
    .send()
    .await
    .unwrap();
    expect_error(resp, 400, None, "PATCH of the key").await;
}

#[tokio::test]
async fn unknown_properties_wrong_types_and_bad_json_are_400() {
    let s = start();
    let id = create(&s, "accounts", json!({"name": "Base"})).await;
    let bodies = [
        (
            json!({"name": "x", "nosuchproperty": 1}),
            Some("nosuchproperty"),
        ),
        (json!({"name": 5}), Some("name")),
        (
            json!({"name": "x", "numberofemployees": "many"}),
            Some("numberofemployees"),
        ),
        (
            json!({"name": "x", "numberofemployees": 1.5}),
            Some("numberofemployees"),
        ),
        (
            json!({"name": "x", "creditonhold": "yes"}),
            Some("creditonhold"),
        ),
        (json!({"name": "x", "revenue": "lots"}), Some("revenue")),
        (json!({"name": "x", "statecode": 7}), Some("statecode")),
        (json!({"name": "x", "primarycontactid": "not-a-guid"}), None),
    ];
    for (body, named) in &bodies {
        let resp = s
            .req(Method::POST, &format!("{API}/accounts"))
            .json(body)
            .send()
            .await
            .unwrap();
        let msg = expect_error(resp, 400, None, &format!("POST {body}")).await;
        if let Some(n) = named {
            assert!(msg.contains(n), "POST {body}: message names {n}: {msg}");
        }
        let resp = patch(&s, "accounts", &id, body).send().await.unwrap();
        expect_error(resp, 400, None, &format!("PATCH {body}")).await;
    }
    assert_eq!(count(&s, "accounts").await, 1);
    assert_eq!(read(&s, "accounts", &id).await["name"], "Base");

    for raw in [
        "{\"name\": ",
        "{name: 'x'}",
        "[1,2]",
        "\"text\"",
        "{\"name\":\"a\"}}",
    ] {
        let resp = s
            .req(Method::POST, &format!("{API}/accounts"))
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, &format!("POST body {raw}")).await;
        let resp = s
            .req(Method::PATCH, &row_path("accounts", &id))
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, &format!("PATCH body {raw}")).await;
    }
    assert_eq!(count(&s, "accounts").await, 1);
}

#[tokio::test]
async fn read_only_tables_refuse_writes() {
    let s = start();
    let who = who_am_i(&s).await;
    let user = who["UserId"].as_str().unwrap();
    // Users are managed over the Web API (POST/PATCH systemusers) but never deleted.
    let posts = [
        (
            "customapis",
            json!({"uniquename": "x_Evil", "name": "x_Evil"}),
        ),
        ("backgroundoperations", json!({"name": "bgops_Echo"})),
        ("roles", json!({"name": "Everything"})),
    ];
    for (set, body) in &posts {
        let resp = s
            .req(Method::POST, &format!("{API}/{set}"))
            .json(body)
            .send()
            .await
            .unwrap();
        expect_client_error(resp, &format!("POST {set}")).await;
    }
    let resp = s
        .req(Method::DELETE, &row_path("systemusers", user))
        .send()
        .await
        .unwrap();
    expect_client_error(resp, "DELETE systemusers").await;

    // The admin is still there.
    let resp = s
        .req(Method::GET, &row_path("systemusers", user))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Custom API rows cannot be deleted or changed.
    let api = uuid::Uuid::new_v4().to_string();
    let resp = s
        .req(Method::DELETE, &row_path("customapis", &api))
        .send()
        .await
        .unwrap();
    expect_client_error(resp, "DELETE customapis").await;
    let resp = patch(&s, "customapis", &api, &json!({"displayname": "x"}))
        .send()
        .await
        .unwrap();
    expect_client_error(resp, "PATCH customapis").await;
    let resp = s
        .req(Method::GET, &row_path("customapis", &api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "no upsert into customapis");
}

#[tokio::test]
async fn built_in_custom_apis_are_rows_of_customapis() {
    let s = start();
    let resp = s
        .req(
            Method::GET,
            &format!("{API}/customapis?$select=uniquename&$filter=uniquename%20eq%20'bgops_Echo'"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 1, "{body}");
}

// ---------------------------------------------------------------------------------------------
// Lookups and derived columns.

#[tokio::test]
async fn odata_bind_sets_a_lookup() {
    let s = start();
    let account = create(&s, "accounts", json!({"name": "Parent Co"})).await;
    let resp = s
        .req(Method::POST, &format!("{API}/contacts"))
        .header("Prefer", "return=representation")
        .json(&json!({"firstname": "Ada", "lastname": "Lovelace",
                      "parentcustomerid_account@odata.bind": format!("/accounts({account})")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let row: Value = resp.json().await.unwrap();
    assert_eq!(row["_parentcustomerid_value"], account.as_str(), "{row}");
    assert_eq!(row["fullname"], "Ada Lovelace", "fullname is computed");
    let contact = row["contactid"].as_str().unwrap().to_owned();
    let row = read(&s, "contacts", &contact).await;
    assert_eq!(row["_parentcustomerid_value"], account.as_str());

    // The contact is found by its lookup.
    let resp = s
        .req(
            Method::GET,
            &format!(
                "{API}/contacts?$select=fullname&$filter=_parentcustomerid_value%20eq%20{account}"
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 1, "{body}");

    // An absolute URL works too; null clears it.
    let other = create(&s, "accounts", json!({"name": "Other Co"})).await;
    let (status, text) = status_of(patch(
        &s,
        "contacts",
        &contact,
        &json!({"parentcustomerid_account@odata.bind": format!("{}{API}/accounts({other})", s.base)}),
    ))
    .await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(
        read(&s, "contacts", &contact).await["_parentcustomerid_value"],
        other.as_str()
    );
    let (status, text) = status_of(patch(
        &s,
        "contacts",
        &contact,
        &json!({"parentcustomerid_account@odata.bind": null}),
    ))
    .await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(
        read(&s, "contacts", &contact).await["_parentcustomerid_value"],
        Value::Null
    );

    // A bind to an entity set that does not exist, or a malformed one: 400, nothing created.
    let before = count(&s, "contacts").await;
    for bind in [
        format!("/nosuchset({account})"),
        "/accounts(not-a-guid)".to_owned(),
        "accounts".to_owned(),
        format!("/contacts({contact})"),
    ] {
        let resp = s
            .req(Method::POST, &format!("{API}/contacts"))
            .json(&json!({"lastname": "Bad", "parentcustomerid_account@odata.bind": bind}))
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, &format!("bind {bind}")).await;
    }
    // A lookup set directly instead of by bind, and an unknown navigation property.
    for body in [
        json!({"lastname": "Bad", "parentcustomerid": account}),
        json!({"lastname": "Bad", "nosuchnav@odata.bind": format!("/accounts({account})")}),
    ] {
        let resp = s
            .req(Method::POST, &format!("{API}/contacts"))
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, None, &format!("{body}")).await;
    }
    assert_eq!(count(&s, "contacts").await, before);
}

#[tokio::test]
async fn annotation_filesize_is_computed_from_the_document_body() {
    let s = start();
    let account = create(&s, "accounts", json!({"name": "Holder"})).await;
    // "hello, world\n" is 13 bytes.
    let b64 = "aGVsbG8sIHdvcmxkCg==";
    let resp = s
        .req(Method::POST, &format!("{API}/annotations"))
        .header("Prefer", "return=representation")
        .json(
            &json!({"subject": "Greeting", "filename": "hello.txt", "mimetype": "text/plain",
                      "documentbody": b64,
                      "objectid_account@odata.bind": format!("/accounts({account})")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let row: Value = resp.json().await.unwrap();
    assert_eq!(row["filesize"], 13, "{row}");
    assert_eq!(row["documentbody"], b64);
    assert_eq!(row["_objectid_value"], account.as_str(), "{row}");
    let id = row["annotationid"].as_str().unwrap().to_owned();

    // A new body: a new size.
    let (status, text) = status_of(patch(
        &s,
        "annotations",
        &id,
        &json!({"documentbody": "AAECAwQFBgcICQ=="}),
    ))
    .await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(read(&s, "annotations", &id).await["filesize"], 10);

    // Not Base64: 400.
    let resp = s
        .req(Method::POST, &format!("{API}/annotations"))
        .json(&json!({"subject": "Bad", "documentbody": "this is not base64!"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, None, "documentbody not Base64").await;
}
