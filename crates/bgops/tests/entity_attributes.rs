//! Attribute metadata, black-box: `EntityDefinitions(…)/Attributes` of every table with
//! `$select` and `$filter`, one attribute, `$expand=Attributes`, and the 404s. The casts and
//! option sets are in `entity_option_sets.rs`.

mod common;

use std::collections::BTreeSet;

use common::expect_error;
use common::metadata::*;
use reqwest::Method;

#[tokio::test]
async fn every_table_lists_its_attributes_in_dataverse_shape() {
    let s = start();
    let all = tables(&s).await;
    assert_eq!(all.len(), 17);
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
