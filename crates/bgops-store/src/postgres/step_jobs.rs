//! SQL for system jobs (`asyncoperation`) on PostgreSQL: the same contract as
//! `sqlite/step_jobs.rs` (the conformance suite's `conformance_jobs` cases).

use super::db::Db;
use bgops_core::Timestamp;

use crate::store::ClaimRequest;
use crate::system_jobs::*;
use crate::StoreError;

fn todo() -> StoreError {
    StoreError::Backend("not yet implemented on PostgreSQL".to_owned())
}

/// Creates the system jobs of operation `id` (one per enabled asynchronous step of
/// OnBackgroundOperationComplete), in the transaction that makes it terminal; returns whether
/// any was written.
pub async fn create_for_operation(
    _c: &dyn Db,
    _id: &str,
    _now: Timestamp,
) -> Result<bool, StoreError> {
    Err(todo())
}

pub async fn claim(_c: &dyn Db, _req: &ClaimRequest) -> Result<JobClaim, StoreError> {
    Err(todo())
}

pub async fn renew(_c: &dyn Db, _req: &JobRenewal) -> Result<Vec<JobLeaseState>, StoreError> {
    Err(todo())
}

pub async fn expired_leases(
    _c: &dyn Db,
    _now: Timestamp,
    _limit: usize,
) -> Result<Vec<ExpiredJobLease>, StoreError> {
    Err(todo())
}

pub async fn record_outcome(_c: &dyn Db, _o: &JobOutcome) -> Result<bool, StoreError> {
    Err(todo())
}
