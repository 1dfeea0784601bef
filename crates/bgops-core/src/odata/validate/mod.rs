//! Checking parsed query options against a table: every property resolved to a column, every
//! literal converted to the column's storage type (in `literals`), every comparison
//! type-checked, so that the storage layer only ever sees a well-typed [`QueryPlan`].

mod literals;
#[cfg(test)]
mod tests;

use crate::error::ApiError;
use crate::metadata::{Column, ColumnType, Table};
use crate::odata::ast::{CmpOp, Expr, Literal, QueryOptions, StrFn};
use crate::odata::parse::op_keyword;
use crate::odata::plan::{Filter, QueryPlan};

use literals::convert;

/// Checks `options` against `table` and builds the plan the storage layer runs.
///
/// `$select` keeps the requested order without repeats and always holds the primary key
/// (appended last when not requested); without `$select` every column is selected. `$orderby`
/// always ends with the primary key (ascending) so the order is total. Errors are 400s with code
/// `0x80060888`; an unknown property gets Dataverse's own wording.
pub fn plan(table: &Table, options: &QueryOptions) -> Result<QueryPlan, ApiError> {
    // Every catalogue table has its key column; a table without one is a bug, not a bad request.
    let primary = table
        .column(table.primary_id)
        .copied()
        .ok_or_else(ApiError::internal)?;

    let (select, explicit_select) = match &options.select {
        Some(properties) => {
            let mut select: Vec<Column> = Vec::new();
            for property in properties {
                let column = *resolve(table, property)?;
                if !select.contains(&column) {
                    select.push(column);
                }
            }
            if !select.contains(&primary) {
                select.push(primary);
            }
            (select, true)
        }
        None => (table.columns.clone(), false),
    };

    let filter = options
        .filter
        .as_ref()
        .map(|expr| filter(table, expr))
        .transpose()?;

    let mut orderby: Vec<(Column, bool)> = Vec::new();
    for item in &options.orderby {
        let column = *resolve(table, &item.column)?;
        // A page's position carries its last row's sort values in `$skiptoken`, which a memo
        // (up to 100,000 characters) would make too long for a link; Dataverse does not sort
        // on multiple lines of text either.
        if matches!(column.column_type, ColumnType::Memo { .. }) {
            return Err(ApiError::bad_syntax(format!(
                "'{}' is a multiple-lines-of-text column and cannot be used in $orderby.",
                column.logical_name
            )));
        }
        // A repeated column cannot change the order: the first mention decides.
        if !orderby.iter().any(|(c, _)| *c == column) {
            orderby.push((column, item.descending));
        }
    }
    if !orderby.iter().any(|(c, _)| *c == primary) {
        orderby.push((primary, false));
    }

    Ok(QueryPlan {
        select,
        explicit_select,
        filter,
        orderby,
        top: options.top,
        count: options.count,
    })
}

fn resolve<'t>(table: &'t Table, property: &str) -> Result<&'t Column, ApiError> {
    table.column_by_property(property).ok_or_else(|| {
        let shown: String = property.chars().take(128).collect();
        ApiError::unknown_property(&shown, table.logical_name)
    })
}

fn filter(table: &Table, expr: &Expr) -> Result<Filter, ApiError> {
    Ok(match expr {
        Expr::And(a, b) => Filter::And(Box::new(filter(table, a)?), Box::new(filter(table, b)?)),
        Expr::Or(a, b) => Filter::Or(Box::new(filter(table, a)?), Box::new(filter(table, b)?)),
        Expr::Not(a) => Filter::Not(Box::new(filter(table, a)?)),
        Expr::Compare { column, op, value } => {
            let column = *resolve(table, column)?;
            match (value, op) {
                (Literal::Null, CmpOp::Eq | CmpOp::Ne) => Filter::IsNull {
                    column,
                    negated: *op == CmpOp::Ne,
                },
                (Literal::Null, _) => {
                    return Err(ApiError::bad_syntax(format!(
                        "The operator '{}' cannot compare the property '{}' with null; only 'eq null' and 'ne null' can.",
                        op_keyword(*op),
                        column.property_name()
                    )))
                }
                _ => Filter::Compare {
                    column,
                    op: *op,
                    value: convert(&column, *op, value)?,
                },
            }
        }
        Expr::CompareColumns { left, op, right } => {
            let left = *resolve(table, left)?;
            let right = *resolve(table, right)?;
            let (lt, rt) = (left.column_type.edm_type(), right.column_type.edm_type());
            if lt != rt {
                return Err(ApiError::bad_syntax(format!(
                    "A binary operator with incompatible types was detected. Found operand types '{lt}' (property '{}') and '{rt}' (property '{}') for operator kind '{}'.",
                    left.property_name(),
                    right.property_name(),
                    operator_kind(*op)
                )));
            }
            Filter::CompareColumns {
                left,
                op: *op,
                right,
            }
        }
        Expr::StrFunc {
            func,
            column,
            value,
        } => {
            let column = *resolve(table, column)?;
            let name = function_name(*func);
            if !matches!(
                column.column_type,
                ColumnType::String { .. } | ColumnType::Memo { .. }
            ) {
                return Err(ApiError::bad_syntax(format!(
                    "The function '{name}' applies to Edm.String properties only; the property '{}' is {}.",
                    column.property_name(),
                    column.column_type.edm_type()
                )));
            }
            if value.is_empty() {
                return Err(ApiError::bad_syntax(format!(
                    "The function '{name}' needs a non-empty text to search for."
                )));
            }
            Filter::StrFunc {
                func: *func,
                column,
                value: value.clone(),
            }
        }
    })
}

/// ODataLib's name of the operator, as Dataverse's messages show it.
fn operator_kind(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "Equal",
        CmpOp::Ne => "NotEqual",
        CmpOp::Gt => "GreaterThan",
        CmpOp::Ge => "GreaterThanOrEqual",
        CmpOp::Lt => "LessThan",
        CmpOp::Le => "LessThanOrEqual",
    }
}

fn function_name(func: StrFn) -> &'static str {
    match func {
        StrFn::Contains => "contains",
        StrFn::StartsWith => "startswith",
        StrFn::EndsWith => "endswith",
    }
}
