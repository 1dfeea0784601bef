//! SQL for users signed in by an identity provider: found, or created on first sight, by
//! (tenant, object id).

use bgops_core::{Timestamp, UserId};

use super::db::Db;
use super::users;
use crate::store::{ExternalIdentity, ExternalUser, NewExternalUser};
use crate::StoreError;

/// The user with `object_id`: a row of `tenant` first, else one with no tenant; any row when
/// `tenant` is `None`.
pub async fn find(
    c: &dyn Db,
    tenant: Option<&str>,
    object_id: &str,
) -> Result<Option<ExternalUser>, StoreError> {
    let Some(row) = c
        .query_opt(
            "SELECT systemuserid, isdisabled <> 0 FROM systemuser \
             WHERE azureactivedirectoryobjectid = $2 \
               AND ($1::text IS NULL OR bgops_identitytenant = $1 OR bgops_identitytenant IS NULL) \
             ORDER BY bgops_identitytenant IS NULL LIMIT 1",
            &[&tenant, &object_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let id: String = row.try_get(0)?;
    let disabled: bool = row.try_get(1)?;
    let id = id
        .parse::<UserId>()
        .map_err(|_| StoreError::Corrupt(format!("bad user id '{id}'")))?;
    if disabled {
        return Ok(Some(ExternalUser::Disabled(id)));
    }
    Ok(users::by_id(c, id).await?.map(ExternalUser::Enabled))
}

/// The user of `identity`, created from `new` when there is none. Two nodes inserting the same
/// identity at once meet on the unique index: the second inserts nothing and finds the first's.
pub async fn provision(
    c: &dyn Db,
    identity: &ExternalIdentity,
    new: &NewExternalUser,
    now: Timestamp,
) -> Result<ExternalUser, StoreError> {
    if let Some(found) = find(c, Some(&identity.tenant), &identity.object_id).await? {
        return Ok(found);
    }
    c.execute(
        "INSERT INTO systemuser (systemuserid, fullname, domainname, azureactivedirectoryobjectid, \
         bgops_identitytenant, issystemadministrator, isbootstrapadmin, createdon, modifiedon, \
         versionnumber) VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $6, nextval('bgops_version_seq')) \
         ON CONFLICT (bgops_identitytenant, azureactivedirectoryobjectid) \
         WHERE bgops_identitytenant IS NOT NULL DO NOTHING",
        &[
            &UserId::new_random().to_string(),
            &new.full_name,
            &new.domain_name,
            &identity.object_id,
            &identity.tenant,
            &now.0,
        ],
    )
    .await?;
    find(c, Some(&identity.tenant), &identity.object_id)
        .await?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "no user for object id '{}' after provisioning it",
                identity.object_id
            ))
        })
}
