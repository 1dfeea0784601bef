//! The callback outbox as the engine sees it (SPEC §9): a delivery row is written in the same
//! transaction as its operation's terminal state; the delivery loop claims due rows under a
//! lease, sends them, and records each attempt's result behind a fence.

use bgops_core::callback::CallbackPayload;
use bgops_core::{OperationId, OperationStatus, Timestamp};

use crate::NodeId;

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt, or being sent.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Given up: refused by the receiver, or retried past the schedule's window.
    Failed,
}

impl DeliveryStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The status for a stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A completion callback in the outbox, with what its payload needs and its delivery record.
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackDelivery {
    /// The delivery's own id.
    pub id: uuid::Uuid,
    /// The operation that finished.
    pub operation_id: OperationId,
    /// Where to POST (passed the URL rules at submission; checked again at each connection).
    pub url: String,
    /// The status monitor URL sent in the payload.
    pub location: String,
    /// The operation's terminal status.
    pub operation_status: OperationStatus,
    /// The operation's `errorcode`, for Failed only.
    pub error_code: Option<i32>,
    /// The operation's `errormessage`, for Failed only.
    pub error_message: Option<String>,
    /// The `webhook-id` header: the same on every attempt, so receivers can drop duplicates.
    pub webhook_id: String,
    /// The operation's W3C trace context, sent on as `traceparent`.
    pub trace_parent: Option<bgops_core::TraceParent>,
    /// Attempts started so far (the one just claimed included).
    pub attempts: i64,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// When a pending delivery is next due (while an attempt runs: when its lease expires).
    pub next_attempt_at: Option<Timestamp>,
    /// When the first attempt started: the retry window counts from it.
    pub first_attempt_at: Option<Timestamp>,
    /// The last failed attempt's error (kept once delivered, for diagnostics).
    pub last_error: Option<String>,
    /// When the operation reached its terminal state.
    pub created_on: Timestamp,
    /// When a receiver accepted it.
    pub delivered_on: Option<Timestamp>,
}

impl CallbackDelivery {
    /// The body to POST.
    pub fn payload(&self) -> CallbackPayload {
        let error = match (self.error_code, &self.error_message) {
            (Some(code), Some(message)) => Some((code, message.clone())),
            (Some(code), None) => Some((code, String::new())),
            _ => None,
        };
        CallbackPayload::new(
            self.location.clone(),
            self.operation_id,
            self.operation_status,
            error,
        )
    }

    /// The lease this (claimed) delivery's attempt holds.
    pub fn lease(&self, owner: &NodeId) -> DeliveryLease {
        DeliveryLease {
            id: self.id,
            attempt: self.attempts,
            owner: owner.clone(),
        }
    }
}

/// A request to claim due deliveries.
#[derive(Clone, Debug)]
pub struct DeliveryClaimRequest {
    /// The claiming node.
    pub owner: NodeId,
    /// Now: deliveries due at or before it are claimed.
    pub now: Timestamp,
    /// When the leases taken expire unless renewed; an attempt whose node died is due again
    /// then.
    pub lease_until: Timestamp,
    /// The most deliveries to claim.
    pub limit: usize,
}

/// What a claim of deliveries did.
#[derive(Clone, Debug, Default)]
pub struct DeliveryClaim {
    /// Deliveries now leased to the caller, `attempts` counting the attempt about to start,
    /// longest due first.
    pub claimed: Vec<CallbackDelivery>,
    /// The earliest time after `now` that a pending delivery becomes due, if any (deliveries
    /// already due but left out by `limit` are not counted: claim again at once).
    pub next_due: Option<Timestamp>,
}

/// The fence of one delivery attempt: only its holder may renew it or record its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryLease {
    /// The delivery.
    pub id: uuid::Uuid,
    /// The attempt number given by the claim.
    pub attempt: i64,
    /// The node that claimed it.
    pub owner: NodeId,
}

/// How a delivery attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryResult {
    /// The receiver answered 2xx: the delivery is done.
    Delivered,
    /// The attempt failed; the delivery is due again at `at`.
    Retry {
        /// When to try again.
        at: Timestamp,
        /// What went wrong.
        error: String,
    },
    /// The delivery is given up (refused, or out of its retry window).
    GaveUp {
        /// What went wrong last.
        error: String,
    },
}

/// A delivery attempt's result to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// Who may write it: applies only while the delivery is pending with this attempt and owner.
    pub lease: DeliveryLease,
    /// The time of the write.
    pub now: Timestamp,
    /// The result.
    pub result: DeliveryResult,
}
