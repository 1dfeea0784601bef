//! A small pool of read-only connections, used from blocking threads, or on the calling thread
//! for reads short enough that a hop to a blocking thread would cost more than the read.

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::StoreError;

/// Read connections handed out one per blocking task.
pub struct ReadPool {
    /// Idle connections.
    idle: Mutex<Vec<Connection>>,
    /// As many permits as connections, so a caller waits instead of finding the pool empty.
    permits: Semaphore,
}

impl ReadPool {
    /// A pool over these connections.
    pub fn new(conns: Vec<Connection>) -> Self {
        let n = conns.len();
        Self {
            idle: Mutex::new(conns),
            permits: Semaphore::new(n),
        }
    }

    /// Runs `f` on the calling thread if a connection is idle, else like [`ReadPool::run`].
    ///
    /// For reads that take microseconds (one row by primary key): the round trip to a blocking
    /// thread and back (two wake-ups) cost more than the read itself, and was the largest part
    /// of a status monitor request. Such a read blocks the async worker thread for as long as
    /// it takes, which is why only short reads may use this.
    pub async fn run_short<R, F>(self: &std::sync::Arc<Self>, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let Ok(_permit) = self.permits.try_acquire() else {
            return self.run(f).await;
        };
        self.with_idle(f)
    }

    /// Runs `f` with a read connection on a blocking thread.
    pub async fn run<R, F>(self: &std::sync::Arc<Self>, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.with_idle(f))
            .await
            .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }

    /// Runs `f` on an idle connection on this thread and puts the connection back. The caller
    /// holds a permit, so one is idle.
    fn with_idle<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let conn = self
            .idle
            .lock()
            .map_err(|_| StoreError::Closed)?
            .pop()
            .ok_or(StoreError::Closed)?;
        let result = f(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
    }
}
