//! A fresh PostgreSQL schema per test, created on the server `BGOPS_TEST_POSTGRES` names
//! (default `postgres://postgres@127.0.0.1:5432/test`) and dropped when the test ends.
//!
//! These tests need that server: without one they fail, saying so, in CI and on a developer's
//! machine alike (README, "Running the tests").
#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use bgops_store::conformance::TestDatabase;
use bgops_store::postgres::PgStore;
use bgops_store::Store;

/// The server when `BGOPS_TEST_POSTGRES` is unset.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test server's URL.
pub fn server_url() -> String {
    std::env::var("BGOPS_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// One schema of the test server, empty until a store opens it.
pub struct PgSchema {
    /// `bgops_t_…`, unique to this test.
    pub schema: String,
    /// The server's URL with this schema as the search path.
    pub url: String,
}

impl PgSchema {
    /// Creates a new schema.
    pub async fn new() -> Self {
        let server = server_url();
        let schema = format!("bgops_t_{}", uuid::Uuid::new_v4().simple());
        let client = connect(&server).await;
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}options=-c%20search_path%3D{schema}");
        Self { schema, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        // A thread of its own: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = connect(&server_url()).await;
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await;
            });
        })
        .join();
    }
}

#[async_trait]
impl TestDatabase for PgSchema {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(
            PgStore::open(&self.url)
                .await
                .unwrap_or_else(|e| panic!("open the PostgreSQL store: {e}")),
        )
    }
}

/// A fresh schema and a store on it, for the suites that take `(guard, store)`.
pub async fn fresh_store() -> (PgSchema, Arc<dyn Store>) {
    let schema = PgSchema::new().await;
    let store = schema.open().await;
    (schema, store)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "\n\nThe PostgreSQL tests need a server and found none at {url}: {e}.\n\
                 Start PostgreSQL (see README, \"Running the tests\") or point \
                 BGOPS_TEST_POSTGRES at one (postgres://USER:PASSWORD@HOST:PORT/DATABASE).\n\n"
            )
        });
    tokio::spawn(connection);
    client
}
