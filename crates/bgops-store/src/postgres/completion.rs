//! What happens in the same transaction as a row reaching a terminal state (3/30, 3/31,
//! 3/32): the completion notifications of SPEC §9 are written there, so a crash between the
//! terminal state and a notification loses nothing.

use super::db::Db;
use bgops_core::Timestamp;

use crate::StoreError;

/// Called once per row, right after its terminal state is written, inside the same
/// transaction. `id` is the row's `backgroundoperationid`. Returns whether it wrote any
/// notification (a callback delivery or a system job).
pub async fn on_terminal(c: &dyn Db, id: &str, now: Timestamp) -> Result<bool, StoreError> {
    // The completion callback the submission asked for, if any, and one system job per active
    // OnBackgroundOperationComplete step (SPEC §9). Independent: their statements go out
    // together (pipelined on the connection) instead of one round trip after the other.
    let (callback, jobs) = tokio::join!(
        super::outbox::enqueue(c, id, now),
        super::step_jobs::create_for_operation(c, id, now)
    );
    Ok(callback? || jobs?)
}
