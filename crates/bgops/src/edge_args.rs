//! The `serve` flags of the transport and the edge: bearer JWTs, TLS, trusted proxies and
//! service protection (README "Tokens", "TLS", "Behind a proxy", "Service protection").

use std::path::PathBuf;
use std::time::Duration;

use bgops_server::edge::EdgeSettings;
use bgops_server::forwarded::{parse_public_url, ProxyPolicy};
use bgops_server::jwt::JwtSettings;
use bgops_server::limiter::RateLimits;
use bgops_server::tls::TlsSettings;
use clap::Args;

/// Edge flags, flattened into `bgops serve`.
#[derive(Args, Debug)]
pub struct EdgeArgs {
    /// Accept bearer JWTs from this issuer (its `iss`, exactly; repeatable). Keys come from
    /// `{issuer}/.well-known/openid-configuration` over https, or from --jwt-jwks-file.
    #[arg(
        long = "jwt-issuer",
        env = "BGOPS_JWT_ISSUER",
        value_name = "URL",
        value_delimiter = ','
    )]
    jwt_issuer: Vec<String>,
    /// An accepted `aud` of bearer JWTs (repeatable; a URL also without or with a trailing /).
    /// The first is the `resource_id` of the 401 challenge.
    #[arg(
        long = "jwt-audience",
        env = "BGOPS_JWT_AUDIENCE",
        value_name = "AUD",
        value_delimiter = ','
    )]
    jwt_audience: Vec<String>,
    /// A JWK Set file holding the issuers' signing keys; then nothing is fetched.
    #[arg(long, env = "BGOPS_JWT_JWKS_FILE", value_name = "FILE")]
    jwt_jwks_file: Option<PathBuf>,
    /// Extra root certificates (PEM) trusted when fetching signing keys.
    #[arg(long, env = "BGOPS_JWT_CA_FILE", value_name = "FILE")]
    jwt_ca_file: Option<PathBuf>,
    /// The least time between two key fetches caused by tokens naming an unknown key id.
    #[arg(long, env = "BGOPS_JWT_JWKS_MIN_REFRESH", default_value = "10s", value_parser = crate::cli::duration)]
    jwt_jwks_min_refresh: Duration,
    /// Create a user (not an administrator) on its first valid token.
    #[arg(long, env = "BGOPS_JWT_AUTO_PROVISION")]
    jwt_auto_provision: bool,
    /// DEVELOPMENT ONLY: also accept HS256 tokens signed with this shared secret.
    #[arg(
        long,
        env = "BGOPS_JWT_DEV_HS256_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    jwt_dev_hs256_secret: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM); reloaded on SIGHUP or when it changes.
    #[arg(
        long,
        env = "BGOPS_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        env = "BGOPS_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Believe `Forwarded` / `X-Forwarded-*` from peers in this network (repeatable; an address
    /// alone is one host). None by default.
    #[arg(long, env = "BGOPS_TRUSTED_PROXY", value_name = "CIDR", value_delimiter = ',', value_parser = cidr)]
    trusted_proxy: Vec<ipnet::IpNet>,
    /// The URL clients reach this service at (https://ops.example.com); every absolute URL
    /// returned starts with it.
    #[arg(long, env = "BGOPS_PUBLIC_URL", value_name = "URL", value_parser = public_url)]
    public_url: Option<String>,
    /// Service protection: most requests per user in --rate-limit-window (Dataverse: 6000).
    #[arg(long, env = "BGOPS_RATE_LIMIT_REQUESTS", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit_requests: Option<u32>,
    /// The sliding window of --rate-limit-requests (Dataverse: 300s).
    #[arg(long, env = "BGOPS_RATE_LIMIT_WINDOW", default_value = "300s", value_parser = crate::cli::duration)]
    rate_limit_window: Duration,
    /// Service protection: most requests per user at once (Dataverse: 52).
    #[arg(long, env = "BGOPS_RATE_LIMIT_CONCURRENT", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit_concurrent: Option<u32>,
}

fn cidr(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("'{s}' is not a network like 10.0.0.0/8 or an address"))
}

fn public_url(s: &str) -> Result<String, String> {
    parse_public_url(s)
}

impl EdgeArgs {
    /// Checks what clap cannot: the window of a request limit.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.rate_limit_requests.is_some() && self.rate_limit_window < Duration::from_secs(1) {
            anyhow::bail!("--rate-limit-window must be at least 1s");
        }
        if self.jwt_issuer.iter().any(|i| i.trim().is_empty()) {
            anyhow::bail!("--jwt-issuer must not be empty");
        }
        Ok(())
    }

    /// The server's edge settings.
    pub fn settings(self) -> EdgeSettings {
        let rate_limits = (self.rate_limit_requests.is_some()
            || self.rate_limit_concurrent.is_some())
        .then_some(RateLimits {
            requests: self.rate_limit_requests,
            window: self.rate_limit_window,
            concurrent: self.rate_limit_concurrent,
        });
        EdgeSettings {
            jwt: JwtSettings {
                issuers: self.jwt_issuer,
                audiences: self.jwt_audience,
                jwks_file: self.jwt_jwks_file,
                ca_file: self.jwt_ca_file,
                min_refresh: self.jwt_jwks_min_refresh,
                auto_provision: self.jwt_auto_provision,
                dev_hs256_secret: self.jwt_dev_hs256_secret,
            },
            tls: match (self.tls_cert, self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsSettings { cert, key }),
                _ => None,
            },
            proxies: ProxyPolicy {
                trusted: self.trusted_proxy,
                public_url: self.public_url,
            },
            rate_limits,
        }
    }
}
