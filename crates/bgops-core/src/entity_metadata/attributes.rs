//! One column of the catalogue as Dataverse's attribute metadata: every property of its
//! metadata type ([`MetadataType::of_column`]) as JSON, and the scalar ones as a [`Row`] of the
//! pseudo-table `$filter` is checked and evaluated against.

use serde_json::{json, Map, Value};

use super::attribute_id;
use super::options::empty_label;
use super::types::MetadataType;
use crate::metadata::{
    Cell, ChoiceKind, Column, ColumnType, RequiredLevel, Row, Table, TableAccess, Writability,
};

/// Whether a create may set the column: writable columns of tables the Web API creates rows
/// in, and the primary key (a client may choose the id).
fn valid_for_create(table: &Table, column: &Column) -> bool {
    table.access == TableAccess::ReadWrite
        && (column.writability != Writability::ReadOnly
            || column.column_type == ColumnType::PrimaryKey)
}

/// Whether an update may change the column; on `backgroundoperation` that is the state and
/// status pair of a cancel.
fn valid_for_update(table: &Table, column: &Column) -> bool {
    match table.access {
        TableAccess::ReadWrite => column.writability == Writability::ReadWrite,
        TableAccess::CancelOnly => matches!(
            column.column_type,
            ColumnType::Choice {
                kind: ChoiceKind::State | ChoiceKind::Status { .. },
                ..
            }
        ),
        TableAccess::ReadOnly => false,
    }
}

fn required_level(table: &Table, column: &Column) -> &'static str {
    if column.logical_name == table.primary_id {
        "SystemRequired"
    } else {
        column.required.metadata_value()
    }
}

/// The format of a text column, from what its name says it holds.
fn string_format(column: &Column) -> &'static str {
    let name = column.logical_name;
    if name.contains("emailaddress") {
        "Email"
    } else if name.ends_with("url") {
        "Url"
    } else if name.starts_with("telephone") || name == "mobilephone" {
        "Phone"
    } else {
        "Text"
    }
}

/// Every property of the attribute `column` of `table`, in the order of its metadata type's
/// property list; `@odata.type` is not included.
pub fn attribute_json(table: &Table, column: &Column) -> Map<String, Value> {
    let kind = MetadataType::of_column(column);
    let number = table
        .columns
        .iter()
        .position(|c| c.logical_name == column.logical_name)
        .map_or(0, |i| i + 1);
    let custom = column.logical_name.starts_with("bgops_");
    let attribute_type = column.column_type.attribute_type();
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put(
        "MetadataId",
        json!(attribute_id(table, column.logical_name).to_string()),
    );
    put("LogicalName", json!(column.logical_name));
    put("SchemaName", json!(column.logical_name));
    put("EntityLogicalName", json!(table.logical_name));
    put("AttributeType", json!(attribute_type));
    put(
        "AttributeTypeName",
        json!({"Value": format!("{attribute_type}Type")}),
    );
    put("AttributeOf", Value::Null);
    put("ColumnNumber", json!(number));
    put("DisplayName", empty_label());
    put("Description", empty_label());
    put("IsCustomAttribute", json!(custom));
    put("IsManaged", json!(!custom));
    put(
        "IsPrimaryId",
        json!(column.logical_name == table.primary_id),
    );
    put(
        "IsPrimaryName",
        json!(column.logical_name == table.primary_name),
    );
    put("IsValidForCreate", json!(valid_for_create(table, column)));
    put("IsValidForUpdate", json!(valid_for_update(table, column)));
    put("IsValidForRead", json!(true));
    put("IsValidODataAttribute", json!(true));
    put("IsLogical", json!(false));
    put(
        "RequiredLevel",
        json!({
            "Value": required_level(table, column),
            "CanBeChanged": false,
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        }),
    );
    put("SourceType", json!(0));
    put("IntroducedVersion", json!("1.0.0.0"));
    match column.column_type {
        ColumnType::String { max_len } => {
            let format = string_format(column);
            put("MaxLength", json!(max_len));
            put("Format", json!(format));
            put("FormatName", json!({"Value": format}));
        }
        ColumnType::Memo { max_len } => {
            put("MaxLength", json!(max_len));
            put("Format", json!("TextArea"));
        }
        ColumnType::Integer => {
            put("MinValue", json!(i32::MIN));
            put("MaxValue", json!(i32::MAX));
            put("Format", json!("None"));
        }
        ColumnType::BigInt => {
            put("MinValue", json!(i64::MIN));
            put("MaxValue", json!(i64::MAX));
        }
        ColumnType::Decimal => {
            put("MinValue", json!(-100_000_000_000_i64));
            put("MaxValue", json!(100_000_000_000_i64));
            put("Precision", json!(2));
        }
        ColumnType::Money => {
            put("MinValue", json!(-922_337_203_685_477.0_f64));
            put("MaxValue", json!(922_337_203_685_477.0_f64));
            put("Precision", json!(2));
            put("PrecisionSource", json!(2));
        }
        ColumnType::Double => {
            put("MinValue", json!(-100_000_000_000.0_f64));
            put("MaxValue", json!(100_000_000_000.0_f64));
            put("Precision", json!(2));
        }
        ColumnType::DateTime => {
            put("Format", json!("DateAndTime"));
            put("DateTimeBehavior", json!({"Value": "UserLocal"}));
        }
        ColumnType::Lookup { targets } => put("Targets", json!(targets)),
        ColumnType::Boolean { .. } => put("DefaultValue", json!(false)),
        ColumnType::Choice { .. } => {
            if kind.name == "PicklistAttributeMetadata" {
                put("DefaultFormValue", json!(-1));
            } else {
                put("DefaultFormValue", Value::Null);
            }
        }
        ColumnType::PrimaryKey | ColumnType::Guid => {}
    }
    m
}

/// The pseudo-table of the properties `$filter` may test: the scalar ones (labels and other
/// complex values are not comparable). `AttributeType` compares as text; an enumeration literal
/// is mapped to its member first.
pub fn attribute_filter_table() -> Table {
    const fn ro(logical_name: &'static str, column_type: ColumnType) -> Column {
        Column {
            logical_name,
            column_type,
            writability: Writability::ReadOnly,
            required: RequiredLevel::None,
        }
    }
    const TEXT: ColumnType = ColumnType::String { max_len: 256 };
    const BOOL: ColumnType = ColumnType::Boolean {
        true_label: "true",
        false_label: "false",
    };
    Table {
        logical_name: "attribute",
        entity_set: "Attributes",
        primary_id: "MetadataId",
        primary_name: "LogicalName",
        display_name: "Attribute",
        columns: vec![
            ro("MetadataId", ColumnType::PrimaryKey),
            ro("LogicalName", TEXT),
            ro("SchemaName", TEXT),
            ro("EntityLogicalName", TEXT),
            ro("AttributeType", TEXT),
            ro("AttributeOf", TEXT),
            ro("IntroducedVersion", TEXT),
            ro("ColumnNumber", ColumnType::Integer),
            ro("SourceType", ColumnType::Integer),
            ro("MaxLength", ColumnType::Integer),
            ro("IsCustomAttribute", BOOL),
            ro("IsManaged", BOOL),
            ro("IsPrimaryId", BOOL),
            ro("IsPrimaryName", BOOL),
            ro("IsValidForCreate", BOOL),
            ro("IsValidForUpdate", BOOL),
            ro("IsValidForRead", BOOL),
            ro("IsValidODataAttribute", BOOL),
            ro("IsLogical", BOOL),
        ],
        access: TableAccess::ReadOnly,
    }
}

/// The filterable properties of an attribute, read from its JSON so the two always agree.
pub fn attribute_filter_row(filter_table: &Table, json: &Map<String, Value>) -> Row {
    filter_table
        .columns
        .iter()
        .map(|c| {
            let cell = match (c.column_type, json.get(c.logical_name)) {
                (_, None | Some(Value::Null)) => Cell::Null,
                (ColumnType::PrimaryKey, Some(Value::String(s))) => {
                    Cell::guid(s).unwrap_or(Cell::Null)
                }
                (_, Some(Value::String(s))) => Cell::Text(s.clone()),
                (_, Some(Value::Bool(b))) => Cell::Bool(*b),
                (_, Some(Value::Number(n))) => n.as_i64().map_or(Cell::Null, Cell::Int),
                _ => Cell::Null,
            };
            (c.logical_name, cell)
        })
        .collect()
}
