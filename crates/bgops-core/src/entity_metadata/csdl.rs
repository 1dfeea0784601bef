//! The part of `$metadata` that declares the metadata itself: `EntityMetadata` (the entity
//! type of `EntityDefinitions`) with its `Attributes`, every attribute metadata type of
//! [`TYPES`] with the properties bgops answers, the option set types and the complex types
//! their properties use. Written from the same lists as the JSON answers.

use std::fmt::Write as _;

use super::entity_definition_table;
use super::types::{option_set_properties, ATTRIBUTE_TYPE_CODES, TYPES};

/// Properties as `(name, CSDL type)`.
type Properties = &'static [(&'static str, &'static str)];

/// Complex types: `(name, base, properties)`.
const COMPLEX_TYPES: &[(&str, Option<&str>, Properties)] = &[
    (
        "LocalizedLabel",
        None,
        &[
            ("Label", "Edm.String"),
            ("LanguageCode", "Edm.Int32"),
            ("IsManaged", "Edm.Boolean"),
            ("MetadataId", "Edm.Guid"),
            ("HasChanged", "Edm.Boolean"),
        ],
    ),
    (
        "Label",
        None,
        &[
            ("LocalizedLabels", "Collection(mscrm.LocalizedLabel)"),
            ("UserLocalizedLabel", "mscrm.LocalizedLabel"),
        ],
    ),
    ("AttributeTypeDisplayName", None, &[("Value", "Edm.String")]),
    ("StringFormatName", None, &[("Value", "Edm.String")]),
    ("DateTimeBehavior", None, &[("Value", "Edm.String")]),
    (
        "AttributeRequiredLevelManagedProperty",
        None,
        &[
            ("Value", "Edm.String"),
            ("CanBeChanged", "Edm.Boolean"),
            ("ManagedPropertyLogicalName", "Edm.String"),
        ],
    ),
    (
        "BooleanManagedProperty",
        None,
        &[
            ("Value", "Edm.Boolean"),
            ("CanBeChanged", "Edm.Boolean"),
            ("ManagedPropertyLogicalName", "Edm.String"),
        ],
    ),
    (
        "OptionMetadata",
        None,
        &[
            ("Value", "Edm.Int32"),
            ("Label", "mscrm.Label"),
            ("Description", "mscrm.Label"),
            ("Color", "Edm.String"),
            ("IsManaged", "Edm.Boolean"),
            ("ExternalValue", "Edm.String"),
            ("ParentValues", "Collection(Edm.Int32)"),
            ("Tag", "Edm.String"),
            ("IsHidden", "Edm.Boolean"),
            ("MetadataId", "Edm.Guid"),
            ("HasChanged", "Edm.Boolean"),
        ],
    ),
    (
        "StateOptionMetadata",
        Some("OptionMetadata"),
        &[
            ("DefaultStatus", "Edm.Int32"),
            ("InvariantName", "Edm.String"),
        ],
    ),
    (
        "StatusOptionMetadata",
        Some("OptionMetadata"),
        &[("State", "Edm.Int32"), ("TransitionData", "Edm.String")],
    ),
];

fn properties(x: &mut String, props: &[(&str, &str)]) {
    for (name, ty) in props {
        let _ = write!(x, r#"<Property Name="{name}" Type="{ty}"/>"#);
    }
}

/// The declarations, to place inside the `Microsoft.Dynamics.CRM` schema.
pub fn metadata_types() -> String {
    let mut x = String::from(r#"<EnumType Name="AttributeTypeCode">"#);
    for (value, member) in ATTRIBUTE_TYPE_CODES.iter().enumerate() {
        let _ = write!(x, r#"<Member Name="{member}" Value="{value}"/>"#);
    }
    x.push_str("</EnumType>");
    for (name, base, props) in COMPLEX_TYPES {
        match base {
            Some(b) => {
                let _ = write!(x, r#"<ComplexType Name="{name}" BaseType="mscrm.{b}">"#);
            }
            None => {
                let _ = write!(x, r#"<ComplexType Name="{name}">"#);
            }
        }
        properties(&mut x, props);
        x.push_str("</ComplexType>");
    }
    let key = r#"<Key><PropertyRef Name="MetadataId"/></Key>"#;
    x.push_str(r#"<EntityType Name="EntityMetadata">"#);
    x.push_str(key);
    for c in &entity_definition_table().columns {
        let _ = write!(
            x,
            r#"<Property Name="{}" Type="{}"/>"#,
            c.logical_name,
            c.column_type.edm_type()
        );
    }
    x.push_str(r#"<NavigationProperty Name="Attributes" Type="Collection(mscrm.AttributeMetadata)"/></EntityType>"#);
    for set_type in ["OptionSetMetadata", "BooleanOptionSetMetadata"] {
        let _ = write!(x, r#"<EntityType Name="{set_type}">{key}"#);
        properties(&mut x, &option_set_properties(set_type));
        x.push_str("</EntityType>");
    }
    for t in TYPES {
        let _ = write!(x, r#"<EntityType Name="{}""#, t.name);
        if let Some(base) = t.base {
            let _ = write!(x, r#" BaseType="mscrm.{base}""#);
        }
        if t.is_abstract {
            x.push_str(r#" Abstract="true""#);
        }
        x.push('>');
        if t.base.is_none() {
            x.push_str(key);
        }
        properties(&mut x, t.properties);
        if let Some(set_type) = t.option_set {
            let _ = write!(
                x,
                r#"<NavigationProperty Name="OptionSet" Type="mscrm.{set_type}"/>"#
            );
        }
        x.push_str("</EntityType>");
    }
    x
}

/// The entity set declaration, to place inside the entity container.
pub const ENTITY_SET: &str =
    r#"<EntitySet Name="EntityDefinitions" EntityType="mscrm.EntityMetadata"/>"#;
