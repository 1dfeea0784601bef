//! `GET /metrics`: every metric in the OpenMetrics text format, for a scraper holding the
//! metrics token (`--metrics-token`; the route does not exist without one). The queue gauges
//! come from a summary read at most once per [`QUEUE_REFRESH`] whoever scrapes, from the
//! partial indexes of unfinished rows only, so scraping never scans the operations table.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bgops_core::{ApiError, Timestamp};
use bgops_store::QueueSummary;
use sha2::{Digest, Sha256};

use crate::error::{api_error_response, AppError};
use crate::state::AppState;

/// The oldest queue summary a scrape may show.
pub const QUEUE_REFRESH: Duration = Duration::from_secs(5);

/// How long a scrape waits for a fresh queue summary before answering with the last one.
const SUMMARY_WAIT: Duration = Duration::from_secs(2);

/// The last queue summary read, shared by every scrape and every dashboard.
#[derive(Debug, Default)]
pub struct QueueRefresh {
    /// The last summary, when it was read (to decide whether to read again) and as what time
    /// (to show).
    last: tokio::sync::Mutex<Option<(Instant, Timestamp, QueueSummary)>>,
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

/// The queue summary, read again when the last read is older than [`QUEUE_REFRESH`] (with
/// the gauges updated); concurrent callers wait for one read instead of each making their own.
/// `None` when it was never read successfully.
pub async fn queue_summary(state: &AppState) -> Option<(QueueSummary, Timestamp)> {
    let mut last = state.queue_refresh.last.lock().await;
    if let Some((at, read_at, summary)) = last.as_ref() {
        if at.elapsed() < QUEUE_REFRESH {
            return Some((summary.clone(), *read_at));
        }
    }
    let read = tokio::time::timeout(SUMMARY_WAIT, state.engine.store().queue_summary()).await;
    match read {
        Ok(Ok(summary)) => {
            let now = state.engine.clock().now();
            let age = summary
                .oldest_waiting
                .map(|t| Duration::from_millis(u64::try_from(now.0 - t.0).unwrap_or(0)))
                .unwrap_or_default();
            state.engine.config().metrics.queue(&summary, age);
            *last = Some((Instant::now(), now, summary));
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "reading the queue summary failed"),
        Err(_) => {
            tracing::warn!("reading the queue summary took too long; answering with the last one")
        }
    }
    last.as_ref().map(|(_, read_at, s)| (s.clone(), *read_at))
}
