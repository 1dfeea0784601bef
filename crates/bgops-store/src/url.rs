//! Database URLs (`--database`) and opening the store they name.

use std::path::PathBuf;
use std::sync::Arc;

use crate::sqlite::SqliteStore;
use crate::{Store, StoreError};

/// A parsed `--database` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: an embedded SQLite file (relative to the working directory, or absolute
    /// with `sqlite:///abs/path`).
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses `sqlite://…`; anything else is refused with a message naming the accepted forms.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl(url.to_owned()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// Opens (creating and migrating if needed) the store a URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(path) => {
            let store = SqliteStore::open(&path).await.map_err(|e| match e {
                StoreError::Open { .. } => e,
                other => StoreError::Open {
                    url: url.to_owned(),
                    reason: other.to_string(),
                },
            })?;
            Ok(Arc::new(store))
        }
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
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
