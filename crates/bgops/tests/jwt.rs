//! Bearer JWTs from identity providers, through the real binary: keys from a local https
//! identity provider (OpenID configuration and JWKS on loopback, certificate from a test CA)
//! or from a JWKS file; RS256 and ES256; rotation to a new `kid`; expired tokens, other
//! audiences, other issuers and HS256 refused with 401 and the challenge the .NET client reads.

mod common;

use common::idp::{claims, sign_hs256, unix, Idp, SigningKey};
use common::pki::TestCa;
use common::{expect_error, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

const AUD: &str = "https://contoso.crm.dynamics.com";
const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OID_A: &str = "2a4b1c0e-5d3f-4e6a-8b7c-9d0e1f2a3b4c";
const OID_B: &str = "6e5d4c3b-2a19-4807-b6a5-f4e3d2c1b0a9";

/// Starts bgops accepting tokens of `idp` (its CA trusted), with `extra` flags.
fn serve(idp: &Idp, ca_file: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--jwt-issuer",
        &idp.issuer,
        "--jwt-audience",
        AUD,
        "--jwt-ca-file",
        ca_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// `WhoAmI` with `token`: the user id, or the response when it is not 200.
async fn who_am_i(server: &Server, token: &str) -> Result<String, reqwest::Response> {
    let resp = server
        .client
        .get(server.url("/api/data/v9.2/WhoAmI()"))
        .bearer_auth(token)
        .send()
        .await
        .expect("WhoAmI");
    if resp.status() != StatusCode::OK {
        return Err(resp);
    }
    let body: Value = resp.json().await.expect("json");
    Ok(body["UserId"].as_str().expect("UserId").to_owned())
}

/// A 401 with the Dataverse code, the reason, and the challenge header.
async fn expect_refused(resp: reqwest::Response, challenge: &str, reason: &str, what: &str) {
    assert_eq!(
        resp.headers().get_all("www-authenticate").iter().count(),
        1,
        "{what}: one challenge"
    );
    let header = resp
        .headers()
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"))
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(header, challenge, "{what}: challenge");
    let message = expect_error(resp, 401, Some("0x80044306"), what).await;
    assert!(
        message.contains(reason),
        "{what}: message '{message}' should say '{reason}'"
    );
}

#[tokio::test]
async fn tokens_of_a_remote_issuer_sign_users_in_and_bad_ones_are_refused() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let es = SigningKey::es256("es-1");
    let rs = SigningKey::rs256("rs-1");
    let idp = Idp::start(&ca, &[&es, &rs]).await;
    let server = serve(&idp, &ca_file, &["--jwt-auto-provision"]);
    // A generic issuer: the challenge names the issuer itself and the first audience.
    let challenge = format!("Bearer authorization_uri={}, resource_id={AUD}", idp.issuer);

    // ES256 and RS256 both sign in; the first token creates the user, later ones find it.
    let good = claims(&idp.issuer, AUD, TID, OID_A);
    let user_a = who_am_i(&server, &es.sign(&good)).await.expect("ES256");
    assert_eq!(
        who_am_i(&server, &rs.sign(&good)).await.expect("RS256"),
        user_a,
        "the same (tid, oid) is the same user"
    );
    // The audience with a trailing slash is the same resource.
    let slash = claims(&idp.issuer, &format!("{AUD}/"), TID, OID_A);
    assert_eq!(
        who_am_i(&server, &es.sign(&slash)).await.expect("aud/"),
        user_a
    );
    let user_b = who_am_i(&server, &es.sign(&claims(&idp.issuer, AUD, TID, OID_B)))
        .await
        .expect("another user");
    assert_ne!(user_a, user_b);
    assert_ne!(user_a, "", "a real id");
    // A provisioned user is no administrator: the admin-only systemusers list shows both
    // users under their Entra object ids.
    let users: Value = server
        .req(
            reqwest::Method::GET,
            "/api/data/v9.2/systemusers?$select=fullname,azureactivedirectoryobjectid,domainname",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = users["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["systemuserid"] == user_a.as_str())
        .unwrap_or_else(|| panic!("user {user_a} listed: {users}"));
    assert_eq!(row["azureactivedirectoryobjectid"], OID_A);
    assert_eq!(row["fullname"], "Test User");
    assert_eq!(row["domainname"], "test.user@contoso.example");

    // No token: the challenge the official .NET client probes for.
    let resp = server
        .client
        .get(server.url("/api/data/v9.2/WhoAmI()"))
        .send()
        .await
        .unwrap();
    expect_refused(resp, &challenge, "Authorization: Bearer", "no token").await;

    let mut expired = good.clone();
    expired["exp"] = json!(unix(-3600));
    expired["nbf"] = json!(unix(-7200));
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", es.sign(&expired), "expired"),
        (
            "other audience",
            es.sign(&claims(
                &idp.issuer,
                "https://other.crm.dynamics.com",
                TID,
                OID_A,
            )),
            "another audience",
        ),
        (
            "wrong issuer",
            es.sign(&claims("https://evil.example", AUD, TID, OID_A)),
            "issuer is not accepted",
        ),
        (
            "HS256 without the dev flag",
            sign_hs256("shared-secret", &good),
            "HS256",
        ),
        (
            "not yet valid",
            es.sign(&{
                let mut c = good.clone();
                c["nbf"] = json!(unix(3600));
                c
            }),
            "not valid yet",
        ),
        (
            "signed by a key the issuer does not publish",
            SigningKey::es256("es-1").sign(&good),
            "signature does not verify",
        ),
        (
            "no oid or sub",
            es.sign(&json!({"iss": idp.issuer, "aud": AUD, "exp": unix(600)})),
            "names no user",
        ),
        ("garbage", "eyJhbGciOi.eyJ.x".to_owned(), "well-formed"),
    ];
    for (what, token, reason) in cases {
        let resp = who_am_i(&server, &token).await.expect_err(what);
        expect_refused(resp, &challenge, reason, what).await;
    }
    // API keys still work beside tokens.
    let resp = server
        .req(reqwest::Method::GET, "/api/data/v9.2/WhoAmI()")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Every refusal was logged, without the token.
    let log = server.log_text();
    assert!(log.contains("authentication_failed"), "audit lines: {log}");
    assert!(
        !log.contains(&es.sign(&expired)[..40]),
        "no token in the log"
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_on_its_first_token_and_unknown_kids_do_not_hammer_the_issuer() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let old = SigningKey::es256("2026-11");
    let new = SigningKey::es256("2026-12");
    let idp = Idp::start(&ca, &[&old]).await;
    let eager = serve(
        &idp,
        &ca_file,
        &["--jwt-auto-provision", "--jwt-jwks-min-refresh", "0s"],
    );
    let slow = serve(
        &idp,
        &ca_file,
        &["--jwt-auto-provision", "--jwt-jwks-min-refresh", "1h"],
    );
    let token_old = old.sign(&claims(&idp.issuer, AUD, TID, OID_A));
    let token_new = new.sign(&claims(&idp.issuer, AUD, TID, OID_A));

    let user = who_am_i(&eager, &token_old).await.expect("old key");
    who_am_i(&slow, &token_old).await.expect("old key");
    assert_eq!(idp.fetches(), 2, "one fetch per server");
    // Unknown to both before the rotation.
    assert!(who_am_i(&eager, &token_new).await.is_err());

    idp.publish(&[&old, &new]);
    assert_eq!(
        who_am_i(&eager, &token_new)
            .await
            .expect("new key after rotation"),
        user
    );
    let fetched = idp.fetches();

    // The slow server fetched less than an hour ago: it does not fetch again for a new kid.
    for _ in 0..5 {
        let resp = who_am_i(&slow, &token_new)
            .await
            .expect_err("not fetched yet");
        expect_error(resp, 401, Some("0x80044306"), "unknown kid").await;
    }
    assert_eq!(
        idp.fetches(),
        fetched,
        "no fetch within --jwt-jwks-min-refresh"
    );
    // A valid cached token costs no fetch either.
    for _ in 0..5 {
        who_am_i(&eager, &token_new).await.expect("cached");
    }
    assert_eq!(idp.fetches(), fetched);
}

#[tokio::test]
async fn a_jwks_file_serves_entra_v1_and_v2_issuers_without_any_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::rs256("entra-key");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [key.jwk]}).to_string()).unwrap();
    let v1 = format!("https://sts.windows.net/{TID}/");
    let v2 = format!("https://login.microsoftonline.com/{TID}/v2.0");
    let client_id = "00000007-0000-0000-c000-000000000000";
    let server = Server::start(&[
        "--jwt-issuer",
        &v1,
        "--jwt-issuer",
        &v2,
        "--jwt-audience",
        AUD,
        "--jwt-audience",
        client_id,
        "--jwt-jwks-file",
        jwks.to_str().unwrap(),
    ]);
    let challenge = format!(
        "Bearer authorization_uri=https://login.microsoftonline.com/{TID}/oauth2/authorize, resource_id={AUD}"
    );
    // Without --jwt-auto-provision an unknown user is refused, whatever the token's version.
    for (iss, aud) in [(&v1, AUD), (&v2, client_id)] {
        let token = key.sign(&claims(iss, aud, TID, OID_A));
        let resp = who_am_i(&server, &token).await.expect_err("unknown user");
        expect_refused(resp, &challenge, "no user has the token's object id", iss).await;
    }
    // A bad --jwt-jwks-file stops the start with a message naming it.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"not\":\"keys\"}").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}", dir.path().join("x.db").display()))
        .args([
            "--jwt-issuer",
            &v1,
            "--jwt-audience",
            AUD,
            "--jwt-jwks-file",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json") && err.contains("JWK Set"), "{err}");
}

#[tokio::test]
async fn hs256_is_accepted_only_with_the_dev_flag_and_provisions_users() {
    let server = Server::start(&[
        "--jwt-issuer",
        "https://dev.example",
        "--jwt-audience",
        "bgops",
        "--jwt-dev-hs256-secret",
        "dev-secret-of-at-least-some-length",
        "--jwt-auto-provision",
    ]);
    let claims = json!({"iss": "https://dev.example", "aud": "bgops", "sub": "alice",
                        "exp": unix(600)});
    let user = who_am_i(
        &server,
        &sign_hs256("dev-secret-of-at-least-some-length", &claims),
    )
    .await
    .expect("HS256 with the dev secret");
    assert_eq!(
        who_am_i(
            &server,
            &sign_hs256("dev-secret-of-at-least-some-length", &claims)
        )
        .await
        .expect("again"),
        user
    );
    let resp = who_am_i(&server, &sign_hs256("another-secret", &claims))
        .await
        .expect_err("wrong secret");
    expect_error(resp, 401, Some("0x80044306"), "wrong secret").await;
}
