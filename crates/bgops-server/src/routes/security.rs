//! Managing users' roles and API keys over the Web API (System Administrators only):
//!
//! - `POST systemusers({id})/systemuserroles_association/$ref` with `{"@odata.id": "…/roles({roleid})"}`
//!   gives the user a role (and `POST roles({id})/systemuserroles_association/$ref` naming a
//!   `systemusers({id})`, as Dataverse allows from either side);
//!   `DELETE systemusers({id})/systemuserroles_association({roleid})/$ref` (or
//!   `…/systemuserroles_association/$ref?$id=…/roles({roleid})`) takes it away.
//! - `GET systemusers({id})/bgops_apikeys` lists the user's keys (never a secret or hash);
//!   `POST` with `{"name", "expireson"?}` creates one and shows it once (201);
//!   `DELETE systemusers({id})/bgops_apikeys({keyid})` revokes it.
//!
//! Every change is written to the audit log and drops this node's authentication cache, so it
//! takes effect at once here (on other nodes within [`crate::auth::CACHE_TTL`]).

use axum::http::{Method, StatusCode};
use axum::response::Response;
use bgops_core::security::{Privilege, Verb};
use bgops_core::{ApiError, Timestamp, UserId};
use bgops_store::{NewApiKey, RoleLink};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::{generate_token, hash_token, Caller};
use crate::error::AppError;
use crate::extract::{query_pairs, Root};
use crate::response;
use crate::state::AppState;

/// The relationship between users and roles, as Dataverse names it.
const USER_ROLES: &str = "systemuserroles_association";
/// The nested collection of a user's API keys.
const API_KEYS: &str = "bgops_apikeys";
/// Longest key name.
pub const MAX_KEY_NAME: usize = 100;

/// A nested path below `systemusers({id})` or `roles({id})` this module serves.
pub fn handles(set: &str, rest: &str) -> bool {
    let first = rest.split('/').next().unwrap_or("");
    match set {
        "systemusers" => first.starts_with(USER_ROLES) || first.starts_with(API_KEYS),
        "roles" => first.starts_with(USER_ROLES),
        _ => false,
    }
}

fn guid(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    let raw = raw.rsplit('=').next().unwrap_or(raw);
    raw.parse::<UserId>()
        .map(|u| u.0)
        .map_err(|_| ApiError::bad_syntax(format!("'{raw}' is not a valid {what} id (a GUID).")))
}

/// `name(GUID)` → the GUID, when `segment` has that form.
fn keyed<'a>(segment: &'a str, name: &str) -> Option<&'a str> {
    segment
        .strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// The id in an `@odata.id` (or `$id`) URL naming a row of `set`: `…/{set}({id})`.
fn referenced(url: &str, set: &str) -> Result<Uuid, ApiError> {
    let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let key = keyed(last, set).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "'@odata.id' must name a row of {set}: …/{set}({{id}})."
        ))
    })?;
    guid(key, set)
}

/// Requires the System Administrator role; the denial names `privilege`.
fn administrator(caller: &Caller, verb: Verb, table: &str) -> Result<(), ApiError> {
    caller
        .principal
        .require_administrator(&Privilege::table(verb, table))
}

/// Serves a nested path under `systemusers({key})` or `roles({key})` (see the module docs).
#[allow(clippy::too_many_arguments)]
pub async fn nested(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    method: &Method,
    set: &str,
    key: &str,
    rest: &str,
    query: Option<&str>,
    body: Option<Map<String, Value>>,
) -> Result<Response, AppError> {
    let parts: Vec<&str> = rest.split('/').collect();
    match (set, parts.as_slice(), method) {
        ("systemusers", [USER_ROLES, "$ref"], &Method::POST) => {
            let user = UserId(guid(key, "systemuser")?);
            let role = referenced(&odata_id(body.as_ref())?, "roles")?;
            associate(state, caller, user, role).await
        }
        ("roles", [USER_ROLES, "$ref"], &Method::POST) => {
            let role = guid(key, "role")?;
            let user = UserId(referenced(&odata_id(body.as_ref())?, "systemusers")?);
            associate(state, caller, user, role).await
        }
        ("systemusers", [USER_ROLES, "$ref"], &Method::DELETE) => {
            let user = UserId(guid(key, "systemuser")?);
            let role = referenced(&dollar_id(query)?, "roles")?;
            disassociate(state, caller, user, role).await
        }
        ("roles", [USER_ROLES, "$ref"], &Method::DELETE) => {
            let role = guid(key, "role")?;
            let user = UserId(referenced(&dollar_id(query)?, "systemusers")?);
            disassociate(state, caller, user, role).await
        }
        ("systemusers", [assoc, "$ref"], &Method::DELETE) if keyed(assoc, USER_ROLES).is_some() => {
            let user = UserId(guid(key, "systemuser")?);
            let role = guid(keyed(assoc, USER_ROLES).unwrap_or(""), "role")?;
            disassociate(state, caller, user, role).await
        }
        ("roles", [assoc, "$ref"], &Method::DELETE) if keyed(assoc, USER_ROLES).is_some() => {
            let role = guid(key, "role")?;
            let user = UserId(guid(keyed(assoc, USER_ROLES).unwrap_or(""), "systemuser")?);
            disassociate(state, caller, user, role).await
        }
        ("systemusers", [API_KEYS], &Method::GET) => {
            list_keys(state, caller, root, UserId(guid(key, "systemuser")?)).await
        }
        ("systemusers", [API_KEYS], &Method::POST) => {
            let user = UserId(guid(key, "systemuser")?);
            create_key(state, caller, root, user, body.unwrap_or_default()).await
        }
        ("systemusers", [one], &Method::DELETE) if keyed(one, API_KEYS).is_some() => {
            let user = UserId(guid(key, "systemuser")?);
            let id = guid(keyed(one, API_KEYS).unwrap_or(""), "API key")?;
            revoke_key(state, caller, user, id).await
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on {set}({key})/{rest}."
        ))
        .into()),
    }
}

fn odata_id(body: Option<&Map<String, Value>>) -> Result<String, ApiError> {
    body.and_then(|b| b.get("@odata.id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::invalid_argument(
                "Send {\"@odata.id\": \"…/roles({id})\"} to associate a role with a user.",
            )
        })
}

fn dollar_id(query: Option<&str>) -> Result<String, ApiError> {
    query
        .map(query_pairs)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "$id")
        .map(|(_, v)| v)
        .ok_or_else(|| {
            ApiError::invalid_argument(
                "Name the association to remove: …/systemuserroles_association({roleid})/$ref or $id=….",
            )
        })
}

async fn associate(
    state: &AppState,
    caller: &Caller,
    user: UserId,
    role: Uuid,
) -> Result<Response, AppError> {
    administrator(caller, Verb::Create, "systemuserroles")?;
    let now = state.engine.clock().now();
    let link = state
        .engine
        .store()
        .associate_role(user, role, Some(caller.principal.id), now)
        .await?;
    link_answer(state, caller, link, user, role, "role_associated")
}

async fn disassociate(
    state: &AppState,
    caller: &Caller,
    user: UserId,
    role: Uuid,
) -> Result<Response, AppError> {
    administrator(caller, Verb::Delete, "systemuserroles")?;
    let link = state.engine.store().disassociate_role(user, role).await?;
    link_answer(state, caller, link, user, role, "role_disassociated")
}

fn link_answer(
    state: &AppState,
    caller: &Caller,
    link: RoleLink,
    user: UserId,
    role: Uuid,
    what: &'static str,
) -> Result<Response, AppError> {
    match link {
        RoleLink::NoUser => Err(ApiError::row_not_found("systemuser", user).into()),
        RoleLink::NoRole => Err(ApiError::row_not_found("role", role).into()),
        RoleLink::Unchanged => Ok(response::empty(StatusCode::NO_CONTENT)),
        RoleLink::Changed => {
            state.auth.forget_all();
            caller.audit_change(what, &user.to_string(), &format!("role={role}"));
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
    }
}

/// The JSON of a key (never its hash).
fn key_json(k: &bgops_store::ApiKeyInfo) -> Value {
    let time = |t: Option<Timestamp>| t.map_or(Value::Null, |t| Value::String(t.to_dataverse()));
    json!({
        "bgops_apikeyid": k.id.to_string(),
        "name": k.name,
        "_systemuserid_value": k.user.to_string(),
        "createdon": k.created.to_dataverse(),
        "expireson": time(k.expires),
        "revokedon": time(k.revoked),
        "lastusedon": time(k.last_used),
    })
}

async fn user_exists(state: &AppState, user: UserId) -> Result<(), AppError> {
    match state.engine.store().find_user(user).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::row_not_found("systemuser", user).into()),
    }
}

async fn list_keys(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    user: UserId,
) -> Result<Response, AppError> {
    administrator(caller, Verb::Read, "systemuser")?;
    user_exists(state, user).await?;
    let keys = state.engine.store().list_keys(Some(user)).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/api/data/v9.2/$metadata#{API_KEYS}", root.0),
            "value": keys.iter().map(key_json).collect::<Vec<_>>(),
        }),
    ))
}

async fn create_key(
    state: &AppState,
    caller: &Caller,
    root: &Root,
    user: UserId,
    body: Map<String, Value>,
) -> Result<Response, AppError> {
    administrator(caller, Verb::Write, "systemuser")?;
    for k in body.keys() {
        if k != "name" && k != "expireson" && !k.starts_with('@') {
            return Err(ApiError::unknown_property(k, "bgops_apikey").into());
        }
    }
    let name = match body.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() && n.chars().count() <= MAX_KEY_NAME => {
            n.trim().to_owned()
        }
        _ => {
            return Err(ApiError::invalid_argument(format!(
                "An API key needs a 'name' of 1 to {MAX_KEY_NAME} characters."
            ))
            .into())
        }
    };
    let now = state.engine.clock().now();
    let expires = match body.get("expireson") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match Timestamp::parse_rfc3339(s) {
            Some(t) if t.0 > now.0 => Some(t),
            Some(_) => {
                return Err(ApiError::invalid_argument("'expireson' must be in the future.").into())
            }
            None => {
                return Err(ApiError::invalid_argument(format!(
                    "'expireson' must be a date and time like 2030-01-31T00:00:00Z; '{s}' is not."
                ))
                .into())
            }
        },
        Some(_) => {
            return Err(ApiError::invalid_argument(
                "'expireson' must be a date and time like 2030-01-31T00:00:00Z.",
            )
            .into())
        }
    };
    let token = generate_token();
    let key = NewApiKey {
        id: Uuid::new_v4(),
        user,
        name,
        hash: hash_token(&token),
        expires,
    };
    let id = key.id;
    if !state.engine.store().create_key(key.clone(), now).await? {
        return Err(ApiError::row_not_found("systemuser", user).into());
    }
    caller.audit_change("key_created", &user.to_string(), &format!("key={id}"));
    let info = bgops_store::ApiKeyInfo {
        id,
        user,
        name: key.name,
        created: now,
        expires,
        revoked: None,
        last_used: None,
    };
    let mut body = key_json(&info);
    if let Value::Object(m) = &mut body {
        m.insert(
            "@odata.context".into(),
            Value::String(format!(
                "{}/api/data/v9.2/$metadata#{API_KEYS}/$entity",
                root.0
            )),
        );
        // Shown once: only its hash is kept.
        m.insert("key".into(), Value::String(token));
    }
    Ok(response::json(StatusCode::CREATED, &body))
}

async fn revoke_key(
    state: &AppState,
    caller: &Caller,
    user: UserId,
    id: Uuid,
) -> Result<Response, AppError> {
    administrator(caller, Verb::Write, "systemuser")?;
    let store = state.engine.store();
    let owned = store
        .list_keys(Some(user))
        .await?
        .into_iter()
        .find(|k| k.id == id);
    let Some(key) = owned else {
        return Err(ApiError::row_not_found("bgops_apikey", id).into());
    };
    if key.revoked.is_none() && store.revoke_key(id, state.engine.clock().now()).await? {
        state.auth.forget_all();
        caller.audit_change("key_revoked", &user.to_string(), &format!("key={id}"));
    }
    Ok(response::empty(StatusCode::NO_CONTENT))
}
