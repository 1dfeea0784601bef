//! One way for the SQL modules to run statements, on the writer's connection or a pooled one:
//! every statement is prepared once per connection and cached by its text.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::StoreError;

/// Bound values of a statement.
pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A connection the SQL modules run statements on.
#[async_trait]
pub trait Db: Send + Sync {
    /// The statement for `sql`, prepared on this connection once.
    async fn prepared(&self, sql: &str) -> Result<Statement, StoreError>;

    /// The connection itself (for `batch_execute`).
    fn client(&self) -> &Client;

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
}

/// A connection with its own statement cache (the writer's).
pub struct CachedClient {
    /// The connection.
    client: Client,
    /// Statements prepared on it, by text.
    cache: Mutex<HashMap<String, Statement>>,
}

impl CachedClient {
    /// Wraps a fresh connection.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
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
}
