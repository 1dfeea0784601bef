//! The PostgreSQL server of a run (`--postgres URL`): the URLs handed to bgops nodes and peers
//! (a fresh schema each, an `application_name` that names the run), the harness's own
//! connections, and reading bgops's `backgroundoperation` table (starttime and endtime in
//! milliseconds) straight from the database.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio_postgres::{Client, NoTls};

use crate::db::Timing;

/// The server and this run's names on it.
#[derive(Clone, Debug)]
pub struct PgServer {
    /// The URL as given, with `sslmode=disable` added when it names no `sslmode`: every client
    /// of a run (bgops, peers, the harness) then talks plain TCP to the local server alike.
    base: String,
    /// Prefix of every schema, database and `application_name` of this run.
    pub run: String,
}

impl PgServer {
    /// Parses `--postgres`.
    pub fn new(url: &str) -> Result<Self> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("--postgres must be a postgres:// URL, not {url}");
        }
        if url.contains("options=") || url.contains("application_name=") {
            bail!("--postgres must not set options or application_name: the harness sets them");
        }
        let mut base = url.to_owned();
        if !url.contains("sslmode=") {
            base.push(if url.contains('?') { '&' } else { '?' });
            base.push_str("sslmode=disable");
        }
        let run = format!("bgbench_{}", std::process::id());
        Ok(Self { base, run })
    }

    /// The `application_name` prefix of every connection a measured process of this run opens.
    pub fn app_prefix(&self) -> String {
        format!("{}_", self.run)
    }

    /// The URL for a measured client `who` whose objects live in `schema` (if any): its
    /// connections carry `application_name = <run>_<who>` (so their backends are found in
    /// `pg_stat_activity`) and, with a schema, `-c search_path=<schema>`.
    pub fn url(&self, who: &str, schema: Option<&str>) -> String {
        let mut url = format!("{}&application_name={}{who}", self.base, self.app_prefix());
        if let Some(s) = schema {
            url.push_str(&format!("&options=-c%20search_path%3D{s}"));
        }
        url
    }

    /// The same server, database `db` instead of the URL's.
    pub fn with_database(&self, db: &str) -> Result<PgServer> {
        let (head, query) = self.base.split_once('?').unwrap_or((&self.base, ""));
        let slash = head
            .rfind('/')
            .filter(|i| *i > "postgres://".len())
            .context("the --postgres URL names no database")?;
        Ok(PgServer {
            base: format!("{}/{db}?{query}", &head[..slash]),
            run: self.run.clone(),
        })
    }

    /// A connection of the harness itself (not counted as a measured backend).
    pub async fn connect(&self) -> Result<Client> {
        let url = format!("{}&application_name=bgops-bench-control", self.base);
        connect(&url).await
    }
}

/// Connects to `url` without TLS (the URL's `sslmode` is `disable` or `prefer`).
pub async fn connect(url: &str) -> Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Drops `schema` and everything in it, if it exists.
pub async fn drop_schema(c: &Client, schema: &str) -> Result<()> {
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .with_context(|| format!("dropping schema {schema}"))
}

/// Rows of bgops's `backgroundoperation` in `schema` still to run: Ready, or `bgops_Echo`
/// leased (a blocker `bgops_Delay` running meanwhile is not waited for).
pub async fn outstanding(c: &Client, schema: &str) -> Result<i64> {
    let row = c
        .query_one(
            &format!(
                "SELECT (SELECT COUNT(*) FROM \"{schema}\".backgroundoperation \
                 WHERE backgroundoperationstatecode = 0) + \
                 (SELECT COUNT(*) FROM \"{schema}\".backgroundoperation \
                 WHERE leaseowner IS NOT NULL AND name = 'bgops_Echo')"
            ),
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Polls until no bgops operation in `schema` is Ready or leased (every 20 ms near the end);
/// fails after `timeout`.
pub async fn wait_drained(c: &Client, schema: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let left = outstanding(c, schema).await?;
        if left == 0 {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("{left} operations in schema {schema} still not finished after {timeout:?}");
        }
        let pause = if left < 2_000 { 20 } else { 200 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Timings of every operation of custom API `name` in `schema` created at or after `since_ms`.
pub async fn timings_since(
    c: &Client,
    schema: &str,
    since_ms: i64,
    name: &str,
) -> Result<Vec<Timing>> {
    let rows = c
        .query(
            &format!(
                "SELECT backgroundoperationid, starttime, endtime, backgroundoperationstatuscode \
                 FROM \"{schema}\".backgroundoperation WHERE createdon >= $1 AND name = $2"
            ),
            &[&since_ms, &name],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Timing {
            id: r.get(0),
            start: r.get(1),
            end: r.get(2),
            status: r.get(3),
        })
        .collect())
}

/// Counts rows of `sql` (one `COUNT(*)` column) every 20 ms until `done` accepts the count or
/// `timeout` passes; returns the last count and whether the time ran out.
pub async fn wait_count(
    c: &Client,
    sql: &str,
    done: impl Fn(i64) -> bool,
    timeout: Duration,
) -> Result<(i64, bool)> {
    let start = Instant::now();
    loop {
        let n: i64 = c.query_one(sql, &[]).await?.get(0);
        if done(n) {
            return Ok((n, false));
        }
        if start.elapsed() > timeout {
            return Ok((n, true));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_run_and_the_schema() {
        let s = PgServer::new("postgres://postgres@127.0.0.1:5432/test").unwrap();
        let u = s.url("bgops_a", Some("bgbench_1_one"));
        assert!(u.starts_with("postgres://postgres@127.0.0.1:5432/test?sslmode=disable&"));
        assert!(u.contains(&format!("application_name={}bgops_a", s.app_prefix())));
        assert!(u.ends_with("&options=-c%20search_path%3Dbgbench_1_one"));
        let d = s.with_database("scratch").unwrap();
        assert!(d
            .url("x", None)
            .starts_with("postgres://postgres@127.0.0.1:5432/scratch?sslmode=disable&"));
        let t = PgServer::new("postgresql://u@h/db?sslmode=prefer").unwrap();
        assert!(t
            .url("x", None)
            .starts_with("postgresql://u@h/db?sslmode=prefer&"));
        assert!(PgServer::new("postgres://h/db?options=x").is_err());
    }
}
