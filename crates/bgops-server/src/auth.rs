//! Authentication: every route but `/health` needs `Authorization: Bearer {token}`: an API key
//! of a `systemuser` row (stored only as a hash), or a JWT from a configured identity provider
//! ([`crate::jwt`]), told apart by their shape. Either way the request acts as a [`Principal`]:
//! the token's user, or the user `MSCRMCallerID` / `CallerObjectId` name when the token's user
//! holds `prvActOnBehalfOfAnotherUser`. What a principal may do is decided by the engine's
//! [`Access`] service, never here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use bgops_core::catalogue::Catalogue;
use bgops_core::security::{
    builtin_grants, cannot_impersonate, standard_privileges, Principal, Privilege,
};
use bgops_core::{ApiError, Clock, Timestamp, UserId};
use bgops_engine::Access;
use bgops_store::{ExternalUser, RoleGrant, Store, SystemUser};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::audit::AuditContext;
use crate::edge::{bearer_token, Seen};
use crate::error::AppError;
use crate::jwt::{looks_like_jwt, JwtAuthenticator, JwtError};
use crate::state::AppState;

/// How long a resolved token (and what its user's roles grant) is trusted before it is looked
/// up again: a key revoked, a user disabled or a role changed on another node (or from the CLI)
/// takes effect within this time; on the node that made the change, at once.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// How often a key's last-used time is written at most.
pub const LAST_USED_EVERY: Duration = Duration::from_secs(60);

/// Most tokens kept in the cache; past it the cache starts over.
const CACHE_MAX: usize = 10_000;

/// `MSCRMCallerID`: impersonate the user with this `systemuserid`.
pub const CALLER_ID_HEADER: &str = "mscrmcallerid";
/// `CallerObjectId`: impersonate the user with this Entra object id.
pub const CALLER_OBJECT_ID_HEADER: &str = "callerobjectid";

/// The hash under which an API key is stored: hex SHA-256 (keys are 256 random bits, so a slow
/// password hash would buy nothing).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random API key: `bgops_` and 32 random bytes (256 bits), URL-safe Base64.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "bgops_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Writes the privileges of every table and the built-in roles' grants (System Administrator,
/// Basic User, Delegate), adding what is missing. Run at every start and by the CLI.
pub async fn ensure_security_model(
    store: &dyn Store,
    catalogue: &Catalogue,
    now: Timestamp,
) -> Result<(), bgops_store::StoreError> {
    let privileges = standard_privileges(catalogue);
    let grants = builtin_grants(&privileges)
        .into_iter()
        .map(|(role, privilege, depth)| RoleGrant {
            role,
            privilege,
            depth_mask: depth.mask(),
        })
        .collect();
    store.ensure_security_model(privileges, grants, now).await
}

/// A token resolved to the user it authenticates.
#[derive(Clone)]
struct CachedLogin {
    /// The token's user and what their roles grant.
    principal: Principal,
    /// The API key, for its last-used time; `None` for a JWT.
    key_id: Option<uuid::Uuid>,
    /// Until when this entry holds: [`CACHE_TTL`] after the look-up, never past a JWT's `exp`.
    until: Instant,
    /// The last-used time last written (or read) for the key.
    used: Option<Timestamp>,
}

/// Resolves bearer tokens to principals, with a short cache so polling costs no database read.
pub struct Authenticator {
    /// Where users, keys and roles live.
    store: Arc<dyn Store>,
    /// Expiry is checked against it; last use is recorded with it.
    clock: Arc<dyn Clock>,
    /// Token → login. Keyed by the token itself: it lives only in this process's memory, and a
    /// poll then costs no hashing.
    cache: RwLock<HashMap<String, CachedLogin>>,
    /// User → principal, for impersonated users.
    principals: RwLock<HashMap<UserId, (Principal, Instant)>>,
    /// Verifies bearer JWTs, when issuers are configured.
    jwt: Option<Arc<JwtAuthenticator>>,
}

impl Authenticator {
    /// An authenticator over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            cache: RwLock::new(HashMap::new()),
            principals: RwLock::new(HashMap::new()),
            jwt: None,
        }
    }

    /// This authenticator, also accepting the bearer JWTs `jwt` verifies.
    pub fn with_jwt(mut self, jwt: Option<Arc<JwtAuthenticator>>) -> Self {
        self.jwt = jwt;
        self
    }

    /// The principal of a bearer token: a JWT (by its shape, when issuers are configured) or an
    /// API key. A refused token is a 401 saying why.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AppError> {
        if let Some(jwt) = self.jwt.as_ref().filter(|_| looks_like_jwt(token)) {
            return self.principal_for_jwt(jwt, token).await;
        }
        match self.principal_for_token(token).await? {
            Some(principal) => Ok(principal),
            None => Err(ApiError::unauthenticated().into()),
        }
    }

    /// Forgets every cached login and principal: after a user is disabled, a key revoked or a
    /// role changed on this node, the next request reads them again.
    pub fn forget_all(&self) {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.principals
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The principal of `user`: the user and what their roles grant.
    pub async fn principal_of(&self, user: SystemUser) -> Result<Principal, AppError> {
        let grants = self.store.user_grants(user.id).await?;
        Ok(Principal {
            id: user.id,
            full_name: user.full_name,
            grants: Arc::new(grants),
        })
    }

    /// The principal holding `token`, if the token is a working key of an enabled user.
    pub async fn principal_for_token(&self, token: &str) -> Result<Option<Principal>, AppError> {
        let now = self.clock.now();
        let login = match self.cached(token) {
            Some(login) => login,
            None => {
                let Some(found) = self.store.authenticate_key(&hash_token(token), now).await?
                else {
                    return Ok(None);
                };
                let login = CachedLogin {
                    principal: self.principal_of(found.user).await?,
                    key_id: Some(found.key_id),
                    until: Instant::now() + CACHE_TTL,
                    used: found.last_used,
                };
                self.remember(token, &login);
                login
            }
        };
        self.record_use(token, &login, now);
        Ok(Some(login.principal))
    }

    /// The principal of a bearer JWT, verified by `jwt`: the user it names (provisioned on
    /// first sign-in when so configured) with the grants of their roles, cached like keys.
    async fn principal_for_jwt(
        &self,
        jwt: &JwtAuthenticator,
        token: &str,
    ) -> Result<Principal, AppError> {
        if let Some(login) = self.cached(token) {
            return Ok(login.principal);
        }
        let (user, left) = match jwt.authenticate(token).await {
            Ok(found) => found,
            Err(JwtError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(ApiError::bad_token(e).into()),
        };
        let login = CachedLogin {
            principal: self.principal_of(user).await?,
            key_id: None,
            until: Instant::now() + CACHE_TTL.min(left),
            used: None,
        };
        self.remember(token, &login);
        Ok(login.principal)
    }

    /// The cached login of `token`, while it holds.
    fn cached(&self, token: &str) -> Option<CachedLogin> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .filter(|l| Instant::now() < l.until)
            .cloned()
    }

    /// Caches the login of `token` (starting over past [`CACHE_MAX`] entries).
    fn remember(&self, token: &str, login: &CachedLogin) {
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(token.to_owned(), login.clone());
    }

    /// Writes the key's last-used time when the one stored is older than
    /// [`LAST_USED_EVERY`], in the background (a failure is logged, the request goes on).
    fn record_use(&self, token: &str, login: &CachedLogin, now: Timestamp) {
        let Some(key) = login.key_id else {
            return;
        };
        let every = i64::try_from(LAST_USED_EVERY.as_millis()).unwrap_or(i64::MAX);
        if login.used.is_some_and(|u| now.0 - u.0 < every) {
            return;
        }
        if let Some(entry) = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(token)
        {
            entry.used = Some(now);
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_key(key, now).await {
                tracing::warn!(error = %e, %key, "could not record an API key's last use");
            }
        });
    }

    /// The principal of `user` (an impersonated user, already found enabled; `None` when none
    /// was), cached like tokens.
    async fn impersonated(&self, user: Option<SystemUser>) -> Result<Option<Principal>, AppError> {
        let Some(user) = user else {
            return Ok(None);
        };
        let hit = self
            .principals
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&user.id)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(p, _)| p.clone());
        if let Some(p) = hit {
            return Ok(Some(p));
        }
        let principal = self.principal_of(user).await?;
        let mut map = self
            .principals
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(principal.id, (principal.clone(), Instant::now()));
        Ok(Some(principal))
    }
}

/// The caller of a request: who acts, and who authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Who the request acts as: the key's user, or the impersonated user.
    pub principal: Principal,
    /// The key's user (differs from `principal` under impersonation): `createdby` of the
    /// operations it submits, and who the audit log names.
    pub authenticated: UserId,
    /// The request's audit context (peer address), for the changes it makes.
    pub audit: Option<Arc<AuditContext>>,
}

impl Caller {
    /// The service bound to this caller's principal.
    pub fn access(&self, state: &AppState) -> Access {
        state.engine.access(self.principal.clone())
    }

    /// Whether the request acts on another user's behalf.
    pub fn impersonating(&self) -> bool {
        self.principal.id != self.authenticated
    }

    /// Logs a change of the directory this request made (see [`crate::audit::change`]).
    pub fn audit_change(&self, what: &'static str, subject: &str, detail: &str) {
        crate::audit::change(
            self.audit.as_deref(),
            &self.principal,
            what,
            subject,
            detail,
        );
    }
}

/// A GUID header's value: `None` when absent, 400 when malformed.
fn guid_header(
    parts: &Parts,
    name: &axum::http::HeaderName,
) -> Result<Option<uuid::Uuid>, ApiError> {
    let Some(v) = parts.headers.get(name) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    text.parse::<UserId>().map(|u| Some(u.0)).map_err(|_| {
        ApiError::bad_syntax(format!(
            "The {name} header must be a GUID; '{}' is not.",
            text.chars().take(64).collect::<String>()
        ))
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let seen = parts.extensions.get::<Seen>();
        let audit: Option<Arc<AuditContext>> = seen.map(|s| s.audit.clone());
        // The edge middleware authenticated the token already (once per request); after a store
        // failure there it is tried again here, so the failure is answered as one.
        let authenticated = match seen.and_then(|s| s.auth.clone()) {
            Some(Ok(principal)) => Ok(principal),
            Some(Err(e)) => Err(AppError::Api(e)),
            None => match bearer_token(&parts.headers) {
                None => Err(ApiError::unauthenticated().into()),
                Some(token) => state.auth.authenticate(token).await,
            },
        };
        let principal = match authenticated {
            Ok(principal) => principal,
            Err(e) => {
                if let (Some(a), AppError::Api(refused)) = (&audit, &e) {
                    a.failed(match bearer_token(&parts.headers) {
                        None => "no bearer token".to_owned(),
                        Some(t) if !looks_like_jwt(t) => {
                            "unknown, expired or revoked key, or a disabled user".to_owned()
                        }
                        Some(_) => refused.message.clone(),
                    });
                }
                return Err(e);
            }
        };
        if let Some(a) = &audit {
            a.authenticated(&principal);
        }
        // Header names parsed once, not at every look-up.
        const CALLER_ID: axum::http::HeaderName =
            axum::http::HeaderName::from_static(CALLER_ID_HEADER);
        const CALLER_OBJECT_ID: axum::http::HeaderName =
            axum::http::HeaderName::from_static(CALLER_OBJECT_ID_HEADER);
        let by_id = guid_header(parts, &CALLER_ID)?;
        let by_object = guid_header(parts, &CALLER_OBJECT_ID)?;
        if by_id.is_none() && by_object.is_none() {
            return Ok(Caller {
                authenticated: principal.id,
                principal,
                audit,
            });
        }
        if principal
            .authorize(&Privilege::ActOnBehalfOfAnotherUser)
            .is_err()
        {
            return Err(cannot_impersonate().into());
        }
        let store = state.engine.store();
        let (target, named) = match (by_id, by_object) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_syntax(
                    "Send either MSCRMCallerID or CallerObjectId, not both.",
                )
                .into())
            }
            (Some(id), None) => (store.find_enabled_user(UserId(id)).await?, id),
            (None, Some(oid)) => {
                let found = store.find_external_user(None, &oid.to_string()).await?;
                let enabled = match found {
                    Some(ExternalUser::Enabled(user)) => Some(user),
                    Some(ExternalUser::Disabled(_)) | None => None,
                };
                (enabled, oid)
            }
            (None, None) => unreachable!("checked above"),
        };
        let Some(acting) = state.auth.impersonated(target).await? else {
            return Err(ApiError::row_not_found("systemuser", named).into());
        };
        crate::audit::impersonation(audit.as_deref(), &principal, &acting);
        Ok(Caller {
            authenticated: principal.id,
            principal: acting,
            audit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with("bgops_") && a.len() > 40);
        assert_eq!(hash_token("x"), hash_token("x"));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
