//! The syntax tree of the query options, before validation against a table.

use crate::clock::Timestamp;

/// A literal in `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer, e.g. `42`, `-7`.
    Int(i64),
    /// A decimal number as written, e.g. `1.50`, `2e3`.
    Decimal(String),
    /// A quoted string with `''` unescaped.
    String(String),
    /// An unquoted GUID.
    Guid(uuid::Uuid),
    /// A date (`2024-01-31`) or date-time (`2024-01-31T10:00:00Z`), UTC.
    DateTime(Timestamp),
    /// An enumeration member written `Namespace.Type'Member'`, such as
    /// `Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'`. No table column is an enumeration;
    /// the metadata collections map the ones they know.
    Enum {
        /// The qualified type name (`Microsoft.Dynamics.CRM.AttributeTypeCode`).
        type_name: String,
        /// The member as written between the quotes (`Picklist`).
        member: String,
    },
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

/// A string function usable as a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrFn {
    /// `contains(col,'x')`
    Contains,
    /// `startswith(col,'x')`
    StartsWith,
    /// `endswith(col,'x')`
    EndsWith,
}

/// A `$filter` expression. Column names are Web API property names as written
/// (`name`, `_parentcustomerid_value`).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// `column op literal` (a literal written on the left is moved right, the operator mirrored).
    Compare {
        /// The property.
        column: String,
        /// The operator.
        op: CmpOp,
        /// The value (aliases already substituted).
        value: Literal,
    },
    /// `column op column` on the same table.
    CompareColumns {
        /// Left property.
        left: String,
        /// The operator.
        op: CmpOp,
        /// Right property.
        right: String,
    },
    /// `contains`/`startswith`/`endswith(column,'text')`.
    StrFunc {
        /// The function.
        func: StrFn,
        /// The property.
        column: String,
        /// The text searched for.
        value: String,
    },
}

/// One `$orderby` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    /// The property.
    pub column: String,
    /// `desc` (default `asc`).
    pub descending: bool,
}

/// The query options of one request, parsed but not yet checked against a table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryOptions {
    /// `$select`: property names; `None` selects every column.
    pub select: Option<Vec<String>>,
    /// `$filter`.
    pub filter: Option<Expr>,
    /// `$orderby`.
    pub orderby: Vec<OrderBy>,
    /// `$top`.
    pub top: Option<u32>,
    /// `$count=true`.
    pub count: bool,
    /// `$skiptoken`, still opaque.
    pub skiptoken: Option<String>,
}
