//! SQL for the generic tables of the Web API (accounts, contacts, annotations, …): queries
//! translated from a checked plan ([`query`]), writes ([`write`]), and the storage form of each
//! column type ([`cells`]).
//!
//! Every value is bound; the only text spliced into SQL is table and column names, and those
//! come from the [`Table`] metadata: a column named by a plan or a row is first resolved to the
//! table's own column, and the names are checked to be plain identifiers (`crate::table_sql`,
//! shared with PostgreSQL).

mod cells;
mod query;
mod write;

use bgops_core::metadata::{Cell, Column, Table};
use rusqlite::Connection;

use crate::store::TablesStamp;
use crate::table_sql::{fold_case, ident};
use crate::StoreError;

pub use query::{count, get, query};
pub use write::{delete, insert, update, write_rows};

/// Registers `bgops_fold(text)` on `conn`: text lower-cased as comparisons see it
/// ([`fold_case`]), so SQLite folds every letter as PostgreSQL's `lower()` under ICU does
/// (`COLLATE NOCASE` folds only ASCII). NULL stays NULL.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::ValueRef;
    conn.create_scalar_function(
        "bgops_fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| match ctx.get_raw(0) {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => {
                let s = std::str::from_utf8(t)
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
                Ok(Some(fold_case(s).into_owned()))
            }
            other => Err(rusqlite::Error::UserFunctionError(
                format!("bgops_fold takes text, not {}", other.data_type()).into(),
            )),
        },
    )
}

/// Reads `columns` from a result row whose first columns are exactly these, in this order.
fn read_cells(
    table: &Table,
    columns: &[&Column],
    row: &rusqlite::Row<'_>,
) -> Result<Vec<Cell>, StoreError> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells::from_sql(table.logical_name, c, row.get_ref(i)?))
        .collect()
}

/// The [`TablesStamp`] of `tables`: their row count, highest and summed `versionnumber`.
pub fn stamp(
    conn: &Connection,
    tables: &[std::sync::Arc<Table>],
) -> Result<TablesStamp, StoreError> {
    let mut out = TablesStamp::default();
    for table in tables {
        let sql = format!(
            "SELECT COUNT(*), COALESCE(MAX(versionnumber), 0), COALESCE(SUM(versionnumber), 0) FROM {}",
            ident(table.logical_name)?
        );
        let (rows, max, sum): (i64, i64, i64) = conn
            .prepare_cached(&sql)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        out.rows += u64::try_from(rows).unwrap_or(0);
        out.max_version = out.max_version.max(max);
        out.version_sum = out.version_sum.wrapping_add(sum);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bgops_core::catalogue::Catalogue;

    use super::*;

    /// Every catalogue table is an SQL table with exactly the catalogue's columns (plus, for
    /// the tables the engine and authentication own, their internal ones), each with the
    /// declared type its column type is stored as.
    #[test]
    fn schema_matches_the_catalogue() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::sqlite::migrate::apply(&mut conn).unwrap();
        for table in Catalogue::standard().tables() {
            let sql = format!("PRAGMA table_xinfo({})", table.logical_name);
            let mut stmt = conn.prepare(&sql).unwrap();
            let declared: Vec<(String, String)> = stmt
                .query_map([], |r| Ok((r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(!declared.is_empty(), "no SQL table {}", table.logical_name);
            for column in &table.columns {
                let (_, ty) = declared
                    .iter()
                    .find(|(n, _)| n == column.logical_name)
                    .unwrap_or_else(|| {
                        panic!("{}.{} missing", table.logical_name, column.logical_name)
                    });
                use bgops_core::metadata::ColumnType as T;
                let expected = match column.column_type {
                    T::Double => "REAL",
                    T::Integer | T::BigInt | T::Choice { .. } | T::Boolean { .. } | T::DateTime => {
                        "INTEGER"
                    }
                    _ => "TEXT",
                };
                assert!(
                    ty.starts_with(expected),
                    "{}.{} is {ty}, expected {expected}",
                    table.logical_name,
                    column.logical_name
                );
            }
            let internal: &[&str] = match table.logical_name {
                "systemuser" => &[
                    "apikeyhash",
                    "issystemadministrator",
                    "isbootstrapadmin",
                    // The Entra tenant of a user signed in by token (0012).
                    "bgops_identitytenant",
                ],
                "backgroundoperation" => &[
                    "attempt",
                    "maxretries",
                    "nextattemptat",
                    "leaseowner",
                    "leaseexpiresat",
                    "expiresat",
                    "callbackurl",
                    "location",
                    // The status monitor's rendering of the outputs (0008).
                    "outputjson",
                    // The W3C trace context its attempts continue (0013).
                    "traceparent",
                    // The failed attempts and the latest attempt's start, for the
                    // dashboard's operation page (0015).
                    "attempthistory",
                    "attemptstartedon",
                ],
                // Write-only: see `catalogue::serviceendpoint_with_authvalue`.
                "serviceendpoint" => &["authvalue"],
                "asyncoperation" => &[
                    "attempt",
                    "nextattemptat",
                    "leaseowner",
                    "leaseexpiresat",
                    "asyncautodelete",
                ],
                _ => &[],
            };
            for (name, _) in &declared {
                assert!(
                    table.column(name).is_some() || internal.contains(&name.as_str()),
                    "{}.{name} is not in the catalogue",
                    table.logical_name
                );
            }
        }
    }
}
