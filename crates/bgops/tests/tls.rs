//! HTTPS on `--listen` with a certificate made by the test: plain clients use the API over
//! https and get https URLs back; the certificate is reloaded on SIGHUP and when its files
//! change, and a broken file keeps the certificate in use.

mod common;

use std::time::{Duration, Instant};

use common::pki::{ServerCert, TestCa};
use common::Server;
use reqwest::StatusCode;
use serde_json::json;

/// The certificate the server presents now (DER), to a new client (a pooled connection or a
/// resumed session would show the certificate of an earlier handshake).
async fn presented(server: &Server, ca: &TestCa) -> Vec<u8> {
    let resp = ca
        .client()
        .get(server.url("/health"))
        .send()
        .await
        .expect("https GET /health");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("peer certificate")
        .to_vec()
}

/// Polls until the server presents `cert` (a reload is asynchronous); panics after 30 s.
async fn until_presented(server: &Server, ca: &TestCa, cert: &ServerCert, what: &str) {
    let start = Instant::now();
    while presented(server, ca).await != cert.der {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: the new certificate was not served; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sighup(server: &Server) {
    let pid = nix::unistd::Pid::from_raw(server.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
}

#[tokio::test]
async fn the_api_over_https_returns_https_urls() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let cert = ca.server_cert(dir.path(), "server", "bgops");
    let mut server = Server::start(&[
        "--tls-cert",
        cert.cert.to_str().unwrap(),
        "--tls-key",
        cert.key.to_str().unwrap(),
    ]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    server.client = ca.client();
    assert_eq!(presented(&server, &ca).await, cert.der);

    let resp = server
        .req(reqwest::Method::POST, "/api/data/v9.2/bgops_Echo")
        .header("Prefer", "respond-async")
        .json(&json!({"Text": "over TLS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/api/backgroundoperation/", server.base)),
        "{location}"
    );
    let id = location.rsplit('/').next().unwrap().to_owned();
    let done = server.wait_terminal(&id, Duration::from_secs(30)).await;
    assert_eq!(done["Text"], "over TLS");
    let page: serde_json::Value = server
        .req(reqwest::Method::GET, "/api/data/v9.2/accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        page["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:"),
        "{page}"
    );

    // Plain HTTP to the HTTPS port fails for that client only.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let http_url = server.base.replacen("https://", "http://", 1) + "/health";
    assert!(plain.get(&http_url).send().await.is_err());
    // A client that does not trust the CA is refused by its own TLS check.
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .build()
        .unwrap();
    assert!(untrusting.get(server.url("/health")).send().await.is_err());
    assert_eq!(presented(&server, &ca).await, cert.der, "still serving");
}

#[tokio::test]
async fn the_certificate_is_reloaded_on_sighup_and_when_its_files_change() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let first = ca.server_cert(dir.path(), "server", "first");
    let mut server = Server::start(&[
        "--tls-cert",
        first.cert.to_str().unwrap(),
        "--tls-key",
        first.key.to_str().unwrap(),
    ]);
    server.client = ca.client();
    assert_eq!(presented(&server, &ca).await, first.der);

    // SIGHUP: new files of the same sizes and modification times, so only the signal can make
    // the server notice them.
    let staging = tempfile::tempdir().unwrap();
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    let mtime = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let second = loop {
        let c = ca.server_cert(staging.path(), "server", "first");
        if size(&c.cert) == size(&first.cert) && size(&c.key) == size(&first.key) {
            break c;
        }
    };
    let (cert_time, key_time) = (mtime(&first.cert), mtime(&first.key));
    std::fs::copy(&second.key, &first.key).unwrap();
    std::fs::copy(&second.cert, &first.cert).unwrap();
    for (path, time) in [(&first.key, key_time), (&first.cert, cert_time)] {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
    // Long enough for the file watcher to have looked (and seen nothing) at least once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        presented(&server, &ca).await,
        first.der,
        "unchanged stamps: no reload without the signal"
    );
    sighup(&server);
    until_presented(&server, &ca, &second, "SIGHUP").await;

    // A broken certificate file is refused; the one in use stays.
    std::fs::write(&first.cert, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    sighup(&server);
    let start = Instant::now();
    while !server.log_text().contains("TLS certificate not reloaded") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no warning logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(presented(&server, &ca).await, second.der);

    // New files, no signal: the watcher picks them up.
    let third = ca.server_cert(dir.path(), "server", "third");
    until_presented(&server, &ca, &third, "file change").await;
}

#[tokio::test]
async fn a_missing_or_mismatched_key_stops_the_start_with_a_clear_message() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let a = ca.server_cert(dir.path(), "a", "a");
    let b = ca.server_cert(dir.path(), "b", "b");
    let start = |cert: &std::path::Path, key: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bgops"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database"])
            .arg(format!("sqlite://{}", dir.path().join("x.db").display()))
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap()
    };
    let out = start(&a.cert, &b.key);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not belong to --tls-cert"), "{err}");
    let out = start(&a.cert, &dir.path().join("absent.key"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-key") && err.contains("absent.key"),
        "{err}"
    );
    // --tls-cert without --tls-key is a usage error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["serve", "--tls-cert"])
        .arg(&a.cert)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
