//! The PostgreSQL implementation, for several nodes on one database: claims with
//! `FOR UPDATE SKIP LOCKED`, row versions from one sequence, group commit on one write
//! connection per node (as on SQLite), reads from a pool, and notifications (`LISTEN/NOTIFY`)
//! that tell the other nodes what changed.
//!
//! Every statement runs in the schema the URL names (`options=-c search_path=…`, or the user's
//! default), so several bgops installations (or tests) can share one database.

mod activity;
mod batcher;
mod completion;
mod connect;
mod db;
mod external_identity;
mod history;
mod idempotency;
mod insert_batch;
mod listen;
mod migrate;
mod operations;
mod outbox;
mod outcome_batch;
mod security;
mod statistics;
mod status_reads;
mod step_jobs;
mod tables;
mod users;
mod writer;

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
use connect::Connector;
use writer::Writer;

/// `url` with any password replaced by `***`.
pub fn shown_url(url: &str) -> String {
    connect::without_password(url)
}

/// Connections in the read pool.
const READERS: usize = 8;

/// A bgops store in a PostgreSQL database (one schema of it).
pub struct PgStore {
    /// The single writer of this node; every change goes through it so writes batch into few
    /// commits.
    writer: Arc<Writer>,
    /// Successful outcomes, written in batches.
    outcomes: outcome_batch::OutcomeBatches,
    /// Submissions, inserted in batches.
    inserts: insert_batch::InsertBatches,
    /// Connections for reads.
    readers: deadpool_postgres::Pool,
    /// Notifications from every node, as events.
    listener: listen::Listener,
    /// The status monitor's reads, coalesced.
    status_reads: status_reads::StatusReads,
    /// Keeps the planner's statistics of the operations table fresh while it grows.
    statistics: statistics::Statistics,
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://` or `postgresql://`), creates or
    /// migrates the schema (one node at a time), and starts the writer.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, None).await
    }

    /// As [`PgStore::open`], with the password read from `password_file` when the URL has none.
    pub async fn open_with(
        url: &str,
        password_file: Option<&std::path::Path>,
    ) -> Result<Self, StoreError> {
        Self::open_observed(url, password_file, crate::WriterObserver::default()).await
    }

    /// As [`PgStore::open_with`], telling `observer` about every write transaction.
    pub async fn open_observed(
        url: &str,
        password_file: Option<&std::path::Path>,
        observer: crate::WriterObserver,
    ) -> Result<Self, StoreError> {
        let connector = Connector::parse(url, password_file)?;
        let open_err = |e: StoreError| match e {
            StoreError::Open { .. } => e,
            other => StoreError::Open {
                url: connector.shown().to_owned(),
                reason: other.to_string(),
            },
        };
        {
            let client = connector.connect().await.map_err(open_err)?;
            migrate::apply(&client).await.map_err(open_err)?;
        }
        let manager = deadpool_postgres::Manager::from_config(
            connector.config().clone(),
            connector.tls(),
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let readers = deadpool_postgres::Pool::builder(manager)
            .max_size(READERS)
            .build()
            .map_err(|e| {
                open_err(StoreError::Backend(format!(
                    "cannot build the connection pool: {e}"
                )))
            })?;
        let writer = Arc::new(
            Writer::start(connector.clone(), observer)
                .await
                .map_err(open_err)?,
        );
        let outcomes = outcome_batch::OutcomeBatches::start(writer.clone());
        let inserts = insert_batch::InsertBatches::start(writer.clone());
        let status_reads = status_reads::StatusReads::start(connector.clone());
        let statistics = statistics::Statistics::new(connector.clone());
        let listener = listen::start(connector);
        Ok(Self {
            writer,
            outcomes,
            inserts,
            readers,
            listener,
            status_reads,
            statistics,
        })
    }

    /// A pooled connection for a read.
    async fn reader(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.readers.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
            other => StoreError::Unavailable(other.to_string()),
        })
    }
}

#[async_trait]
impl Store for PgStore {
    fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<StoreEvent>> {
        Some(self.listener.events.subscribe())
    }

    async fn insert_operations(&self, ops: Vec<NewOperation>) -> Result<(), StoreError> {
        let n = ops.len();
        self.inserts.insert(ops).await?;
        self.statistics.inserted(n);
        Ok(())
    }

    async fn insert_operation_once(&self, keyed: KeyedOperation) -> Result<InsertOnce, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { idempotency::insert_once(c, &keyed).await }))
            .await
    }

    async fn sweep_idempotency_keys(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { idempotency::sweep(c, now, limit).await }))
            .await
    }

    async fn get_operation(
        &self,
        id: OperationId,
    ) -> Result<Option<BackgroundOperation>, StoreError> {
        {
            let c = self.reader().await?;
            operations::get(&*c, id).await
        }
    }

    async fn operations_changed_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<BackgroundOperation>, StoreError> {
        let c = self.reader().await?;
        operations::changed_after(&*c, after, limit).await
    }

    async fn latest_operation_version(&self) -> Result<i64, StoreError> {
        let c = self.reader().await?;
        operations::latest_version(&*c).await
    }

    async fn get_operation_status(
        &self,
        id: OperationId,
    ) -> Result<Option<OperationStatusView>, StoreError> {
        self.status_reads.get(id).await
    }

    async fn claim(&self, req: ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        self.writer
            .run_lazy(move |c| Box::pin(async move { operations::claim(c, &req).await }))
            .await
    }

    async fn renew_leases(&self, req: RenewRequest) -> Result<Vec<LeaseState>, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { operations::renew(c, &req).await }))
            .await
    }

    async fn expired_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ExpiredLease>, StoreError> {
        {
            let c = self.reader().await?;
            operations::expired_leases(&*c, now, limit).await
        }
    }

    async fn start_attempt(&self, start: StartAttempt) -> Result<bool, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { operations::start_attempt(c, &start).await }))
            .await
    }

    async fn record_outcome(&self, outcome: AttemptOutcome) -> Result<Recorded, StoreError> {
        if outcome_batch::OutcomeBatches::takes(&outcome) {
            return self.outcomes.record(outcome).await;
        }
        self.writer
            .run(move |c| Box::pin(async move { operations::record_outcome(c, &outcome).await }))
            .await
    }

    async fn release_claims(&self, req: ReleaseRequest) -> Result<usize, StoreError> {
        self.writer
            .run_lazy(move |c| Box::pin(async move { operations::release_claims(c, &req).await }))
            .await
    }

    async fn request_cancel(
        &self,
        id: OperationId,
        now: Timestamp,
        if_version: Option<i64>,
    ) -> Result<CancelOutcome, StoreError> {
        self.writer
            .run(move |c| {
                Box::pin(async move { operations::request_cancel(c, id, now, if_version).await })
            })
            .await
    }

    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { operations::sweep(c, now, limit).await }))
            .await
    }

    async fn find_user_by_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<SystemUser>, StoreError> {
        let key_hash = key_hash.to_owned();
        {
            let c = self.reader().await?;
            users::by_key_hash(&*c, &key_hash).await
        }
    }

    async fn find_user(&self, id: UserId) -> Result<Option<SystemUser>, StoreError> {
        {
            let c = self.reader().await?;
            users::by_id(&*c, id).await
        }
    }

    async fn setting(
        &self,
        name: &str,
        value: Option<String>,
        default: String,
    ) -> Result<String, StoreError> {
        let name = name.to_owned();
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move { users::setting(c, &name, value, default).await })
            })
            .await
    }

    async fn find_external_user(
        &self,
        tenant: Option<&str>,
        object_id: &str,
    ) -> Result<Option<ExternalUser>, StoreError> {
        let c = self.reader().await?;
        external_identity::find(&*c, tenant, object_id).await
    }

    async fn provision_external_user(
        &self,
        identity: &ExternalIdentity,
        new: NewExternalUser,
        now: Timestamp,
    ) -> Result<ExternalUser, StoreError> {
        let identity = identity.clone();
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move { external_identity::provision(c, &identity, &new, now).await })
            })
            .await
    }

    async fn bootstrap_admin(&self, key: AdminKey, now: Timestamp) -> Result<bool, StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move { users::bootstrap_admin(c, &key, now).await })
            })
            .await
    }

    async fn query_rows(
        &self,
        table: Arc<Table>,
        plan: QueryPlan,
        page: PageRequest,
    ) -> Result<RowPage, StoreError> {
        {
            let c = self.reader().await?;
            tables::query(&*c, &table, &plan, &page).await
        }
    }

    async fn count_rows(
        &self,
        table: Arc<Table>,
        filter: Option<Filter>,
    ) -> Result<u64, StoreError> {
        {
            let c = self.reader().await?;
            tables::count(&*c, &table, filter.as_ref()).await
        }
    }

    async fn get_row(&self, table: Arc<Table>, id: uuid::Uuid) -> Result<Option<Row>, StoreError> {
        {
            let c = self.reader().await?;
            tables::get(&*c, &table, id).await
        }
    }

    async fn insert_row(
        &self,
        table: Arc<Table>,
        values: Row,
        ctx: WriteContext,
    ) -> Result<InsertOutcome, StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move { tables::insert(c, &table, &values, ctx).await })
            })
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
            .run_isolated(move |c| {
                Box::pin(async move { tables::update(c, &table, id, &values, mode, ctx).await })
            })
            .await
    }

    async fn delete_row(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
        if_version: Option<i64>,
    ) -> Result<DeleteOutcome, StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move { tables::delete(c, &table, id, if_version).await })
            })
            .await
    }

    async fn write_rows(
        &self,
        changes: Vec<RowChange>,
        ctx: WriteContext,
    ) -> Result<WriteRowsOutcome, StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move { tables::write_rows(c, &changes, ctx).await })
            })
            .await
    }

    async fn tables_stamp(&self, tables: Vec<Arc<Table>>) -> Result<TablesStamp, StoreError> {
        {
            let c = self.reader().await?;
            tables::stamp(&*c, &tables).await
        }
    }

    async fn claim_deliveries(
        &self,
        req: DeliveryClaimRequest,
    ) -> Result<DeliveryClaim, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { outbox::claim(c, &req).await }))
            .await
    }

    async fn renew_delivery(
        &self,
        lease: DeliveryLease,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { outbox::renew(c, &lease, until).await }))
            .await
    }

    async fn record_delivery(&self, outcome: DeliveryOutcome) -> Result<bool, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { outbox::record(c, &outcome).await }))
            .await
    }

    async fn deliveries_of(&self, id: OperationId) -> Result<Vec<CallbackDelivery>, StoreError> {
        {
            let c = self.reader().await?;
            outbox::of_operation(&*c, &id.to_string()).await
        }
    }

    async fn claim_jobs(&self, req: ClaimRequest) -> Result<JobClaim, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { step_jobs::claim(c, &req).await }))
            .await
    }

    async fn renew_job_leases(&self, req: JobRenewal) -> Result<Vec<JobLeaseState>, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { step_jobs::renew(c, &req).await }))
            .await
    }

    async fn expired_job_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ExpiredJobLease>, StoreError> {
        {
            let c = self.reader().await?;
            step_jobs::expired_leases(&*c, now, limit).await
        }
    }

    async fn record_job_outcome(&self, outcome: JobOutcome) -> Result<bool, StoreError> {
        self.writer
            .run(move |c| Box::pin(async move { step_jobs::record_outcome(c, &outcome).await }))
            .await
    }

    async fn queue_summary(&self) -> Result<crate::QueueSummary, StoreError> {
        let c = self.reader().await?;
        operations::queue_summary(&*c).await
    }

    async fn finished_per_minute(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::FinishedBucket>, StoreError> {
        let c = self.reader().await?;
        activity::finished_per_minute(&*c, from, to).await
    }

    async fn lease_holders(&self) -> Result<Vec<crate::LeaseHolder>, StoreError> {
        let c = self.reader().await?;
        activity::lease_holders(&*c).await
    }

    async fn operation_history(
        &self,
        id: OperationId,
    ) -> Result<Option<crate::OperationHistory>, StoreError> {
        let c = self.reader().await?;
        history::read(&*c, id).await
    }
}
