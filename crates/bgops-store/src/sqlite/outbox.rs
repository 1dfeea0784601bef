//! SQL for the `callbackdelivery` table: the outbox of completion callbacks (SPEC §9).

use bgops_core::{OperationStatus, Timestamp};
use rusqlite::{named_params, params, Connection, Row};

use crate::deliveries::*;
use crate::StoreError;

/// Every column read into a [`CallbackDelivery`], in the order `read_delivery` expects.
const COLUMNS: &str = "callbackdeliveryid, backgroundoperationid, url, location, \
    backgroundoperationstatuscode, errorcode, errormessage, webhookid, attempts, status, \
    nextattemptat, firstattemptat, lasterror, createdon, deliveredon, traceparent";

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("callbackdelivery: {what}"))
}

fn read_delivery(r: &Row<'_>) -> Result<CallbackDelivery, StoreError> {
    let id: String = r.get(0)?;
    let op: String = r.get(1)?;
    let op_status: i64 = r.get(4)?;
    let status: String = r.get(9)?;
    let ts = |i: usize| -> Result<Option<Timestamp>, rusqlite::Error> {
        Ok(r.get::<_, Option<i64>>(i)?.map(Timestamp))
    };
    Ok(CallbackDelivery {
        id: id.parse().map_err(|_| corrupt(format!("bad id '{id}'")))?,
        operation_id: op.parse().map_err(|_| corrupt(format!("bad id '{op}'")))?,
        url: r.get(2)?,
        location: r.get(3)?,
        operation_status: OperationStatus::from_code(op_status)
            .ok_or_else(|| corrupt(format!("bad status {op_status}")))?,
        error_code: r.get(5)?,
        error_message: r.get(6)?,
        webhook_id: r.get(7)?,
        attempts: r.get(8)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("bad delivery status '{status}'")))?,
        next_attempt_at: ts(10)?,
        first_attempt_at: ts(11)?,
        last_error: r.get(12)?,
        created_on: Timestamp(r.get(13)?),
        delivered_on: ts(14)?,
        trace_parent: crate::trace_column(r.get(15)?),
    })
}

/// Writes the delivery of operation `id`'s callback, due at once, if the operation asked for
/// one. Called in the transaction that made the row terminal, after that write: the payload's
/// values are copied from the row as it is now.
/// Returns whether a delivery was written.
pub fn enqueue(conn: &Connection, id: &str, now: Timestamp) -> Result<bool, StoreError> {
    let delivery = uuid::Uuid::new_v4();
    let written = conn.prepare_cached(
        "INSERT INTO callbackdelivery (callbackdeliveryid, backgroundoperationid, url, location, \
         backgroundoperationstatecode, backgroundoperationstatuscode, errorcode, errormessage, \
         webhookid, nextattemptat, createdon, modifiedon, traceparent) \
         SELECT :delivery, backgroundoperationid, callbackurl, COALESCE(location, ''), \
         backgroundoperationstatecode, backgroundoperationstatuscode, \
         CASE WHEN backgroundoperationstatuscode = 31 THEN errorcode END, \
         CASE WHEN backgroundoperationstatuscode = 31 THEN errormessage END, \
         :webhook, :now, :now, :now, traceparent \
         FROM backgroundoperation WHERE backgroundoperationid = :id \
         AND callbackurl IS NOT NULL AND backgroundoperationstatecode = 3",
    )?
    .execute(named_params! {
        ":delivery": delivery.to_string(),
        ":webhook": format!("msg_{}", delivery.simple()),
        ":now": now.0,
        ":id": id,
    })?;
    Ok(written > 0)
}

pub fn claim(conn: &Connection, req: &DeliveryClaimRequest) -> Result<DeliveryClaim, StoreError> {
    let now = req.now.0;
    let mut out = DeliveryClaim::default();
    if req.limit > 0 {
        let due: Vec<String> = conn
            .prepare_cached(
                "SELECT callbackdeliveryid FROM callbackdelivery INDEXED BY ix_cd_due \
                 WHERE status = 'pending' AND nextattemptat <= ?1 \
                 ORDER BY nextattemptat, callbackdeliveryid LIMIT ?2",
            )?
            .query_map(params![now, req.limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // Due again when the lease expires: an attempt whose node died is taken back then.
        let mut take = conn.prepare_cached(&format!(
            "UPDATE callbackdelivery SET attempts = attempts + 1, \
             firstattemptat = COALESCE(firstattemptat, :now), leaseowner = :owner, \
             leaseexpiresat = :until, nextattemptat = :until, modifiedon = :now \
             WHERE callbackdeliveryid = :id AND status = 'pending' AND nextattemptat <= :now \
             RETURNING {COLUMNS}"
        ))?;
        for id in due {
            let mut rows = take.query(named_params! {
                ":now": now, ":owner": req.owner, ":until": req.lease_until.0, ":id": id,
            })?;
            if let Some(r) = rows.next()? {
                out.claimed.push(read_delivery(r)?);
            }
        }
    }
    out.next_due = conn
        .prepare_cached(
            "SELECT MIN(nextattemptat) FROM callbackdelivery INDEXED BY ix_cd_due \
             WHERE status = 'pending' AND nextattemptat > ?1",
        )?
        .query_row([now], |r| r.get::<_, Option<i64>>(0))?
        .map(Timestamp);
    Ok(out)
}

/// The fence every write of an attempt's holder goes through.
const FENCE: &str = "WHERE callbackdeliveryid = :id AND attempts = :attempt \
    AND leaseowner = :owner AND status = 'pending'";

pub fn renew(
    conn: &Connection,
    lease: &DeliveryLease,
    until: Timestamp,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "UPDATE callbackdelivery SET leaseexpiresat = :until, nextattemptat = :until {FENCE}"
        ))?
        .execute(named_params! {
            ":until": until.0, ":id": lease.id.to_string(), ":attempt": lease.attempt,
            ":owner": lease.owner,
        })?;
    Ok(n > 0)
}

pub fn record(conn: &Connection, o: &DeliveryOutcome) -> Result<bool, StoreError> {
    let (status, next, error, delivered_on) = match &o.result {
        DeliveryResult::Delivered => (DeliveryStatus::Delivered, None, None, Some(o.now.0)),
        DeliveryResult::Retry { at, error } => {
            (DeliveryStatus::Pending, Some(at.0), Some(error), None)
        }
        DeliveryResult::GaveUp { error } => (DeliveryStatus::Failed, None, Some(error), None),
    };
    // A failed try is appended to `tries` (before `modifiedon` and `leaseowner`, which it
    // reads, are overwritten: an UPDATE's expressions read the row as it was).
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "UPDATE callbackdelivery SET status = :status, nextattemptat = :next, \
             lasterror = COALESCE(:error, lasterror), deliveredon = :delivered, {}, \
             leaseowner = NULL, leaseexpiresat = NULL, modifiedon = :now {FENCE}",
            *super::history::APPEND_TRY
        )
    });
    let n = conn.prepare_cached(&SQL)?.execute(named_params! {
        ":status": status.as_str(), ":next": next, ":error": error,
        ":delivered": delivered_on, ":now": o.now.0, ":id": o.lease.id.to_string(),
        ":attempt": o.lease.attempt, ":owner": o.lease.owner,
    })?;
    Ok(n > 0)
}

pub fn of_operation(conn: &Connection, id: &str) -> Result<Vec<CallbackDelivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM callbackdelivery INDEXED BY ix_cd_operation \
         WHERE backgroundoperationid = ?1 ORDER BY createdon, callbackdeliveryid"
    ))?;
    let mut rows = stmt.query([id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(read_delivery(r)?);
    }
    Ok(out)
}

/// Deletes every delivery of operation `id` (the TTL sweep deletes the operation).
pub fn delete_of_operation(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM callbackdelivery WHERE backgroundoperationid = ?1")?
        .execute([id])?;
    Ok(())
}
