//! Writes: insert, update (or upsert) and delete of one row, and batches of them applied all or
//! none, run on the writer connection. The store sets `createdon`, `modifiedon`, `createdby` and
//! a new `versionnumber`, and returns the row as stored, read back in the same transaction.

use bgops_core::metadata::{Cell, Column, Row, Table};
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension};

use super::{cells, query};
use crate::sqlite::writer::WriterCtx;
use crate::store::{
    DeleteOutcome, InsertOutcome, RowChange, RowRefusal, UpdateMode, UpdateOutcome, WriteContext,
    WriteRowsOutcome,
};
use crate::table_sql::{caller_values, ident, insert_id, lookup_column, primary_key, same_key};
use crate::StoreError;

/// The caller's values for the columns it may set, converted for binding.
fn bound_values<'t>(
    table: &'t Table,
    values: &Row,
) -> Result<Vec<(&'t Column, Value)>, StoreError> {
    caller_values(table, values)?
        .into_iter()
        .map(|(column, cell)| Ok((column, cells::to_sql(column, cell)?)))
        .collect()
}

/// The store's own values for a write: `modifiedon` and `versionnumber` always, `createdon`
/// and `createdby` on create; only those the table has.
fn system_values<'t>(
    table: &'t Table,
    ctx: &mut WriterCtx,
    write: WriteContext,
    create: bool,
) -> Result<Vec<(&'t Column, Value)>, StoreError> {
    let mut wanted = vec![
        ("modifiedon", Cell::DateTime(write.now)),
        ("versionnumber", Cell::Int(ctx.next_version())),
    ];
    if create {
        wanted.push(("createdon", Cell::DateTime(write.now)));
        wanted.push(("createdby", Cell::Guid(write.user.0)));
    }
    let mut out = Vec::with_capacity(wanted.len());
    for (name, cell) in wanted {
        if let Some(column) = table.column(name) {
            out.push((column, cells::to_sql(column, &cell)?));
        }
    }
    Ok(out)
}

/// Whether `e` is a primary-key or unique-index violation.
fn is_duplicate(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::ConstraintViolation
                && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
    )
}

/// The row as stored right after a write.
fn read_back(conn: &Connection, table: &Table, id: uuid::Uuid) -> Result<Row, StoreError> {
    query::get(conn, table, id)?.ok_or_else(|| {
        StoreError::Backend(format!(
            "{} {id} is missing right after it was written",
            table.logical_name
        ))
    })
}

/// The current `versionnumber` of the row, if it exists.
fn current_version(
    conn: &Connection,
    table: &Table,
    id: uuid::Uuid,
) -> Result<Option<i64>, StoreError> {
    let pk = primary_key(table)?;
    let sql = format!(
        "SELECT versionnumber FROM {} WHERE {} = ?1",
        ident(table.logical_name)?,
        ident(pk.logical_name)?
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([cells::to_sql(pk, &Cell::Guid(id))?], |r| r.get(0))
        .optional()?)
}

/// Inserts the row `id` with the caller's values; `None` when a key or unique index already
/// holds them.
fn insert_with_id(
    conn: &Connection,
    ctx: &mut WriterCtx,
    table: &Table,
    id: uuid::Uuid,
    values: &Row,
    write: WriteContext,
) -> Result<Option<Row>, StoreError> {
    let pk = primary_key(table)?;
    let mut columns = vec![(pk, cells::to_sql(pk, &Cell::Guid(id))?)];
    columns.extend(bound_values(table, values)?);
    columns.extend(system_values(table, ctx, write, true)?);
    let names = columns
        .iter()
        .map(|(c, _)| ident(c.logical_name))
        .collect::<Result<Vec<_>, _>>()?;
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        ident(table.logical_name)?,
        names.join(", "),
        vec!["?"; names.len()].join(", ")
    );
    let params = columns.iter().map(|(_, v)| v);
    match conn
        .prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(params))
    {
        Ok(_) => read_back(conn, table, id).map(Some),
        Err(e) if is_duplicate(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Inserts a row; its primary key is among `values`.
pub fn insert(
    conn: &Connection,
    ctx: &mut WriterCtx,
    table: &Table,
    values: &Row,
    write: WriteContext,
) -> Result<InsertOutcome, StoreError> {
    let id = insert_id(table, values)?;
    Ok(match insert_with_id(conn, ctx, table, id, values, write)? {
        Some(row) => InsertOutcome::Created(row),
        None => InsertOutcome::Duplicate,
    })
}

/// Updates row `id` (or creates it, per `mode`).
pub fn update(
    conn: &Connection,
    ctx: &mut WriterCtx,
    table: &Table,
    id: uuid::Uuid,
    values: &Row,
    mode: UpdateMode,
    write: WriteContext,
) -> Result<UpdateOutcome, StoreError> {
    same_key(table, id, values)?;
    let version = match (current_version(conn, table, id)?, mode) {
        (None, UpdateMode::Upsert) => {
            return match insert_with_id(conn, ctx, table, id, values, write)? {
                Some(row) => Ok(UpdateOutcome::Created(row)),
                None => Err(StoreError::Backend(format!(
                    "creating {} {id} would duplicate a unique key",
                    table.logical_name
                ))),
            };
        }
        (None, _) => return Ok(UpdateOutcome::NotFound),
        (Some(current), UpdateMode::IfVersion(expected)) if current != expected => {
            return Ok(UpdateOutcome::VersionMismatch)
        }
        (Some(current), _) => current,
    };
    let mut columns = bound_values(table, values)?;
    columns.extend(system_values(table, ctx, write, false)?);
    let assignments = columns
        .iter()
        .map(|(c, _)| Ok(format!("{} = ?", ident(c.logical_name)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let pk = primary_key(table)?;
    let sql = format!(
        "UPDATE {} SET {} WHERE {} = ? AND versionnumber = ?",
        ident(table.logical_name)?,
        assignments.join(", "),
        ident(pk.logical_name)?
    );
    let mut params: Vec<Value> = columns.into_iter().map(|(_, v)| v).collect();
    params.push(cells::to_sql(pk, &Cell::Guid(id))?);
    params.push(Value::Integer(version));
    match conn
        .prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(params))
    {
        Ok(1) => read_back(conn, table, id).map(UpdateOutcome::Updated),
        Ok(n) => Err(StoreError::Backend(format!(
            "updating {} {id} changed {n} rows",
            table.logical_name
        ))),
        Err(e) if is_duplicate(&e) => Err(StoreError::Backend(format!(
            "updating {} {id} would duplicate a unique key",
            table.logical_name
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Deletes row `id`, only at `if_version` when given.
pub fn delete(
    conn: &Connection,
    table: &Table,
    id: uuid::Uuid,
    if_version: Option<i64>,
) -> Result<DeleteOutcome, StoreError> {
    let Some(current) = current_version(conn, table, id)? else {
        return Ok(DeleteOutcome::NotFound);
    };
    if if_version.is_some_and(|v| v != current) {
        return Ok(DeleteOutcome::VersionMismatch);
    }
    let pk = primary_key(table)?;
    let sql = format!(
        "DELETE FROM {} WHERE {} = ?1",
        ident(table.logical_name)?,
        ident(pk.logical_name)?
    );
    conn.prepare_cached(&sql)?
        .execute([cells::to_sql(pk, &Cell::Guid(id))?])?;
    Ok(DeleteOutcome::Deleted)
}

/// Applies one change of a batch; `Err(refusal)` inside `Ok` when it cannot apply.
fn apply_change(
    conn: &Connection,
    ctx: &mut WriterCtx,
    change: &RowChange,
    write: WriteContext,
) -> Result<Result<Option<Row>, RowRefusal>, StoreError> {
    Ok(match change {
        RowChange::Insert { table, values } => match insert(conn, ctx, table, values, write)? {
            InsertOutcome::Created(row) => Ok(Some(row)),
            InsertOutcome::Duplicate => Err(RowRefusal::Duplicate),
        },
        RowChange::Update {
            table,
            id,
            values,
            if_version,
        } => {
            let mode = if_version.map_or(UpdateMode::MustExist, UpdateMode::IfVersion);
            match update(conn, ctx, table, *id, values, mode, write)? {
                UpdateOutcome::Updated(row) | UpdateOutcome::Created(row) => Ok(Some(row)),
                UpdateOutcome::NotFound => Err(RowRefusal::NotFound),
                UpdateOutcome::VersionMismatch => Err(RowRefusal::VersionMismatch),
            }
        }
        RowChange::Delete {
            table,
            id,
            if_version,
        } => match delete(conn, table, *id, *if_version)? {
            DeleteOutcome::Deleted => Ok(None),
            DeleteOutcome::NotFound => Err(RowRefusal::NotFound),
            DeleteOutcome::VersionMismatch => Err(RowRefusal::VersionMismatch),
        },
        RowChange::DeleteChildren { table, column, id } => {
            let lookup = lookup_column(table, column)?;
            let sql = format!(
                "DELETE FROM {} WHERE {} = ?1",
                ident(table.logical_name)?,
                ident(lookup.logical_name)?
            );
            conn.prepare_cached(&sql)?
                .execute([cells::to_sql(lookup, &Cell::Guid(*id))?])?;
            Ok(None)
        }
    })
}

/// Applies `changes` in order, all or none: a refused change rolls back the ones before it.
pub fn write_rows(
    conn: &Connection,
    ctx: &mut WriterCtx,
    changes: &[RowChange],
    write: WriteContext,
) -> Result<WriteRowsOutcome, StoreError> {
    conn.execute_batch("SAVEPOINT write_rows")?;
    let mut rows = Vec::with_capacity(changes.len());
    for (index, change) in changes.iter().enumerate() {
        let outcome = match apply_change(conn, ctx, change, write) {
            Ok(Ok(row)) => {
                rows.push(row);
                continue;
            }
            Ok(Err(reason)) => Ok(WriteRowsOutcome::Refused { index, reason }),
            Err(e) => Err(e),
        };
        // Versions taken by the rolled-back changes stay unused: gaps are harmless.
        conn.execute_batch("ROLLBACK TO write_rows; RELEASE write_rows")?;
        return outcome;
    }
    conn.execute_batch("RELEASE write_rows")?;
    Ok(WriteRowsOutcome::Applied(rows))
}
