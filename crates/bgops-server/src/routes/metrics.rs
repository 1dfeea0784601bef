//! `GET /metrics`: every metric in the OpenMetrics text format, for a scraper holding the
//! metrics token (`--metrics-token`; the route does not exist without one). The queue gauges
//! come from a summary read at most once per [`QUEUE_REFRESH`] whoever scrapes, in the background
//! (a scrape answers with the last one), from the partial indexes of unfinished rows only, so
//! scraping never scans the operations table nor waits for it.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bgops_core::{ApiError, Timestamp};
use bgops_store::QueueSummary;
use sha2::{Digest, Sha256};

use crate::error::{api_error_response, AppError};
use crate::state::AppState;

/// Past this age a queue summary is read again (in the background: see [`queue_summary`]).
pub const QUEUE_REFRESH: Duration = Duration::from_secs(5);

/// The oldest summary answered without waiting for a read: past it (no one asked for a while),
/// the caller waits for a fresh one rather than see counts from long ago.
pub const MAX_STALE: Duration = Duration::from_secs(60);

/// How long a queue summary read may take; a slower one is given up and the last summary kept.
const SUMMARY_WAIT: Duration = Duration::from_secs(2);

/// The last queue summary read, shared by every scrape and every dashboard.
#[derive(Debug, Default)]
pub struct QueueRefresh {
    /// The last summary, when it was read (to decide whether to read again) and as what time
    /// (to show).
    last: std::sync::Mutex<Option<(Instant, Timestamp, QueueSummary)>>,
    /// Held while a read runs: one read at a time, however many ask.
    reading: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl QueueRefresh {
    fn last(&self) -> Option<(Instant, Timestamp, QueueSummary)> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Answers the metrics to a caller with the metrics token.
pub async fn metrics(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    let Some(want) = state.config.metrics_token_hash else {
        return Err(ApiError::unknown_segment("metrics").into());
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Sha256::digest(t.trim().as_bytes()));
    // Hashes of equal length compared in full: the time taken says nothing about the token.
    let matches = given.is_some_and(|g| {
        g.iter()
            .zip(want.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    });
    if !matches {
        return Ok(api_error_response(&ApiError::unauthenticated()));
    }
    queue_summary(&state).await;
    let body = state.engine.config().metrics.encode();
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(bgops_metrics::CONTENT_TYPE),
    );
    Ok(resp)
}

/// The queue summary. Younger than [`QUEUE_REFRESH`], the last one read; older, still the last
/// one, while one read in the background (started by the first caller to find it old, whoever
/// else asks meanwhile) replaces it — so no request waits for the database while someone
/// watches, and nothing is read while no one asks. The first caller, and the first after
/// [`MAX_STALE`] without any, waits for a read. The gauges are updated with every read. `None`
/// when it was never read successfully.
pub async fn queue_summary(state: &AppState) -> Option<(QueueSummary, Timestamp)> {
    let refresh = &state.queue_refresh;
    match refresh.last().filter(|(at, _, _)| at.elapsed() < MAX_STALE) {
        Some((at, read_at, summary)) => {
            if at.elapsed() >= QUEUE_REFRESH {
                if let Ok(reading) = refresh.reading.clone().try_lock_owned() {
                    let state = state.clone();
                    tokio::spawn(async move {
                        read_summary(&state).await;
                        drop(reading);
                    });
                }
            }
            Some((summary, read_at))
        }
        None => {
            let _reading = refresh.reading.lock().await;
            if refresh
                .last()
                .is_none_or(|(at, _, _)| at.elapsed() >= MAX_STALE)
            {
                read_summary(state).await;
            }
            refresh.last().map(|(_, read_at, s)| (s, read_at))
        }
    }
}

/// Reads the queue summary, updates the gauges and keeps it; a failed or slow read keeps the
/// last one (and says so in the log).
async fn read_summary(state: &AppState) {
    let read = tokio::time::timeout(SUMMARY_WAIT, state.engine.store().queue_summary()).await;
    match read {
        Ok(Ok(summary)) => {
            let now = state.engine.clock().now();
            let age = summary
                .oldest_waiting
                .map(|t| Duration::from_millis(u64::try_from(now.0 - t.0).unwrap_or(0)))
                .unwrap_or_default();
            state.engine.config().metrics.queue(&summary, age);
            *state
                .queue_refresh
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((Instant::now(), now, summary));
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "reading the queue summary failed"),
        Err(_) => {
            tracing::warn!("reading the queue summary took too long; answering with the last one")
        }
    }
}
