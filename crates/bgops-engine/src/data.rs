//! Data access for plug-ins: the tables of the Web API, used with the identity of the user the
//! operation runs as (its `runas`), so a plug-in acts with the caller's privileges.

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::{Cell, Row, Table};
use bgops_core::odata::plan::QueryPlan;
use bgops_core::{Clock, UserId};
use bgops_store::{DeleteOutcome, InsertOutcome, PageRequest, RowPage, Store, WriteContext};

use crate::plugin::PluginError;

/// A plug-in's handle on the tables, bound to the user it runs as.
#[derive(Clone)]
pub struct DataAccess {
    /// Where rows live.
    store: Arc<dyn Store>,
    /// The tables.
    catalogue: Arc<Catalogue>,
    /// Who the plug-in acts as.
    user: UserId,
    /// Time of writes.
    clock: Arc<dyn Clock>,
}

fn storage_error(e: bgops_store::StoreError) -> PluginError {
    tracing::error!(error = %e, "plug-in data access failed");
    PluginError::failed("The plug-in could not read or write data; the service logged the details.")
}

impl DataAccess {
    /// Data access for `user`.
    pub fn new(
        store: Arc<dyn Store>,
        catalogue: Arc<Catalogue>,
        user: UserId,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            catalogue,
            user,
            clock,
        }
    }

    /// The tables.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The user the plug-in acts as.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// Reads a page of rows.
    pub async fn query(
        &self,
        table: Arc<Table>,
        plan: QueryPlan,
        page: PageRequest,
    ) -> Result<RowPage, PluginError> {
        self.store
            .query_rows(table, plan, page)
            .await
            .map_err(storage_error)
    }

    /// Creates a row (the primary key is generated when absent); returns its id.
    pub async fn create(&self, table: Arc<Table>, mut row: Row) -> Result<uuid::Uuid, PluginError> {
        let id = match row.iter().find(|(c, _)| *c == table.primary_id) {
            Some((_, Cell::Guid(g))) => *g,
            _ => {
                let id = uuid::Uuid::new_v4();
                row.retain(|(c, _)| *c != table.primary_id);
                row.insert(0, (table.primary_id, Cell::Guid(id)));
                id
            }
        };
        let ctx = WriteContext {
            now: self.clock.now(),
            user: self.user,
        };
        match self
            .store
            .insert_row(table, row, ctx)
            .await
            .map_err(storage_error)?
        {
            InsertOutcome::Created(_) => Ok(id),
            InsertOutcome::Duplicate => Err(PluginError::failed(format!(
                "A record with the id {id} already exists."
            ))),
        }
    }

    /// Deletes a row; returns whether it existed.
    pub async fn delete(&self, table: Arc<Table>, id: uuid::Uuid) -> Result<bool, PluginError> {
        match self
            .store
            .delete_row(table, id, None)
            .await
            .map_err(storage_error)?
        {
            DeleteOutcome::Deleted => Ok(true),
            _ => Ok(false),
        }
    }
}
