//! Unit tests of the query option parser, through [`parse_options`] as callers use it.

mod filter;
mod literals;
mod options;

use crate::error::ApiError;
use crate::odata::ast::{CmpOp, Expr, Literal, QueryOptions};
use crate::odata::parse::parse_options;

pub(super) fn opts(pairs: &[(&str, &str)]) -> Result<QueryOptions, ApiError> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    parse_options(&pairs)
}

pub(super) fn filter(f: &str) -> Expr {
    opts(&[("$filter", f)]).unwrap().filter.unwrap()
}

pub(super) fn filter_err(f: &str) -> String {
    let e = opts(&[("$filter", f)]).unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(e.code, crate::error::ErrorCode::BAD_SYNTAX);
    e.message
}

pub(super) fn cmp(column: &str, op: CmpOp, value: Literal) -> Expr {
    Expr::Compare {
        column: column.into(),
        op,
        value,
    }
}

pub(super) fn eq_int(column: &str, v: i64) -> Expr {
    cmp(column, CmpOp::Eq, Literal::Int(v))
}

pub(super) fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

pub(super) fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}

pub(super) fn not(a: Expr) -> Expr {
    Expr::Not(Box::new(a))
}
