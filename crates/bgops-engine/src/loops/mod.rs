//! The engine's background loops, each a small struct with one `run` method and a shutdown
//! token, started and stopped in order by [`supervise`].

mod attempt;
mod claimer;
mod deliverer;
mod events;
mod job_runner;
mod pace;
mod reaper;
mod renewer;
mod sweeper;
mod worker;

pub(crate) use pace::Pace;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::engine::Inner;

/// Runs the loops until `shutdown`, then stops claiming, lets running attempts finish within
/// the grace period (renewing their leases meanwhile), and stops the rest.
pub async fn supervise(inner: Arc<Inner>, shutdown: CancellationToken) {
    let stop_claiming = CancellationToken::new();
    let stop_rest = CancellationToken::new();

    let claimer = tokio::spawn(
        claimer::Claimer::new(inner.clone(), stop_claiming.clone())
            .run()
            .instrument(tracing::info_span!("claimer")),
    );
    let renewer = tokio::spawn(
        renewer::Renewer::new(inner.clone(), stop_rest.clone())
            .run()
            .instrument(tracing::info_span!("lease_renewer")),
    );
    let reaper = tokio::spawn(
        reaper::Reaper::new(inner.clone(), stop_rest.clone())
            .run()
            .instrument(tracing::info_span!("lease_reaper")),
    );
    let sweeper = tokio::spawn(
        sweeper::Sweeper::new(inner.clone(), stop_rest.clone())
            .run()
            .instrument(tracing::info_span!("ttl_sweeper")),
    );
    // Stops with the rest, after running attempts finished: their callbacks are sent too.
    let deliverer = tokio::spawn(
        deliverer::Deliverer::new(inner.clone(), stop_rest.clone())
            .run()
            .instrument(tracing::info_span!("callback_deliverer")),
    );
    // Stops with the rest too: the jobs of operations ending in the grace period run as well.
    let job_runner = tokio::spawn(
        job_runner::JobRunner::new(inner.clone(), stop_rest.clone())
            .run()
            .instrument(tracing::info_span!("job_runner")),
    );

    // Stops with the rest: cancels from other nodes must reach attempts finishing in the grace
    // period.
    let relay = tokio::spawn(
        events::EventRelay::new(inner.clone(), stop_rest.clone())
            .run()
            .instrument(tracing::info_span!("event_relay")),
    );

    shutdown.cancelled().await;
    stop_claiming.cancel();
    let _ = claimer.await;

    let workers = u32::try_from(inner.config.workers.max(1)).unwrap_or(u32::MAX);
    let running = inner.lock_running().len();
    if running > 0 {
        tracing::info!(running, "waiting for running attempts to finish");
    }
    match tokio::time::timeout(
        inner.config.shutdown_grace,
        inner.workers.acquire_many(workers),
    )
    .await
    {
        Ok(_) => tracing::info!("all attempts finished"),
        Err(_) => tracing::warn!(
            grace = ?inner.config.shutdown_grace,
            "grace period over; unfinished attempts will be recovered when their leases expire"
        ),
    }
    stop_rest.cancel();
    for task in [renewer, reaper, sweeper, deliverer, job_runner, relay] {
        let _ = task.await;
    }
}

/// Sleeps for `d` unless `stop` fires first; returns false when stopped.
async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.cancelled() => false,
    }
}

/// A short pause after a storage error, so a broken database does not spin a loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(500);
