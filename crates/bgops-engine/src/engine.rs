//! The engine handle: submissions, cancel requests and synchronous calls come in here; the
//! background loops (see `loops`) do the rest.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgops_core::catalogue::Catalogue;
use bgops_core::{
    ApiError, BackgroundOperation, Clock, CustomApi, Jitter, NewOperation, OperationId, Parameters,
    RetryPolicy, UserId,
};
use bgops_store::{CancelOutcome, InsertOnce, KeyedOperation, NodeId, Store, StoreError};
use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::EngineConfig;
use crate::data::DataAccess;
use crate::outcome::AttemptRun;
use crate::plugin::{PluginContext, PluginError};
use crate::registry::Registry;

/// Full jitter from the thread-local random generator.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn pick(&self, upper: Duration) -> Duration {
        if upper.is_zero() {
            return upper;
        }
        upper.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
    }
}

/// A row reserved by this node: waiting for a worker, or running its attempt.
pub(crate) struct Running {
    /// The number of its attempt (the fence once started).
    pub attempt: i64,
    /// Fires on a cancel request or a lost lease.
    pub cancel: CancellationToken,
    /// Whether the attempt's start is written: only then does it hold a lease to renew.
    pub started: bool,
}

/// A reserved row waiting here for a worker (claimed ahead of free workers). It is already
/// registered in [`Inner::running`], so a cancel request reaches its token.
pub(crate) struct Claimed {
    /// The row as reserved (Ready, `attempt` counting the attempts started so far).
    pub op: BackgroundOperation,
    /// Fires on a cancel request or a lost lease.
    pub cancel: CancellationToken,
    /// When it was claimed.
    pub since: Instant,
}

/// Everything the engine's parts share.
pub(crate) struct Inner {
    /// Where operations live.
    pub store: Arc<dyn Store>,
    /// Custom APIs and plug-ins.
    pub registry: Arc<Registry>,
    /// The tables plug-ins may use.
    pub catalogue: Arc<Catalogue>,
    /// Settings.
    pub config: EngineConfig,
    /// Time source for every timestamp written.
    pub clock: Arc<dyn Clock>,
    /// Jitter source for retry delays.
    pub jitter: Arc<dyn Jitter>,
    /// This process's lease owner id.
    pub node: NodeId,
    /// Wakes the claimer: new work, a cancel, a retry scheduled.
    pub wake: Notify,
    /// Wakes the callback deliverer: operations ended, so the outbox may hold new deliveries.
    pub deliver: Notify,
    /// Wakes the job runner: operations ended, so OnBackgroundOperationComplete steps may have
    /// new system jobs.
    pub jobs: Notify,
    /// Rows reserved here (waiting for a worker or running), by operation.
    pub running: Mutex<HashMap<OperationId, Running>>,
    /// Rows claimed ahead of free workers, oldest claim first.
    pub ready: Mutex<VecDeque<Claimed>>,
    /// How long attempts take, which decides how far ahead to claim.
    pub pace: crate::loops::Pace,
    /// One permit per worker.
    pub workers: Arc<Semaphore>,
    /// Wakes whoever waits for an operation to change (long polls, event streams).
    pub changes: crate::changes::Changes,
    /// Whether this node feeds [`Inner::changes`] from its own writes: only when the store
    /// announces no changes itself (SQLite). PostgreSQL's notifications bring every node's
    /// changes, this node's included, through the event relay.
    pub publishes_changes: bool,
}

impl Inner {
    /// The rows reserved here. A panic elsewhere while it was held does not stop lease
    /// renewal or cancellation: the map is still consistent (every change is one call).
    pub fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<OperationId, Running>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The rows claimed ahead, oldest first (poison-tolerant like [`Inner::lock_running`]).
    pub fn lock_ready(&self) -> std::sync::MutexGuard<'_, VecDeque<Claimed>> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Data access for a plug-in running as `user`.
    pub fn data_access(&self, user: UserId) -> DataAccess {
        DataAccess::new(
            self.store.clone(),
            self.catalogue.clone(),
            user,
            self.clock.clone(),
        )
    }

    /// To call after a committed write that may have ended operations (3/30, 3/31, 3/32):
    /// their completion notifications were written with them, so wake what sends those.
    pub fn operations_ended(&self) {
        self.deliver.notify_one();
        self.jobs.notify_one();
    }

    /// To call after a committed write changed these operations' state in a way that may
    /// have ended them (an outcome, a cancel, a lease taken back): wakes their waiters.
    pub fn changed(&self, ids: &[OperationId]) {
        if self.publishes_changes {
            self.changes.publish(ids);
        }
    }

    /// To call after this node committed how `id` ended: wakes its waiters, and long polls answer
    /// from `ended` (built only if someone waits) without reading the row. Published on every
    /// backend: on PostgreSQL the notification of the same change follows, and finds the
    /// long polls answered.
    pub fn ended(&self, id: OperationId, ended: impl FnOnce() -> crate::changes::Ended) {
        if self.changes.is_watched(id) {
            self.changes.publish_ended(id, ended());
        } else {
            self.changed(&[id]);
        }
    }

    /// To call after a committed write changed these operations' state without ending them
    /// (a submission, an attempt started): wakes their event streams, not their long polls.
    pub fn changed_not_ended(&self, ids: &[OperationId]) {
        if self.publishes_changes {
            self.changes.publish_not_ended(ids);
        }
    }

    /// The retry policy with the service defaults.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: self.config.retry_base_delay,
            max_retries: self.config.max_retries,
        }
    }

    /// The attempt time-out for `api`.
    pub fn attempt_timeout(&self, api: &CustomApi) -> Duration {
        api.attempt_timeout.unwrap_or(self.config.attempt_timeout)
    }

    /// Runs `api`'s plug-in once under its time-out, isolating panics.
    pub async fn execute(&self, api: &CustomApi, mut ctx: PluginContext) -> AttemptRun {
        let Some(plugin) = self.registry.plugin(&api.plugin_type) else {
            return AttemptRun::Error(PluginError::permanent(format!(
                "No plug-in is registered with type name '{}'.",
                api.plugin_type
            )));
        };
        let cancel = ctx.cancel.clone();
        // The plug-in sees a child token: firing it on time-out does not mark the row canceled.
        ctx.cancel = cancel.child_token();
        let signal = ctx.cancel.clone();
        let mut task = tokio::spawn(async move { plugin.execute(ctx).await });
        let timeout = self.attempt_timeout(api);
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(Ok(outputs))) => AttemptRun::Returned(outputs),
            Ok(Ok(Err(e))) => AttemptRun::Error(e),
            Ok(Err(join)) => AttemptRun::Crashed(if join.is_panic() {
                "it panicked".to_owned()
            } else {
                "its task was aborted".to_owned()
            }),
            Err(_) => {
                signal.cancel();
                task.abort();
                AttemptRun::TimedOut
            }
        }
    }
}

/// The engine: cheap to clone, shared by the HTTP layer and the background loops.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

/// The running background loops; wait on it after requesting shutdown.
pub struct EngineHandle {
    /// The supervisor task that stops the loops in order.
    join: JoinHandle<()>,
}

impl EngineHandle {
    /// Waits until the loops have stopped and running attempts finished (or the grace period
    /// passed).
    pub async fn wait(self) {
        let _ = self.join.await;
    }
}

impl Engine {
    /// An engine over `store` and `registry`, with injected clock and jitter.
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        catalogue: Arc<Catalogue>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Jitter>,
    ) -> Self {
        let workers = Arc::new(Semaphore::new(config.workers.max(1)));
        let publishes_changes = store.subscribe().is_none();
        registry.attach(store.clone(), catalogue.clone(), config.outbound.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                registry,
                catalogue,
                clock,
                jitter,
                node: format!("node-{}", uuid::Uuid::new_v4()),
                wake: Notify::new(),
                deliver: Notify::new(),
                jobs: Notify::new(),
                running: Mutex::new(HashMap::new()),
                ready: Mutex::new(VecDeque::new()),
                pace: crate::loops::Pace::new(config.claim_ahead),
                workers,
                config,
                changes: crate::changes::Changes::new(),
                publishes_changes,
            }),
        }
    }

    /// Starts the claimer, lease renewer, lease reaper and TTL sweeper. They stop when
    /// `shutdown` fires: claiming stops at once, running attempts may finish within the grace
    /// period, then the rest stops.
    pub fn start(&self, shutdown: CancellationToken) -> EngineHandle {
        EngineHandle {
            join: tokio::spawn(crate::loops::supervise(self.inner.clone(), shutdown)),
        }
    }

    /// Like [`Engine::start`], with the loops (and every task they spawn: attempts, their
    /// writes, deliveries) on `runtime`: a runtime of their own, so that a flood of requests
    /// queued on the HTTP runtime's threads (thousands of long polls answered at once) does not
    /// delay the claims, starts and outcomes the whole node's throughput waits on.
    pub fn start_on(
        &self,
        shutdown: CancellationToken,
        runtime: &tokio::runtime::Handle,
    ) -> EngineHandle {
        EngineHandle {
            join: runtime.spawn(crate::loops::supervise(self.inner.clone(), shutdown)),
        }
    }

    /// How many rows this node has claimed ahead that wait for a free worker. Readers see them
    /// Ready; this count is the only place their reservation shows (diagnostics, metrics).
    pub fn claimed_ahead(&self) -> usize {
        self.inner.lock_ready().len()
    }

    /// The change fan-out: wait here for an operation to change instead of polling the store.
    pub fn changes(&self) -> &crate::changes::Changes {
        &self.inner.changes
    }

    /// The store, for reads.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The registry of custom APIs.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// Writes custom API definitions as rows (the Web API's `POST customapis` and friends, and
    /// the definitions kept in step at start-up).
    pub fn definitions(&self) -> crate::definitions::Definitions {
        crate::definitions::Definitions::new(
            self.inner.store.clone(),
            self.inner.catalogue.clone(),
            self.inner.registry.clone(),
            self.inner.clock.clone(),
        )
    }

    /// The tables.
    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.inner.catalogue
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The clock every timestamp comes from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Rows as `principal` may see and change them: the one place privileges are applied.
    pub fn access(&self, principal: bgops_core::security::Principal) -> crate::Access {
        crate::Access::new(
            self.inner.store.clone(),
            self.inner.catalogue.clone(),
            self.inner.clock.clone(),
            principal,
        )
    }

    /// Stores background submissions (durably) and wakes a worker.
    pub async fn submit(&self, ops: Vec<NewOperation>) -> Result<(), StoreError> {
        let ids: Vec<OperationId> = ops.iter().map(|op| op.id).collect();
        let names: Vec<String> = ops.iter().map(|o| o.name.clone()).collect();
        self.inner.store.insert_operations(ops).await?;
        self.inner.wake.notify_one();
        self.inner.changed_not_ended(&ids);
        for name in names {
            self.inner.config.metrics.submitted(&name, 1);
        }
        Ok(())
    }

    /// Stores a background submission under an idempotency key (see
    /// [`Store::insert_operation_once`]) and, when it was stored, wakes a worker. A write that
    /// conflicted with another node's is tried again (a few times).
    pub async fn submit_once(&self, keyed: KeyedOperation) -> Result<InsertOnce, StoreError> {
        let mut tries = 0;
        let id = keyed.op.id;
        loop {
            match self.inner.store.insert_operation_once(keyed.clone()).await {
                Ok(out) => {
                    if out == InsertOnce::Inserted {
                        self.inner.wake.notify_one();
                        self.inner.changed_not_ended(&[id]);
                    }
                    return Ok(out);
                }
                Err(StoreError::Conflict(why)) if tries < 3 => {
                    tries += 1;
                    tracing::debug!(%why, "keyed submission conflicted; trying again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Requests cancellation of an operation; signals its attempt if it runs here.
    pub async fn cancel(
        &self,
        id: OperationId,
        if_version: Option<i64>,
    ) -> Result<CancelOutcome, StoreError> {
        let now = self.inner.clock.now();
        let outcome = self.inner.store.request_cancel(id, now, if_version).await?;
        if let CancelOutcome::Requested { was_running } = outcome {
            self.inner.changed(&[id]);
            // Running here: the plug-in gets the signal. Reserved here: it never starts (the
            // cancel took its reservation).
            if let Some(r) = self.inner.lock_running().get(&id) {
                r.cancel.cancel();
            }
            if !was_running {
                // The claimer finalizes rows canceled before they ran.
                self.inner.wake.notify_one();
            }
        }
        Ok(outcome)
    }

    /// Runs a custom API now, without a row (a synchronous call), under the same time-out.
    pub async fn execute_sync(
        &self,
        api: &CustomApi,
        inputs: Parameters,
        user: UserId,
    ) -> Result<Parameters, ApiError> {
        let ctx = PluginContext {
            operation_id: None,
            message_name: api.unique_name.clone(),
            user_id: user,
            attempt: 1,
            inputs,
            cancel: CancellationToken::new(),
            data: self.inner.data_access(user),
            api: Arc::new(api.clone()),
            timeout: self.inner.attempt_timeout(api),
            trace_parent: crate::trace::outgoing(None),
        };
        match self.inner.execute(api, ctx).await {
            AttemptRun::Returned(outputs) => match api.validate_outputs(&outputs) {
                Ok(()) => Ok(outputs),
                Err(message) => Err(ApiError::plugin(message)),
            },
            AttemptRun::Error(PluginError::Failed { message, code, .. }) => {
                let mut e = ApiError::plugin(message);
                if let Some(code) = code {
                    e.code = code;
                }
                Err(e)
            }
            AttemptRun::Error(PluginError::Canceled) => {
                Err(ApiError::plugin("The plug-in stopped before it finished."))
            }
            AttemptRun::TimedOut => Err(ApiError::timeout()),
            AttemptRun::Crashed(why) => {
                Err(ApiError::plugin(format!("The plug-in crashed: {why}")))
            }
        }
    }
}
