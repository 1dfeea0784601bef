use serde_json::Value;

use super::options::option_set_json;
use super::query::AttributeQuery;
use super::types::{option_set_properties, MetadataType, ATTRIBUTE_METADATA};
use super::*;
use crate::catalogue::Catalogue;
use crate::metadata::ChoiceKind;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn cast(name: &str) -> &'static MetadataType {
    MetadataType::named(name).unwrap()
}

#[test]
fn the_base_type_comes_first() {
    assert_eq!(MetadataType::base().name, ATTRIBUTE_METADATA);
    assert!(MetadataType::base().base.is_none());
    for t in &types::TYPES[1..] {
        assert!(t.is_a(MetadataType::base()), "{}", t.name);
    }
}

#[test]
fn every_attribute_shows_exactly_the_properties_of_its_type() {
    for t in Catalogue::standard().tables() {
        for c in &t.columns {
            let kind = MetadataType::of_column(c);
            assert_ne!(
                kind.name, ATTRIBUTE_METADATA,
                "{}.{}",
                t.logical_name, c.logical_name
            );
            let json = attributes::attribute_json(t, c);
            let keys: Vec<&str> = json.keys().map(String::as_str).collect();
            let declared: Vec<&str> = kind.all_properties().iter().map(|(n, _)| *n).collect();
            let (mut a, mut b) = (keys.clone(), declared.clone());
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "{}.{}", t.logical_name, c.logical_name);
            if let Some(set_type) = kind.option_set_type() {
                let set = option_set_json(t, c).expect("an option set");
                let mut keys: Vec<&str> = set.keys().map(String::as_str).collect();
                let mut declared: Vec<&str> = option_set_properties(set_type)
                    .iter()
                    .map(|(n, _)| *n)
                    .collect();
                keys.sort_unstable();
                declared.sort_unstable();
                assert_eq!(keys, declared, "{}.{}", t.logical_name, c.logical_name);
            } else {
                assert!(option_set_json(t, c).is_none());
            }
        }
    }
}

#[test]
fn every_status_belongs_to_a_state_of_its_table() {
    for t in Catalogue::standard().tables() {
        let state = t.columns.iter().find_map(|c| match c.column_type {
            ColumnType::Choice {
                options,
                kind: ChoiceKind::State,
            } => Some(options),
            _ => None,
        });
        for c in &t.columns {
            if let ColumnType::Choice {
                options,
                kind: ChoiceKind::Status { states },
            } = c.column_type
            {
                let state = state.unwrap_or_else(|| panic!("{} has no state", t.logical_name));
                let values: Vec<i32> = options.iter().map(|(v, _)| *v).collect();
                let mapped: Vec<i32> = states.iter().map(|(s, _)| *s).collect();
                assert_eq!(values, mapped, "{}", t.logical_name);
                for (_, s) in states {
                    assert!(state.iter().any(|(v, _)| v == s), "{}: {s}", t.logical_name);
                }
            }
        }
    }
}

#[test]
fn state_and_status_options_link_to_each_other() {
    let c = Catalogue::standard();
    let t = c.by_logical_name("backgroundoperation").unwrap();
    let status = option_set_json(&t, t.column("backgroundoperationstatuscode").unwrap()).unwrap();
    let canceling = status["Options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["Value"] == 22)
        .unwrap();
    assert_eq!(canceling["State"], 2);
    assert_eq!(
        canceling["Label"]["UserLocalizedLabel"]["Label"],
        "Canceling"
    );
    assert_eq!(
        canceling["Label"]["LocalizedLabels"][0]["LanguageCode"],
        1033
    );
    let state = option_set_json(&t, t.column("backgroundoperationstatecode").unwrap()).unwrap();
    let values: Vec<&Value> = state["Options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["Value"])
        .collect();
    assert_eq!(values, [0, 2, 3]);
    assert_eq!(state["Options"][1]["DefaultStatus"], 20);
    assert_eq!(state["OptionSetType"], "State");

    let a = c.by_logical_name("account").unwrap();
    let flag = option_set_json(&a, a.column("creditonhold").unwrap()).unwrap();
    assert_eq!(flag["TrueOption"]["Value"], 1);
    assert_eq!(
        flag["FalseOption"]["Label"]["UserLocalizedLabel"]["Label"],
        "No"
    );
    assert!(flag.get("Options").is_none());
}

#[test]
fn filters_take_attribute_type_enumeration_literals() {
    let c = Catalogue::standard();
    let a = c.by_logical_name("account").unwrap();
    let names = |q: &AttributeQuery| -> Vec<String> {
        q.render_all(&a)
            .iter()
            .map(|v| v["LogicalName"].as_str().unwrap().to_owned())
            .collect()
    };
    let q = AttributeQuery::parse(
        &pairs(&[(
            "$filter",
            "AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'",
        )]),
        cast(ATTRIBUTE_METADATA),
    )
    .unwrap();
    assert_eq!(names(&q), ["industrycode"]);
    let q = AttributeQuery::parse(
        &pairs(&[(
            "$filter",
            "AttributeType eq 'State' or LogicalName eq 'name'",
        )]),
        cast(ATTRIBUTE_METADATA),
    )
    .unwrap();
    assert_eq!(names(&q), ["name", "statecode"]);

    for (option, value) in [
        (
            "$filter",
            "AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Nonsense'",
        ),
        (
            "$filter",
            "LogicalName eq Microsoft.Dynamics.CRM.AttributeTypeCode'String'",
        ),
        ("$filter", "DisplayName eq 'x'"),
        ("$select", "LogicalName,NoSuchProperty"),
        ("$expand", "OptionSet"),
        ("$top", "1"),
    ] {
        let e = AttributeQuery::parse(&pairs(&[(option, value)]), cast(ATTRIBUTE_METADATA))
            .unwrap_err();
        assert_eq!(e.status, 400, "{option}={value}: {e:?}");
    }
    // A boolean's options are its TrueOption and FalseOption; other names are still refused.
    let q = AttributeQuery::parse(
        &pairs(&[("$expand", "OptionSet($select=Options)")]),
        cast("BooleanAttributeMetadata"),
    )
    .unwrap();
    assert!(
        format!("{q:?}").contains(r#"option_set: Some(Some(["TrueOption", "FalseOption"]))"#),
        "{q:?}"
    );
    let e = AttributeQuery::parse(
        &pairs(&[("$expand", "OptionSet($select=Choices)")]),
        cast("BooleanAttributeMetadata"),
    )
    .unwrap_err();
    assert!(e.message.contains("Choices"), "{e:?}");
    // Under a cast, $select names the cast type's properties only.
    assert!(AttributeQuery::parse(
        &pairs(&[("$select", "MaxLength")]),
        cast("PicklistAttributeMetadata")
    )
    .is_err());
}

#[test]
fn casts_select_and_expand_the_option_set() {
    let c = Catalogue::standard();
    let t = c.by_logical_name("asyncoperation").unwrap();
    let q = AttributeQuery::parse(
        &pairs(&[
            ("$select", "LogicalName"),
            ("$expand", "OptionSet($select=Options)"),
        ]),
        cast("StatusAttributeMetadata"),
    )
    .unwrap();
    let all = q.render_all(&t);
    assert_eq!(all.len(), 1, "{all:?}");
    let status = &all[0];
    assert_eq!(status["LogicalName"], "statuscode");
    assert!(
        status.get("@odata.type").is_none(),
        "the cast type needs no annotation"
    );
    let keys: Vec<&String> = status["OptionSet"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["MetadataId", "Options"]);
    assert_eq!(status["OptionSet"]["Options"].as_array().unwrap().len(), 8);
    assert_eq!(
        q.context_properties().as_deref(),
        Some("(LogicalName,OptionSet(Options))")
    );

    // A table without choices: nothing.
    let role = c.by_logical_name("role").unwrap();
    let q = AttributeQuery::parse(&[], cast("PicklistAttributeMetadata")).unwrap();
    assert!(q.render_all(&role).is_empty());

    // Without a cast each attribute names its type.
    let q = AttributeQuery::parse(
        &pairs(&[("$select", "LogicalName")]),
        cast(ATTRIBUTE_METADATA),
    )
    .unwrap();
    let all = q.render_all(&role);
    assert_eq!(
        all[0]["@odata.type"],
        "#Microsoft.Dynamics.CRM.UniqueIdentifierAttributeMetadata"
    );
    assert_eq!(all[0].as_object().unwrap().len(), 3, "{:?}", all[0]);
}

#[test]
fn keys_name_tables_and_columns() {
    let c = Catalogue::standard();
    let a = c.by_logical_name("account").unwrap();
    let by_name = MetadataKey::parse("LogicalName='account'").unwrap();
    assert!(by_name.names_table(&a));
    let id = entity_id(&a);
    for text in [
        id.to_string(),
        format!("'{id}'"),
        format!("MetadataId={id}"),
    ] {
        assert!(MetadataKey::parse(&text).unwrap().names_table(&a), "{text}");
    }
    assert_eq!(MetadataKey::parse("LogicalName=account"), None);
    assert_eq!(MetadataKey::parse("nonsense"), None);
    let col = MetadataKey::Id(attribute_id(&a, "name"))
        .find_column(&a)
        .unwrap();
    assert_eq!(col.logical_name, "name");
    assert!(MetadataKey::parse("LogicalName='nosuch'")
        .unwrap()
        .find_column(&a)
        .is_none());
}
