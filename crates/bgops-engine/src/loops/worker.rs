//! A worker: holds one permit and runs reserved rows one after another, first the one it was
//! started with, then any claimed ahead, until none is left.
//!
//! A worker does not wait for an outcome's commit before starting the next row: the write is
//! handed to its own task, so the outcomes of many attempts share one commit (the store's group
//! commit). The permit is given back only once every outcome the worker produced is recorded,
//! so shutdown, which waits for every permit, waits for those writes too.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::attempt;
use crate::engine::{Claimed, Inner};

/// Starts a worker on `first`, holding `permit`.
pub fn spawn(inner: Arc<Inner>, first: Claimed, permit: OwnedSemaphorePermit) {
    tokio::spawn(async move {
        let mut writes = JoinSet::new();
        let mut next = Some(first);
        loop {
            while let Some(claimed) = next {
                let op = claimed.op;
                let span = tracing::info_span!(
                    "attempt",
                    operation = %op.id,
                    name = %op.name,
                    attempt = op.attempt + 1,
                    // OpenTelemetry messaging conventions: a consumer processing one message.
                    otel.name = %format_args!("process {}", op.name),
                    otel.kind = "consumer",
                    messaging.system = "bgops",
                    messaging.operation.type = "process",
                    messaging.destination.name = %op.name,
                    messaging.message.id = %op.id,
                );
                if let Some(parent) = op.trace_parent {
                    crate::trace::set_parent(&span, parent);
                }
                let finished = attempt::run(&inner, &op, claimed.cancel)
                    .instrument(span.clone())
                    .await;
                if let Some(finished) = finished {
                    writes.spawn(attempt::record(inner.clone(), finished).instrument(span));
                }
                while writes.try_join_next().is_some() {}
                next = take_next(&inner);
            }
            while writes.join_next().await.is_some() {}
            // Rows may have been claimed ahead while the last writes were committing.
            next = take_next(&inner);
            if next.is_none() {
                break;
            }
        }
        drop(permit);
    });
}

/// The oldest row claimed ahead, if any; wakes the claimer when the queue runs low.
fn take_next(inner: &Inner) -> Option<Claimed> {
    let mut ready = inner.lock_ready();
    let next = ready.pop_front()?;
    // Once when it falls to half the target, once when it is empty.
    let low = inner.pace.ahead(std::time::Instant::now()) / 2;
    if ready.len() == low || ready.is_empty() {
        inner.wake.notify_one();
    }
    Some(next)
}
