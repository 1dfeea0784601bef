//! Idempotency keys on SQLite: the key and its operation are written in one savepoint of the
//! writer's transaction, which holds the file's write lock, so no other writer (another process
//! on the file included) can take the key in between.

use rusqlite::{params, Connection, OptionalExtension};

use super::writer::WriterCtx;
use crate::{InsertOnce, KeyedOperation, StoreError};
use bgops_core::Timestamp;

/// Takes the key if it is free or expired and stores the operation; else names its holder.
pub fn insert_once(
    conn: &Connection,
    ctx: &mut WriterCtx,
    keyed: &KeyedOperation,
) -> Result<InsertOnce, StoreError> {
    let k = &keyed.key;
    let taken = conn
        .prepare_cached(
            "INSERT INTO idempotencykey (userid, idempotencykey, fingerprint, \
             backgroundoperationid, createdon, expiresat) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (userid, idempotencykey) DO UPDATE SET \
             fingerprint = excluded.fingerprint, \
             backgroundoperationid = excluded.backgroundoperationid, \
             createdon = excluded.createdon, expiresat = excluded.expiresat \
             WHERE idempotencykey.expiresat <= ?5",
        )?
        .execute(params![
            k.user.to_string(),
            k.key,
            k.fingerprint,
            keyed.op.id.to_string(),
            k.now.0,
            k.expires.0,
        ])?;
    if taken == 1 {
        super::operations::insert(conn, ctx, std::slice::from_ref(&keyed.op))?;
        return Ok(InsertOnce::Inserted);
    }
    let (operation, fingerprint): (String, String) = conn
        .prepare_cached(
            "SELECT backgroundoperationid, fingerprint FROM idempotencykey \
             WHERE userid = ?1 AND idempotencykey = ?2",
        )?
        .query_row(params![k.user.to_string(), k.key], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .ok_or_else(|| {
            StoreError::Backend("an idempotency key vanished in its transaction".into())
        })?;
    Ok(InsertOnce::Existing {
        operation: operation
            .parse()
            .map_err(|_| StoreError::Backend(format!("bad operation id '{operation}'")))?,
        fingerprint,
    })
}

/// Deletes up to `limit` keys expired at `now`.
pub fn sweep(conn: &Connection, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
    let n = conn
        .prepare_cached(
            "DELETE FROM idempotencykey WHERE (userid, idempotencykey) IN \
             (SELECT userid, idempotencykey FROM idempotencykey INDEXED BY \
             ix_idempotencykey_expires WHERE expiresat <= ?1 LIMIT ?2)",
        )?
        .execute(params![now.0, i64::try_from(limit).unwrap_or(i64::MAX)])?;
    Ok(n)
}
