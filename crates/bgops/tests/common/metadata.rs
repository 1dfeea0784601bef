//! Helpers of the metadata tests (`entity_*.rs`): a server without demo rows, JSON reads of
//! `EntityDefinitions` and its attributes, and their errors.

use reqwest::Method;
use serde_json::Value;

use super::{assert_json_headers, expect_error, Server};

pub const API: &str = "/api/data/v9.2";
pub const NS: &str = "Microsoft.Dynamics.CRM";

/// A server without the demo rows.
pub fn start() -> Server {
    let mut args = super::FAST.to_vec();
    args.extend(["--demo-data", "false"]);
    Server::start(&args)
}

/// A 200 JSON answer with the OData headers.
pub async fn get_json(s: &Server, path: &str) -> Value {
    let resp = s.req(Method::GET, path).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    assert_json_headers(&headers, path);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// An error answer; returns its message.
pub async fn get_error(s: &Server, path: &str, status: u16, code: Option<&str>) -> String {
    let resp = s.req(Method::GET, path).send().await.unwrap();
    expect_error(resp, status, code, path).await
}

/// The `value` array of a collection.
pub fn values(body: &Value) -> &Vec<Value> {
    body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value: {body}"))
}

/// The `LogicalName`s of a collection.
pub fn names(body: &Value) -> Vec<&str> {
    values(body)
        .iter()
        .map(|a| a["LogicalName"].as_str().unwrap())
        .collect()
}

/// The tables, as `EntityDefinitions` lists them:
/// `(LogicalName, MetadataId, PrimaryId, PrimaryName)`.
pub async fn tables(s: &Server) -> Vec<(String, String, String, String)> {
    let body = get_json(s, &format!("{API}/EntityDefinitions")).await;
    values(&body)
        .iter()
        .map(|t| {
            let f = |k: &str| t[k].as_str().unwrap().to_owned();
            (
                f("LogicalName"),
                f("MetadataId"),
                f("PrimaryIdAttribute"),
                f("PrimaryNameAttribute"),
            )
        })
        .collect()
}

/// The options of a cast's attribute as `(value, label)`, checking each label's shape.
pub fn options_of(attr: &Value) -> Vec<(i64, String)> {
    attr["OptionSet"]["Options"]
        .as_array()
        .unwrap_or_else(|| panic!("no options: {attr}"))
        .iter()
        .map(|o| {
            let label = &o["Label"];
            assert_eq!(
                label["UserLocalizedLabel"]["Label"], label["LocalizedLabels"][0]["Label"],
                "{o}"
            );
            assert_eq!(label["LocalizedLabels"][0]["LanguageCode"], 1033, "{o}");
            (
                o["Value"].as_i64().unwrap(),
                label["UserLocalizedLabel"]["Label"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

/// The attributes of `table` cast to `cast`, with `$expand={expand}`.
pub async fn cast(s: &Server, table: &str, cast: &str, expand: &str) -> Value {
    get_json(
        s,
        &format!("{API}/EntityDefinitions(LogicalName='{table}')/Attributes/{NS}.{cast}?$select=LogicalName&$expand={expand}"),
    )
    .await
}
