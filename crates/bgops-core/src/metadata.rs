//! Table metadata: the tables of the Web API (SPEC §6), their columns and types. The query
//! layer validates against it, the storage layer translates with it, and the HTTP layer renders
//! rows and `$metadata` from it.

use crate::ids::InvalidGuid;

/// A column's type, as Dataverse's attribute metadata names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// The primary key (`Edm.Guid`).
    PrimaryKey,
    /// Single-line text up to `max_len` characters.
    String {
        /// Maximum length in characters.
        max_len: u32,
    },
    /// Multi-line text up to `max_len` characters.
    Memo {
        /// Maximum length in characters.
        max_len: u32,
    },
    /// 32-bit integer (`Edm.Int32`).
    Integer,
    /// 64-bit integer (`Edm.Int64`).
    BigInt,
    /// Decimal (`Edm.Decimal`), kept exactly as text in storage.
    Decimal,
    /// Money (`Edm.Decimal`), kept exactly as text in storage.
    Money,
    /// Floating point (`Edm.Double`).
    Double,
    /// Two options (`Edm.Boolean`) with their labels.
    Boolean {
        /// Label of `true`.
        true_label: &'static str,
        /// Label of `false`.
        false_label: &'static str,
    },
    /// Date and time, UTC (`Edm.DateTimeOffset`).
    DateTime,
    /// A GUID that is not a key or lookup (`Edm.Guid`).
    Guid,
    /// A choice (picklist, state or status) with its options.
    Choice {
        /// `(value, label)` pairs.
        options: &'static [(i32, &'static str)],
        /// Whether it is an ordinary choice or a table's state or status column.
        kind: ChoiceKind,
    },
    /// A reference to a row of one of `targets` (logical names); shown as `_{name}_value`.
    Lookup {
        /// Tables the lookup may point to.
        targets: &'static [&'static str],
    },
}

impl ColumnType {
    /// The OData primitive type of the column's value.
    pub fn edm_type(self) -> &'static str {
        match self {
            Self::PrimaryKey | Self::Guid | Self::Lookup { .. } => "Edm.Guid",
            Self::String { .. } | Self::Memo { .. } => "Edm.String",
            Self::Integer | Self::Choice { .. } => "Edm.Int32",
            Self::BigInt => "Edm.Int64",
            Self::Decimal | Self::Money => "Edm.Decimal",
            Self::Double => "Edm.Double",
            Self::Boolean { .. } => "Edm.Boolean",
            Self::DateTime => "Edm.DateTimeOffset",
        }
    }

    /// Dataverse's `AttributeType` name.
    pub fn attribute_type(self) -> &'static str {
        match self {
            Self::PrimaryKey => "Uniqueidentifier",
            Self::String { .. } => "String",
            Self::Memo { .. } => "Memo",
            Self::Integer => "Integer",
            Self::BigInt => "BigInt",
            Self::Decimal => "Decimal",
            Self::Money => "Money",
            Self::Double => "Double",
            Self::Boolean { .. } => "Boolean",
            Self::DateTime => "DateTime",
            Self::Guid => "Uniqueidentifier",
            Self::Choice { kind, .. } => match kind {
                ChoiceKind::Picklist => "Picklist",
                ChoiceKind::State => "State",
                ChoiceKind::Status { .. } => "Status",
            },
            Self::Lookup { .. } => "Lookup",
        }
    }

    /// The label of a choice value or boolean, if defined.
    pub fn label_of(self, cell: &Cell) -> Option<&'static str> {
        match (self, cell) {
            (Self::Choice { options, .. }, Cell::Int(v)) => options
                .iter()
                .find(|(o, _)| i64::from(*o) == *v)
                .map(|(_, l)| *l),
            (
                Self::Boolean {
                    true_label,
                    false_label,
                },
                Cell::Bool(b),
            ) => Some(if *b { true_label } else { false_label }),
            _ => None,
        }
    }
}

/// What a choice column is to Dataverse: its attribute metadata type (`PicklistAttributeMetadata`,
/// `StateAttributeMetadata` or `StatusAttributeMetadata`) follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChoiceKind {
    /// An ordinary choice (picklist).
    Picklist,
    /// The table's state column (`statecode`): its options are the states.
    State,
    /// The table's status column (`statuscode`): each status belongs to one state.
    Status {
        /// `(status, state)` pairs: the state each status value belongs to.
        states: &'static [(i32, i32)],
    },
}

/// Who may write a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writability {
    /// Set on create and update.
    ReadWrite,
    /// Set on create only (`IsValidForUpdate` false).
    CreateOnly,
    /// Set by the server only (system columns, computed columns).
    ReadOnly,
}

/// A column of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Logical name; also the SQL column name.
    pub logical_name: &'static str,
    /// Its type.
    pub column_type: ColumnType,
    /// Who may write it.
    pub writability: Writability,
    /// Whether a row must have it (Dataverse's `RequiredLevel`).
    pub required: RequiredLevel,
}

/// Whether a column must hold a value, as Dataverse's attribute `RequiredLevel` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequiredLevel {
    /// Optional.
    None,
    /// Business-required: advertised in the metadata but, as in Dataverse, not enforced on the
    /// Web API (a client may create a contact without a last name).
    Application,
    /// The row cannot exist without it: a create that leaves it out and an update that sets it
    /// to null are refused with 400.
    System,
}

impl RequiredLevel {
    /// The `RequiredLevel.Value` of the attribute metadata.
    pub fn metadata_value(self) -> &'static str {
        match self {
            RequiredLevel::None => "None",
            RequiredLevel::Application => "ApplicationRequired",
            RequiredLevel::System => "SystemRequired",
        }
    }
}

impl Column {
    /// The property name on the Web API: `_{name}_value` for lookups, else the logical name.
    pub fn property_name(&self) -> String {
        match self.column_type {
            ColumnType::Lookup { .. } => format!("_{}_value", self.logical_name),
            _ => self.logical_name.to_owned(),
        }
    }
}

/// Which writes the Web API accepts on a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableAccess {
    /// Create, update, delete.
    ReadWrite,
    /// Reads only (rows are managed by the service, or by a later release).
    ReadOnly,
    /// `backgroundoperations`: reads, and the cancel PATCH only.
    CancelOnly,
}

/// A table of the Web API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Logical name; also the SQL table name.
    pub logical_name: &'static str,
    /// Entity set name used in URLs.
    pub entity_set: &'static str,
    /// The primary key column.
    pub primary_id: &'static str,
    /// The primary name column.
    pub primary_name: &'static str,
    /// Display name for metadata.
    pub display_name: &'static str,
    /// The columns, primary key first, in the order rows show them.
    pub columns: Vec<Column>,
    /// Which writes are accepted.
    pub access: TableAccess,
}

impl Table {
    /// The column with this logical name.
    pub fn column(&self, logical_name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.logical_name == logical_name)
    }

    /// The column shown under this Web API property name (`_x_value` for lookups).
    pub fn column_by_property(&self, property: &str) -> Option<&Column> {
        match property
            .strip_prefix('_')
            .and_then(|p| p.strip_suffix("_value"))
        {
            Some(name) => self
                .column(name)
                .filter(|c| matches!(c.column_type, ColumnType::Lookup { .. })),
            None => self
                .column(property)
                .filter(|c| !matches!(c.column_type, ColumnType::Lookup { .. })),
        }
    }
}

/// A stored value, as the storage layer reads and writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// No value.
    Null,
    /// Text (String, Memo).
    Text(String),
    /// Integer, BigInt, Choice.
    Int(i64),
    /// Double.
    Float(f64),
    /// Decimal or Money, as exact decimal text.
    Decimal(String),
    /// Boolean.
    Bool(bool),
    /// Primary key, Guid, Lookup.
    Guid(uuid::Uuid),
    /// DateTime.
    DateTime(crate::clock::Timestamp),
}

impl Cell {
    /// Parses a GUID cell from text.
    pub fn guid(s: &str) -> Result<Cell, InvalidGuid> {
        s.parse::<crate::ids::OperationId>()
            .map(|id| Cell::Guid(id.0))
    }
}

/// A row: values by column logical name, in table column order.
pub type Row = Vec<(&'static str, Cell)>;
