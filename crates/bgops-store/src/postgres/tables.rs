//! SQL for the generic tables of the Web API on PostgreSQL (accounts, contacts, annotations,
//! …): queries translated from a checked plan ([`query`]), writes ([`write`]), the storage form
//! of each column type ([`cells`]), and stamps. The same contract as `sqlite/tables` (the
//! conformance suite's `conformance_tables` cases).
//!
//! Every value is bound, as a placeholder cast to its storage type (`$1::text`); the only text
//! spliced into SQL is table and column names, resolved to the [`Table`]'s own and checked to be
//! plain identifiers (`crate::table_sql`, shared with SQLite).

mod cells;
mod query;
mod write;

use std::sync::Arc;

use bgops_core::metadata::{Cell, Column, Table};

use super::db::Db;
use crate::store::TablesStamp;
use crate::table_sql::ident;
use crate::StoreError;

pub use query::{count, get, query};
pub use write::{delete, insert, update, write_rows};

/// The statement parameters for `values`.
fn params(values: &[cells::Value]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    values.iter().map(cells::Value::param).collect()
}

/// Reads `columns` from a result row whose first columns are exactly these, in this order.
fn read_cells(
    table: &Table,
    columns: &[&Column],
    row: &tokio_postgres::Row,
) -> Result<Vec<Cell>, StoreError> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells::from_sql(table.logical_name, c, row, i))
        .collect()
}

/// The [`TablesStamp`] of `tables`: their row count, highest and (wrapping) summed
/// `versionnumber`, read in one statement so the tables are seen at one moment.
pub async fn stamp(c: &dyn Db, tables: &[Arc<Table>]) -> Result<TablesStamp, StoreError> {
    if tables.is_empty() {
        return Ok(TablesStamp::default());
    }
    let parts = tables
        .iter()
        .map(|t| {
            // SUM of BIGINT is numeric: read as text and wrapped to 64 bits here.
            Ok(format!(
                "SELECT COUNT(*), COALESCE(MAX(versionnumber), 0), \
                 COALESCE(SUM(versionnumber), 0)::text FROM {}",
                ident(t.logical_name)?
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut out = TablesStamp::default();
    for r in c.query(&parts.join(" UNION ALL "), &[]).await? {
        let rows: i64 = r.try_get(0)?;
        let max: i64 = r.try_get(1)?;
        let sum: String = r.try_get(2)?;
        let sum: i128 = sum
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("a sum of versions '{sum}'")))?;
        out.rows += u64::try_from(rows).unwrap_or(0);
        out.max_version = out.max_version.max(max);
        // Truncation is the wrapping the stamp asks for.
        out.version_sum = out.version_sum.wrapping_add(sum as i64);
    }
    Ok(out)
}
