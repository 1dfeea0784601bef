//! Authentication and authorization. Every route but `/health` needs
//! `Authorization: Bearer {token}`: an API key of a `systemuser` row (stored hashed), or a JWT
//! from a configured identity provider ([`crate::jwt`]), told apart by their shape.
//! [`authorize`] is the one place privileges are checked.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use bgops_core::ApiError;
use bgops_store::{Store, SystemUser};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::edge::{bearer_token, AuthRefused, Authenticated, ClientAddr};
use crate::error::AppError;
use crate::jwt::{looks_like_jwt, JwtAuthenticator, JwtError};
use crate::state::AppState;

/// Read on the `backgroundoperation` table.
pub const PRV_READ_BACKGROUND_OPERATION: &str = "prvReadbackgroundoperation";
/// Write on the `backgroundoperation` table.
pub const PRV_WRITE_BACKGROUND_OPERATION: &str = "prvWritebackgroundoperation";

/// How long a resolved token is trusted before it is looked up again (a replaced key stops
/// working within this time).
const CACHE_TTL: Duration = Duration::from_secs(30);

/// The hash under which an API key is stored: hex SHA-256 (keys are random and long, so a
/// slow password hash would buy nothing).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random API key: `bgops_` and 32 random bytes, URL-safe Base64.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "bgops_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Resolves bearer tokens to users, with a short cache so polling costs no database read.
pub struct Authenticator {
    /// Where users live.
    store: Arc<dyn Store>,
    /// Token → user and when it was looked up.
    cache: RwLock<HashMap<String, (SystemUser, Instant)>>,
    /// Verifies bearer JWTs, when issuers are configured.
    jwt: Option<Arc<JwtAuthenticator>>,
}

impl Authenticator {
    /// An authenticator over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: RwLock::new(HashMap::new()),
            jwt: None,
        }
    }

    /// This authenticator, also accepting the bearer JWTs `jwt` verifies.
    pub fn with_jwt(mut self, jwt: Option<Arc<JwtAuthenticator>>) -> Self {
        self.jwt = jwt;
        self
    }

    /// The user of a bearer token: a JWT (by its shape, when issuers are configured) or an API
    /// key. A refused token is a 401 saying why.
    pub async fn authenticate(&self, token: &str) -> Result<SystemUser, AppError> {
        if let Some(jwt) = self.jwt.as_ref().filter(|_| looks_like_jwt(token)) {
            return match jwt.authenticate(token).await {
                Ok(user) => Ok(user),
                Err(JwtError::Store(e)) => Err(e.into()),
                Err(e) => Err(ApiError::bad_token(e).into()),
            };
        }
        match self.user_for_token(token).await? {
            Some(user) => Ok(user),
            None => Err(ApiError::unauthenticated().into()),
        }
    }

    /// The user holding `token`, if any.
    pub async fn user_for_token(&self, token: &str) -> Result<Option<SystemUser>, AppError> {
        // The cache is keyed by the token itself (it lives only in this process's memory), so a
        // poll costs no hashing and no database read.
        if let Ok(cache) = self.cache.read() {
            if let Some((user, at)) = cache.get(token) {
                if at.elapsed() < CACHE_TTL {
                    return Ok(Some(user.clone()));
                }
            }
        }
        let hash = hash_token(token);
        let user = self.store.find_user_by_key_hash(&hash).await?;
        if let (Some(u), Ok(mut cache)) = (&user, self.cache.write()) {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(token.to_owned(), (u.clone(), Instant::now()));
        }
        Ok(user)
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller(pub SystemUser);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The edge middleware authenticated the token already (once per request).
        if let Some(Authenticated(user)) = parts.extensions.get::<Authenticated>() {
            return Ok(Caller(user.clone()));
        }
        let client = parts.extensions.get::<ClientAddr>().and_then(|c| c.0);
        let refused = match parts.extensions.get::<AuthRefused>() {
            Some(AuthRefused(e)) => AppError::Api(e.clone()),
            None => match bearer_token(&parts.headers) {
                None => ApiError::unauthenticated().into(),
                Some(token) => match state.auth.authenticate(token).await {
                    Ok(user) => return Ok(Caller(user)),
                    Err(e) => e,
                },
            },
        };
        if let AppError::Api(e) = &refused {
            tracing::info!(target: "bgops::audit", event = "authentication_failed", client = ?client, method = %parts.method, path = %parts.uri.path(), reason = %e.message, "request not authenticated");
        }
        Err(refused)
    }
}

/// Checks that `user` holds `privilege` (on `entity`, for the message). System Administrators
/// hold every privilege; roles for other users come with the security model of SPEC §10.
pub fn authorize(user: &SystemUser, privilege: &str, entity: &str) -> Result<(), ApiError> {
    if user.is_system_administrator {
        return Ok(());
    }
    Err(ApiError::privilege_denied(user.id, privilege, entity))
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
