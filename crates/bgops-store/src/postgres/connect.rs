//! Connections to PostgreSQL: the URL's settings, the password from the URL or `PGPASSWORD`,
//! TLS through rustls, and the schema every statement runs in.
//!
//! `sslmode` takes libpq's values, with libpq's meaning. `disable` never uses TLS; `allow` and
//! `prefer` (the default) use it when the server offers it, and `require` insists on it: these
//! three encrypt without checking the server's certificate (libpq's rule), unless `sslrootcert`
//! names a file, which makes `require` check the chain. `verify-ca` checks the chain against
//! the Mozilla roots and `sslrootcert`; `verify-full` also checks the host name.

use std::str::FromStr;
use std::sync::Arc;

use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// A connection's I/O half, polled for its messages (notifications).
pub type RawConnection =
    tokio_postgres::Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// Opens connections with one set of settings (the writer's, the listener's, the pool's).
#[derive(Clone)]
pub struct Connector {
    /// Parsed from the `--database` URL.
    config: Config,
    /// TLS, used as `sslmode` says.
    tls: MakeRustlsConnect,
    /// The URL without its password, for messages and logs.
    shown: String,
}

impl Connector {
    /// Parses a `postgres://` or `postgresql://` URL (libpq's key words as query parameters,
    /// e.g. `?sslmode=verify-full&options=-c%20search_path%3Dbgops`). Without a password in
    /// the URL, `PGPASSWORD` is used when set.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let shown = without_password(url);
        let refuse = |reason: String| StoreError::Open {
            url: shown.clone(),
            reason,
        };
        let (rest, tls_params) = split_tls_params(url);
        let mut config = Config::from_str(&rest)
            .map_err(|e| refuse(format!("not a valid PostgreSQL URL: {e}")))?;
        let mode = match tls_params.mode.as_deref() {
            None | Some("allow" | "prefer") => SslMode::Prefer,
            Some("disable") => SslMode::Disable,
            Some("require" | "verify-ca" | "verify-full") => SslMode::Require,
            Some(other) => {
                return Err(refuse(format!(
                    "sslmode '{other}' is not one of disable, allow, prefer, require, \
                     verify-ca, verify-full"
                )))
            }
        };
        config.ssl_mode(mode);
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("bgops");
        }
        let check = match (tls_params.mode.as_deref(), &tls_params.root_cert) {
            (Some("verify-full"), _) => Check::Full,
            (Some("verify-ca"), _) | (Some("require"), Some(_)) => Check::Chain,
            _ => Check::Nothing,
        };
        let tls = tls_connector(check, tls_params.root_cert.as_deref()).map_err(refuse)?;
        Ok(Self { config, tls, shown })
    }

    /// The URL as it may be shown (no password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The settings, for the read pool.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The TLS connector, for the read pool.
    pub fn tls(&self) -> MakeRustlsConnect {
        self.tls.clone()
    }

    /// A new connection; its I/O runs on a task of its own until the client is dropped.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.connect_raw().await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// A new connection whose messages (notifications) the caller polls.
    pub async fn connect_raw(&self) -> Result<(Client, RawConnection), StoreError> {
        Ok(self.config.connect(self.tls.clone()).await?)
    }
}

/// The TLS settings of a URL, which bgops reads itself (the driver knows fewer modes).
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsParams {
    /// `sslmode`.
    mode: Option<String>,
    /// `sslrootcert`: a PEM file of extra trusted certificates.
    root_cert: Option<String>,
}

/// `url` without its `sslmode` and `sslrootcert` parameters, and their values.
fn split_tls_params(url: &str) -> (String, TlsParams) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), TlsParams::default());
    };
    let mut params = TlsParams::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => params.mode = Some(percent_decode(value)),
            "sslrootcert" => params.root_cert = Some(percent_decode(value)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, params)
}

/// Decodes `%XX` escapes (a path in `sslrootcert` may carry them).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What TLS checks of the server's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Nothing: encryption only (libpq's `prefer` and `require`).
    Nothing,
    /// The chain up to a trusted root (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A rustls connector that checks as `check` says, trusting the Mozilla roots and the
/// certificates of `root_cert`.
fn tls_connector(check: Check, root_cert: Option<&str>) -> Result<MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = root_cert {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("sslrootcert {path} holds no PEM certificate"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| format!("TLS set-up: {e}"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let config = match check {
        Check::Full => builder.with_webpki_verifier(webpki),
        Check::Chain | Check::Nothing => {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(LibpqVerifier {
                    check,
                    webpki,
                    provider,
                }))
        }
    }
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's weaker checks: the chain without the host name (`verify-ca`), or nothing at all
/// (`prefer`, `require`); signatures of the handshake are always verified.
#[derive(Debug)]
struct LibpqVerifier {
    check: Check,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if self.check == Check::Nothing {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `url` with the password (if any) replaced by `***`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            without_password("postgres://u:secret@h:5432/db?sslmode=disable"),
            "postgres://u:***@h:5432/db?sslmode=disable"
        );
        assert_eq!(without_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(without_password("postgresql://h/db"), "postgresql://h/db");
    }

    #[test]
    fn a_malformed_url_is_refused_without_its_password() {
        let Err(StoreError::Open { url, reason }) =
            Connector::parse("postgres://u:secret@h:notaport/db")
        else {
            panic!("accepted");
        };
        assert!(!url.contains("secret"), "{url}");
        assert!(reason.contains("not a valid PostgreSQL URL"), "{reason}");
    }

    #[test]
    fn tls_parameters_are_read_by_bgops() {
        let (rest, p) = split_tls_params(
            "postgres://h/db?sslmode=verify-full&options=-c%20x%3Dy&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(rest, "postgres://h/db?options=-c%20x%3Dy");
        assert_eq!(p.mode.as_deref(), Some("verify-full"));
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, p) = split_tls_params("postgres://h/db?sslmode=disable");
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(p.mode.as_deref(), Some("disable"));
    }

    #[test]
    fn unknown_sslmodes_and_missing_root_files_are_refused() {
        let Err(StoreError::Open { reason, .. }) =
            Connector::parse("postgres://h/db?sslmode=sometimes")
        else {
            panic!("accepted");
        };
        assert!(reason.contains("sslmode 'sometimes'"), "{reason}");
        let Err(StoreError::Open { reason, .. }) =
            Connector::parse("postgres://h/db?sslmode=require&sslrootcert=/nonexistent.pem")
        else {
            panic!("accepted");
        };
        assert!(reason.contains("cannot read sslrootcert"), "{reason}");
    }
}
