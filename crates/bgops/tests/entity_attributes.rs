//! Attribute metadata, black-box: `EntityDefinitions(…)/Attributes` of every table with
//! `$select` and `$filter`, one attribute, the casts to the choice, state, status and boolean
//! metadata types with their option sets, `$expand=Attributes`, and the 404s.

mod common;

use std::collections::BTreeSet;

use common::{assert_json_headers, expect_error, Server};
use reqwest::Method;
use serde_json::Value;

const API: &str = "/api/data/v9.2";
const NS: &str = "Microsoft.Dynamics.CRM";

fn start() -> Server {
    let mut args = common::FAST.to_vec();
    args.extend(["--demo-data", "false"]);
    Server::start(&args)
}

async fn get_json(s: &Server, path: &str) -> Value {
    let resp = s.req(Method::GET, path).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    assert_json_headers(&headers, path);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

async fn get_error(s: &Server, path: &str, status: u16, code: Option<&str>) -> String {
    let resp = s.req(Method::GET, path).send().await.unwrap();
    expect_error(resp, status, code, path).await
}

fn values(body: &Value) -> &Vec<Value> {
    body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value: {body}"))
}

fn names(body: &Value) -> Vec<&str> {
    values(body)
        .iter()
        .map(|a| a["LogicalName"].as_str().unwrap())
        .collect()
}

/// The tables, as `EntityDefinitions` lists them: `(LogicalName, MetadataId, PrimaryId, PrimaryName)`.
async fn tables(s: &Server) -> Vec<(String, String, String, String)> {
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

#[tokio::test]
async fn every_table_lists_its_attributes_in_dataverse_shape() {
    let s = start();
    let all = tables(&s).await;
    assert_eq!(all.len(), 14);
    for (name, id, primary_id, primary_name) in &all {
        let path = format!("{API}/EntityDefinitions(LogicalName='{name}')/Attributes");
        let body = get_json(&s, &path).await;
        assert_eq!(
            body["@odata.context"],
            format!(
                "{}{API}/$metadata#EntityDefinitions(LogicalName='{name}')/Attributes",
                s.base
            )
        );
        let attrs = values(&body);
        assert!(attrs.len() > 4, "{name}: {body}");
        for a in attrs {
            let what = format!("{name}.{}", a["LogicalName"]);
            for key in [
                "MetadataId",
                "LogicalName",
                "SchemaName",
                "AttributeType",
                "AttributeTypeName",
                "IsPrimaryId",
                "IsPrimaryName",
                "IsValidForCreate",
                "IsValidForUpdate",
                "IsValidForRead",
                "RequiredLevel",
            ] {
                assert!(a.get(key).is_some(), "{what} lacks {key}: {a}");
            }
            let ty = a["AttributeType"].as_str().unwrap();
            assert_eq!(
                a["AttributeTypeName"]["Value"],
                format!("{ty}Type"),
                "{what}"
            );
            assert_eq!(a["EntityLogicalName"], name.as_str(), "{what}");
            assert_eq!(a["IsValidForRead"], true, "{what}");
            assert!(a["RequiredLevel"]["Value"].is_string(), "{what}");
            let odata_type = a["@odata.type"].as_str().unwrap();
            assert!(odata_type.starts_with(&format!("#{NS}.")), "{what}");
            match ty {
                "String" | "Memo" => assert!(a["MaxLength"].as_u64().unwrap() > 0, "{what}"),
                "Lookup" => assert!(!a["Targets"].as_array().unwrap().is_empty(), "{what}"),
                _ => assert!(a.get("Targets").is_none(), "{what}"),
            }
            if a["LogicalName"] == primary_id.as_str() {
                assert_eq!(a["IsPrimaryId"], true, "{what}");
                assert_eq!(a["RequiredLevel"]["Value"], "SystemRequired", "{what}");
            } else {
                assert_eq!(a["IsPrimaryId"], false, "{what}");
            }
            assert_eq!(
                a["IsPrimaryName"],
                a["LogicalName"] == primary_name.as_str(),
                "{what}"
            );
        }
        // The same table by its MetadataId.
        let by_id = get_json(&s, &format!("{API}/EntityDefinitions({id})/Attributes")).await;
        assert_eq!(by_id["value"], body["value"], "{name} by MetadataId");
    }

    let account = get_json(
        &s,
        &format!("{API}/EntityDefinitions(LogicalName='account')/Attributes"),
    )
    .await;
    let find = |n: &str| {
        values(&account)
            .iter()
            .find(|a| a["LogicalName"] == n)
            .unwrap()
            .clone()
    };
    let name = find("name");
    assert_eq!(name["MaxLength"], 160);
    assert_eq!(name["RequiredLevel"]["Value"], "ApplicationRequired");
    assert_eq!(name["IsValidForCreate"], true);
    let contact = find("primarycontactid");
    assert_eq!(contact["Targets"], serde_json::json!(["contact"]));
    assert_eq!(contact["AttributeType"], "Lookup");
    assert_eq!(find("createdon")["IsValidForCreate"], false);
    assert_eq!(find("statecode")["AttributeType"], "State");
    assert_eq!(find("statuscode")["AttributeType"], "Status");
    assert_eq!(find("industrycode")["AttributeType"], "Picklist");
    assert_eq!(find("creditonhold")["AttributeType"], "Boolean");
}

#[tokio::test]
async fn attributes_take_select_and_filter() {
    let s = start();
    let base = format!("{API}/EntityDefinitions(LogicalName='account')/Attributes");
    let body = get_json(&s, &format!("{base}?$select=LogicalName")).await;
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/Attributes(LogicalName)"));
    for a in values(&body) {
        let keys: BTreeSet<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["@odata.type", "LogicalName", "MetadataId"]
                .into_iter()
                .collect(),
            "{a}"
        );
    }

    let body = get_json(&s, &format!("{base}?$filter=LogicalName%20eq%20'name'")).await;
    assert_eq!(names(&body), ["name"]);

    let body = get_json(
        &s,
        &format!("{base}?$select=LogicalName&$filter=AttributeType%20eq%20{NS}.AttributeTypeCode'Picklist'"),
    )
    .await;
    assert_eq!(names(&body), ["industrycode"]);
    let body = get_json(
        &s,
        &format!("{base}?$select=LogicalName&$filter=AttributeType%20eq%20{NS}.AttributeTypeCode'Lookup'%20and%20IsValidForCreate%20eq%20true"),
    )
    .await;
    assert_eq!(names(&body), ["primarycontactid"]);
    let body = get_json(&s, &format!("{base}?$filter=IsPrimaryName%20eq%20true")).await;
    assert_eq!(names(&body), ["name"]);

    for (query, needle) in [
        (
            format!("$filter=AttributeType%20eq%20{NS}.AttributeTypeCode'Nonsense'"),
            "Nonsense",
        ),
        (
            format!("$filter=LogicalName%20eq%20{NS}.AttributeTypeCode'String'"),
            "AttributeTypeCode",
        ),
        (
            "$select=LogicalName,NoSuchProperty".into(),
            "NoSuchProperty",
        ),
        ("$filter=NoSuchProperty%20eq%201".into(), "NoSuchProperty"),
        ("$expand=OptionSet".into(), "OptionSet"),
        ("$top=2".into(), "$top"),
    ] {
        let msg = get_error(&s, &format!("{base}?{query}"), 400, None).await;
        assert!(msg.contains(needle), "{query}: {msg}");
    }
}

#[tokio::test]
async fn one_attribute_by_logical_name_or_metadata_id() {
    let s = start();
    let base = format!("{API}/EntityDefinitions(LogicalName='account')/Attributes");
    let name = get_json(&s, &format!("{base}(LogicalName='name')")).await;
    assert_eq!(name["LogicalName"], "name");
    assert_eq!(name["MaxLength"], 160);
    assert!(name["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/Attributes/$entity"));
    let id = name["MetadataId"].as_str().unwrap();
    let again = get_json(&s, &format!("{base}({id})?$select=LogicalName,MaxLength")).await;
    assert_eq!(again["LogicalName"], "name");
    assert_eq!(again["MaxLength"], 160);
    assert!(again.get("SchemaName").is_none(), "{again}");

    let picklist = get_json(
        &s,
        &format!("{base}(LogicalName='industrycode')/{NS}.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)"),
    )
    .await;
    let options = picklist["OptionSet"]["Options"].as_array().unwrap();
    assert_eq!(options.len(), 33);
    assert_eq!(options[0]["Value"], 1);
    assert_eq!(
        options[0]["Label"]["UserLocalizedLabel"]["Label"],
        "Accounting"
    );

    // A cast the attribute is not.
    get_error(
        &s,
        &format!("{base}(LogicalName='name')/{NS}.PicklistAttributeMetadata"),
        404,
        Some("0x80040217"),
    )
    .await;
    let msg = get_error(
        &s,
        &format!("{base}(LogicalName='name')?$filter=LogicalName%20eq%20'x'"),
        400,
        None,
    )
    .await;
    assert!(msg.contains("$filter"), "{msg}");
}

/// The options of a cast's attribute: `(value, label)` and each option.
fn options_of(attr: &Value) -> Vec<(i64, String)> {
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

async fn cast(s: &Server, table: &str, cast: &str, expand: &str) -> Value {
    get_json(
        s,
        &format!("{API}/EntityDefinitions(LogicalName='{table}')/Attributes/{NS}.{cast}?$select=LogicalName&$expand={expand}"),
    )
    .await
}

#[tokio::test]
async fn state_and_status_codes_of_operations_and_system_jobs() {
    let s = start();
    let opts = |v: &[(i64, &str)]| -> Vec<(i64, String)> {
        v.iter().map(|(n, l)| (*n, (*l).to_owned())).collect()
    };
    let state = cast(
        &s,
        "backgroundoperation",
        "StateAttributeMetadata",
        "OptionSet",
    )
    .await;
    assert_eq!(names(&state), ["backgroundoperationstatecode"]);
    let attr = &values(&state)[0];
    assert_eq!(
        options_of(attr),
        opts(&[(0, "Ready"), (2, "Locked"), (3, "Completed")])
    );
    assert_eq!(attr["OptionSet"]["OptionSetType"], "State");
    assert_eq!(attr["OptionSet"]["Options"][1]["DefaultStatus"], 20);

    let status = cast(
        &s,
        "backgroundoperation",
        "StatusAttributeMetadata",
        "OptionSet($select=Options)",
    )
    .await;
    let attr = &values(&status)[0];
    assert_eq!(attr["LogicalName"], "backgroundoperationstatuscode");
    assert_eq!(
        options_of(attr),
        opts(&[
            (0, "Waiting For Resources"),
            (20, "In Progress"),
            (22, "Canceling"),
            (30, "Succeeded"),
            (31, "Failed"),
            (32, "Canceled"),
        ])
    );
    let states: Vec<i64> = attr["OptionSet"]["Options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["State"].as_i64().unwrap())
        .collect();
    assert_eq!(states, [0, 2, 2, 3, 3, 3]);
    let keys: BTreeSet<&str> = attr["OptionSet"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["MetadataId", "Options"].into_iter().collect());

    let state = cast(&s, "asyncoperation", "StateAttributeMetadata", "OptionSet").await;
    assert_eq!(
        options_of(&values(&state)[0]),
        opts(&[
            (0, "Ready"),
            (1, "Suspended"),
            (2, "Locked"),
            (3, "Completed")
        ])
    );
    let status = cast(&s, "asyncoperation", "StatusAttributeMetadata", "OptionSet").await;
    let values_only: Vec<i64> = options_of(&values(&status)[0])
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(values_only, [0, 10, 20, 21, 22, 30, 31, 32]);
}

#[tokio::test]
async fn choice_and_boolean_columns_of_every_table() {
    let s = start();
    for (table, ..) in tables(&s).await {
        let all = get_json(
            &s,
            &format!(
                "{API}/EntityDefinitions(LogicalName='{table}')/Attributes?$select=LogicalName"
            ),
        )
        .await;
        for (cast_type, attribute_type) in [
            ("PicklistAttributeMetadata", "Picklist"),
            ("StateAttributeMetadata", "State"),
            ("StatusAttributeMetadata", "Status"),
            ("BooleanAttributeMetadata", "Boolean"),
        ] {
            let expected: Vec<&str> = values(&all)
                .iter()
                .filter(|a| a["@odata.type"] == format!("#{NS}.{cast_type}"))
                .map(|a| a["LogicalName"].as_str().unwrap())
                .collect();
            let body = cast(&s, &table, cast_type, "OptionSet").await;
            assert_eq!(names(&body), expected, "{table} {cast_type}");
            let filtered = get_json(
                &s,
                &format!("{API}/EntityDefinitions(LogicalName='{table}')/Attributes?$select=LogicalName&$filter=AttributeType%20eq%20{NS}.AttributeTypeCode'{attribute_type}'"),
            )
            .await;
            assert_eq!(names(&filtered), expected, "{table} {attribute_type}");
            for attr in values(&body) {
                assert!(attr.get("@odata.type").is_none(), "{attr}");
                if cast_type == "BooleanAttributeMetadata" {
                    let set = &attr["OptionSet"];
                    assert_eq!(set["TrueOption"]["Value"], 1, "{attr}");
                    assert_eq!(set["FalseOption"]["Value"], 0, "{attr}");
                    assert!(set["TrueOption"]["Label"]["UserLocalizedLabel"]["Label"].is_string());
                } else {
                    assert!(!options_of(attr).is_empty(), "{table}: {attr}");
                }
            }
        }
    }
    // A table without choices answers an empty collection.
    let body = cast(
        &s,
        "role",
        "PicklistAttributeMetadata",
        "OptionSet($select=Options)",
    )
    .await;
    assert_eq!(body["value"], serde_json::json!([]));
    // Booleans have TrueOption and FalseOption, not Options.
    let msg = get_error(
        &s,
        &format!("{API}/EntityDefinitions(LogicalName='account')/Attributes/{NS}.BooleanAttributeMetadata?$expand=OptionSet($select=Options)"),
        400,
        None,
    )
    .await;
    assert!(msg.contains("BooleanOptionSetMetadata"), "{msg}");
    let flag = cast(
        &s,
        "account",
        "BooleanAttributeMetadata",
        "OptionSet($select=TrueOption,FalseOption)",
    )
    .await;
    assert_eq!(names(&flag), ["creditonhold"]);
    assert_eq!(
        values(&flag)[0]["OptionSet"]["FalseOption"]["Label"]["UserLocalizedLabel"]["Label"],
        "No"
    );
}

#[tokio::test]
async fn entity_definition_expands_its_attributes() {
    let s = start();
    let body = get_json(
        &s,
        &format!("{API}/EntityDefinitions(LogicalName='contact')?$expand=Attributes($select=LogicalName)"),
    )
    .await;
    assert_eq!(body["LogicalName"], "contact");
    let attrs = body["Attributes"].as_array().unwrap();
    let got: Vec<&str> = attrs
        .iter()
        .map(|a| a["LogicalName"].as_str().unwrap())
        .collect();
    let list = get_json(
        &s,
        &format!("{API}/EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName"),
    )
    .await;
    assert_eq!(got, names(&list));
    assert!(got.contains(&"lastname"));

    let body = get_json(
        &s,
        &format!("{API}/EntityDefinitions?$select=LogicalName&$filter=LogicalName%20eq%20'role'&$expand=Attributes($select=LogicalName;$filter=IsPrimaryName%20eq%20true)"),
    )
    .await;
    assert_eq!(values(&body)[0]["Attributes"][0]["LogicalName"], "name");
    assert_eq!(values(&body)[0]["Attributes"].as_array().unwrap().len(), 1);

    let msg = get_error(
        &s,
        &format!("{API}/EntityDefinitions(LogicalName='contact')?$expand=Keys"),
        400,
        None,
    )
    .await;
    assert!(msg.contains("Keys"), "{msg}");
}

#[tokio::test]
async fn unknown_tables_attributes_and_casts_are_404s() {
    let s = start();
    let unknown_table = [
        format!("{API}/EntityDefinitions(LogicalName='nosuchtable')/Attributes"),
        format!("{API}/EntityDefinitions(00000000-0000-0000-0000-000000000001)/Attributes"),
        format!(
            "{API}/EntityDefinitions(LogicalName='nosuchtable')/Attributes(LogicalName='name')"
        ),
    ];
    for path in unknown_table {
        get_error(&s, &path, 404, Some("0x80040217")).await;
    }
    let base = format!("{API}/EntityDefinitions(LogicalName='account')");
    get_error(
        &s,
        &format!("{base}/Attributes(LogicalName='nosuchcolumn')"),
        404,
        Some("0x80040217"),
    )
    .await;
    get_error(
        &s,
        &format!("{base}/Attributes(00000000-0000-0000-0000-000000000001)"),
        404,
        Some("0x80040217"),
    )
    .await;
    for (path, segment) in [
        (
            format!("{base}/Attributes/{NS}.NoSuchAttributeMetadata"),
            format!("{NS}.NoSuchAttributeMetadata"),
        ),
        (format!("{base}/Attributes/Nonsense"), "Nonsense".to_owned()),
        (format!("{base}/Keys"), "Keys".to_owned()),
        (
            format!("{base}/Attributes/{NS}.PicklistAttributeMetadata/OptionSet"),
            "OptionSet".to_owned(),
        ),
    ] {
        let msg = get_error(&s, &path, 404, Some("0x8006088a")).await;
        assert!(msg.contains(&segment), "{path}: {msg}");
    }
    // A known Dataverse type no column here has: empty, as for a table without such columns.
    let body = get_json(
        &s,
        &format!("{base}/Attributes/{NS}.MultiSelectPicklistAttributeMetadata"),
    )
    .await;
    assert_eq!(body["value"], serde_json::json!([]));
    // A malformed key is a 400.
    get_error(
        &s,
        &format!("{API}/EntityDefinitions(nonsense)/Attributes"),
        400,
        None,
    )
    .await;
    // Metadata is read-only.
    let resp = s
        .req(Method::POST, &format!("{base}/Attributes"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    expect_error(resp, 405, None, "POST Attributes").await;
    // Other nested paths stay unknown segments.
    get_error(
        &s,
        &format!("{API}/accounts/whatever"),
        404,
        Some("0x8006088a"),
    )
    .await;
}
