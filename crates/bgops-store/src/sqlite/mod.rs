//! The embedded SQLite implementation: WAL with `synchronous=FULL`, one writer thread that
//! commits many callers' writes in one transaction (group commit), and a small pool of read
//! connections.

mod activity;
mod checkpoint;
mod completion;
mod external_identity;
mod history;
mod idempotency;
mod migrate;
mod operations;
mod outbox;
mod pool;
mod security;
mod step_jobs;
mod tables;
mod users;
mod writer;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bgops_core::metadata::{Row, Table};
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::{BackgroundOperation, NewOperation, OperationId, Timestamp, UserId};

use crate::deliveries::*;
use crate::idempotency::*;
use crate::store::*;
use crate::system_jobs::*;
use crate::StoreError;
use pool::ReadPool;
use writer::Writer;

/// How many read connections serve concurrent reads.
const READERS: usize = 4;

/// How long a connection waits for a lock another process (or the checkpointer) holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A bgops store in one SQLite file.
pub struct SqliteStore {
    /// The single writer; every change goes through it so writes batch into few commits.
    writer: Writer,
    /// Read connections for lookups that need no write lock.
    readers: Arc<ReadPool>,
    /// Checkpoints the WAL outside the writer's commits.
    _checkpointer: checkpoint::Checkpointer,
}

/// Opens a connection with the settings every bgops connection uses.
fn connect(path: &Path) -> Result<rusqlite::Connection, rusqlite::Error> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Temporary files in memory. Above all the savepoint journals of the writer: every caller's
    // work runs in a savepoint, and on disk their journals were a quarter of the writer's time.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    tables::register_functions(&conn)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens or creates the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_observed(path, crate::WriterObserver::default()).await
    }

    /// As [`SqliteStore::open`], telling `observer` about every write transaction.
    pub async fn open_observed(
        path: &Path,
        observer: crate::WriterObserver,
    ) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open {
            url: format!("sqlite://{}", path.display()),
            reason: e.to_string(),
        };
        let mut conn = connect(&path).map_err(|e| open_err(&e))?;
        migrate::apply(&mut conn).map_err(|e| open_err(&e))?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = connect(&path).map_err(|e| open_err(&e))?;
            c.pragma_update(None, "query_only", true)
                .map_err(|e| open_err(&e))?;
            readers.push(c);
        }
        // Commits never checkpoint; the checkpointer thread does it from its own connection.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| open_err(&e))?;
        conn.pragma_update(None, "journal_size_limit", checkpoint::JOURNAL_SIZE_LIMIT)
            .map_err(|e| open_err(&e))?;
        let restart = checkpoint::RestartRequest::default();
        let checkpointer =
            checkpoint::Checkpointer::start(&path, restart.clone()).map_err(|e| open_err(&e))?;
        let writer = Writer::start(conn, restart, observer).map_err(|e| open_err(&e))?;
        Ok(Self {
            writer,
            readers: Arc::new(ReadPool::new(readers)),
            _checkpointer: checkpointer,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_operations(&self, ops: Vec<NewOperation>) -> Result<(), StoreError> {
        self.writer
            .run(move |conn, ctx| operations::insert(conn, ctx, &ops))
            .await
    }

    async fn insert_operation_once(&self, keyed: KeyedOperation) -> Result<InsertOnce, StoreError> {
        self.writer
            .run(move |conn, ctx| idempotency::insert_once(conn, ctx, &keyed))
            .await
    }

    async fn sweep_idempotency_keys(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.writer
            .run(move |conn, _| idempotency::sweep(conn, now, limit))
            .await
    }

    async fn get_operation(
        &self,
        id: OperationId,
    ) -> Result<Option<BackgroundOperation>, StoreError> {
        // One row by primary key: short enough to read on the calling thread.
        self.readers
            .run_short(move |conn| operations::get(conn, id))
            .await
    }

    async fn get_operation_status(
        &self,
        id: OperationId,
    ) -> Result<Option<OperationStatusView>, StoreError> {
        self.readers
            .run_short(move |conn| operations::get_status(conn, id))
            .await
    }

    async fn operations_changed_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<BackgroundOperation>, StoreError> {
        self.readers
            .run(move |conn| operations::changed_after(conn, after, limit))
            .await
    }

    async fn latest_operation_version(&self) -> Result<i64, StoreError> {
        self.readers.run(operations::latest_version).await
    }

    async fn claim(&self, req: ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        self.writer
            .run(move |conn, ctx| operations::claim(conn, ctx, &req))
            .await
    }

    async fn renew_leases(&self, req: RenewRequest) -> Result<Vec<LeaseState>, StoreError> {
        self.writer
            .run(move |conn, _| operations::renew(conn, &req))
            .await
    }

    async fn expired_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ExpiredLease>, StoreError> {
        self.readers
            .run(move |conn| operations::expired_leases(conn, now, limit))
            .await
    }

    async fn start_attempt(&self, start: StartAttempt) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn, ctx| operations::start_attempt(conn, ctx, &start))
            .await
    }

    async fn record_outcome(&self, outcome: AttemptOutcome) -> Result<Recorded, StoreError> {
        self.writer
            .run(move |conn, ctx| operations::record_outcome(conn, ctx, &outcome))
            .await
    }

    async fn release_claims(&self, req: ReleaseRequest) -> Result<usize, StoreError> {
        self.writer
            .run(move |conn, _| operations::release_claims(conn, &req))
            .await
    }

    async fn request_cancel(
        &self,
        id: OperationId,
        now: Timestamp,
        if_version: Option<i64>,
    ) -> Result<CancelOutcome, StoreError> {
        self.writer
            .run(move |conn, ctx| operations::request_cancel(conn, ctx, id, now, if_version))
            .await
    }

    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.writer
            .run(move |conn, _| operations::sweep(conn, now, limit))
            .await
    }

    async fn find_user_by_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<SystemUser>, StoreError> {
        let key_hash = key_hash.to_owned();
        self.readers
            .run(move |conn| users::by_key_hash(conn, &key_hash))
            .await
    }

    async fn find_user(&self, id: UserId) -> Result<Option<SystemUser>, StoreError> {
        self.readers.run(move |conn| users::by_id(conn, id)).await
    }

    async fn setting(
        &self,
        name: &str,
        value: Option<String>,
        default: String,
    ) -> Result<String, StoreError> {
        let name = name.to_owned();
        self.writer
            .run(move |conn, _| users::setting(conn, &name, value, default))
            .await
    }

    async fn find_external_user(
        &self,
        tenant: Option<&str>,
        object_id: &str,
    ) -> Result<Option<ExternalUser>, StoreError> {
        let tenant = tenant.map(str::to_owned);
        let object_id = object_id.to_owned();
        self.readers
            .run(move |conn| external_identity::find(conn, tenant.as_deref(), &object_id))
            .await
    }

    async fn provision_external_user(
        &self,
        identity: &ExternalIdentity,
        new: NewExternalUser,
        now: Timestamp,
    ) -> Result<ExternalUser, StoreError> {
        let identity = identity.clone();
        self.writer
            .run(move |conn, ctx| external_identity::provision(conn, ctx, &identity, &new, now))
            .await
    }

    async fn bootstrap_admin(&self, key: AdminKey, now: Timestamp) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn, ctx| users::bootstrap_admin(conn, ctx, &key, now))
            .await
    }

    async fn query_rows(
        &self,
        table: Arc<Table>,
        plan: QueryPlan,
        page: PageRequest,
    ) -> Result<RowPage, StoreError> {
        self.readers
            .run(move |conn| tables::query(conn, &table, &plan, &page))
            .await
    }

    async fn count_rows(
        &self,
        table: Arc<Table>,
        filter: Option<Filter>,
    ) -> Result<u64, StoreError> {
        self.readers
            .run(move |conn| tables::count(conn, &table, filter.as_ref()))
            .await
    }

    async fn get_row(&self, table: Arc<Table>, id: uuid::Uuid) -> Result<Option<Row>, StoreError> {
        self.readers
            .run(move |conn| tables::get(conn, &table, id))
            .await
    }

    async fn insert_row(
        &self,
        table: Arc<Table>,
        values: Row,
        ctx: WriteContext,
    ) -> Result<InsertOutcome, StoreError> {
        self.writer
            .run(move |conn, wctx| tables::insert(conn, wctx, &table, &values, ctx))
            .await
    }

    async fn update_row(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
        values: Row,
        mode: UpdateMode,
        ctx: WriteContext,
    ) -> Result<UpdateOutcome, StoreError> {
        self.writer
            .run(move |conn, wctx| tables::update(conn, wctx, &table, id, &values, mode, ctx))
            .await
    }

    async fn delete_row(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
        if_version: Option<i64>,
    ) -> Result<DeleteOutcome, StoreError> {
        self.writer
            .run(move |conn, _| tables::delete(conn, &table, id, if_version))
            .await
    }

    async fn write_rows(
        &self,
        changes: Vec<RowChange>,
        ctx: WriteContext,
    ) -> Result<WriteRowsOutcome, StoreError> {
        self.writer
            .run(move |conn, wctx| tables::write_rows(conn, wctx, &changes, ctx))
            .await
    }

    async fn tables_stamp(&self, tables: Vec<Arc<Table>>) -> Result<TablesStamp, StoreError> {
        self.readers
            .run(move |conn| tables::stamp(conn, &tables))
            .await
    }

    async fn claim_deliveries(
        &self,
        req: DeliveryClaimRequest,
    ) -> Result<DeliveryClaim, StoreError> {
        self.writer
            .run(move |conn, _| outbox::claim(conn, &req))
            .await
    }

    async fn renew_delivery(
        &self,
        lease: DeliveryLease,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn, _| outbox::renew(conn, &lease, until))
            .await
    }

    async fn record_delivery(&self, outcome: DeliveryOutcome) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn, _| outbox::record(conn, &outcome))
            .await
    }

    async fn deliveries_of(&self, id: OperationId) -> Result<Vec<CallbackDelivery>, StoreError> {
        self.readers
            .run(move |conn| outbox::of_operation(conn, &id.to_string()))
            .await
    }

    async fn claim_jobs(&self, req: ClaimRequest) -> Result<JobClaim, StoreError> {
        self.writer
            .run(move |conn, ctx| step_jobs::claim(conn, ctx, &req))
            .await
    }

    async fn renew_job_leases(&self, req: JobRenewal) -> Result<Vec<JobLeaseState>, StoreError> {
        self.writer
            .run(move |conn, _| step_jobs::renew(conn, &req))
            .await
    }

    async fn expired_job_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ExpiredJobLease>, StoreError> {
        self.readers
            .run(move |conn| step_jobs::expired_leases(conn, now, limit))
            .await
    }

    async fn record_job_outcome(&self, outcome: JobOutcome) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn, ctx| step_jobs::record_outcome(conn, ctx, &outcome))
            .await
    }

    async fn queue_summary(&self) -> Result<crate::QueueSummary, StoreError> {
        self.readers.run(operations::queue_summary).await
    }

    async fn finished_per_minute(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::FinishedBucket>, StoreError> {
        self.readers
            .run(move |conn| activity::finished_per_minute(conn, from, to))
            .await
    }

    async fn lease_holders(&self) -> Result<Vec<crate::LeaseHolder>, StoreError> {
        self.readers.run(activity::lease_holders).await
    }

    async fn operation_history(
        &self,
        id: OperationId,
    ) -> Result<Option<crate::OperationHistory>, StoreError> {
        self.readers.run(move |conn| history::read(conn, id)).await
    }
}
