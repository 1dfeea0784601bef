//! SQL for `systemuser` as authentication needs it, and the service-wide settings.

use super::db::Db;
use bgops_core::security::SYSTEM_ADMINISTRATOR_ROLE;
use bgops_core::{Timestamp, UserId};

use crate::store::{AdminKey, SystemUser};
use crate::StoreError;

/// The bootstrap administrator's display name.
const ADMIN_NAME: &str = "System Administrator";
/// The name of the bootstrap administrator's key (`--admin-token`, or the one printed once).
const ADMIN_KEY_NAME: &str = "admin-token";

/// `SELECT` list of a [`SystemUser`] over `systemuser u`.
pub(super) const USER_COLUMNS: &str =
    "u.systemuserid, u.fullname, EXISTS (SELECT 1 FROM systemuserroles r \
     WHERE r.systemuserid = u.systemuserid AND r.roleid = 'b353149e-4a9b-45fd-9b5b-091fc5e23947')";

pub async fn by_key_hash(c: &dyn Db, hash: &str) -> Result<Option<SystemUser>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM bgops_apikey k JOIN systemuser u \
         ON u.systemuserid = k.systemuserid \
         WHERE k.keyhash = $1 AND k.revokedon IS NULL AND u.isdisabled = 0"
    );
    c.query_opt(&sql, &[&hash])
        .await?
        .map(|r| user_from_row(&r))
        .transpose()
}

pub async fn by_id(c: &dyn Db, id: UserId) -> Result<Option<SystemUser>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM systemuser u WHERE u.systemuserid = $1");
    c.query_opt(&sql, &[&id.to_string()])
        .await?
        .map(|r| user_from_row(&r))
        .transpose()
}

/// A [`SystemUser`] from the first three columns of [`USER_COLUMNS`].
pub(super) fn user_from_row(row: &tokio_postgres::Row) -> Result<SystemUser, StoreError> {
    let id: String = row.try_get(0)?;
    Ok(SystemUser {
        id: id
            .parse::<UserId>()
            .map_err(|_| StoreError::Corrupt(format!("bad user id '{id}'")))?,
        full_name: row.try_get(1)?,
        is_system_administrator: row.try_get(2)?,
    })
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
    let (id, hash) = match (existing, key) {
        (Some(_), AdminKey::IfAbsent(_)) => return Ok(false),
        (Some(id), AdminKey::Set(hash)) => {
            c.execute(
                "DELETE FROM bgops_apikey WHERE systemuserid = $1 AND name = $2",
                &[&id, &ADMIN_KEY_NAME],
            )
            .await?;
            // `--admin-token` is the way back in: the administrator is enabled and holds the
            // role again.
            c.execute(
                "UPDATE systemuser SET isdisabled = 0 WHERE systemuserid = $1 AND isdisabled <> 0",
                &[&id],
            )
            .await?;
            c.execute(
                "INSERT INTO systemuserroles (systemuserroleid, systemuserid, roleid, createdon, \
                 modifiedon, versionnumber) \
                 VALUES ($1, $2, $3, $4, $4, nextval('bgops_version_seq')) \
                 ON CONFLICT (systemuserid, roleid) DO NOTHING",
                &[
                    &uuid::Uuid::new_v4().to_string(),
                    &id,
                    &SYSTEM_ADMINISTRATOR_ROLE.to_string(),
                    &now.0,
                ],
            )
            .await?;
            (id, hash)
        }
        (None, AdminKey::Set(hash) | AdminKey::IfAbsent(hash)) => {
            let id = UserId::new_random().to_string();
            c.execute(
                "INSERT INTO systemuser (systemuserid, fullname, \
                 issystemadministrator, isbootstrapadmin, createdon, modifiedon, versionnumber) \
                 VALUES ($1, $2, 1, 1, $3, $3, nextval('bgops_version_seq'))",
                &[&id, &ADMIN_NAME, &now.0],
            )
            .await?;
            c.execute(
                "INSERT INTO systemuserroles (systemuserroleid, systemuserid, roleid, createdon, \
                 modifiedon, versionnumber) VALUES ($1, $2, $3, $4, $4, nextval('bgops_version_seq'))",
                &[
                    &uuid::Uuid::new_v4().to_string(),
                    &id,
                    &SYSTEM_ADMINISTRATOR_ROLE.to_string(),
                    &now.0,
                ],
            )
            .await?;
            (id, hash)
        }
    };
    c.execute(
        "INSERT INTO bgops_apikey (bgops_apikeyid, systemuserid, name, keyhash, createdon) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &uuid::Uuid::new_v4().to_string(),
            &id,
            &ADMIN_KEY_NAME,
            hash,
            &now.0,
        ],
    )
    .await?;
    Ok(true)
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
