//! SQL for the dashboard's overview: operations finished per minute (from `ix_bo_end`) and the
//! holders of leases (from `ix_bo_lease`); neither reads more than its index range.

use bgops_core::{OperationStatus, Timestamp};
use rusqlite::{params, Connection};

use crate::{FinishedBucket, LeaseHolder, StoreError};

/// Rows finished in `[from, to)` per minute, custom API and outcome.
pub fn finished_per_minute(
    conn: &Connection,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<FinishedBucket>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT endtime / 60000 * 60000, name, backgroundoperationstatuscode, count(*) \
         FROM backgroundoperation INDEXED BY ix_bo_end \
         WHERE endtime >= ?1 AND endtime < ?2 AND backgroundoperationstatuscode >= 30 \
         GROUP BY 1, 2, 3",
    )?;
    let rows = st.query_map(params![from.0, to.0], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (minute, name, status, count) = row?;
        let status = OperationStatus::from_code(status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?;
        out.push(FinishedBucket {
            minute,
            name,
            status,
            count: count.max(0) as u64,
        });
    }
    Ok(out)
}

/// The owners of leases on operations, with their count and latest expiry.
pub fn lease_holders(conn: &Connection) -> Result<Vec<LeaseHolder>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT leaseowner, count(*), max(leaseexpiresat) \
         FROM backgroundoperation INDEXED BY ix_bo_lease WHERE leaseowner IS NOT NULL \
         GROUP BY leaseowner ORDER BY leaseowner",
    )?;
    let rows = st.query_map([], |r| {
        Ok(LeaseHolder {
            owner: r.get(0)?,
            leases: r.get::<_, i64>(1)?.max(0) as u64,
            latest_expiry: Timestamp(r.get::<_, Option<i64>>(2)?.unwrap_or(0)),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
