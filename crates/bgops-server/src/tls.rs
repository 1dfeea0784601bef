//! HTTPS on `--listen` (`--tls-cert`, `--tls-key`: PEM files, rustls). The certificate is
//! reloaded without a restart: on SIGHUP, and when either file's modification time or size
//! changes (checked every [`RELOAD_POLL`]). A reload that fails (a half-written file, a key that
//! does not match) is logged and the certificate in use is kept. Handshakes run in their own
//! tasks, each bounded by [`HANDSHAKE_TIMEOUT`], so a slow client delays no one else.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the certificate files are checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// The longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `--tls-cert` and `--tls-key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Serves the certificate loaded last to every handshake.
#[derive(Debug)]
pub struct CertResolver {
    /// Where the certificate and key are read from.
    settings: TlsSettings,
    /// The certificate in use.
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    /// Loads the certificate and key now; an error names the file and what is wrong.
    pub fn load(settings: TlsSettings) -> Result<Self, String> {
        let key = load_certified_key(&settings)?;
        Ok(Self {
            settings,
            current: RwLock::new(Arc::new(key)),
        })
    }

    /// Reads the files again; on success new handshakes get the new certificate.
    pub fn reload(&self) -> Result<(), String> {
        let key = load_certified_key(&self.settings)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(())
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The chain and key of `settings`, checked to belong together.
fn load_certified_key(settings: &TlsSettings) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&settings.cert)
        .map_err(|e| format!("--tls-cert {}: {e}", settings.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: {e}", settings.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--tls-cert {}: no certificate in it",
            settings.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&settings.key)
        .map_err(|e| format!("--tls-key {}: {e}", settings.key.display()))?;
    let signing = any_supported_type(&key)
        .map_err(|e| format!("--tls-key {}: {e}", settings.key.display()))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|e| {
        format!(
            "--tls-key {} does not belong to --tls-cert {}: {e}",
            settings.key.display(),
            settings.cert.display()
        )
    })?;
    Ok(certified)
}

/// The rustls configuration serving `resolver`'s certificate (TLS 1.2 and 1.3, HTTP/1.1).
pub fn server_config(resolver: Arc<CertResolver>) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reloads `resolver` on SIGHUP and when its files change, until `shutdown`.
pub async fn watch(resolver: Arc<CertResolver>, shutdown: CancellationToken) {
    let mut seen = stamp(&resolver.settings);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let why = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hangup => "SIGHUP",
            _ = tokio::time::sleep(RELOAD_POLL) => {
                let now = stamp(&resolver.settings);
                if now == seen {
                    continue;
                }
                seen = now;
                "the files changed"
            }
        };
        match resolver.reload() {
            Ok(()) => tracing::info!(why, "TLS certificate reloaded"),
            Err(e) => {
                tracing::warn!(why, error = %e, "TLS certificate not reloaded; the one in use is kept")
            }
        }
    }
}

/// Modification times and sizes of the certificate and key files.
fn stamp(settings: &TlsSettings) -> [Option<(SystemTime, u64)>; 2] {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    [one(&settings.cert), one(&settings.key)]
}

/// A listener handing axum connections whose TLS handshake has completed.
pub struct TlsListener {
    /// Completed handshakes.
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    /// The bound address.
    local: SocketAddr,
    /// Stops the accept loop when the listener is dropped.
    _stop: tokio_util::sync::DropGuard,
}

impl TlsListener {
    /// Accepts on `tcp` and runs handshakes with `config` in the background.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(
            tcp,
            TlsAcceptor::from(config),
            tx,
            stop.clone(),
        ));
        Ok(Self {
            ready,
            local,
            _stop: stop.drop_guard(),
        })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = tcp.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, as axum does.
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ended (only when this listener is dropped): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
