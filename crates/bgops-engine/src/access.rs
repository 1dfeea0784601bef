//! The service layer between callers (the Web API, the status monitor, plug-ins) and the store:
//! every read and write of a table row goes through [`Access`], bound to the [`Principal`] it
//! acts as, so privileges are applied in this one place.
//!
//! [`Principal::authorize`] turns a typed [`Privilege`] into a [`Scope`]; this module applies
//! it: an owner filter added to every query and count (so `$filter`, `$count` and paging all
//! respect it), and an owner check on single rows, the status monitor, cancels, updates and
//! deletes. A row outside the caller's scope answers exactly as an absent one. Changing a
//! metadata table ([`is_metadata_table`]) needs the System Administrator role.

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::{Cell, ColumnType, Row, Table};
use bgops_core::odata::ast::CmpOp;
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::security::{is_metadata_table, owner_column, Principal, Privilege, Scope, Verb};
use bgops_core::{ApiError, Clock, CustomApi, OperationId, UserId};
use bgops_store::{
    CancelOutcome, DeleteOutcome, InsertOutcome, OperationHistory, OperationStatusView,
    PageRequest, RowPage, Store, StoreError, UpdateMode, UpdateOutcome, WriteContext,
};

/// Why a call through [`Access`] did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A privilege is missing, or another rule refused: the caller sees this error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The logical name of the operations table.
const OPERATIONS: &str = "backgroundoperation";
/// The logical name of the system jobs table.
const SYSTEM_JOBS: &str = "asyncoperation";

/// Rows as one principal may see and change them.
#[derive(Clone)]
pub struct Access {
    /// Where rows live.
    store: Arc<dyn Store>,
    /// The tables (lookup targets, labels).
    catalogue: Arc<Catalogue>,
    /// Time of writes.
    clock: Arc<dyn Clock>,
    /// Who acts: privileges are theirs, and rows they create are theirs.
    principal: Principal,
}

/// The condition "owned by `user`" on `table`, in the owner column's storage type.
fn owner_filter(table: &Table, user: UserId) -> Option<Filter> {
    let column = *table.column(owner_column(table.logical_name))?;
    let value = match column.column_type {
        ColumnType::Lookup { .. } => Cell::Guid(user.0),
        _ => Cell::Text(user.to_string()),
    };
    Some(Filter::Compare {
        column,
        op: CmpOp::Eq,
        value,
    })
}

/// `filter` narrowed to the rows `scope` reaches.
pub fn scoped_filter(table: &Table, scope: Scope, filter: Option<Filter>) -> Option<Filter> {
    let Scope::Own(user) = scope else {
        return filter;
    };
    // A table without an owner column has no rows a Basic privilege reaches.
    let own = owner_filter(table, user).unwrap_or_else(|| Filter::IsNull {
        column: table.columns[0],
        negated: false,
    });
    Some(match filter {
        None => own,
        Some(f) => Filter::And(Box::new(own), Box::new(f)),
    })
}

/// Who owns `row` of `table` (its owner column), if anyone.
fn owner_of(table: &Table, row: &Row) -> Option<UserId> {
    let name = owner_column(table.logical_name);
    row.iter().find_map(|(c, v)| match v {
        Cell::Guid(g) if *c == name => Some(UserId(*g)),
        Cell::Text(t) if *c == name => t.parse().ok(),
        _ => None,
    })
}

impl Access {
    /// Access for `principal`.
    pub fn new(
        store: Arc<dyn Store>,
        catalogue: Arc<Catalogue>,
        clock: Arc<dyn Clock>,
        principal: Principal,
    ) -> Self {
        Self {
            store,
            catalogue,
            clock,
            principal,
        }
    }

    /// The tables.
    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// Who acts.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The scope of `verb` on `table`, or the 403. Changing a metadata table needs the System
    /// Administrator role.
    pub fn authorize(&self, verb: Verb, table: &Table) -> Result<Scope, ApiError> {
        let privilege = Privilege::table(verb, table.logical_name);
        if verb != Verb::Read && is_metadata_table(table.logical_name) {
            self.principal.require_administrator(&privilege)?;
        }
        self.principal.authorize(&privilege)
    }

    /// The write context of a change by this principal.
    pub fn write_context(&self) -> WriteContext {
        WriteContext {
            now: self.clock.now(),
            user: self.principal.id,
        }
    }

    /// A page of rows matching `plan`, among the rows the caller may read.
    pub async fn query(
        &self,
        table: Arc<Table>,
        mut plan: QueryPlan,
        page: PageRequest,
    ) -> Result<RowPage, AccessError> {
        let scope = self.authorize(Verb::Read, &table)?;
        plan.filter = scoped_filter(&table, scope, plan.filter.take());
        Ok(self.store.query_rows(table, plan, page).await?)
    }

    /// The read scope on `table`, to narrow a plan before it is fingerprinted (a `$skiptoken`
    /// then belongs to one caller's view) and paged.
    pub fn read_scope(&self, table: &Table) -> Result<Scope, ApiError> {
        self.authorize(Verb::Read, table)
    }

    /// How many rows match `filter`, among the rows the caller may read.
    pub async fn count(
        &self,
        table: Arc<Table>,
        filter: Option<Filter>,
    ) -> Result<u64, AccessError> {
        let scope = self.authorize(Verb::Read, &table)?;
        let filter = scoped_filter(&table, scope, filter);
        Ok(self.store.count_rows(table, filter).await?)
    }

    /// One row by key; `None` when absent or outside the caller's read scope.
    pub async fn get(&self, table: Arc<Table>, id: uuid::Uuid) -> Result<Option<Row>, AccessError> {
        let scope = self.authorize(Verb::Read, &table)?;
        self.reachable(table, id, scope).await
    }

    /// The row, if it exists and `scope` reaches it.
    async fn reachable(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
        scope: Scope,
    ) -> Result<Option<Row>, AccessError> {
        let row = self.store.get_row(table.clone(), id).await?;
        Ok(row.filter(|r| scope.reaches(owner_of(&table, r))))
    }

    /// Creates a row owned by the caller.
    pub async fn insert(&self, table: Arc<Table>, row: Row) -> Result<InsertOutcome, AccessError> {
        self.authorize(Verb::Create, &table)?;
        Ok(self
            .store
            .insert_row(table, row, self.write_context())
            .await?)
    }

    /// Checks that the caller may update row `id` (the Write privilege, and the row in its
    /// scope) and tells whether it exists. A row outside the scope is reported absent; an
    /// upsert would then create a row of that key, which the store refuses as a duplicate.
    pub async fn check_update(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
    ) -> Result<bool, AccessError> {
        let scope = self.authorize(Verb::Write, &table)?;
        if scope == Scope::All {
            return Ok(self.store.get_row(table, id).await?.is_some());
        }
        let row = self.store.get_row(table.clone(), id).await?;
        match row {
            None => Ok(false),
            Some(r) if scope.reaches(owner_of(&table, &r)) => Ok(true),
            // Outside the scope: as if absent, and not to be created either.
            Some(_) => Err(ApiError::row_not_found(table.logical_name, id).into()),
        }
    }

    /// Updates (or, per `mode`, creates) a row the caller may write; one outside its scope is
    /// not found.
    pub async fn update(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
        row: Row,
        mode: UpdateMode,
    ) -> Result<UpdateOutcome, AccessError> {
        let exists = self.check_update(table.clone(), id).await?;
        if !exists {
            if mode != UpdateMode::Upsert {
                return Ok(UpdateOutcome::NotFound);
            }
            // An upsert that creates needs Create as well.
            self.authorize(Verb::Create, &table)?;
        }
        Ok(self
            .store
            .update_row(table, id, row, mode, self.write_context())
            .await?)
    }

    /// Deletes a row the caller may delete; one outside its scope is not found.
    pub async fn delete(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
        if_version: Option<i64>,
    ) -> Result<DeleteOutcome, AccessError> {
        let scope = self.authorize(Verb::Delete, &table)?;
        if scope != Scope::All && self.reachable(table.clone(), id, scope).await?.is_none() {
            return Ok(DeleteOutcome::NotFound);
        }
        Ok(self.store.delete_row(table, id, if_version).await?)
    }

    /// What the status monitor shows of an operation the caller may read; `None` when absent
    /// or outside its scope.
    pub async fn operation_status(
        &self,
        id: OperationId,
    ) -> Result<Option<OperationStatusView>, AccessError> {
        let scope = self
            .principal
            .authorize(&Privilege::table(Verb::Read, OPERATIONS))?;
        // One read either way: the view carries `runas`.
        let view = self.store.get_operation_status(id).await?;
        Ok(view.filter(|v| scope.reaches(Some(v.run_as))))
    }

    /// What the dashboard's operation page shows of an operation the caller may read (the same
    /// check as [`Access::operation_status`]: `None` when absent or outside its scope). Its
    /// system jobs are those the caller may also read (`asyncoperation`, at its depth there);
    /// without that privilege the list is empty.
    pub async fn operation_history(
        &self,
        id: OperationId,
    ) -> Result<Option<OperationHistory>, AccessError> {
        let scope = self
            .principal
            .authorize(&Privilege::table(Verb::Read, OPERATIONS))?;
        let Some(mut history) = self.store.operation_history(id).await? else {
            return Ok(None);
        };
        if !scope.reaches(Some(history.operation.run_as)) {
            return Ok(None);
        }
        match self
            .principal
            .authorize(&Privilege::table(Verb::Read, SYSTEM_JOBS))
        {
            Ok(jobs) => history.system_jobs.retain(|j| jobs.reaches(j.created_by)),
            Err(_) => history.system_jobs.clear(),
        }
        Ok(Some(history))
    }

    /// Checks that the caller may cancel operation `id` (Write on `backgroundoperation`, the
    /// row in its scope); `false` when the row is absent or outside the scope.
    pub async fn may_cancel(&self, id: OperationId) -> Result<bool, AccessError> {
        let scope = self
            .principal
            .authorize(&Privilege::table(Verb::Write, OPERATIONS))?;
        self.operation_reachable(id, scope).await
    }

    /// Whether `scope` reaches operation `id` (always, when Global: the store then answers
    /// for an absent row).
    async fn operation_reachable(
        &self,
        id: OperationId,
        scope: Scope,
    ) -> Result<bool, AccessError> {
        match scope {
            Scope::All => Ok(true),
            Scope::Own(user) => Ok(self
                .store
                .get_operation(id)
                .await?
                .is_some_and(|op| op.run_as == user)),
        }
    }

    /// Checks the privileges of running `api`: in the background, read and write on
    /// `backgroundoperation`; always, its `executeprivilegename` when it has one.
    pub fn authorize_call(&self, api: &CustomApi, background: bool) -> Result<(), ApiError> {
        if background {
            for verb in [Verb::Read, Verb::Write] {
                self.principal
                    .authorize(&Privilege::table(verb, OPERATIONS))?;
            }
        }
        if let Some(name) = &api.execute_privilege {
            self.principal.authorize(&Privilege::parse(name))?;
        }
        Ok(())
    }
}

/// The answer to a cancel the caller may make: [`CancelOutcome::NotFound`] for a row outside
/// its scope, as for an absent one.
pub async fn cancel(
    engine: &crate::Engine,
    access: &Access,
    id: OperationId,
    if_version: Option<i64>,
) -> Result<CancelOutcome, AccessError> {
    if !access.may_cancel(id).await? {
        return Ok(CancelOutcome::NotFound);
    }
    Ok(engine.cancel(id, if_version).await?)
}

#[cfg(test)]
mod tests {
    use bgops_core::catalogue::Catalogue;

    use super::*;

    #[test]
    fn own_scope_filters_by_the_owner_column_in_its_type() {
        let catalogue = Catalogue::standard();
        let me = UserId(uuid::Uuid::from_u128(9));
        let ops = catalogue.by_logical_name("backgroundoperation").unwrap();
        let accounts = catalogue.by_logical_name("account").unwrap();
        assert_eq!(scoped_filter(&ops, Scope::All, None), None);
        let Some(Filter::Compare { column, value, .. }) = scoped_filter(&ops, Scope::Own(me), None)
        else {
            panic!("an owner filter")
        };
        assert_eq!(column.logical_name, "runas");
        assert_eq!(value, Cell::Text(me.to_string()));
        let Some(Filter::Compare { column, value, .. }) =
            scoped_filter(&accounts, Scope::Own(me), None)
        else {
            panic!("an owner filter")
        };
        assert_eq!(column.logical_name, "createdby");
        assert_eq!(value, Cell::Guid(me.0));
        let theirs = Filter::IsNull {
            column: accounts.columns[1],
            negated: true,
        };
        assert!(matches!(
            scoped_filter(&accounts, Scope::Own(me), Some(theirs)),
            Some(Filter::And(..))
        ));
    }

    #[test]
    fn owners_are_read_from_guid_and_text_columns() {
        let catalogue = Catalogue::standard();
        let me = UserId(uuid::Uuid::from_u128(3));
        let ops = catalogue.by_logical_name("backgroundoperation").unwrap();
        let accounts = catalogue.by_logical_name("account").unwrap();
        let row: Row = vec![("runas", Cell::Text(me.to_string()))];
        assert_eq!(owner_of(&ops, &row), Some(me));
        let row: Row = vec![("createdby", Cell::Guid(me.0))];
        assert_eq!(owner_of(&accounts, &row), Some(me));
        assert_eq!(owner_of(&accounts, &vec![]), None);
        assert!(!Scope::Own(me).reaches(owner_of(&accounts, &vec![])));
    }
}
