//! The storage error type.

/// Why a storage call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or prepared at start-up.
    #[error("cannot open database {url}: {reason}")]
    Open {
        /// The URL as given.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The database URL names no backend this build supports.
    #[error(
        "unsupported database URL '{0}': use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE"
    )]
    UnsupportedUrl(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Backend(String),
    /// The database cannot be reached (connection refused or lost). Worth trying again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The write conflicted with another node's (a serialization failure or a deadlock) and
    /// was rolled back. Worth trying again at once.
    #[error("write conflict: {0}")]
    Conflict(String),
    /// The store was shut down while a call was pending.
    #[error("the store is closed")]
    Closed,
    /// The call does not fit the table it names: a column the table lacks, a value of the wrong
    /// type for its column, a keyset position of the wrong shape. A bug in the caller, never
    /// caused by stored data.
    #[error("invalid storage request: {0}")]
    InvalidRequest(String),
    /// A stored value could not be read back into the domain.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether a statement failed in the database (which aborts a PostgreSQL transaction:
    /// nothing else in it may commit), as opposed to a call the store refused by itself.
    pub fn failed_in_database(&self) -> bool {
        matches!(
            self,
            Self::Backend(_) | Self::Unavailable(_) | Self::Conflict(_)
        )
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        if let Some(db) = e.as_db_error() {
            let what = format!("{} ({})", db.message(), db.code().code());
            return match *db.code() {
                SqlState::T_R_SERIALIZATION_FAILURE | SqlState::T_R_DEADLOCK_DETECTED => {
                    StoreError::Conflict(what)
                }
                SqlState::ADMIN_SHUTDOWN
                | SqlState::CRASH_SHUTDOWN
                | SqlState::CANNOT_CONNECT_NOW
                | SqlState::TOO_MANY_CONNECTIONS => StoreError::Unavailable(what),
                _ => StoreError::Backend(what),
            };
        }
        if e.is_closed() {
            return StoreError::Unavailable("the connection to PostgreSQL is closed".to_owned());
        }
        // The cause chain says what failed; an I/O error underneath means the connection did.
        let mut what = e.to_string();
        let mut io = false;
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            io |= s.is::<std::io::Error>();
            what.push_str(": ");
            what.push_str(&s.to_string());
            source = s.source();
        }
        if io {
            StoreError::Unavailable(what)
        } else {
            StoreError::Backend(what)
        }
    }
}
