//! SQL for the `backgroundoperation` table on PostgreSQL: the same contract as
//! `sqlite/operations.rs`, with the claims of several nodes kept apart by row locks
//! (`FOR UPDATE SKIP LOCKED`: a node never waits for another's claim and never takes its rows).

use bgops_core::{
    BackgroundOperation, NewOperation, OperationId, OperationStatus, Timestamp, UserId,
};
use tokio_postgres::Row;

use super::db::Db;
use super::listen;
use crate::store::*;
use crate::QueueSummary;
use crate::StoreError;

/// Every column read into a [`BackgroundOperation`], in the order `read_row` expects.
const COLUMNS: &str = "backgroundoperationid, name, displayname, backgroundoperationstatuscode, \
    inputparameters, outputparameters, starttime, endtime, retrycount, errorcode, errormessage, \
    runas, priority, ttlinseconds, createdon, modifiedon, createdby, versionnumber, attempt, \
    maxretries, traceparent";

fn parse_id<T: std::str::FromStr>(s: String) -> Result<T, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad id '{s}'")))
}

fn narrow(value: i64, what: &str) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} out of range")))
}

fn status(code: i64) -> Result<OperationStatus, StoreError> {
    OperationStatus::from_code(code)
        .ok_or_else(|| StoreError::Corrupt(format!("bad status {code}")))
}

fn read_row(r: &Row) -> Result<BackgroundOperation, StoreError> {
    let ts = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<_, Option<i64>>(i)?.map(Timestamp))
    };
    Ok(BackgroundOperation {
        id: parse_id::<OperationId>(r.try_get(0)?)?,
        name: r.try_get(1)?,
        display_name: r.try_get(2)?,
        status: status(r.try_get(3)?)?,
        input_parameters: r.try_get(4)?,
        output_parameters: r.try_get(5)?,
        start_time: ts(6)?,
        end_time: ts(7)?,
        retry_count: narrow(r.try_get(8)?, "retrycount")?,
        error_code: r
            .try_get::<_, Option<i64>>(9)?
            .map(|c| narrow(c, "errorcode"))
            .transpose()?,
        error_message: r.try_get(10)?,
        run_as: parse_id::<UserId>(r.try_get(11)?)?,
        priority: narrow(r.try_get(12)?, "priority")?,
        ttl_seconds: r.try_get(13)?,
        created_on: Timestamp(r.try_get(14)?),
        modified_on: Timestamp(r.try_get(15)?),
        created_by: parse_id::<UserId>(r.try_get(16)?)?,
        version_number: r.try_get(17)?,
        attempt: r.try_get(18)?,
        max_retries: narrow(r.try_get(19)?, "maxretries")?,
        trace_parent: crate::trace_column(r.try_get(20)?),
    })
}

/// Inserts `ops` in one statement, skipping any whose id exists already (without an error,
/// which would abort the shared transaction: the writer runs the engine's writes without
/// savepoints); the ids it inserted.
pub async fn insert_rows(
    c: &dyn Db,
    ops: &[NewOperation],
) -> Result<std::collections::HashSet<String>, StoreError> {
    const SQL: &str = "INSERT INTO backgroundoperation (backgroundoperationid, name, \
         displayname, backgroundoperationstatecode, backgroundoperationstatuscode, \
         inputparameters, runas, priority, ttlinseconds, createdon, modifiedon, createdby, \
         versionnumber, maxretries, nextattemptat, expiresat, callbackurl, location, traceparent) \
         SELECT id, name, displayname, 0, 0, inputs, runas, priority, ttl, createdon, \
         createdon, createdby, nextval('bgops_version_seq'), maxretries, createdon, \
         createdon + ttl * 1000, callbackurl, location, traceparent \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11::text[], \
         $12::text[], $13::text[]) WITH ORDINALITY AS o(id, name, displayname, inputs, runas, \
         priority, ttl, createdon, createdby, maxretries, callbackurl, location, traceparent, n) \
         ORDER BY n \
         ON CONFLICT (backgroundoperationid) DO NOTHING RETURNING backgroundoperationid";
    let col = |f: &dyn Fn(&NewOperation) -> String| ops.iter().map(f).collect::<Vec<_>>();
    let ids = col(&|o| o.id.to_string());
    let names = col(&|o| o.name.clone());
    let display = col(&|o| o.display_name.clone());
    let inputs = col(&|o| o.input_parameters.clone());
    let runas = col(&|o| o.run_as.to_string());
    let created_by = col(&|o| o.created_by.to_string());
    let num = |f: &dyn Fn(&NewOperation) -> i64| ops.iter().map(f).collect::<Vec<_>>();
    let priority = num(&|o| i64::from(o.priority));
    let ttl = num(&|o| o.ttl_seconds);
    let created_on = num(&|o| o.created_on.0);
    let max_retries = num(&|o| i64::from(o.max_retries));
    let callback: Vec<Option<String>> = ops.iter().map(|o| o.callback_url.clone()).collect();
    let location: Vec<Option<String>> = ops.iter().map(|o| o.location.clone()).collect();
    let trace: Vec<Option<String>> = ops
        .iter()
        .map(|o| o.trace_parent.map(|t| t.to_string()))
        .collect();
    let inserted = c
        .query(
            SQL,
            &[
                &ids,
                &names,
                &display,
                &inputs,
                &runas,
                &priority,
                &ttl,
                &created_on,
                &created_by,
                &max_retries,
                &callback,
                &location,
                &trace,
            ],
        )
        .await?;
    inserted
        .iter()
        .map(|r| r.try_get::<_, String>(0).map_err(StoreError::from))
        .collect()
}

/// Inserts `ops`, all or none: an id that exists already makes the whole call fail and leaves
/// nothing of it behind.
pub async fn insert(c: &dyn Db, ops: &[NewOperation]) -> Result<(), StoreError> {
    let inserted = insert_rows(c, ops).await?;
    if inserted.len() < ops.len() {
        let mine: Vec<String> = inserted.into_iter().collect();
        c.execute(
            "DELETE FROM backgroundoperation WHERE backgroundoperationid = ANY($1)",
            &[&mine],
        )
        .await?;
        return Err(StoreError::InvalidRequest(
            "an operation with this id exists already".to_owned(),
        ));
    }
    for id in &inserted {
        listen::started(c, id);
    }
    listen::work(c);
    Ok(())
}

pub async fn get(c: &dyn Db, id: OperationId) -> Result<Option<BackgroundOperation>, StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {COLUMNS} FROM backgroundoperation WHERE backgroundoperationid = $1")
    });
    c.query_opt(&SQL, &[&id.to_string()])
        .await?
        .map(|r| read_row(&r))
        .transpose()
}

/// A row of a status read (`status_reads`: id, name, status code, outputs, error code, error
/// message, outputs as shown, version, runas) as the id and the view.
pub fn read_status(r: &Row) -> Result<(String, OperationStatusView), StoreError> {
    Ok((
        r.try_get(0)?,
        OperationStatusView {
            name: r.try_get(1)?,
            status: status(r.try_get(2)?)?,
            output_parameters: r.try_get(3)?,
            error_code: r
                .try_get::<_, Option<i64>>(4)?
                .map(|c| narrow(c, "errorcode"))
                .transpose()?,
            error_message: r.try_get(5)?,
            outputs_json: r.try_get(6)?,
            version: r.try_get(7)?,
            run_as: {
                let runas: String = r.try_get(8)?;
                runas
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("bad runas '{runas}'")))?
            },
        },
    ))
}

pub async fn changed_after(
    c: &dyn Db,
    after: i64,
    limit: usize,
) -> Result<Vec<BackgroundOperation>, StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS} FROM backgroundoperation WHERE versionnumber > $1 \
             ORDER BY versionnumber LIMIT $2"
        )
    });
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query(&SQL, &[&after, &limit])
        .await?
        .iter()
        .map(read_row)
        .collect()
}

pub async fn latest_version(c: &dyn Db) -> Result<i64, StoreError> {
    Ok(c.query_one(
        "SELECT COALESCE(MAX(versionnumber), 0)::bigint FROM backgroundoperation",
        &[],
    )
    .await?
    .try_get(0)?)
}

pub async fn claim(c: &dyn Db, req: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
    let now = req.now.0;
    let mut out = ClaimOutcome::default();

    // Canceled before any attempt ran: finalize without running. Rows another node is
    // finalizing right now are skipped, not waited for.
    let canceled = c
        .query(
            "WITH c AS (SELECT backgroundoperationid FROM backgroundoperation \
             WHERE backgroundoperationstatuscode = 22 AND leaseowner IS NULL \
             LIMIT 256 FOR UPDATE SKIP LOCKED) \
             UPDATE backgroundoperation b SET backgroundoperationstatecode = 3, \
             backgroundoperationstatuscode = 32, endtime = $1, modifiedon = $1, \
             expiresat = $1 + b.ttlinseconds * 1000, \
             versionnumber = nextval('bgops_version_seq') \
             FROM c WHERE b.backgroundoperationid = c.backgroundoperationid \
             RETURNING b.backgroundoperationid",
            &[&now],
        )
        .await?;
    if !canceled.is_empty() {
        // Rows now Canceled: a reader sees them, so the claim's commit must be durable.
        c.durable();
    }
    let mut notified = false;
    for r in canceled {
        let id: String = r.try_get(0)?;
        notified |= super::completion::on_terminal(c, &id, req.now).await?;
        listen::changed(c, &id);
        out.canceled.push(parse_id(id)?);
    }
    if notified {
        listen::ended(c);
    }

    if req.limit > 0 {
        // Reservations whose node did not start them in time (it died, or lost the database)
        // go back to the free rows, as if never made: due at once, in their place by priority
        // and age. The claim below runs after it on the same connection (pipelined).
        let lapsed_params: [Param<'_>; 1] = [&now];
        let lapsed = c.execute(
            "UPDATE backgroundoperation SET leaseowner = NULL \
             WHERE backgroundoperationstatecode = 0 AND leaseowner IS NOT NULL \
             AND nextattemptat <= $1",
            &lapsed_params,
        );
        // A reservation: the row stays Ready as every reader sees it (no column they read
        // changes, not even `versionnumber`); it is not due for anyone else until it lapses.
        // The rows are written by primary key (`= ANY(ARRAY(…))`), never by a join the planner
        // might turn into a scan of the table.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let returning = super::db::qualified(COLUMNS, "b");
            format!(
                "UPDATE backgroundoperation b SET leaseowner = $3, leaseexpiresat = NULL, \
                 nextattemptat = $4 \
                 WHERE b.backgroundoperationid = ANY(ARRAY(\
                 SELECT backgroundoperationid FROM backgroundoperation \
                 WHERE backgroundoperationstatecode = 0 AND leaseowner IS NULL \
                 AND nextattemptat <= $1 \
                 ORDER BY priority DESC, createdon, backgroundoperationid \
                 LIMIT $2 FOR UPDATE SKIP LOCKED)) \
                 RETURNING {returning}"
            )
        });
        let limit = i64::try_from(req.limit).unwrap_or(i64::MAX);
        let params: [Param<'_>; 4] = [&now, &limit, &req.owner, &req.lease_until.0];
        let (lapsed, rows) = tokio::join!(lapsed, c.query(&SQL, &params));
        lapsed?;
        out.claimed = rows?.iter().map(read_row).collect::<Result<_, _>>()?;
        // RETURNING has no order: the contract's is priority first, then age.
        out.claimed.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.created_on.cmp(&b.created_on))
                .then(a.id.to_string().cmp(&b.id.to_string()))
        });
    }
    if out.claimed.len() == req.limit {
        // A full claim: the claimer asks again at once and has no use for a wake-up time; nor
        // has a claim of nothing (its node has no free worker: it waits for one).
        return Ok(out);
    }

    // When the next row falls due: a free row's retry time, or when another node's
    // reservation lapses (this node's own are not due for it: it holds them).
    out.next_due = c
        .query_one(
            "SELECT LEAST(\
             (SELECT MIN(nextattemptat) FROM backgroundoperation \
              WHERE backgroundoperationstatecode = 0 AND leaseowner IS NULL \
              AND nextattemptat > $1), \
             (SELECT MIN(nextattemptat) FROM backgroundoperation \
              WHERE backgroundoperationstatecode = 0 AND leaseowner IS NOT NULL \
              AND leaseowner <> $2 AND nextattemptat > $1))",
            &[&now, &req.owner],
        )
        .await?
        .try_get::<_, Option<i64>>(0)?
        .map(Timestamp);
    Ok(out)
}

/// The fence of a reserved row's attempt `$2` whose start is not written: still Ready,
/// reserved by `$3`, with the attempts before it. (`$1` is the row's id.)
const RESERVED: &str = "WHERE backgroundoperationid = $1 AND attempt = $2::bigint - 1 \
    AND backgroundoperationstatecode = 0 AND leaseowner = $3";

pub async fn start_attempt(c: &dyn Db, start: &StartAttempt) -> Result<bool, StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "UPDATE backgroundoperation SET backgroundoperationstatecode = 2, \
             backgroundoperationstatuscode = 20, attempt = $2, \
             starttime = COALESCE(starttime, $4), attemptstartedon = $4, leaseexpiresat = $5, \
             modifiedon = $6, \
             expiresat = $6 + ttlinseconds * 1000, \
             versionnumber = nextval('bgops_version_seq') {RESERVED}"
        )
    });
    let changed = c
        .execute(
            &SQL,
            &[
                &start.id.to_string(),
                &start.attempt,
                &start.owner,
                &start.started.0,
                &start.lease_until.0,
                &start.now.0,
            ],
        )
        .await?;
    if changed > 0 {
        listen::started(c, &start.id.to_string());
    }
    Ok(changed > 0)
}

pub async fn renew(c: &dyn Db, req: &RenewRequest) -> Result<Vec<LeaseState>, StoreError> {
    let ids: Vec<String> = req.attempts.iter().map(|(id, _)| id.to_string()).collect();
    let attempts: Vec<i64> = req.attempts.iter().map(|(_, a)| *a).collect();
    let rows = c
        .query(
            "UPDATE backgroundoperation b SET leaseexpiresat = $1 \
             FROM unnest($2::text[], $3::bigint[]) AS r(id, attempt) \
             WHERE b.backgroundoperationid = ANY($2) AND b.backgroundoperationid = r.id \
             AND b.attempt = r.attempt AND b.leaseowner = $4 AND b.backgroundoperationstatecode = 2 \
             RETURNING b.backgroundoperationid, b.backgroundoperationstatuscode",
            &[&req.lease_until.0, &ids, &attempts, &req.owner],
        )
        .await?;
    let mut held = std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        held.insert(r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?);
    }
    Ok(req
        .attempts
        .iter()
        .zip(ids)
        .map(|((id, _), key)| {
            let status = held.get(&key).copied();
            LeaseState {
                id: *id,
                held: status.is_some(),
                cancel_requested: status == Some(22),
            }
        })
        .collect())
}

pub async fn expired_leases(
    c: &dyn Db,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<ExpiredLease>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c
        .query(
            "SELECT backgroundoperationid, attempt, backgroundoperationstatuscode, retrycount, \
             maxretries, name FROM backgroundoperation \
             WHERE leaseowner IS NOT NULL AND leaseexpiresat <= $1 \
             AND backgroundoperationstatecode = 2 ORDER BY leaseexpiresat LIMIT $2",
            &[&now.0, &limit],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ExpiredLease {
                id: parse_id(r.try_get(0)?)?,
                attempt: r.try_get(1)?,
                status: status(r.try_get(2)?)?,
                retry_count: narrow(r.try_get(3)?, "retrycount")?,
                max_retries: narrow(r.try_get(4)?, "maxretries")?,
                name: r.try_get(5)?,
            })
        })
        .collect()
}

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// Writes an outcome behind its fence: `set` (which may use `$3` = the time of the write and
/// `$4`… = `extra`) plus what every outcome clears, on the row if the fence still matches;
/// `only` narrows the fence further. Returns how many rows changed (0 or 1).
///
/// With `failed` (code, message), the write also appends the failed attempt to the row's
/// `attempthistory` (see `super::history::append_attempt`).
async fn write_outcome(
    c: &dyn Db,
    o: &AttemptOutcome,
    set: &str,
    only: &str,
    extra: &[Param<'_>],
    failed: Option<(&i64, &String)>,
) -> Result<u64, StoreError> {
    let id = o.id.to_string();
    let now = o.now.0;
    let k = 4 + extra.len();
    let (attempt, cutoff, owner, started) = match &o.fence {
        Fence::Attempt(a) => (*a, i64::MAX, None, 0),
        Fence::ExpiredLease(a) => (*a, now, None, 0),
        Fence::Reserved {
            owner,
            attempt,
            started,
        } => (*attempt, 0, Some(owner.as_str()), started.0),
    };
    let mut params: Vec<Param<'_>> = vec![&id, &attempt, &now];
    params.extend_from_slice(extra);
    let (start, fence) = match &owner {
        // Still Locked with this attempt, and (for recovery) its lease ran out at the cutoff.
        None => {
            params.push(&cutoff);
            (
                String::new(),
                format!(
                    "WHERE backgroundoperationid = $1 AND attempt = $2 \
                     AND backgroundoperationstatecode = 2 AND leaseowner IS NOT NULL \
                     AND leaseexpiresat <= ${k}"
                ),
            )
        }
        // A reserved row whose attempt's start was not written: the write starts it too.
        Some(owner) => {
            params.push(owner);
            params.push(&started);
            (
                format!(
                    "attempt = $2, starttime = COALESCE(starttime, ${0}), \
                     attemptstartedon = ${0}, ",
                    k + 1
                ),
                format!(
                    "WHERE backgroundoperationid = $1 AND attempt = $2::bigint - 1 \
                     AND backgroundoperationstatecode = 0 AND leaseowner = ${k}"
                ),
            )
        }
    };
    let history = match failed {
        Some((code, message)) => {
            let at = params.len() + 1;
            params.push(code);
            params.push(message);
            // A reserved row's owner and start are the parameters after the fence's `${k}`.
            let reserved = owner.map(|_| (k, k + 1));
            super::history::append_attempt(reserved, at)
        }
        None => String::new(),
    };
    let sql = format!(
        "UPDATE backgroundoperation SET {start}{set}{history}, leaseowner = NULL, \
         leaseexpiresat = NULL, modifiedon = $3, expiresat = $3 + ttlinseconds * 1000, \
         versionnumber = nextval('bgops_version_seq') {fence}{only}"
    );
    c.execute(&sql, &params).await
}

pub async fn record_outcome(c: &dyn Db, o: &AttemptOutcome) -> Result<Recorded, StoreError> {
    let mut terminal = true;
    let changed = match &o.result {
        AttemptResult::Succeeded {
            outputs,
            outputs_json,
        } => {
            write_outcome(
                c,
                o,
                "backgroundoperationstatecode = 3, backgroundoperationstatuscode = 30, \
                 outputparameters = $4, outputjson = $5, endtime = $3, errorcode = NULL, \
                 errormessage = NULL",
                "",
                &[outputs, outputs_json],
                None,
            )
            .await?
        }
        AttemptResult::Canceled => {
            write_outcome(
                c,
                o,
                "backgroundoperationstatecode = 3, backgroundoperationstatuscode = 32, \
                 endtime = $3, errorcode = NULL, errormessage = NULL",
                "",
                &[],
                None,
            )
            .await?
        }
        AttemptResult::Failed { error, retry_at } => {
            // A retry only while In Progress (or still Ready when reserved): a cancel request
            // (22) means "do not retry".
            let only = match o.fence {
                Fence::Reserved { .. } => "",
                _ => " AND backgroundoperationstatuscode = 20",
            };
            // Either write appends the failed attempt to the row's history.
            let code = i64::from(error.code.as_i32());
            let failed = Some((&code, &error.message));
            let retried = match retry_at {
                Some(at) => {
                    write_outcome(
                        c,
                        o,
                        "backgroundoperationstatecode = 0, backgroundoperationstatuscode = 0, \
                         retrycount = retrycount + 1, nextattemptat = $4",
                        only,
                        &[&at.0],
                        failed,
                    )
                    .await?
                }
                None => 0,
            };
            if retried > 0 {
                terminal = false;
                retried
            } else {
                write_outcome(
                    c,
                    o,
                    "backgroundoperationstatecode = 3, backgroundoperationstatuscode = 31, \
                     endtime = $3, errorcode = $4, errormessage = $5",
                    "",
                    &[&code, &error.message],
                    failed,
                )
                .await?
            }
        }
    };
    if changed == 0 {
        return Ok(Recorded::Dropped);
    }
    listen::changed(c, &o.id.to_string());
    if !terminal {
        listen::work(c);
    }
    let notify = terminal && super::completion::on_terminal(c, &o.id.to_string(), o.now).await?;
    if notify {
        // Only a callback or a system job gives the outbox and job claimers work.
        listen::ended(c);
    }
    Ok(Recorded::Applied { notify })
}

pub async fn release_claims(c: &dyn Db, req: &ReleaseRequest) -> Result<usize, StoreError> {
    // Still reserved by this owner with this attempt count: due again now, for anyone. Nothing
    // a reader sees changes, so neither `versionnumber` nor `modifiedon` moves.
    let ids: Vec<String> = req.attempts.iter().map(|(id, _)| id.to_string()).collect();
    let attempts: Vec<i64> = req.attempts.iter().map(|(_, a)| *a).collect();
    let n = c
        .execute(
            "UPDATE backgroundoperation b SET leaseowner = NULL, nextattemptat = $1 \
             FROM unnest($2::text[], $3::bigint[]) AS r(id, attempt) \
             WHERE b.backgroundoperationid = ANY($2) AND b.backgroundoperationid = r.id \
             AND b.attempt = r.attempt AND b.leaseowner = $4 AND b.backgroundoperationstatecode = 0",
            &[&req.now.0, &ids, &attempts, &req.owner],
        )
        .await?;
    if n > 0 {
        listen::work(c);
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub async fn request_cancel(
    c: &dyn Db,
    id: OperationId,
    now: Timestamp,
    if_version: Option<i64>,
) -> Result<CancelOutcome, StoreError> {
    let key = id.to_string();
    // The row lock makes the read and the write one step against any other node.
    let Some(r) = c
        .query_opt(
            "SELECT backgroundoperationstatuscode, versionnumber, leaseowner IS NOT NULL \
             FROM backgroundoperation WHERE backgroundoperationid = $1 FOR UPDATE",
            &[&key],
        )
        .await?
    else {
        return Ok(CancelOutcome::NotFound);
    };
    let (code, version, leased): (i64, i64, bool) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
    if if_version.is_some_and(|v| v != version) {
        return Ok(CancelOutcome::VersionMismatch);
    }
    match status(code)? {
        s if s.is_terminal() => Ok(CancelOutcome::Terminal),
        // Asked again: an attempt still holding its lease is still running.
        OperationStatus::Canceling => Ok(CancelOutcome::Requested {
            was_running: leased,
        }),
        s => {
            // A reserved row loses its reservation: its node can no longer start it, and the
            // next claim ends it Canceled like any row canceled before it ran.
            c.execute(
                "UPDATE backgroundoperation SET backgroundoperationstatecode = 2, \
                 backgroundoperationstatuscode = 22, modifiedon = $2, \
                 leaseowner = CASE WHEN backgroundoperationstatecode = 0 THEN NULL \
                 ELSE leaseowner END, \
                 expiresat = $2 + ttlinseconds * 1000, \
                 versionnumber = nextval('bgops_version_seq') \
                 WHERE backgroundoperationid = $1 AND backgroundoperationstatuscode = $3",
                &[&key, &now.0, &code],
            )
            .await?;
            // The node running it signals its attempt; a Ready row is finalized by a claim.
            listen::canceled(c, &key);
            listen::changed(c, &key);
            listen::work(c);
            Ok(CancelOutcome::Requested {
                was_running: s == OperationStatus::InProgress,
            })
        }
    }
}

pub async fn sweep(c: &dyn Db, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let expired: Vec<String> = c
        .query(
            "SELECT backgroundoperationid FROM backgroundoperation \
             WHERE expiresat <= $1 AND backgroundoperationstatecode <> 2 \
             AND leaseowner IS NULL LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&now.0, &limit],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut n = 0;
    for id in &expired {
        // Its callback deliveries go with it, sent or not: nothing is left to point at.
        super::outbox::delete_of_operation(c, id).await?;
        n += c
            .execute(
                "DELETE FROM backgroundoperation WHERE backgroundoperationid = $1",
                &[id],
            )
            .await?;
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The unfinished rows by status and the oldest waiting, each from a partial index of
/// unfinished rows (the predicates match theirs: `ix_bo_due` free waiting rows, `ix_bo_reserved`
/// reserved ones, `ix_bo_lease` started attempts, `ix_bo_cancel` canceled before they ran).
pub async fn queue_summary(c: &dyn Db) -> Result<QueueSummary, StoreError> {
    let row = c
        .query_one(
            "SELECT \
             (SELECT count(*) FROM backgroundoperation \
              WHERE backgroundoperationstatecode = 0 AND leaseowner IS NULL), \
             (SELECT count(*) FROM backgroundoperation \
              WHERE backgroundoperationstatecode = 0 AND leaseowner IS NOT NULL), \
             least( \
              (SELECT min(createdon) FROM backgroundoperation \
               WHERE backgroundoperationstatecode = 0 AND leaseowner IS NULL), \
              (SELECT min(createdon) FROM backgroundoperation \
               WHERE backgroundoperationstatecode = 0 AND leaseowner IS NOT NULL)), \
             (SELECT count(*) FILTER (WHERE backgroundoperationstatuscode = 20) \
              FROM backgroundoperation WHERE backgroundoperationstatecode = 2), \
             (SELECT count(*) FILTER (WHERE backgroundoperationstatuscode = 22) \
              FROM backgroundoperation WHERE backgroundoperationstatecode = 2)",
            &[],
        )
        .await?;
    let count =
        |i: usize| -> Result<u64, StoreError> { Ok(row.try_get::<_, i64>(i)?.max(0) as u64) };
    Ok(QueueSummary {
        waiting: count(0)? + count(1)?,
        oldest_waiting: row.try_get::<_, Option<i64>>(2)?.map(Timestamp),
        in_progress: count(3)?,
        canceling: count(4)?,
    })
}
