//! The storage interface: what the engine and the HTTP layer need from a database, stated as
//! intent. Each implementation must pass the same conformance tests.

use std::sync::Arc;

use async_trait::async_trait;
use bgops_core::metadata::{Cell, Row, Table};
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::{
    BackgroundOperation, NewOperation, OperationError, OperationId, OperationStatus, Timestamp,
    UserId,
};

use crate::deliveries::{
    CallbackDelivery, DeliveryClaim, DeliveryClaimRequest, DeliveryLease, DeliveryOutcome,
};
use crate::idempotency::{InsertOnce, KeyedOperation};
use crate::system_jobs::{ExpiredJobLease, JobClaim, JobLeaseState, JobOutcome, JobRenewal};
use crate::StoreError;

/// Identifies the node (process) holding leases, so a renewal or a result from anyone else is
/// refused.
pub type NodeId = String;

/// A request to claim due work.
#[derive(Clone, Debug)]
pub struct ClaimRequest {
    /// The claiming node.
    pub owner: NodeId,
    /// Now: rows whose retry time is at or before it are due.
    pub now: Timestamp,
    /// When the claim lapses. For operations this ends the *reservation* (the row is due again
    /// for any node then, unless its attempt started); for system jobs, which are started when
    /// claimed, it is the lease of the attempt.
    pub lease_until: Timestamp,
    /// The most rows to claim (free workers, plus those claimed ahead).
    pub limit: usize,
}

/// What a claim did.
#[derive(Clone, Debug, Default)]
pub struct ClaimOutcome {
    /// Rows now reserved for the caller until the request's `lease_until`, highest priority
    /// first, then oldest. A reservation is invisible: each row reads as before (Ready, 0/0,
    /// no new `starttime`, same `attempt`, `retrycount`, `versionnumber` and `modifiedon`),
    /// and no other claim takes it while it lasts. Its attempt (number `attempt + 1`) starts
    /// with [`Store::start_attempt`] or with an outcome written behind [`Fence::Reserved`];
    /// [`Store::release_claims`] hands it back. A reservation that lapses (its node died) makes
    /// the row due again with nothing counted.
    pub claimed: Vec<BackgroundOperation>,
    /// Rows whose cancellation was requested before any attempt ran: they are now Canceled
    /// (3/32) and never run.
    pub canceled: Vec<OperationId>,
    /// The earliest time a waiting row becomes due, if any: a retry, or a row another node
    /// reserved when its reservation lapses (the caller's own reservations are not counted).
    /// The claimer can sleep until then. A store may leave it `None` when the claim took all
    /// `limit` rows it asked for (the claimer then asks again at once), or `limit` was 0.
    pub next_due: Option<Timestamp>,
}

/// A lease renewal for the attempts a node runs.
#[derive(Clone, Debug)]
pub struct RenewRequest {
    /// The node that claimed them.
    pub owner: NodeId,
    /// `(operation, attempt)` pairs.
    pub attempts: Vec<(OperationId, i64)>,
    /// The new expiry.
    pub lease_until: Timestamp,
}

/// The answer for one renewed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseState {
    /// The operation.
    pub id: OperationId,
    /// Whether the node still holds this attempt (false: it was taken back; stop and drop the
    /// result).
    pub held: bool,
    /// Whether cancellation was requested: the plug-in's cancellation signal should fire.
    pub cancel_requested: bool,
}

/// An attempt whose lease expired: its node died or stalled.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpiredLease {
    /// The operation.
    pub id: OperationId,
    /// The attempt that was lost.
    pub attempt: i64,
    /// Its status: In Progress, or Canceling when a cancel arrived meanwhile.
    pub status: OperationStatus,
    /// Retries already scheduled.
    pub retry_count: i32,
    /// Retries allowed.
    pub max_retries: i32,
    /// The custom API's unique name (for metrics and logs).
    pub name: String,
}

/// The start of a reserved row's attempt (see [`Store::start_attempt`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartAttempt {
    /// The operation.
    pub id: OperationId,
    /// The node holding the reservation.
    pub owner: NodeId,
    /// The attempt that starts: the reserved row's `attempt` + 1.
    pub attempt: i64,
    /// When the attempt started (`starttime` of a first attempt).
    pub started: Timestamp,
    /// The time of the write (`modifiedon`).
    pub now: Timestamp,
    /// When the attempt's lease expires unless renewed.
    pub lease_until: Timestamp,
}

/// Which writer may record an attempt's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fence {
    /// The node running the attempt: applies only while the row is Locked with this attempt.
    Attempt(i64),
    /// An attempt of a reserved row whose start was not written yet (a fast attempt records
    /// its start and its outcome in one write): applies only while the row is still Ready,
    /// reserved by `owner` with `attempt - 1` attempts started. The write sets `attempt` and,
    /// on a first attempt, `starttime` = `started`. Only operations are reserved; a system job
    /// outcome behind this fence never applies.
    Reserved {
        /// The node holding the reservation.
        owner: NodeId,
        /// The attempt that ran: the reserved row's `attempt` + 1.
        attempt: i64,
        /// When it started.
        started: Timestamp,
    },
    /// Recovery of a lost attempt: applies only while the row is Locked with this attempt and
    /// its lease has expired at `now` (a renewal that won the race keeps the attempt alive).
    ExpiredLease(i64),
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum AttemptResult {
    /// The plug-in succeeded: the row ends Succeeded (3/30) with these outputs (stored
    /// Key/Value JSON).
    Succeeded {
        /// `outputparameters`.
        outputs: String,
        /// The same outputs as the status monitor shows them (a JSON object of typed values),
        /// when the caller rendered them; without it the status monitor renders them from
        /// `outputs` on every read.
        outputs_json: Option<String>,
    },
    /// The attempt failed. With `retry_at` the row waits (0/0, `retrycount` + 1) until then;
    /// without it, or when cancellation was requested meanwhile, it ends Failed (3/31) with
    /// this error.
    Failed {
        /// The error.
        error: OperationError,
        /// When to try again, if the policy allows.
        retry_at: Option<Timestamp>,
    },
    /// The plug-in stopped because of a cancel request: the row ends Canceled (3/32).
    Canceled,
}

/// An attempt's outcome to record.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptOutcome {
    /// The operation.
    pub id: OperationId,
    /// Who may write it.
    pub fence: Fence,
    /// The time of the write (`modifiedon`, `endtime`).
    pub now: Timestamp,
    /// The result.
    pub result: AttemptResult,
}

/// What recording an attempt's outcome did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The fence no longer matched (the row was taken back or changed meanwhile): nothing was
    /// written.
    Dropped,
    /// Written. `notify` says whether completion notifications were written with it (a callback
    /// delivery or OnBackgroundOperationComplete system jobs), so their senders should look.
    Applied {
        /// Notifications were written in the same transaction.
        notify: bool,
    },
}

impl Recorded {
    /// Whether the outcome was written.
    pub fn applied(self) -> bool {
        matches!(self, Recorded::Applied { .. })
    }

    /// Whether completion notifications were written with it.
    pub fn notify(self) -> bool {
        matches!(self, Recorded::Applied { notify: true })
    }
}

/// Reservations a node hands back unstarted (see [`Store::release_claims`]).
#[derive(Clone, Debug)]
pub struct ReleaseRequest {
    /// The node that claimed them.
    pub owner: NodeId,
    /// `(operation, attempt)` pairs, as claimed (attempts started so far).
    pub attempts: Vec<(OperationId, i64)>,
    /// The time of the write.
    pub now: Timestamp,
}

/// What the status monitor shows of an operation (SPEC §5): read with fewer columns than the
/// whole row, since it is the most frequent request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationStatusView {
    /// The custom API's unique name (to type the outputs).
    pub name: String,
    /// The status (and with it the state).
    pub status: OperationStatus,
    /// The outputs as a Key/Value JSON array, when Succeeded.
    pub output_parameters: Option<String>,
    /// The outputs as the status monitor shows them, when Succeeded and rendered when recorded.
    pub outputs_json: Option<String>,
    /// The error code, when Failed.
    pub error_code: Option<i32>,
    /// The error message, when Failed.
    pub error_message: Option<String>,
    /// The row's `versionnumber`: it moves with every change a reader can see, so an event
    /// stream names each state it sends by it.
    pub version: i64,
    /// Who the operation runs as (`runas`): a caller with Basic read depth sees only theirs.
    pub run_as: UserId,
}

/// What a cancel request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// No such row.
    NotFound,
    /// The row is terminal: nothing changed.
    Terminal,
    /// `If-Match` named another version: nothing changed.
    VersionMismatch,
    /// The row is now Canceling (2/22).
    Requested {
        /// Whether an attempt was running (it will finish or observe the signal).
        was_running: bool,
    },
}

/// A `systemuser` as authentication sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemUser {
    /// `systemuserid`.
    pub id: UserId,
    /// `fullname`.
    pub full_name: String,
    /// Whether the user holds the System Administrator role.
    pub is_system_administrator: bool,
}

/// Who an identity provider says signed a bearer token: a user is the pair (tenant, object id),
/// Entra ID's `tid` and `oid` claims. Both are kept as given (GUIDs in lower case).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExternalIdentity {
    /// The tenant (`tid`), or for an issuer without tenants the issuer URL.
    pub tenant: String,
    /// The object id (`oid`, the column `azureactivedirectoryobjectid`), or `sub`.
    pub object_id: String,
}

/// What a first sign-in creates for an [`ExternalIdentity`] not seen before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewExternalUser {
    /// `fullname`: the token's `name` claim, or the object id.
    pub full_name: String,
    /// `domainname`: the token's `upn` or `preferred_username`, when it has one.
    pub domain_name: Option<String>,
}

/// The `systemuser` an [`ExternalIdentity`] maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternalUser {
    /// An enabled user: requests run as it.
    Enabled(SystemUser),
    /// The user exists but is disabled (`isdisabled`): its tokens are refused, and no new user
    /// is created in its place.
    Disabled(UserId),
}

/// How the bootstrap administrator's API key is set at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminKey {
    /// `--admin-token` was given: create the administrator or replace its key with this hash.
    Set(String),
    /// No token given: create the administrator with this hash only if none exists yet.
    IfAbsent(String),
}

/// Which page of a query to read.
#[derive(Clone, Debug, PartialEq)]
pub struct PageRequest {
    /// Most rows to return.
    pub size: usize,
    /// Keyset position: the values of the plan's order-by columns (primary key last) of the last
    /// row of the previous page; rows strictly after it in the plan's order are returned.
    pub after: Option<Vec<Cell>>,
}

/// One page of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct RowPage {
    /// The rows, with the plan's selected columns, in the plan's order.
    pub rows: Vec<Row>,
    /// The keyset position of each row, parallel to `rows` (values of the order-by columns,
    /// primary key last), so the caller can build the next page's token.
    pub keys: Vec<Vec<Cell>>,
    /// Whether more rows follow.
    pub more: bool,
}

/// Who writes and when: sets `createdon`/`modifiedon`/`createdby`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteContext {
    /// The time of the write.
    pub now: Timestamp,
    /// The caller.
    pub user: UserId,
}

/// What an update may do when the row exists or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    /// No `If-Match`: update, or create the row with this id (upsert).
    Upsert,
    /// `If-Match: *`: update only an existing row.
    MustExist,
    /// `If-Match: {etag}`: update only if the row's `versionnumber` is this.
    IfVersion(i64),
}

/// What an insert did.
#[derive(Clone, Debug, PartialEq)]
pub enum InsertOutcome {
    /// Created; the full row as stored.
    Created(Row),
    /// A row with this primary key exists already.
    Duplicate,
}

/// What an update did.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateOutcome {
    /// Updated; the full row as stored.
    Updated(Row),
    /// Created by upsert; the full row as stored.
    Created(Row),
    /// No such row (and no upsert).
    NotFound,
    /// `If-Match` named another version.
    VersionMismatch,
}

/// What a delete did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Deleted.
    Deleted,
    /// No such row.
    NotFound,
    /// `If-Match` named another version.
    VersionMismatch,
}

/// One change of a batch written in one transaction by [`Store::write_rows`].
#[derive(Clone, Debug, PartialEq)]
pub enum RowChange {
    /// Inserts a row; `values` holds its primary key (see [`Store::insert_row`]).
    Insert {
        /// The table.
        table: Arc<Table>,
        /// The primary key and the caller's columns.
        values: Row,
    },
    /// Updates the given columns of an existing row, only at `if_version` when given.
    Update {
        /// The table.
        table: Arc<Table>,
        /// The row.
        id: uuid::Uuid,
        /// The columns to change.
        values: Row,
        /// The `versionnumber` the row must have.
        if_version: Option<i64>,
    },
    /// Deletes an existing row, only at `if_version` when given.
    Delete {
        /// The table.
        table: Arc<Table>,
        /// The row.
        id: uuid::Uuid,
        /// The `versionnumber` the row must have.
        if_version: Option<i64>,
    },
    /// Deletes every row whose lookup `column` points to `id` (none is fine): the children of
    /// a row deleted with them.
    DeleteChildren {
        /// The child table.
        table: Arc<Table>,
        /// The lookup column naming the parent.
        column: &'static str,
        /// The parent.
        id: uuid::Uuid,
    },
}

/// Why a change of a [`Store::write_rows`] batch could not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowRefusal {
    /// An insert met an existing primary key or unique value.
    Duplicate,
    /// An update or delete found no row.
    NotFound,
    /// An update or delete found the row at another version.
    VersionMismatch,
}

/// What a batch of row changes did.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteRowsOutcome {
    /// Every change applied: per change, in order, the row as stored for inserts and updates
    /// and `None` for deletes.
    Applied(Vec<Option<Row>>),
    /// Change `index` could not apply, for `reason`; nothing of the batch was written.
    Refused {
        /// The position of the change in the batch.
        index: usize,
        /// Why.
        reason: RowRefusal,
    },
}

/// A summary of the rows of some tables that changes whenever one of their rows is inserted,
/// updated or deleted: a cache of those rows compares it to know, with one cheap read, whether
/// it is still current (the custom API definitions, on every node).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TablesStamp {
    /// How many rows the tables hold together.
    pub rows: u64,
    /// The highest `versionnumber` among them.
    pub max_version: i64,
    /// The sum of their `versionnumber`s (wrapping), which also moves when a row is deleted
    /// and another written with a version not above the highest.
    pub version_sum: i64,
}

/// The most operation ids one [`StoreEvent::Changed`] carries (PostgreSQL's notification
/// payloads hold at most 8,000 bytes; 200 ids take 7,400).
pub const CHANGED_IDS_PER_EVENT: usize = 200;

/// A change that nodes sharing the database act on at once, instead of at their next poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// Rows may have become due: submissions, reservations handed back, retries scheduled,
    /// rows canceled before they ran (to finalize).
    Work,
    /// Cancellation of this operation was requested: the node running its attempt signals it.
    Canceled(OperationId),
    /// Operations ended: their callbacks and system jobs may be due.
    Ended,
    /// These operations changed state, perhaps to a terminal one (an outcome, a cancel, a
    /// lease taken back): whoever waits for them reads them again. One notification carries at
    /// most [`CHANGED_IDS_PER_EVENT`] ids; a batch that changed more sends several.
    Changed(Vec<OperationId>),
    /// These operations changed state without ending (submitted, an attempt started): event
    /// streams read them again; waits for their end need not. Carried like `Changed`.
    Started(Vec<OperationId>),
    /// Events may have been lost (the listening connection was re-established): look at
    /// everything once.
    Resync,
}

/// The storage interface.
#[async_trait]
pub trait Store: crate::security::SecurityStore + Send + Sync + 'static {
    /// Events from every node writing to this database (this one included), when the backend
    /// can tell them (PostgreSQL's `LISTEN/NOTIFY`). `None`: only polling finds other
    /// processes' changes (SQLite).
    fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<StoreEvent>> {
        None
    }

    /// Stores new operations (Ready, 0/0, due at once). Returns only once they are durable.
    async fn insert_operations(&self, ops: Vec<NewOperation>) -> Result<(), StoreError>;

    /// Stores a submission under an idempotency key, atomically: when the user's key is free
    /// (never used, or expired at `key.now`), the operation (as [`Store::insert_operations`])
    /// and the key, in one transaction; when it is held, nothing, and the answer names the
    /// operation it holds. Two submissions with one key, on any nodes, store one operation.
    async fn insert_operation_once(&self, keyed: KeyedOperation) -> Result<InsertOnce, StoreError>;

    /// Deletes up to `limit` idempotency keys expired at `now`; returns how many.
    async fn sweep_idempotency_keys(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;

    /// Reads one operation.
    async fn get_operation(
        &self,
        id: OperationId,
    ) -> Result<Option<BackgroundOperation>, StoreError>;

    /// What the status monitor shows of one operation: the same values as
    /// [`Store::get_operation`], outputs only when Succeeded and the error only when Failed.
    async fn get_operation_status(
        &self,
        id: OperationId,
    ) -> Result<Option<OperationStatusView>, StoreError>;

    /// Operations whose `versionnumber` is above `after`, in version order, at most `limit`:
    /// each with its latest state (a row changed twice since `after` appears once). Streams of
    /// every change page through it; `versionnumber` grows with every change a reader sees.
    async fn operations_changed_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<BackgroundOperation>, StoreError>;

    /// The highest `versionnumber` among operations (0 when there are none): where a stream of
    /// every change starts when it is not resuming.
    async fn latest_operation_version(&self) -> Result<i64, StoreError>;

    /// Finalizes rows canceled before they ran, then reserves up to `limit` due rows by
    /// priority, then age (see [`ClaimOutcome::claimed`]: nothing a reader sees changes).
    async fn claim(&self, req: ClaimRequest) -> Result<ClaimOutcome, StoreError>;

    /// Starts the attempt of a row reserved by `start.owner`: the row becomes In Progress
    /// (2/20) with `attempt` = `start.attempt`, `starttime` = `start.started` unless an earlier
    /// attempt set it, and a lease until `start.lease_until`. Returns false, changing nothing,
    /// when the row is no longer Ready under that reservation (canceled, taken back after the
    /// reservation lapsed, or deleted): the attempt must not run.
    async fn start_attempt(&self, start: StartAttempt) -> Result<bool, StoreError>;

    /// Extends the leases of running attempts and reports, per attempt, whether it is still
    /// held and whether cancellation was requested.
    async fn renew_leases(&self, req: RenewRequest) -> Result<Vec<LeaseState>, StoreError>;

    /// Attempts whose lease expired at `now` (up to `limit`).
    async fn expired_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ExpiredLease>, StoreError>;

    /// Records an attempt's outcome if the fence still matches. A stale writer's outcome
    /// changes nothing ([`Recorded::Dropped`]).
    async fn record_outcome(&self, outcome: AttemptOutcome) -> Result<Recorded, StoreError>;

    /// Hands back reservations that never started (a node claims a little ahead of its free
    /// workers): each row still reserved by `owner` with that attempt count is due again at
    /// `now` for any node. Nothing a reader sees changes (no new `versionnumber` or
    /// `modifiedon`). Rows no longer reserved by `owner` (canceled, taken by another node after
    /// the reservation lapsed) are left alone. Returns how many were handed back.
    async fn release_claims(&self, req: ReleaseRequest) -> Result<usize, StoreError>;

    /// Requests cancellation: Ready or In Progress rows become Canceling (2/22). A reserved
    /// row loses its reservation (its node's [`Store::start_attempt`] and [`Fence::Reserved`]
    /// writes fail) and, like any row canceled before it ran, ends Canceled (3/32) at the next
    /// claim, with no `starttime`.
    async fn request_cancel(
        &self,
        id: OperationId,
        now: Timestamp,
        if_version: Option<i64>,
    ) -> Result<CancelOutcome, StoreError>;

    /// Deletes up to `limit` rows whose `modifiedon + ttlinseconds` has passed and that are
    /// neither Locked nor reserved; returns how many.
    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError>;

    /// The enabled user whose unrevoked API key hashes to `key_hash`, whatever its expiry
    /// (authentication uses [`crate::SecurityStore::authenticate_key`], which checks it).
    async fn find_user_by_key_hash(&self, key_hash: &str)
        -> Result<Option<SystemUser>, StoreError>;

    /// The user with this id, enabled or not.
    async fn find_user(&self, id: UserId) -> Result<Option<SystemUser>, StoreError>;

    /// The user whose `azureactivedirectoryobjectid` is `object_id`: of `tenant` when given,
    /// else a row with no tenant (made by an administrator before the user first signed in);
    /// with no tenant (`CallerObjectId` impersonation), a row of any tenant. `None` when there
    /// is none. The one look-up of users by Entra identity: bearer JWTs and impersonation.
    async fn find_external_user(
        &self,
        tenant: Option<&str>,
        object_id: &str,
    ) -> Result<Option<ExternalUser>, StoreError>;

    /// The user of `identity` as [`Store::find_external_user`] finds it (in its tenant), or a new
    /// non-administrator made from `new` when there is none. Nodes provisioning the same
    /// identity at once end with one user.
    async fn provision_external_user(
        &self,
        identity: &ExternalIdentity,
        new: NewExternalUser,
        now: Timestamp,
    ) -> Result<ExternalUser, StoreError>;

    /// Creates or updates the bootstrap System Administrator; returns whether a key was written.
    async fn bootstrap_admin(&self, key: AdminKey, now: Timestamp) -> Result<bool, StoreError>;

    /// The setting `name`: `value` when given (stored, replacing any), else the stored one, else
    /// `default` (stored, so every later call and every node gets the same).
    async fn setting(
        &self,
        name: &str,
        value: Option<String>,
        default: String,
    ) -> Result<String, StoreError>;

    /// Reads a page of `table` rows matching `plan` (filter, order, selected columns).
    async fn query_rows(
        &self,
        table: Arc<Table>,
        plan: QueryPlan,
        page: PageRequest,
    ) -> Result<RowPage, StoreError>;

    /// Counts the rows of `table` matching `filter`.
    async fn count_rows(
        &self,
        table: Arc<Table>,
        filter: Option<Filter>,
    ) -> Result<u64, StoreError>;

    /// Reads one row by primary key, with every column of the table.
    async fn get_row(&self, table: Arc<Table>, id: uuid::Uuid) -> Result<Option<Row>, StoreError>;

    /// Inserts a row. `values` holds the primary key and the caller's writable columns; the
    /// store sets `createdon`, `modifiedon`, `createdby` and `versionnumber`.
    async fn insert_row(
        &self,
        table: Arc<Table>,
        values: Row,
        ctx: WriteContext,
    ) -> Result<InsertOutcome, StoreError>;

    /// Updates the given columns of a row (or creates it, per `mode`); bumps `versionnumber`
    /// and `modifiedon`.
    async fn update_row(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
        values: Row,
        mode: UpdateMode,
        ctx: WriteContext,
    ) -> Result<UpdateOutcome, StoreError>;

    /// Deletes a row, optionally only at a given version.
    async fn delete_row(
        &self,
        table: Arc<Table>,
        id: uuid::Uuid,
        if_version: Option<i64>,
    ) -> Result<DeleteOutcome, StoreError>;

    /// Applies `changes` in order in one transaction: all of them, or none when one is refused
    /// (the outcome names it). Inserts and updates set the system columns as [`Store::insert_row`]
    /// and [`Store::update_row`] do.
    async fn write_rows(
        &self,
        changes: Vec<RowChange>,
        ctx: WriteContext,
    ) -> Result<WriteRowsOutcome, StoreError>;

    /// The [`TablesStamp`] of `tables`, read without taking the write lock.
    async fn tables_stamp(&self, tables: Vec<Arc<Table>>) -> Result<TablesStamp, StoreError>;

    /// Leases up to `limit` due callback deliveries to `owner` (each one's `attempts` grows by
    /// one and it is due again when the lease expires), and tells when the next one is due.
    async fn claim_deliveries(
        &self,
        req: DeliveryClaimRequest,
    ) -> Result<DeliveryClaim, StoreError>;

    /// Extends a delivery attempt's lease to `until` while it is still the holder's; returns
    /// whether it was.
    async fn renew_delivery(
        &self,
        lease: DeliveryLease,
        until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records a delivery attempt's result if its lease still fences it; returns whether it
    /// applied. A stale holder's result changes nothing.
    async fn record_delivery(&self, outcome: DeliveryOutcome) -> Result<bool, StoreError>;

    /// Every callback delivery of an operation, oldest first (diagnostics and tests).
    async fn deliveries_of(&self, id: OperationId) -> Result<Vec<CallbackDelivery>, StoreError>;

    /// Claims up to `req.limit` due system jobs (Ready, retry time reached) under `req.owner`'s
    /// lease, oldest due first (each one's `attempt` grows by one), and tells when the next
    /// waiting one is due.
    async fn claim_jobs(&self, req: ClaimRequest) -> Result<JobClaim, StoreError>;

    /// Extends the leases of running system jobs and reports, per job, whether the node still
    /// holds it.
    async fn renew_job_leases(&self, req: JobRenewal) -> Result<Vec<JobLeaseState>, StoreError>;

    /// System jobs whose lease expired at `now` (up to `limit`).
    async fn expired_job_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ExpiredJobLease>, StoreError>;

    /// Records a system job attempt's outcome if the fence still matches; returns whether it
    /// applied. A stale writer's outcome changes nothing.
    async fn record_job_outcome(&self, outcome: JobOutcome) -> Result<bool, StoreError>;

    /// The unfinished operations by status and the oldest waiting, from the partial indexes
    /// of unfinished rows only (metrics and the dashboard refresh it in the background).
    async fn queue_summary(&self) -> Result<crate::QueueSummary, StoreError>;

    /// The operations that finished at or after `from` and before `to`, per minute, custom API
    /// and outcome, from the `endtime` index alone: the cost grows with the rows finished in
    /// that range, never with the table.
    async fn finished_per_minute(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::FinishedBucket>, StoreError>;

    /// The current lease owners of operations (the nodes running or holding them), from the
    /// partial index of leased rows.
    async fn lease_holders(&self) -> Result<Vec<crate::LeaseHolder>, StoreError>;

    /// Everything the dashboard's operation page shows of one operation: the row, its failed attempts, its callback deliveries with their failed tries,
    /// and its system jobs (see [`crate::OperationHistory`]). `None` when there is no such row.
    async fn operation_history(
        &self,
        id: OperationId,
    ) -> Result<Option<crate::OperationHistory>, StoreError>;
}
