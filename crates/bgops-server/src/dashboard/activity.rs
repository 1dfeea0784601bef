//! The overview's activity: operations finished per minute over the last hour (throughput and
//! failure rate) and the nodes holding leases, kept here and read again in the background at
//! most every [`REFRESH`] while someone looks, shared by every viewer.
//!
//! The per-minute counts are cheap to keep fresh: a minute that has passed does not change, so
//! after the first read of the hour each refresh reads only the minutes since the last complete
//! one (the current and the previous minute, for attempts committed a little after their end
//! time), from the `endtime` index alone. Minutes older than an hour are dropped.
//!
//! There is no node table: the nodes shown are the current lease owners on operations, with
//! their latest lease expiry (a node renews its leases while it runs attempts, so an expiry
//! in the past means the node stopped renewing). A node with no attempt running is not shown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgops_core::{OperationStatus, Timestamp};
use bgops_store::{FinishedBucket, LeaseHolder};
use serde_json::{json, Value};

use crate::state::AppState;

/// The oldest activity a viewer may see.
pub const REFRESH: Duration = Duration::from_secs(5);

/// How long a read may take before the last activity is shown instead.
const READ_WAIT: Duration = Duration::from_secs(2);

/// One minute, in milliseconds.
const MINUTE: i64 = 60_000;

/// The minutes shown.
const MINUTES: i64 = 60;

/// The activity, shared by every viewer.
#[derive(Debug, Default)]
pub struct Activity {
    /// The counts, held by the one read that runs at a time.
    inner: Arc<tokio::sync::Mutex<Inner>>,
    /// What viewers are shown: the last read's JSON and when that read ended.
    shown: std::sync::Mutex<Option<(Instant, Value)>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Finished operations by minute start.
    minutes: BTreeMap<i64, Vec<FinishedBucket>>,
    /// Minutes before this one are complete and need no second read.
    complete_before: Option<i64>,
    /// Lease holders at the last read.
    nodes: Vec<LeaseHolder>,
    /// The time of the last read.
    now: Option<Timestamp>,
}

impl Activity {
    /// The activity as JSON for the summary: `{"minutes": [...], "byApi": [...], "nodes": [...]}`.
    /// Older than [`REFRESH`], the last one is shown while one read in the background (started
    /// by the first viewer to find it old) replaces it: no viewer waits for the database while
    /// someone watches, and nothing is read while no one looks. The first viewer, and the
    /// first after [`crate::routes::metrics::MAX_STALE`] without any, waits for a read. A
    /// failed or slow read leaves the last one.
    pub async fn read(&self, state: &AppState) -> Value {
        let max_stale = crate::routes::metrics::MAX_STALE;
        match self.shown().filter(|(at, _)| at.elapsed() < max_stale) {
            Some((at, shown)) => {
                if at.elapsed() >= REFRESH {
                    if let Ok(inner) = self.inner.clone().try_lock_owned() {
                        let state = state.clone();
                        tokio::spawn(async move {
                            let mut inner = inner;
                            state.activity.refresh(&state, &mut inner).await;
                        });
                    }
                }
                shown
            }
            None => {
                let mut inner = self.inner.lock().await;
                if self.shown().is_none_or(|(at, _)| at.elapsed() >= max_stale) {
                    self.refresh(state, &mut inner).await;
                }
                self.shown()
                    .map_or_else(|| inner.to_json(), |(_, shown)| shown)
            }
        }
    }

    fn shown(&self) -> Option<(Instant, Value)> {
        self.shown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads what changed since the last read into `inner` and shows it.
    async fn refresh(&self, state: &AppState, inner: &mut Inner) {
        let now = state.engine.clock().now();
        match tokio::time::timeout(READ_WAIT, inner.refresh(state, now)).await {
            Ok(Ok(())) => {
                let json = inner.to_json();
                *self
                    .shown
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((Instant::now(), json));
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "reading the dashboard's activity failed"),
            Err(_) => tracing::warn!("reading the dashboard's activity took too long"),
        }
    }
}

impl Inner {
    async fn refresh(
        &mut self,
        state: &AppState,
        now: Timestamp,
    ) -> Result<(), bgops_store::StoreError> {
        let store = state.engine.store();
        let this_minute = now.0.div_euclid(MINUTE) * MINUTE;
        let first = this_minute - (MINUTES - 1) * MINUTE;
        let from = self.complete_before.unwrap_or(first).max(first);
        let read = store.finished_per_minute(Timestamp(from), now).await?;
        let nodes = store.lease_holders().await?;
        self.minutes.retain(|m, _| *m >= first && *m < from);
        for bucket in read {
            self.minutes.entry(bucket.minute).or_default().push(bucket);
        }
        self.complete_before = Some(this_minute - MINUTE);
        self.nodes = nodes;
        self.now = Some(now);
        Ok(())
    }

    fn to_json(&self) -> Value {
        let Some(now) = self.now else {
            return json!({ "minutes": [], "byApi": [], "nodes": [] });
        };
        let this_minute = now.0.div_euclid(MINUTE) * MINUTE;
        let outcome = |b: &[&FinishedBucket], s: OperationStatus| -> u64 {
            b.iter().filter(|x| x.status == s).map(|x| x.count).sum()
        };
        let counts = |b: &[&FinishedBucket]| {
            json!({
                "succeeded": outcome(b, OperationStatus::Succeeded),
                "failed": outcome(b, OperationStatus::Failed),
                "canceled": outcome(b, OperationStatus::Canceled),
            })
        };
        let minutes: Vec<Value> = (0..MINUTES)
            .map(|i| {
                let m = this_minute - (MINUTES - 1 - i) * MINUTE;
                let b: Vec<&FinishedBucket> = self.minutes.get(&m).into_iter().flatten().collect();
                let mut v = counts(&b);
                v["minute"] = json!(Timestamp(m).to_dataverse());
                v
            })
            .collect();
        let mut apis: BTreeMap<&str, Vec<&FinishedBucket>> = BTreeMap::new();
        for b in self.minutes.values().flatten() {
            apis.entry(b.name.as_str()).or_default().push(b);
        }
        let by_api: Vec<Value> = apis
            .iter()
            .map(|(name, b)| {
                let mut v = counts(b);
                v["name"] = json!(name);
                v
            })
            .collect();
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "node": n.owner,
                    "leases": n.leases,
                    "latestLeaseExpiry": n.latest_expiry.to_dataverse(),
                    "expired": n.latest_expiry.0 < now.0,
                })
            })
            .collect();
        json!({ "minutes": minutes, "byApi": by_api, "nodes": nodes })
    }
}
