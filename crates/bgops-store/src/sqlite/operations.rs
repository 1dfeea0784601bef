//! SQL for the `backgroundoperation` table.

use bgops_core::{
    BackgroundOperation, NewOperation, OperationId, OperationStatus, Timestamp, UserId,
};
use rusqlite::{named_params, params, Connection, OptionalExtension, Row};

use super::writer::WriterCtx;
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

fn read_row(r: &Row<'_>) -> Result<BackgroundOperation, StoreError> {
    let status: i64 = r.get(3)?;
    let ts = |i: usize| -> Result<Option<Timestamp>, rusqlite::Error> {
        Ok(r.get::<_, Option<i64>>(i)?.map(Timestamp))
    };
    Ok(BackgroundOperation {
        id: parse_id::<OperationId>(r.get(0)?)?,
        name: r.get(1)?,
        display_name: r.get(2)?,
        status: OperationStatus::from_code(status)
            .ok_or_else(|| StoreError::Corrupt(format!("bad status {status}")))?,
        input_parameters: r.get(4)?,
        output_parameters: r.get(5)?,
        start_time: ts(6)?,
        end_time: ts(7)?,
        retry_count: r.get(8)?,
        error_code: r.get(9)?,
        error_message: r.get(10)?,
        run_as: parse_id::<UserId>(r.get(11)?)?,
        priority: r.get(12)?,
        ttl_seconds: r.get(13)?,
        created_on: Timestamp(r.get(14)?),
        modified_on: Timestamp(r.get(15)?),
        created_by: parse_id::<UserId>(r.get(16)?)?,
        version_number: r.get(17)?,
        attempt: r.get(18)?,
        max_retries: r.get(19)?,
        trace_parent: crate::trace_column(r.get(20)?),
    })
}

pub fn insert(
    conn: &Connection,
    ctx: &mut WriterCtx,
    ops: &[NewOperation],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO backgroundoperation (backgroundoperationid, name, displayname, \
         backgroundoperationstatecode, backgroundoperationstatuscode, inputparameters, runas, \
         priority, ttlinseconds, createdon, modifiedon, createdby, versionnumber, maxretries, \
         nextattemptat, expiresat, callbackurl, location, traceparent) \
         VALUES (?1, ?2, ?3, 0, 0, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?8, ?8 + ?7 * 1000, \
         ?12, ?13, ?14)",
    )?;
    for op in ops {
        stmt.execute(params![
            op.id.to_string(),
            op.name,
            op.display_name,
            op.input_parameters,
            op.run_as.to_string(),
            op.priority,
            op.ttl_seconds,
            op.created_on.0,
            op.created_by.to_string(),
            ctx.next_version(),
            op.max_retries,
            op.callback_url,
            op.location,
            op.trace_parent.map(|t| t.to_string()),
        ])?;
    }
    Ok(())
}

pub fn get(conn: &Connection, id: OperationId) -> Result<Option<BackgroundOperation>, StoreError> {
    // The statement text is built once: `prepare_cached` looks it up by text on every call.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {COLUMNS} FROM backgroundoperation WHERE backgroundoperationid = ?1")
    });
    let mut stmt = conn.prepare_cached(&SQL)?;
    let mut rows = stmt.query([id.to_string()])?;
    match rows.next()? {
        Some(r) => read_row(r).map(Some),
        None => Ok(None),
    }
}

pub fn get_status(
    conn: &Connection,
    id: OperationId,
) -> Result<Option<OperationStatusView>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, backgroundoperationstatuscode, \
         CASE WHEN backgroundoperationstatuscode = 30 THEN outputparameters END, \
         CASE WHEN backgroundoperationstatuscode = 31 THEN errorcode END, \
         CASE WHEN backgroundoperationstatuscode = 31 THEN errormessage END, \
         CASE WHEN backgroundoperationstatuscode = 30 THEN outputjson END, versionnumber, runas \
         FROM backgroundoperation WHERE backgroundoperationid = ?1",
    )?;
    let mut rows = stmt.query([id.to_string()])?;
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    let status: i64 = r.get(1)?;
    Ok(Some(OperationStatusView {
        name: r.get(0)?,
        status: OperationStatus::from_code(status)
            .ok_or_else(|| StoreError::Corrupt(format!("bad status {status}")))?,
        output_parameters: r.get(2)?,
        error_code: r.get(3)?,
        error_message: r.get(4)?,
        outputs_json: r.get(5)?,
        version: r.get(6)?,
        run_as: {
            let runas: String = r.get(7)?;
            runas
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("bad runas '{runas}'")))?
        },
    }))
}

pub fn changed_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<BackgroundOperation>, StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS} FROM backgroundoperation INDEXED BY ix_bo_version \
             WHERE versionnumber > ?1 ORDER BY versionnumber LIMIT ?2"
        )
    });
    let mut stmt = conn.prepare_cached(&SQL)?;
    let rows = stmt.query_map(
        params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| Ok(read_row(r)),
    )?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

pub fn latest_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(versionnumber), 0) FROM backgroundoperation")?
        .query_row([], |r| r.get(0))?)
}

pub fn claim(
    conn: &Connection,
    ctx: &mut WriterCtx,
    req: &ClaimRequest,
) -> Result<ClaimOutcome, StoreError> {
    let now = req.now.0;
    let mut out = ClaimOutcome::default();

    // Canceled before any attempt ran: finalize without running.
    let to_cancel: Vec<String> = conn
        .prepare_cached(
            "SELECT backgroundoperationid FROM backgroundoperation INDEXED BY ix_bo_cancel \
             WHERE backgroundoperationstatuscode = 22 AND leaseowner IS NULL LIMIT 256",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    {
        let mut fin = conn.prepare_cached(
            "UPDATE backgroundoperation SET backgroundoperationstatecode = 3, \
             backgroundoperationstatuscode = 32, endtime = ?2, modifiedon = ?2, \
             expiresat = ?2 + ttlinseconds * 1000, versionnumber = ?3 \
             WHERE backgroundoperationid = ?1 AND backgroundoperationstatuscode = 22 \
             AND leaseowner IS NULL",
        )?;
        for id in to_cancel {
            if fin.execute(params![id, now, ctx.next_version()])? > 0 {
                super::completion::on_terminal(conn, ctx, &id, req.now)?;
            }
            out.canceled.push(parse_id(id)?);
        }
    }

    if req.limit > 0 {
        let due: Vec<String> = conn
            .prepare_cached(
                "SELECT backgroundoperationid FROM backgroundoperation INDEXED BY ix_bo_due \
                 WHERE backgroundoperationstatecode = 0 AND nextattemptat <= ?1 \
                 ORDER BY priority DESC, createdon, backgroundoperationid LIMIT ?2",
            )?
            .query_map(params![now, req.limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // A reservation: the row stays Ready as every reader sees it (no column they read
        // changes, not even `versionnumber`); it is not due for anyone else until it lapses.
        let mut take = conn.prepare_cached(&format!(
            "UPDATE backgroundoperation SET leaseowner = :owner, leaseexpiresat = NULL, \
             nextattemptat = :until \
             WHERE backgroundoperationid = :id AND backgroundoperationstatecode = 0 \
             AND nextattemptat <= :now \
             RETURNING {COLUMNS}"
        ))?;
        for id in due {
            let mut rows = take.query(named_params! {
                ":now": now, ":owner": req.owner, ":until": req.lease_until.0, ":id": id,
            })?;
            if let Some(r) = rows.next()? {
                out.claimed.push(read_row(r)?);
            }
        }
    }

    out.next_due = conn
        .prepare_cached(
            "SELECT MIN(nextattemptat) FROM backgroundoperation INDEXED BY ix_bo_next \
             WHERE backgroundoperationstatecode = 0 AND nextattemptat > ?1 \
             AND leaseowner IS NOT ?2",
        )?
        .query_row(params![now, req.owner], |r| r.get::<_, Option<i64>>(0))?
        .map(Timestamp);
    Ok(out)
}

pub fn renew(conn: &Connection, req: &RenewRequest) -> Result<Vec<LeaseState>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE backgroundoperation SET leaseexpiresat = ?1 \
         WHERE backgroundoperationid = ?2 AND attempt = ?3 AND leaseowner = ?4 \
         AND backgroundoperationstatecode = 2 \
         RETURNING backgroundoperationstatuscode",
    )?;
    let mut out = Vec::with_capacity(req.attempts.len());
    for (id, attempt) in &req.attempts {
        let status: Option<i64> = stmt
            .query_row(
                params![req.lease_until.0, id.to_string(), attempt, req.owner],
                |r| r.get(0),
            )
            .optional()?;
        out.push(LeaseState {
            id: *id,
            held: status.is_some(),
            cancel_requested: status == Some(22),
        });
    }
    Ok(out)
}

pub fn expired_leases(
    conn: &Connection,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<ExpiredLease>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT backgroundoperationid, attempt, backgroundoperationstatuscode, retrycount, \
         maxretries, name FROM backgroundoperation INDEXED BY ix_bo_lease \
         WHERE leaseowner IS NOT NULL AND leaseexpiresat <= ?1 \
         AND backgroundoperationstatecode = 2 ORDER BY leaseexpiresat LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now.0, limit as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i32>(3)?,
            r.get::<_, i32>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, attempt, status, retry_count, max_retries, name) = row?;
        out.push(ExpiredLease {
            id: parse_id(id)?,
            attempt,
            status: OperationStatus::from_code(status)
                .ok_or_else(|| StoreError::Corrupt(format!("bad status {status}")))?,
            retry_count,
            max_retries,
            name,
        });
    }
    Ok(out)
}

pub fn start_attempt(
    conn: &Connection,
    ctx: &mut WriterCtx,
    start: &StartAttempt,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(&format!(
            "UPDATE backgroundoperation SET backgroundoperationstatecode = 2, \
             backgroundoperationstatuscode = 20, attempt = :attempt, \
             starttime = COALESCE(starttime, :started), attemptstartedon = :started, \
             leaseexpiresat = :until, \
             modifiedon = :now, expiresat = :now + ttlinseconds * 1000, versionnumber = :v \
             {RESERVED}"
        ))?
        .execute(named_params! {
            ":id": start.id.to_string(), ":attempt": start.attempt, ":owner": start.owner,
            ":started": start.started.0, ":until": start.lease_until.0, ":now": start.now.0,
            ":v": ctx.next_version(),
        })?;
    Ok(changed > 0)
}

/// The fence of a running attempt: still Locked with this attempt, and (for recovery) the
/// lease has run out at `:cutoff`.
const LOCKED: &str = "WHERE backgroundoperationid = :id AND attempt = :attempt \
    AND backgroundoperationstatecode = 2 AND leaseowner IS NOT NULL \
    AND leaseexpiresat <= :cutoff";

/// The fence of a reserved row's attempt `:attempt` whose start is not written: still Ready,
/// reserved by `:owner`, with the attempts before it.
const RESERVED: &str = "WHERE backgroundoperationid = :id AND attempt = :attempt - 1 \
    AND backgroundoperationstatecode = 0 AND leaseowner = :owner";

pub fn record_outcome(
    conn: &Connection,
    ctx: &mut WriterCtx,
    o: &AttemptOutcome,
) -> Result<Recorded, StoreError> {
    let id = o.id.to_string();
    let v = ctx.next_version();
    let cutoff = match o.fence {
        Fence::ExpiredLease(_) => o.now.0,
        _ => i64::MAX,
    };
    // The fence, what the write sets besides the outcome, and the fence's parameters. A
    // reserved row's attempt starts in the same write: the row goes from Ready to its outcome.
    let (fence, start, attempt, owner, started) = match &o.fence {
        Fence::Attempt(a) | Fence::ExpiredLease(a) => (LOCKED, "", *a, None, None),
        Fence::Reserved {
            owner,
            attempt,
            started,
        } => (
            RESERVED,
            "attempt = :attempt, starttime = COALESCE(starttime, :started), \
             attemptstartedon = :started, ",
            *attempt,
            Some(owner),
            Some(started.0),
        ),
    };
    let mut args: Vec<(&str, &dyn rusqlite::ToSql)> = vec![
        (":id", &id),
        (":attempt", &attempt),
        (":now", &o.now.0),
        (":v", &v),
    ];
    match &owner {
        Some(owner) => args.extend([
            (":owner", owner as &dyn rusqlite::ToSql),
            (":started", &started),
        ]),
        None => args.push((":cutoff", &cutoff)),
    }
    let run = |set: &str, only: &str, extra: &[(&str, &dyn rusqlite::ToSql)]| {
        let mut all = args.clone();
        all.extend_from_slice(extra);
        conn.prepare_cached(&format!(
            "UPDATE backgroundoperation SET {start}{set}, leaseowner = NULL, \
             leaseexpiresat = NULL, modifiedon = :now, expiresat = :now + ttlinseconds * 1000, \
             versionnumber = :v {fence}{only}"
        ))?
        .execute(&all[..])
        .map_err(StoreError::from)
    };
    let mut terminal = true;
    let changed = match &o.result {
        AttemptResult::Succeeded {
            outputs,
            outputs_json,
        } => run(
            "backgroundoperationstatecode = 3, backgroundoperationstatuscode = 30, \
             outputparameters = :out, outputjson = :json, endtime = :now, errorcode = NULL, \
             errormessage = NULL",
            "",
            &[(":out", outputs), (":json", outputs_json)],
        )?,
        AttemptResult::Canceled => run(
            "backgroundoperationstatecode = 3, backgroundoperationstatuscode = 32, \
             endtime = :now, errorcode = NULL, errormessage = NULL",
            "",
            &[],
        )?,
        AttemptResult::Failed { error, retry_at } => {
            // A retry only while In Progress (or still Ready when reserved): a cancel request
            // (22) means "do not retry".
            let only = if owner.is_some() {
                ""
            } else {
                " AND backgroundoperationstatuscode = 20"
            };
            // Either write appends the failed attempt to the row's history (`:code`, `:msg`).
            let history = super::history::append_attempt(owner.is_some());
            let code = error.code.as_i32();
            let retried = match retry_at {
                Some(at) => run(
                    &format!(
                        "backgroundoperationstatecode = 0, backgroundoperationstatuscode = 0, \
                         retrycount = retrycount + 1, nextattemptat = :at, {history}"
                    ),
                    only,
                    &[(":at", &at.0), (":code", &code), (":msg", &error.message)],
                )?,
                None => 0,
            };
            if retried > 0 {
                terminal = false;
                retried
            } else {
                run(
                    &format!(
                        "backgroundoperationstatecode = 3, backgroundoperationstatuscode = 31, \
                         endtime = :now, errorcode = :code, errormessage = :msg, {history}"
                    ),
                    "",
                    &[(":code", &code), (":msg", &error.message)],
                )?
            }
        }
    };
    if changed == 0 {
        return Ok(Recorded::Dropped);
    }
    let notify = terminal && super::completion::on_terminal(conn, ctx, &id, o.now)?;
    Ok(Recorded::Applied { notify })
}

pub fn release_claims(conn: &Connection, req: &ReleaseRequest) -> Result<usize, StoreError> {
    // Still reserved by this owner with this attempt count: due again now, for anyone. Nothing
    // a reader sees changes, so neither `versionnumber` nor `modifiedon` moves.
    let mut back = conn.prepare_cached(
        "UPDATE backgroundoperation SET leaseowner = NULL, nextattemptat = :now \
         WHERE backgroundoperationid = :id AND attempt = :attempt AND leaseowner = :owner \
         AND backgroundoperationstatecode = 0",
    )?;
    let mut n = 0;
    for (id, attempt) in &req.attempts {
        n += back.execute(named_params! {
            ":id": id.to_string(), ":attempt": attempt, ":owner": req.owner, ":now": req.now.0,
        })?;
    }
    Ok(n)
}

pub fn request_cancel(
    conn: &Connection,
    ctx: &mut WriterCtx,
    id: OperationId,
    now: Timestamp,
    if_version: Option<i64>,
) -> Result<CancelOutcome, StoreError> {
    let current: Option<(i64, i64, bool)> = conn
        .prepare_cached(
            "SELECT backgroundoperationstatuscode, versionnumber, leaseowner IS NOT NULL \
             FROM backgroundoperation WHERE backgroundoperationid = ?1",
        )?
        .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((status, version, leased)) = current else {
        return Ok(CancelOutcome::NotFound);
    };
    if if_version.is_some_and(|v| v != version) {
        return Ok(CancelOutcome::VersionMismatch);
    }
    match OperationStatus::from_code(status) {
        Some(s) if s.is_terminal() => Ok(CancelOutcome::Terminal),
        // Asked again: an attempt still holding its lease is still running.
        Some(OperationStatus::Canceling) => Ok(CancelOutcome::Requested {
            was_running: leased,
        }),
        Some(s) => {
            // A reserved row loses its reservation: its node can no longer start it, and the
            // next claim ends it Canceled like any row canceled before it ran.
            conn.prepare_cached(
                "UPDATE backgroundoperation SET backgroundoperationstatecode = 2, \
                 backgroundoperationstatuscode = 22, modifiedon = ?2, \
                 leaseowner = CASE WHEN backgroundoperationstatecode = 0 THEN NULL \
                 ELSE leaseowner END, \
                 expiresat = ?2 + ttlinseconds * 1000, versionnumber = ?3 \
                 WHERE backgroundoperationid = ?1 AND backgroundoperationstatuscode = ?4",
            )?
            .execute(params![id.to_string(), now.0, ctx.next_version(), status])?;
            Ok(CancelOutcome::Requested {
                was_running: s == OperationStatus::InProgress,
            })
        }
        None => Err(StoreError::Corrupt(format!("bad status {status}"))),
    }
}

pub fn sweep(conn: &Connection, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
    let expired: Vec<String> = conn
        .prepare_cached(
            "SELECT backgroundoperationid FROM backgroundoperation INDEXED BY ix_bo_expires \
             WHERE expiresat <= ?1 AND backgroundoperationstatecode <> 2 \
             AND leaseowner IS NULL LIMIT ?2",
        )?
        .query_map(params![now.0, limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut delete =
        conn.prepare_cached("DELETE FROM backgroundoperation WHERE backgroundoperationid = ?1")?;
    let mut n = 0;
    for id in &expired {
        // Its callback deliveries go with it, sent or not: nothing is left to point at.
        super::outbox::delete_of_operation(conn, id)?;
        n += delete.execute([id])?;
    }
    Ok(n)
}

/// The unfinished rows by status and the oldest waiting, each count from a partial index of
/// unfinished rows (`INDEXED BY`, so no plan can fall back to scanning the table).
pub fn queue_summary(conn: &Connection) -> Result<QueueSummary, StoreError> {
    let (waiting, oldest): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*), min(createdon) FROM backgroundoperation INDEXED BY ix_bo_due \
             WHERE backgroundoperationstatecode = 0",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (in_progress, leased_canceling): (i64, i64) = conn
        .prepare_cached(
            "SELECT coalesce(sum(backgroundoperationstatuscode = 20), 0), \
             coalesce(sum(backgroundoperationstatuscode = 22), 0) \
             FROM backgroundoperation INDEXED BY ix_bo_lease WHERE leaseowner IS NOT NULL",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let unleased_canceling: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM backgroundoperation INDEXED BY ix_bo_cancel \
             WHERE backgroundoperationstatuscode = 22 AND leaseowner IS NULL",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(QueueSummary {
        waiting: waiting.max(0) as u64,
        in_progress: in_progress.max(0) as u64,
        canceling: (leased_canceling + unleased_canceling).max(0) as u64,
        oldest_waiting: oldest.map(Timestamp),
    })
}
