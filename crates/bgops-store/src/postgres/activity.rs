//! SQL for the dashboard's overview: operations finished per minute (an index-only range of
//! `ix_bo_end`) and the holders of leases (the partial index `ix_bo_lease`).

use bgops_core::{OperationStatus, Timestamp};

use super::db::Db;
use crate::{FinishedBucket, LeaseHolder, StoreError};

/// Rows finished in `[from, to)` per minute, custom API and outcome.
pub async fn finished_per_minute(
    c: &dyn Db,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<FinishedBucket>, StoreError> {
    let rows = c
        .query(
            "SELECT endtime / 60000 * 60000, name, backgroundoperationstatuscode, count(*) \
             FROM backgroundoperation \
             WHERE endtime >= $1 AND endtime < $2 AND endtime IS NOT NULL \
             AND backgroundoperationstatuscode >= 30 \
             GROUP BY 1, 2, 3",
            &[&from.0, &to.0],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let status: i64 = r.try_get(2)?;
        out.push(FinishedBucket {
            minute: r.try_get(0)?,
            name: r.try_get(1)?,
            status: OperationStatus::from_code(status)
                .ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
            count: r.try_get::<_, i64>(3)?.max(0) as u64,
        });
    }
    Ok(out)
}

/// The owners of leases on operations, with their count and latest expiry.
pub async fn lease_holders(c: &dyn Db) -> Result<Vec<LeaseHolder>, StoreError> {
    let rows = c
        .query(
            "SELECT leaseowner, count(*), max(leaseexpiresat) FROM backgroundoperation \
             WHERE leaseowner IS NOT NULL GROUP BY leaseowner ORDER BY leaseowner",
            &[],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(LeaseHolder {
                owner: r.try_get(0)?,
                leases: r.try_get::<_, i64>(1)?.max(0) as u64,
                latest_expiry: Timestamp(r.try_get::<_, Option<i64>>(2)?.unwrap_or(0)),
            })
        })
        .collect()
}
