//! `bgops user …` and `bgops key …` against a database, then a server on that database honours
//! what they did: a created key works (once shown, never listed), a revoked key and a disabled
//! user's key do not, and mistakes are clear errors.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Server;
use reqwest::StatusCode;
use serde_json::Value;

fn bgops(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bgops"))
        .env_remove("RUST_LOG")
        .env_remove("BGOPS_DATABASE")
        .args(args)
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .expect("run bgops")
}

/// Runs a command that must succeed; returns its standard output, trimmed.
fn ok(db: &Path, args: &[&str]) -> String {
    let out = bgops(db, args);
    assert!(
        out.status.success(),
        "bgops {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs a command that must fail; returns its standard error.
fn fails(db: &Path, args: &[&str]) -> String {
    let out = bgops(db, args);
    assert_eq!(out.status.code(), Some(2), "bgops {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

async fn who_am_i(s: &Server, key: &str) -> (StatusCode, Value) {
    let resp = s
        .client
        .get(s.url("/api/data/v9.2/WhoAmI()"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn users_and_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bgops.db");

    let alice = ok(
        &db,
        &[
            "user",
            "add",
            "--name",
            "Alice",
            "--email",
            "alice@example.com",
        ],
    );
    assert!(
        alice.parse::<uuid::Uuid>().is_ok(),
        "prints the id: {alice}"
    );
    let key = ok(&db, &["key", "create", "--user", &alice, "--name", "ci"]);
    assert!(key.starts_with("bgops_") && key.len() > 40, "{key}");
    let second = ok(
        &db,
        &[
            "key",
            "create",
            "--user",
            &alice,
            "--name",
            "laptop",
            "--expires-in",
            "1h",
        ],
    );
    let bob = ok(
        &db,
        &[
            "user",
            "add",
            "--name",
            "Bob",
            "--role",
            "Basic User",
            "--role",
            "delegate",
        ],
    );
    let bob_key = ok(&db, &["key", "create", "--user", &bob, "--name", "bob"]);

    let users = ok(&db, &["user", "list"]);
    let line = |id: &str| {
        users
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} listed:\n{users}"))
            .to_owned()
    };
    assert!(line(&alice).contains("Alice") && line(&alice).contains("Basic User"));
    assert!(
        line(&bob).contains("Basic User, Delegate"),
        "{}",
        line(&bob)
    );
    assert!(line(&bob).contains("enabled"));

    let keys = ok(&db, &["key", "list", "--user", &alice]);
    assert_eq!(keys.lines().count(), 3, "a header and two keys:\n{keys}");
    assert!(keys.contains(" ci ") && keys.contains(" laptop "));
    assert!(
        !keys.contains(&key) && !keys.contains(&second),
        "no secret listed"
    );
    let laptop_id = keys
        .lines()
        .find(|l| l.contains(" laptop "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(ok(&db, &["key", "revoke", &laptop_id]).contains("revoked"));
    assert!(ok(&db, &["user", "disable", &bob]).contains("disabled"));
    assert!(line_of(&ok(&db, &["user", "list"]), &bob).contains("disabled"));

    // Mistakes.
    let ghost = uuid::Uuid::new_v4().to_string();
    assert!(
        fails(&db, &["user", "add", "--name", "X", "--role", "Nobody"])
            .contains("no role named 'Nobody'")
    );
    assert!(
        fails(&db, &["key", "create", "--user", &ghost, "--name", "x"]).contains("no user with id")
    );
    assert!(fails(&db, &["key", "revoke", &laptop_id]).contains("no unrevoked key"));
    assert!(fails(&db, &["user", "disable", &ghost]).contains("no user with id"));
    assert!(fails(&db, &["user", "add", "--name", "  "]).contains("--name"));

    // A server on that database.
    let s = Server::start_on(&db, &[]);
    let (status, who) = who_am_i(&s, &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(who["UserId"], alice.as_str());
    assert_eq!(
        who_am_i(&s, &second).await.0,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
    assert_eq!(
        who_am_i(&s, &bob_key).await.0,
        StatusCode::UNAUTHORIZED,
        "disabled"
    );
    // Alice is a Basic User: she may submit.
    let resp = s
        .client
        .post(s.url("/api/data/v9.2/sample_ExportDataUsingFetchXmlToAnnotation"))
        .bearer_auth(&key)
        .header("Prefer", "respond-async")
        .json(&serde_json::json!({"FetchXml": "<fetch><entity name='account'><attribute name='name'/></entity></fetch>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    drop(s);

    // Last use is recorded.
    let keys = ok(&db, &["key", "list", "--user", &alice]);
    let ci = keys.lines().find(|l| l.contains(" ci ")).unwrap();
    assert!(!ci.trim_end().ends_with('-'), "last use recorded: {ci}");
}

fn line_of(list: &str, id: &str) -> String {
    list.lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_default()
        .to_owned()
}
