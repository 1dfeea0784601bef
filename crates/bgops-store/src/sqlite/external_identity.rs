//! SQL for users signed in by an identity provider: found, or created on first sight, by
//! (tenant, object id).

use bgops_core::{Timestamp, UserId};
use rusqlite::{params, Connection, OptionalExtension};

use super::users;
use super::writer::WriterCtx;
use crate::store::{ExternalIdentity, ExternalUser, NewExternalUser};
use crate::StoreError;

/// The user with `object_id`: a row of `tenant` first, else one with no tenant; any row when
/// `tenant` is `None`.
pub fn find(
    conn: &Connection,
    tenant: Option<&str>,
    object_id: &str,
) -> Result<Option<ExternalUser>, StoreError> {
    let row: Option<(String, bool)> = conn
        .prepare_cached(
            "SELECT systemuserid, isdisabled <> 0 FROM systemuser \
             WHERE azureactivedirectoryobjectid = ?2 \
               AND (?1 IS NULL OR bgops_identitytenant = ?1 OR bgops_identitytenant IS NULL) \
             ORDER BY bgops_identitytenant IS NULL LIMIT 1",
        )?
        .query_row(params![tenant, object_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, disabled)) = row else {
        return Ok(None);
    };
    let id = id
        .parse::<UserId>()
        .map_err(|_| StoreError::Corrupt(format!("bad user id '{id}'")))?;
    if disabled {
        return Ok(Some(ExternalUser::Disabled(id)));
    }
    Ok(users::by_id(conn, id)?.map(ExternalUser::Enabled))
}

/// The user of `identity`, created from `new` when there is none (the single writer makes the
/// look-up and the insert one step).
pub fn provision(
    conn: &Connection,
    ctx: &mut WriterCtx,
    identity: &ExternalIdentity,
    new: &NewExternalUser,
    now: Timestamp,
) -> Result<ExternalUser, StoreError> {
    if let Some(found) = find(conn, Some(&identity.tenant), &identity.object_id)? {
        return Ok(found);
    }
    let id = UserId::new_random();
    conn.execute(
        "INSERT INTO systemuser (systemuserid, fullname, domainname, azureactivedirectoryobjectid, \
         bgops_identitytenant, issystemadministrator, isbootstrapadmin, createdon, modifiedon, \
         versionnumber) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?6, ?7)",
        params![
            id.to_string(),
            new.full_name,
            new.domain_name,
            identity.object_id,
            identity.tenant,
            now.0,
            ctx.next_version()
        ],
    )?;
    users::by_id(conn, id)?
        .map(ExternalUser::Enabled)
        .ok_or_else(|| StoreError::Corrupt(format!("user {id} vanished after its insert")))
}
