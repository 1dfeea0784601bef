//! SQL for the system jobs of OnBackgroundOperationComplete steps (`asyncoperation` rows):
//! creating them in the transaction of a terminal state, claiming due ones under a lease,
//! renewing leases, listing expired ones, and recording outcomes behind the attempt fence.

use bgops_core::step_rules::{
    MODE_ASYNCHRONOUS, ON_BACKGROUND_OPERATION_COMPLETE, ON_BACKGROUND_OPERATION_COMPLETE_ID,
    STAGE_POST_OPERATION,
};
use bgops_core::system_job::{CompletedOperation, JobData, OPERATION_TYPE_SYSTEM_EVENT};
use bgops_core::Timestamp;
use rusqlite::{named_params, params, Connection, OptionalExtension};
use uuid::Uuid;

use super::writer::WriterCtx;
use crate::store::{ClaimRequest, Fence};
use crate::system_jobs::*;
use crate::StoreError;

/// The columns read into a [`SystemJob`], in the order `read_job` expects.
const JOB_COLUMNS: &str = "asyncoperationid, owningextensionid, regardingobjectid, data, attempt, \
    retrycount, createdon";

fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("bad id '{s}'")))
}

fn optional_uuid(s: Option<String>) -> Result<Option<Uuid>, StoreError> {
    s.map(|s| parse_uuid(&s)).transpose()
}

fn read_job(r: &rusqlite::Row<'_>) -> Result<SystemJob, StoreError> {
    Ok(SystemJob {
        id: parse_uuid(&r.get::<_, String>(0)?)?,
        step_id: optional_uuid(r.get(1)?)?,
        operation_id: optional_uuid(r.get(2)?)?,
        data: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        attempt: r.get(4)?,
        retry_count: r.get::<_, Option<i32>>(5)?.unwrap_or(0),
        created_on: Timestamp(r.get(6)?),
    })
}

/// Writes one job per active asynchronous step on OnBackgroundOperationComplete for the
/// operation `id`, which has just reached a terminal state; returns how many.
pub fn create_for_operation(
    conn: &Connection,
    ctx: &mut WriterCtx,
    id: &str,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let steps: Vec<(String, bool)> = conn
        .prepare_cached(
            "SELECT sdkmessageprocessingstepid, COALESCE(asyncautodelete, 0) \
             FROM sdkmessageprocessingstep INDEXED BY ix_sdkmessageprocessingstep_sdkmessageid \
             WHERE sdkmessageid = ?1 AND statecode = 0 AND mode = ?2 AND stage = ?3 \
             ORDER BY rank, createdon, sdkmessageprocessingstepid",
        )?
        .query_map(
            params![
                ON_BACKGROUND_OPERATION_COMPLETE_ID.to_string(),
                MODE_ASYNCHRONOUS,
                STAGE_POST_OPERATION
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    if steps.is_empty() {
        return Ok(0);
    }
    let op = conn
        .prepare_cached(
            "SELECT name, backgroundoperationstatecode, backgroundoperationstatuscode, location, \
             runas, createdby FROM backgroundoperation WHERE backgroundoperationid = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i32>(1)?,
                r.get::<_, i32>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .optional()?;
    let Some((name, state, status, location, run_as, created_by)) = op else {
        return Err(StoreError::Corrupt(format!(
            "background operation {id} reached a terminal state but cannot be read"
        )));
    };
    let data = JobData::new(
        &CompletedOperation {
            id: parse_uuid(id)?,
            name: &name,
            state,
            status,
            location: location.as_deref(),
            run_as: parse_uuid(&run_as)?,
            created_by: parse_uuid(&created_by)?,
        },
        Uuid::new_v4(),
    )
    .to_json();
    let mut insert = conn.prepare_cached(
        "INSERT INTO asyncoperation (asyncoperationid, name, operationtype, statecode, statuscode, \
         messagename, data, retrycount, regardingobjectid, owningextensionid, createdon, \
         modifiedon, createdby, versionnumber, attempt, nextattemptat, asyncautodelete) \
         VALUES (:id, :name, :type, 0, 0, :name, :data, 0, :op, :step, :now, :now, :by, :v, 0, \
         :now, :autodelete)",
    )?;
    for (step, autodelete) in &steps {
        insert.execute(named_params! {
            ":id": Uuid::new_v4().to_string(),
            ":name": ON_BACKGROUND_OPERATION_COMPLETE,
            ":type": OPERATION_TYPE_SYSTEM_EVENT,
            ":data": data,
            ":op": id,
            ":step": step,
            ":now": now.0,
            ":by": created_by,
            ":v": ctx.next_version(),
            ":autodelete": autodelete,
        })?;
    }
    Ok(steps.len())
}

/// Claims up to `req.limit` due jobs, oldest due first, and reads when the next retry is due.
pub fn claim(
    conn: &Connection,
    ctx: &mut WriterCtx,
    req: &ClaimRequest,
) -> Result<JobClaim, StoreError> {
    let now = req.now.0;
    let mut out = JobClaim::default();
    if req.limit > 0 {
        let due: Vec<String> = conn
            .prepare_cached(
                "SELECT asyncoperationid FROM asyncoperation INDEXED BY ix_ao_due \
                 WHERE statecode = 0 AND nextattemptat <= ?1 \
                 ORDER BY nextattemptat, createdon LIMIT ?2",
            )?
            .query_map(params![now, req.limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut take = conn.prepare_cached(&format!(
            "UPDATE asyncoperation SET statecode = 2, statuscode = 20, \
             startedon = COALESCE(startedon, :now), attempt = attempt + 1, leaseowner = :owner, \
             leaseexpiresat = :until, modifiedon = :now, versionnumber = :v \
             WHERE asyncoperationid = :id AND statecode = 0 RETURNING {JOB_COLUMNS}"
        ))?;
        for id in due {
            let v = ctx.next_version();
            let mut rows = take.query(named_params! {
                ":now": now, ":owner": req.owner, ":until": req.lease_until.0, ":v": v, ":id": id,
            })?;
            if let Some(r) = rows.next()? {
                out.claimed.push(read_job(r)?);
            }
        }
    }
    out.next_due = conn
        .prepare_cached(
            "SELECT MIN(nextattemptat) FROM asyncoperation INDEXED BY ix_ao_due \
             WHERE statecode = 0 AND nextattemptat > ?1",
        )?
        .query_row([now], |r| r.get::<_, Option<i64>>(0))?
        .map(Timestamp);
    Ok(out)
}

/// Extends the leases of running jobs the owner still holds.
pub fn renew(conn: &Connection, req: &JobRenewal) -> Result<Vec<JobLeaseState>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE asyncoperation SET leaseexpiresat = ?1 \
         WHERE asyncoperationid = ?2 AND attempt = ?3 AND leaseowner = ?4 AND statecode = 2 \
         RETURNING 1",
    )?;
    let mut out = Vec::with_capacity(req.jobs.len());
    for (id, attempt) in &req.jobs {
        let held: Option<i64> = stmt
            .query_row(
                params![req.lease_until.0, id.to_string(), attempt, req.owner],
                |r| r.get(0),
            )
            .optional()?;
        out.push(JobLeaseState {
            id: *id,
            held: held.is_some(),
        });
    }
    Ok(out)
}

/// Running jobs whose lease expired at `now`.
pub fn expired_leases(
    conn: &Connection,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<ExpiredJobLease>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT asyncoperationid, attempt, COALESCE(retrycount, 0) \
         FROM asyncoperation INDEXED BY ix_ao_lease \
         WHERE leaseowner IS NOT NULL AND leaseexpiresat <= ?1 AND statecode = 2 \
         ORDER BY leaseexpiresat LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now.0, limit as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i32>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, attempt, retry_count) = row?;
        out.push(ExpiredJobLease {
            id: parse_uuid(&id)?,
            attempt,
            retry_count,
        });
    }
    Ok(out)
}

/// Records a job attempt's outcome if the fence still matches; returns whether it applied.
pub fn record_outcome(
    conn: &Connection,
    ctx: &mut WriterCtx,
    o: &JobOutcome,
) -> Result<bool, StoreError> {
    let (attempt, cutoff) = match o.fence {
        Fence::Attempt(a) => (a, i64::MAX),
        Fence::ExpiredLease(a) => (a, o.now.0),
        // System jobs start when claimed: none is ever reserved.
        Fence::Reserved { .. } => return Ok(false),
    };
    // The fence: still Locked with this attempt, and (for recovery) the lease has run out.
    let fence = "WHERE asyncoperationid = :id AND attempt = :attempt AND statecode = 2 \
                 AND leaseowner IS NOT NULL AND leaseexpiresat <= :cutoff";
    let id = o.id.to_string();
    let changed = match &o.result {
        JobResult::Succeeded => {
            let deleted = conn
                .prepare_cached(&format!(
                    "DELETE FROM asyncoperation {fence} AND asyncautodelete = 1"
                ))?
                .execute(named_params! {":id": id, ":attempt": attempt, ":cutoff": cutoff})?;
            if deleted > 0 {
                deleted
            } else {
                conn.prepare_cached(&format!(
                    "UPDATE asyncoperation SET statecode = 3, statuscode = 30, completedon = :now, \
                     errorcode = NULL, message = NULL, friendlymessage = NULL, leaseowner = NULL, \
                     leaseexpiresat = NULL, modifiedon = :now, versionnumber = :v {fence}"
                ))?
                .execute(named_params! {
                    ":now": o.now.0, ":v": ctx.next_version(), ":id": id,
                    ":attempt": attempt, ":cutoff": cutoff,
                })?
            }
        }
        JobResult::Failed {
            error,
            retry_at: Some(at),
        } => conn
            .prepare_cached(&format!(
                "UPDATE asyncoperation SET statecode = 0, statuscode = 0, \
                 retrycount = COALESCE(retrycount, 0) + 1, nextattemptat = :at, errorcode = :code, \
                 message = :msg, friendlymessage = :msg, leaseowner = NULL, leaseexpiresat = NULL, \
                 modifiedon = :now, versionnumber = :v {fence}"
            ))?
            .execute(named_params! {
                ":at": at.0, ":code": error.code.as_i32(), ":msg": error.message,
                ":now": o.now.0, ":v": ctx.next_version(), ":id": id,
                ":attempt": attempt, ":cutoff": cutoff,
            })?,
        JobResult::Failed {
            error,
            retry_at: None,
        } => conn
            .prepare_cached(&format!(
                "UPDATE asyncoperation SET statecode = 3, statuscode = 31, completedon = :now, \
                 errorcode = :code, message = :msg, friendlymessage = :msg, leaseowner = NULL, \
                 leaseexpiresat = NULL, modifiedon = :now, versionnumber = :v {fence}"
            ))?
            .execute(named_params! {
                ":code": error.code.as_i32(), ":msg": error.message, ":now": o.now.0,
                ":v": ctx.next_version(), ":id": id, ":attempt": attempt, ":cutoff": cutoff,
            })?,
    };
    Ok(changed > 0)
}
