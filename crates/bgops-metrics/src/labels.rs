//! Label sets, and the guard that keeps label values few: a metric's series multiply with
//! each distinct value, so names that come from users (custom APIs, tables) are capped.

use std::collections::HashSet;
use std::sync::RwLock;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};

/// The label value that stands for every name past the cap.
pub const OTHER: &str = "_other";

/// Distinct names seen so far, up to a cap; later new names map to [`OTHER`].
#[derive(Debug)]
pub struct BoundedNames {
    /// Names given a series of their own.
    seen: RwLock<HashSet<String>>,
    /// The most names kept.
    cap: usize,
}

impl BoundedNames {
    /// At most `cap` distinct names.
    pub fn new(cap: usize) -> Self {
        Self {
            seen: RwLock::new(HashSet::new()),
            cap,
        }
    }

    /// `name` if it has (or may still get) a series of its own, else [`OTHER`].
    pub fn label(&self, name: &str) -> String {
        {
            let seen = self.seen.read().unwrap_or_else(|e| e.into_inner());
            if seen.contains(name) {
                return name.to_owned();
            }
            if seen.len() >= self.cap {
                return OTHER.to_owned();
            }
        }
        let mut seen = self.seen.write().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= self.cap && !seen.contains(name) {
            return OTHER.to_owned();
        }
        seen.insert(name.to_owned());
        name.to_owned()
    }
}

/// `api`: a custom API's unique name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// The custom API (capped).
    pub api: String,
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// 3/30.
    succeeded,
    /// 3/31.
    failed,
    /// 3/32.
    canceled,
}

/// `api` and `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FinishedLabels {
    /// The custom API (capped).
    pub api: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// `api` and whether the failed attempt will be retried.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailedLabels {
    /// The custom API (capped).
    pub api: String,
    /// `true` when a retry was scheduled, `false` when the operation failed for good.
    pub retried: bool,
}

/// What an outbound POST was.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DeliveryKind {
    /// A completion callback (SPEC §9).
    callback,
    /// An OnBackgroundOperationComplete webhook (a system job).
    webhook,
}

/// How one delivery attempt ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    delivered,
    /// It failed; another try is scheduled.
    retry,
    /// It failed for good.
    failed,
}

/// `kind` and `outcome` of a delivery attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Callback or webhook.
    pub kind: DeliveryKind,
    /// How it ended.
    pub outcome: DeliveryOutcome,
}

/// `kind` of a delivery.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Callback or webhook.
    pub kind: DeliveryKind,
}

/// `state` and `status` of unfinished operations (the Dataverse labels, lower-case, with
/// underscores).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `ready` or `locked`.
    pub state: &'static str,
    /// `waiting_for_resources`, `in_progress` or `canceling`.
    pub status: &'static str,
}

/// An HTTP request: its method, route template and status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The method (`GET`, `POST`, …; others as `other`).
    pub method: &'static str,
    /// The route: a template, with the Web API's `{segment}` named when it is a known table or
    /// custom API (capped), never a raw path.
    pub route: String,
    /// The status code.
    pub status: u16,
}

/// `method` and `route` of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// As in [`HttpLabels`].
    pub method: &'static str,
    /// As in [`HttpLabels`].
    pub route: String,
}

/// The storage backend of a writer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_cap_share_one_series() {
        let names = BoundedNames::new(2);
        assert_eq!(names.label("a"), "a");
        assert_eq!(names.label("b"), "b");
        assert_eq!(names.label("c"), OTHER);
        assert_eq!(names.label("a"), "a");
    }
}
