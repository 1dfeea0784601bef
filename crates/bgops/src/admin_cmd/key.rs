//! `bgops key create|list|revoke`.

use std::time::Duration;

use anyhow::bail;
use bgops_core::{Timestamp, UserId};
use bgops_store::NewApiKey;
use clap::{Args, Subcommand};

use super::{audit, time, DatabaseArgs};

/// Manage API keys.
#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

/// Longest key name.
const MAX_NAME: usize = 100;

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Create a key for a user and print it once (only its hash is stored).
    Create {
        /// The user's id.
        #[arg(long)]
        user: UserId,
        /// A name to tell the user's keys apart (`ci`, `laptop`).
        #[arg(long)]
        name: String,
        /// The key stops working after this long (`90d`, `12h`); never when absent.
        #[arg(long, value_parser = duration)]
        expires_in: Option<Duration>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List keys (never their secrets), of one user or all.
    List {
        /// Only this user's keys.
        #[arg(long)]
        user: Option<UserId>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke a key by its id: it stops working (on a running node within 30 s).
    Revoke {
        /// The key's id (from `bgops key list`).
        key: uuid::Uuid,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 12h or 90d ({e})"))
        .and_then(|d| {
            if d.is_zero() {
                Err("the expiry must be in the future".to_owned())
            } else {
                Ok(d)
            }
        })
}

impl KeyArgs {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            KeyCommand::Create {
                user,
                name,
                expires_in,
                db,
            } => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > MAX_NAME {
                    bail!("--name must be 1 to {MAX_NAME} characters");
                }
                let (store, now) = db.open().await?;
                let expires = expires_in.map(|d| now.plus(d));
                let token = bgops_server::auth::generate_token();
                let key = NewApiKey {
                    id: uuid::Uuid::new_v4(),
                    user,
                    name,
                    hash: bgops_server::auth::hash_token(&token),
                    expires,
                };
                let id = key.id;
                if !store.create_key(key, now).await? {
                    bail!("no user with id {user}");
                }
                audit("key_created", &user.to_string(), &format!("key={id}"));
                eprintln!(
                    "API key {id} for user {user}{} (shown once, keep it):",
                    expires.map_or(String::new(), |t: Timestamp| format!(
                        ", expires {}",
                        t.to_dataverse()
                    ))
                );
                println!("{token}");
                Ok(())
            }
            KeyCommand::List { user, db } => {
                let (store, _) = db.open().await?;
                println!(
                    "{:<36}  {:<36}  {:<16}  {:<20}  {:<20}  {:<20}  LAST USED",
                    "ID", "USER", "NAME", "CREATED", "EXPIRES", "REVOKED"
                );
                for k in store.list_keys(user).await? {
                    println!(
                        "{:<36}  {:<36}  {:<16}  {:<20}  {:<20}  {:<20}  {}",
                        k.id,
                        k.user,
                        k.name,
                        k.created.to_dataverse(),
                        time(k.expires),
                        time(k.revoked),
                        time(k.last_used)
                    );
                }
                Ok(())
            }
            KeyCommand::Revoke { key, db } => {
                let (store, now) = db.open().await?;
                if !store.revoke_key(key, now).await? {
                    bail!("no unrevoked key with id {key}");
                }
                audit("key_revoked", &key.to_string(), "");
                println!("{key} revoked");
                Ok(())
            }
        }
    }
}
