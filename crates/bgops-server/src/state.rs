//! The state every handler gets.

use std::sync::Arc;
use std::time::Duration;

use bgops_core::catalogue::Catalogue;
use bgops_engine::Engine;
use rand::RngCore;

use crate::auth::Authenticator;
use crate::edge::Edge;

/// How long an `Idempotency-Key` holds its submission unless configured: a day, as Stripe's
/// keys, long enough for any client's retries.
pub const DEFAULT_IDEMPOTENCY_KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// HTTP-level settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `Retry-After` of the status monitor while an operation is not terminal.
    pub poll_retry_after: Duration,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Default `ttlinseconds` of new rows.
    pub default_ttl: Duration,
    /// Scheme used in absolute URLs (`http`, or `https` behind TLS).
    pub scheme: &'static str,
    /// How long an `Idempotency-Key` holds its submission (`--idempotency-key-ttl`).
    pub idempotency_key_ttl: Duration,
    /// Most server-sent event streams open at once (`--max-event-streams`); more get 429.
    pub max_event_streams: usize,
    /// SHA-256 of `--metrics-token`: `GET /metrics` answers only to it, and does not exist
    /// without it.
    pub metrics_token_hash: Option<[u8; 32]>,
    /// `--dashboard`: whether the dashboard is served, and whether it may change data.
    pub dashboard: crate::dashboard::DashboardMode,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            poll_retry_after: Duration::from_secs(60),
            max_body_bytes: 1024 * 1024,
            default_ttl: bgops_core::operation::DEFAULT_TTL,
            scheme: "http",
            idempotency_key_ttl: DEFAULT_IDEMPOTENCY_KEY_TTL,
            max_event_streams: 1000,
            metrics_token_hash: None,
            dashboard: crate::dashboard::DashboardMode::default(),
        }
    }
}

/// Shared by all handlers: the engine, authentication and settings. Cloned for every
/// middleware, extractor and route of every request, so a clone is one reference count: the
/// fields live in [`Shared`], behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct Shared {
    /// Runs and stores operations.
    pub engine: Engine,
    /// Resolves bearer tokens to principals.
    pub auth: Arc<Authenticator>,
    /// HTTP settings.
    pub config: Arc<ServerConfig>,
    /// The tables of the Web API.
    pub catalogue: Arc<Catalogue>,
    /// Signs `$skiptoken`s; random per process, so a token outlives neither a restart nor its
    /// query.
    pub skiptoken_key: Arc<[u8]>,
    /// `Idempotency-Key`s whose first request is still being processed on this node.
    pub in_flight: crate::idempotency::InFlight,
    /// One permit per open event stream (`--max-event-streams`).
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Fires when the service shuts down: long polls and event streams answer at once instead
    /// of holding the shutdown up.
    pub stopping: tokio_util::sync::CancellationToken,
    /// When `/metrics` last read the queue summary.
    pub queue_refresh: Arc<crate::routes::metrics::QueueRefresh>,
    /// The dashboard overview's activity (finished per minute, lease holders), shared by every
    /// viewer.
    pub activity: Arc<crate::dashboard::activity::Activity>,
    /// Transport and edge: TLS, trusted proxies, service protection, the JWT challenge.
    pub edge: Arc<Edge>,
}

impl AppState {
    /// State over an engine with these settings.
    pub fn new(engine: Engine, config: ServerConfig) -> Self {
        let streams = config
            .max_event_streams
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        let auth = Arc::new(Authenticator::new(
            engine.store().clone(),
            engine.clock().clone(),
        ));
        let catalogue = engine.catalogue().clone();
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self(Arc::new(Shared {
            engine,
            auth,
            config: Arc::new(config),
            catalogue,
            skiptoken_key: Arc::from(&key[..]),
            in_flight: crate::idempotency::InFlight::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(streams)),
            stopping: tokio_util::sync::CancellationToken::new(),
            queue_refresh: Arc::default(),
            activity: Arc::default(),
            edge: Arc::new(Edge::default()),
        }))
    }

    /// The fields, to change while the state is built (copied if a clone is out already).
    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// This state, whose `stopping` token is `stopping`.
    pub fn with_stopping(mut self, stopping: tokio_util::sync::CancellationToken) -> Self {
        self.shared_mut().stopping = stopping;
        self
    }

    /// This state with `edge` (built by [`Edge::build`]): its JWT issuers join API keys.
    pub fn with_edge(mut self, edge: Edge) -> Self {
        let auth = Arc::new(
            Authenticator::new(self.engine.store().clone(), self.engine.clock().clone())
                .with_jwt(edge.jwt.clone()),
        );
        let shared = self.shared_mut();
        shared.auth = auth;
        shared.edge = Arc::new(edge);
        self
    }
}
