//! The storage error type.

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
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
    #[error("unsupported database URL '{0}': use sqlite://PATH")]
    UnsupportedUrl(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Backend(String),
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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}
