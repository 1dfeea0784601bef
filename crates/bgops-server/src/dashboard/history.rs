//! `GET /api/dashboard/operations/{id}/history`: what the dashboard's operation page shows
//! beyond the row itself (SPEC §15) — every attempt with its times and error, the callback
//! deliveries with each failed try, the OnBackgroundOperationComplete system jobs, and when the
//! row's time to live runs out.
//!
//! It reads through the same service call as the status monitor (`bgops_engine::access`): a
//! caller without Read on `backgroundoperation` gets the same 403, and an operation outside its
//! depth (or absent) the same 404. System jobs are listed as far as the caller may read
//! `asyncoperation`. Callback URLs are shown without their query string, fragment or user
//! information, which may carry secrets (a signature, a token).
//!
//! The answer:
//! ```json
//! {
//!   "backgroundOperationId": "…", "name": "…", "backgroundOperationStatusCode": 30,
//!   "attempt": 2, "retryCount": 1, "maxRetries": 3,
//!   "ttlInSeconds": 3600, "expiresOn": "…",
//!   "attempts": [{"attempt": 1, "outcome": "Failed", "startedOn": "…", "endedOn": "…",
//!                 "errorCode": -2147220891, "errorMessage": "…", "node": "…"}, …],
//!   "attemptsKept": 20,
//!   "deliveries": [{"callbackDeliveryId": "…", "url": "https://host/path", "status": "delivered",
//!                   "attempts": 2, "firstAttemptOn": "…", "deliveredOn": "…",
//!                   "nextAttemptOn": null, "lastError": "…", "webhookId": "msg_…",
//!                   "tries": [{"attempt": 1, "startedOn": "…", "endedOn": "…",
//!                              "error": "…", "node": "…"}]}],
//!   "systemJobs": [{"asyncOperationId": "…", "name": "…", "stepId": "…", "stateCode": 3,
//!                   "statusCode": 31, "attempts": 3, "retryCount": 2, "errorCode": …,
//!                   "message": "…", "startedOn": "…", "completedOn": "…"}]
//! }
//! ```
//! Times are UTC with milliseconds. The failed attempts come from the row's history (the last
//! [`bgops_store::HISTORY_CAP`]); the last attempt, when it did not fail, is added from the row:
//! its end is the row's `endtime`, its start known for a first attempt or one still running.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bgops_core::{ApiError, BackgroundOperation, OperationStatus, Timestamp};
use bgops_store::{DeliveryHistory, OperationHistory, SystemJobSummary, HISTORY_CAP};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::AppError;
use crate::routes::status_monitor;
use crate::state::AppState;

/// The route of the history read.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/dashboard/operations/{id}/history", get(history))
}

/// `GET /api/dashboard/operations/{id}/history`.
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = status_monitor::parse_id(&raw)?;
    // A row outside the caller's depth is not found, exactly as an absent one.
    let history = caller
        .access(&state)
        .operation_history(id)
        .await?
        .ok_or_else(|| ApiError::item_not_found(id))?;
    Ok(crate::response::json(StatusCode::OK, &to_json(&history)))
}

/// A time as the page shows it: UTC, with milliseconds.
fn time(t: Timestamp) -> String {
    let whole = Timestamp(t.0.div_euclid(1000) * 1000).to_dataverse();
    let ms = t.0.rem_euclid(1000);
    match whole.strip_suffix('Z') {
        Some(s) => format!("{s}.{ms:03}Z"),
        None => whole,
    }
}

fn opt_time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(time(t)))
}

/// A callback URL without what may be secret: user information, query string and fragment.
fn shown_callback_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

fn to_json(h: &OperationHistory) -> Value {
    let op = &h.operation;
    json!({
        "backgroundOperationId": op.id.to_string(),
        "name": op.name,
        "backgroundOperationStatusCode": op.status.code(),
        "attempt": op.attempt,
        "retryCount": op.retry_count,
        "maxRetries": op.max_retries,
        "ttlInSeconds": op.ttl_seconds,
        // The sweep deletes a row once its time to live has passed since its last change.
        "expiresOn": time(Timestamp(op.modified_on.0.saturating_add(op.ttl_seconds.saturating_mul(1000)))),
        "attempts": attempts(h),
        "attemptsKept": HISTORY_CAP,
        "deliveries": h.deliveries.iter().map(delivery).collect::<Vec<_>>(),
        "systemJobs": h.system_jobs.iter().map(job).collect::<Vec<_>>(),
    })
}

/// The failed attempts, then the last one when it did not fail (running, succeeded, canceled).
fn attempts(h: &OperationHistory) -> Vec<Value> {
    let mut out: Vec<Value> = h
        .attempts
        .iter()
        .map(|a| {
            json!({
                "attempt": a.attempt,
                "outcome": "Failed",
                "startedOn": opt_time(a.started),
                "endedOn": time(a.ended),
                "errorCode": a.error_code,
                "errorMessage": a.error_message,
                "node": a.owner,
            })
        })
        .collect();
    let op = &h.operation;
    let recorded = h.attempts.last().map_or(0, |a| a.attempt);
    if op.attempt > recorded && op.attempt > 0 {
        out.push(last_attempt(op, h.last_attempt_started));
    }
    out
}

/// The row's last attempt, which is not in its history of failures; `started` as its start
/// write recorded it (rows written before that column existed: the first attempt's
/// `starttime`, or `modifiedon` while it runs, which its start wrote).
fn last_attempt(op: &BackgroundOperation, started: Option<Timestamp>) -> Value {
    let started = started.or(if op.attempt == 1 {
        op.start_time
    } else if op.status == OperationStatus::InProgress {
        Some(op.modified_on)
    } else {
        None
    });
    let failed = op.status == OperationStatus::Failed;
    json!({
        "attempt": op.attempt,
        "outcome": op.status.label(),
        "startedOn": opt_time(started),
        "endedOn": opt_time(op.status.is_terminal().then_some(op.end_time).flatten()),
        "errorCode": if failed { op.error_code } else { None },
        "errorMessage": if failed { op.error_message.clone() } else { None },
        "node": Value::Null,
    })
}

fn delivery(d: &DeliveryHistory) -> Value {
    let c = &d.delivery;
    json!({
        "callbackDeliveryId": c.id.to_string(),
        "url": shown_callback_url(&c.url),
        "status": c.status.as_str(),
        "attempts": c.attempts,
        "firstAttemptOn": opt_time(c.first_attempt_at),
        "deliveredOn": opt_time(c.delivered_on),
        "nextAttemptOn": if c.status == bgops_store::DeliveryStatus::Pending {
            opt_time(c.next_attempt_at)
        } else {
            Value::Null
        },
        "lastError": c.last_error,
        "webhookId": c.webhook_id,
        "tries": d.tries.iter().map(|t| json!({
            "attempt": t.attempt,
            "startedOn": opt_time(t.started),
            "endedOn": time(t.ended),
            "error": t.error,
            "node": t.owner,
        })).collect::<Vec<_>>(),
    })
}

fn job(j: &SystemJobSummary) -> Value {
    json!({
        "asyncOperationId": j.id.to_string(),
        "name": j.name,
        "stepId": j.step_id.map(|s| s.to_string()),
        "stateCode": j.state_code,
        "statusCode": j.status_code,
        "attempts": j.attempts,
        "retryCount": j.retry_count,
        "errorCode": j.error_code,
        "message": j.message,
        "startedOn": opt_time(j.started_on),
        "completedOn": opt_time(j.completed_on),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_lose_query_fragment_and_user_information() {
        for (given, shown) in [
            ("https://h.example/cb?sig=abc", "https://h.example/cb"),
            (
                "https://u:p@h.example:8443/a/b#frag",
                "https://h.example:8443/a/b",
            ),
            ("https://h.example?x=1", "https://h.example"),
            ("http://127.0.0.1:9/", "http://127.0.0.1:9/"),
            ("https://h.example/p@q", "https://h.example/p@q"),
        ] {
            assert_eq!(shown_callback_url(given), shown, "{given}");
        }
    }

    #[test]
    fn times_carry_milliseconds() {
        assert_eq!(
            time(Timestamp(1_700_000_000_042)),
            "2023-11-14T22:13:20.042Z"
        );
        assert_eq!(
            time(Timestamp(1_700_000_000_000)),
            "2023-11-14T22:13:20.000Z"
        );
    }
}
