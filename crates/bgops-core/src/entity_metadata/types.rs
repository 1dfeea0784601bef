//! The attribute metadata types as Dataverse's CSDL declares them (`AttributeMetadata` and the
//! types derived from it), with the properties bgops answers for each. One list drives the
//! casts a URL may name, the `$select` a request may ask for, the JSON of each attribute and
//! the types `$metadata` declares, so the four cannot disagree.

use crate::metadata::{ChoiceKind, Column, ColumnType};

/// The namespace every metadata type lives in.
pub const NAMESPACE: &str = "Microsoft.Dynamics.CRM";

/// A metadata type of attributes.
#[derive(Debug, PartialEq, Eq)]
pub struct MetadataType {
    /// The type's name without namespace (`PicklistAttributeMetadata`).
    pub name: &'static str,
    /// The type it derives from, `None` for `AttributeMetadata`.
    pub base: Option<&'static str>,
    /// Abstract types have no attributes of their own, only derived ones.
    pub is_abstract: bool,
    /// The properties it adds to its base: `(name, CSDL type)`.
    pub properties: &'static [(&'static str, &'static str)],
    /// The type of its `OptionSet` navigation property, for the types that have one.
    pub option_set: Option<&'static str>,
}

/// `AttributeMetadata` itself: the properties every attribute has.
pub const ATTRIBUTE_METADATA: &str = "AttributeMetadata";

const LABEL: &str = "mscrm.Label";

/// Every attribute metadata type a cast may name. The ones no bgops column has (file, image,
/// multi-select choices, …) are listed too, so a cast to them answers an empty collection as
/// Dataverse does for a table without such columns.
pub const TYPES: &[MetadataType] = &[
    MetadataType {
        name: ATTRIBUTE_METADATA,
        base: None,
        is_abstract: false,
        properties: &[
            ("MetadataId", "Edm.Guid"),
            ("LogicalName", "Edm.String"),
            ("SchemaName", "Edm.String"),
            ("EntityLogicalName", "Edm.String"),
            ("AttributeType", "mscrm.AttributeTypeCode"),
            ("AttributeTypeName", "mscrm.AttributeTypeDisplayName"),
            ("AttributeOf", "Edm.String"),
            ("ColumnNumber", "Edm.Int32"),
            ("DisplayName", LABEL),
            ("Description", LABEL),
            ("IsCustomAttribute", "Edm.Boolean"),
            ("IsManaged", "Edm.Boolean"),
            ("IsPrimaryId", "Edm.Boolean"),
            ("IsPrimaryName", "Edm.Boolean"),
            ("IsValidForCreate", "Edm.Boolean"),
            ("IsValidForUpdate", "Edm.Boolean"),
            ("IsValidForRead", "Edm.Boolean"),
            ("IsValidODataAttribute", "Edm.Boolean"),
            ("IsLogical", "Edm.Boolean"),
            (
                "RequiredLevel",
                "mscrm.AttributeRequiredLevelManagedProperty",
            ),
            ("SourceType", "Edm.Int32"),
            ("IntroducedVersion", "Edm.String"),
        ],
        option_set: None,
    },
    MetadataType {
        name: "EnumAttributeMetadata",
        base: Some(ATTRIBUTE_METADATA),
        is_abstract: true,
        properties: &[("DefaultFormValue", "Edm.Int32")],
        option_set: Some("OptionSetMetadata"),
    },
    derived("PicklistAttributeMetadata", "EnumAttributeMetadata", &[]),
    derived("StateAttributeMetadata", "EnumAttributeMetadata", &[]),
    derived("StatusAttributeMetadata", "EnumAttributeMetadata", &[]),
    derived(
        "MultiSelectPicklistAttributeMetadata",
        "EnumAttributeMetadata",
        &[],
    ),
    derived("EntityNameAttributeMetadata", "EnumAttributeMetadata", &[]),
    MetadataType {
        name: "BooleanAttributeMetadata",
        base: Some(ATTRIBUTE_METADATA),
        is_abstract: false,
        properties: &[("DefaultValue", "Edm.Boolean")],
        option_set: Some("BooleanOptionSetMetadata"),
    },
    derived(
        "StringAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[
            ("MaxLength", "Edm.Int32"),
            ("Format", "Edm.String"),
            ("FormatName", "mscrm.StringFormatName"),
        ],
    ),
    derived(
        "MemoAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[("MaxLength", "Edm.Int32"), ("Format", "Edm.String")],
    ),
    derived(
        "IntegerAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[
            ("MinValue", "Edm.Int32"),
            ("MaxValue", "Edm.Int32"),
            ("Format", "Edm.String"),
        ],
    ),
    derived(
        "BigIntAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[("MinValue", "Edm.Int64"), ("MaxValue", "Edm.Int64")],
    ),
    derived(
        "DecimalAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[
            ("MinValue", "Edm.Decimal"),
            ("MaxValue", "Edm.Decimal"),
            ("Precision", "Edm.Int32"),
        ],
    ),
    derived(
        "MoneyAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[
            ("MinValue", "Edm.Double"),
            ("MaxValue", "Edm.Double"),
            ("Precision", "Edm.Int32"),
            ("PrecisionSource", "Edm.Int32"),
        ],
    ),
    derived(
        "DoubleAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[
            ("MinValue", "Edm.Double"),
            ("MaxValue", "Edm.Double"),
            ("Precision", "Edm.Int32"),
        ],
    ),
    derived(
        "DateTimeAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[
            ("Format", "Edm.String"),
            ("DateTimeBehavior", "mscrm.DateTimeBehavior"),
        ],
    ),
    derived(
        "LookupAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[("Targets", "Collection(Edm.String)")],
    ),
    derived("UniqueIdentifierAttributeMetadata", ATTRIBUTE_METADATA, &[]),
    derived(
        "FileAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[("MaxSizeInKB", "Edm.Int32")],
    ),
    derived(
        "ImageAttributeMetadata",
        ATTRIBUTE_METADATA,
        &[("MaxSizeInKB", "Edm.Int32")],
    ),
];

const fn derived(
    name: &'static str,
    base: &'static str,
    properties: &'static [(&'static str, &'static str)],
) -> MetadataType {
    MetadataType {
        name,
        base: Some(base),
        is_abstract: false,
        properties,
        option_set: None,
    }
}

impl MetadataType {
    /// `AttributeMetadata`, the type of the uncast `Attributes` collection (first in [`TYPES`]).
    pub fn base() -> &'static MetadataType {
        &TYPES[0]
    }

    /// The type named `name` (without namespace).
    pub fn named(name: &str) -> Option<&'static MetadataType> {
        TYPES.iter().find(|t| t.name == name)
    }

    /// The type a cast segment names (`Microsoft.Dynamics.CRM.PicklistAttributeMetadata`).
    pub fn from_cast(segment: &str) -> Option<&'static MetadataType> {
        segment
            .strip_prefix(NAMESPACE)
            .and_then(|s| s.strip_prefix('.'))
            .and_then(Self::named)
    }

    /// The qualified name (`Microsoft.Dynamics.CRM.PicklistAttributeMetadata`).
    pub fn qualified(&self) -> String {
        format!("{NAMESPACE}.{}", self.name)
    }

    /// The base type, if any.
    pub fn parent(&self) -> Option<&'static MetadataType> {
        self.base.and_then(Self::named)
    }

    /// Whether this type is `other` or derives from it.
    pub fn is_a(&self, other: &MetadataType) -> bool {
        let mut t = Some(self);
        while let Some(x) = t {
            if x.name == other.name {
                return true;
            }
            t = x.parent();
        }
        false
    }

    /// Every property of the type, inherited ones first.
    pub fn all_properties(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = self.parent().map(Self::all_properties).unwrap_or_default();
        out.extend_from_slice(self.properties);
        out
    }

    /// The type of the `OptionSet` navigation property, inherited or its own.
    pub fn option_set_type(&self) -> Option<&'static str> {
        self.option_set
            .or_else(|| self.parent().and_then(Self::option_set_type))
    }

    /// The concrete metadata type of a column.
    pub fn of_column(column: &Column) -> &'static MetadataType {
        let name = match column.column_type {
            ColumnType::PrimaryKey | ColumnType::Guid => "UniqueIdentifierAttributeMetadata",
            ColumnType::String { .. } => "StringAttributeMetadata",
            ColumnType::Memo { .. } => "MemoAttributeMetadata",
            ColumnType::Integer => "IntegerAttributeMetadata",
            ColumnType::BigInt => "BigIntAttributeMetadata",
            ColumnType::Decimal => "DecimalAttributeMetadata",
            ColumnType::Money => "MoneyAttributeMetadata",
            ColumnType::Double => "DoubleAttributeMetadata",
            ColumnType::Boolean { .. } => "BooleanAttributeMetadata",
            ColumnType::DateTime => "DateTimeAttributeMetadata",
            ColumnType::Lookup { .. } => "LookupAttributeMetadata",
            ColumnType::Choice { kind, .. } => match kind {
                ChoiceKind::Picklist => "PicklistAttributeMetadata",
                ChoiceKind::State => "StateAttributeMetadata",
                ChoiceKind::Status { .. } => "StatusAttributeMetadata",
            },
        };
        // Every name above is in TYPES (a unit test checks each column type).
        Self::named(name).unwrap_or(Self::base())
    }
}

/// The members of `Microsoft.Dynamics.CRM.AttributeTypeCode`, in Dataverse's order (their
/// position is their value).
pub const ATTRIBUTE_TYPE_CODES: &[&str] = &[
    "Boolean",
    "Customer",
    "DateTime",
    "Decimal",
    "Double",
    "Integer",
    "Lookup",
    "Memo",
    "Money",
    "Owner",
    "PartyList",
    "Picklist",
    "State",
    "Status",
    "String",
    "Uniqueidentifier",
    "CalendarRules",
    "Virtual",
    "BigInt",
    "ManagedProperty",
    "EntityName",
];

/// The properties of an option set: `OptionSetMetadata` (choices, states, statuses) has
/// `Options`, `BooleanOptionSetMetadata` has `TrueOption` and `FalseOption`.
pub fn option_set_properties(option_set_type: &str) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![
        ("MetadataId", "Edm.Guid"),
        ("Name", "Edm.String"),
        ("OptionSetType", "Edm.String"),
        ("IsGlobal", "Edm.Boolean"),
        ("IsCustomOptionSet", "Edm.Boolean"),
        ("IsManaged", "Edm.Boolean"),
        ("IntroducedVersion", "Edm.String"),
        ("ExternalTypeName", "Edm.String"),
        ("ParentOptionSetName", "Edm.String"),
        ("DisplayName", LABEL),
        ("Description", LABEL),
        ("IsCustomizable", "mscrm.BooleanManagedProperty"),
        ("HasChanged", "Edm.Boolean"),
    ];
    if option_set_type == "BooleanOptionSetMetadata" {
        out.push(("TrueOption", "mscrm.OptionMetadata"));
        out.push(("FalseOption", "mscrm.OptionMetadata"));
    } else {
        out.push(("Options", "Collection(mscrm.OptionMetadata)"));
    }
    out
}
