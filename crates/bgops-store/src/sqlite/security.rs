//! SQL for the directory of SPEC §10 on SQLite: API keys, roles, privileges and who holds them.

use async_trait::async_trait;
use bgops_core::security::{Grants, SYSTEM_ADMINISTRATOR_ROLE};
use bgops_core::{Timestamp, UserId};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::users::{user_from_row, USER_COLUMNS};
use super::writer::WriterCtx;
use super::SqliteStore;
use crate::security::*;
use crate::store::SystemUser;
use crate::StoreError;

fn uuid_of(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("bad id '{s}'")))
}

fn user_id_of(s: &str) -> Result<UserId, StoreError> {
    uuid_of(s).map(UserId)
}

fn ensure(
    conn: &Connection,
    ctx: &mut WriterCtx,
    privileges: &[String],
    grants: &[RoleGrant],
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut known = conn.prepare_cached("SELECT name FROM privilege")?;
    let known: std::collections::HashSet<String> = known
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for name in privileges {
        if known.contains(name) {
            continue;
        }
        conn.prepare_cached(
            "INSERT INTO privilege (privilegeid, name, createdon, modifiedon, versionnumber) \
             VALUES (?1, ?2, ?3, ?3, ?4) ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![
            privilege_id(name).to_string(),
            name,
            now.0,
            ctx.next_version()
        ])?;
    }
    let mut held = conn.prepare_cached("SELECT roleprivilegeid FROM roleprivileges")?;
    let held: std::collections::HashSet<String> = held
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for g in grants {
        let id = role_grant_id(g.role, &g.privilege).to_string();
        if held.contains(&id) {
            continue;
        }
        conn.prepare_cached(
            "INSERT INTO roleprivileges (roleprivilegeid, roleid, privilegeid, \
             privilegedepthmask, createdon, modifiedon, versionnumber) \
             SELECT ?1, ?2, privilegeid, ?4, ?5, ?5, ?6 FROM privilege WHERE name = ?3 \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            id,
            g.role.to_string(),
            g.privilege,
            g.depth_mask,
            now.0,
            ctx.next_version()
        ])?;
    }
    Ok(())
}

fn authenticate(
    conn: &Connection,
    hash: &str,
    now: Timestamp,
) -> Result<Option<KeyLogin>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, k.bgops_apikeyid, k.lastusedon FROM bgops_apikey k \
         JOIN systemuser u ON u.systemuserid = k.systemuserid \
         WHERE k.keyhash = ?1 AND k.revokedon IS NULL \
         AND (k.expireson IS NULL OR k.expireson > ?2) AND u.isdisabled = 0"
    );
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params![hash, now.0], |r| {
            Ok((
                user_from_row(r)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })
        .optional()?;
    let Some((user, key, last)) = row else {
        return Ok(None);
    };
    Ok(Some(KeyLogin {
        user: user?,
        key_id: uuid_of(&key)?,
        last_used: last.map(Timestamp),
    }))
}

fn grants(conn: &Connection, user: UserId) -> Result<Grants, StoreError> {
    let id = user.to_string();
    let admin: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM systemuserroles WHERE systemuserid = ?1 AND roleid = ?2)",
        )?
        .query_row(params![id, SYSTEM_ADMINISTRATOR_ROLE.to_string()], |r| {
            r.get(0)
        })?;
    let mut st = conn.prepare_cached(
        "SELECT p.name, rp.privilegedepthmask FROM systemuserroles ur \
         JOIN roleprivileges rp ON rp.roleid = ur.roleid \
         JOIN privilege p ON p.privilegeid = rp.privilegeid \
         WHERE ur.systemuserid = ?1",
    )?;
    let pairs = st
        .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Grants::from_masks(admin, pairs))
}

fn user_where(
    conn: &Connection,
    condition: &str,
    value: String,
) -> Result<Option<SystemUser>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM systemuser u WHERE {condition}");
    conn.prepare_cached(&sql)?
        .query_row([value], user_from_row)
        .optional()?
        .transpose()
}

fn create_user(
    conn: &Connection,
    ctx: &mut WriterCtx,
    user: &NewUser,
    by: Option<UserId>,
    now: Timestamp,
) -> Result<CreateUserOutcome, StoreError> {
    for role in &user.roles {
        let exists: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM role WHERE roleid = ?1)")?
            .query_row([role.to_string()], |r| r.get(0))?;
        if !exists {
            return Ok(CreateUserOutcome::UnknownRole(*role));
        }
    }
    let taken: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM systemuser WHERE systemuserid = ?1 \
             OR (?2 IS NOT NULL AND azureactivedirectoryobjectid = ?2))",
        )?
        .query_row(
            params![user.id.to_string(), user.object_id.map(|o| o.to_string())],
            |r| r.get(0),
        )?;
    if taken {
        return Ok(CreateUserOutcome::Duplicate);
    }
    conn.execute(
        "INSERT INTO systemuser (systemuserid, fullname, internalemailaddress, \
         azureactivedirectoryobjectid, createdby, createdon, modifiedon, versionnumber) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
        params![
            user.id.to_string(),
            user.full_name,
            user.email,
            user.object_id.map(|o| o.to_string()),
            by.map(|b| b.to_string()),
            now.0,
            ctx.next_version()
        ],
    )?;
    for role in &user.roles {
        associate(conn, ctx, user.id, *role, by, now)?;
    }
    Ok(CreateUserOutcome::Created)
}

fn list_users(conn: &Connection) -> Result<Vec<UserSummary>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT u.systemuserid, u.fullname, u.internalemailaddress, \
         u.azureactivedirectoryobjectid, u.isdisabled, \
         (SELECT group_concat(name, char(10)) FROM (SELECT r.name FROM systemuserroles ur \
          JOIN role r ON r.roleid = ur.roleid WHERE ur.systemuserid = u.systemuserid \
          ORDER BY r.name)) \
         FROM systemuser u ORDER BY u.fullname, u.systemuserid",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, full_name, email, oid, disabled, roles)| {
            Ok(UserSummary {
                id: user_id_of(&id)?,
                full_name,
                email,
                object_id: oid.as_deref().map(uuid_of).transpose()?,
                disabled,
                roles: roles
                    .map(|r| r.split('\n').map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn list_keys(conn: &Connection, user: Option<UserId>) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT bgops_apikeyid, systemuserid, name, createdon, expireson, revokedon, lastusedon \
         FROM bgops_apikey WHERE ?1 IS NULL OR systemuserid = ?1 \
         ORDER BY createdon, bgops_apikeyid",
    )?;
    let rows = st
        .query_map([user.map(|u| u.to_string())], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, user, name, created, expires, revoked, used)| {
            Ok(ApiKeyInfo {
                id: uuid_of(&id)?,
                user: user_id_of(&user)?,
                name,
                created: Timestamp(created),
                expires: expires.map(Timestamp),
                revoked: revoked.map(Timestamp),
                last_used: used.map(Timestamp),
            })
        })
        .collect()
}

fn associate(
    conn: &Connection,
    ctx: &mut WriterCtx,
    user: UserId,
    role: Uuid,
    by: Option<UserId>,
    now: Timestamp,
) -> Result<RoleLink, StoreError> {
    let (user_exists, role_exists): (bool, bool) = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM systemuser WHERE systemuserid = ?1), \
             EXISTS (SELECT 1 FROM role WHERE roleid = ?2)",
        )?
        .query_row(params![user.to_string(), role.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    if !user_exists {
        return Ok(RoleLink::NoUser);
    }
    if !role_exists {
        return Ok(RoleLink::NoRole);
    }
    let n = conn
        .prepare_cached(
            "INSERT INTO systemuserroles (systemuserroleid, systemuserid, roleid, createdon, \
             modifiedon, createdby, versionnumber) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6) \
             ON CONFLICT (systemuserid, roleid) DO NOTHING",
        )?
        .execute(params![
            Uuid::new_v4().to_string(),
            user.to_string(),
            role.to_string(),
            now.0,
            by.map(|b| b.to_string()),
            ctx.next_version()
        ])?;
    Ok(if n == 1 {
        RoleLink::Changed
    } else {
        RoleLink::Unchanged
    })
}

fn disassociate(conn: &Connection, user: UserId, role: Uuid) -> Result<RoleLink, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM systemuserroles WHERE systemuserid = ?1 AND roleid = ?2")?
        .execute(params![user.to_string(), role.to_string()])?;
    if n == 1 {
        return Ok(RoleLink::Changed);
    }
    let (user_exists, role_exists): (bool, bool) = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM systemuser WHERE systemuserid = ?1), \
             EXISTS (SELECT 1 FROM role WHERE roleid = ?2)",
        )?
        .query_row(params![user.to_string(), role.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(match (user_exists, role_exists) {
        (false, _) => RoleLink::NoUser,
        (_, false) => RoleLink::NoRole,
        _ => RoleLink::Unchanged,
    })
}

#[async_trait]
impl SecurityStore for SqliteStore {
    async fn ensure_security_model(
        &self,
        privileges: Vec<String>,
        grants: Vec<RoleGrant>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.writer
            .run(move |conn, ctx| ensure(conn, ctx, &privileges, &grants, now))
            .await
    }

    async fn authenticate_key(
        &self,
        key_hash: &str,
        now: Timestamp,
    ) -> Result<Option<KeyLogin>, StoreError> {
        let hash = key_hash.to_owned();
        self.readers
            .run_short(move |conn| authenticate(conn, &hash, now))
            .await
    }

    async fn touch_key(&self, key: Uuid, now: Timestamp) -> Result<(), StoreError> {
        self.writer
            .run(move |conn, _| {
                conn.prepare_cached(
                    "UPDATE bgops_apikey SET lastusedon = ?2 WHERE bgops_apikeyid = ?1",
                )?
                .execute(params![key.to_string(), now.0])?;
                Ok(())
            })
            .await
    }

    async fn user_grants(&self, user: UserId) -> Result<Grants, StoreError> {
        self.readers.run(move |conn| grants(conn, user)).await
    }

    async fn find_enabled_user(&self, id: UserId) -> Result<Option<SystemUser>, StoreError> {
        self.readers
            .run(move |conn| {
                user_where(
                    conn,
                    "u.systemuserid = ?1 AND u.isdisabled = 0",
                    id.to_string(),
                )
            })
            .await
    }

    async fn create_user(
        &self,
        user: NewUser,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<CreateUserOutcome, StoreError> {
        self.writer
            .run(move |conn, ctx| create_user(conn, ctx, &user, by, now))
            .await
    }

    async fn list_users(&self) -> Result<Vec<UserSummary>, StoreError> {
        self.readers.run(list_users).await
    }

    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn, ctx| {
                let n = conn.execute(
                    "UPDATE systemuser SET isdisabled = ?2, modifiedon = ?3, versionnumber = ?4 \
                     WHERE systemuserid = ?1",
                    params![id.to_string(), disabled, now.0, ctx.next_version()],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn create_key(&self, key: NewApiKey, now: Timestamp) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn, _| {
                let n = conn.execute(
                    "INSERT INTO bgops_apikey (bgops_apikeyid, systemuserid, name, keyhash, \
                     expireson, createdon) \
                     SELECT ?1, systemuserid, ?3, ?4, ?5, ?6 FROM systemuser \
                     WHERE systemuserid = ?2",
                    params![
                        key.id.to_string(),
                        key.user.to_string(),
                        key.name,
                        key.hash,
                        key.expires.map(|e| e.0),
                        now.0
                    ],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn list_keys(&self, user: Option<UserId>) -> Result<Vec<ApiKeyInfo>, StoreError> {
        self.readers.run(move |conn| list_keys(conn, user)).await
    }

    async fn revoke_key(&self, id: Uuid, now: Timestamp) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn, _| {
                let n = conn.execute(
                    "UPDATE bgops_apikey SET revokedon = ?2 \
                     WHERE bgops_apikeyid = ?1 AND revokedon IS NULL",
                    params![id.to_string(), now.0],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn find_role(&self, name: &str) -> Result<Option<Uuid>, StoreError> {
        let name = name.to_owned();
        self.readers
            .run(move |conn| {
                let id: Option<String> = conn
                    .prepare_cached(
                        "SELECT roleid FROM role WHERE name = ?1 COLLATE NOCASE \
                         ORDER BY roleid LIMIT 1",
                    )?
                    .query_row([name], |r| r.get(0))
                    .optional()?;
                id.as_deref().map(uuid_of).transpose()
            })
            .await
    }

    async fn associate_role(
        &self,
        user: UserId,
        role: Uuid,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<RoleLink, StoreError> {
        self.writer
            .run(move |conn, ctx| associate(conn, ctx, user, role, by, now))
            .await
    }

    async fn disassociate_role(&self, user: UserId, role: Uuid) -> Result<RoleLink, StoreError> {
        self.writer
            .run(move |conn, _| disassociate(conn, user, role))
            .await
    }
}
