//! One attempt: run the plug-in, decide the outcome, record it behind the attempt's fence.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bgops_core::{BackgroundOperation, OperationError};
use bgops_store::{AttemptOutcome, AttemptResult, Fence, Recorded};
use tokio_util::sync::CancellationToken;

use crate::engine::Inner;
use crate::outcome;
use crate::plugin::PluginContext;

/// How often a failed outcome write is tried before leaving the row to lease recovery.
const WRITE_TRIES: u32 = 5;

/// Runs the attempt of `op` (claimed, registered in `running` with `cancel`) and returns the
/// outcome to record. A row whose cancel request arrived before it started never runs.
pub async fn run(
    inner: &Arc<Inner>,
    op: &BackgroundOperation,
    cancel: CancellationToken,
) -> AttemptOutcome {
    let result = if cancel.is_cancelled() {
        AttemptResult::Canceled
    } else {
        match inner.registry.resolve(&op.name).await {
            Some(api) => {
                let ctx = PluginContext {
                    operation_id: Some(op.id),
                    message_name: op.name.clone(),
                    user_id: op.run_as,
                    attempt: u32::try_from(op.attempt).unwrap_or(u32::MAX),
                    inputs: outcome::stored_inputs(&api, &op.input_parameters),
                    cancel: cancel.clone(),
                    data: inner.data_access(op.run_as),
                    api: api.clone(),
                    timeout: inner.attempt_timeout(&api),
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
            None => AttemptResult::Failed {
                error: OperationError::plugin(
                    format!("Custom API {} no longer exists.", op.name),
                    true,
                ),
                retry_at: None,
            },
        }
    };
    log_result(&result);
    AttemptOutcome {
        id: op.id,
        fence: Fence::Attempt(op.attempt),
        now: inner.clock.now(),
        result,
    }
}

/// Records `outcome` (retrying storage errors), then forgets the attempt and wakes whatever
/// the write calls for: the claimer for a scheduled retry, the senders for notifications.
pub async fn record(inner: Arc<Inner>, outcome: AttemptOutcome) {
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
    if let Ok(mut running) = inner.running.lock() {
        running.remove(&id);
    }
    if retry && recorded.applied() {
        // The claimer recomputes when the next retry is due.
        inner.wake.notify_one();
    }
    if recorded.notify() {
        inner.operations_ended();
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
