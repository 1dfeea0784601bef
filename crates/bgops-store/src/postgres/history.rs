//! SQL for an operation's history on PostgreSQL (see [`crate::history`]): the same contract as
//! `sqlite/history.rs`, with the arrays kept as `jsonb` and appended with `||`.

use std::sync::LazyLock;

use bgops_core::{OperationId, Timestamp};
use tokio_postgres::Row;

use super::db::Db;
use crate::history::*;
use crate::StoreError;

/// `column` (a `jsonb` array or NULL) with `entry` appended, keeping the last [`HISTORY_CAP`].
fn append(column: &str, entry: &str) -> String {
    format!(
        "(CASE WHEN jsonb_array_length({column}) >= {HISTORY_CAP} THEN {column} - 0 \
         ELSE COALESCE({column}, '[]'::jsonb) END) || jsonb_build_array({entry})"
    )
}

/// The `SET` item (with its leading comma) that appends a failed attempt to `attempthistory`,
/// for the `UPDATE` of `operations::write_outcome`, whose `$2` is the attempt and `$3` the
/// time of the write; the error code and message are parameters `$at` and `$at + 1`. For an
/// attempt of a reserved row, `reserved` names the parameters of its owner and start; otherwise
/// the start is read from the row as it was before the write (`starttime` for the first
/// attempt, else the `modifiedon` its start wrote, unknown when a cancel request wrote it
/// since), and its node from `leaseowner`.
pub fn append_attempt(reserved: Option<(usize, usize)>, at: usize) -> String {
    let (started, owner) = match reserved {
        Some((owner, started)) => (
            format!("COALESCE(starttime, ${started}::bigint)"),
            format!("${owner}::text"),
        ),
        None => (
            "CASE WHEN $2::bigint = 1 THEN starttime \
             WHEN backgroundoperationstatuscode = 20 THEN modifiedon END"
                .to_owned(),
            "leaseowner".to_owned(),
        ),
    };
    let entry = format!(
        "jsonb_build_object('attempt', $2::bigint, 'started', {started}, 'ended', $3::bigint, \
         'errorCode', ${at}::bigint, 'errorMessage', ${}::text, 'owner', {owner})",
        at + 1
    );
    format!(", attempthistory = {}", append("attempthistory", &entry))
}

/// The `SET` item of `outbox::record` that appends a failed try (`$6`, the error, given) to
/// `tries`; `$8` is the time of the write. The try's number is the fenced `attempts`, its start
/// the claim's `modifiedon`, its node `leaseowner`.
pub static APPEND_TRY: LazyLock<String> = LazyLock::new(|| {
    let entry = "jsonb_build_object('attempt', attempts, 'started', modifiedon, \
                 'ended', $8::bigint, 'error', $6::text, 'owner', leaseowner)";
    format!(
        "tries = CASE WHEN $6::text IS NULL THEN tries ELSE {} END",
        append("tries", entry)
    )
});

fn narrow(value: Option<i64>, what: &str) -> Result<Option<i32>, StoreError> {
    value
        .map(|v| {
            i32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} out of range")))
        })
        .transpose()
}

fn parse<T: std::str::FromStr>(what: &str, s: Option<String>) -> Result<Option<T>, StoreError> {
    s.map(|s| {
        s.parse()
            .map_err(|_| StoreError::Corrupt(format!("{what}: bad id '{s}'")))
    })
    .transpose()
}

fn ts(r: &Row, i: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(r.try_get::<_, Option<i64>>(i)?.map(Timestamp))
}

/// Everything the operation page shows of `id`; `None` when there is no such row.
pub async fn read(c: &dyn Db, id: OperationId) -> Result<Option<OperationHistory>, StoreError> {
    let Some(operation) = super::operations::get(c, id).await? else {
        return Ok(None);
    };
    let key = id.to_string();
    let attempts = c
        .query(
            "SELECT (e->>'attempt')::bigint, (e->>'started')::bigint, (e->>'ended')::bigint, \
             (e->>'errorCode')::bigint, e->>'errorMessage', e->>'owner' \
             FROM backgroundoperation b \
             CROSS JOIN LATERAL jsonb_array_elements(b.attempthistory) WITH ORDINALITY AS x(e, n) \
             WHERE b.backgroundoperationid = $1 ORDER BY x.n",
            &[&key],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(AttemptRecord {
                attempt: r.try_get(0)?,
                started: ts(r, 1)?,
                ended: Timestamp(r.try_get(2)?),
                error_code: narrow(r.try_get(3)?, "errorcode")?,
                error_message: r.try_get(4)?,
                owner: r.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    let mut deliveries = Vec::new();
    for delivery in super::outbox::of_operation(c, &key).await? {
        let tries = c
            .query(
                "SELECT (e->>'attempt')::bigint, (e->>'started')::bigint, \
                 (e->>'ended')::bigint, e->>'error', e->>'owner' \
                 FROM callbackdelivery d \
                 CROSS JOIN LATERAL jsonb_array_elements(d.tries) WITH ORDINALITY AS x(e, n) \
                 WHERE d.callbackdeliveryid = $1 ORDER BY x.n",
                &[&delivery.id.to_string()],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(DeliveryTry {
                    attempt: r.try_get(0)?,
                    started: ts(r, 1)?,
                    ended: Timestamp(r.try_get(2)?),
                    error: r.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                    owner: r.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        deliveries.push(DeliveryHistory { delivery, tries });
    }

    let system_jobs = c
        .query(
            "SELECT asyncoperationid, name, owningextensionid, statecode, statuscode, attempt, \
             retrycount, errorcode, message, startedon, completedon, createdon, createdby \
             FROM asyncoperation WHERE regardingobjectid = $1 \
             ORDER BY createdon, asyncoperationid",
            &[&key],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(SystemJobSummary {
                id: parse("asyncoperation", r.try_get(0)?)?
                    .ok_or_else(|| StoreError::Corrupt("asyncoperation: no id".into()))?,
                name: r.try_get(1)?,
                step_id: parse("asyncoperation", r.try_get(2)?)?,
                state_code: narrow(r.try_get(3)?, "statecode")?,
                status_code: narrow(r.try_get(4)?, "statuscode")?,
                attempts: r.try_get(5)?,
                retry_count: narrow(r.try_get(6)?, "retrycount")?,
                error_code: narrow(r.try_get(7)?, "errorcode")?,
                message: r.try_get(8)?,
                started_on: ts(r, 9)?,
                completed_on: ts(r, 10)?,
                created_on: Timestamp(r.try_get(11)?),
                created_by: parse("asyncoperation", r.try_get(12)?)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let last_attempt_started = c
        .query_opt(
            "SELECT attemptstartedon FROM backgroundoperation WHERE backgroundoperationid = $1",
            &[&key],
        )
        .await?
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .map(Timestamp);
    Ok(Some(OperationHistory {
        operation,
        attempts,
        last_attempt_started,
        deliveries,
        system_jobs,
    }))
}
