//! Certificates made by the test: a CA and server certificates for `localhost` and
//! `127.0.0.1`, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A test certificate authority.
pub struct TestCa {
    /// The CA certificate, PEM (what clients trust).
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate and its key, written to files.
pub struct ServerCert {
    /// The certificate file (PEM).
    pub cert: PathBuf,
    /// The key file (PEM).
    pub key: PathBuf,
    /// The certificate, DER (to tell which one a server presents).
    pub der: Vec<u8>,
}

impl TestCa {
    /// A fresh CA.
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "bgops test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes the CA certificate to `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).expect("write CA");
        path
    }

    /// A certificate for localhost and 127.0.0.1 named `cn`, written to `dir/{stem}.crt` and
    /// `dir/{stem}.key` (replacing files of the same name).
    pub fn server_cert(&self, dir: &Path, stem: &str, cn: &str) -> ServerCert {
        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        let cert_path = dir.join(format!("{stem}.crt"));
        let key_path = dir.join(format!("{stem}.key"));
        // Write to temporary names and rename, so a watcher never reads half a file.
        let tmp_cert = dir.join(format!(".{stem}.crt.tmp"));
        let tmp_key = dir.join(format!(".{stem}.key.tmp"));
        std::fs::write(&tmp_cert, cert.pem()).expect("write cert");
        std::fs::write(&tmp_key, key.serialize_pem()).expect("write key");
        std::fs::rename(&tmp_key, &key_path).expect("rename key");
        std::fs::rename(&tmp_cert, &cert_path).expect("rename cert");
        ServerCert {
            cert: cert_path,
            key: key_path,
            der: cert.der().to_vec(),
        }
    }

    /// A reqwest client trusting only this CA.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap())
            .tls_info(true)
            .no_proxy()
            .build()
            .expect("https client")
    }
}
