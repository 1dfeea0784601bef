//! A local identity provider for JWT tests: an https server on loopback (certificate from a
//! [`TestCa`]) serving an OpenID configuration and a JWK Set the test can change (key
//! rotation), counting how often the keys are fetched; and the keys that sign the tokens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::pki::TestCa;

/// A signing key with its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    /// The key id.
    pub kid: String,
    /// RS256 or ES256.
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// The public JWK.
    pub jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// A fresh P-256 key (ES256).
    pub fn es256(kid: &str) -> SigningKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        let raw = pair.public_key_raw();
        assert_eq!(raw.len(), 65, "uncompressed point");
        SigningKey {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(&pair.serialize_der()),
            jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
                        "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}),
        }
    }

    /// A fresh 2048-bit RSA key (RS256).
    pub fn rs256(kid: &str) -> SigningKey {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let private =
            rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key generation");
        let public = private.to_public_key();
        let der = private.to_pkcs1_der().expect("PKCS#1");
        SigningKey {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                        "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())}),
        }
    }

    /// A token with `claims`, signed with this key and naming its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// An HS256 token signed with `secret`.
pub fn sign_hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

/// Seconds since the epoch, `offset` from now.
pub fn unix(offset: i64) -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + offset
}

/// Claims of an Entra-style token for (`tid`, `oid`) valid for an hour.
pub fn claims(iss: &str, aud: &str, tid: &str, oid: &str) -> Value {
    json!({"iss": iss, "aud": aud, "tid": tid, "oid": oid, "sub": format!("sub-{oid}"),
           "name": "Test User", "upn": "test.user@contoso.example",
           "iat": unix(-10), "nbf": unix(-10), "exp": unix(3600)})
}

/// The running identity provider.
pub struct Idp {
    /// Its issuer URL (`https://127.0.0.1:PORT`).
    pub issuer: String,
    /// The keys it publishes.
    keys: Arc<Mutex<Vec<Value>>>,
    /// How many times the JWK Set was fetched.
    fetches: Arc<AtomicUsize>,
    _shutdown: tokio_util::sync::DropGuard,
    _dir: tempfile::TempDir,
}

impl Idp {
    /// Starts one publishing `keys`, with a certificate from `ca`.
    pub async fn start(ca: &TestCa, keys: &[&SigningKey]) -> Idp {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = ca.server_cert(dir.path(), "idp", "idp");
        let resolver = Arc::new(
            bgops_server::tls::CertResolver::load(bgops_server::tls::TlsSettings {
                cert: cert.cert,
                key: cert.key,
            })
            .expect("IdP certificate"),
        );
        let config = bgops_server::tls::server_config(resolver).expect("TLS config");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("https://127.0.0.1:{}", tcp.local_addr().unwrap().port());
        let listener = bgops_server::tls::TlsListener::new(tcp, config).expect("listener");
        let published: Arc<Mutex<Vec<Value>>> =
            Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys"),
                               "authorization_endpoint": format!("{issuer}/authorize")});
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let d = discovery.clone();
                    async move { Json(d) }
                }),
            )
            .route(
                "/keys",
                get({
                    let published = published.clone();
                    let fetches = fetches.clone();
                    move || {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        let keys = published.lock().unwrap().clone();
                        async move { Json(json!({ "keys": keys })) }
                    }
                }),
            );
        let shutdown = tokio_util::sync::CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        Idp {
            issuer,
            keys: published,
            fetches,
            _shutdown: shutdown.drop_guard(),
            _dir: dir,
        }
    }

    /// Publishes `keys` instead (a key rotation).
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    /// How many times the JWK Set was fetched so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
