//! Reads: a [`QueryPlan`] translated to one parameterized SELECT with keyset paging, counts, and
//! single rows by key.
//!
//! Comparison rules, the same in filters, ordering and keyset positions so a page boundary never
//! skips or repeats a row, and the same as SQLite's:
//! - text compares as `lower(… COLLATE bgops_fold) COLLATE "C"`: lower-cased by ICU's root
//!   locale (every letter, like Dataverse; SQLite's `bgops_fold` does the same in Rust), then
//!   byte by byte, which for UTF-8 is code point order;
//! - GUIDs (lower-case text) compare `COLLATE "C"`, whatever the database's collation;
//! - decimals and money compare as `CAST(… AS numeric)` (their stored text is exact, the
//!   comparison numeric);
//! - NULL sorts first ascending and last descending (SQLite's rule, said explicitly: it is the
//!   opposite of PostgreSQL's default); `ne` is SQL's `<>`, so it never matches NULL.

use std::fmt::Write as _;

use bgops_core::metadata::{Cell, Column, Row, Table};
use bgops_core::odata::ast::CmpOp;
use bgops_core::odata::plan::{Filter, QueryPlan};

use super::cells::{self, Storage, Value};
use super::{params, read_cells};
use crate::postgres::db::Db;
use crate::store::{PageRequest, RowPage};
use crate::table_sql::{
    column_list, comparison, ident, keyset_shape, like_pattern, ordered_null, own_column,
    primary_key, read_columns, text_column, total_order, Comparison,
};
use crate::StoreError;

/// SQL text and the values bound to its `$n`s, built together so they never drift apart.
#[derive(Default)]
struct Sql {
    /// The statement so far.
    text: String,
    /// One value per placeholder in `text`, in order.
    params: Vec<Value>,
}

impl Sql {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Appends the next placeholder, cast to the value's type.
    fn bind(&mut self, value: Value) {
        let _ = write!(
            self.text,
            "${}::{}",
            self.params.len() + 1,
            value.sql_type()
        );
        self.params.push(value);
    }
}

/// `expr` as text compares: lower-cased, then byte by byte.
fn folded(expr: &str) -> String {
    format!("lower({expr} COLLATE bgops_fold) COLLATE \"C\"")
}

/// The column as compared and sorted.
fn operand(column: &Column) -> Result<String, StoreError> {
    let name = ident(column.logical_name)?;
    Ok(match (comparison(column), cells::storage(column)) {
        (Comparison::Text, _) => folded(&name),
        (Comparison::Decimal, _) => format!("CAST({name} AS numeric)"),
        (Comparison::Native, Storage::Text) => format!("{name} COLLATE \"C\""),
        (Comparison::Native, _) => name,
    })
}

/// Binds `cell` as compared with `column` (see [`operand`]).
fn bind_operand(sql: &mut Sql, column: &Column, cell: &Cell) -> Result<(), StoreError> {
    let value = cells::to_sql(column, cell)?;
    match comparison(column) {
        Comparison::Text => {
            sql.push("lower(");
            sql.bind(value);
            sql.push(" COLLATE bgops_fold) COLLATE \"C\"");
        }
        Comparison::Decimal => {
            sql.push("CAST(");
            sql.bind(value);
            sql.push(" AS numeric)");
        }
        Comparison::Native => sql.bind(value),
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
                (Cell::Null, _) => return Err(ordered_null(column)),
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
            text_column(column)?;
            sql.push(&operand(column)?);
            sql.push(" LIKE lower(");
            let pattern = like_pattern(*func, &cells::encode_text(value));
            sql.bind(Value::Text(Some(pattern)));
            sql.push(" COLLATE bgops_fold) COLLATE \"C\" ESCAPE '\\'");
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

/// Whether `column` is `NOT NULL` in every table of the schema: the times every write sets.
fn never_null(column: &Column) -> bool {
    matches!(column.logical_name, "createdon" | "modifiedon")
}

/// Appends "the row comes strictly after `after` in `order`":
/// `(c1 after v1) OR (c1 = v1 AND c2 after v2) OR …`, where NULL is before every value
/// ascending and after every value descending.
fn keyset(sql: &mut Sql, order: &[(&Column, bool)], after: &[Cell]) -> Result<(), StoreError> {
    keyset_shape(order, after)?;
    // A bound on the first column alone, implied by the expansion below, so that PostgreSQL
    // starts the index scan at the position instead of filtering every row before it (it
    // derives no range from the OR; SQLite does). Ascending it holds for any column (NULL
    // sorts first); descending only for columns that cannot be NULL.
    if let (Some((column, descending)), Some(value)) = (order.first(), after.first()) {
        if *value != Cell::Null && (!descending || never_null(column)) {
            sql.push(&operand(column)?);
            sql.push(if *descending { " <= " } else { " >= " });
            bind_operand(sql, column, value)?;
            sql.push(" AND ");
        }
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
            (Cell::Null, true) => sql.push("FALSE"),
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
pub async fn query(
    c: &dyn Db,
    table: &Table,
    plan: &QueryPlan,
    page: &PageRequest,
) -> Result<RowPage, StoreError> {
    let order = total_order(table, plan)?;
    let columns = read_columns(table, plan, &order)?;

    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {} FROM {}",
        column_list(&columns.read)?,
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
        sql.push(if *descending {
            " DESC NULLS LAST"
        } else {
            " ASC NULLS FIRST"
        });
    }
    sql.push(" LIMIT ");
    sql.bind(Value::BigInt(Some(
        i64::try_from(page.size.saturating_add(1)).unwrap_or(i64::MAX),
    )));

    let rows = c.query(&sql.text, &params(&sql.params)).await?;
    let mut out = RowPage {
        rows: Vec::new(),
        keys: Vec::new(),
        more: rows.len() > page.size,
    };
    for r in rows.iter().take(page.size) {
        let (row, key) = columns.split(read_cells(table, &columns.read, r)?);
        out.rows.push(row);
        out.keys.push(key);
    }
    Ok(out)
}

/// How many `table` rows match `filter`.
pub async fn count(c: &dyn Db, table: &Table, f: Option<&Filter>) -> Result<u64, StoreError> {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT COUNT(*) FROM {}",
        ident(table.logical_name)?
    ));
    if let Some(f) = f {
        sql.push(" WHERE ");
        filter(&mut sql, table, f)?;
    }
    let n: i64 = c
        .query_one(&sql.text, &params(&sql.params))
        .await?
        .try_get(0)?;
    Ok(n.unsigned_abs())
}

/// One row by primary key, every column.
pub async fn get(c: &dyn Db, table: &Table, id: uuid::Uuid) -> Result<Option<Row>, StoreError> {
    let pk = primary_key(table)?;
    let all: Vec<&Column> = table.columns.iter().collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = $1::text",
        column_list(&all)?,
        ident(table.logical_name)?,
        ident(pk.logical_name)?
    );
    let key = cells::to_sql(pk, &Cell::Guid(id))?;
    match c.query_opt(&sql, &[key.param()]).await? {
        Some(r) => {
            let values = read_cells(table, &all, &r)?;
            Ok(Some(
                all.iter().map(|c| c.logical_name).zip(values).collect(),
            ))
        }
        None => Ok(None),
    }
}
