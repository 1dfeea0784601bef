//! SQL for an operation's history (see [`crate::history`]): the appends to the JSON arrays of
//! failed attempts and failed delivery tries, made inside the writes that record those failures,
//! and the read of everything the operation page shows.

use std::sync::LazyLock;

use bgops_core::{OperationId, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::history::*;
use crate::StoreError;

/// `column` (a JSON array or NULL) with `entry` appended, keeping the last [`HISTORY_CAP`].
fn append(column: &str, entry: &str) -> String {
    format!(
        "json_insert(CASE WHEN json_array_length({column}) >= {HISTORY_CAP} \
         THEN json_remove({column}, '$[0]') ELSE COALESCE({column}, '[]') END, '$[#]', {entry})"
    )
}

/// The `SET` item that appends a failed attempt to `attempthistory`, for the `UPDATE` of
/// `operations::record_outcome`: its parameters `:attempt`, `:now`, `:code` and `:msg`, and
/// for an attempt of a reserved row (`reserved`), `:started` and `:owner`. Otherwise the
/// attempt's start is read from the row as it was before the write: `starttime` for the first
/// attempt, else `modifiedon`, which the start of the attempt wrote (unknown when a cancel
/// request wrote it since), and its node from `leaseowner`.
pub fn append_attempt(reserved: bool) -> &'static str {
    static LOCKED: LazyLock<String> = LazyLock::new(|| {
        attempt_item(
            "CASE WHEN :attempt = 1 THEN starttime \
             WHEN backgroundoperationstatuscode = 20 THEN modifiedon END",
            "leaseowner",
        )
    });
    static RESERVED: LazyLock<String> =
        LazyLock::new(|| attempt_item("COALESCE(starttime, :started)", ":owner"));
    if reserved {
        // A reserved row's attempt starts in the write itself: `:started` is exact; a first
        // attempt's start is `starttime` when an earlier write set it.
        RESERVED.as_str()
    } else {
        LOCKED.as_str()
    }
}

fn attempt_item(started: &str, owner: &str) -> String {
    let entry = format!(
        "json_object('attempt', :attempt, 'started', {started}, 'ended', :now, \
         'errorCode', :code, 'errorMessage', :msg, 'owner', {owner})"
    );
    format!("attempthistory = {}", append("attempthistory", &entry))
}

/// The `SET` item of `outbox::record` that appends a failed try (`:error` given) to `tries`:
/// the try's number is the fenced `attempts`, its start the claim's `modifiedon`, its node
/// `leaseowner`.
pub static APPEND_TRY: LazyLock<String> = LazyLock::new(|| {
    let entry = "json_object('attempt', attempts, 'started', modifiedon, 'ended', :now, \
                 'error', :error, 'owner', leaseowner)";
    format!(
        "tries = CASE WHEN :error IS NULL THEN tries ELSE {} END",
        append("tries", entry)
    )
});

fn ts(r: &Row<'_>, i: usize) -> Result<Option<Timestamp>, rusqlite::Error> {
    Ok(r.get::<_, Option<i64>>(i)?.map(Timestamp))
}

fn parse<T: std::str::FromStr>(what: &str, s: Option<String>) -> Result<Option<T>, StoreError> {
    s.map(|s| {
        s.parse()
            .map_err(|_| StoreError::Corrupt(format!("{what}: bad id '{s}'")))
    })
    .transpose()
}

/// Everything the operation page shows of `id`, read in one transaction; `None` when there is
/// no such row.
pub fn read(conn: &Connection, id: OperationId) -> Result<Option<OperationHistory>, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let Some(operation) = super::operations::get(&tx, id)? else {
        return Ok(None);
    };
    let key = id.to_string();
    let attempts = tx
        .prepare_cached(
            "SELECT json_extract(j.value, '$.attempt'), json_extract(j.value, '$.started'), \
             json_extract(j.value, '$.ended'), json_extract(j.value, '$.errorCode'), \
             json_extract(j.value, '$.errorMessage'), json_extract(j.value, '$.owner') \
             FROM backgroundoperation b, json_each(b.attempthistory) j \
             WHERE b.backgroundoperationid = ?1 ORDER BY j.key",
        )?
        .query_map([&key], |r| {
            Ok(AttemptRecord {
                attempt: r.get(0)?,
                started: ts(r, 1)?,
                ended: Timestamp(r.get(2)?),
                error_code: r.get(3)?,
                error_message: r.get(4)?,
                owner: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;

    let mut deliveries = Vec::new();
    {
        let mut tries = tx.prepare_cached(
            "SELECT json_extract(j.value, '$.attempt'), json_extract(j.value, '$.started'), \
             json_extract(j.value, '$.ended'), json_extract(j.value, '$.error'), \
             json_extract(j.value, '$.owner') \
             FROM callbackdelivery d, json_each(d.tries) j \
             WHERE d.callbackdeliveryid = ?1 ORDER BY j.key",
        )?;
        for delivery in super::outbox::of_operation(&tx, &key)? {
            let tries = tries
                .query_map([delivery.id.to_string()], |r| {
                    Ok(DeliveryTry {
                        attempt: r.get(0)?,
                        started: ts(r, 1)?,
                        ended: Timestamp(r.get(2)?),
                        error: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                        owner: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            deliveries.push(DeliveryHistory { delivery, tries });
        }
    }

    let mut system_jobs = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT asyncoperationid, name, owningextensionid, statecode, statuscode, attempt, \
             retrycount, errorcode, message, startedon, completedon, createdon, createdby \
             FROM asyncoperation INDEXED BY ix_asyncoperation_regardingobjectid \
             WHERE regardingobjectid = ?1 ORDER BY createdon, asyncoperationid",
        )?;
        let mut rows = stmt.query([&key])?;
        while let Some(r) = rows.next()? {
            system_jobs.push(SystemJobSummary {
                id: parse("asyncoperation", r.get(0)?)?
                    .ok_or_else(|| StoreError::Corrupt("asyncoperation: no id".into()))?,
                name: r.get(1)?,
                step_id: parse("asyncoperation", r.get(2)?)?,
                state_code: r.get(3)?,
                status_code: r.get(4)?,
                attempts: r.get(5)?,
                retry_count: r.get(6)?,
                error_code: r.get(7)?,
                message: r.get(8)?,
                started_on: ts(r, 9)?,
                completed_on: ts(r, 10)?,
                created_on: Timestamp(r.get(11)?),
                created_by: parse("asyncoperation", r.get(12)?)?,
            });
        }
    }
    let last_attempt_started = tx
        .query_row(
            "SELECT attemptstartedon FROM backgroundoperation WHERE backgroundoperationid = ?1",
            [&key],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten()
        .map(Timestamp);
    Ok(Some(OperationHistory {
        operation,
        attempts,
        last_attempt_started,
        deliveries,
        system_jobs,
    }))
}
