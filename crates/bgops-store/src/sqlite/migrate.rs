//! Embedded migrations, applied in order at start-up inside one transaction each.

use rusqlite::Connection;

/// `(version, SQL)` in order; a new migration is appended, never edited.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../migrations/sqlite/0001_backgroundoperation.sql"),
    ),
    (2, include_str!("../../migrations/sqlite/0002_tables.sql")),
    (3, include_str!("../../migrations/sqlite/0003_settings.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_definition_source.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite/0006_callbacks.sql"),
    ),
    (
        7,
        include_str!("../../migrations/sqlite/0007_system_jobs.sql"),
    ),
    (
        8,
        include_str!("../../migrations/sqlite/0008_output_json.sql"),
    ),
];

/// Applies every migration newer than the database's version.
pub fn apply(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS bgops_schema_migrations (
            version INTEGER PRIMARY KEY NOT NULL,
            appliedon INTEGER NOT NULL
        )",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM bgops_schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO bgops_schema_migrations (version, appliedon) VALUES (?1, strftime('%s','now'))",
            [version],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied migration");
    }
    Ok(())
}
