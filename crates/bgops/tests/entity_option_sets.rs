//! Option sets, black-box: the casts to `PicklistAttributeMetadata`, `StateAttributeMetadata`,
//! `StatusAttributeMetadata` and `BooleanAttributeMetadata` with `$expand=OptionSet`, on every
//! table, and the state and status codes of background operations and system jobs.

mod common;

use std::collections::BTreeSet;

use common::metadata::*;

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
    // Booleans have TrueOption and FalseOption, not Options: asked for `Options`, as every
    // choice column is, a boolean gives those two.
    let asked = cast(
        &s,
        "account",
        "BooleanAttributeMetadata",
        "OptionSet($select=Options)",
    )
    .await;
    let set = &values(&asked)[0]["OptionSet"];
    assert_eq!(set["TrueOption"]["Value"], 1, "{set}");
    assert_eq!(set["FalseOption"]["Value"], 0, "{set}");
    assert!(set.get("Options").is_none(), "{set}");
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
