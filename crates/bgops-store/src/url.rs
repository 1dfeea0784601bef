//! Database URLs (`--database`) and opening the store they name.

use std::path::PathBuf;
use std::sync::Arc;

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{Store, StoreError};

/// A parsed `--database` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: an embedded SQLite file (relative to the working directory, or absolute
    /// with `sqlite:///abs/path`).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`: a PostgreSQL database that several nodes share (the
    /// URL as given, with libpq's key words as query parameters).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://…`, `postgres://…` or `postgresql://…`; anything else is refused with a
    /// message naming the accepted forms.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl(url.to_owned()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// The URL as it may be shown in a message or a log line: any password replaced by `***`.
pub fn shown_url(url: &str) -> String {
    crate::postgres::shown_url(url)
}

/// How to open a store, beyond its URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// A file holding the database password (PostgreSQL), e.g. a mounted secret: its content
    /// without the trailing line break. It comes before `PGPASSWORD`, after a password in the
    /// URL.
    pub password_file: Option<PathBuf>,
    /// Told about every write transaction (metrics: batch sizes and commit times).
    pub observer: crate::WriterObserver,
}

/// Opens (creating and migrating if needed) the store a URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &OpenOptions::default()).await
}

/// Opens the store a URL names, with `options`.
pub async fn open_with(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>, StoreError> {
    match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(path) => {
            let store = SqliteStore::open_observed(&path, options.observer.clone())
                .await
                .map_err(|e| match e {
                    StoreError::Open { .. } => e,
                    other => StoreError::Open {
                        url: url.to_owned(),
                        reason: other.to_string(),
                    },
                })?;
            Ok(Arc::new(store))
        }
        DatabaseUrl::Postgres(url) => Ok(Arc::new(
            PgStore::open_observed(
                &url,
                options.password_file.as_deref(),
                options.observer.clone(),
            )
            .await?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://bgops.db").unwrap(),
            DatabaseUrl::Sqlite("bgops.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/bgops.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/bgops.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db?sslmode=disable").unwrap(),
            DatabaseUrl::Postgres("postgresql://u@h/db?sslmode=disable".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
