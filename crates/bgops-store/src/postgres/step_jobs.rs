//! SQL for system jobs (`asyncoperation`) on PostgreSQL: the same contract as
//! `sqlite/step_jobs.rs` (the conformance suite's `conformance_jobs` cases), with the claims of
//! several nodes kept apart by row locks (`FOR UPDATE SKIP LOCKED`: a node never waits for
//! another's claim and never takes its jobs).

use std::collections::HashSet;
use std::sync::LazyLock;

use bgops_core::step_rules::{
    MODE_ASYNCHRONOUS, ON_BACKGROUND_OPERATION_COMPLETE, ON_BACKGROUND_OPERATION_COMPLETE_ID,
    STAGE_POST_OPERATION,
};
use bgops_core::system_job::{CompletedOperation, JobData, OPERATION_TYPE_SYSTEM_EVENT};
use bgops_core::Timestamp;
use tokio_postgres::Row;
use uuid::Uuid;

use super::db::Db;
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

fn narrow(value: i64, what: &str) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} out of range")))
}

fn read_job(r: &Row) -> Result<SystemJob, StoreError> {
    Ok(SystemJob {
        id: parse_uuid(&r.try_get::<_, String>(0)?)?,
        step_id: optional_uuid(r.try_get(1)?)?,
        operation_id: optional_uuid(r.try_get(2)?)?,
        data: r.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
        attempt: r.try_get(4)?,
        retry_count: narrow(r.try_get::<_, Option<i64>>(5)?.unwrap_or(0), "retrycount")?,
        created_on: Timestamp(r.try_get(6)?),
    })
}

/// Creates the system jobs of operation `id` (one per enabled asynchronous step of
/// OnBackgroundOperationComplete), in the transaction that makes it terminal; returns whether
/// any was written.
/// Whether any OnBackgroundOperationComplete step is active (most installations have none).
pub async fn any_active(c: &dyn Db) -> Result<bool, StoreError> {
    Ok(c.query_opt(
        "SELECT 1 FROM sdkmessageprocessingstep \
             WHERE sdkmessageid = $1 AND statecode = 0 AND mode = $2 AND stage = $3 LIMIT 1",
        &[
            &ON_BACKGROUND_OPERATION_COMPLETE_ID.to_string(),
            &MODE_ASYNCHRONOUS,
            &STAGE_POST_OPERATION,
        ],
    )
    .await?
    .is_some())
}

pub async fn create_for_operation(
    c: &dyn Db,
    id: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    // Most installations have no step: then this is the only statement.
    let steps = c
        .query(
            "SELECT sdkmessageprocessingstepid, \
             CASE WHEN COALESCE(asyncautodelete, 0) <> 0 THEN 1 ELSE 0 END::bigint \
             FROM sdkmessageprocessingstep \
             WHERE sdkmessageid = $1 AND statecode = 0 AND mode = $2 AND stage = $3 \
             ORDER BY rank, createdon, sdkmessageprocessingstepid",
            &[
                &ON_BACKGROUND_OPERATION_COMPLETE_ID.to_string(),
                &MODE_ASYNCHRONOUS,
                &STAGE_POST_OPERATION,
            ],
        )
        .await?;
    if steps.is_empty() {
        return Ok(false);
    }
    let Some(op) = c
        .query_opt(
            "SELECT name, backgroundoperationstatecode, backgroundoperationstatuscode, location, \
             runas, createdby FROM backgroundoperation WHERE backgroundoperationid = $1",
            &[&id],
        )
        .await?
    else {
        return Err(StoreError::Corrupt(format!(
            "background operation {id} reached a terminal state but cannot be read"
        )));
    };
    let name: String = op.try_get(0)?;
    let location: Option<String> = op.try_get(3)?;
    let created_by: String = op.try_get(5)?;
    let data = JobData::new(
        &CompletedOperation {
            id: parse_uuid(id)?,
            name: &name,
            state: narrow(op.try_get(1)?, "backgroundoperationstatecode")?,
            status: narrow(op.try_get(2)?, "backgroundoperationstatuscode")?,
            location: location.as_deref(),
            run_as: parse_uuid(&op.try_get::<_, String>(4)?)?,
            created_by: parse_uuid(&created_by)?,
        },
        Uuid::new_v4(),
    )
    .to_json();

    let mut jobs = Vec::with_capacity(steps.len());
    let mut step_ids = Vec::with_capacity(steps.len());
    let mut autodelete = Vec::with_capacity(steps.len());
    for s in &steps {
        jobs.push(Uuid::new_v4().to_string());
        step_ids.push(s.try_get::<_, String>(0)?);
        autodelete.push(s.try_get::<_, i64>(1)?);
    }
    // One row per step, in the steps' order (so versions follow it, as on SQLite).
    c.execute(
        "INSERT INTO asyncoperation (asyncoperationid, name, operationtype, statecode, \
         statuscode, messagename, data, retrycount, regardingobjectid, owningextensionid, \
         createdon, modifiedon, createdby, versionnumber, attempt, nextattemptat, \
         asyncautodelete) \
         SELECT j.id, $4, $5, 0, 0, $4, $6, 0, $7, j.step, $8, $8, $9, \
         nextval('bgops_version_seq'), 0, $8, j.autodelete \
         FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY \
         AS j(id, step, autodelete, n) ORDER BY j.n",
        &[
            &jobs,
            &step_ids,
            &autodelete,
            &ON_BACKGROUND_OPERATION_COMPLETE,
            &OPERATION_TYPE_SYSTEM_EVENT,
            &data,
            &id,
            &now.0,
            &created_by,
        ],
    )
    .await?;
    Ok(true)
}

/// Claims up to `req.limit` due jobs, oldest due first (each starts attempt `attempt + 1` under
/// the caller's lease), and reads when the next retry is due.
pub async fn claim(c: &dyn Db, req: &ClaimRequest) -> Result<JobClaim, StoreError> {
    let now = req.now.0;
    let mut out = JobClaim::default();
    if req.limit > 0 {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let returning = super::db::qualified(JOB_COLUMNS, "a");
            format!(
                "WITH due AS (SELECT asyncoperationid, nextattemptat FROM asyncoperation \
                 WHERE statecode = 0 AND nextattemptat <= $1 \
                 ORDER BY nextattemptat, createdon, asyncoperationid \
                 LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 UPDATE asyncoperation a SET statecode = 2, statuscode = 20, \
                 startedon = COALESCE(a.startedon, $1), attempt = a.attempt + 1, \
                 leaseowner = $3, leaseexpiresat = $4, modifiedon = $1, \
                 versionnumber = nextval('bgops_version_seq') \
                 FROM due WHERE a.asyncoperationid = due.asyncoperationid \
                 RETURNING {returning}, due.nextattemptat"
            )
        });
        let limit = i64::try_from(req.limit).unwrap_or(i64::MAX);
        let rows = c
            .query(&SQL, &[&now, &limit, &req.owner, &req.lease_until.0])
            .await?;
        let mut claimed = rows
            .iter()
            // The due time the claim took each at, after the job's columns.
            .map(|r| Ok((r.try_get::<_, i64>(r.len() - 1)?, read_job(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING has no order: the contract's is oldest due first.
        claimed.sort_by(|(a_due, a), (b_due, b)| {
            a_due
                .cmp(b_due)
                .then(a.created_on.cmp(&b.created_on))
                .then(a.id.cmp(&b.id))
        });
        out.claimed = claimed.into_iter().map(|(_, j)| j).collect();
    }
    out.next_due = c
        .query_one(
            "SELECT MIN(nextattemptat) FROM asyncoperation \
             WHERE statecode = 0 AND nextattemptat > $1",
            &[&now],
        )
        .await?
        .try_get::<_, Option<i64>>(0)?
        .map(Timestamp);
    Ok(out)
}

/// Extends the leases of running jobs the owner still holds.
pub async fn renew(c: &dyn Db, req: &JobRenewal) -> Result<Vec<JobLeaseState>, StoreError> {
    let ids: Vec<String> = req.jobs.iter().map(|(id, _)| id.to_string()).collect();
    let attempts: Vec<i64> = req.jobs.iter().map(|(_, a)| *a).collect();
    let rows = c
        .query(
            "UPDATE asyncoperation a SET leaseexpiresat = $1 \
             FROM unnest($2::text[], $3::bigint[]) AS r(id, attempt) \
             WHERE a.asyncoperationid = ANY($2) AND a.asyncoperationid = r.id \
             AND a.attempt = r.attempt \
             AND a.leaseowner = $4 AND a.statecode = 2 \
             RETURNING a.asyncoperationid, a.attempt",
            &[&req.lease_until.0, &ids, &attempts, &req.owner],
        )
        .await?;
    let held = rows
        .iter()
        .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?)))
        .collect::<Result<HashSet<_>, StoreError>>()?;
    Ok(req
        .jobs
        .iter()
        .zip(ids)
        .map(|((id, attempt), key)| JobLeaseState {
            id: *id,
            held: held.contains(&(key, *attempt)),
        })
        .collect())
}

/// Running jobs whose lease expired at `now`.
pub async fn expired_leases(
    c: &dyn Db,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<ExpiredJobLease>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query(
        "SELECT asyncoperationid, attempt, COALESCE(retrycount, 0) FROM asyncoperation \
         WHERE leaseowner IS NOT NULL AND leaseexpiresat <= $1 AND statecode = 2 \
         ORDER BY leaseexpiresat LIMIT $2",
        &[&now.0, &limit],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(ExpiredJobLease {
            id: parse_uuid(&r.try_get::<_, String>(0)?)?,
            attempt: r.try_get(1)?,
            retry_count: narrow(r.try_get(2)?, "retrycount")?,
        })
    })
    .collect()
}

/// The fence of a job attempt's outcome: the job `$1` still Locked with attempt `$2`, and (for
/// recovery) its lease ran out at the cutoff `$3`.
const FENCE: &str = "WHERE asyncoperationid = $1 AND attempt = $2 AND statecode = 2 \
    AND leaseowner IS NOT NULL AND leaseexpiresat <= $3";

/// Records a job attempt's outcome if the fence still matches; returns whether it applied.
pub async fn record_outcome(c: &dyn Db, o: &JobOutcome) -> Result<bool, StoreError> {
    static DELETE: LazyLock<String> =
        LazyLock::new(|| format!("DELETE FROM asyncoperation {FENCE} AND asyncautodelete = 1"));
    static SUCCEEDED: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE asyncoperation SET statecode = 3, statuscode = 30, completedon = $4, \
             errorcode = NULL, message = NULL, friendlymessage = NULL, leaseowner = NULL, \
             leaseexpiresat = NULL, modifiedon = $4, \
             versionnumber = nextval('bgops_version_seq') {FENCE}"
        )
    });
    static RETRY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE asyncoperation SET statecode = 0, statuscode = 0, \
             retrycount = COALESCE(retrycount, 0) + 1, nextattemptat = $7, errorcode = $5, \
             message = $6, friendlymessage = $6, leaseowner = NULL, leaseexpiresat = NULL, \
             modifiedon = $4, versionnumber = nextval('bgops_version_seq') {FENCE}"
        )
    });
    static FAILED: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE asyncoperation SET statecode = 3, statuscode = 31, completedon = $4, \
             errorcode = $5, message = $6, friendlymessage = $6, leaseowner = NULL, \
             leaseexpiresat = NULL, modifiedon = $4, \
             versionnumber = nextval('bgops_version_seq') {FENCE}"
        )
    });
    let (attempt, cutoff) = match o.fence {
        Fence::Attempt(a) => (a, i64::MAX),
        Fence::ExpiredLease(a) => (a, o.now.0),
        // System jobs start when claimed: none is ever reserved.
        Fence::Reserved { .. } => return Ok(false),
    };
    let id = o.id.to_string();
    let changed = match &o.result {
        JobResult::Succeeded => {
            let deleted = c.execute(&DELETE, &[&id, &attempt, &cutoff]).await?;
            if deleted > 0 {
                deleted
            } else {
                c.execute(&SUCCEEDED, &[&id, &attempt, &cutoff, &o.now.0])
                    .await?
            }
        }
        JobResult::Failed { error, retry_at } => {
            let code = i64::from(error.code.as_i32());
            match retry_at {
                Some(at) => {
                    c.execute(
                        &RETRY,
                        &[
                            &id,
                            &attempt,
                            &cutoff,
                            &o.now.0,
                            &code,
                            &error.message,
                            &at.0,
                        ],
                    )
                    .await?
                }
                None => {
                    c.execute(
                        &FAILED,
                        &[&id, &attempt, &cutoff, &o.now.0, &code, &error.message],
                    )
                    .await?
                }
            }
        }
    };
    Ok(changed > 0)
}
