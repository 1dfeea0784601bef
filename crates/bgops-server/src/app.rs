//! Starting the whole service: open the store, bootstrap the administrator, start the engine,
//! serve HTTP, and shut down in order.

use std::sync::Arc;

use bgops_core::outbound_url::UrlPolicy;
use bgops_core::signing::WebhookSecret;
use bgops_core::SystemClock;
use bgops_engine::{Engine, EngineConfig, Outbound, RandomJitter, Registry};
use bgops_store::{AdminKey, Store, StoreError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{generate_token, hash_token};
use crate::state::{AppState, ServerConfig};

/// Everything `bgops serve` configures.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--database`.
    pub database_url: String,
    /// `--database-password-file`: the database password, read from a file (a mounted
    /// secret) when the URL carries none.
    pub database_password_file: Option<std::path::PathBuf>,
    /// `--admin-token`.
    pub admin_token: Option<String>,
    /// Engine timings and workers.
    pub engine: EngineConfig,
    /// HTTP settings.
    pub server: ServerConfig,
    /// Seed a few dozen demo `account` rows into a fresh database.
    pub demo_data: bool,
    /// `--custom-apis`: a TOML file declaring custom APIs and HTTP plug-ins, applied at start-up.
    pub custom_apis: Option<std::path::PathBuf>,
    /// `--callback-allow-http` / `--callback-allow-private`: the rules for callback and HTTP
    /// plug-in URLs.
    pub outbound: UrlPolicy,
    /// `--webhook-secret` (`whsec_…`); when absent the stored one, generated on first start.
    pub webhook_secret: Option<String>,
    /// Bearer JWTs, TLS, trusted proxies and service protection.
    pub edge: crate::edge::EdgeSettings,
}

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The database could not be opened or prepared.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Serving HTTP failed.
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    /// The custom API definitions could not be written or the `--custom-apis` file applied.
    #[error("{0}")]
    Definitions(String),
    /// A setting is not acceptable (a malformed webhook secret) or the outbound client failed.
    #[error("{0}")]
    Config(String),
}

/// The engine's runtime: threads of its own (as many as the HTTP runtime has) for its loops.
struct EngineRuntime(Option<tokio::runtime::Runtime>);

impl EngineRuntime {
    fn new() -> Result<Self, RunError> {
        let threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("bgops-engine")
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
            .map_err(|e| RunError::Config(format!("cannot start the engine's runtime: {e}")))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("present until dropped").handle()
    }
}

impl Drop for EngineRuntime {
    fn drop(&mut self) {
        // Dropped once the loops stopped (or on an early error): nothing is left on it to wait
        // for, and a runtime cannot be dropped the blocking way from async code.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The name of the stored setting holding the webhook signing secret.
const WEBHOOK_SECRET_SETTING: &str = "webhook_secret";

/// The secret that signs callbacks and HTTP plug-in requests: `given` (`--webhook-secret`,
/// stored so that every node and `bgops webhook-secret` agree), else the stored one, else 32
/// fresh random bytes, stored on first use.
pub async fn webhook_secret(
    store: &dyn Store,
    given: Option<&str>,
) -> Result<WebhookSecret, RunError> {
    let given = given
        .map(|text| {
            WebhookSecret::parse(text)
                .map(|s| s.to_text())
                .map_err(|e| RunError::Config(format!("--webhook-secret: {e}")))
        })
        .transpose()?;
    let fresh = WebhookSecret::from_bytes(&rand::random::<[u8; 32]>())
        .map_err(|e| RunError::Config(e.to_string()))?;
    let text = store
        .setting(WEBHOOK_SECRET_SETTING, given, fresh.to_text())
        .await?;
    WebhookSecret::parse(&text)
        .map_err(|e| RunError::Config(format!("the stored webhook secret is not usable: {e}")))
}

/// Runs the service on `listener` until `shutdown` fires: HTTP stops accepting, the engine
/// stops claiming, running attempts finish within the grace period, then it returns.
///
/// On a fresh database without `admin_token`, prints the generated administrator key once on
/// standard output. Prints the bound address (`bgops listening on http://…`) once ready.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    run_with_registry(settings, Registry::with_builtins(), listener, shutdown).await
}

/// Like [`run`], with the custom APIs and native plug-ins of an embedding program: build a
/// [`Registry`] (start from [`Registry::with_builtins`] to keep the diagnostic APIs), add your
/// plug-ins with [`Registry::add_plugin`] under their type names and your custom APIs with
/// [`Registry::add_api`], and serve. See `examples/embedded.rs`.
pub async fn run_with_registry(
    settings: Settings,
    registry: Registry,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let store = bgops_store::open_with(
        &settings.database_url,
        &bgops_store::OpenOptions {
            password_file: settings.database_password_file.clone(),
            observer: bgops_store::WriterObserver::new(settings.engine.metrics.clone()),
        },
    )
    .await?;
    // Certificate and key files are read now: a bad one stops the start, naming the file.
    let edge = crate::edge::Edge::build(&settings.edge, store.clone()).map_err(RunError::Config)?;
    let now = bgops_core::Clock::now(&SystemClock);
    let admin_token = match &settings.admin_token {
        Some(token) => {
            store
                .bootstrap_admin(AdminKey::Set(hash_token(token)), now)
                .await?;
            tracing::info!("bootstrap administrator key set from --admin-token");
            Some(token.clone())
        }
        None => {
            let token = generate_token();
            if store
                .bootstrap_admin(AdminKey::IfAbsent(hash_token(&token)), now)
                .await?
            {
                println!("Bootstrap System Administrator API key (shown once, keep it): {token}");
                Some(token)
            } else {
                None
            }
        }
    };
    let catalogue = Arc::new(bgops_core::catalogue::Catalogue::standard());
    crate::auth::ensure_security_model(store.as_ref(), &catalogue, now).await?;
    if settings.demo_data {
        if let Some(token) = admin_token {
            if let Some(admin) = store.find_user_by_key_hash(&hash_token(&token)).await? {
                let n = crate::demo::seed(&store, &catalogue, admin.id, now).await?;
                if n > 0 {
                    tracing::info!(accounts = n, "seeded demo accounts");
                }
            }
        }
    }
    let mut engine_config = settings.engine;
    if engine_config.outbound.is_none() {
        let secret = webhook_secret(store.as_ref(), settings.webhook_secret.as_deref()).await?;
        let outbound = Outbound::new(settings.outbound, secret)
            .map_err(|e| RunError::Config(e.to_string()))?;
        engine_config.outbound = Some(Arc::new(outbound));
    }
    let registry = Arc::new(registry);
    let engine = Engine::new(
        store,
        registry,
        catalogue,
        engine_config,
        Arc::new(SystemClock),
        Arc::new(RandomJitter),
    );
    crate::definitions::apply(&engine, settings.custom_apis.as_deref()).await?;
    let engine_shutdown = CancellationToken::new();
    // The engine's loops on threads of their own (as many as the HTTP runtime has): requests
    // waiting on the HTTP threads never hold up a claim, a start or an outcome.
    let engine_runtime = EngineRuntime::new()?;
    // Long polls and event streams are woken from this (the HTTP) runtime, not from the
    // engine's threads (see `bgops_engine::changes`).
    let relay = tokio::spawn(engine.changes().clone().relay());
    let engine_handle = engine.start_on(engine_shutdown.clone(), engine_runtime.handle());
    let mut server = settings.server;
    if edge.tls.is_some() {
        server.scheme = "https";
    }
    let scheme = server.scheme;
    let state = AppState::new(engine, server)
        .with_edge(edge)
        .with_stopping(shutdown.clone());

    let addr = listener.local_addr()?;
    println!("bgops listening on {scheme}://{addr}");
    tracing::info!(%addr, database = %bgops_store::shown_url(&settings.database_url), "bgops started");

    let http = crate::serve(state, listener, shutdown.clone());
    let result = http.await;
    // HTTP has stopped accepting; stop the engine in order.
    engine_shutdown.cancel();
    engine_handle.wait().await;
    relay.abort();
    drop(engine_runtime);
    tracing::info!("bgops stopped");
    result.map_err(RunError::from)
}
