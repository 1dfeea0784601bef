//! `bgops serve --config FILE`: the file's values apply, a flag or a `BGOPS_*` variable
//! overrides them, unknown keys and bad values are refused naming the key, and the example
//! file in docs/ is a working configuration.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `bgops serve` started from the test's arguments and environment.
struct Node {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str], env: &[(&str, &str)]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("bgops.db").display());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bgops"));
    cmd.arg("serve")
        .args(args)
        .args(["--database", &db])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("bgops listening on ") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("bgops did not start");
    Node {
        child,
        base,
        _dir: dir,
    }
}

fn write(dir: &Path, text: &str) -> String {
    let path = dir.join("bgops.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The status monitor's Retry-After for a running operation, and the number of accounts (the
/// demo data), read with `token`.
async fn observe(node: &Node, token: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/data/v9.2/bgops_Delay", node.base))
        .bearer_auth(token)
        .header("Prefer", "respond-async")
        .json(&serde_json::json!({"DelayMs": 60_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "submit with {token}");
    let monitor = resp.headers()["location"].to_str().unwrap().to_owned();
    let resp = http.get(&monitor).bearer_auth(token).send().await.unwrap();
    let retry_after = resp.headers()["retry-after"].to_str().unwrap().to_owned();
    let count = http
        .get(format!("{}/api/data/v9.2/accounts/$count", node.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (retry_after, count)
}

const FILE: &str = r#"
# Everything from the file.
listen = "127.0.0.1:0"
admin_token = "file-token"
poll_retry_after = "7s"
demo_data = false
workers = 2
"#;

#[tokio::test]
async fn the_file_applies_and_flags_and_env_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), FILE);

    let node = start(&["--config", &file], &[]);
    assert_eq!(observe(&node, "file-token").await, ("7".into(), "0".into()));
    drop(node);

    // A flag wins over the file.
    let node = start(&["--config", &file, "--poll-retry-after", "3s"], &[]);
    assert_eq!(observe(&node, "file-token").await.0, "3");
    drop(node);

    // So does a BGOPS_* variable; the file itself named by BGOPS_CONFIG.
    let node = start(
        &[],
        &[
            ("BGOPS_CONFIG", &file),
            ("BGOPS_POLL_RETRY_AFTER", "5s"),
            ("BGOPS_ADMIN_TOKEN", "env-token"),
        ],
    );
    assert_eq!(observe(&node, "env-token").await, ("5".into(), "0".into()));
}

#[tokio::test]
async fn the_example_file_is_a_working_configuration() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/bgops.example.toml");
    let node = start(
        &[
            "--config",
            example,
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            "t",
        ],
        &[],
    );
    let (retry_after, accounts) = observe(&node, "t").await;
    assert_eq!(retry_after, "60");
    assert_ne!(accounts, "0", "demo_data = true seeds accounts");
}

#[test]
fn unknown_keys_and_bad_values_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, message) in [
        ("lease_time = \"3s\"\n", "unknown key 'lease_time'"),
        ("config = \"other.toml\"\n", "unknown key 'config'"),
        (
            "lease = \"soon\"\n",
            "key 'lease': invalid value 'soon' for '--lease <LEASE>': 'soon' is not a duration",
        ),
        (
            "max_retries = 101\n",
            "key 'max_retries': invalid value '101'",
        ),
        (
            "callback_allow_http = \"yes\"\n",
            "key 'callback_allow_http': must be true or false",
        ),
        (
            "lease = [\"1s\"]\n",
            "key 'lease': takes one value, not a list",
        ),
        ("lease = \n", "is not valid TOML"),
    ] {
        let file = write(dir.path(), text);
        let out = Command::new(env!("CARGO_BIN_EXE_bgops"))
            .args(["serve", "--config", &file, "--listen", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(message), "{text}: {err}");
        assert!(err.contains(&file), "the error names the file: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_bgops"))
        .args(["serve", "--config", "/nonexistent/bgops.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read the configuration file /nonexistent/bgops.toml"));
}
