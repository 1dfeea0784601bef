//! The command line: `bgops serve` and its flags (SPEC §1), each also `BGOPS_<NAME>`; the client
//! commands live in `client_cmd`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bgops_engine::EngineConfig;
use bgops_server::dashboard::DashboardMode;
use bgops_server::{ServerConfig, Settings};
use clap::{Args, Parser, Subcommand};
use sha2::Digest;
use tokio_util::sync::CancellationToken;

/// bgops: durable background operations with the Microsoft Dataverse contract.
#[derive(Parser, Debug)]
#[command(name = "bgops", version, about)]
pub struct Cli {
    /// How log lines are written to standard error: `text` (coloured only on a terminal) or
    /// `json` (one object per line, for log shippers).
    #[arg(long, global = true, env = "BGOPS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Where spans go (OpenTelemetry over OTLP/HTTP).
    #[command(flatten)]
    pub tracing: Tracing,
    #[command(subcommand)]
    command: Command,
}

/// The shape of log lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colours only when standard error is a terminal and
    /// `NO_COLOR` is unset.
    Text,
    /// One JSON object per line (timestamp, level, target, fields, spans).
    Json,
}

/// Exporting spans to an OpenTelemetry collector.
#[derive(Args, Debug, Clone)]
pub struct Tracing {
    /// Export spans over OTLP/HTTP to this collector (`http://HOST:4318`; `/v1/traces` is
    /// added to a URL without a path). Off when absent: spans then only shape log lines.
    #[arg(long, global = true, env = "BGOPS_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// The OTLP/HTTP encoding.
    #[arg(long, global = true, env = "BGOPS_OTLP_PROTOCOL", value_enum, default_value_t = OtlpProtocol::HttpProtobuf)]
    pub otlp_protocol: OtlpProtocol,
    /// The `service.name` of exported spans.
    #[arg(
        long,
        global = true,
        env = "BGOPS_OTLP_SERVICE_NAME",
        default_value = "bgops"
    )]
    pub otlp_service_name: String,
}

/// The OTLP/HTTP encoding of exported spans.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf`, the OTLP default.
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    /// `http/json`.
    #[value(name = "http/json")]
    HttpJson,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the service.
    Serve(Box<ServeArgs>),
    /// Print the secret that signs callbacks and HTTP plug-in requests (`whsec_…`), as stored
    /// in the database; creates it if absent.
    WebhookSecret(WebhookSecretArgs),
    /// Manage users (`add`, `list`, `disable`, `enable`) in a database.
    User(crate::admin_cmd::UserArgs),
    /// Manage API keys (`create`, `list`, `revoke`) in a database.
    Key(crate::admin_cmd::KeyArgs),
    #[command(flatten)]
    Client(crate::client_cmd::ClientCommand),
}

#[derive(Args, Debug)]
struct WebhookSecretArgs {
    /// Database: sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DATABASE.
    #[arg(
        long,
        env = "BGOPS_DATABASE",
        default_value = "sqlite://bgops.db",
        hide_env_values = true
    )]
    database: String,
    /// A file holding the PostgreSQL password, used when the URL has none.
    #[arg(long, env = "BGOPS_DATABASE_PASSWORD_FILE")]
    database_password_file: Option<std::path::PathBuf>,
}

fn webhook_secret(s: &str) -> Result<String, String> {
    bgops_core::signing::WebhookSecret::parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 200ms, 30s or 90d ({e})"))
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// A TOML file holding any of these flags, by name with _ for - (`attempt_timeout =
    /// "120s"`); flags and BGOPS_* variables override it. See docs/bgops.example.toml.
    #[arg(long, env = "BGOPS_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "BGOPS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Connections the kernel completes and queues before bgops accepts them (the listen
    /// backlog; Linux caps it at net.core.somaxconn). Past it, a client connecting in a crowd
    /// (thousands of waiters reconnecting at once) gets its handshake dropped or reset.
    #[arg(long, env = "BGOPS_LISTEN_BACKLOG", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=65_535))]
    listen_backlog: u32,
    /// Database: sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DATABASE
    /// (several nodes share it; the password from the URL or PGPASSWORD).
    #[arg(
        long,
        env = "BGOPS_DATABASE",
        default_value = "sqlite://bgops.db",
        hide_env_values = true
    )]
    database: String,
    /// A file holding the PostgreSQL password (a mounted secret), used when the URL has none;
    /// before PGPASSWORD.
    #[arg(long, env = "BGOPS_DATABASE_PASSWORD_FILE")]
    database_password_file: Option<std::path::PathBuf>,
    /// Concurrent attempts on this node (default: 2 × cores).
    #[arg(long, env = "BGOPS_WORKERS", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    workers: Option<u32>,
    /// Creates or updates the bootstrap System Administrator's API key. Without it, a fresh
    /// database prints a generated key once.
    #[arg(long, env = "BGOPS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Time-out of one attempt.
    #[arg(long, env = "BGOPS_ATTEMPT_TIMEOUT", default_value = "120s", value_parser = duration)]
    attempt_timeout: Duration,
    /// Base of the exponential retry delay (full jitter).
    #[arg(long, env = "BGOPS_RETRY_BASE_DELAY", default_value = "10s", value_parser = duration)]
    retry_base_delay: Duration,
    /// Retries after a failed attempt.
    #[arg(long, env = "BGOPS_MAX_RETRIES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=100))]
    max_retries: u32,
    /// Lease of a running attempt; renewed every third of it. A dead node's work is taken
    /// back when it expires.
    #[arg(long, env = "BGOPS_LEASE", default_value = "30s", value_parser = duration)]
    lease: Duration,
    /// Default time to live of operation rows, counted from their last modification.
    #[arg(long, env = "BGOPS_DEFAULT_TTL", default_value = "90d", value_parser = duration)]
    default_ttl: Duration,
    /// How often rows past their time to live are deleted.
    #[arg(long, env = "BGOPS_TTL_SWEEP_INTERVAL", default_value = "60s", value_parser = duration)]
    ttl_sweep_interval: Duration,
    /// The status monitor's Retry-After while an operation is not finished.
    #[arg(long, env = "BGOPS_POLL_RETRY_AFTER", default_value = "60s", value_parser = duration)]
    poll_retry_after: Duration,
    /// How long an `Idempotency-Key` holds its submission: a retry with the same key within
    /// it gets the original answer; then the key is free again and swept.
    #[arg(long, env = "BGOPS_IDEMPOTENCY_KEY_TTL", default_value = "24h", value_parser = duration)]
    idempotency_key_ttl: Duration,
    /// Most server-sent event streams open at once (the status monitor's and /api/events);
    /// more are refused with 429.
    #[arg(long, env = "BGOPS_MAX_EVENT_STREAMS", default_value_t = 1000)]
    max_event_streams: usize,
    /// How far to claim ahead of free workers, as time at the recent pace: a node holds
    /// claimed as many rows as its workers finished in this long (at most 256), so fast work
    /// is claimed in bulk. 0 claims only for free workers.
    #[arg(long, env = "BGOPS_CLAIM_AHEAD", default_value = "20ms", value_parser = duration)]
    claim_ahead: Duration,
    /// How long shutdown waits for running attempts (default: attempt time-out + 30s).
    #[arg(long, env = "BGOPS_SHUTDOWN_GRACE", value_parser = duration)]
    shutdown_grace: Option<Duration>,
    /// Seed a few dozen demo `account` rows into a fresh database (`--demo-data false` to skip).
    #[arg(long, env = "BGOPS_DEMO_DATA", default_value_t = true, action = clap::ArgAction::Set)]
    demo_data: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "BGOPS_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// A TOML file declaring custom APIs and HTTP plug-ins, applied at every start (see
    /// docs/custom-apis.example.toml).
    #[arg(long, env = "BGOPS_CUSTOM_APIS", value_name = "FILE")]
    custom_apis: Option<std::path::PathBuf>,
    /// Accept http:// callback and HTTP plug-in URLs, not only https://.
    #[arg(long, env = "BGOPS_CALLBACK_ALLOW_HTTP")]
    callback_allow_http: bool,
    /// Accept callback and HTTP plug-in URLs whose host is or resolves to a loopback, private,
    /// link-local or other internal address.
    #[arg(long, env = "BGOPS_CALLBACK_ALLOW_PRIVATE")]
    callback_allow_private: bool,
    /// The secret that signs callbacks and HTTP plug-in requests (`whsec_` + Base64 of 24–64
    /// bytes); stored in the database, replacing the previous one. Without it the stored one
    /// is used, generated on first start (`bgops webhook-secret` prints it).
    #[arg(long, env = "BGOPS_WEBHOOK_SECRET", hide_env_values = true, value_parser = webhook_secret)]
    webhook_secret: Option<String>,
    /// Serve `GET /metrics` (Prometheus/OpenMetrics text) to requests with
    /// `Authorization: Bearer TOKEN`. Without it, `/metrics` does not exist.
    #[arg(long, env = "BGOPS_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// `off`: count no metrics and give requests no tracing span (to measure what they cost;
    /// `/metrics` then shows only the queue gauges, and `--otlp-endpoint` exports no request
    /// spans).
    #[arg(long, env = "BGOPS_INSTRUMENTATION", value_enum, default_value_t = Switch::On)]
    instrumentation: Switch,
    /// The dashboard at `/` and `/ui/`: `on`, `read-only` (no actions: its writes are
    /// refused) or `off`.
    #[arg(long, env = "BGOPS_DASHBOARD", value_enum, default_value_t = Dashboard::On)]
    dashboard: Dashboard,
    /// Bearer JWTs, TLS, trusted proxies, service protection.
    #[command(flatten)]
    edge: crate::edge_args::EdgeArgs,
}

/// `on` or `off`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// `--dashboard`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Dashboard {
    /// Served with its actions.
    On,
    /// Served without actions.
    ReadOnly,
    /// Not served.
    Off,
}

impl ServeArgs {
    fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("--attempt-timeout", self.attempt_timeout),
            ("--lease", self.lease),
            ("--ttl-sweep-interval", self.ttl_sweep_interval),
            ("--default-ttl", self.default_ttl),
        ];
        for (flag, d) in positive {
            if d.is_zero() {
                anyhow::bail!("{flag} must be longer than zero");
            }
        }
        if self
            .metrics_token
            .as_deref()
            .is_some_and(|t| t.trim().len() < 16)
        {
            anyhow::bail!("--metrics-token must be at least 16 characters");
        }
        if self.lease < Duration::from_millis(300) {
            anyhow::bail!("--lease must be at least 300ms (it is renewed every third of it)");
        }
        if self.default_ttl.as_secs() == 0 || self.default_ttl.as_secs() > i32::MAX as u64 {
            anyhow::bail!("--default-ttl must be between 1s and {}s", i32::MAX);
        }
        self.edge.check()
    }

    fn settings(self) -> Settings {
        let defaults = EngineConfig::default();
        let engine = EngineConfig {
            workers: self.workers.map_or(defaults.workers, |w| w as usize),
            attempt_timeout: self.attempt_timeout,
            retry_base_delay: self.retry_base_delay,
            max_retries: self.max_retries,
            lease: self.lease,
            default_ttl: self.default_ttl,
            ttl_sweep_interval: self.ttl_sweep_interval,
            claim_ahead: self.claim_ahead,
            shutdown_grace: self
                .shutdown_grace
                .unwrap_or(self.attempt_timeout + Duration::from_secs(30)),
            metrics: match self.instrumentation {
                Switch::On => defaults.metrics.clone(),
                Switch::Off => std::sync::Arc::new(bgops_metrics::Metrics::disabled()),
            },
            ..defaults
        };
        Settings {
            database_url: self.database,
            database_password_file: self.database_password_file,
            admin_token: self.admin_token,
            engine,
            server: ServerConfig {
                poll_retry_after: self.poll_retry_after,
                max_body_bytes: self.max_body_bytes,
                default_ttl: self.default_ttl,
                idempotency_key_ttl: self.idempotency_key_ttl,
                max_event_streams: self.max_event_streams,
                metrics_token_hash: self
                    .metrics_token
                    .as_deref()
                    .map(|t| sha2::Sha256::digest(t.trim().as_bytes()).into()),
                dashboard: match self.dashboard {
                    Dashboard::On => DashboardMode::On,
                    Dashboard::ReadOnly => DashboardMode::ReadOnly,
                    Dashboard::Off => DashboardMode::Off,
                },
                ..ServerConfig::default()
            },
            demo_data: self.demo_data,
            custom_apis: self.custom_apis,
            outbound: bgops_core::outbound_url::UrlPolicy {
                allow_http: self.callback_allow_http,
                allow_private: self.callback_allow_private,
            },
            webhook_secret: self.webhook_secret,
            edge: self.edge.settings(),
        }
    }
}

impl Cli {
    /// Runs the chosen command; the exit code says its outcome.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        match self.command {
            Command::Serve(args) => serve(*args).await?,
            Command::WebhookSecret(args) => print_webhook_secret(args).await?,
            Command::User(args) => args.run().await?,
            Command::Key(args) => args.run().await?,
            Command::Client(cmd) => return Ok(cmd.run().await),
        }
        Ok(std::process::ExitCode::SUCCESS)
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    args.check()?;
    let listen = args.listen;
    let listener =
        bind(listen, args.listen_backlog).with_context(|| format!("cannot listen on {listen}"))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(signal_shutdown(shutdown.clone()));
    bgops_server::run(args.settings(), listener, shutdown).await?;
    Ok(())
}

/// A listener on `addr` with room for `backlog` connections not yet accepted (as
/// `TcpListener::bind`, which always asks for 1,024).
fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does on Unix: a restarted server can take the port at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

async fn print_webhook_secret(args: WebhookSecretArgs) -> anyhow::Result<()> {
    let options = bgops_store::OpenOptions {
        password_file: args.database_password_file.clone(),
        ..Default::default()
    };
    let store = bgops_store::open_with(&args.database, &options)
        .await
        .with_context(|| format!("cannot open {}", bgops_store::shown_url(&args.database)))?;
    let secret = bgops_server::webhook_secret(store.as_ref(), None).await?;
    println!("{}", secret.to_text());
    Ok(())
}

/// Fires `shutdown` on SIGTERM or SIGINT.
async fn signal_shutdown(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown requested: no new work is claimed; running attempts may finish");
    shutdown.cancel();
}
