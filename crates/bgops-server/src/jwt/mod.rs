//! Bearer JWTs from configured identity providers (`--jwt-issuer`, `--jwt-audience`): the
//! signature checked with the issuer's keys ([`jwks`]), `exp`, `nbf`, `iss` and `aud` with a
//! minute of clock skew, and the user found, or created on first sight, by (tenant, object id)
//! ([`claims`]). A token is told from an API key by its shape ([`looks_like_jwt`]).

pub mod claims;
pub mod jwks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use base64::Engine as _;
use bgops_core::security::BASIC_USER_ROLE;
use bgops_core::Timestamp;
use bgops_store::{ExternalUser, RoleLink, Store, SystemUser};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use self::claims::Claims;
use self::jwks::{KeyMap, RemoteKeys};

/// The clock skew allowed on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);

/// The JWT settings of `bgops serve`.
#[derive(Clone, Default)]
pub struct JwtSettings {
    /// `--jwt-issuer` (repeatable): the accepted `iss` values, exactly as tokens carry them.
    pub issuers: Vec<String>,
    /// `--jwt-audience` (repeatable): the accepted `aud` values; a URL is accepted with and
    /// without a trailing `/`.
    pub audiences: Vec<String>,
    /// `--jwt-jwks-file`: the signing keys of every issuer, from a file; nothing is fetched.
    pub jwks_file: Option<PathBuf>,
    /// `--jwt-ca-file`: extra root certificates (PEM) trusted when fetching keys, for an
    /// identity provider with a private certificate authority.
    pub ca_file: Option<PathBuf>,
    /// `--jwt-jwks-min-refresh`: the least time between two key fetches that tokens naming
    /// unknown key ids cause.
    pub min_refresh: Duration,
    /// `--jwt-auto-provision`: create a user on its first valid token.
    pub auto_provision: bool,
    /// `--jwt-dev-hs256-secret`: accept HS256 tokens signed with this shared secret (for
    /// development only; never with a real identity provider).
    pub dev_hs256_secret: Option<String>,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("jwks_file", &self.jwks_file)
            .field("ca_file", &self.ca_file)
            .field("min_refresh", &self.min_refresh)
            .field("auto_provision", &self.auto_provision)
            .field(
                "dev_hs256_secret",
                &self.dev_hs256_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl JwtSettings {
    /// Whether bearer JWTs are accepted at all.
    pub fn enabled(&self) -> bool {
        !self.issuers.is_empty()
    }
}

/// Why a bearer JWT was refused (each a 401; the message is the reason).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Not three Base64url parts with a JSON header and payload.
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    /// An algorithm other than RS256 and ES256 (or HS256 without the dev flag).
    #[error("the bearer token is signed with {0}; only RS256 and ES256 are accepted")]
    Algorithm(String),
    /// An `iss` not configured.
    #[error("the bearer token's issuer is not accepted")]
    Issuer,
    /// No key of the issuer has the token's `kid` (nor could one be fetched).
    #[error("the bearer token is signed with an unknown key (kid '{0}')")]
    UnknownKey(String),
    /// The signature, `exp`, `nbf` or `aud` check failed.
    #[error("the bearer token is not valid: {0}")]
    Invalid(&'static str),
    /// Neither `oid` nor `sub`.
    #[error("the bearer token names no user (no oid or sub claim)")]
    NoSubject,
    /// No user has the token's object id, and auto-provisioning is off.
    #[error("no user has the token's object id; an administrator adds one")]
    UnknownUser,
    /// The user is disabled.
    #[error("the user is disabled")]
    Disabled,
    /// The store failed.
    #[error("the user could not be read: {0}")]
    Store(#[from] bgops_store::StoreError),
}

/// Where a verification key comes from.
enum KeySource {
    /// `--jwt-jwks-file`, read at start.
    File(Arc<KeyMap>),
    /// The issuer's OpenID configuration.
    Remote(RemoteKeys),
}

/// Verifies bearer JWTs and maps them to users.
pub struct JwtAuthenticator {
    /// Keys by accepted issuer.
    issuers: HashMap<String, KeySource>,
    /// Accepted audiences (both spellings of URLs).
    audiences: Vec<String>,
    /// `--jwt-dev-hs256-secret`.
    hs256: Option<DecodingKey>,
    /// `--jwt-auto-provision`.
    auto_provision: bool,
    /// Where users live.
    store: Arc<dyn Store>,
    /// The `WWW-Authenticate` value of a 401.
    challenge: HeaderValue,
}

/// Whether a bearer token is a JWT (three Base64url parts, the first a JSON object: `eyJ`)
/// rather than an API key (`bgops_…`, no dots).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

impl JwtAuthenticator {
    /// An authenticator for `settings` over `store`: reads the JWKS and CA files now (an error
    /// names the file); keys of remote issuers are fetched when first needed.
    pub fn new(settings: &JwtSettings, store: Arc<dyn Store>) -> Result<Self, String> {
        if settings.audiences.is_empty() {
            return Err("--jwt-issuer needs at least one --jwt-audience".into());
        }
        let file_keys = match &settings.jwks_file {
            Some(path) => {
                let text = std::fs::read(path)
                    .map_err(|e| format!("--jwt-jwks-file {}: {e}", path.display()))?;
                let map = KeyMap::parse(&text, &path.display().to_string())
                    .map_err(|e| format!("--jwt-jwks-file: {e}"))?;
                if map.is_empty() {
                    return Err(format!(
                        "--jwt-jwks-file {}: no RS256 or ES256 signing key in it",
                        path.display()
                    ));
                }
                Some(Arc::new(map))
            }
            None => None,
        };
        let client = match &file_keys {
            Some(_) => None,
            None => Some(key_client(settings.ca_file.as_deref())?),
        };
        let mut issuers = HashMap::new();
        for issuer in &settings.issuers {
            let source = match (&file_keys, &client) {
                (Some(map), _) => KeySource::File(map.clone()),
                (None, Some(client)) => {
                    if !issuer.starts_with("https://") {
                        return Err(format!(
                            "--jwt-issuer {issuer}: keys are fetched over https only (or give --jwt-jwks-file)"
                        ));
                    }
                    KeySource::Remote(RemoteKeys::new(
                        issuer.clone(),
                        client.clone(),
                        settings.min_refresh,
                    ))
                }
                (None, None) => unreachable!("a client exists whenever there is no file"),
            };
            issuers.insert(issuer.clone(), source);
        }
        let mut audiences = Vec::new();
        for aud in &settings.audiences {
            audiences.push(aud.clone());
            if aud.starts_with("https://") || aud.starts_with("http://") {
                match aud.strip_suffix('/') {
                    Some(bare) => audiences.push(bare.to_owned()),
                    None => audiences.push(format!("{aud}/")),
                }
            }
        }
        let challenge = challenge(&settings.issuers[0], &settings.audiences[0])?;
        Ok(Self {
            issuers,
            audiences,
            hs256: settings
                .dev_hs256_secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.as_bytes())),
            auto_provision: settings.auto_provision,
            store,
            challenge,
        })
    }

    /// The `WWW-Authenticate` header of a 401, as Dataverse sends it.
    pub fn challenge(&self) -> &HeaderValue {
        &self.challenge
    }

    /// The user `token` speaks for, once its signature and claims check out, and how long the
    /// token has left before its `exp` (the [`Authenticator`](crate::auth::Authenticator)
    /// caches the answer no longer).
    pub async fn authenticate(&self, token: &str) -> Result<(SystemUser, Duration), JwtError> {
        let (claims, exp) = self.verify(token).await?;
        let identity = claims.identity().ok_or(JwtError::NoSubject)?;
        let user = match self
            .store
            .find_external_user(Some(&identity.tenant), &identity.object_id)
            .await?
        {
            Some(ExternalUser::Enabled(user)) => user,
            Some(ExternalUser::Disabled(_)) => return Err(JwtError::Disabled),
            None if self.auto_provision => {
                let new = claims.new_user(&identity);
                let now = bgops_core::Clock::now(&bgops_core::SystemClock);
                match self
                    .store
                    .provision_external_user(&identity, new, now)
                    .await?
                {
                    ExternalUser::Enabled(user) => {
                        tracing::info!(user = %user.id, tenant = %identity.tenant, object_id = %identity.object_id, "user provisioned on first sign-in");
                        grant_basic_user(&*self.store, &user, now).await?;
                        user
                    }
                    ExternalUser::Disabled(_) => return Err(JwtError::Disabled),
                }
            }
            None => return Err(JwtError::UnknownUser),
        };
        Ok((user, exp))
    }

    /// Checks the signature and the claims; returns them and how long until `exp`.
    async fn verify(&self, token: &str) -> Result<(Claims, Duration), JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let issuer = unverified_issuer(token)?;
        let source = self.issuers.get(&issuer).ok_or(JwtError::Issuer)?;
        let (key, algorithm) = match header.alg {
            Algorithm::HS256 => match &self.hs256 {
                Some(key) => (key.clone(), Algorithm::HS256),
                None => {
                    return Err(JwtError::Algorithm(
                        "HS256 (accepted only with --jwt-dev-hs256-secret)".into(),
                    ))
                }
            },
            Algorithm::RS256 | Algorithm::ES256 => {
                let key = match source {
                    KeySource::File(map) => {
                        map.get(header.kid.as_deref()).cloned().ok_or_else(|| {
                            JwtError::UnknownKey(header.kid.clone().unwrap_or_default())
                        })?
                    }
                    KeySource::Remote(remote) => remote.get(header.kid.as_deref()).await?,
                };
                if key.algorithm != header.alg {
                    return Err(JwtError::Algorithm(format!(
                        "{:?} with a key for {:?}",
                        header.alg, key.algorithm
                    )));
                }
                (key.decoding, key.algorithm)
            }
            other => return Err(JwtError::Algorithm(format!("{other:?}"))),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            JwtError::Invalid(match e.kind() {
                K::ExpiredSignature => "it has expired",
                K::ImmatureSignature => "it is not valid yet (nbf)",
                K::InvalidAudience => "it is meant for another audience",
                K::InvalidIssuer => "its issuer is not accepted",
                K::InvalidSignature => "its signature does not verify",
                K::MissingRequiredClaim(_) => "it lacks exp, iss or aud",
                K::InvalidAlgorithm => "its algorithm does not match its key",
                _ => "it is malformed",
            })
        })?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let exp = data.claims.exp.unwrap_or(now);
        let left = Duration::from_secs_f64((exp - now).clamp(0.0, 86_400.0));
        Ok((data.claims, left))
    }
}

/// Gives a user provisioned on first sign-in the Basic User role (its own rows only), through
/// the same role association an administrator's `systemuserroles_association` writes. Granting
/// twice (two nodes provisioning at once) changes nothing.
async fn grant_basic_user(
    store: &dyn Store,
    user: &SystemUser,
    now: Timestamp,
) -> Result<(), JwtError> {
    match store
        .associate_role(user.id, BASIC_USER_ROLE, None, now)
        .await?
    {
        RoleLink::Changed | RoleLink::Unchanged => Ok(()),
        link => Err(JwtError::Store(bgops_store::StoreError::Corrupt(format!(
            "cannot give the provisioned user {} the Basic User role: {link:?}",
            user.id
        )))),
    }
}

/// The `iss` of a token before its signature is checked, to choose the keys that check it.
/// Public for the fuzz targets (`fuzz/`): it reads a caller's token before anything is verified.
pub fn unverified_issuer(token: &str) -> Result<String, JwtError> {
    let payload = token.split('.').nth(1).ok_or(JwtError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| JwtError::Malformed)?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let iss: Iss = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    iss.iss.ok_or(JwtError::Invalid("it lacks exp, iss or aud"))
}

/// The https client that fetches OpenID configurations and key sets.
fn key_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("bgops/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("--jwt-ca-file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("--jwt-ca-file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "--jwt-ca-file {}: no certificate in it",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the key-fetching client: {e}"))
}

/// `Bearer authorization_uri=…, resource_id=…`: for an Entra ID issuer (v1
/// `https://sts.windows.net/{tid}/` or v2 `https://login.microsoftonline.com/{tid}/v2.0`) the
/// tenant's authorize endpoint, as Dataverse sends it; for another issuer the issuer itself.
/// `resource_id` is the first audience. The official .NET client reads its authority here.
fn challenge(issuer: &str, audience: &str) -> Result<HeaderValue, String> {
    let tenant = issuer
        .strip_prefix("https://sts.windows.net/")
        .map(|rest| rest.trim_end_matches('/'))
        .or_else(|| {
            issuer
                .strip_prefix("https://login.microsoftonline.com/")
                .and_then(|rest| rest.strip_suffix("/v2.0"))
        })
        .filter(|t| !t.is_empty() && !t.contains('/'));
    let authority = match tenant {
        Some(tid) => format!("https://login.microsoftonline.com/{tid}/oauth2/authorize"),
        None => issuer.to_owned(),
    };
    HeaderValue::from_str(&format!(
        "Bearer authorization_uri={authority}, resource_id={audience}"
    ))
    .map_err(|_| {
        format!("--jwt-issuer {issuer} / --jwt-audience {audience}: not usable in a header")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_told_from_api_keys_by_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"));
        assert!(!looks_like_jwt(
            "bgops_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
        ));
        assert!(!looks_like_jwt("test-admin-token"));
        assert!(!looks_like_jwt("eyJ.only-one-dot"));
    }

    #[test]
    fn the_challenge_names_the_entra_authority_for_both_token_versions() {
        let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let expected = format!(
            "Bearer authorization_uri=https://login.microsoftonline.com/{tid}/oauth2/authorize, resource_id=https://contoso.crm.dynamics.com/"
        );
        for issuer in [
            format!("https://sts.windows.net/{tid}/"),
            format!("https://login.microsoftonline.com/{tid}/v2.0"),
        ] {
            let v = challenge(&issuer, "https://contoso.crm.dynamics.com/").expect("challenge");
            assert_eq!(v.to_str().unwrap(), expected);
        }
        let other = challenge("https://idp.example/realms/ops", "bgops").expect("challenge");
        assert_eq!(
            other.to_str().unwrap(),
            "Bearer authorization_uri=https://idp.example/realms/ops, resource_id=bgops"
        );
    }
}
