//! What happens to every request before its handler: the public origin and the client's
//! address ([`forwarded`](crate::forwarded)), authentication of the bearer token (once, for
//! the handler's [`Caller`](crate::auth::Caller) and the limiter), service protection
//! ([`limiter`](crate::limiter)), and the `WWW-Authenticate` challenge on a 401. The transport
//! itself (plain or TLS) is chosen in [`serve`](crate::serve).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use bgops_core::security::Principal;
use bgops_core::ApiError;
use bgops_store::Store;

use crate::error::api_error_response;
use crate::forwarded::ProxyPolicy;
use crate::jwt::{JwtAuthenticator, JwtSettings};
use crate::limiter::{Limiter, RateLimits};
use crate::state::AppState;
use crate::tls::{CertResolver, TlsListener, TlsSettings};
use tracing::Instrument;

/// The transport and edge settings of `bgops serve`.
#[derive(Clone, Debug, Default)]
pub struct EdgeSettings {
    /// Bearer JWTs from identity providers.
    pub jwt: JwtSettings,
    /// `--tls-cert`/`--tls-key`: serve HTTPS.
    pub tls: Option<TlsSettings>,
    /// `--trusted-proxy` and `--public-url`.
    pub proxies: ProxyPolicy,
    /// `--rate-limit-*`; `None`: no service protection.
    pub rate_limits: Option<RateLimits>,
}

/// The edge of one running server, built from [`EdgeSettings`].
#[derive(Default)]
pub struct Edge {
    /// How the public origin is found.
    pub proxies: ProxyPolicy,
    /// Service protection, when configured.
    pub limiter: Option<Limiter>,
    /// Verifies bearer JWTs, when issuers are configured.
    pub jwt: Option<Arc<JwtAuthenticator>>,
    /// The certificate served, with TLS.
    pub tls: Option<Arc<CertResolver>>,
}

impl Edge {
    /// Builds the edge: reads the TLS certificate and JWKS files now, so a bad file stops the
    /// start with a message naming it.
    pub fn build(settings: &EdgeSettings, store: Arc<dyn Store>) -> Result<Edge, String> {
        let jwt = if settings.jwt.enabled() {
            Some(Arc::new(JwtAuthenticator::new(&settings.jwt, store)?))
        } else {
            if settings.jwt.jwks_file.is_some() || !settings.jwt.audiences.is_empty() {
                return Err("--jwt-audience and --jwt-jwks-file need --jwt-issuer".into());
            }
            None
        };
        let tls = settings
            .tls
            .clone()
            .map(|t| CertResolver::load(t).map(Arc::new))
            .transpose()?;
        Ok(Edge {
            proxies: settings.proxies.clone(),
            limiter: settings.rate_limits.map(Limiter::new),
            jwt,
            tls,
        })
    }
}

/// The address of the connection's peer (plain or TLS), for [`ProxyPolicy`].
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// What the edge middleware saw of a request, for the extractors behind it: one request
/// extension, not one per fact (each insert into a request's extensions allocates and, as
/// they grow, rehashes them). Its presence also says the middleware ran.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The TCP peer's address (`None` without connect info, as in tests):
    /// [`crate::extract::Root`] works out the root of absolute URLs from it (`--public-url`,
    /// trusted proxies' headers, `Host`) when a handler needs one, instead of every request
    /// paying for it.
    pub peer: Option<IpAddr>,
    /// The request's audit context (with the client's address: the peer, or behind trusted
    /// proxies the first untrusted hop).
    pub audit: std::sync::Arc<crate::audit::AuditContext>,
    /// The bearer token's principal, authenticated once per request, or why it was refused
    /// (a 401, for the handler's [`Caller`](crate::auth::Caller)); `None` without a token or
    /// after a store failure (the handler tries again).
    pub auth: Option<Result<Principal, ApiError>>,
}

/// The bearer token of a request, if it carries one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
}

/// The one middleware every request passes: its span and HTTP metrics
/// ([`crate::observe::Observed`]), the client's address, its audit context
/// ([`crate::audit::Entered`]), authentication, service protection, the cross-site write check
/// ([`crate::dashboard::refusal`]) and the 401 challenge. One layer, not one per concern: each
/// layer costs every request a boxed clone of the service stack below it.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let observed = crate::observe::Observed::begin(&state, &req);
    let peer = req
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0 .0.ip());
    let client = state.edge.proxies.client(peer, req.headers());
    let audit = crate::audit::Entered::enter(&req, client);
    let seen = Seen {
        peer,
        audit: audit.context().clone(),
        auth: None,
    };
    let span = observed
        .as_ref()
        .map_or_else(tracing::Span::none, |o| o.span().clone());
    let response = admit_and_run(&state, req, next, seen, client)
        .instrument(span)
        .await;
    if let Some(observed) = observed {
        observed.end(&state, &response);
    }
    audit.leave(&response);
    response
}

/// Authentication, service protection, the cross-site write check, the handler, and the 401
/// challenge.
async fn admit_and_run(
    state: &AppState,
    mut req: Request,
    next: Next,
    mut seen: Seen,
    client: Option<IpAddr>,
) -> Response {
    let mut admitted = None;
    if let Some(token) = bearer_token(req.headers()).map(str::to_owned) {
        match state.auth.authenticate(&token).await {
            Ok(principal) => {
                if let Some(limiter) = &state.edge.limiter {
                    match limiter.admit(principal.id, Instant::now()) {
                        Ok(a) => admitted = Some(a),
                        Err(refused) => {
                            tracing::info!(target: "bgops::audit", event = "throttled", user = %principal.id, client = ?client, code = %refused.error.code, "request refused by service protection");
                            let mut resp = api_error_response(&refused.error);
                            if let Ok(v) = HeaderValue::from_str(&refused.retry_after.to_string()) {
                                resp.headers_mut().insert(header::RETRY_AFTER, v);
                            }
                            return resp;
                        }
                    }
                }
                seen.auth = Some(Ok(principal));
            }
            Err(crate::error::AppError::Api(e)) => {
                seen.auth = Some(Err(e));
            }
            // A store failure: the handler's own authentication answers it.
            Err(crate::error::AppError::Internal(_)) => {}
        }
    }
    if let Some(refused) = crate::dashboard::refusal(state, &req) {
        return refused;
    }
    req.extensions_mut().insert(seen);
    let mut resp = next.run(req).await;
    drop(admitted);
    if resp.status() == StatusCode::UNAUTHORIZED {
        if let Some(jwt) = &state.edge.jwt {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, jwt.challenge().clone());
        }
    }
    resp
}
