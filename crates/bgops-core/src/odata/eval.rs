//! Evaluating a checked filter against a row in memory, for collections that are not stored
//! in SQL (`EntityDefinitions`). Same semantics as the SQL translation: comparisons with a
//! missing value are false, text compares case-insensitively.

use std::cmp::Ordering;

use crate::metadata::{Cell, Row};
use crate::odata::ast::{CmpOp, StrFn};
use crate::odata::plan::Filter;

fn cell<'a>(row: &'a Row, column: &str) -> &'a Cell {
    row.iter()
        .find(|(c, _)| *c == column)
        .map_or(&Cell::Null, |(_, v)| v)
}

fn compare(a: &Cell, b: &Cell) -> Option<Ordering> {
    match (a, b) {
        (Cell::Null, _) | (_, Cell::Null) => None,
        (Cell::Text(x), Cell::Text(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Cell::Int(x), Cell::Int(y)) => Some(x.cmp(y)),
        (Cell::Bool(x), Cell::Bool(y)) => Some(x.cmp(y)),
        (Cell::Guid(x), Cell::Guid(y)) => Some(x.cmp(y)),
        (Cell::DateTime(x), Cell::DateTime(y)) => Some(x.cmp(y)),
        (Cell::Float(x), Cell::Float(y)) => x.partial_cmp(y),
        (Cell::Decimal(x), Cell::Decimal(y)) => {
            x.parse::<f64>().ok()?.partial_cmp(&y.parse::<f64>().ok()?)
        }
        _ => None,
    }
}

fn holds(op: CmpOp, ord: Option<Ordering>) -> bool {
    let Some(o) = ord else { return false };
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
    }
}

/// Whether `row` satisfies `filter`.
pub fn matches(filter: &Filter, row: &Row) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, row) && matches(b, row),
        Filter::Or(a, b) => matches(a, row) || matches(b, row),
        Filter::Not(a) => !matches(a, row),
        Filter::Compare { column, op, value } => {
            holds(*op, compare(cell(row, column.logical_name), value))
        }
        Filter::CompareColumns { left, op, right } => holds(
            *op,
            compare(cell(row, left.logical_name), cell(row, right.logical_name)),
        ),
        Filter::IsNull { column, negated } => {
            matches!(cell(row, column.logical_name), Cell::Null) != *negated
        }
        Filter::StrFunc {
            func,
            column,
            value,
        } => match cell(row, column.logical_name) {
            Cell::Text(s) => {
                let (s, v) = (s.to_lowercase(), value.to_lowercase());
                match func {
                    StrFn::Contains => s.contains(&v),
                    StrFn::StartsWith => s.starts_with(&v),
                    StrFn::EndsWith => s.ends_with(&v),
                }
            }
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{Column, ColumnType, RequiredLevel, Writability};

    const NAME: Column = Column {
        logical_name: "name",
        column_type: ColumnType::String { max_len: 10 },
        writability: Writability::ReadWrite,
        required: RequiredLevel::None,
    };

    #[test]
    fn text_is_case_insensitive_and_null_never_compares() {
        let row: Row = vec![("name", Cell::Text("Account".into()))];
        let eq = Filter::Compare {
            column: NAME,
            op: CmpOp::Eq,
            value: Cell::Text("ACCOUNT".into()),
        };
        assert!(matches(&eq, &row));
        assert!(matches(
            &Filter::StrFunc {
                func: StrFn::StartsWith,
                column: NAME,
                value: "acc".into()
            },
            &row
        ));
        let empty: Row = vec![("name", Cell::Null)];
        let ne = Filter::Compare {
            column: NAME,
            op: CmpOp::Ne,
            value: Cell::Text("x".into()),
        };
        assert!(!matches(&ne, &empty));
        assert!(matches(
            &Filter::IsNull {
                column: NAME,
                negated: false
            },
            &empty
        ));
        assert!(!matches(&Filter::Not(Box::new(eq)), &row));
    }
}
