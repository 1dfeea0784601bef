//! SQL for `systemuser` as authentication needs it.

use bgops_core::security::SYSTEM_ADMINISTRATOR_ROLE;
use bgops_core::{Timestamp, UserId};
use rusqlite::{params, Connection, OptionalExtension};

use super::writer::WriterCtx;
use crate::store::{AdminKey, SystemUser};
use crate::StoreError;

/// The bootstrap administrator's display name.
const ADMIN_NAME: &str = "System Administrator";
/// The name of the bootstrap administrator's key (`--admin-token`, or the one printed once).
pub(super) const ADMIN_KEY_NAME: &str = "admin-token";

/// `SELECT` list of a [`SystemUser`] over `systemuser u`.
pub(super) const USER_COLUMNS: &str =
    "u.systemuserid, u.fullname, EXISTS (SELECT 1 FROM systemuserroles r \
     WHERE r.systemuserid = u.systemuserid AND r.roleid = 'b353149e-4a9b-45fd-9b5b-091fc5e23947')";

pub fn by_key_hash(conn: &Connection, hash: &str) -> Result<Option<SystemUser>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM bgops_apikey k JOIN systemuser u \
         ON u.systemuserid = k.systemuserid \
         WHERE k.keyhash = ?1 AND k.revokedon IS NULL AND u.isdisabled = 0"
    );
    conn.prepare_cached(&sql)?
        .query_row([hash], user_from_row)
        .optional()?
        .transpose()
}

pub fn by_id(conn: &Connection, id: UserId) -> Result<Option<SystemUser>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM systemuser u WHERE u.systemuserid = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id.to_string()], user_from_row)
        .optional()?
        .transpose()
}

/// A [`SystemUser`] from the first three columns of [`USER_COLUMNS`].
pub(super) fn user_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<SystemUser, StoreError>> {
    let id: String = r.get(0)?;
    let full_name: String = r.get(1)?;
    let admin: bool = r.get(2)?;
    Ok(id
        .parse::<UserId>()
        .map_err(|_| StoreError::Corrupt(format!("bad user id '{id}'")))
        .map(|id| SystemUser {
            id,
            full_name,
            is_system_administrator: admin,
        }))
}

pub fn bootstrap_admin(
    conn: &Connection,
    ctx: &mut WriterCtx,
    key: &AdminKey,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let existing: Option<String> = conn
        .query_row(
            "SELECT systemuserid FROM systemuser WHERE isbootstrapadmin = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let (id, hash) = match (existing, key) {
        (Some(_), AdminKey::IfAbsent(_)) => return Ok(false),
        (Some(id), AdminKey::Set(hash)) => {
            conn.execute(
                "DELETE FROM bgops_apikey WHERE systemuserid = ?1 AND name = ?2",
                params![id, ADMIN_KEY_NAME],
            )?;
            // `--admin-token` is the way back in: the administrator is enabled and holds the
            // role again.
            conn.execute(
                "UPDATE systemuser SET isdisabled = 0 WHERE systemuserid = ?1 AND isdisabled <> 0",
                params![id],
            )?;
            conn.execute(
                "INSERT INTO systemuserroles (systemuserroleid, systemuserid, roleid, createdon, \
                 modifiedon, versionnumber) VALUES (?1, ?2, ?3, ?4, ?4, ?5) \
                 ON CONFLICT (systemuserid, roleid) DO NOTHING",
                params![
                    uuid::Uuid::new_v4().to_string(),
                    id,
                    SYSTEM_ADMINISTRATOR_ROLE.to_string(),
                    now.0,
                    ctx.next_version()
                ],
            )?;
            (id, hash)
        }
        (None, AdminKey::Set(hash) | AdminKey::IfAbsent(hash)) => {
            let id = UserId::new_random().to_string();
            conn.execute(
                "INSERT INTO systemuser (systemuserid, fullname, \
                 issystemadministrator, isbootstrapadmin, createdon, modifiedon, versionnumber) \
                 VALUES (?1, ?2, 1, 1, ?3, ?3, ?4)",
                params![id, ADMIN_NAME, now.0, ctx.next_version()],
            )?;
            conn.execute(
                "INSERT INTO systemuserroles (systemuserroleid, systemuserid, roleid, createdon, \
                 modifiedon, versionnumber) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                params![
                    uuid::Uuid::new_v4().to_string(),
                    id,
                    SYSTEM_ADMINISTRATOR_ROLE.to_string(),
                    now.0,
                    ctx.next_version()
                ],
            )?;
            (id, hash)
        }
    };
    conn.execute(
        "INSERT INTO bgops_apikey (bgops_apikeyid, systemuserid, name, keyhash, createdon) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            uuid::Uuid::new_v4().to_string(),
            id,
            ADMIN_KEY_NAME,
            hash,
            now.0
        ],
    )?;
    Ok(true)
}

pub fn setting(
    conn: &Connection,
    name: &str,
    value: Option<String>,
    default: String,
) -> Result<String, StoreError> {
    if let Some(v) = value {
        conn.execute(
            "INSERT INTO bgops_setting (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![name, v],
        )?;
        return Ok(v);
    }
    let existing: Option<String> = conn
        .query_row(
            "SELECT value FROM bgops_setting WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(v) => Ok(v),
        None => {
            conn.execute(
                "INSERT INTO bgops_setting (name, value) VALUES (?1, ?2)",
                params![name, default],
            )?;
            Ok(default)
        }
    }
}
