//! Direct access to a bgops SQLite file: reading when operations started and ended (the
//! columns hold milliseconds, finer than the API's seconds), waiting until the queue is empty,
//! loading a million rows while the server is stopped, and the raw-insert anchor.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use crate::load::now_ms;

/// The schema of the `backgroundoperation` table exactly as bgops creates it.
const SCHEMA_0001: &str =
    include_str!("../../bgops-store/migrations/sqlite/0001_backgroundoperation.sql");

/// Every column of `backgroundoperation` (migration 0001), in insertion order.
const INSERT_ALL: &str = "INSERT INTO backgroundoperation (backgroundoperationid, name, \
    displayname, backgroundoperationstatecode, backgroundoperationstatuscode, inputparameters, \
    outputparameters, starttime, endtime, retrycount, errorcode, errormessage, runas, priority, \
    ttlinseconds, createdon, modifiedon, createdby, versionnumber, attempt, maxretries, \
    nextattemptat, leaseowner, leaseexpiresat, expiresat, outputjson) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, NULL, NULL, ?10, ?11, ?12, ?13, ?14, ?15, \
    ?16, ?17, ?18, ?19, NULL, NULL, ?20, ?21)";

/// Opens `path` for reading beside a running server (WAL lets readers run beside its writer).
pub fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Rows still to run: Ready (0) plus those held under a lease. Uses bgops's partial indexes
/// when they exist, so counting stays cheap beside a million terminal rows.
pub fn outstanding(conn: &Connection) -> Result<i64> {
    let has_index = |name: &str| -> Result<bool> {
        Ok(conn.query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'index' AND name = ?1",
            [name],
            |r| r.get(0),
        )?)
    };
    let due = if has_index("ix_bo_due")? {
        "INDEXED BY ix_bo_due"
    } else {
        ""
    };
    let lease = if has_index("ix_bo_lease")? {
        "INDEXED BY ix_bo_lease"
    } else {
        ""
    };
    let ready: i64 = conn.query_row(
        &format!(
            "SELECT COUNT(*) FROM backgroundoperation {due} \
             WHERE backgroundoperationstatecode = 0"
        ),
        [],
        |r| r.get(0),
    )?;
    let leased: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM backgroundoperation {lease} WHERE leaseowner IS NOT NULL"),
        [],
        |r| r.get(0),
    )?;
    Ok(ready + leased)
}

/// Polls the file until no row is Ready or leased (every 20 ms near the end, less often
/// while many remain, so counting costs the server little); fails after `timeout`.
pub async fn wait_drained(path: &Path, timeout: Duration) -> Result<()> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open_reader(&path)?;
        let start = Instant::now();
        loop {
            let left = outstanding(&conn)?;
            if left == 0 {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("{left} operations still not finished after {timeout:?}");
            }
            let pause = if left < 2_000 { 20 } else { 200 };
            std::thread::sleep(Duration::from_millis(pause));
        }
    })
    .await?
}

/// When one operation was created, started and ended (ms since the epoch).
#[derive(Clone, Debug)]
pub struct Timing {
    /// The operation id.
    pub id: String,
    /// `starttime` (first attempt), if it ran.
    pub start: Option<i64>,
    /// `endtime`, if terminal.
    pub end: Option<i64>,
    /// `backgroundoperationstatuscode`.
    pub status: i64,
}

/// Timings of every operation of custom API `name` created at or after `since_ms`.
pub fn timings_since(path: &Path, since_ms: i64, name: &str) -> Result<Vec<Timing>> {
    let conn = open_reader(path)?;
    let mut stmt = conn.prepare(
        "SELECT backgroundoperationid, starttime, endtime, \
         backgroundoperationstatuscode FROM backgroundoperation \
         WHERE createdon >= ?1 AND name = ?2",
    )?;
    let rows = stmt.query_map(params![since_ms, name], |r| {
        Ok(Timing {
            id: r.get(0)?,
            start: r.get(1)?,
            end: r.get(2)?,
            status: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many operations started at or after `since_ms`, the first start and the last end.
pub fn window_since(path: &Path, since_ms: i64) -> Result<(i64, Option<i64>, Option<i64>)> {
    let conn = open_reader(path)?;
    Ok(conn.query_row(
        "SELECT COUNT(*), MIN(starttime), MAX(endtime) FROM backgroundoperation \
         WHERE starttime >= ?1",
        [since_ms],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// The shape of one real `bgops_Echo` row, copied to every row the harness writes itself.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    displayname: String,
    inputparameters: String,
    outputparameters: Option<String>,
    /// The status monitor's rendering of the outputs (a column since bgops's migration 0008).
    outputjson: Option<String>,
    runas: String,
    createdby: String,
    priority: i64,
    ttlinseconds: i64,
    maxretries: i64,
}

/// Reads the row `id` as a template.
pub fn template(path: &Path, id: &str) -> Result<Template> {
    let conn = open_reader(path)?;
    conn.query_row(
        "SELECT name, displayname, inputparameters, outputparameters, runas, createdby, \
         priority, ttlinseconds, maxretries, outputjson FROM backgroundoperation \
         WHERE backgroundoperationid = ?1",
        [id],
        |r| {
            Ok(Template {
                name: r.get(0)?,
                displayname: r.get(1)?,
                inputparameters: r.get(2)?,
                outputparameters: r.get(3)?,
                runas: r.get(4)?,
                createdby: r.get(5)?,
                priority: r.get(6)?,
                ttlinseconds: r.get(7)?,
                maxretries: r.get(8)?,
                outputjson: r.get(9)?,
            })
        },
    )
    .optional()?
    .with_context(|| format!("no row {id} in {}", path.display()))
}

/// The largest `versionnumber` handed out, so rows written here come after the server's: that of
/// any table, or bgops's version counter (migration 0009) when it is higher.
fn max_version(conn: &Connection) -> Result<i64> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut max = 0;
    for t in tables {
        let has: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = 'versionnumber'",
            [&t],
            |r| r.get(0),
        )?;
        if has {
            let v: Option<i64> = conn.query_row(
                &format!("SELECT MAX(versionnumber) FROM \"{t}\""),
                [],
                |r| r.get(0),
            )?;
            max = max.max(v.unwrap_or(0));
        }
    }
    if has_version_counter(conn)? {
        let last: i64 = conn.query_row("SELECT last FROM bgops_version", [], |r| r.get(0))?;
        max = max.max(last);
    }
    Ok(max)
}

/// Whether the file has bgops's version counter (migration 0009).
fn has_version_counter(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'bgops_version'",
        [],
        |r| r.get(0),
    )?)
}

/// Raises bgops's version counter to `version`, the highest written here, so the server's next
/// writes get higher ones. A file without the counter gets it seeded from the rows when the
/// server migrates it.
fn raise_version_counter(conn: &Connection, version: i64) -> Result<()> {
    if has_version_counter(conn)? {
        conn.execute("UPDATE bgops_version SET last = MAX(last, ?1)", [version])?;
    }
    Ok(())
}

/// What a bulk load wrote.
#[derive(Debug)]
pub struct BulkLoad {
    /// Rows written.
    pub rows: usize,
    /// Of which left Ready (0/0, due now).
    pub waiting: usize,
    /// Seconds the load took.
    pub secs: f64,
    /// Up to `sample` ids drawn at random from all rows written, for polling.
    pub sample: Vec<String>,
}

/// Which of the bulk-loaded rows are left waiting.
#[derive(Clone, Copy, Debug)]
pub enum Waiting {
    /// The newest `n` rows (as in a live table: work submitted lately waits, older work is
    /// done). With time-ordered ids they sit together at the end of the primary key.
    Newest(usize),
    /// Every `n`-th row, spread over the whole table: each waiting row on its own page, the
    /// worst case for the pages a claim and a completion write.
    Every(usize),
}

impl Waiting {
    fn is_waiting(self, i: usize, rows: usize) -> bool {
        match self {
            Waiting::Newest(n) => i + n >= rows,
            Waiting::Every(n) => i % n == 0,
        }
    }
}

/// Writes `rows` operations into the (stopped) server's file: the rows `waiting` picks are
/// Ready and due now, the others Succeeded (3/30, with outputs) — shaped like `template`.
pub fn bulk_load(
    path: &Path,
    template: &Template,
    rows: usize,
    waiting: Waiting,
    sample: usize,
) -> Result<BulkLoad> {
    use rand::seq::SliceRandom;

    let start = Instant::now();
    let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // Loading is set-up, not a measured figure: a large cache, no fsync per batch.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -1_048_576)?;
    let base_version = max_version(&conn)?;
    // Sorted ids make the primary-key B-tree grow at its end; creation times follow the ids.
    let mut ids: Vec<String> = (0..rows)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    ids.sort_unstable();
    let first_created = now_ms() as i64 - rows as i64 - 60_000;
    let ttl_ms = template.ttlinseconds * 1000;
    let layout = waiting;
    let mut waiting = 0;
    for (chunk_no, chunk) in ids.chunks(50_000).enumerate() {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(INSERT_ALL)?;
            for (j, id) in chunk.iter().enumerate() {
                let i = chunk_no * 50_000 + j;
                let created = first_created + i as i64;
                let version = base_version + 1 + i as i64;
                if layout.is_waiting(i, rows) {
                    waiting += 1;
                    stmt.execute(params![
                        id,
                        template.name,
                        template.displayname,
                        0,
                        0,
                        template.inputparameters,
                        Option::<String>::None,
                        Option::<i64>::None,
                        Option::<i64>::None,
                        template.runas,
                        template.priority,
                        template.ttlinseconds,
                        created,
                        created,
                        template.createdby,
                        version,
                        0,
                        template.maxretries,
                        created,
                        created + ttl_ms,
                        Option::<String>::None,
                    ])?;
                } else {
                    let end = created + 7;
                    stmt.execute(params![
                        id,
                        template.name,
                        template.displayname,
                        3,
                        30,
                        template.inputparameters,
                        template.outputparameters,
                        created + 5,
                        end,
                        template.runas,
                        template.priority,
                        template.ttlinseconds,
                        created,
                        end,
                        template.createdby,
                        version,
                        1,
                        template.maxretries,
                        created,
                        end + ttl_ms,
                        template.outputjson,
                    ])?;
                }
            }
        }
        tx.commit()?;
    }
    raise_version_counter(&conn, base_version + rows as i64)?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    drop(conn);
    let mut rng = rand::thread_rng();
    let sample: Vec<String> = ids.choose_multiple(&mut rng, sample).cloned().collect();
    Ok(BulkLoad {
        rows,
        waiting,
        secs: start.elapsed().as_secs_f64(),
        sample,
    })
}

/// The physical reference for submissions: `n` rows shaped like a new bgops submission
/// (Ready, random v4 ids) inserted with rusqlite into a fresh file with bgops's schema, WAL,
/// `synchronous=FULL`, `batch` rows per transaction. Returns the seconds taken.
pub fn raw_inserts(path: &Path, template: &Template, n: usize, batch: usize) -> Result<f64> {
    let mut conn =
        Connection::open(path).with_context(|| format!("creating {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA_0001)?;
    let ttl_ms = template.ttlinseconds * 1000;
    let start = Instant::now();
    let mut version = 0i64;
    let mut left = n;
    while left > 0 {
        let take = left.min(batch);
        let tx = conn.transaction()?;
        {
            // The statement bgops's store uses for a submission.
            let mut stmt = tx.prepare_cached(
                "INSERT INTO backgroundoperation (backgroundoperationid, name, displayname, \
                 backgroundoperationstatecode, backgroundoperationstatuscode, inputparameters, \
                 runas, priority, ttlinseconds, createdon, modifiedon, createdby, \
                 versionnumber, maxretries, nextattemptat, expiresat) \
                 VALUES (?1, ?2, ?3, 0, 0, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?8, ?12)",
            )?;
            for _ in 0..take {
                version += 1;
                let now = now_ms() as i64;
                stmt.execute(params![
                    uuid::Uuid::new_v4().to_string(),
                    template.name,
                    template.displayname,
                    template.inputparameters,
                    template.runas,
                    template.priority,
                    template.ttlinseconds,
                    now,
                    template.createdby,
                    version,
                    template.maxretries,
                    now + ttl_ms,
                ])?;
            }
        }
        tx.commit()?;
        left -= take;
    }
    Ok(start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns bgops added to the table after migration 0001, which bulk loads write too.
    const LATER_COLUMNS: &str =
        include_str!("../../bgops-store/migrations/sqlite/0008_output_json.sql");

    /// A fresh file with the table as bgops creates it and `n` raw submissions.
    fn with_schema(path: &Path, t: &Template, n: usize) {
        raw_inserts(path, t, n, 256).unwrap();
        Connection::open(path)
            .unwrap()
            .execute_batch(LATER_COLUMNS)
            .unwrap();
    }

    fn sample_template() -> Template {
        Template {
            name: "bgops_Echo".into(),
            displayname: "Echo".into(),
            inputparameters: r#"[{"Key":"Text","Value":"bench"}]"#.into(),
            outputparameters: Some(r#"[{"Key":"Text","Value":"bench"}]"#.into()),
            outputjson: Some(r#"{"Text":"bench"}"#.into()),
            runas: uuid::Uuid::new_v4().to_string(),
            createdby: uuid::Uuid::new_v4().to_string(),
            priority: 0,
            ttlinseconds: 7_776_000,
            maxretries: 3,
        }
    }

    #[test]
    fn raw_inserts_and_bulk_load_fit_the_bgops_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.db");
        let t = sample_template();
        with_schema(&path, &t, 600);
        let load = bulk_load(&path, &t, 1000, Waiting::Every(10), 50).unwrap();
        assert_eq!(load.waiting, 100);
        assert_eq!(load.sample.len(), 50);
        let conn = open_reader(&path).unwrap();
        // 600 submissions plus the 100 waiting rows of the load are outstanding.
        assert_eq!(outstanding(&conn).unwrap(), 700);
        let timings = timings_since(&path, 0, "bgops_Echo").unwrap();
        assert_eq!(timings.len(), 1600);
        assert_eq!(timings.iter().filter(|t| t.status == 30).count(), 900);
    }

    /// A bulk load continues from bgops's version counter and raises it past the rows it
    /// wrote, so the server's next writes get higher versions.
    #[test]
    fn bulk_load_raises_the_version_counter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counter.db");
        let t = sample_template();
        with_schema(&path, &t, 10);
        let conn = Connection::open(&path).unwrap();
        // The counter as bgops's migration 0009 creates it, above the rows (some were deleted).
        conn.execute_batch(
            "CREATE TABLE bgops_version (id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1), \
             last INTEGER NOT NULL); INSERT INTO bgops_version VALUES (1, 20);",
        )
        .unwrap();
        bulk_load(&path, &t, 100, Waiting::Every(10), 0).unwrap();
        let (min, max, last): (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT MIN(versionnumber) FROM backgroundoperation WHERE versionnumber > 10), \
                 (SELECT MAX(versionnumber) FROM backgroundoperation), \
                 (SELECT last FROM bgops_version)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((min, max, last), (21, 120, 120));
    }

    #[test]
    fn the_newest_rows_wait_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("newest.db");
        let t = sample_template();
        with_schema(&path, &t, 0);
        let load = bulk_load(&path, &t, 1000, Waiting::Newest(100), 0).unwrap();
        assert_eq!(load.waiting, 100);
        let conn = open_reader(&path).unwrap();
        assert_eq!(outstanding(&conn).unwrap(), 100);
        // The waiting rows are the last 100 by creation time and by id.
        let (min_waiting, max_done): (i64, i64) = first_waiting_last_done(&conn, "createdon");
        assert!(min_waiting > max_done, "{min_waiting} vs {max_done}");
        let (first_waiting, last_done): (String, String) =
            first_waiting_last_done(&conn, "backgroundoperationid");
        assert!(first_waiting > last_done);
    }

    /// The smallest `column` of a waiting row and the largest of a Succeeded one.
    fn first_waiting_last_done<T: rusqlite::types::FromSql>(
        conn: &Connection,
        column: &str,
    ) -> (T, T) {
        conn.query_row(
            &format!(
                "SELECT (SELECT MIN({column}) FROM backgroundoperation \
                 WHERE backgroundoperationstatecode = 0), \
                 (SELECT MAX({column}) FROM backgroundoperation \
                 WHERE backgroundoperationstatecode = 3)"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }
}
