//! SQL for the callback outbox on PostgreSQL: the same contract as `sqlite/outbox.rs` (the
//! conformance suite's `conformance_callbacks` cases).

use super::db::Db;
use bgops_core::Timestamp;

use crate::deliveries::*;
use crate::StoreError;

fn todo() -> StoreError {
    StoreError::Backend("not yet implemented on PostgreSQL".to_owned())
}

/// Writes the callback delivery of operation `id` if it has a callback URL (called in the
/// transaction that makes it terminal); returns whether one was written.
pub async fn enqueue(_c: &dyn Db, _id: &str, _now: Timestamp) -> Result<bool, StoreError> {
    Err(todo())
}

pub async fn claim(_c: &dyn Db, _req: &DeliveryClaimRequest) -> Result<DeliveryClaim, StoreError> {
    Err(todo())
}

pub async fn renew(
    _c: &dyn Db,
    _lease: &DeliveryLease,
    _until: Timestamp,
) -> Result<bool, StoreError> {
    Err(todo())
}

pub async fn record(_c: &dyn Db, _o: &DeliveryOutcome) -> Result<bool, StoreError> {
    Err(todo())
}

pub async fn of_operation(_c: &dyn Db, _id: &str) -> Result<Vec<CallbackDelivery>, StoreError> {
    Err(todo())
}

/// Deletes the deliveries of operation `id` (the TTL sweep deletes the operation).
pub async fn delete_of_operation(_c: &dyn Db, _id: &str) -> Result<(), StoreError> {
    Err(todo())
}
