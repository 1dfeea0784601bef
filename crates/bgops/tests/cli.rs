//! Start-up behaviour of `bgops serve`: clear errors for bad flags and unopenable databases,
//! flags from `BGOPS_*` environment variables, and the generated administrator key.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn bgops() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bgops"));
    c.env_remove("RUST_LOG");
    c
}

#[test]
fn unopenable_database_is_a_clear_start_up_error() {
    let out = bgops()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "sqlite:///nonexistent-dir/sub/bgops.db",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open database sqlite:///nonexistent-dir/sub/bgops.db"),
        "{err}"
    );
}

#[test]
fn unsupported_database_url_is_refused() {
    let out = bgops()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "mysql://localhost/x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unsupported database URL 'mysql://localhost/x'"),
        "{err}"
    );
}

#[test]
fn bad_flags_are_refused_with_the_reason() {
    for (args, needle) in [
        (
            vec!["--attempt-timeout", "soon"],
            "not a duration like 200ms, 30s or 90d",
        ),
        (vec!["--lease", "10ms"], "--lease must be at least 300ms"),
        (vec!["--workers", "0"], "--workers"),
        (vec!["--max-retries", "101"], "--max-retries"),
        (vec!["--listen", "nowhere"], "--listen"),
        (vec!["--listen-backlog", "0"], "--listen-backlog"),
        (vec!["--listen-backlog", "70000"], "--listen-backlog"),
        (
            vec!["--claim-ahead", "lots"],
            "not a duration like 200ms, 30s or 90d",
        ),
    ] {
        let out = bgops()
            .arg("serve")
            .args(&args)
            .args(["--database", "sqlite:///nonexistent-dir/never-opened.db"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = bgops()
        .args(["serve", "--listen", &addr])
        .arg("--database")
        .arg(format!("sqlite://{}", dir.path().join("x.db").display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

/// Starts `bgops serve` with `env`, returning the child and its printed lines up to the
/// listening line.
fn start_with_env(env: &[(&str, String)]) -> (std::process::Child, Vec<String>) {
    let mut cmd = bgops();
    cmd.arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.starts_with("bgops listening on ");
        lines.push(line);
        if done {
            break;
        }
    }
    (child, lines)
}

/// The listen backlog asked for is the one the kernel holds (`ss` shows a listening socket's
/// backlog as its Send-Q).
#[test]
fn the_listen_backlog_reaches_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("BGOPS_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "BGOPS_DATABASE",
            format!("sqlite://{}", dir.path().join("backlog.db").display()),
        ),
        ("BGOPS_LISTEN_BACKLOG", "77".to_owned()),
    ];
    let (mut child, lines) = start_with_env(&env);
    let base = lines
        .last()
        .unwrap()
        .trim_start_matches("bgops listening on ")
        .to_owned();
    let port = base.rsplit(':').next().unwrap().to_owned();
    let ss = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("`ss` (iproute2) lists the listening socket");
    let listed = String::from_utf8_lossy(&ss.stdout).to_string();
    let _ = child.kill();
    let _ = child.wait();
    // State, Recv-Q (connections waiting to be accepted), Send-Q (the backlog), address.
    let fields: Vec<&str> = listed.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"LISTEN"), "{listed}");
    assert_eq!(fields.get(2), Some(&"77"), "{listed}");
}

#[tokio::test]
async fn flags_come_from_bgops_environment_variables_and_a_fresh_database_prints_a_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("env.db").display());
    let env = [
        ("BGOPS_LISTEN", "127.0.0.1:0".to_owned()),
        ("BGOPS_DATABASE", db.clone()),
        ("BGOPS_POLL_RETRY_AFTER", "9s".to_owned()),
        ("BGOPS_WORKERS", "1".to_owned()),
    ];
    let (mut child, lines) = start_with_env(&env);
    let key_line = lines
        .iter()
        .find(|l| l.starts_with("Bootstrap System Administrator API key"))
        .expect("a fresh database prints the generated key");
    let key = key_line.rsplit(' ').next().unwrap().to_owned();
    assert!(key.starts_with("bgops_"), "{key_line}");
    let base = lines
        .last()
        .unwrap()
        .trim_start_matches("bgops listening on ")
        .to_owned();

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .post(format!("{base}/api/data/v9.2/bgops_Delay"))
        .bearer_auth(&key)
        .header("Prefer", "respond-async")
        .json(&serde_json::json!({"DelayMs": 2000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let status = client
        .get(&location)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(status.headers()["retry-after"], "9");
    let _ = child.kill();
    let _ = child.wait();

    // The second start on the same database prints no key, and the first key still works.
    let (mut child, lines) = start_with_env(&env);
    assert!(
        !lines.iter().any(|l| l.contains("API key")),
        "the key is printed only once: {lines:?}"
    );
    let base = lines
        .last()
        .unwrap()
        .trim_start_matches("bgops listening on ")
        .to_owned();
    let status = client
        .get(format!(
            "{base}/api/backgroundoperation/{}",
            location.rsplit('/').next().unwrap()
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// Logs written to a file carry no ANSI colour codes (standard error is not a terminal there).
#[tokio::test]
async fn logs_to_a_file_have_no_colour_codes() {
    let s = common::Server::start(&[]);
    let id = s
        .submit("bgops_Echo", serde_json::json!({"Text": "hi"}))
        .await;
    s.wait_terminal(&id, std::time::Duration::from_secs(10))
        .await;
    let log = s.log_text();
    assert!(log.contains("INFO"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in a log file:\n{log}"
    );
}

/// `--log-format json` writes one JSON object per line, with the level and the message.
#[tokio::test]
async fn log_format_json_writes_one_object_per_line() {
    let s = common::Server::start(&["--log-format", "json"]);
    let id = s
        .submit("bgops_Echo", serde_json::json!({"Text": "hi"}))
        .await;
    s.wait_terminal(&id, std::time::Duration::from_secs(10))
        .await;
    let log = s.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no log lines");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(v["fields"].is_object(), "{line}");
    }
}

/// An unknown log format is refused with the choices.
#[test]
fn unknown_log_format_is_refused() {
    let out = bgops()
        .args(["serve", "--log-format", "xml"])
        .output()
        .expect("run bgops");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("text") && err.contains("json"), "{err}");
}
