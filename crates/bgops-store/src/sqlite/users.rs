//! SQL for `systemuser` as authentication needs it.

use bgops_core::{Timestamp, UserId};
use rusqlite::{params, Connection, OptionalExtension};

use super::writer::WriterCtx;
use crate::store::{AdminKey, SystemUser};
use crate::StoreError;

/// The bootstrap administrator's display name.
const ADMIN_NAME: &str = "System Administrator";

pub fn by_key_hash(conn: &Connection, hash: &str) -> Result<Option<SystemUser>, StoreError> {
    by_column(conn, "apikeyhash", hash)
}

pub fn by_id(conn: &Connection, id: UserId) -> Result<Option<SystemUser>, StoreError> {
    by_column(conn, "systemuserid", &id.to_string())
}

fn by_column(
    conn: &Connection,
    column: &str,
    value: &str,
) -> Result<Option<SystemUser>, StoreError> {
    let row: Option<(String, String, bool)> = conn
        .prepare_cached(&format!(
            "SELECT systemuserid, fullname, issystemadministrator FROM systemuser \
             WHERE {column} = ?1"
        ))?
        .query_row([value], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(id, full_name, admin)| {
        Ok(SystemUser {
            id: id
                .parse::<UserId>()
                .map_err(|_| StoreError::Corrupt(format!("bad user id '{id}'")))?,
            full_name,
            is_system_administrator: admin,
        })
    })
    .transpose()
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
    match (existing, key) {
        (Some(_), AdminKey::IfAbsent(_)) => Ok(false),
        (Some(id), AdminKey::Set(hash)) => {
            conn.execute(
                "UPDATE systemuser SET apikeyhash = ?2, modifiedon = ?3, versionnumber = ?4 \
                 WHERE systemuserid = ?1",
                params![id, hash, now.0, ctx.next_version()],
            )?;
            Ok(true)
        }
        (None, AdminKey::Set(hash) | AdminKey::IfAbsent(hash)) => {
            conn.execute(
                "INSERT INTO systemuser (systemuserid, fullname, apikeyhash, \
                 issystemadministrator, isbootstrapadmin, createdon, modifiedon, versionnumber) \
                 VALUES (?1, ?2, ?3, 1, 1, ?4, ?4, ?5)",
                params![
                    UserId::new_random().to_string(),
                    ADMIN_NAME,
                    hash,
                    now.0,
                    ctx.next_version()
                ],
            )?;
            Ok(true)
        }
    }
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
