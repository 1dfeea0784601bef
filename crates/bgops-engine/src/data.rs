//! Data access for plug-ins: the tables of the Web API, used with the identity of the user the
//! operation runs as (its `runas`), so a plug-in acts with the caller's privileges. Every call
//! goes through the same service as the Web API ([`crate::Access`]): the same privileges, the
//! same owner filter, a row outside the user's depth as absent.

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::{Cell, Row, Table};
use bgops_core::odata::plan::QueryPlan;
use bgops_core::security::{Grants, Principal};
use bgops_core::{Clock, UserId};
use bgops_store::{DeleteOutcome, InsertOutcome, PageRequest, RowPage, Store};
use tokio::sync::OnceCell;

use crate::access::{Access, AccessError};

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
    /// The service bound to the user and their privileges, loaded on first use.
    access: Arc<OnceCell<Access>>,
}

fn storage_error(e: bgops_store::StoreError) -> PluginError {
    tracing::error!(error = %e, "plug-in data access failed");
    PluginError::failed("The plug-in could not read or write data; the service logged the details.")
}

fn access_error(e: AccessError) -> PluginError {
    match e {
        // A missing privilege stays missing on a retry.
        AccessError::Api(e) => PluginError::Failed {
            message: e.message,
            code: Some(e.code),
            permanent: true,
        },
        AccessError::Store(e) => storage_error(e),
    }
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
            access: Arc::new(OnceCell::new()),
        }
    }

    /// The service as the user: their roles' privileges, read once per execution. A user that
    /// no longer exists or is disabled holds no privilege.
    async fn access(&self) -> Result<&Access, PluginError> {
        self.access
            .get_or_try_init(|| async {
                let (name, grants) = match self
                    .store
                    .find_enabled_user(self.user)
                    .await
                    .map_err(storage_error)?
                {
                    Some(u) => (
                        u.full_name,
                        self.store
                            .user_grants(self.user)
                            .await
                            .map_err(storage_error)?,
                    ),
                    None => (String::new(), Grants::default()),
                };
                let principal = Principal {
                    id: self.user,
                    full_name: name,
                    grants: Arc::new(grants),
                };
                Ok(Access::new(
                    self.store.clone(),
                    self.catalogue.clone(),
                    self.clock.clone(),
                    principal,
                ))
            })
            .await
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
        self.access()
            .await?
            .query(table, plan, page)
            .await
            .map_err(access_error)
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
        match self
            .access()
            .await?
            .insert(table, row)
            .await
            .map_err(access_error)?
        {
            InsertOutcome::Created(_) => Ok(id),
            InsertOutcome::Duplicate => Err(PluginError::failed(format!(
                "A record with the id {id} already exists."
            ))),
        }
    }

    /// Deletes a row; returns whether it existed (and was within the user's reach).
    pub async fn delete(&self, table: Arc<Table>, id: uuid::Uuid) -> Result<bool, PluginError> {
        match self
            .access()
            .await?
            .delete(table, id, None)
            .await
            .map_err(access_error)?
        {
            DeleteOutcome::Deleted => Ok(true),
            _ => Ok(false),
        }
    }
}
