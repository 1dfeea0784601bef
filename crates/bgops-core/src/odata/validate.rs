//! Checking parsed query options against a table: every property resolved to a column, every
//! literal converted to the column's storage type, every comparison type-checked, so that the
//! storage layer only ever sees a well-typed [`QueryPlan`].

use crate::error::ApiError;
use crate::metadata::{Cell, Column, ColumnType, Table};
use crate::odata::ast::{CmpOp, Expr, Literal, QueryOptions, StrFn};
use crate::odata::parse::{op_keyword, parse_datetime_text};
use crate::odata::plan::{Filter, QueryPlan};

/// The longest decimal text a `Decimal` or `Money` comparison accepts once its exponent is
/// written out; Dataverse's decimals have far fewer digits.
const MAX_DECIMAL_CHARS: usize = 128;

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

/// The literal as a value of the column's storage type.
fn convert(column: &Column, op: CmpOp, value: &Literal) -> Result<Cell, ApiError> {
    use ColumnType as T;
    let out_of_range = || {
        ApiError::bad_syntax(format!(
            "The value {} is out of range for the {} property '{}'.",
            shown(value),
            column.column_type.edm_type(),
            column.property_name()
        ))
    };
    let not_valid = |text: &str| {
        ApiError::bad_syntax(format!(
            "The value '{}' is not a valid {} for the property '{}'.",
            text.chars().take(64).collect::<String>(),
            column.column_type.edm_type(),
            column.property_name()
        ))
    };
    Ok(match (column.column_type, value) {
        (T::String { .. } | T::Memo { .. }, Literal::String(s)) => Cell::Text(s.clone()),
        (T::Integer | T::Choice { .. }, Literal::Int(i)) => {
            i32::try_from(*i).map_err(|_| out_of_range())?;
            Cell::Int(*i)
        }
        (T::BigInt, Literal::Int(i)) => Cell::Int(*i),
        (T::Decimal | T::Money, Literal::Int(i)) => Cell::Decimal(i.to_string()),
        (T::Decimal | T::Money, Literal::Decimal(text)) => {
            Cell::Decimal(plain_decimal(text).ok_or_else(out_of_range)?)
        }
        (T::Double, Literal::Int(i)) => Cell::Float(*i as f64),
        (T::Double, Literal::Decimal(text)) => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Cell::Float(f),
            _ => return Err(out_of_range()),
        },
        (T::Boolean { .. }, Literal::Bool(b)) => Cell::Bool(*b),
        (T::DateTime, Literal::DateTime(ts)) => Cell::DateTime(*ts),
        (T::DateTime, Literal::String(s)) => {
            Cell::DateTime(parse_datetime_text(s).ok_or_else(|| not_valid(s))?)
        }
        (T::PrimaryKey | T::Guid | T::Lookup { .. }, Literal::Guid(g)) => Cell::Guid(*g),
        (T::PrimaryKey | T::Guid | T::Lookup { .. }, Literal::String(s)) => {
            Cell::guid(s).map_err(|_| not_valid(s))?
        }
        _ => {
            return Err(ApiError::bad_syntax(format!(
                "A binary operator with incompatible types was detected. Found operand types '{}' (property '{}') and '{}' for operator kind '{}'.",
                column.column_type.edm_type(),
                column.property_name(),
                literal_type(value),
                operator_kind(op)
            )))
        }
    })
}

/// A decimal literal (`1.50`, `-2`, `1.5e3`) in plain notation (`1.50`, `-2`, `1500`), digit
/// for digit, so nothing is rounded; `None` when it would be unreasonably long.
fn plain_decimal(text: &str) -> Option<String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None if text.len() <= MAX_DECIMAL_CHARS => return Some(text.to_owned()),
        None => return None,
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int_part}{frac_part}");
    if !digits.chars().all(|c| c.is_ascii_digit()) || digits.is_empty() {
        return None;
    }
    let len = i64::try_from(digits.len()).ok()?;
    let limit = i64::try_from(MAX_DECIMAL_CHARS).ok()?;
    let point = i64::try_from(int_part.len()).ok()?.checked_add(exponent)?;
    if point > limit || point < -limit || len > limit {
        return None;
    }
    let mut out = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= len {
        format!("{digits}{}", "0".repeat((point - len) as usize))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    // Leading zeros of the integer part say nothing.
    let int_len = out.find('.').unwrap_or(out.len());
    let zeros = out[..int_len].chars().take_while(|c| *c == '0').count();
    out.drain(..zeros.min(int_len.saturating_sub(1)));
    if negative {
        out.insert(0, '-');
    }
    Some(out)
}

/// The OData type of a literal, for messages.
fn literal_type(value: &Literal) -> &'static str {
    match value {
        Literal::Null => "null",
        Literal::Bool(_) => "Edm.Boolean",
        Literal::Int(i) if i32::try_from(*i).is_ok() => "Edm.Int32",
        Literal::Int(_) => "Edm.Int64",
        Literal::Decimal(_) => "Edm.Decimal",
        Literal::String(_) => "Edm.String",
        Literal::Guid(_) => "Edm.Guid",
        Literal::DateTime(_) => "Edm.DateTimeOffset",
    }
}

/// A literal as shown in a message.
fn shown(value: &Literal) -> String {
    match value {
        Literal::Int(i) => i.to_string(),
        Literal::Decimal(d) => d.chars().take(64).collect(),
        other => format!("{other:?}"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;
    use crate::clock::Timestamp;
    use crate::metadata::{TableAccess, Writability};
    use crate::odata::ast::OrderBy;
    use crate::odata::parse::parse_options;

    fn account() -> std::sync::Arc<Table> {
        Catalogue::standard().by_logical_name("account").unwrap()
    }

    fn col(logical_name: &'static str, column_type: ColumnType) -> Column {
        Column {
            logical_name,
            column_type,
            writability: Writability::ReadWrite,
            required: false,
        }
    }

    /// A table with one column of every type.
    fn every_type() -> Table {
        Table {
            logical_name: "sample",
            entity_set: "samples",
            primary_id: "sampleid",
            primary_name: "name",
            display_name: "Sample",
            columns: vec![
                col("sampleid", ColumnType::PrimaryKey),
                col("name", ColumnType::String { max_len: 100 }),
                col("notes", ColumnType::Memo { max_len: 2000 }),
                col("count32", ColumnType::Integer),
                col("count64", ColumnType::BigInt),
                col("amount", ColumnType::Decimal),
                col("price", ColumnType::Money),
                col("ratio", ColumnType::Double),
                col(
                    "flag",
                    ColumnType::Boolean {
                        true_label: "Yes",
                        false_label: "No",
                    },
                ),
                col("when", ColumnType::DateTime),
                col("other", ColumnType::Guid),
                col(
                    "kind",
                    ColumnType::Choice {
                        options: &[(1, "One")],
                    },
                ),
                col(
                    "ownerid",
                    ColumnType::Lookup {
                        targets: &["systemuser"],
                    },
                ),
            ],
            access: TableAccess::ReadWrite,
        }
    }

    fn plan_of(table: &Table, pairs: &[(&str, &str)]) -> Result<QueryPlan, ApiError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        plan(table, &parse_options(&pairs)?)
    }

    fn filter_of(table: &Table, f: &str) -> Result<Filter, ApiError> {
        plan_of(table, &[("$filter", f)]).map(|p| p.filter.unwrap())
    }

    /// The value a one-comparison filter converts to.
    fn value_of(table: &Table, f: &str) -> Result<Cell, ApiError> {
        match filter_of(table, f)? {
            Filter::Compare { value, .. } => Ok(value),
            other => panic!("{other:?}"),
        }
    }

    fn message(r: Result<impl std::fmt::Debug, ApiError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.code, crate::error::ErrorCode::BAD_SYNTAX);
        e.message
    }

    fn names(columns: &[Column]) -> Vec<&'static str> {
        columns.iter().map(|c| c.logical_name).collect()
    }

    #[test]
    fn without_select_every_column_is_selected() {
        let t = account();
        let p = plan_of(&t, &[]).unwrap();
        assert_eq!(p.select, t.columns);
        assert!(!p.explicit_select);
        assert_eq!(p.filter, None);
        assert_eq!(
            names(&p.orderby.iter().map(|(c, _)| *c).collect::<Vec<_>>()),
            ["accountid"]
        );
        assert_eq!(p.top, None);
        assert!(!p.count);
    }

    #[test]
    fn select_keeps_order_drops_repeats_and_adds_the_key() {
        let t = account();
        let p = plan_of(
            &t,
            &[("$select", "revenue,name,revenue,_primarycontactid_value")],
        )
        .unwrap();
        assert!(p.explicit_select);
        assert_eq!(
            names(&p.select),
            ["revenue", "name", "primarycontactid", "accountid"]
        );
        let p = plan_of(&t, &[("$select", "accountid,name")]).unwrap();
        assert_eq!(names(&p.select), ["accountid", "name"]);
    }

    #[test]
    fn unknown_properties_are_named() {
        let t = account();
        let expected =
            "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'.";
        assert_eq!(
            message(plan_of(&t, &[("$select", "name,nosuch")])),
            expected
        );
        assert_eq!(
            message(plan_of(&t, &[("$orderby", "nosuch desc")])),
            expected
        );
        assert_eq!(message(filter_of(&t, "nosuch eq 1")), expected);
        assert_eq!(message(filter_of(&t, "name eq nosuch")), expected);
        assert_eq!(message(filter_of(&t, "contains(nosuch,'x')")), expected);
        // A lookup is read as `_name_value`, never by its logical name.
        assert!(message(plan_of(&t, &[("$select", "primarycontactid")]))
            .contains("property named 'primarycontactid'"));
        // Names are case-sensitive.
        assert!(message(plan_of(&t, &[("$select", "Name")])).contains("'Name'"));
    }

    #[test]
    fn orderby_ends_with_the_primary_key() {
        let t = account();
        let p = plan_of(&t, &[("$orderby", "name desc,revenue,name")]).unwrap();
        let order: Vec<(&str, bool)> = p
            .orderby
            .iter()
            .map(|(c, d)| (c.logical_name, *d))
            .collect();
        assert_eq!(
            order,
            [("name", true), ("revenue", false), ("accountid", false)]
        );
        let p = plan_of(&t, &[("$orderby", "accountid desc,name")]).unwrap();
        let order: Vec<(&str, bool)> = p
            .orderby
            .iter()
            .map(|(c, d)| (c.logical_name, *d))
            .collect();
        assert_eq!(order, [("accountid", true), ("name", false)]);
    }

    #[test]
    fn top_and_count_are_copied() {
        let p = plan_of(&account(), &[("$top", "10"), ("$count", "true")]).unwrap();
        assert_eq!(p.top, Some(10));
        assert!(p.count);
    }

    #[test]
    fn text_columns_take_strings() {
        let t = every_type();
        assert_eq!(
            value_of(&t, "name eq 'O''Bryan'").unwrap(),
            Cell::Text("O'Bryan".into())
        );
        assert_eq!(
            value_of(&t, "notes ne 'x'").unwrap(),
            Cell::Text("x".into())
        );
        assert_eq!(
            message(value_of(&t, "name eq 5")),
            "Bad Request - Error in query syntax: A binary operator with incompatible types was detected. Found operand types 'Edm.String' (property 'name') and 'Edm.Int32' for operator kind 'Equal'."
        );
        assert!(message(value_of(&t, "notes gt true")).contains(
            "'Edm.String' (property 'notes') and 'Edm.Boolean' for operator kind 'GreaterThan'"
        ));
    }

    #[test]
    fn integer_columns_take_integers_in_range() {
        let t = every_type();
        assert_eq!(value_of(&t, "count32 eq -7").unwrap(), Cell::Int(-7));
        assert_eq!(value_of(&t, "kind eq 1").unwrap(), Cell::Int(1));
        assert_eq!(
            value_of(&t, "count64 ge 9000000000").unwrap(),
            Cell::Int(9_000_000_000)
        );
        let e = message(value_of(&t, "count32 lt 3000000000"));
        assert!(
            e.contains(
                "The value 3000000000 is out of range for the Edm.Int32 property 'count32'."
            ),
            "{e}"
        );
        assert!(message(value_of(&t, "kind eq 3000000000")).contains("out of range"));
        assert!(message(value_of(&t, "count32 eq 1.5"))
            .contains("'Edm.Int32' (property 'count32') and 'Edm.Decimal'"));
        assert!(message(value_of(&t, "count32 eq '1'")).contains("'Edm.String'"));
        assert!(message(value_of(&t, "count64 eq 99999999999999999999")).contains("'Edm.Decimal'"));
        assert!(message(value_of(&t, "kind le false")).contains("LessThanOrEqual"));
    }

    #[test]
    fn decimal_columns_keep_exact_text() {
        let t = every_type();
        for (literal, text) in [
            ("5", "5"),
            ("-2", "-2"),
            ("1.50", "1.50"),
            ("1e3", "1000"),
            ("1.5e-2", "0.015"),
            ("-2.50E1", "-25.0"),
            ("12.345e+1", "123.45"),
            ("0.5e0", "0.5"),
            (
                "123456789012345678901234567890.123456789",
                "123456789012345678901234567890.123456789",
            ),
        ] {
            assert_eq!(
                value_of(&t, &format!("amount eq {literal}")).unwrap(),
                Cell::Decimal(text.into()),
                "{literal}"
            );
            assert_eq!(
                value_of(&t, &format!("price eq {literal}")).unwrap(),
                Cell::Decimal(text.into()),
                "{literal}"
            );
        }
        for huge in ["1e999", "1e-999", "1e99999999999999999999"] {
            let e = message(value_of(&t, &format!("amount eq {huge}")));
            assert!(
                e.contains("out of range for the Edm.Decimal property 'amount'"),
                "{e}"
            );
        }
        assert!(message(value_of(&t, "price eq '5'"))
            .contains("'Edm.Decimal' (property 'price') and 'Edm.String'"));
    }

    #[test]
    fn double_columns_take_numbers() {
        let t = every_type();
        assert_eq!(value_of(&t, "ratio gt 2").unwrap(), Cell::Float(2.0));
        assert_eq!(value_of(&t, "ratio gt 1.5").unwrap(), Cell::Float(1.5));
        assert_eq!(value_of(&t, "ratio gt 1e3").unwrap(), Cell::Float(1000.0));
        assert!(message(value_of(&t, "ratio gt 1e999")).contains("out of range"));
        assert!(message(value_of(&t, "ratio gt 'x'")).contains("'Edm.Double'"));
    }

    #[test]
    fn boolean_columns_take_true_and_false() {
        let t = every_type();
        assert_eq!(value_of(&t, "flag eq true").unwrap(), Cell::Bool(true));
        assert_eq!(value_of(&t, "flag ne false").unwrap(), Cell::Bool(false));
        assert!(message(value_of(&t, "flag eq 1"))
            .contains("'Edm.Boolean' (property 'flag') and 'Edm.Int32'"));
        assert!(message(value_of(&t, "flag eq 'true'")).contains("'Edm.String'"));
    }

    #[test]
    fn date_columns_take_dates_and_iso_strings() {
        let t = every_type();
        let jan31 = Timestamp::parse_rfc3339("2024-01-31T00:00:00Z").unwrap();
        let ten = Timestamp::parse_rfc3339("2024-01-31T10:00:00Z").unwrap();
        assert_eq!(
            value_of(&t, "when ge 2024-01-31").unwrap(),
            Cell::DateTime(jan31)
        );
        assert_eq!(
            value_of(&t, "when lt 2024-01-31T11:00:00+01:00").unwrap(),
            Cell::DateTime(ten)
        );
        assert_eq!(
            value_of(&t, "when ge '2024-01-31'").unwrap(),
            Cell::DateTime(jan31)
        );
        assert_eq!(
            value_of(&t, "when ge '2024-01-31T10:00:00Z'").unwrap(),
            Cell::DateTime(ten)
        );
        let e = message(value_of(&t, "when ge 'yesterday'"));
        assert!(
            e.contains(
                "The value 'yesterday' is not a valid Edm.DateTimeOffset for the property 'when'."
            ),
            "{e}"
        );
        assert!(message(value_of(&t, "when ge 20240131"))
            .contains("'Edm.DateTimeOffset' (property 'when') and 'Edm.Int32'"));
        // Account's system columns are dates too.
        assert_eq!(
            value_of(&account(), "createdon gt 2024-01-31").unwrap(),
            Cell::DateTime(jan31)
        );
    }

    #[test]
    fn guid_columns_take_guids_quoted_or_not() {
        let t = every_type();
        let one = Cell::Guid(uuid::Uuid::from_u128(1));
        for f in [
            "sampleid eq 00000000-0000-0000-0000-000000000001",
            "sampleid eq '00000000-0000-0000-0000-000000000001'",
            "other eq '{00000000-0000-0000-0000-000000000001}'",
            "_ownerid_value eq 00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000001 eq _ownerid_value",
        ] {
            assert_eq!(value_of(&t, f).unwrap(), one, "{f}");
        }
        let e = message(value_of(&t, "sampleid eq 'not-a-guid'"));
        assert!(
            e.contains(
                "The value 'not-a-guid' is not a valid Edm.Guid for the property 'sampleid'."
            ),
            "{e}"
        );
        assert!(message(value_of(&t, "_ownerid_value eq 5"))
            .contains("'Edm.Guid' (property '_ownerid_value') and 'Edm.Int32'"));
        assert!(
            message(value_of(&t, "name eq 00000000-0000-0000-0000-000000000001"))
                .contains("'Edm.String' (property 'name') and 'Edm.Guid'")
        );
    }

    #[test]
    fn null_comparisons_become_null_tests() {
        let t = account();
        let revenue = *t.column("revenue").unwrap();
        assert_eq!(
            filter_of(&t, "revenue eq null").unwrap(),
            Filter::IsNull {
                column: revenue,
                negated: false
            }
        );
        assert_eq!(
            filter_of(&t, "revenue ne null").unwrap(),
            Filter::IsNull {
                column: revenue,
                negated: true
            }
        );
        assert_eq!(
            filter_of(&t, "null ne revenue").unwrap(),
            Filter::IsNull {
                column: revenue,
                negated: true
            }
        );
        assert_eq!(
            plan_of(&t, &[("$filter", "revenue eq @p1")])
                .unwrap()
                .filter,
            Some(Filter::IsNull {
                column: revenue,
                negated: false
            })
        );
        for op in ["gt", "ge", "lt", "le"] {
            let e = message(filter_of(&t, &format!("revenue {op} null")));
            assert!(
                e.contains(&format!(
                    "The operator '{op}' cannot compare the property 'revenue' with null"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn string_functions_need_text_columns_and_text() {
        let t = every_type();
        assert_eq!(
            filter_of(&t, "startswith(notes,'100%_')").unwrap(),
            Filter::StrFunc {
                func: StrFn::StartsWith,
                column: *t.column("notes").unwrap(),
                value: "100%_".into()
            }
        );
        let e = message(filter_of(&t, "contains(count32,'1')"));
        assert!(
            e.contains("The function 'contains' applies to Edm.String properties only; the property 'count32' is Edm.Int32."),
            "{e}"
        );
        let e = message(filter_of(&t, "endswith(name,'')"));
        assert!(
            e.contains("The function 'endswith' needs a non-empty text"),
            "{e}"
        );
    }

    #[test]
    fn column_comparisons_need_the_same_type() {
        let t = every_type();
        assert_eq!(
            filter_of(&t, "name eq notes").unwrap(),
            Filter::CompareColumns {
                left: *t.column("name").unwrap(),
                op: CmpOp::Eq,
                right: *t.column("notes").unwrap()
            }
        );
        assert!(filter_of(&t, "count32 lt kind").is_ok());
        assert!(filter_of(&t, "amount ge price").is_ok());
        assert!(filter_of(&t, "sampleid ne _ownerid_value").is_ok());
        let e = message(filter_of(&t, "name eq count32"));
        assert!(
            e.contains("Found operand types 'Edm.String' (property 'name') and 'Edm.Int32' (property 'count32') for operator kind 'Equal'."),
            "{e}"
        );
    }

    #[test]
    fn logic_is_kept() {
        let t = account();
        let name = *t.column("name").unwrap();
        let employees = *t.column("numberofemployees").unwrap();
        let f = filter_of(
            &t,
            "not (name eq 'a' or numberofemployees gt 5) and name ne 'b'",
        )
        .unwrap();
        assert_eq!(
            f,
            Filter::And(
                Box::new(Filter::Not(Box::new(Filter::Or(
                    Box::new(Filter::Compare {
                        column: name,
                        op: CmpOp::Eq,
                        value: Cell::Text("a".into())
                    }),
                    Box::new(Filter::Compare {
                        column: employees,
                        op: CmpOp::Gt,
                        value: Cell::Int(5)
                    })
                )))),
                Box::new(Filter::Compare {
                    column: name,
                    op: CmpOp::Ne,
                    value: Cell::Text("b".into())
                })
            )
        );
    }

    #[test]
    fn a_table_without_its_key_column_is_refused_not_panicked_on() {
        let mut t = every_type();
        t.columns.remove(0);
        assert_eq!(plan(&t, &QueryOptions::default()).unwrap_err().status, 500);
    }

    #[test]
    fn hand_built_options_are_checked_too() {
        let options = QueryOptions {
            orderby: vec![OrderBy {
                column: String::new(),
                descending: false,
            }],
            ..QueryOptions::default()
        };
        assert!(plan(&account(), &options).is_err());
        let options = QueryOptions {
            filter: Some(Expr::Compare {
                column: "revenue".into(),
                op: CmpOp::Eq,
                value: Literal::Decimal("1.e-x".into()),
            }),
            ..QueryOptions::default()
        };
        assert!(plan(&account(), &options).is_err());
    }
}
