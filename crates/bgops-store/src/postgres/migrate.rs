//! Embedded PostgreSQL migrations, applied in order at start-up, each in its own transaction,
//! by one node at a time: nodes starting together wait on an advisory lock, and the second
//! finds nothing left to do. A database whose schema is newer than this build is refused.

use std::collections::HashSet;

use tokio_postgres::Client;

use crate::StoreError;

/// `(version, SQL)` in order; a new migration is appended, never edited.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_schema.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_text_fold.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_idempotency.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_security.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_external_identity.sql"),
    ),
    (6, include_str!("../../migrations/postgres/0006_trace.sql")),
    (
        7,
        include_str!("../../migrations/postgres/0007_dashboard.sql"),
    ),
    (
        8,
        include_str!("../../migrations/postgres/0008_attempt_history.sql"),
    ),
];

/// The newest schema version this build knows.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Applies every migration the schema has not recorded, holding the migration lock of the
/// current schema (so other schemas of the same database migrate independently).
pub async fn apply(c: &Client) -> Result<(), StoreError> {
    c.batch_execute(
        "SELECT pg_advisory_lock(hashtext(current_setting('search_path') || '.bgops_migrate'))",
    )
    .await?;
    let result = apply_locked(c).await;
    let unlock = c
        .batch_execute("SELECT pg_advisory_unlock(hashtext(current_setting('search_path') || '.bgops_migrate'))")
        .await;
    result?;
    unlock?;
    Ok(())
}

async fn apply_locked(c: &Client) -> Result<(), StoreError> {
    let schema: Option<String> = c.query_one("SELECT current_schema()", &[]).await?.get(0);
    if schema.is_none() {
        // The search path names a schema that does not exist yet (a new installation given
        // `options=-c search_path=NAME`): create it.
        let path: String = c
            .query_one("SELECT current_setting('search_path')", &[])
            .await?
            .get(0);
        let first = path
            .split(',')
            .map(|s| s.trim().trim_matches('"'))
            .find(|s| !s.is_empty() && *s != "$user")
            .ok_or_else(|| {
                StoreError::Backend(format!(
                    "no schema to create bgops's tables in: the search_path '{path}' names none \
                     (set options=-c search_path=SCHEMA in the URL)"
                ))
            })?
            .to_owned();
        c.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\"",
            first.replace('"', "\"\"")
        ))
        .await
        .map_err(|e| {
            StoreError::Backend(format!(
                "cannot create schema {first}: {}",
                StoreError::from(e)
            ))
        })?;
        tracing::info!(schema = %first, "created the schema");
    }
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS bgops_schema_migrations (
            version   BIGINT PRIMARY KEY NOT NULL,
            appliedon TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let current: i64 = c
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM bgops_schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if current > LATEST {
        return Err(StoreError::Backend(format!(
            "the database's schema is at version {current}, newer than this bgops knows \
             ({LATEST}): run a bgops at least as new as the one that migrated it"
        )));
    }
    // Every migration not recorded yet, not only those above the highest: branches merged
    // later bring lower numbers (0004 arrived after 0005 was released).
    let applied: HashSet<i64> = c
        .query("SELECT version FROM bgops_schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !applied.contains(v)) {
        c.batch_execute("BEGIN").await?;
        let applied = async {
            c.batch_execute(sql).await?;
            c.execute(
                "INSERT INTO bgops_schema_migrations (version) VALUES ($1)",
                &[version],
            )
            .await?;
            c.batch_execute("COMMIT").await
        }
        .await;
        if let Err(e) = applied {
            let _ = c.batch_execute("ROLLBACK").await;
            return Err(StoreError::Backend(format!(
                "migration {version} failed: {}",
                StoreError::from(e)
            )));
        }
        tracing::info!(version, "applied migration");
    }
    Ok(())
}
