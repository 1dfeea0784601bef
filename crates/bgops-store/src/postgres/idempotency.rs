//! Idempotency keys on PostgreSQL: the key and its operation are written in one transaction.
//! The key's primary key serializes two nodes taking it at once: the second insert waits for
//! the first transaction, then finds the key held and stores nothing.

use bgops_core::Timestamp;

use super::db::Db;
use crate::{InsertOnce, KeyedOperation, StoreError};

/// Takes the key if it is free or expired and stores the operation; else names its holder.
pub async fn insert_once(c: &dyn Db, keyed: &KeyedOperation) -> Result<InsertOnce, StoreError> {
    let k = &keyed.key;
    let user = k.user.to_string();
    let taken = c
        .query_opt(
            "INSERT INTO idempotencykey (userid, idempotencykey, fingerprint, \
             backgroundoperationid, createdon, expiresat) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (userid, idempotencykey) DO UPDATE SET \
             fingerprint = EXCLUDED.fingerprint, \
             backgroundoperationid = EXCLUDED.backgroundoperationid, \
             createdon = EXCLUDED.createdon, expiresat = EXCLUDED.expiresat \
             WHERE idempotencykey.expiresat <= $5 RETURNING 1",
            &[
                &user,
                &k.key,
                &k.fingerprint,
                &keyed.op.id.to_string(),
                &k.now.0,
                &k.expires.0,
            ],
        )
        .await?;
    if taken.is_some() {
        super::operations::insert(c, std::slice::from_ref(&keyed.op)).await?;
        return Ok(InsertOnce::Inserted);
    }
    let row = c
        .query_one(
            "SELECT backgroundoperationid, fingerprint FROM idempotencykey \
             WHERE userid = $1 AND idempotencykey = $2",
            &[&user, &k.key],
        )
        .await?;
    let operation: String = row.try_get(0)?;
    Ok(InsertOnce::Existing {
        operation: operation
            .parse()
            .map_err(|_| StoreError::Backend(format!("bad operation id '{operation}'")))?,
        fingerprint: row.try_get(1)?,
    })
}

/// Deletes up to `limit` keys expired at `now`.
pub async fn sweep(c: &dyn Db, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let n = c
        .execute(
            "DELETE FROM idempotencykey WHERE (userid, idempotencykey) IN \
             (SELECT userid, idempotencykey FROM idempotencykey WHERE expiresat <= $1 \
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&now.0, &limit],
        )
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
