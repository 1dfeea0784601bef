//! The service surface, black-box: the service document, `$metadata`, `EntityDefinitions`
//! and `WhoAmI()`.

mod common;

use std::collections::BTreeSet;

use common::{assert_json_headers, Server};
use reqwest::{Method, Response};
use serde_json::Value;

const API: &str = "/api/data/v9.2";

/// A server on a fresh database without the demo accounts, so tests see only their own rows.
fn start() -> Server {
    let mut args = common::FAST.to_vec();
    args.extend(["--demo-data", "false"]);
    Server::start(&args)
}

/// Every entity set of SPEC §6.
const ENTITY_SETS: &[&str] = &[
    "backgroundoperations",
    "accounts",
    "contacts",
    "annotations",
    "customapis",
    "customapirequestparameters",
    "customapiresponseproperties",
    "plugintypes",
    "systemusers",
    "roles",
    "privileges",
    "roleprivilegescollection",
    "systemuserrolescollection",
    "sdkmessages",
    "serviceendpoints",
    "sdkmessageprocessingsteps",
    "asyncoperations",
];

async fn get(s: &Server, path: &str) -> Response {
    s.req(Method::GET, path).send().await.unwrap()
}

async fn get_json(s: &Server, path: &str) -> Value {
    let resp = get(s, path).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    assert_json_headers(&headers, path);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
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

#[tokio::test]
async fn service_document_lists_every_entity_set() {
    let s = start();
    let body = get_json(&s, &format!("{API}/")).await;
    assert_eq!(
        body["@odata.context"],
        format!("{}{API}/$metadata", s.base),
        "{body}"
    );
    let value = body["value"].as_array().expect("value");
    let mut names = BTreeSet::new();
    for entry in value {
        let name = entry["name"].as_str().unwrap_or_else(|| panic!("{entry}"));
        assert_eq!(entry["kind"], "EntitySet", "{entry}");
        assert_eq!(entry["url"], name, "{entry}");
        names.insert(name.to_owned());
    }
    for set in ENTITY_SETS {
        assert!(names.contains(*set), "{set} missing from {names:?}");
    }
    // Each one answers a query.
    for set in ENTITY_SETS {
        let body = get_json(&s, &format!("{API}/{set}?$top=1")).await;
        assert!(body["value"].is_array(), "{set}: {body}");
    }
}

#[tokio::test]
async fn metadata_is_csdl_with_tables_and_custom_apis() {
    let s = start();
    let resp = get(&s, &format!("{API}/$metadata")).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.contains("xml"), "Content-Type {ct}");
    let xml = resp.text().await.unwrap();
    assert!(xml.starts_with("<?xml"), "{}", &xml[..xml.len().min(200)]);
    for needle in [
        "<edmx:Edmx",
        r#"EntityType Name="account""#,
        r#"EntityType Name="contact""#,
        r#"EntityType Name="annotation""#,
        r#"EntityType Name="backgroundoperation""#,
        r#"EntitySet Name="accounts""#,
        r#"EntitySet Name="backgroundoperations""#,
        r#"<Action Name="bgops_Echo""#,
        r#"<PropertyRef Name="accountid"/>"#,
        r#"Property Name="_parentcustomerid_value""#,
    ] {
        assert!(xml.contains(needle), "$metadata lacks {needle}");
    }
    for set in ENTITY_SETS {
        assert!(
            xml.contains(&format!(r#"EntitySet Name="{set}""#)),
            "$metadata lacks the entity set {set}"
        );
    }
}

#[tokio::test]
async fn entity_definitions_with_select_and_filter() {
    let s = start();
    let body = get_json(
        &s,
        &format!(
            "{API}/EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute&$filter=LogicalName%20eq%20'contact'"
        ),
    )
    .await;
    let rows = body["value"].as_array().expect("value");
    assert_eq!(rows.len(), 1, "{body}");
    let row = &rows[0];
    assert_eq!(row["LogicalName"], "contact");
    assert_eq!(row["EntitySetName"], "contacts");
    assert_eq!(row["PrimaryIdAttribute"], "contactid");
    assert_eq!(row["PrimaryNameAttribute"], "fullname");
    let keys: BTreeSet<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('@'))
        .collect();
    let allowed: BTreeSet<&str> = [
        "LogicalName",
        "EntitySetName",
        "PrimaryIdAttribute",
        "PrimaryNameAttribute",
        "MetadataId",
    ]
    .into_iter()
    .collect();
    assert!(
        keys.is_subset(&allowed),
        "only the selected columns: {keys:?}"
    );

    // Without options: every table.
    let body = get_json(&s, &format!("{API}/EntityDefinitions")).await;
    let sets: BTreeSet<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["EntitySetName"].as_str().unwrap())
        .collect();
    for set in ENTITY_SETS {
        assert!(sets.contains(set), "{set} missing from EntityDefinitions");
    }

    // Another filter.
    let body = get_json(
        &s,
        &format!(
            "{API}/EntityDefinitions?$select=LogicalName&$filter=startswith(LogicalName,'customapi')"
        ),
    )
    .await;
    let names: BTreeSet<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["LogicalName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "customapi",
            "customapirequestparameter",
            "customapiresponseproperty"
        ]
        .into_iter()
        .collect()
    );

    // An unknown column is a 400 naming it.
    let resp = get(&s, &format!("{API}/EntityDefinitions?$select=NoSuchThing")).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NoSuchThing"),
        "{body}"
    );
}

#[tokio::test]
async fn entity_definition_by_logical_name() {
    let s = start();
    let row = get_json(
        &s,
        &format!("{API}/EntityDefinitions(LogicalName='account')"),
    )
    .await;
    assert_eq!(row["LogicalName"], "account", "{row}");
    assert_eq!(row["EntitySetName"], "accounts");
    assert_eq!(row["PrimaryIdAttribute"], "accountid");
    assert_eq!(row["PrimaryNameAttribute"], "name");
    assert!(
        row["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#EntityDefinitions/$entity"),
        "{row}"
    );

    let row = get_json(
        &s,
        &format!(
            "{API}/EntityDefinitions(LogicalName='backgroundoperation')?$select=EntitySetName"
        ),
    )
    .await;
    assert_eq!(row["EntitySetName"], "backgroundoperations", "{row}");

    let resp = get(
        &s,
        &format!("{API}/EntityDefinitions(LogicalName='nosuchtable')"),
    )
    .await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
}

#[tokio::test]
async fn who_am_i_names_the_caller() {
    let s = start();
    let body = get_json(&s, &format!("{API}/WhoAmI()")).await;
    for key in ["UserId", "BusinessUnitId", "OrganizationId"] {
        assert_guid(&body[key], key);
    }
    // The user is a real systemuser row.
    let user = body["UserId"].as_str().unwrap();
    let resp = get(&s, &format!("{API}/systemusers({user})")).await;
    assert_eq!(resp.status(), 200);

    // Without a token: 401.
    let resp = s
        .client
        .get(s.url(&format!("{API}/WhoAmI()")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
