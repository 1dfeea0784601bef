//! `$metadata` and the metadata answers agree, black-box: every table's entity type has one
//! property per attribute (typed as its `AttributeType` says, keyed by its primary id, with a
//! navigation property per lookup target), and every attribute, option set and entity
//! definition shows exactly the properties `$metadata` declares for its type.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::metadata::{get_json, start, values, API, NS};
use reqwest::Method;
use serde_json::Value;

/// An entity or complex type of the CSDL.
#[derive(Debug, Default)]
struct CsdlType {
    base: Option<String>,
    properties: BTreeMap<String, String>,
    keys: Vec<String>,
    navigation: BTreeMap<String, String>,
}

/// The value of attribute `name` in the tag text `tag`.
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_owned())
}

/// The tags `<{element} …/>` in `body`.
fn tags<'a>(body: &'a str, element: &str) -> Vec<&'a str> {
    body.match_indices(&format!("<{element} "))
        .map(|(i, _)| &body[i..i + body[i..].find('>').unwrap()])
        .collect()
}

/// Every EntityType and ComplexType by name.
fn parse_csdl(xml: &str) -> BTreeMap<String, CsdlType> {
    let mut out = BTreeMap::new();
    for element in ["EntityType", "ComplexType"] {
        for (i, _) in xml.match_indices(&format!("<{element} ")) {
            let head_end = i + xml[i..].find('>').unwrap();
            let head = &xml[i..head_end];
            let body = if head.ends_with('/') {
                ""
            } else {
                let close = format!("</{element}>");
                &xml[head_end..head_end + xml[head_end..].find(&close).unwrap()]
            };
            let t = CsdlType {
                base: attr(head, "BaseType").map(|b| b.trim_start_matches("mscrm.").to_owned()),
                properties: tags(body, "Property")
                    .iter()
                    .map(|p| (attr(p, "Name").unwrap(), attr(p, "Type").unwrap()))
                    .collect(),
                keys: tags(body, "PropertyRef")
                    .iter()
                    .map(|p| attr(p, "Name").unwrap())
                    .collect(),
                navigation: tags(body, "NavigationProperty")
                    .iter()
                    .map(|p| (attr(p, "Name").unwrap(), attr(p, "Type").unwrap()))
                    .collect(),
            };
            out.insert(attr(head, "Name").unwrap(), t);
        }
    }
    out
}

/// The properties of `name` and its base types.
fn all_properties(types: &BTreeMap<String, CsdlType>, name: &str) -> BTreeSet<String> {
    let t = types
        .get(name)
        .unwrap_or_else(|| panic!("$metadata lacks the type {name}"));
    let mut out: BTreeSet<String> = t.properties.keys().cloned().collect();
    if let Some(base) = &t.base {
        out.extend(all_properties(types, base));
    }
    out
}

fn nav_of(types: &BTreeMap<String, CsdlType>, name: &str, nav: &str) -> Option<String> {
    let t = types.get(name)?;
    t.navigation
        .get(nav)
        .cloned()
        .or_else(|| t.base.as_deref().and_then(|b| nav_of(types, b, nav)))
}

fn keys_of(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .filter(|k| !k.starts_with('@'))
        .cloned()
        .collect()
}

fn edm_of(attribute_type: &str) -> &'static str {
    match attribute_type {
        "Uniqueidentifier" | "Lookup" => "Edm.Guid",
        "String" | "Memo" => "Edm.String",
        "Integer" | "Picklist" | "State" | "Status" => "Edm.Int32",
        "BigInt" => "Edm.Int64",
        "Decimal" | "Money" => "Edm.Decimal",
        "Double" => "Edm.Double",
        "Boolean" => "Edm.Boolean",
        "DateTime" => "Edm.DateTimeOffset",
        other => panic!("unexpected AttributeType {other}"),
    }
}

#[tokio::test]
async fn metadata_declares_what_the_attribute_answers_show() {
    let s = start();
    let resp = s
        .req(Method::GET, &format!("{API}/$metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let xml = resp.text().await.unwrap();
    let types = parse_csdl(&xml);
    assert!(
        xml.contains(r#"<EntitySet Name="EntityDefinitions" EntityType="mscrm.EntityMetadata"/>"#),
        "EntityDefinitions is not an entity set of $metadata"
    );
    assert_eq!(
        nav_of(&types, "EntityMetadata", "Attributes").as_deref(),
        Some("Collection(mscrm.AttributeMetadata)")
    );

    let defs = get_json(&s, &format!("{API}/EntityDefinitions")).await;
    let entity_props = all_properties(&types, "EntityMetadata");
    for def in values(&defs) {
        let what = def["LogicalName"].as_str().unwrap();
        assert_eq!(keys_of(def), entity_props, "EntityDefinitions({what})");
    }

    for def in values(&defs) {
        let table = def["LogicalName"].as_str().unwrap();
        let entity = types
            .get(table)
            .unwrap_or_else(|| panic!("$metadata lacks the entity type {table}"));
        let attrs = get_json(
            &s,
            &format!("{API}/EntityDefinitions(LogicalName='{table}')/Attributes"),
        )
        .await;
        let mut shown = BTreeSet::new();
        for a in values(&attrs) {
            let name = a["LogicalName"].as_str().unwrap();
            let what = format!("{table}.{name}");
            let attribute_type = a["AttributeType"].as_str().unwrap();
            let property = if attribute_type == "Lookup" {
                format!("_{name}_value")
            } else {
                name.to_owned()
            };
            assert_eq!(
                entity.properties.get(&property).map(String::as_str),
                Some(edm_of(attribute_type)),
                "{what}: the entity type's property {property}"
            );
            shown.insert(property);
            if a["IsPrimaryId"] == true {
                assert_eq!(entity.keys, [name], "{what} is the key");
            }
            for target in a["Targets"].as_array().into_iter().flatten() {
                let target = target.as_str().unwrap();
                let typed = format!("mscrm.{target}");
                assert!(
                    entity.navigation.values().any(|t| *t == typed),
                    "{what}: no navigation property to {target}"
                );
            }
            // The attribute shows exactly the properties of its metadata type.
            let odata_type = a["@odata.type"].as_str().unwrap();
            let type_name = odata_type.trim_start_matches(&format!("#{NS}."));
            assert_eq!(
                keys_of(a),
                all_properties(&types, type_name),
                "{what} as {type_name}"
            );
            // Those with an option set show the properties of its type.
            if let Some(set_type) = nav_of(&types, type_name, "OptionSet") {
                let one = get_json(
                    &s,
                    &format!("{API}/EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{name}')/{NS}.{type_name}?$select=LogicalName&$expand=OptionSet"),
                )
                .await;
                assert_eq!(
                    keys_of(&one["OptionSet"]),
                    all_properties(&types, set_type.trim_start_matches("mscrm.")),
                    "{what}: OptionSet"
                );
            }
        }
        let declared: BTreeSet<String> = entity.properties.keys().cloned().collect();
        assert_eq!(
            shown, declared,
            "{table}: $metadata and Attributes list the same columns"
        );
    }

    for cast in [
        "PicklistAttributeMetadata",
        "StateAttributeMetadata",
        "StatusAttributeMetadata",
        "BooleanAttributeMetadata",
    ] {
        assert!(
            nav_of(&types, cast, "OptionSet").is_some(),
            "{cast} has no OptionSet in $metadata"
        );
    }
}
