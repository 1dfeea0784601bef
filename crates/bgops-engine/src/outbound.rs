//! The one outbound HTTP client: what HTTP plug-ins and completion callbacks POST with.
//!
//! It owns the SSRF defences that do not fit in a parsed URL (SPEC §9): host names are resolved
//! by a resolver that drops every address [`is_forbidden_ip`] refuses (unless private addresses
//! are allowed), so the check is made again at each connection and a DNS answer that changed
//! since the URL was accepted cannot reach an internal address; literal IP hosts, which no
//! resolver sees, are checked before sending; redirects are never followed; proxies from the
//! environment are ignored (they would connect on our behalf, past the resolver); every request
//! has a time-out and every answer is read up to [`MAX_RESPONSE_BYTES`]. Connections are pooled.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bgops_core::outbound_url::{is_forbidden_ip, OutboundUrl, UrlError, UrlPolicy};
use bgops_core::signing::WebhookSecret;
use bgops_core::{Clock, SystemClock};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};

/// The largest answer body read from a receiver; a larger one is an error.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How long establishing a connection (DNS, TCP, TLS) may take at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The shared outbound client with its URL policy and signing secret; built once at start-up and
/// handed (in an `Arc`) to every HTTP plug-in and the callback sender.
pub struct Outbound {
    /// The pooled client, with the guarded resolver and no redirects.
    client: reqwest::Client,
    /// `--callback-allow-http` / `--callback-allow-private`.
    policy: UrlPolicy,
    /// The `--webhook-secret` every POST is signed with.
    secret: WebhookSecret,
    /// Source of `webhook-timestamp`.
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// An answer, read in full (at most [`MAX_RESPONSE_BYTES`]).
#[derive(Clone, Debug)]
pub struct OutboundResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers (`Retry-After` matters to callers that retry).
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The URL or the addresses its host resolves to are not allowed by the policy.
    #[error("refused: {0}")]
    Refused(UrlError),
    /// No answer within the time-out.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer body is larger than [`MAX_RESPONSE_BYTES`].
    #[error("the answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// DNS, connection, TLS or protocol failure, with its cause chain.
    #[error("network error: {0}")]
    Network(String),
    /// The outbound client could not be built.
    #[error("the outbound HTTP client could not be built: {0}")]
    Client(String),
}

impl Outbound {
    /// A client that follows `policy` and signs with `secret`.
    pub fn new(policy: UrlPolicy, secret: WebhookSecret) -> Result<Self, SendError> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: policy.allow_private,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .user_agent(concat!("bgops/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::Client(error_chain(&e)))?;
        Ok(Self {
            client,
            policy,
            secret,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same client with `clock` as the source of `webhook-timestamp`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The URL rules in force.
    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    /// The signing secret.
    pub fn secret(&self) -> &WebhookSecret {
        &self.secret
    }

    /// Parses `s` under this client's policy.
    pub fn parse_url(&self, s: &str) -> Result<OutboundUrl, UrlError> {
        OutboundUrl::parse(s, &self.policy)
    }

    /// Checks, at submission time, that `url`'s host does not resolve only to refused addresses.
    /// A name that does not resolve passes: nothing can be reached through it now, and every
    /// connection is checked again by the resolver.
    pub async fn check_host(&self, url: &OutboundUrl) -> Result<(), UrlError> {
        self.check_literal(url)?;
        let Some(host) = url.url().host_str() else {
            return Err(UrlError::NoHost);
        };
        if url.ip_host().is_some() {
            return Ok(());
        }
        match resolve_allowed(host, self.policy.allow_private).await {
            Err(ResolveError::Refused(e)) => Err(UrlError::ForbiddenAddress(e.ip)),
            Ok(_) | Err(ResolveError::Lookup(_)) => Ok(()),
        }
    }

    /// A POST of `body` (JSON) to `url`, signed per Standard Webhooks with `message_id` and the
    /// current time; add headers to it if needed, then [`send`](Self::send) it.
    pub fn signed_post(
        &self,
        url: &OutboundUrl,
        message_id: &str,
        body: Vec<u8>,
    ) -> Result<RequestBuilder, SendError> {
        self.check_literal(url).map_err(SendError::Refused)?;
        let timestamp = self.clock.now().millis().div_euclid(1000);
        let signature = self.secret.sign(message_id, timestamp, &body);
        let header = |v: &str| {
            HeaderValue::from_str(v).map_err(|_| SendError::Network(format!("bad header {v:?}")))
        };
        Ok(self
            .client
            .post(url.url().clone())
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", header(message_id)?)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", header(&signature)?)
            .body(body))
    }

    /// Sends `request` with `timeout` for the whole exchange and reads the answer, at most
    /// [`MAX_RESPONSE_BYTES`] of it.
    pub async fn send(
        &self,
        request: RequestBuilder,
        timeout: Duration,
    ) -> Result<OutboundResponse, SendError> {
        let exchange = async {
            let mut response = request
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| classify(e, timeout))?;
            if response
                .content_length()
                .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
            {
                return Err(SendError::TooLarge);
            }
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, timeout))? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(SendError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(OutboundResponse {
                status,
                headers,
                body,
            })
        };
        // reqwest's time-out covers the body too; this one also bounds anything around it.
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(SendError::Timeout(timeout)))
    }

    /// [`signed_post`](Self::signed_post) then [`send`](Self::send).
    pub async fn post_signed(
        &self,
        url: &OutboundUrl,
        message_id: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<OutboundResponse, SendError> {
        let request = self.signed_post(url, message_id, body)?;
        self.send(request, timeout).await
    }

    /// The checks no resolver makes: the scheme under this policy (the URL may have been parsed
    /// under another) and a literal IP host.
    fn check_literal(&self, url: &OutboundUrl) -> Result<(), UrlError> {
        let scheme = url.url().scheme();
        if scheme != "https" && !(scheme == "http" && self.policy.allow_http) {
            return Err(UrlError::NotHttps(scheme.to_owned()));
        }
        match url.ip_host() {
            Some(ip) if self.policy.refuses(ip) => Err(UrlError::ForbiddenAddress(ip)),
            _ => Ok(()),
        }
    }
}

/// Maps a client error, finding a refusal by the resolver in its cause chain.
fn classify(e: reqwest::Error, timeout: Duration) -> SendError {
    if e.is_timeout() {
        return SendError::Timeout(timeout);
    }
    // Messages end up in `errormessage`; the URL may carry a secret in its query.
    let e = e.without_url();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<RefusedHost>() {
            return SendError::Refused(UrlError::ForbiddenAddress(refused.ip));
        }
        source = err.source();
    }
    SendError::Network(error_chain(&e))
}

/// `error: cause: cause…`, without repeating a cause already in its parent's text.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

/// A host whose every address is refused.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to refused addresses (such as {ip})")]
struct RefusedHost {
    host: String,
    ip: IpAddr,
}

enum ResolveError {
    Refused(RefusedHost),
    Lookup(std::io::Error),
}

/// Resolves `host` and keeps only the addresses the policy allows.
async fn resolve_allowed(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, ResolveError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(ResolveError::Lookup)?
        .collect();
    let allowed: Vec<SocketAddr> = found
        .iter()
        .copied()
        .filter(|a| allow_private || !is_forbidden_ip(a.ip()))
        .collect();
    match (allowed.is_empty(), found.first()) {
        (true, Some(first)) => Err(ResolveError::Refused(RefusedHost {
            host: host.to_owned(),
            ip: first.ip(),
        })),
        (true, None) => Err(ResolveError::Lookup(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no address"),
        ))),
        (false, _) => {
            if allowed.len() < found.len() {
                tracing::warn!(%host, "some addresses of the host were refused");
            }
            Ok(allowed)
        }
    }
}

/// The DNS resolver of the outbound client: the system resolver, minus refused addresses. It
/// runs for every new connection, so the check follows DNS changes.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match resolve_allowed(&host, allow_private).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(ResolveError::Refused(e)) => Err(e.into()),
                Err(ResolveError::Lookup(e)) => Err(e.into()),
            }
        })
    }
}
