//! `bgops user add|list|disable|enable`.

use anyhow::{bail, Context};
use bgops_core::UserId;
use bgops_store::{CreateUserOutcome, NewUser};
use clap::{Args, Subcommand};

use super::{audit, DatabaseArgs};

/// Manage users.
#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user; prints its id.
    Add {
        /// Full name.
        #[arg(long)]
        name: String,
        /// E-mail address (`internalemailaddress`).
        #[arg(long)]
        email: Option<String>,
        /// Entra object id (`azureactivedirectoryobjectid`), for `CallerObjectId` and tokens.
        #[arg(long)]
        object_id: Option<uuid::Uuid>,
        /// A role to give, by name (repeatable): `Basic User` (the default), `Delegate`,
        /// `System Administrator`, or any role in the database.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List users with their roles.
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Disable a user: their keys stop working (on a running node within 30 s).
    Disable {
        /// The user's id.
        user: UserId,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's id.
        user: UserId,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

impl UserArgs {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            UserCommand::Add {
                name,
                email,
                object_id,
                roles,
                db,
            } => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 200 {
                    bail!("--name must be 1 to 200 characters");
                }
                let (store, now) = db.open().await?;
                let names = if roles.is_empty() {
                    vec!["Basic User".to_owned()]
                } else {
                    roles
                };
                let mut ids = Vec::new();
                for r in &names {
                    let id = store
                        .find_role(r)
                        .await?
                        .with_context(|| format!("no role named '{r}'"))?;
                    ids.push(id);
                }
                let id = UserId::new_random();
                let outcome = store
                    .create_user(
                        NewUser {
                            id,
                            full_name: name.clone(),
                            email,
                            object_id,
                            roles: ids,
                        },
                        None,
                        now,
                    )
                    .await?;
                match outcome {
                    CreateUserOutcome::Created => {}
                    CreateUserOutcome::Duplicate => {
                        bail!("a user with this Entra object id exists already")
                    }
                    CreateUserOutcome::UnknownRole(r) => bail!("no role with id {r}"),
                }
                audit(
                    "user_created",
                    &id.to_string(),
                    &format!("roles={}", names.join(",")),
                );
                println!("{id}");
                Ok(())
            }
            UserCommand::List { db } => {
                let (store, _) = db.open().await?;
                println!(
                    "{:<36}  {:<8}  {:<24}  {:<30}  ROLES",
                    "ID", "STATE", "NAME", "EMAIL"
                );
                for u in store.list_users().await? {
                    println!(
                        "{:<36}  {:<8}  {:<24}  {:<30}  {}",
                        u.id,
                        if u.disabled { "disabled" } else { "enabled" },
                        u.full_name,
                        u.email.as_deref().unwrap_or("-"),
                        u.roles.join(", ")
                    );
                }
                Ok(())
            }
            UserCommand::Disable { user, db } => set_disabled(db, user, true).await,
            UserCommand::Enable { user, db } => set_disabled(db, user, false).await,
        }
    }
}

async fn set_disabled(db: DatabaseArgs, user: UserId, disabled: bool) -> anyhow::Result<()> {
    let (store, now) = db.open().await?;
    if !store.set_user_disabled(user, disabled, now).await? {
        bail!("no user with id {user}");
    }
    let what = if disabled {
        "user_disabled"
    } else {
        "user_enabled"
    };
    audit(what, &user.to_string(), "");
    println!("{user} {}", if disabled { "disabled" } else { "enabled" });
    Ok(())
}
