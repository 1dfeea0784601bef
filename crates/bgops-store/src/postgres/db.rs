//! One way for the SQL modules to run statements, on the writer's connection or a pooled one:
//! every statement is prepared once per connection and cached by its text.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::StoreError;

/// `columns` (a `", "`-separated list) each prefixed with `alias.`, for a `RETURNING` list
/// of an `UPDATE … FROM` whose other tables have columns of the same names.
pub fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bound values of a statement.
pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A connection the SQL modules run statements on.
#[async_trait]
pub trait Db: Send + Sync {
    /// The statement for `sql`, prepared on this connection once.
    async fn prepared(&self, sql: &str) -> Result<Statement, StoreError>;

    /// The connection itself (for `batch_execute`).
    fn client(&self) -> &Client;

    /// Asks for a notification to the other nodes with this payload, sent with the commit of
    /// the current write transaction (see `listen`). Reads never ask.
    fn notify(&self, payload: String);

    /// Asks for the current write transaction to be committed durably even if every write in
    /// it was queued as lazy (see `Writer::run_lazy`): it wrote something a reader may see.
    fn durable(&self) {}

    /// Every row `sql` returns.
    async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        let st = self.prepared(sql).await?;
        Ok(self.client().query(&st, params).await?)
    }

    /// The one row `sql` returns, if any (more than one is an error).
    async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
        let st = self.prepared(sql).await?;
        Ok(self.client().query_opt(&st, params).await?)
    }

    /// The one row `sql` returns.
    async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, StoreError> {
        let st = self.prepared(sql).await?;
        Ok(self.client().query_one(&st, params).await?)
    }

    /// How many rows `sql` changed.
    async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        let st = self.prepared(sql).await?;
        Ok(self.client().execute(&st, params).await?)
    }
}

#[async_trait]
impl Db for deadpool_postgres::ClientWrapper {
    async fn prepared(&self, sql: &str) -> Result<Statement, StoreError> {
        Ok(self.prepare_cached(sql).await?)
    }

    fn client(&self) -> &Client {
        self
    }

    fn notify(&self, payload: String) {
        debug_assert!(false, "a read asked for a notification: {payload}");
    }
}

/// A connection with its own statement cache (the writer's).
pub struct CachedClient {
    /// The connection.
    client: Client,
    /// Statements prepared on it, by text.
    cache: Mutex<HashMap<String, Statement>>,
    /// Notifications asked for in the current transaction, each once.
    pending: Mutex<BTreeSet<String>>,
    /// A write of the current transaction asked for a durable commit.
    durable: std::sync::atomic::AtomicBool,
}

impl CachedClient {
    /// Wraps a fresh connection.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
            pending: Mutex::new(BTreeSet::new()),
            durable: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Takes the notifications asked for since the last call.
    pub fn take_notifications(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_iter()
        .collect()
    }

    /// Whether a write asked for a durable commit since the last call.
    pub fn take_durable(&self) -> bool {
        self.durable
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Statement>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Db for CachedClient {
    async fn prepared(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(st) = self.cache().get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql).await?;
        self.cache().insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    fn client(&self) -> &Client {
        &self.client
    }

    fn notify(&self, payload: String) {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(payload);
    }

    fn durable(&self) {
        self.durable
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
