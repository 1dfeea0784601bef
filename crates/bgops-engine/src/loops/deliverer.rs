//! The callback deliverer: sends the completion callbacks of the outbox (SPEC §9). Each due
//! delivery is claimed under a lease (renewed while it is sent), POSTed signed per Standard
//! Webhooks with the `webhook-id` it keeps across attempts, and its result recorded behind the
//! lease's fence: delivered on 2xx, retried per [`DeliverySchedule`] on network errors, 408,
//! 429 and 5xx, given up on any other answer or once the schedule's window has passed.
//!
//! The outbox row is written with the terminal state, so a crash at any point loses nothing:
//! an attempt whose node died is due again when its lease expires, and is sent again (receivers
//! drop duplicates by `webhook-id`).

use bgops_metrics::{DeliveryKind, DeliveryOutcome as MetricOutcome};
use std::sync::Arc;
use std::time::Duration;

use bgops_core::callback::{
    classify_status, parse_retry_after, AnswerClass, DeliverySchedule, DELIVERY_TIMEOUT,
};
use bgops_core::Timestamp;
use bgops_store::{
    CallbackDelivery, DeliveryClaimRequest, DeliveryLease, DeliveryOutcome, DeliveryResult,
};
use reqwest::header::RETRY_AFTER;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::ERROR_BACKOFF;
use crate::engine::Inner;
use crate::outbound::{Outbound, OutboundResponse, SendError};

/// Most deliveries sent at once by this node.
const MAX_IN_FLIGHT: usize = 32;

/// Longest sleep without a wake-up: picks up deliveries written by another process on the same
/// database, and retries whose time came.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// How long shutdown waits for deliveries being sent; one still running after it is sent again
/// by the next start, once its lease expires.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// How often a failed result write is tried before leaving the delivery to its lease.
const WRITE_TRIES: u32 = 5;

/// Sends completion callbacks.
pub struct Deliverer {
    inner: Arc<Inner>,
    stop: CancellationToken,
    /// One permit per delivery being sent.
    slots: Arc<Semaphore>,
}

impl Deliverer {
    /// A deliverer that stops when `stop` fires.
    pub fn new(inner: Arc<Inner>, stop: CancellationToken) -> Self {
        Self {
            inner,
            stop,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Runs until stopped, then waits (briefly) for deliveries being sent.
    pub async fn run(self) {
        let Some(outbound) = self.inner.config.outbound.clone() else {
            tracing::info!("no outbound HTTP client configured: callbacks stay in the outbox");
            self.stop.cancelled().await;
            return;
        };
        let mut sending = JoinSet::new();
        loop {
            while sending.try_join_next().is_some() {}
            let mut permits = Vec::new();
            while let Ok(p) = self.slots.clone().try_acquire_owned() {
                permits.push(p);
            }
            let mut sleep = IDLE_POLL;
            if !permits.is_empty() {
                let inner = &self.inner;
                let now = inner.clock.now();
                let req = DeliveryClaimRequest {
                    owner: inner.node.clone(),
                    now,
                    lease_until: now.plus(inner.config.lease),
                    limit: permits.len(),
                };
                match inner.store.claim_deliveries(req).await {
                    Ok(claim) => {
                        let full = claim.claimed.len() == permits.len();
                        for delivery in claim.claimed {
                            let Some(permit) = permits.pop() else { break };
                            let span = tracing::info_span!(
                                "callback",
                                operation = %delivery.operation_id,
                                attempt = delivery.attempts,
                                otel.kind = "client",
                                http.request.method = "POST",
                            );
                            if let Some(parent) = delivery.trace_parent {
                                crate::trace::set_parent(&span, parent);
                            }
                            let send = send_one(inner.clone(), outbound.clone(), delivery, permit);
                            sending.spawn(send.instrument(span));
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
                        tracing::error!(error = %e, "claiming callback deliveries failed");
                        sleep = ERROR_BACKOFF;
                    }
                }
            }
            let all_busy = permits.is_empty();
            drop(permits);
            tokio::select! {
                _ = self.inner.deliver.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                // Every slot taken: claim again as soon as one frees up.
                Some(_) = sending.join_next(), if all_busy => {}
                _ = self.stop.cancelled() => break,
            }
        }
        if !sending.is_empty() {
            let wait = async { while sending.join_next().await.is_some() {} };
            if tokio::time::timeout(SHUTDOWN_WAIT, wait).await.is_err() {
                tracing::warn!("callbacks still being sent are left to their leases");
            }
        }
    }
}

/// One attempt of `delivery` (already claimed): send it while renewing its lease, decide what
/// the answer means, record that.
async fn send_one(
    inner: Arc<Inner>,
    outbound: Arc<Outbound>,
    delivery: CallbackDelivery,
    _permit: OwnedSemaphorePermit,
) {
    let lease = delivery.lease(&inner.node);
    let sending = std::time::Instant::now();
    let sent = match outbound.parse_url(&delivery.url) {
        Ok(url) => {
            let body = delivery.payload().to_json_bytes();
            let post = async {
                let mut request = outbound.signed_post(&url, &delivery.webhook_id, body)?;
                if let Some(tp) = crate::trace::outgoing(delivery.trace_parent) {
                    request = request.header(crate::trace::TRACEPARENT, tp.to_string());
                }
                outbound.send(request, DELIVERY_TIMEOUT).await
            };
            renewing(&inner, &lease, post).await
        }
        Err(e) => Err(SendError::Refused(e)),
    };
    let took = sending.elapsed();
    let now = inner.clock.now();
    let result = decide(&inner, &delivery, sent, now);
    let counted = match &result {
        DeliveryResult::Delivered => {
            tracing::info!("callback delivered");
            MetricOutcome::delivered
        }
        DeliveryResult::Retry { at, error } => {
            tracing::warn!(%error, retry_at = %at, "callback not delivered; will retry");
            MetricOutcome::retry
        }
        DeliveryResult::GaveUp { error } => {
            tracing::warn!(%error, "callback not delivered; given up");
            MetricOutcome::failed
        }
    };
    inner
        .config
        .metrics
        .delivery(DeliveryKind::callback, counted, took);
    let outcome = DeliveryOutcome { lease, now, result };
    for n in 1..=WRITE_TRIES {
        match inner.store.record_delivery(outcome.clone()).await {
            Ok(true) => return,
            Ok(false) => {
                tracing::warn!("callback result dropped: the delivery was taken back meanwhile");
                return;
            }
            Err(e) if n < WRITE_TRIES => {
                tracing::warn!(error = %e, "recording the callback result failed; trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(n))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "recording the callback result failed; it will be sent again when its lease expires")
            }
        }
    }
}

/// Runs `send`, extending `lease` every third of the lease meanwhile, so a slow receiver does
/// not let another node send the same callback.
async fn renewing<F>(inner: &Inner, lease: &DeliveryLease, send: F) -> F::Output
where
    F: std::future::Future,
{
    let every = (inner.config.lease / 3).max(Duration::from_millis(50));
    tokio::pin!(send);
    loop {
        tokio::select! {
            out = &mut send => return out,
            _ = tokio::time::sleep(every) => {
                let until = inner.clock.now().plus(inner.config.lease);
                match inner.store.renew_delivery(lease.clone(), until).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("callback lease lost; its result will be dropped"),
                    Err(e) => tracing::warn!(error = %e, "renewing a callback lease failed"),
                }
            }
        }
    }
}

/// What an attempt's answer means for the delivery.
fn decide(
    inner: &Inner,
    delivery: &CallbackDelivery,
    sent: Result<OutboundResponse, SendError>,
    now: Timestamp,
) -> DeliveryResult {
    let (error, retry_after) = match sent {
        Ok(answer) => {
            let status = answer.status;
            match classify_status(status.as_u16()) {
                AnswerClass::Delivered => return DeliveryResult::Delivered,
                AnswerClass::Refused if status.is_redirection() => {
                    return DeliveryResult::GaveUp {
                        error: format!("HTTP {status} (redirects are not followed)"),
                    }
                }
                AnswerClass::Refused => {
                    return DeliveryResult::GaveUp {
                        error: format!("HTTP {status}"),
                    }
                }
                AnswerClass::Retryable => {
                    let retry_after = answer
                        .headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, now));
                    (format!("HTTP {status}"), retry_after)
                }
            }
        }
        // The URL or the addresses its host resolves to are not allowed (any more).
        Err(e @ SendError::Refused(_)) => {
            return DeliveryResult::GaveUp {
                error: e.to_string(),
            }
        }
        Err(e) => (e.to_string(), None),
    };
    let schedule = DeliverySchedule::new(inner.config.retry_base_delay);
    let attempts = u32::try_from(delivery.attempts.max(1)).unwrap_or(u32::MAX);
    let first = delivery.first_attempt_at.unwrap_or(now);
    match schedule.next_attempt(attempts, first, now, retry_after, inner.jitter.as_ref()) {
        Some(at) => DeliveryResult::Retry { at, error },
        None => DeliveryResult::GaveUp {
            error: format!("{error} (retried for {:?}; given up)", schedule.window),
        },
    }
}
