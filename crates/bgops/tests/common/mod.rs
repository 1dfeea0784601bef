//! Test harness: runs the real `bgops` binary on a real SQLite file and talks to it over HTTP
//! on loopback.
#![allow(dead_code)]

pub mod custom_apis;
pub mod idp;
pub mod metadata;
pub mod pki;
pub mod users;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

/// The admin token every test server is started with.
pub const TOKEN: &str = "test-admin-token";

/// A running `bgops serve`.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The SQLite file.
    pub db: PathBuf,
    /// Standard error of the process (logs).
    pub log: PathBuf,
    pub client: reqwest::Client,
    /// Keeps the temporary directory alive.
    _dir: Option<tempfile::TempDir>,
}

/// Flags that make tests fast: short retry delays and leases.
pub const FAST: &[&str] = &["--retry-base-delay", "50ms", "--lease", "2s"];

impl Server {
    /// Starts a server on a fresh database in a new temporary directory.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("bgops.db");
        let mut s = Server::start_on(&db, extra);
        s._dir = Some(dir);
        s
    }

    /// Starts a server on `db` (which may already hold data).
    pub fn start_on(db: &Path, extra: &[&str]) -> Server {
        let log = db.with_extension(format!(
            "{}.log",
            std::process::id() as u64 * 1000 + rand_suffix()
        ));
        Server::spawn(
            &format!("sqlite://{}", db.display()),
            db,
            log,
            extra,
            "info",
        )
    }

    /// Starts a server on the database `url` names (a PostgreSQL schema, say), writing its log
    /// into `log_dir`, with the engine's debug lines (one per finished attempt) so a test can
    /// tell which node ran what.
    pub fn start_url(url: &str, log_dir: &Path, extra: &[&str]) -> Server {
        let log = log_dir.join(format!(
            "bgops-{}.log",
            std::process::id() as u64 * 1000 + rand_suffix()
        ));
        Server::spawn(
            url,
            &log_dir.join("unused.db"),
            log,
            extra,
            "info,bgops_engine=debug",
        )
    }

    fn spawn(database: &str, db: &Path, log: PathBuf, extra: &[&str], rust_log: &str) -> Server {
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_bgops"))
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--database")
            .arg(database)
            .arg("--admin-token")
            .arg(TOKEN)
            .args(extra)
            .args(if extra.contains(&"--demo-data") {
                &[][..]
            } else {
                &["--demo-data", "false"][..]
            })
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn bgops");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("bgops listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.trim().to_owned());
                    }
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "bgops did not start; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server {
            child,
            base,
            db: db.to_owned(),
            log,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with the admin token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
    }

    /// Submits `api` in the background; returns the operation id.
    pub async fn submit(&self, api: &str, body: Value) -> String {
        let resp = self
            .req(reqwest::Method::POST, &format!("/api/data/v9.2/{api}"))
            .header("Prefer", "respond-async")
            .json(&body)
            .send()
            .await
            .expect("submit");
        assert_eq!(
            resp.status(),
            StatusCode::ACCEPTED,
            "submit {api}: {:?}",
            resp.text().await
        );
        resp.headers()["x-ms-dyn-backgroundoperationid"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// GET of the status monitor.
    pub async fn status(&self, id: &str) -> (StatusCode, HeaderMap, Value) {
        let resp = self
            .req(
                reqwest::Method::GET,
                &format!("/api/backgroundoperation/{id}"),
            )
            .send()
            .await
            .expect("status");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// The row as the Web API shows it.
    pub async fn row(&self, id: &str) -> Value {
        let resp = self
            .req(
                reqwest::Method::GET,
                &format!("/api/data/v9.2/backgroundoperations({id})"),
            )
            .send()
            .await
            .expect("row");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.expect("row json")
    }

    /// Polls the status monitor until the operation is terminal (state 3).
    pub async fn wait_terminal(&self, id: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (_, _, body) = self.status(id).await;
            if body["backgroundOperationStateCode"] == 3 {
                return body;
            }
            assert!(
                start.elapsed() < timeout,
                "operation {id} not terminal after {timeout:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the status code is `status`.
    pub async fn wait_status(&self, id: &str, status: i64, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (_, _, body) = self.status(id).await;
            if body["backgroundOperationStatusCode"] == status {
                return body;
            }
            assert!(
                start.elapsed() < timeout,
                "operation {id} never reached status {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM.
    pub fn sigterm(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "bgops did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

pub fn assert_json_headers(h: &HeaderMap, what: &str) {
    let ct = h
        .get("content-type")
        .unwrap_or_else(|| panic!("{what}: no Content-Type"))
        .to_str()
        .unwrap();
    assert_eq!(
        ct, "application/json; odata.metadata=minimal",
        "{what}: Content-Type"
    );
    assert_eq!(
        h.get("odata-version")
            .unwrap_or_else(|| panic!("{what}: no OData-Version"))
            .to_str()
            .unwrap(),
        "4.0",
        "{what}: OData-Version"
    );
}

/// Asserts an error with the given status (and code, when given); returns the message.
pub async fn expect_error(
    resp: reqwest::Response,
    status: u16,
    code: Option<&str>,
    what: &str,
) -> String {
    let got = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: HTTP status; body: {text}");
    assert_json_headers(&headers, what);
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: body not JSON ({e}): {text}"));
    let got_code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.code: {body}"));
    assert!(
        got_code.starts_with("0x") && got_code == got_code.to_lowercase(),
        "{what}: code {got_code}"
    );
    if let Some(code) = code {
        assert_eq!(got_code, code, "{what}: error code; body: {body}");
    }
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.message: {body}"))
        .to_owned()
}

/// PostgreSQL for the black-box tests: a fresh schema per test on the server
/// `BGOPS_TEST_POSTGRES` names (default `postgres://postgres@127.0.0.1:5432/test`), dropped
/// when the test ends. Tests using it need that server and fail, saying so, without one.
pub mod pg {
    /// The test server's URL.
    pub fn server_url() -> String {
        std::env::var("BGOPS_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    /// One schema; `url` is the server's URL with it as the search path.
    pub struct Schema {
        pub name: String,
        pub url: String,
    }

    impl Schema {
        pub async fn new() -> Schema {
            let server = server_url();
            let name = format!("bgops_t_{}", uuid::Uuid::new_v4().simple());
            connect(&server)
                .await
                .batch_execute(&format!("CREATE SCHEMA {name}"))
                .await
                .expect("create schema");
            let sep = if server.contains('?') { '&' } else { '?' };
            let url = format!("{server}{sep}options=-c%20search_path%3D{name}");
            Schema { name, url }
        }

        /// A connection to the schema, for assertions the HTTP API cannot make.
        pub async fn client(&self) -> tokio_postgres::Client {
            connect(&self.url).await
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            let name = self.name.clone();
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(async {
                        let _ = connect(&server_url())
                            .await
                            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                            .await;
                    });
            })
            .join();
        }
    }

    async fn connect(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "\n\nThis test needs PostgreSQL and found none at {url}: {e}.\n\
                     Start PostgreSQL (README, \"Running the tests\") or point \
                     BGOPS_TEST_POSTGRES at one.\n\n"
                )
            });
        tokio::spawn(connection);
        client
    }
}
