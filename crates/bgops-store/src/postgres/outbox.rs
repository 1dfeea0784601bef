//! SQL for the callback outbox on PostgreSQL: the same contract as `sqlite/outbox.rs` (the
//! conformance suite's `conformance_callbacks` cases), with the claims of several nodes kept
//! apart by row locks (`FOR UPDATE SKIP LOCKED`: a node never waits for another's claim and
//! never takes its deliveries).

use std::sync::LazyLock;

use bgops_core::{OperationStatus, Timestamp};
use tokio_postgres::Row;

use super::db::Db;
use crate::deliveries::*;
use crate::StoreError;

/// Every column read into a [`CallbackDelivery`], in the order `read_delivery` expects.
const COLUMNS: &str = "callbackdeliveryid, backgroundoperationid, url, location, \
    backgroundoperationstatuscode, errorcode, errormessage, webhookid, attempts, status, \
    nextattemptat, firstattemptat, lasterror, createdon, deliveredon, traceparent";

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("callbackdelivery: {what}"))
}

fn read_delivery(r: &Row) -> Result<CallbackDelivery, StoreError> {
    let id: String = r.try_get(0)?;
    let op: String = r.try_get(1)?;
    let op_status: i64 = r.try_get(4)?;
    let status: String = r.try_get(9)?;
    let ts = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<_, Option<i64>>(i)?.map(Timestamp))
    };
    Ok(CallbackDelivery {
        id: id.parse().map_err(|_| corrupt(format!("bad id '{id}'")))?,
        operation_id: op.parse().map_err(|_| corrupt(format!("bad id '{op}'")))?,
        url: r.try_get(2)?,
        location: r.try_get(3)?,
        operation_status: OperationStatus::from_code(op_status)
            .ok_or_else(|| corrupt(format!("bad status {op_status}")))?,
        error_code: r
            .try_get::<_, Option<i64>>(5)?
            .map(|c| i32::try_from(c).map_err(|_| corrupt(format!("errorcode {c} out of range"))))
            .transpose()?,
        error_message: r.try_get(6)?,
        webhook_id: r.try_get(7)?,
        attempts: r.try_get(8)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("bad delivery status '{status}'")))?,
        next_attempt_at: ts(10)?,
        first_attempt_at: ts(11)?,
        last_error: r.try_get(12)?,
        created_on: Timestamp(r.try_get(13)?),
        delivered_on: ts(14)?,
        trace_parent: crate::trace_column(r.try_get(15)?),
    })
}

/// Writes the callback delivery of operation `id` if it has a callback URL (called in the
/// transaction that makes it terminal); returns whether one was written. The payload's values
/// are copied from the row as it is now; the delivery is due at once.
pub async fn enqueue(c: &dyn Db, id: &str, now: Timestamp) -> Result<bool, StoreError> {
    let delivery = uuid::Uuid::new_v4();
    let written = c
        .execute(
            "INSERT INTO callbackdelivery (callbackdeliveryid, backgroundoperationid, url, \
             location, backgroundoperationstatecode, backgroundoperationstatuscode, errorcode, \
             errormessage, webhookid, nextattemptat, createdon, modifiedon, traceparent) \
             SELECT $1, backgroundoperationid, callbackurl, COALESCE(location, ''), \
             backgroundoperationstatecode, backgroundoperationstatuscode, \
             CASE WHEN backgroundoperationstatuscode = 31 THEN errorcode END, \
             CASE WHEN backgroundoperationstatuscode = 31 THEN errormessage END, \
             $2, $3, $3, $3, traceparent \
             FROM backgroundoperation WHERE backgroundoperationid = $4 \
             AND callbackurl IS NOT NULL AND backgroundoperationstatecode = 3",
            &[
                &delivery.to_string(),
                &format!("msg_{}", delivery.simple()),
                &now.0,
                &id,
            ],
        )
        .await?;
    Ok(written > 0)
}

/// [`enqueue`] for many rows just written terminal, in one statement: the ids that had a
/// callback URL (and got their delivery).
pub async fn enqueue_many(
    c: &dyn Db,
    written: &[&crate::store::AttemptOutcome],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let n = written.len();
    let mut ids = Vec::with_capacity(n);
    let mut deliveries = Vec::with_capacity(n);
    let mut webhooks = Vec::with_capacity(n);
    let mut now = Vec::with_capacity(n);
    for o in written {
        let delivery = uuid::Uuid::new_v4();
        ids.push(o.id.to_string());
        deliveries.push(delivery.to_string());
        webhooks.push(format!("msg_{}", delivery.simple()));
        now.push(o.now.0);
    }
    let rows = c
        .query(
            "INSERT INTO callbackdelivery (callbackdeliveryid, backgroundoperationid, url, \
             location, backgroundoperationstatecode, backgroundoperationstatuscode, errorcode, \
             errormessage, webhookid, nextattemptat, createdon, modifiedon) \
             SELECT d.delivery, b.backgroundoperationid, b.callbackurl, COALESCE(b.location, ''), \
             b.backgroundoperationstatecode, b.backgroundoperationstatuscode, \
             CASE WHEN b.backgroundoperationstatuscode = 31 THEN b.errorcode END, \
             CASE WHEN b.backgroundoperationstatuscode = 31 THEN b.errormessage END, \
             d.webhook, d.now, d.now, d.now \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) \
             AS d(id, delivery, webhook, now) \
             JOIN backgroundoperation b ON b.backgroundoperationid = d.id \
             WHERE b.backgroundoperationid = ANY($1) \
             AND b.callbackurl IS NOT NULL AND b.backgroundoperationstatecode = 3 \
             RETURNING backgroundoperationid",
            &[&ids, &deliveries, &webhooks, &now],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map_err(StoreError::from))
        .collect()
}

pub async fn claim(c: &dyn Db, req: &DeliveryClaimRequest) -> Result<DeliveryClaim, StoreError> {
    let now = req.now.0;
    let mut out = DeliveryClaim::default();
    if req.limit > 0 {
        // Due again when the lease expires: an attempt whose node died is taken back then.
        // Deliveries another node is claiming right now are skipped, not waited for.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let returning = super::db::qualified(COLUMNS, "d");
            format!(
                "WITH due AS (SELECT callbackdeliveryid, nextattemptat FROM callbackdelivery \
                 WHERE status = 'pending' AND nextattemptat <= $1 \
                 ORDER BY nextattemptat, callbackdeliveryid LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 UPDATE callbackdelivery d SET attempts = d.attempts + 1, \
                 firstattemptat = COALESCE(d.firstattemptat, $1), leaseowner = $3, \
                 leaseexpiresat = $4, nextattemptat = $4, modifiedon = $1 \
                 FROM due WHERE d.callbackdeliveryid = due.callbackdeliveryid \
                 RETURNING {returning}, due.nextattemptat"
            )
        });
        let limit = i64::try_from(req.limit).unwrap_or(i64::MAX);
        let rows = c
            .query(&SQL, &[&now, &limit, &req.owner, &req.lease_until.0])
            .await?;
        let mut claimed = rows
            .iter()
            // The due time the claim took each at, after the delivery's columns.
            .map(|r| Ok((r.try_get::<_, i64>(r.len() - 1)?, read_delivery(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING has no order: the contract's is longest due first.
        claimed.sort_by(|(a_due, a), (b_due, b)| a_due.cmp(b_due).then(a.id.cmp(&b.id)));
        out.claimed = claimed.into_iter().map(|(_, d)| d).collect();
    }
    out.next_due = c
        .query_one(
            "SELECT MIN(nextattemptat) FROM callbackdelivery \
             WHERE status = 'pending' AND nextattemptat > $1",
            &[&now],
        )
        .await?
        .try_get::<_, Option<i64>>(0)?
        .map(Timestamp);
    Ok(out)
}

/// The fence every write of an attempt's holder goes through: the delivery `$1` still pending
/// with attempt `$2` of owner `$3`.
const FENCE: &str = "WHERE callbackdeliveryid = $1 AND attempts = $2 AND leaseowner = $3 \
    AND status = 'pending'";

pub async fn renew(
    c: &dyn Db,
    lease: &DeliveryLease,
    until: Timestamp,
) -> Result<bool, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("UPDATE callbackdelivery SET leaseexpiresat = $4, nextattemptat = $4 {FENCE}")
    });
    let n = c
        .execute(
            &SQL,
            &[
                &lease.id.to_string(),
                &lease.attempt,
                &lease.owner,
                &until.0,
            ],
        )
        .await?;
    Ok(n > 0)
}

pub async fn record(c: &dyn Db, o: &DeliveryOutcome) -> Result<bool, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE callbackdelivery SET status = $4, nextattemptat = $5, \
             lasterror = COALESCE($6, lasterror), deliveredon = $7, {}, leaseowner = NULL, \
             leaseexpiresat = NULL, modifiedon = $8 {FENCE}",
            *super::history::APPEND_TRY
        )
    });
    let (status, next, error, delivered_on) = match &o.result {
        DeliveryResult::Delivered => (DeliveryStatus::Delivered, None, None, Some(o.now.0)),
        DeliveryResult::Retry { at, error } => {
            (DeliveryStatus::Pending, Some(at.0), Some(error), None)
        }
        DeliveryResult::GaveUp { error } => (DeliveryStatus::Failed, None, Some(error), None),
    };
    let n = c
        .execute(
            &SQL,
            &[
                &o.lease.id.to_string(),
                &o.lease.attempt,
                &o.lease.owner,
                &status.as_str(),
                &next,
                &error,
                &delivered_on,
                &o.now.0,
            ],
        )
        .await?;
    Ok(n > 0)
}

pub async fn of_operation(c: &dyn Db, id: &str) -> Result<Vec<CallbackDelivery>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS} FROM callbackdelivery WHERE backgroundoperationid = $1 \
             ORDER BY createdon, callbackdeliveryid"
        )
    });
    c.query(&SQL, &[&id])
        .await?
        .iter()
        .map(read_delivery)
        .collect()
}

/// Deletes the deliveries of operation `id` (the TTL sweep deletes the operation).
pub async fn delete_of_operation(c: &dyn Db, id: &str) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM callbackdelivery WHERE backgroundoperationid = $1",
        &[&id],
    )
    .await?;
    Ok(())
}
