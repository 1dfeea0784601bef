//! The metadata Dataverse clients read before they write rows (SPEC §6), built from the one
//! catalogue of tables: `EntityDefinitions` (one entity per table), each table's `Attributes`
//! (one per column, typed as Dataverse's attribute metadata types, [`types`]), and the option
//! sets of its choice, state, status and boolean columns ([`options`]). Everything here is pure:
//! the HTTP layer parses the URL, calls in, and sends the JSON.

pub mod attributes;
pub mod csdl;
pub mod options;
pub mod query;
pub mod types;

#[cfg(test)]
mod tests;

use crate::metadata::{
    Cell, Column, ColumnType, RequiredLevel, Row, Table, TableAccess, Writability,
};

/// The id of a piece of metadata, stable across restarts and nodes: a name-based UUID of its
/// path (`account`, `account.name`, `account.industrycode#optionset`).
pub fn metadata_uuid(path: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, path.as_bytes())
}

/// The `MetadataId` of a table.
pub fn entity_id(table: &Table) -> uuid::Uuid {
    metadata_uuid(table.logical_name)
}

/// The `MetadataId` of a column of a table.
pub fn attribute_id(table: &Table, column: &str) -> uuid::Uuid {
    metadata_uuid(&format!("{}.{column}", table.logical_name))
}

/// How a URL names a table or an attribute: `(LogicalName='account')` or `({MetadataId})`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataKey {
    /// `LogicalName='…'`.
    LogicalName(String),
    /// A `MetadataId` (bare, quoted, or written `MetadataId=…`).
    Id(uuid::Uuid),
}

impl MetadataKey {
    /// Reads the text between the parentheses of a key segment; `None` when it is neither form.
    pub fn parse(key: &str) -> Option<Self> {
        let key = key.trim();
        if let Some(name) = key.strip_prefix("LogicalName") {
            let name = name.trim_start().strip_prefix('=')?.trim();
            let name = name.strip_prefix('\'')?.strip_suffix('\'')?;
            return Some(Self::LogicalName(name.replace("''", "'")));
        }
        let id = key
            .strip_prefix("MetadataId")
            .and_then(|k| k.trim_start().strip_prefix('='))
            .unwrap_or(key)
            .trim();
        let id = id
            .strip_prefix('\'')
            .and_then(|k| k.strip_suffix('\''))
            .unwrap_or(id);
        uuid::Uuid::parse_str(id).ok().map(Self::Id)
    }

    /// Whether this key names `table`.
    pub fn names_table(&self, table: &Table) -> bool {
        match self {
            Self::LogicalName(n) => n == table.logical_name,
            Self::Id(id) => *id == entity_id(table),
        }
    }

    /// The column of `table` this key names.
    pub fn find_column<'t>(&self, table: &'t Table) -> Option<&'t Column> {
        table.columns.iter().find(|c| match self {
            Self::LogicalName(n) => n == c.logical_name,
            Self::Id(id) => *id == attribute_id(table, c.logical_name),
        })
    }
}

/// The columns of the `EntityDefinitions` pseudo-table, so `$select` and `$filter` work the
/// same way as on real tables.
pub fn entity_definition_table() -> Table {
    const fn ro(logical_name: &'static str, column_type: ColumnType) -> Column {
        Column {
            logical_name,
            column_type,
            writability: Writability::ReadOnly,
            required: RequiredLevel::None,
        }
    }
    Table {
        logical_name: "entity",
        entity_set: "EntityDefinitions",
        primary_id: "MetadataId",
        primary_name: "LogicalName",
        display_name: "Entity",
        columns: vec![
            ro("MetadataId", ColumnType::PrimaryKey),
            ro("LogicalName", ColumnType::String { max_len: 64 }),
            ro("EntitySetName", ColumnType::String { max_len: 64 }),
            ro("PrimaryIdAttribute", ColumnType::String { max_len: 64 }),
            ro("PrimaryNameAttribute", ColumnType::String { max_len: 64 }),
            ro("SchemaName", ColumnType::String { max_len: 64 }),
            ro("LogicalCollectionName", ColumnType::String { max_len: 64 }),
            ro(
                "IsReadOnlyInWebApi",
                ColumnType::Boolean {
                    true_label: "Yes",
                    false_label: "No",
                },
            ),
        ],
        access: TableAccess::ReadOnly,
    }
}

/// The `EntityDefinitions` row of a table.
pub fn entity_definition_row(t: &Table) -> Row {
    vec![
        ("MetadataId", Cell::Guid(entity_id(t))),
        ("LogicalName", Cell::Text(t.logical_name.into())),
        ("EntitySetName", Cell::Text(t.entity_set.into())),
        ("PrimaryIdAttribute", Cell::Text(t.primary_id.into())),
        ("PrimaryNameAttribute", Cell::Text(t.primary_name.into())),
        ("SchemaName", Cell::Text(t.logical_name.into())),
        ("LogicalCollectionName", Cell::Text(t.entity_set.into())),
        (
            "IsReadOnlyInWebApi",
            Cell::Bool(t.access != TableAccess::ReadWrite),
        ),
    ]
}
