//! Reads: a [`QueryPlan`] translated to one parameterized SELECT with keyset paging, counts, and
//! single rows by key.
//!
//! Comparison rules, the same in filters, ordering and keyset positions so a page boundary never
//! skips or repeats a row: text compares with `COLLATE NOCASE` (case-insensitive, like
//! Dataverse), decimals and money as `CAST(… AS REAL)` (their stored text is exact, the
//! comparison numeric), everything else natively. NULL sorts first ascending and last
//! descending (SQLite's rule); `ne` is SQL's `<>`, so it never matches NULL.

use bgops_core::metadata::{Cell, Column, ColumnType, Row, Table};
use bgops_core::odata::ast::{CmpOp, StrFn};
use bgops_core::odata::plan::{Filter, QueryPlan};
use rusqlite::types::Value;
use rusqlite::Connection;

use super::{cells, column_list, ident, own_column, primary_key, read_cells};
use crate::store::{PageRequest, RowPage};
use crate::StoreError;

/// SQL text and the values bound to its `?`s, built together so they never drift apart.
#[derive(Default)]
struct Sql {
    /// The statement so far.
    text: String,
    /// One value per `?` in `text`, in order.
    params: Vec<Value>,
}

impl Sql {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn bind(&mut self, value: Value) {
        self.text.push('?');
        self.params.push(value);
    }
}

/// How a column's values compare.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Text, case-insensitively.
    Text,
    /// Exact decimal text, numerically.
    Decimal,
    /// The stored value as it is.
    Native,
}

fn comparison(column: &Column) -> Comparison {
    match column.column_type {
        ColumnType::String { .. } | ColumnType::Memo { .. } => Comparison::Text,
        ColumnType::Decimal | ColumnType::Money => Comparison::Decimal,
        _ => Comparison::Native,
    }
}

/// The column as compared and sorted.
fn operand(column: &Column) -> Result<String, StoreError> {
    let name = ident(column.logical_name)?;
    Ok(match comparison(column) {
        Comparison::Text => format!("{name} COLLATE NOCASE"),
        Comparison::Decimal => format!("CAST({name} AS REAL)"),
        Comparison::Native => name,
    })
}

/// Binds `cell` as compared with `column` (see [`operand`]).
fn bind_operand(sql: &mut Sql, column: &Column, cell: &Cell) -> Result<(), StoreError> {
    let value = cells::to_sql(column, cell)?;
    if comparison(column) == Comparison::Decimal {
        sql.push("CAST(");
        sql.bind(value);
        sql.push(" AS REAL)");
    } else {
        sql.bind(value);
    }
    Ok(())
}

fn operator(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => " = ",
        CmpOp::Ne => " <> ",
        CmpOp::Gt => " > ",
        CmpOp::Ge => " >= ",
        CmpOp::Lt => " < ",
        CmpOp::Le => " <= ",
    }
}

/// `pattern` for LIKE, with its wildcards and the escape character taken literally.
fn like_pattern(func: StrFn, text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    match func {
        StrFn::Contains => format!("%{escaped}%"),
        StrFn::StartsWith => format!("{escaped}%"),
        StrFn::EndsWith => format!("%{escaped}"),
    }
}

/// Appends the condition `filter`, parenthesized.
fn filter(sql: &mut Sql, table: &Table, f: &Filter) -> Result<(), StoreError> {
    sql.push("(");
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            filter(sql, table, a)?;
            sql.push(if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            filter(sql, table, b)?;
        }
        Filter::Not(a) => {
            sql.push("NOT ");
            filter(sql, table, a)?;
        }
        Filter::Compare { column, op, value } => {
            let column = own_column(table, column)?;
            match (value, op) {
                (Cell::Null, CmpOp::Eq | CmpOp::Ne) => {
                    is_null(sql, column, *op == CmpOp::Ne)?;
                }
                (Cell::Null, _) => {
                    return Err(StoreError::InvalidRequest(format!(
                        "{} cannot be ordered against null",
                        column.logical_name
                    )))
                }
                _ => {
                    sql.push(&operand(column)?);
                    sql.push(operator(*op));
                    bind_operand(sql, column, value)?;
                }
            }
        }
        Filter::CompareColumns { left, op, right } => {
            let left = own_column(table, left)?;
            let right = own_column(table, right)?;
            sql.push(&operand(left)?);
            sql.push(operator(*op));
            sql.push(&operand(right)?);
        }
        Filter::IsNull { column, negated } => {
            is_null(sql, own_column(table, column)?, *negated)?;
        }
        Filter::StrFunc {
            func,
            column,
            value,
        } => {
            let column = own_column(table, column)?;
            if comparison(column) != Comparison::Text {
                return Err(StoreError::InvalidRequest(format!(
                    "{} is not a text column",
                    column.logical_name
                )));
            }
            sql.push(&ident(column.logical_name)?);
            sql.push(" LIKE ");
            sql.bind(Value::Text(like_pattern(*func, value)));
            sql.push(" ESCAPE '\\'");
        }
    }
    sql.push(")");
    Ok(())
}

fn is_null(sql: &mut Sql, column: &Column, negated: bool) -> Result<(), StoreError> {
    sql.push(&ident(column.logical_name)?);
    sql.push(if negated { " IS NOT NULL" } else { " IS NULL" });
    Ok(())
}

/// The plan's order made total: up to the first primary-key entry, or with the primary key
/// (ascending) appended when the plan lacks it.
fn total_order<'t>(
    table: &'t Table,
    plan: &QueryPlan,
) -> Result<Vec<(&'t Column, bool)>, StoreError> {
    let pk = primary_key(table)?;
    let mut order = Vec::with_capacity(plan.orderby.len() + 1);
    for (column, descending) in &plan.orderby {
        let column = own_column(table, column)?;
        order.push((column, *descending));
        if column == pk {
            return Ok(order);
        }
    }
    order.push((pk, false));
    Ok(order)
}

/// Appends "the row comes strictly after `after` in `order`":
/// `(c1 after v1) OR (c1 = v1 AND c2 after v2) OR …`, where NULL is before every value
/// ascending and after every value descending.
fn keyset(sql: &mut Sql, order: &[(&Column, bool)], after: &[Cell]) -> Result<(), StoreError> {
    if after.len() != order.len() {
        return Err(StoreError::InvalidRequest(format!(
            "a keyset position has {} values for {} order-by columns",
            after.len(),
            order.len()
        )));
    }
    sql.push("(");
    for i in 0..order.len() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        for ((column, _), value) in order[..i].iter().zip(after) {
            if *value == Cell::Null {
                is_null(sql, column, false)?;
            } else {
                sql.push(&operand(column)?);
                sql.push(" = ");
                bind_operand(sql, column, value)?;
            }
            sql.push(" AND ");
        }
        let (column, descending) = order[i];
        match (&after[i], descending) {
            (Cell::Null, false) => is_null(sql, column, true)?,
            (Cell::Null, true) => sql.push("0"),
            (value, false) => {
                sql.push(&operand(column)?);
                sql.push(" > ");
                bind_operand(sql, column, value)?;
            }
            (value, true) => {
                sql.push("(");
                sql.push(&operand(column)?);
                sql.push(" < ");
                bind_operand(sql, column, value)?;
                sql.push(" OR ");
                is_null(sql, column, false)?;
                sql.push(")");
            }
        }
        sql.push(")");
    }
    sql.push(")");
    Ok(())
}

/// A page of `table` rows matching `plan`, after `page.after`.
pub fn query(
    conn: &Connection,
    table: &Table,
    plan: &QueryPlan,
    page: &PageRequest,
) -> Result<RowPage, StoreError> {
    for column in &plan.select {
        own_column(table, column)?;
    }
    let order = total_order(table, plan)?;
    // Read the selected columns and the order-by columns, in table order.
    let read: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| {
            plan.select.iter().any(|s| s.logical_name == c.logical_name)
                || order.iter().any(|(o, _)| o.logical_name == c.logical_name)
        })
        .collect();
    let selected: Vec<bool> = read
        .iter()
        .map(|c| plan.select.iter().any(|s| s.logical_name == c.logical_name))
        .collect();
    let key_at: Vec<usize> = order
        .iter()
        .map(|(o, _)| read.iter().position(|c| c == o).unwrap_or_default())
        .collect();

    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {} FROM {}",
        column_list(&read)?,
        ident(table.logical_name)?
    ));
    let mut conditions = 0;
    if let Some(f) = &plan.filter {
        sql.push(" WHERE ");
        filter(&mut sql, table, f)?;
        conditions += 1;
    }
    if let Some(after) = &page.after {
        sql.push(if conditions == 0 { " WHERE " } else { " AND " });
        keyset(&mut sql, &order, after)?;
    }
    sql.push(" ORDER BY ");
    for (i, (column, descending)) in order.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push(&operand(column)?);
        sql.push(if *descending { " DESC" } else { " ASC" });
    }
    sql.push(" LIMIT ");
    sql.bind(Value::Integer(
        i64::try_from(page.size.saturating_add(1)).unwrap_or(i64::MAX),
    ));

    let mut stmt = conn.prepare_cached(&sql.text)?;
    let mut result = stmt.query(rusqlite::params_from_iter(sql.params.iter()))?;
    let mut out = RowPage {
        rows: Vec::new(),
        keys: Vec::new(),
        more: false,
    };
    while let Some(r) = result.next()? {
        if out.rows.len() == page.size {
            out.more = true;
            break;
        }
        let values = read_cells(table, &read, r)?;
        out.keys
            .push(key_at.iter().map(|&i| values[i].clone()).collect());
        out.rows.push(
            read.iter()
                .zip(values)
                .zip(&selected)
                .filter(|(_, keep)| **keep)
                .map(|((c, v), _)| (c.logical_name, v))
                .collect(),
        );
    }
    Ok(out)
}

/// How many `table` rows match `filter`.
pub fn count(conn: &Connection, table: &Table, f: Option<&Filter>) -> Result<u64, StoreError> {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT COUNT(*) FROM {}",
        ident(table.logical_name)?
    ));
    if let Some(f) = f {
        sql.push(" WHERE ");
        filter(&mut sql, table, f)?;
    }
    let n: i64 = conn
        .prepare_cached(&sql.text)?
        .query_row(rusqlite::params_from_iter(sql.params.iter()), |r| r.get(0))?;
    Ok(n.unsigned_abs())
}

/// One row by primary key, every column.
pub fn get(conn: &Connection, table: &Table, id: uuid::Uuid) -> Result<Option<Row>, StoreError> {
    let pk = primary_key(table)?;
    let all: Vec<&Column> = table.columns.iter().collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = ?1",
        column_list(&all)?,
        ident(table.logical_name)?,
        ident(pk.logical_name)?
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([cells::to_sql(pk, &Cell::Guid(id))?])?;
    match rows.next()? {
        Some(r) => {
            let values = read_cells(table, &all, r)?;
            Ok(Some(
                all.iter().map(|c| c.logical_name).zip(values).collect(),
            ))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(like_pattern(StrFn::Contains, "50%"), "%50\\%%");
        assert_eq!(like_pattern(StrFn::StartsWith, "a_b"), "a\\_b%");
        assert_eq!(like_pattern(StrFn::EndsWith, "c:\\x"), "%c:\\\\x");
    }
}
