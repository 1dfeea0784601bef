//! The job runner: runs the system jobs of OnBackgroundOperationComplete steps (SPEC §9) like
//! any background work. Due jobs are claimed under a lease (renewed while the handler runs),
//! each attempt runs under the attempt time-out, a failed attempt is retried per the engine's
//! retry policy (`--retry-base-delay`, `--max-retries`) unless the failure is permanent, and the
//! result is recorded behind the attempt's fence. Jobs whose node died are taken back when
//! their lease expires, counting the lost attempt as a failed one.
//!
//! Jobs are written with the terminal state of their operation, so a crash loses none; the
//! engine wakes this loop after every commit that may have ended operations.

use std::sync::Arc;
use std::time::Duration;

use bgops_core::{OperationError, Timestamp};
use bgops_store::{
    AttemptResult, ClaimRequest, Fence, JobOutcome, JobRenewal, JobResult, SystemJob,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::ERROR_BACKOFF;
use crate::engine::Inner;
use crate::outcome;

/// Longest sleep without a wake-up: picks up jobs written by another process on the same
/// database.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// How long shutdown waits for jobs being run; one still running after it runs again after
/// the next start, once its lease expires.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// How often a failed result write is tried before leaving the job to lease recovery.
const WRITE_TRIES: u32 = 5;

/// Most expired leases taken back per pass.
const RECOVERY_BATCH: usize = 256;

/// Runs system jobs.
pub struct JobRunner {
    inner: Arc<Inner>,
    stop: CancellationToken,
    /// One permit per job running on this node (as many as workers).
    slots: Arc<Semaphore>,
}

impl JobRunner {
    /// A job runner that stops when `stop` fires.
    pub fn new(inner: Arc<Inner>, stop: CancellationToken) -> Self {
        let slots = Arc::new(Semaphore::new(inner.config.workers.max(1)));
        Self { inner, stop, slots }
    }

    /// Runs until stopped, then waits (briefly) for jobs being run.
    pub async fn run(self) {
        let inner = &self.inner;
        let recovery_period = (inner.config.lease / 2).max(Duration::from_millis(100));
        let mut next_recovery = tokio::time::Instant::now();
        let mut running = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            if tokio::time::Instant::now() >= next_recovery {
                self.recover().await;
                next_recovery = tokio::time::Instant::now() + recovery_period;
            }
            let mut permits = Vec::new();
            while let Ok(p) = self.slots.clone().try_acquire_owned() {
                permits.push(p);
            }
            let mut sleep = IDLE_POLL.min(recovery_period);
            if !permits.is_empty() {
                let now = inner.clock.now();
                let req = ClaimRequest {
                    owner: inner.node.clone(),
                    now,
                    lease_until: now.plus(inner.config.lease),
                    limit: permits.len(),
                };
                match inner.store.claim_jobs(req).await {
                    Ok(claim) => {
                        let full = claim.claimed.len() == permits.len();
                        for job in claim.claimed {
                            let Some(permit) = permits.pop() else { break };
                            let span = tracing::info_span!(
                                "system_job",
                                job = %job.id,
                                attempt = job.attempt,
                            );
                            running.spawn(run_one(inner.clone(), job, permit).instrument(span));
                        }
                        if full {
                            continue;
                        }
                        if let Some(due) = claim.next_due {
                            let ms = (due.0 - inner.clock.now().0).max(0) as u64;
                            sleep = sleep.min(Duration::from_millis(ms));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "claiming system jobs failed");
                        sleep = ERROR_BACKOFF;
                    }
                }
            }
            let all_busy = permits.is_empty();
            drop(permits);
            tokio::select! {
                _ = inner.jobs.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                // Every slot taken: claim again as soon as one frees up.
                Some(_) = running.join_next(), if all_busy => {}
                _ = self.stop.cancelled() => break,
            }
        }
        if !running.is_empty() {
            let wait = async { while running.join_next().await.is_some() {} };
            if tokio::time::timeout(SHUTDOWN_WAIT, wait).await.is_err() {
                tracing::warn!("system jobs still running are left to their leases");
            }
        }
    }

    /// Takes back jobs whose lease expired: the lost attempt counts as a failed one.
    async fn recover(&self) {
        let inner = &self.inner;
        loop {
            let now = inner.clock.now();
            let expired = match inner.store.expired_job_leases(now, RECOVERY_BATCH).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "reading expired system job leases failed");
                    return;
                }
            };
            let n = expired.len();
            for lease in expired {
                let outcome = JobOutcome {
                    id: lease.id,
                    fence: Fence::ExpiredLease(lease.attempt),
                    now,
                    result: failed(inner, lease.retry_count, OperationError::worker_lost(), now),
                };
                match inner.store.record_job_outcome(outcome).await {
                    Ok(true) => {
                        tracing::warn!(job = %lease.id, attempt = lease.attempt, "took back a system job whose lease expired");
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "recovering a system job failed");
                        return;
                    }
                }
            }
            if n < RECOVERY_BATCH {
                return;
            }
        }
    }
}

/// A failed attempt's result under the engine's retry policy.
fn failed(inner: &Inner, retry_count: i32, error: OperationError, now: Timestamp) -> JobResult {
    let max_retries = i32::try_from(inner.config.max_retries).unwrap_or(i32::MAX);
    match outcome::failure(
        retry_count,
        max_retries,
        error,
        false,
        inner.policy(),
        inner.jitter.as_ref(),
        now,
    ) {
        AttemptResult::Failed { error, retry_at } => JobResult::Failed { error, retry_at },
        other => {
            tracing::error!(?other, "the retry policy answered a failure with a success");
            JobResult::Failed {
                error: OperationError::worker_lost(),
                retry_at: None,
            }
        }
    }
}

/// One attempt of `job` (already claimed): run its handler while renewing the lease, then
/// record the result.
async fn run_one(inner: Arc<Inner>, job: SystemJob, _permit: OwnedSemaphorePermit) {
    let cancel = CancellationToken::new();
    let handled = renewing(
        &inner,
        &job,
        &cancel,
        crate::step_handler::run(&inner, &job, &cancel),
    )
    .await;
    if cancel.is_cancelled() {
        tracing::warn!("system job lease lost; its result is dropped");
        return;
    }
    let now = inner.clock.now();
    let result = match handled {
        Ok(()) => {
            tracing::info!("system job succeeded");
            JobResult::Succeeded
        }
        Err(error) => {
            let result = failed(&inner, job.retry_count, error, now);
            if let JobResult::Failed { error, retry_at } = &result {
                match retry_at {
                    Some(at) => {
                        tracing::info!(code = %error.code, message = %error.message, retry_at = %at, "system job failed; retry scheduled")
                    }
                    None => {
                        tracing::info!(code = %error.code, message = %error.message, "system job failed for good")
                    }
                }
            }
            result
        }
    };
    let retry = matches!(
        result,
        JobResult::Failed {
            retry_at: Some(_),
            ..
        }
    );
    let outcome = JobOutcome {
        id: job.id,
        fence: Fence::Attempt(job.attempt),
        now,
        result,
    };
    for n in 1..=WRITE_TRIES {
        match inner.store.record_job_outcome(outcome.clone()).await {
            Ok(true) => break,
            Ok(false) => {
                tracing::warn!("system job result dropped: the job was taken back meanwhile");
                break;
            }
            Err(e) if n < WRITE_TRIES => {
                tracing::warn!(error = %e, "recording the system job result failed; trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(n))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "recording the system job result failed; lease recovery will run it again")
            }
        }
    }
    if retry {
        // The runner recomputes when the next retry is due.
        inner.jobs.notify_one();
    }
}

/// Runs `work`, extending the job's lease every third of the lease meanwhile; a lease taken
/// back fires `cancel`, which stops the handler.
async fn renewing<F>(
    inner: &Inner,
    job: &SystemJob,
    cancel: &CancellationToken,
    work: F,
) -> F::Output
where
    F: std::future::Future,
{
    let every = (inner.config.lease / 3).max(Duration::from_millis(50));
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tokio::time::sleep(every) => {
                let renewal = JobRenewal {
                    owner: inner.node.clone(),
                    jobs: vec![(job.id, job.attempt)],
                    lease_until: inner.clock.now().plus(inner.config.lease),
                };
                match inner.store.renew_job_leases(renewal).await {
                    Ok(states) if states.iter().all(|s| s.held) => {}
                    Ok(_) => cancel.cancel(),
                    Err(e) => tracing::warn!(error = %e, "renewing a system job lease failed"),
                }
            }
        }
    }
}
