//! One attempt: run the plug-in, decide the outcome, record it behind the attempt's fence.

use std::sync::Arc;
use std::time::Duration;

use bgops_core::{BackgroundOperation, OperationError};
use bgops_store::{AttemptOutcome, AttemptResult, Fence};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::engine::{Inner, Running};
use crate::outcome;
use crate::plugin::PluginContext;

/// How often a failed outcome write is tried before leaving the row to lease recovery.
const WRITE_TRIES: u32 = 5;

/// Starts an attempt of `op` (already claimed) holding a worker `permit`.
pub fn spawn(inner: Arc<Inner>, op: BackgroundOperation, permit: OwnedSemaphorePermit) {
    let span =
        tracing::info_span!("attempt", operation = %op.id, name = %op.name, attempt = op.attempt);
    tokio::spawn(
        async move {
            run(&inner, op).await;
            drop(permit);
        }
        .instrument(span),
    );
}

async fn run(inner: &Arc<Inner>, op: BackgroundOperation) {
    let cancel = CancellationToken::new();
    if let Ok(mut running) = inner.running.lock() {
        running.insert(
            op.id,
            Running {
                attempt: op.attempt,
                cancel: cancel.clone(),
            },
        );
    }
    let result = match inner.registry.resolve(&op.name).await {
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
            outcome::decide(
                &op,
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
    };
    let retry = matches!(
        result,
        AttemptResult::Failed {
            retry_at: Some(_),
            ..
        }
    );
    log_result(&result);
    let outcome = AttemptOutcome {
        id: op.id,
        fence: Fence::Attempt(op.attempt),
        now: inner.clock.now(),
        result,
    };
    for n in 1..=WRITE_TRIES {
        match inner.store.record_outcome(outcome.clone()).await {
            Ok(true) => break,
            Ok(false) => {
                tracing::warn!(
                    "attempt result dropped: the row was taken back or changed meanwhile"
                );
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
        running.remove(&op.id);
    }
    if retry {
        // The claimer recomputes when the next retry is due.
        inner.wake.notify_one();
    } else {
        inner.operations_ended();
    }
}

fn log_result(result: &AttemptResult) {
    match result {
        // Success is the common case: logged at DEBUG so a busy node does not spend its time
        // writing one line per operation.
        AttemptResult::Succeeded { .. } => tracing::debug!("succeeded"),
        AttemptResult::Canceled => tracing::info!("canceled while running"),
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
