//! Idempotency keys (SPEC §15, the IETF `Idempotency-Key` draft): a submission carrying a key is
//! stored together with it, in the same transaction, so the same key from the same user within
//! the key's lifetime can only ever create one operation, whichever node receives the retry.

use bgops_core::{NewOperation, OperationId, Timestamp, UserId};

/// The key a submission is stored under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Whose key: keys are per user, so two users' equal keys never meet.
    pub user: UserId,
    /// The `Idempotency-Key` header's value (1 to 255 characters, checked by the caller).
    pub key: String,
    /// A hash of what was asked (method, path, body, callback), so a reuse of the key for
    /// another request can be told from a retry.
    pub fingerprint: String,
    /// The time of the submission.
    pub now: Timestamp,
    /// When the key expires: a key at or past it is free again, and the sweep deletes it.
    pub expires: Timestamp,
}

/// What [`Store::insert_operation_once`](crate::Store::insert_operation_once) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertOnce {
    /// The key was free (never used, or expired): the operation and the key are stored.
    Inserted,
    /// The key is held by an earlier submission: nothing was stored.
    Existing {
        /// The operation the key names.
        operation: OperationId,
        /// The fingerprint stored with it.
        fingerprint: String,
    },
}

/// A submission to store under a key.
#[derive(Clone, Debug)]
pub struct KeyedOperation {
    /// The operation.
    pub op: NewOperation,
    /// Its key.
    pub key: IdempotencyKey,
}
