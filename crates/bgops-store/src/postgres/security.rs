//! SQL for the directory of SPEC §10 on PostgreSQL: API keys, roles, privileges and who holds
//! them. The same statements as SQLite's, in PostgreSQL's dialect.

use async_trait::async_trait;
use bgops_core::security::{Grants, SYSTEM_ADMINISTRATOR_ROLE};
use bgops_core::{Timestamp, UserId};
use uuid::Uuid;

use super::db::Db;
use super::users::{user_from_row, USER_COLUMNS};
use super::PgStore;
use crate::security::*;
use crate::store::SystemUser;
use crate::StoreError;

fn uuid_of(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("bad id '{s}'")))
}

async fn ensure(
    c: &dyn Db,
    privileges: &[String],
    grants: &[RoleGrant],
    now: Timestamp,
) -> Result<(), StoreError> {
    // Nodes starting at once write the model once.
    c.execute(
        "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.bgops_security_model'))",
        &[],
    )
    .await?;
    let known: std::collections::HashSet<String> = c
        .query("SELECT name FROM privilege", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    for name in privileges.iter().filter(|n| !known.contains(*n)) {
        c.execute(
            "INSERT INTO privilege (privilegeid, name, createdon, modifiedon, versionnumber) \
             VALUES ($1, $2, $3, $3, nextval('bgops_version_seq')) ON CONFLICT (name) DO NOTHING",
            &[&privilege_id(name).to_string(), name, &now.0],
        )
        .await?;
    }
    let held: std::collections::HashSet<String> = c
        .query("SELECT roleprivilegeid FROM roleprivileges", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    for g in grants {
        let id = role_grant_id(g.role, &g.privilege).to_string();
        if held.contains(&id) {
            continue;
        }
        c.execute(
            "INSERT INTO roleprivileges (roleprivilegeid, roleid, privilegeid, \
             privilegedepthmask, createdon, modifiedon, versionnumber) \
             SELECT $1, $2, privilegeid, $4, $5, $5, nextval('bgops_version_seq') \
             FROM privilege WHERE name = $3 ON CONFLICT DO NOTHING",
            &[
                &id,
                &g.role.to_string(),
                &g.privilege,
                &g.depth_mask,
                &now.0,
            ],
        )
        .await?;
    }
    Ok(())
}

async fn authenticate(
    c: &dyn Db,
    hash: &str,
    now: Timestamp,
) -> Result<Option<KeyLogin>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, k.bgops_apikeyid, k.lastusedon FROM bgops_apikey k \
         JOIN systemuser u ON u.systemuserid = k.systemuserid \
         WHERE k.keyhash = $1 AND k.revokedon IS NULL \
         AND (k.expireson IS NULL OR k.expireson > $2) AND u.isdisabled = 0"
    );
    let Some(row) = c.query_opt(&sql, &[&hash, &now.0]).await? else {
        return Ok(None);
    };
    let key: String = row.try_get(3)?;
    Ok(Some(KeyLogin {
        user: user_from_row(&row)?,
        key_id: uuid_of(&key)?,
        last_used: row.try_get::<_, Option<i64>>(4)?.map(Timestamp),
    }))
}

async fn grants(c: &dyn Db, user: UserId) -> Result<Grants, StoreError> {
    let id = user.to_string();
    let admin: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM systemuserroles WHERE systemuserid = $1 AND roleid = $2)",
            &[&id, &SYSTEM_ADMINISTRATOR_ROLE.to_string()],
        )
        .await?
        .try_get(0)?;
    let pairs = c
        .query(
            "SELECT p.name, rp.privilegedepthmask FROM systemuserroles ur \
             JOIN roleprivileges rp ON rp.roleid = ur.roleid \
             JOIN privilege p ON p.privilegeid = rp.privilegeid \
             WHERE ur.systemuserid = $1",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Grants::from_masks(admin, pairs))
}

async fn user_where(
    c: &dyn Db,
    condition: &str,
    value: String,
) -> Result<Option<SystemUser>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM systemuser u WHERE {condition}");
    c.query_opt(&sql, &[&value])
        .await?
        .map(|r| user_from_row(&r))
        .transpose()
}

async fn create_user(
    c: &dyn Db,
    user: &NewUser,
    by: Option<UserId>,
    now: Timestamp,
) -> Result<CreateUserOutcome, StoreError> {
    for role in &user.roles {
        let exists: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM role WHERE roleid = $1)",
                &[&role.to_string()],
            )
            .await?
            .try_get(0)?;
        if !exists {
            return Ok(CreateUserOutcome::UnknownRole(*role));
        }
    }
    let oid = user.object_id.map(|o| o.to_string());
    // One user per object id among those an administrator creates; a user signed in by a JWT is
    // the pair (tenant, object id), so the column alone carries no unique index.
    if let Some(oid) = &oid {
        let taken: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM systemuser WHERE azureactivedirectoryobjectid = $1)",
                &[oid],
            )
            .await?
            .try_get(0)?;
        if taken {
            return Ok(CreateUserOutcome::Duplicate);
        }
    }
    let inserted = c
        .execute(
            "INSERT INTO systemuser (systemuserid, fullname, internalemailaddress, \
             azureactivedirectoryobjectid, createdby, createdon, modifiedon, versionnumber) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, nextval('bgops_version_seq')) \
             ON CONFLICT DO NOTHING",
            &[
                &user.id.to_string(),
                &user.full_name,
                &user.email,
                &oid,
                &by.map(|b| b.to_string()),
                &now.0,
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(CreateUserOutcome::Duplicate);
    }
    for role in &user.roles {
        associate(c, user.id, *role, by, now).await?;
    }
    Ok(CreateUserOutcome::Created)
}

async fn list_users(c: &dyn Db) -> Result<Vec<UserSummary>, StoreError> {
    let rows = c
        .query(
            "SELECT u.systemuserid, u.fullname, u.internalemailaddress, \
             u.azureactivedirectoryobjectid, u.isdisabled, \
             ARRAY(SELECT r.name FROM systemuserroles ur JOIN role r ON r.roleid = ur.roleid \
                   WHERE ur.systemuserid = u.systemuserid AND r.name IS NOT NULL \
                   ORDER BY r.name COLLATE \"C\") \
             FROM systemuser u ORDER BY u.fullname COLLATE \"C\", u.systemuserid",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let oid: Option<String> = r.try_get(3)?;
            Ok(UserSummary {
                id: UserId(uuid_of(&id)?),
                full_name: r.try_get(1)?,
                email: r.try_get(2)?,
                object_id: oid.as_deref().map(uuid_of).transpose()?,
                disabled: r.try_get::<_, i64>(4)? != 0,
                roles: r.try_get(5)?,
            })
        })
        .collect()
}

async fn list_keys(c: &dyn Db, user: Option<UserId>) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let rows = c
        .query(
            "SELECT bgops_apikeyid, systemuserid, name, createdon, expireson, revokedon, \
             lastusedon FROM bgops_apikey WHERE $1::text IS NULL OR systemuserid = $1 \
             ORDER BY createdon, bgops_apikeyid",
            &[&user.map(|u| u.to_string())],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let user: String = r.try_get(1)?;
            Ok(ApiKeyInfo {
                id: uuid_of(&id)?,
                user: UserId(uuid_of(&user)?),
                name: r.try_get(2)?,
                created: Timestamp(r.try_get(3)?),
                expires: r.try_get::<_, Option<i64>>(4)?.map(Timestamp),
                revoked: r.try_get::<_, Option<i64>>(5)?.map(Timestamp),
                last_used: r.try_get::<_, Option<i64>>(6)?.map(Timestamp),
            })
        })
        .collect()
}

async fn exists(c: &dyn Db, user: UserId, role: Uuid) -> Result<(bool, bool), StoreError> {
    let r = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM systemuser WHERE systemuserid = $1), \
             EXISTS (SELECT 1 FROM role WHERE roleid = $2)",
            &[&user.to_string(), &role.to_string()],
        )
        .await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

async fn associate(
    c: &dyn Db,
    user: UserId,
    role: Uuid,
    by: Option<UserId>,
    now: Timestamp,
) -> Result<RoleLink, StoreError> {
    match exists(c, user, role).await? {
        (false, _) => return Ok(RoleLink::NoUser),
        (_, false) => return Ok(RoleLink::NoRole),
        _ => {}
    }
    let n = c
        .execute(
            "INSERT INTO systemuserroles (systemuserroleid, systemuserid, roleid, createdon, \
             modifiedon, createdby, versionnumber) \
             VALUES ($1, $2, $3, $4, $4, $5, nextval('bgops_version_seq')) \
             ON CONFLICT (systemuserid, roleid) DO NOTHING",
            &[
                &Uuid::new_v4().to_string(),
                &user.to_string(),
                &role.to_string(),
                &now.0,
                &by.map(|b| b.to_string()),
            ],
        )
        .await?;
    Ok(if n == 1 {
        RoleLink::Changed
    } else {
        RoleLink::Unchanged
    })
}

async fn disassociate(c: &dyn Db, user: UserId, role: Uuid) -> Result<RoleLink, StoreError> {
    let n = c
        .execute(
            "DELETE FROM systemuserroles WHERE systemuserid = $1 AND roleid = $2",
            &[&user.to_string(), &role.to_string()],
        )
        .await?;
    if n == 1 {
        return Ok(RoleLink::Changed);
    }
    Ok(match exists(c, user, role).await? {
        (false, _) => RoleLink::NoUser,
        (_, false) => RoleLink::NoRole,
        _ => RoleLink::Unchanged,
    })
}

#[async_trait]
impl SecurityStore for PgStore {
    async fn ensure_security_model(
        &self,
        privileges: Vec<String>,
        grants: Vec<RoleGrant>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move { ensure(c, &privileges, &grants, now).await })
            })
            .await
    }

    async fn authenticate_key(
        &self,
        key_hash: &str,
        now: Timestamp,
    ) -> Result<Option<KeyLogin>, StoreError> {
        let c = self.reader().await?;
        authenticate(&*c, key_hash, now).await
    }

    async fn touch_key(&self, key: Uuid, now: Timestamp) -> Result<(), StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move {
                    c.execute(
                        "UPDATE bgops_apikey SET lastusedon = $2 WHERE bgops_apikeyid = $1",
                        &[&key.to_string(), &now.0],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn user_grants(&self, user: UserId) -> Result<Grants, StoreError> {
        let c = self.reader().await?;
        grants(&*c, user).await
    }

    async fn find_enabled_user(&self, id: UserId) -> Result<Option<SystemUser>, StoreError> {
        let c = self.reader().await?;
        user_where(
            &*c,
            "u.systemuserid = $1 AND u.isdisabled = 0",
            id.to_string(),
        )
        .await
    }

    async fn create_user(
        &self,
        user: NewUser,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<CreateUserOutcome, StoreError> {
        self.writer
            .run_isolated(move |c| Box::pin(async move { create_user(c, &user, by, now).await }))
            .await
    }

    async fn list_users(&self) -> Result<Vec<UserSummary>, StoreError> {
        let c = self.reader().await?;
        list_users(&*c).await
    }

    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move {
                    let n = c
                        .execute(
                            "UPDATE systemuser SET isdisabled = $2, modifiedon = $3, \
                             versionnumber = nextval('bgops_version_seq') WHERE systemuserid = $1",
                            &[&id.to_string(), &i64::from(disabled), &now.0],
                        )
                        .await?;
                    Ok(n == 1)
                })
            })
            .await
    }

    async fn create_key(&self, key: NewApiKey, now: Timestamp) -> Result<bool, StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move {
                    let n = c
                        .execute(
                            "INSERT INTO bgops_apikey (bgops_apikeyid, systemuserid, name, \
                             keyhash, expireson, createdon) \
                             SELECT $1, systemuserid, $3, $4, $5, $6 FROM systemuser \
                             WHERE systemuserid = $2",
                            &[
                                &key.id.to_string(),
                                &key.user.to_string(),
                                &key.name,
                                &key.hash,
                                &key.expires.map(|e| e.0),
                                &now.0,
                            ],
                        )
                        .await?;
                    Ok(n == 1)
                })
            })
            .await
    }

    async fn list_keys(&self, user: Option<UserId>) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let c = self.reader().await?;
        list_keys(&*c, user).await
    }

    async fn revoke_key(&self, id: Uuid, now: Timestamp) -> Result<bool, StoreError> {
        self.writer
            .run_isolated(move |c| {
                Box::pin(async move {
                    let n = c
                        .execute(
                            "UPDATE bgops_apikey SET revokedon = $2 \
                             WHERE bgops_apikeyid = $1 AND revokedon IS NULL",
                            &[&id.to_string(), &now.0],
                        )
                        .await?;
                    Ok(n == 1)
                })
            })
            .await
    }

    async fn find_role(&self, name: &str) -> Result<Option<Uuid>, StoreError> {
        let c = self.reader().await?;
        let row = c
            .query_opt(
                "SELECT roleid FROM role WHERE lower(name) = lower($1) ORDER BY roleid LIMIT 1",
                &[&name],
            )
            .await?;
        row.map(|r| uuid_of(&r.try_get::<_, String>(0)?))
            .transpose()
    }

    async fn associate_role(
        &self,
        user: UserId,
        role: Uuid,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<RoleLink, StoreError> {
        self.writer
            .run_isolated(move |c| Box::pin(async move { associate(c, user, role, by, now).await }))
            .await
    }

    async fn disassociate_role(&self, user: UserId, role: Uuid) -> Result<RoleLink, StoreError> {
        self.writer
            .run_isolated(move |c| Box::pin(async move { disassociate(c, user, role).await }))
            .await
    }
}
