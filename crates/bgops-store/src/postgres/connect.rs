//! Connections to PostgreSQL: the URL's settings, the password from the URL or `PGPASSWORD`,
//! and the schema every statement runs in.

use std::str::FromStr;

use tokio_postgres::{Client, Config, NoTls};

use crate::StoreError;

/// Opens connections with one set of settings (the writer's, the listener's, the pool's).
#[derive(Clone)]
pub struct Connector {
    /// Parsed from the `--database` URL.
    config: Config,
    /// The URL without its password, for messages and logs.
    shown: String,
}

impl Connector {
    /// Parses a `postgres://` or `postgresql://` URL (libpq's key words as query parameters,
    /// e.g. `?sslmode=disable&options=-c%20search_path%3Dbgops`). Without a password in the
    /// URL, `PGPASSWORD` is used when set.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let shown = without_password(url);
        let mut config = Config::from_str(url).map_err(|e| StoreError::Open {
            url: shown.clone(),
            reason: format!("not a valid PostgreSQL URL: {e}"),
        })?;
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("bgops");
        }
        Ok(Self { config, shown })
    }

    /// The URL as it may be shown (no password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The settings, for the read pool.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new connection; its I/O runs on a task of its own until the client is dropped.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// A new connection whose messages (notifications) the caller polls.
    pub async fn connect_raw(
        &self,
    ) -> Result<
        (
            Client,
            tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
        ),
        StoreError,
    > {
        Ok(self.config.connect(NoTls).await?)
    }
}

/// `url` with the password (if any) replaced by `***`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            without_password("postgres://u:secret@h:5432/db?sslmode=disable"),
            "postgres://u:***@h:5432/db?sslmode=disable"
        );
        assert_eq!(without_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(without_password("postgresql://h/db"), "postgresql://h/db");
    }

    #[test]
    fn a_malformed_url_is_refused_without_its_password() {
        let Err(StoreError::Open { url, reason }) =
            Connector::parse("postgres://u:secret@h:notaport/db")
        else {
            panic!("accepted");
        };
        assert!(!url.contains("secret"), "{url}");
        assert!(reason.contains("not a valid PostgreSQL URL"), "{reason}");
    }
}
