//! SQL for the generic tables of the Web API on PostgreSQL (accounts, contacts, annotations,
//! …): queries translated from a checked plan, writes, and stamps. The same contract as
//! `sqlite/tables` (the conformance suite's `conformance_tables` cases).

use std::sync::Arc;

use super::db::Db;
use bgops_core::metadata::{Row, Table};
use bgops_core::odata::plan::{Filter, QueryPlan};

use crate::store::*;
use crate::StoreError;

fn todo() -> StoreError {
    StoreError::Backend("not yet implemented on PostgreSQL".to_owned())
}

pub async fn query(
    _c: &dyn Db,
    _table: &Table,
    _plan: &QueryPlan,
    _page: &PageRequest,
) -> Result<RowPage, StoreError> {
    Err(todo())
}

pub async fn count(_c: &dyn Db, _table: &Table, _f: Option<&Filter>) -> Result<u64, StoreError> {
    Err(todo())
}

pub async fn get(_c: &dyn Db, _table: &Table, _id: uuid::Uuid) -> Result<Option<Row>, StoreError> {
    Err(todo())
}

pub async fn insert(
    _c: &dyn Db,
    _table: &Table,
    _values: &Row,
    _ctx: WriteContext,
) -> Result<InsertOutcome, StoreError> {
    Err(todo())
}

pub async fn update(
    _c: &dyn Db,
    _table: &Table,
    _id: uuid::Uuid,
    _values: &Row,
    _mode: UpdateMode,
    _ctx: WriteContext,
) -> Result<UpdateOutcome, StoreError> {
    Err(todo())
}

pub async fn delete(
    _c: &dyn Db,
    _table: &Table,
    _id: uuid::Uuid,
    _if_version: Option<i64>,
) -> Result<DeleteOutcome, StoreError> {
    Err(todo())
}

pub async fn write_rows(
    _c: &dyn Db,
    _changes: &[RowChange],
    _ctx: WriteContext,
) -> Result<WriteRowsOutcome, StoreError> {
    Err(todo())
}

pub async fn stamp(_c: &dyn Db, _tables: &[Arc<Table>]) -> Result<TablesStamp, StoreError> {
    Err(todo())
}
