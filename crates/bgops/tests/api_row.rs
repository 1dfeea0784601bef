//! `GET /api/data/v9.2/backgroundoperations({id})`, black-box: every column, `$select`
//! (plain and percent-encoded), refusals, and FormattedValue annotations.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{assert_json_headers, expect_error, Server};
use reqwest::{Method, Response};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);
const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";

const COLUMNS: &[&str] = &[
    "backgroundoperationid",
    "name",
    "displayname",
    "backgroundoperationstatecode",
    "backgroundoperationstatuscode",
    "inputparameters",
    "outputparameters",
    "starttime",
    "endtime",
    "retrycount",
    "errorcode",
    "errormessage",
    "runas",
    "priority",
    "ttlinseconds",
    "createdon",
    "modifiedon",
    "_createdby_value",
    "versionnumber",
];

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn assert_date(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {v}"));
    let ok = s.len() == 20
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(ok, "{what}: not YYYY-MM-DDTHH:MM:SSZ: {s}");
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

/// A `[{"Key","Value"}]` JSON string as (key, value) pairs.
fn key_values(v: &Value, what: &str) -> Vec<(String, String)> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a JSON string: {v}"));
    let list: Value = serde_json::from_str(s).unwrap_or_else(|e| panic!("{what}: {e}: {s}"));
    list.as_array()
        .unwrap_or_else(|| panic!("{what}: not an array: {s}"))
        .iter()
        .map(|kv| {
            let obj = kv.as_object().expect("an object");
            assert_eq!(obj.len(), 2, "{what}: only Key and Value: {kv}");
            let value = kv["Value"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: Value is not a string: {kv}"));
            (
                kv["Key"].as_str().expect("Key").to_owned(),
                value.to_owned(),
            )
        })
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn row_path(id: &str) -> String {
    format!("/api/data/v9.2/backgroundoperations({id})")
}

async fn get(s: &Server, path: &str, prefer: Option<&str>) -> Response {
    let mut rb = s.req(Method::GET, path);
    if let Some(p) = prefer {
        rb = rb.header("Prefer", p);
    }
    rb.send().await.unwrap()
}

/// Runs bgops_Echo to completion; returns its id.
async fn echo_done(s: &Server) -> String {
    let id = s
        .submit(
            "bgops_Echo",
            json!({"Text": "hi", "Number": 7, "Flag": true}),
        )
        .await;
    s.wait_terminal(&id, WAIT).await;
    id
}

#[tokio::test]
async fn row_has_every_column() {
    let s = Server::start(common::FAST);
    let id = echo_done(&s).await;
    let resp = get(&s, &row_path(&id), None).await;
    assert_eq!(resp.status(), 200);
    assert_json_headers(resp.headers(), "row");
    let row: Value = resp.json().await.unwrap();

    let mut expected: BTreeSet<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    expected.insert("@odata.etag".into());
    expected.insert("@odata.context".into());
    assert_eq!(keys(&row), expected, "{row}");

    assert_eq!(
        row["@odata.context"],
        format!(
            "{}/api/data/v9.2/$metadata#backgroundoperations/$entity",
            s.base
        )
    );
    let version = row["versionnumber"]
        .as_i64()
        .expect("versionnumber is a number");
    assert_eq!(row["@odata.etag"], format!("W/\"{version}\""));
    assert_eq!(row["backgroundoperationid"], id.as_str());
    assert_eq!(row["name"], "bgops_Echo");
    assert!(row["displayname"].is_string(), "{row}");
    assert_eq!(row["backgroundoperationstatecode"], 3);
    assert_eq!(row["backgroundoperationstatuscode"], 30);
    assert_eq!(row["retrycount"], 0);
    assert_eq!(row["errorcode"], Value::Null);
    assert_eq!(row["errormessage"], Value::Null);
    assert_eq!(row["priority"], 0);
    assert_eq!(row["ttlinseconds"], 7_776_000);
    for c in ["starttime", "endtime", "createdon", "modifiedon"] {
        assert_date(&row[c], c);
    }
    assert_guid(&row["runas"], "runas");
    assert_guid(&row["_createdby_value"], "_createdby_value");
    assert_eq!(row["runas"], row["_createdby_value"], "the admin ran it");

    let strs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut input = key_values(&row["inputparameters"], "inputparameters");
    input.sort();
    assert_eq!(
        input,
        strs(&[("Flag", "true"), ("Number", "7"), ("Text", "hi")])
    );
    let mut output = key_values(&row["outputparameters"], "outputparameters");
    output.sort();
    assert_eq!(
        output,
        strs(&[("Flag", "true"), ("Number", "7"), ("Text", "hi")])
    );
}

#[tokio::test]
async fn row_of_a_failed_operation() {
    let s = Server::start(common::FAST);
    let id = s
        .submit(
            "bgops_Fail",
            json!({"FailTimes": 5, "Permanent": true, "Message": "bad"}),
        )
        .await;
    s.wait_terminal(&id, WAIT).await;
    let row = s.row(&id).await;
    assert_eq!(row["backgroundoperationstatuscode"], 31);
    assert_eq!(row["errorcode"], -2147220891);
    assert_eq!(row["errormessage"], "bad");
    assert_eq!(row["outputparameters"], Value::Null);
    let mut input = key_values(&row["inputparameters"], "inputparameters");
    input.sort();
    assert_eq!(
        input,
        vec![
            ("FailTimes".to_owned(), "5".to_owned()),
            ("Message".to_owned(), "bad".to_owned()),
            ("Permanent".to_owned(), "true".to_owned()),
        ]
    );
}

#[tokio::test]
async fn row_select() {
    let s = Server::start(common::FAST);
    let id = echo_done(&s).await;
    for query in ["$select=name,errorcode", "%24select=name%2Cerrorcode"] {
        let resp = get(&s, &format!("{}?{query}", row_path(&id)), None).await;
        assert_eq!(resp.status(), 200, "{query}");
        assert_json_headers(resp.headers(), query);
        let row: Value = resp.json().await.unwrap();
        let expected: BTreeSet<String> = [
            "@odata.context",
            "@odata.etag",
            "name",
            "errorcode",
            "backgroundoperationid",
            "versionnumber",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect();
        assert_eq!(keys(&row), expected, "{query}: {row}");
        assert_eq!(
            row["@odata.context"],
            format!(
                "{}/api/data/v9.2/$metadata#backgroundoperations(name,errorcode)/$entity",
                s.base
            ),
            "{query}"
        );
        assert_eq!(row["name"], "bgops_Echo");
        assert_eq!(row["errorcode"], Value::Null);
        assert_eq!(row["backgroundoperationid"], id.as_str());
        let version = row["versionnumber"].as_i64().expect("versionnumber");
        assert_eq!(row["@odata.etag"], format!("W/\"{version}\""));
    }
}

#[tokio::test]
async fn row_select_unknown_column_and_expand_are_refused() {
    let s = Server::start(common::FAST);
    let id = echo_done(&s).await;
    let resp = get(
        &s,
        &format!("{}?$select=name,nosuchcolumn", row_path(&id)),
        None,
    )
    .await;
    let msg = expect_error(resp, 400, None, "unknown $select column").await;
    assert!(
        msg.contains("nosuchcolumn"),
        "message names the column: {msg}"
    );

    let resp = get(&s, &format!("{}?$expand=createdby", row_path(&id)), None).await;
    expect_error(resp, 400, None, "$expand").await;
}

#[tokio::test]
async fn row_unknown_id_is_404() {
    let s = Server::start(common::FAST);
    let id = uuid::Uuid::new_v4().to_string();
    let resp = get(&s, &row_path(&id), None).await;
    expect_error(resp, 404, Some("0x80040217"), "unknown row").await;
}

#[tokio::test]
async fn row_formatted_value_annotations() {
    let s = Server::start(common::FAST);
    let id = echo_done(&s).await;
    let prefer = format!("odata.include-annotations=\"{FORMATTED}\"");
    let resp = get(&s, &row_path(&id), Some(&prefer)).await;
    assert_eq!(resp.status(), 200);
    let applied = resp
        .headers()
        .get("preference-applied")
        .expect("Preference-Applied")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        applied.contains(&prefer),
        "Preference-Applied echoes it: {applied}"
    );
    let row: Value = resp.json().await.unwrap();
    assert_eq!(
        row[format!("backgroundoperationstatecode@{FORMATTED}")],
        "Completed",
        "{row}"
    );
    assert_eq!(
        row[format!("backgroundoperationstatuscode@{FORMATTED}")],
        "Succeeded",
        "{row}"
    );

    // "*" asks for every annotation.
    let resp = get(&s, &row_path(&id), Some("odata.include-annotations=\"*\"")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("preference-applied").is_some());
    let row: Value = resp.json().await.unwrap();
    assert_eq!(
        row[format!("backgroundoperationstatecode@{FORMATTED}")],
        "Completed"
    );
    assert_eq!(
        row[format!("backgroundoperationstatuscode@{FORMATTED}")],
        "Succeeded"
    );

    // With $select, only the selected columns are annotated.
    let resp = get(
        &s,
        &format!("{}?$select=backgroundoperationstatuscode", row_path(&id)),
        Some(&prefer),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let row: Value = resp.json().await.unwrap();
    assert_eq!(
        row[format!("backgroundoperationstatuscode@{FORMATTED}")],
        "Succeeded"
    );
    assert!(
        row.get(format!("backgroundoperationstatecode@{FORMATTED}"))
            .is_none(),
        "{row}"
    );

    // Without the preference: no annotations, no Preference-Applied.
    let resp = get(&s, &row_path(&id), None).await;
    assert!(resp.headers().get("preference-applied").is_none());
    let row: Value = resp.json().await.unwrap();
    let annotated: Vec<&String> = row
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.contains('@') && !k.starts_with("@odata."))
        .collect();
    assert!(annotated.is_empty(), "no annotations: {annotated:?}");
}

#[tokio::test]
async fn row_labels_of_other_states() {
    let s = Server::start(common::FAST);
    let prefer = format!("odata.include-annotations=\"{FORMATTED}\"");
    let labels = |row: &Value| {
        (
            row[format!("backgroundoperationstatecode@{FORMATTED}")].clone(),
            row[format!("backgroundoperationstatuscode@{FORMATTED}")].clone(),
        )
    };

    let running = s.submit("bgops_Delay", json!({"DelayMs": 30000})).await;
    s.wait_status(&running, 20, WAIT).await;
    let row: Value = get(&s, &row_path(&running), Some(&prefer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        labels(&row),
        (json!("Locked"), json!("In Progress")),
        "{row}"
    );

    let resp = s
        .req(
            Method::DELETE,
            &format!("/api/backgroundoperation/{running}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    s.wait_terminal(&running, WAIT).await;
    let row: Value = get(&s, &row_path(&running), Some(&prefer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        labels(&row),
        (json!("Completed"), json!("Canceled")),
        "{row}"
    );

    let failed = s
        .submit("bgops_Fail", json!({"FailTimes": 1, "Permanent": true}))
        .await;
    s.wait_terminal(&failed, WAIT).await;
    let row: Value = get(&s, &row_path(&failed), Some(&prefer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(labels(&row), (json!("Completed"), json!("Failed")), "{row}");
}
