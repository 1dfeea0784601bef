//! One attempt of a reserved row: start it, run the plug-in, decide the outcome, record it
//! behind the right fence.
//!
//! A claimed row is only reserved: readers see it Ready until its attempt starts. An attempt
//! that finishes within [`START_VISIBLE_AFTER`] records its start and its outcome in one write
//! (the row goes from Ready to its outcome with both times; no reader could have seen it In
//! Progress in between). A slower one has its start written then, without pausing the plug-in,
//! so a client polling a long attempt sees In Progress (2/20) from that moment on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bgops_core::{BackgroundOperation, OperationError, OperationId, Timestamp};
use bgops_store::{AttemptOutcome, AttemptResult, Fence, Recorded, StartAttempt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::changes::Ended;
use crate::engine::Inner;
use crate::outcome;
use crate::plugin::PluginContext;

/// How often a failed outcome write is tried before leaving the row to lease recovery.
const WRITE_TRIES: u32 = 5;

/// How long an attempt runs before its start is written. Faster attempts (most of them)
/// write start and outcome together; a client sees a slower one In Progress within this
/// bound plus one commit. Documented in the README (`--claim-ahead`) and the architecture.
pub(crate) const START_VISIBLE_AFTER: Duration = Duration::from_millis(20);

/// What became of writing an attempt's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Written: the row is In Progress under this node's lease.
    Written,
    /// Refused: the reservation was gone (canceled, or taken back after it lapsed). The
    /// attempt was told to stop and its outcome must not be written.
    Refused,
    /// The write failed: the row is still reserved, so the outcome records the start too.
    Failed,
}

/// An attempt that ran, waiting for its outcome to be recorded.
pub struct Finished {
    /// The custom API (for metrics).
    name: String,
    /// The operation.
    id: OperationId,
    /// The attempt's number.
    attempt: i64,
    /// When it started.
    started: Timestamp,
    /// The write of its start, when it ran long enough for one.
    start: Option<JoinHandle<Start>>,
    /// How it ended.
    result: AttemptResult,
}

/// Runs the attempt of the reserved row `op` (registered in `running` with `cancel`) and
/// returns it for [`record`]. A row whose cancel request arrived before its attempt started
/// never runs: `None` (the cancel took the reservation, and the claimer ends it Canceled).
pub async fn run(
    inner: &Arc<Inner>,
    op: &BackgroundOperation,
    cancel: CancellationToken,
) -> Option<Finished> {
    if cancel.is_cancelled() {
        tracing::info!("canceled before it started");
        forget(inner, op.id);
        return None;
    }
    let attempt = op.attempt + 1;
    let started = inner.clock.now();
    // The first attempt's wait counts from the submission; a retry's from its due time is not
    // stored, so only first attempts are measured.
    let waited = (op.attempt == 0)
        .then(|| Duration::from_millis(u64::try_from(started.0 - op.created_on.0).unwrap_or(0)));
    inner.config.metrics.attempt_started(&op.name, waited);
    let running = Instant::now();
    let work = execute(inner, op, attempt, cancel.clone());
    tokio::pin!(work);
    let (result, start) = match tokio::time::timeout(START_VISIBLE_AFTER, &mut work).await {
        Ok(result) => (result, None),
        Err(_) => {
            let start = tokio::spawn(write_start(inner.clone(), op.id, attempt, started, cancel));
            (work.await, Some(start))
        }
    };
    inner
        .config
        .metrics
        .attempt_ran(&op.name, running.elapsed());
    log_result(&result);
    Some(Finished {
        name: op.name.clone(),
        id: op.id,
        attempt,
        started,
        start,
        result,
    })
}

/// Resolves the custom API, runs its plug-in and decides the outcome.
async fn execute(
    inner: &Arc<Inner>,
    op: &BackgroundOperation,
    attempt: i64,
    cancel: CancellationToken,
) -> AttemptResult {
    let Some(api) = inner.registry.resolve(&op.name).await else {
        return AttemptResult::Failed {
            error: OperationError::plugin(
                format!("Custom API {} no longer exists.", op.name),
                true,
            ),
            retry_at: None,
        };
    };
    let ctx = PluginContext {
        operation_id: Some(op.id),
        message_name: op.name.clone(),
        user_id: op.run_as,
        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        inputs: outcome::stored_inputs(&api, &op.input_parameters),
        cancel: cancel.clone(),
        data: inner.data_access(op.run_as),
        api: api.clone(),
        timeout: inner.attempt_timeout(&api),
        trace_parent: crate::trace::outgoing(op.trace_parent),
    };
    let run = inner.execute(&api, ctx).await;
    inner.pace.finished(Instant::now());
    outcome::decide(
        op,
        &api,
        run,
        cancel.is_cancelled(),
        inner.policy(),
        inner.jitter.as_ref(),
        inner.clock.now(),
    )
}

/// Writes the start of a running attempt (retrying storage errors). From then on its lease is
/// renewed; when the reservation is gone the attempt is told to stop.
async fn write_start(
    inner: Arc<Inner>,
    id: OperationId,
    attempt: i64,
    started: Timestamp,
    cancel: CancellationToken,
) -> Start {
    for n in 1..=WRITE_TRIES {
        let now = inner.clock.now();
        let start = StartAttempt {
            id,
            owner: inner.node.clone(),
            attempt,
            started,
            now,
            lease_until: now.plus(inner.config.lease),
        };
        match inner.store.start_attempt(start).await {
            Ok(true) => {
                inner
                    .lock_running()
                    .entry(id)
                    .and_modify(|r| r.started = true);
                inner.changed_not_ended(&[id]);
                return Start::Written;
            }
            Ok(false) => {
                tracing::info!(
                    "the row was canceled or taken back before its start was recorded; stopping the attempt"
                );
                cancel.cancel();
                return Start::Refused;
            }
            Err(e) if n < WRITE_TRIES => {
                tracing::warn!(error = %e, "recording the attempt's start failed; trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(n))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "recording the attempt's start failed; its outcome will record it");
            }
        }
    }
    Start::Failed
}

/// Records a finished attempt's outcome behind its fence (retrying storage errors), then
/// forgets the attempt and wakes whatever the write calls for: the claimer for a scheduled
/// retry, the senders for notifications.
pub async fn record(inner: Arc<Inner>, finished: Finished) {
    let reserved = Fence::Reserved {
        owner: inner.node.clone(),
        attempt: finished.attempt,
        started: finished.started,
    };
    let fence = match finished.start {
        None => reserved,
        Some(start) => {
            match start.await {
                Ok(Start::Written) => Fence::Attempt(finished.attempt),
                Ok(Start::Refused) => {
                    tracing::info!("attempt result dropped: the row was canceled or taken back before it started");
                    forget(&inner, finished.id);
                    return;
                }
                Ok(Start::Failed) | Err(_) => reserved,
            }
        }
    };
    write_outcome(
        inner.clone(),
        AttemptOutcome {
            id: finished.id,
            fence,
            now: inner.clock.now(),
            result: finished.result,
        },
        &finished.name,
    )
    .await;
}

/// Forgets an attempt that will write nothing more.
fn forget(inner: &Inner, id: OperationId) {
    inner.lock_running().remove(&id);
}

/// Writes `outcome` (retrying storage errors) and does what [`record`] says.
async fn write_outcome(inner: Arc<Inner>, outcome: AttemptOutcome, name: &str) {
    let retry = matches!(
        outcome.result,
        AttemptResult::Failed {
            retry_at: Some(_),
            ..
        }
    );
    let id = outcome.id;
    let mut recorded = Recorded::Dropped;
    for n in 1..=WRITE_TRIES {
        match inner.store.record_outcome(outcome.clone()).await {
            Ok(r) => {
                if !r.applied() {
                    tracing::warn!(
                        "attempt result dropped: the row was taken back or changed meanwhile"
                    );
                }
                recorded = r;
                break;
            }
            Err(e) if n < WRITE_TRIES => {
                tracing::warn!(error = %e, "recording the attempt result failed; trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(n))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "recording the attempt result failed; lease recovery will retry the operation")
            }
        }
    }
    forget(&inner, id);
    if recorded.applied() {
        match &outcome.result {
            // These writes always end the row, with exactly these values.
            AttemptResult::Succeeded {
                outputs,
                outputs_json,
            } => inner.ended(id, || Ended::succeeded(outputs, outputs_json.as_deref())),
            AttemptResult::Canceled => inner.ended(id, Ended::canceled),
            AttemptResult::Failed {
                error,
                retry_at: None,
            } => inner.ended(id, || Ended::failed(error.code.as_i32(), &error.message)),
            // Retried, unless a cancel request came meanwhile: read to know.
            AttemptResult::Failed { .. } => inner.changed(&[id]),
        }
        count_outcome(&inner.config.metrics, name, &outcome.result);
    }
    if retry && recorded.applied() {
        // The claimer recomputes when the next retry is due.
        inner.wake.notify_one();
    }
    if recorded.notify() {
        inner.operations_ended();
    }
}

/// Counts a recorded attempt outcome: a failed attempt (retried or not) and, when the
/// operation ended, how.
pub(crate) fn count_outcome(metrics: &bgops_metrics::Metrics, name: &str, result: &AttemptResult) {
    use bgops_metrics::Outcome;
    match result {
        AttemptResult::Succeeded { .. } => metrics.finished(name, Outcome::succeeded),
        AttemptResult::Canceled => metrics.finished(name, Outcome::canceled),
        AttemptResult::Failed { retry_at, .. } => {
            metrics.attempt_failed(name, retry_at.is_some());
            if retry_at.is_none() {
                metrics.finished(name, Outcome::failed);
            }
        }
    }
}

fn log_result(result: &AttemptResult) {
    match result {
        // Success is the common case: logged at DEBUG so a busy node does not spend its time
        // writing one line per operation.
        AttemptResult::Succeeded { .. } => tracing::debug!("succeeded"),
        AttemptResult::Canceled => tracing::info!("canceled"),
        AttemptResult::Failed {
            error,
            retry_at: Some(at),
        } => {
            tracing::info!(code = %error.code, message = %error.message, retry_at = %at, "failed; retry scheduled")
        }
        AttemptResult::Failed {
            error,
            retry_at: None,
        } => {
            tracing::info!(code = %error.code, message = %error.message, "failed for good")
        }
    }
}
