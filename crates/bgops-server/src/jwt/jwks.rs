//! Signing keys of the configured issuers: read once from a JWKS file, or fetched over https
//! from each issuer's OpenID configuration and cached, refetched when a token names a key id
//! the cache lacks (at most once per `min_refresh`) and once a day.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::JwtError;

/// How long a fetched key set is used before it is fetched again even if every key id is
/// known (Entra ID: "a reasonable frequency … is every 24 hours").
const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The largest OpenID configuration or JWKS document read.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// One verification key and the one algorithm it verifies.
#[derive(Clone)]
pub struct Key {
    /// The key.
    pub decoding: DecodingKey,
    /// RS256 for RSA keys, ES256 for P-256 keys: a token must name this algorithm.
    pub algorithm: Algorithm,
}

/// Keys by key id (`kid`); a key without one is stored under "".
#[derive(Clone, Default)]
pub struct KeyMap(HashMap<String, Key>);

impl KeyMap {
    /// Parses a JWK Set (`{"keys":[…]}`). Keys bgops cannot use (encryption keys, other
    /// curves and algorithms) are skipped with a log line; a document that is not a key set is
    /// an error.
    pub fn parse(text: &[u8], source: &str) -> Result<KeyMap, String> {
        #[derive(serde::Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_slice(text)
            .map_err(|e| format!("{source} is not a JWK Set ({{\"keys\":[…]}}): {e}"))?;
        let mut map = HashMap::new();
        for value in set.keys {
            let kid = value
                .get("kid")
                .and_then(|k| k.as_str())
                .unwrap_or("")
                .to_owned();
            match usable(value) {
                Ok(key) => {
                    map.insert(kid, key);
                }
                Err(why) => tracing::debug!(%source, kid, why, "signing key skipped"),
            }
        }
        Ok(KeyMap(map))
    }

    /// The key for a token's `kid`; a token without one may use the set's only key.
    pub fn get(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.0.get(kid),
            None if self.0.len() == 1 => self.0.values().next(),
            None => None,
        }
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A JWK bgops can verify with: RSA (RS256) or EC P-256 (ES256), for signatures.
fn usable(value: serde_json::Value) -> Result<Key, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err("an encryption key".into());
    }
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        _ => return Err("not an RS256 or ES256 signing key".into()),
    };
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    Ok(Key {
        decoding,
        algorithm,
    })
}

/// The keys of one issuer fetched over https from its OpenID configuration.
pub struct RemoteKeys {
    /// The issuer URL (`{issuer}/.well-known/openid-configuration` names the JWKS).
    issuer: String,
    /// The client that fetches (https only, the configured extra roots).
    client: reqwest::Client,
    /// The keys last fetched, read by every verification.
    keys: RwLock<Arc<KeyMap>>,
    /// When the last fetch was tried (successful or not), and when one last succeeded.
    fetched: Mutex<Fetched>,
    /// One fetch at a time: verifications that miss together wait for the same fetch.
    refresh: tokio::sync::Mutex<()>,
    /// The least time between two fetches caused by unknown key ids.
    min_refresh: Duration,
}

#[derive(Default, Clone, Copy)]
struct Fetched {
    tried: Option<Instant>,
    succeeded: Option<Instant>,
}

impl RemoteKeys {
    /// The keys of `issuer`, fetched with `client` when first needed.
    pub fn new(issuer: String, client: reqwest::Client, min_refresh: Duration) -> Self {
        Self {
            issuer,
            client,
            keys: RwLock::new(Arc::new(KeyMap::default())),
            fetched: Mutex::new(Fetched::default()),
            refresh: tokio::sync::Mutex::new(()),
            min_refresh,
        }
    }

    /// The key for `kid`: from the cache while it is younger than a day, else after a fetch,
    /// if none was tried in the last `min_refresh` (so tokens naming unknown keys cannot make
    /// bgops hammer the issuer); a failed fetch keeps the last keys in use.
    pub async fn get(&self, kid: Option<&str>) -> Result<Key, JwtError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let _one_at_a_time = self.refresh.lock().await;
        // Another verification may have fetched while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let may_fetch = self
            .fetched()
            .tried
            .is_none_or(|t| t.elapsed() >= self.min_refresh);
        if may_fetch {
            self.set_tried();
            match self.fetch().await {
                Ok(map) => {
                    tracing::info!(issuer = %self.issuer, keys = map.len(), "signing keys fetched");
                    *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
                    self.set_succeeded();
                }
                Err(why) => {
                    tracing::warn!(issuer = %self.issuer, %why, "signing keys could not be fetched; the last ones stay in use");
                }
            }
        }
        self.current()
            .get(kid)
            .cloned()
            .ok_or_else(|| JwtError::UnknownKey(kid.unwrap_or("").to_owned()))
    }

    /// The key for `kid` if the cache holds it and is younger than [`MAX_AGE`].
    fn cached(&self, kid: Option<&str>) -> Option<Key> {
        let fresh = self
            .fetched()
            .succeeded
            .is_some_and(|t| t.elapsed() <= MAX_AGE);
        if !fresh {
            return None;
        }
        self.current().get(kid).cloned()
    }

    fn current(&self) -> Arc<KeyMap> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn fetched(&self) -> Fetched {
        *self.fetched.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_tried(&self) {
        self.fetched.lock().unwrap_or_else(|p| p.into_inner()).tried = Some(Instant::now());
    }

    fn set_succeeded(&self) {
        self.fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .succeeded = Some(Instant::now());
    }

    /// Reads the OpenID configuration, checks it names this issuer, and reads its `jwks_uri`.
    async fn fetch(&self) -> Result<KeyMap, String> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        #[derive(serde::Deserialize)]
        struct Configuration {
            issuer: Option<String>,
            jwks_uri: String,
        }
        let body = self.get_document(&discovery).await?;
        let config: Configuration = serde_json::from_slice(&body)
            .map_err(|e| format!("{discovery} is not an OpenID configuration: {e}"))?;
        if let Some(issuer) = &config.issuer {
            if issuer != &self.issuer {
                return Err(format!(
                    "{discovery} names issuer '{issuer}', not '{}'",
                    self.issuer
                ));
            }
        }
        if !config.jwks_uri.starts_with("https://") {
            return Err(format!("jwks_uri '{}' is not https", config.jwks_uri));
        }
        let keys = self.get_document(&config.jwks_uri).await?;
        KeyMap::parse(&keys, &config.jwks_uri)
    }

    async fn get_document(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
