//! SQL for `systemuser` as authentication needs it, and the service-wide settings.

use super::db::Db;
use bgops_core::{Timestamp, UserId};

use crate::store::{AdminKey, SystemUser};
use crate::StoreError;

/// The bootstrap administrator's display name.
const ADMIN_NAME: &str = "System Administrator";

pub async fn by_key_hash(c: &dyn Db, hash: &str) -> Result<Option<SystemUser>, StoreError> {
    by_column(c, "apikeyhash", hash).await
}

pub async fn by_id(c: &dyn Db, id: UserId) -> Result<Option<SystemUser>, StoreError> {
    by_column(c, "systemuserid", &id.to_string()).await
}

async fn by_column(
    c: &dyn Db,
    column: &str,
    value: &str,
) -> Result<Option<SystemUser>, StoreError> {
    let sql = format!(
        "SELECT systemuserid, fullname, issystemadministrator FROM systemuser \
         WHERE {column} = $1"
    );
    let Some(row) = c.query_opt(&sql, &[&value]).await? else {
        return Ok(None);
    };
    let id: String = row.try_get(0)?;
    Ok(Some(SystemUser {
        id: id
            .parse::<UserId>()
            .map_err(|_| StoreError::Corrupt(format!("bad user id '{id}'")))?,
        full_name: row.try_get(1)?,
        is_system_administrator: row.try_get::<_, i64>(2)? != 0,
    }))
}

pub async fn bootstrap_admin(
    c: &dyn Db,
    key: &AdminKey,
    now: Timestamp,
) -> Result<bool, StoreError> {
    // Nodes starting at once create one administrator: the lock is held until the commit.
    c.execute(
        "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.bgops_bootstrap_admin'))",
        &[],
    )
    .await?;
    let existing = c
        .query_opt(
            "SELECT systemuserid FROM systemuser WHERE isbootstrapadmin = 1",
            &[],
        )
        .await?
        .map(|r| r.try_get::<_, String>(0))
        .transpose()?;
    match (existing, key) {
        (Some(_), AdminKey::IfAbsent(_)) => Ok(false),
        (Some(id), AdminKey::Set(hash)) => {
            c.execute(
                "UPDATE systemuser SET apikeyhash = $2, modifiedon = $3, \
                 versionnumber = nextval('bgops_version_seq') WHERE systemuserid = $1",
                &[&id, hash, &now.0],
            )
            .await?;
            Ok(true)
        }
        (None, AdminKey::Set(hash) | AdminKey::IfAbsent(hash)) => {
            c.execute(
                "INSERT INTO systemuser (systemuserid, fullname, apikeyhash, \
                 issystemadministrator, isbootstrapadmin, createdon, modifiedon, versionnumber) \
                 VALUES ($1, $2, $3, 1, 1, $4, $4, nextval('bgops_version_seq'))",
                &[&UserId::new_random().to_string(), &ADMIN_NAME, hash, &now.0],
            )
            .await?;
            Ok(true)
        }
    }
}

pub async fn setting(
    c: &dyn Db,
    name: &str,
    value: Option<String>,
    default: String,
) -> Result<String, StoreError> {
    if let Some(v) = value {
        c.execute(
            "INSERT INTO bgops_setting (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&name, &v],
        )
        .await?;
        return Ok(v);
    }
    // Every node gets the value the first one stored.
    c.execute(
        "INSERT INTO bgops_setting (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&name, &default],
    )
    .await?;
    let row = c
        .query_one("SELECT value FROM bgops_setting WHERE name = $1", &[&name])
        .await?;
    Ok(row.try_get(0)?)
}
