//! The typed query plan: query options checked against a table's metadata, with every column
//! resolved and every literal converted to the column's storage type. The storage layer
//! translates a plan to SQL with bound parameters.

use crate::metadata::{Cell, Column};
use crate::odata::ast::{CmpOp, StrFn};

/// A checked `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// Does not hold.
    Not(Box<Filter>),
    /// `column op value`; `value` is never `Cell::Null` (see `IsNull`). String comparisons are
    /// case-insensitive.
    Compare {
        /// The column.
        column: Column,
        /// The operator.
        op: CmpOp,
        /// The value, in the column's storage type.
        value: Cell,
    },
    /// `column op column`.
    CompareColumns {
        /// Left column.
        left: Column,
        /// The operator.
        op: CmpOp,
        /// Right column (same storage type family).
        right: Column,
    },
    /// `column eq null` (or `ne null` when `negated`).
    IsNull {
        /// The column.
        column: Column,
        /// `ne null`.
        negated: bool,
    },
    /// A case-insensitive text match on a String or Memo column.
    StrFunc {
        /// The function.
        func: StrFn,
        /// The column.
        column: Column,
        /// The text, matched literally (no wildcards).
        value: String,
    },
}

/// A checked query.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan {
    /// Columns to return (the primary key is always among them).
    pub select: Vec<Column>,
    /// Whether `$select` was given (it shapes `@odata.context`).
    pub explicit_select: bool,
    /// The condition.
    pub filter: Option<Filter>,
    /// Sort order, `(column, descending)`; the primary key is always appended last so the order
    /// is total and keyset paging is exact.
    pub orderby: Vec<(Column, bool)>,
    /// `$top` (ignored when a page size is given).
    pub top: Option<u32>,
    /// `$count=true`.
    pub count: bool,
}
