//! `bgops user …` and `bgops key …`: managing users and their API keys straight against a
//! database (`--database`, as `serve` takes it), for the first steps of an installation and for
//! operators without a running service. Changes made here reach a running node within its
//! authentication cache's time to live (`bgops_server::auth::CACHE_TTL`, 30 s); the Web API
//! makes them take effect at once on the node that serves the change.

mod key;
mod user;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bgops_core::{Clock, SystemClock, Timestamp};
use bgops_store::Store;
use clap::Args;

pub use key::KeyArgs;
pub use user::UserArgs;

/// The database a management command works on.
#[derive(Args, Debug)]
pub struct DatabaseArgs {
    /// Database: sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DATABASE.
    #[arg(
        long,
        env = "BGOPS_DATABASE",
        default_value = "sqlite://bgops.db",
        hide_env_values = true
    )]
    database: String,
    /// A file holding the PostgreSQL password, used when the URL has none.
    #[arg(long, env = "BGOPS_DATABASE_PASSWORD_FILE")]
    database_password_file: Option<PathBuf>,
}

impl DatabaseArgs {
    /// Opens (and migrates) the database, with the security model in place.
    async fn open(&self) -> anyhow::Result<(Arc<dyn Store>, Timestamp)> {
        let options = bgops_store::OpenOptions {
            password_file: self.database_password_file.clone(),
            ..Default::default()
        };
        let store = bgops_store::open_with(&self.database, &options)
            .await
            .with_context(|| format!("cannot open {}", bgops_store::shown_url(&self.database)))?;
        let now = SystemClock.now();
        let catalogue = bgops_core::catalogue::Catalogue::standard();
        bgops_server::auth::ensure_security_model(store.as_ref(), &catalogue, now).await?;
        Ok((store, now))
    }
}

/// Logs a change made from the command line to the audit log (who: the operating-system user).
fn audit(what: &'static str, subject: &str, detail: &str) {
    let who = std::env::var("USER").unwrap_or_else(|_| "-".to_owned());
    tracing::info!(
        target: bgops_server::audit::TARGET,
        event = what,
        peer = "cli",
        user = %who,
        subject,
        detail,
    );
}

/// A time for a table: Dataverse's form, or `-`.
fn time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), Timestamp::to_dataverse)
}
