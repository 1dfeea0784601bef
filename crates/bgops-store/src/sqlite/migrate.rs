//! Embedded migrations, applied in order at start-up inside one transaction each.

use std::collections::HashSet;

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
    (
        9,
        include_str!("../../migrations/sqlite/0009_version_counter.sql"),
    ),
    (
        10,
        include_str!("../../migrations/sqlite/0010_idempotency.sql"),
    ),
    (
        11,
        include_str!("../../migrations/sqlite/0011_security.sql"),
    ),
    (
        12,
        include_str!("../../migrations/sqlite/0012_external_identity.sql"),
    ),
    (13, include_str!("../../migrations/sqlite/0013_trace.sql")),
    (
        14,
        include_str!("../../migrations/sqlite/0014_dashboard.sql"),
    ),
    (
        15,
        include_str!("../../migrations/sqlite/0015_attempt_history.sql"),
    ),
];

/// Applies every migration the database has not recorded, in order.
pub fn apply(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS bgops_schema_migrations (
            version INTEGER PRIMARY KEY NOT NULL,
            appliedon INTEGER NOT NULL
        )",
    )?;
    // Every migration not recorded yet, not only those above the highest: branches merged
    // later bring lower numbers (0011 arrived after 0012 was released).
    let applied: HashSet<i64> = conn
        .prepare("SELECT version FROM bgops_schema_migrations")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !applied.contains(v)) {
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

#[cfg(test)]
mod tests {
    use bgops_core::catalogue::Catalogue;

    use super::*;

    /// A database from before the version counter keeps growing: whichever table holds the
    /// highest version, the counter starts there.
    #[test]
    fn the_version_counter_starts_at_the_highest_stored_version() {
        let (before, counter) = MIGRATIONS.split_at(
            MIGRATIONS
                .iter()
                .position(|(v, _)| *v == 9)
                .expect("migration 9"),
        );
        let catalogue = Catalogue::standard();
        let versioned = catalogue
            .tables()
            .iter()
            .filter(|t| t.column("versionnumber").is_some())
            .map(|t| t.logical_name);
        for table in versioned {
            let conn = Connection::open_in_memory().unwrap();
            for (_, sql) in before {
                conn.execute_batch(sql).unwrap();
            }
            let exists: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            if !exists {
                // Created after the counter (0011's security tables): versioned by it from
                // the start.
                continue;
            }
            insert_with_version(&conn, table, 41);
            conn.execute_batch(counter[0].1).unwrap();
            let last: i64 = conn
                .query_row("SELECT last FROM bgops_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(last, 41, "the counter misses {table}");
        }
    }

    /// A database migrated by a build without 0011 (at 0012 already) gets 0011 all the same.
    #[test]
    fn a_lower_migration_merged_later_is_applied() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE bgops_schema_migrations (version INTEGER PRIMARY KEY NOT NULL, \
             appliedon INTEGER NOT NULL)",
        )
        .unwrap();
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v != 11) {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO bgops_schema_migrations (version, appliedon) VALUES (?1, 0)",
                [version],
            )
            .unwrap();
        }
        apply(&mut conn).unwrap();
        let keys: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'bgops_apikey')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(keys, "0011 applied after 0012");
        apply(&mut conn).unwrap();
    }

    /// Inserts a row into `table` with `versionnumber` = `version` and plain values elsewhere.
    fn insert_with_version(conn: &Connection, table: &str, version: i64) {
        let columns: Vec<(String, String)> = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .unwrap()
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let values: Vec<String> = columns
            .iter()
            .map(|(name, ty)| match (name.as_str(), ty.as_str()) {
                ("versionnumber", _) => version.to_string(),
                (_, "INTEGER") => "0".to_owned(),
                (_, "REAL") => "0.0".to_owned(),
                _ => "'x'".to_owned(),
            })
            .collect();
        conn.execute(
            &format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                values.join(", ")
            ),
            [],
        )
        .unwrap();
    }
}
