//! Behind a reverse proxy: `Forwarded` and `X-Forwarded-*` are honoured only from
//! `--trusted-proxy` peers, so `Location`, callbacks' `location` and `@odata.nextLink` carry the
//! public URL; `--public-url` sets it outright; by default no proxy is trusted.

mod common;

use common::Server;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

const CALLBACK_FLAGS: [&str; 2] = ["--callback-allow-http", "--callback-allow-private"];

/// Submits bgops_Echo with a callback and `headers`; returns `Location` and the body's
/// `location`.
async fn submit(server: &Server, headers: &[(&str, &str)]) -> (String, String) {
    let mut req = server
        .req(reqwest::Method::POST, "/api/data/v9.2/bgops_Echo")
        .header(
            "Prefer",
            "respond-async, odata.callback; url=\"http://127.0.0.1:9/callback\"",
        )
        .json(&json!({"Text": "hi"}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    (location, body["location"].as_str().unwrap().to_owned())
}

/// The `@odata.nextLink` of a one-row page of operations, with `headers`.
async fn next_link(server: &Server, headers: &[(&str, &str)]) -> String {
    let mut h = HeaderMap::new();
    h.insert("Prefer", "odata.maxpagesize=1".parse().unwrap());
    for (k, v) in headers {
        h.append(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let page: Value = server
        .req(
            reqwest::Method::GET,
            "/api/data/v9.2/backgroundoperations?$select=name",
        )
        .headers(h)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["@odata.nextLink"]
        .as_str()
        .unwrap_or_else(|| panic!("a next link: {page}"))
        .to_owned()
}

const FORWARDED: (&str, &str) = (
    "Forwarded",
    "for=198.51.100.7;proto=https;host=ops.contoso.example",
);

#[tokio::test]
async fn forwarding_headers_from_untrusted_peers_are_ignored() {
    let server = Server::start(&CALLBACK_FLAGS);
    let headers = [
        FORWARDED,
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
    ];
    let (location, body_location) = submit(&server, &headers).await;
    assert!(
        location.starts_with(&format!("{}/api/backgroundoperation/", server.base)),
        "{location}"
    );
    assert_eq!(body_location, location);
    submit(&server, &[]).await;
    assert!(next_link(&server, &headers)
        .await
        .starts_with(&format!("{}/api/data/v9.2/", server.base)));
}

#[tokio::test]
async fn a_trusted_proxy_sets_the_public_url_of_every_link() {
    let mut flags = vec!["--trusted-proxy", "127.0.0.1/32"];
    flags.extend(CALLBACK_FLAGS);
    let server = Server::start(&flags);
    let public = "https://ops.contoso.example/api/backgroundoperation/";
    let (location, body_location) = submit(&server, &[FORWARDED]).await;
    assert!(location.starts_with(public), "{location}");
    assert_eq!(body_location, location, "the callback's location too");
    // X-Forwarded-* when there is no Forwarded header.
    let (location, _) = submit(
        &server,
        &[
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "ops.contoso.example:8443"),
        ],
    )
    .await;
    assert!(
        location.starts_with("https://ops.contoso.example:8443/api/backgroundoperation/"),
        "{location}"
    );
    // A chain is read from the right: what the client forged to the left of the first
    // untrusted hop is ignored.
    let (location, _) = submit(
        &server,
        &[(
            "Forwarded",
            "for=10.9.9.9;host=forged.example;proto=http, for=198.51.100.7;proto=https;host=ops.contoso.example",
        )],
    )
    .await;
    assert!(location.starts_with(public), "{location}");
    assert!(next_link(&server, &[FORWARDED])
        .await
        .starts_with("https://ops.contoso.example/api/data/v9.2/backgroundoperations?"));
    // A malformed host is not used.
    let (location, _) = submit(
        &server,
        &[("Forwarded", "for=198.51.100.7;host=\"evil.example/path\"")],
    )
    .await;
    assert!(location.starts_with(&server.base), "{location}");
}

#[tokio::test]
async fn the_public_url_sets_every_link_outright() {
    let mut flags = vec!["--public-url", "https://bgops.example.com/jobs/"];
    flags.extend(CALLBACK_FLAGS);
    let server = Server::start(&flags);
    let (location, body_location) = submit(&server, &[FORWARDED]).await;
    assert!(
        location.starts_with("https://bgops.example.com/jobs/api/backgroundoperation/"),
        "{location}"
    );
    assert_eq!(body_location, location);
    submit(&server, &[]).await;
    assert!(next_link(&server, &[])
        .await
        .starts_with("https://bgops.example.com/jobs/api/data/v9.2/backgroundoperations?"));
    // A bad --public-url stops the start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["serve", "--public-url", "ftp://nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--public-url"));
}
