//! Writes: insert, update (or upsert) and delete of one row, and batches of them applied all or
//! none, run on the writer's connection inside its transaction. The store sets `createdon`,
//! `modifiedon`, `createdby` and a new `versionnumber` from `bgops_version_seq` (taken once the
//! row is locked, so a row's versions grow whichever node writes), and returns the row as
//! stored (`RETURNING`).
//!
//! An update or delete first locks the row (`SELECT … FOR UPDATE`), so the version it checks is
//! the one it replaces even while other nodes write. An insert that meets an existing key or
//! unique index is a duplicate (`ON CONFLICT DO NOTHING` returns no row), not an error: an
//! error would abort the caller's savepoint.

use bgops_core::metadata::{Cell, Column, Row, Table};
use tokio_postgres::error::SqlState;

use super::cells::{self, Value};
use super::{params, read_cells};
use crate::postgres::db::Db;
use crate::store::{
    DeleteOutcome, InsertOutcome, RowChange, RowRefusal, UpdateMode, UpdateOutcome, WriteContext,
    WriteRowsOutcome,
};
use crate::table_sql::{
    caller_values, column_list, ident, insert_id, lookup_column, primary_key, same_key,
};
use crate::StoreError;

/// What a write sets a column to.
enum Set {
    /// A bound value.
    Value(Value),
    /// The next row version.
    NextVersion,
}

/// The caller's values and the store's own for a write: `modifiedon` and `versionnumber`
/// always, `createdon` and `createdby` on create; only the columns the table has.
fn assignments<'t>(
    table: &'t Table,
    values: &Row,
    write: WriteContext,
    create: bool,
) -> Result<Vec<(&'t Column, Set)>, StoreError> {
    let mut out = caller_values(table, values)?
        .into_iter()
        .map(|(column, cell)| Ok((column, Set::Value(cells::to_sql(column, cell)?))))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut system = vec![("modifiedon", Cell::DateTime(write.now))];
    if create {
        system.push(("createdon", Cell::DateTime(write.now)));
        system.push(("createdby", Cell::Guid(write.user.0)));
    }
    for (name, cell) in system {
        if let Some(column) = table.column(name) {
            out.push((column, Set::Value(cells::to_sql(column, &cell)?)));
        }
    }
    if let Some(column) = table.column("versionnumber") {
        out.push((column, Set::NextVersion));
    }
    Ok(out)
}

/// The SQL of each assignment, binding its value into `bound`.
fn expressions<'t>(
    sets: Vec<(&'t Column, Set)>,
    bound: &mut Vec<Value>,
) -> Vec<(&'t Column, String)> {
    sets.into_iter()
        .map(|(column, set)| {
            let sql = match set {
                Set::Value(v) => {
                    let sql = format!("${}::{}", bound.len() + 1, v.sql_type());
                    bound.push(v);
                    sql
                }
                Set::NextVersion => "nextval('bgops_version_seq')".to_owned(),
            };
            (column, sql)
        })
        .collect()
}

/// `RETURNING` every column, for reading the row as stored.
fn returning(table: &Table) -> Result<String, StoreError> {
    let all: Vec<&Column> = table.columns.iter().collect();
    Ok(format!(" RETURNING {}", column_list(&all)?))
}

/// The row `RETURNING` gave.
fn returned(table: &Table, r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let values = read_cells(table, &table.columns.iter().collect::<Vec<_>>(), r)?;
    Ok(table
        .columns
        .iter()
        .map(|c| c.logical_name)
        .zip(values)
        .collect())
}

/// The current `versionnumber` of the row, if it exists, locking the row until the commit.
async fn lock_version(
    c: &dyn Db,
    table: &Table,
    id: uuid::Uuid,
) -> Result<Option<i64>, StoreError> {
    let pk = primary_key(table)?;
    let sql = format!(
        "SELECT versionnumber FROM {} WHERE {} = $1::text FOR UPDATE",
        ident(table.logical_name)?,
        ident(pk.logical_name)?
    );
    let key = cells::to_sql(pk, &Cell::Guid(id))?;
    match c.query_opt(&sql, &[key.param()]).await? {
        Some(r) => Ok(Some(r.try_get(0)?)),
        None => Ok(None),
    }
}

/// Inserts the row `id` with the caller's values; `None` when a key or unique index already
/// holds them.
async fn insert_with_id(
    c: &dyn Db,
    table: &Table,
    id: uuid::Uuid,
    values: &Row,
    write: WriteContext,
) -> Result<Option<Row>, StoreError> {
    let pk = primary_key(table)?;
    let mut sets = vec![(pk, Set::Value(cells::to_sql(pk, &Cell::Guid(id))?))];
    sets.extend(assignments(table, values, write, true)?);
    let mut bound = Vec::new();
    let sets = expressions(sets, &mut bound);
    let names = sets
        .iter()
        .map(|(c, _)| ident(c.logical_name))
        .collect::<Result<Vec<_>, _>>()?;
    let exprs: Vec<&str> = sets.iter().map(|(_, e)| e.as_str()).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING{}",
        ident(table.logical_name)?,
        names.join(", "),
        exprs.join(", "),
        returning(table)?
    );
    match c.query_opt(&sql, &params(&bound)).await? {
        Some(r) => returned(table, &r).map(Some),
        None => Ok(None),
    }
}

/// Inserts a row; its primary key is among `values`.
pub async fn insert(
    c: &dyn Db,
    table: &Table,
    values: &Row,
    write: WriteContext,
) -> Result<InsertOutcome, StoreError> {
    let id = insert_id(table, values)?;
    Ok(match insert_with_id(c, table, id, values, write).await? {
        Some(row) => InsertOutcome::Created(row),
        None => InsertOutcome::Duplicate,
    })
}

/// Updates row `id` (or creates it, per `mode`).
pub async fn update(
    c: &dyn Db,
    table: &Table,
    id: uuid::Uuid,
    values: &Row,
    mode: UpdateMode,
    write: WriteContext,
) -> Result<UpdateOutcome, StoreError> {
    same_key(table, id, values)?;
    match (lock_version(c, table, id).await?, mode) {
        (None, UpdateMode::Upsert) => {
            if let Some(row) = insert_with_id(c, table, id, values, write).await? {
                return Ok(UpdateOutcome::Created(row));
            }
            // Another node created the row meanwhile: update it.
            if lock_version(c, table, id).await?.is_none() {
                return Err(StoreError::Backend(format!(
                    "creating {} {id} would duplicate a unique key",
                    table.logical_name
                )));
            }
        }
        (None, _) => return Ok(UpdateOutcome::NotFound),
        (Some(current), UpdateMode::IfVersion(expected)) if current != expected => {
            return Ok(UpdateOutcome::VersionMismatch)
        }
        (Some(_), _) => {}
    }
    let mut bound = Vec::new();
    let sets = expressions(assignments(table, values, write, false)?, &mut bound);
    let sets = sets
        .iter()
        .map(|(c, e)| Ok(format!("{} = {e}", ident(c.logical_name)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let pk = primary_key(table)?;
    let sql = format!(
        "UPDATE {} SET {} WHERE {} = ${}::text{}",
        ident(table.logical_name)?,
        sets.join(", "),
        ident(pk.logical_name)?,
        bound.len() + 1,
        returning(table)?
    );
    bound.push(cells::to_sql(pk, &Cell::Guid(id))?);
    // Run directly, to tell a unique index's refusal from other errors.
    let statement = c.prepared(&sql).await?;
    match c.client().query_opt(&statement, &params(&bound)).await {
        Ok(Some(r)) => returned(table, &r).map(UpdateOutcome::Updated),
        Ok(None) => Err(StoreError::Backend(format!(
            "{} {id} vanished while locked",
            table.logical_name
        ))),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            Err(StoreError::Backend(format!(
                "updating {} {id} would duplicate a unique key",
                table.logical_name
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes row `id`, only at `if_version` when given.
pub async fn delete(
    c: &dyn Db,
    table: &Table,
    id: uuid::Uuid,
    if_version: Option<i64>,
) -> Result<DeleteOutcome, StoreError> {
    let Some(current) = lock_version(c, table, id).await? else {
        return Ok(DeleteOutcome::NotFound);
    };
    if if_version.is_some_and(|v| v != current) {
        return Ok(DeleteOutcome::VersionMismatch);
    }
    let pk = primary_key(table)?;
    let sql = format!(
        "DELETE FROM {} WHERE {} = $1::text",
        ident(table.logical_name)?,
        ident(pk.logical_name)?
    );
    let key = cells::to_sql(pk, &Cell::Guid(id))?;
    c.execute(&sql, &[key.param()]).await?;
    Ok(DeleteOutcome::Deleted)
}

/// Applies one change of a batch; `Err(refusal)` inside `Ok` when it cannot apply.
async fn apply_change(
    c: &dyn Db,
    change: &RowChange,
    write: WriteContext,
) -> Result<Result<Option<Row>, RowRefusal>, StoreError> {
    Ok(match change {
        RowChange::Insert { table, values } => match insert(c, table, values, write).await? {
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
            match update(c, table, *id, values, mode, write).await? {
                UpdateOutcome::Updated(row) | UpdateOutcome::Created(row) => Ok(Some(row)),
                UpdateOutcome::NotFound => Err(RowRefusal::NotFound),
                UpdateOutcome::VersionMismatch => Err(RowRefusal::VersionMismatch),
            }
        }
        RowChange::Delete {
            table,
            id,
            if_version,
        } => match delete(c, table, *id, *if_version).await? {
            DeleteOutcome::Deleted => Ok(None),
            DeleteOutcome::NotFound => Err(RowRefusal::NotFound),
            DeleteOutcome::VersionMismatch => Err(RowRefusal::VersionMismatch),
        },
        RowChange::DeleteChildren { table, column, id } => {
            let lookup = lookup_column(table, column)?;
            let sql = format!(
                "DELETE FROM {} WHERE {} = $1::text",
                ident(table.logical_name)?,
                ident(lookup.logical_name)?
            );
            let parent = cells::to_sql(lookup, &Cell::Guid(*id))?;
            c.execute(&sql, &[parent.param()]).await?;
            Ok(None)
        }
    })
}

/// Applies `changes` in order, all or none: a refused change rolls back the ones before it (to
/// a savepoint of its own, inside the writer's savepoint for this caller).
pub async fn write_rows(
    c: &dyn Db,
    changes: &[RowChange],
    write: WriteContext,
) -> Result<WriteRowsOutcome, StoreError> {
    c.client().batch_execute("SAVEPOINT write_rows").await?;
    let mut rows = Vec::with_capacity(changes.len());
    for (index, change) in changes.iter().enumerate() {
        let outcome = match apply_change(c, change, write).await {
            Ok(Ok(row)) => {
                rows.push(row);
                continue;
            }
            Ok(Err(reason)) => Ok(WriteRowsOutcome::Refused { index, reason }),
            Err(e) => Err(e),
        };
        // Versions taken by the rolled-back changes stay unused: gaps are harmless.
        let rollback = c
            .client()
            .batch_execute("ROLLBACK TO SAVEPOINT write_rows; RELEASE SAVEPOINT write_rows")
            .await;
        return match (outcome, rollback) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e.into()),
            (Ok(refused), Ok(())) => Ok(refused),
        };
    }
    c.client()
        .batch_execute("RELEASE SAVEPOINT write_rows")
        .await?;
    Ok(WriteRowsOutcome::Applied(rows))
}
