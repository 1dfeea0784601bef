//! The PostgreSQL server's own limit, from the same driver bgops uses (tokio-postgres), for
//! rows shaped like a bgops submission in a table created by bgops's own migration (in a
//! scratch schema), with the statement bgops's store uses:
//!
//! - single-row commits: `--concurrency` connections, each INSERT its own transaction;
//! - 256 rows per transaction on one connection, one INSERT round trip per row (the shape of
//!   bgops's group-commit writer without its savepoints);
//! - the same with `SAVEPOINT job` / `RELEASE SAVEPOINT job` around each row, as the writer
//!   runs every job (`crates/bgops-store/src/postgres/writer.rs`): the cost of those round trips;
//! - 256 rows in one `INSERT … SELECT FROM unnest(…)` per transaction: the batched ceiling.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::Client;

use super::*;
use crate::pg::{self, PgServer};
use crate::pgcpu::{PgCpu, PgMeter};

/// bgops's PostgreSQL schema.
const SCHEMA: &str = include_str!("../../../bgops-store/migrations/postgres/0001_schema.sql");

/// The statement bgops's store inserts a submission with.
const INSERT: &str = "INSERT INTO backgroundoperation (backgroundoperationid, name, \
     displayname, backgroundoperationstatecode, backgroundoperationstatuscode, \
     inputparameters, runas, priority, ttlinseconds, createdon, modifiedon, createdby, \
     versionnumber, maxretries, nextattemptat, expiresat, callbackurl, location) \
     VALUES ($1, $2, $3, 0, 0, $4, $5, $6, $7, $8, $8, $9, nextval('bgops_version_seq'), \
     $10, $8, $8::bigint + $7::bigint * 1000, $11, $12)";

/// The same rows, 256 in one statement.
const INSERT_UNNEST: &str = "INSERT INTO backgroundoperation (backgroundoperationid, name, \
     displayname, backgroundoperationstatecode, backgroundoperationstatuscode, \
     inputparameters, runas, priority, ttlinseconds, createdon, modifiedon, createdby, \
     versionnumber, maxretries, nextattemptat, expiresat) \
     SELECT id, 'bgops_Echo', 'Echo', 0, 0, $2, $3, 0, 7776000, $4, $4, $3, \
     nextval('bgops_version_seq'), 3, $4, $4 + 7776000000 FROM unnest($1::text[]) AS id";

const INPUT: &str =
    r#"[{"Key":"Text","Value":"bench"},{"Key":"Number","Value":42},{"Key":"Flag","Value":true}]"#;

/// One way of writing rows.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Written {
    pub rows: usize,
    pub secs: f64,
    pub rate: f64,
    pub cpu: PgCpu,
    pub cpu_per_1k: f64,
}

/// The server's limit, four ways.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Limit {
    pub single_commits: Written,
    pub batched_statements: Written,
    pub batched_savepoints: Written,
    pub batched_unnest: Written,
}

async fn insert_one(c: &Client, user: &str) -> Result<()> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms() as i64;
    c.execute(
        INSERT,
        &[
            &id,
            &"bgops_Echo",
            &"Echo",
            &INPUT,
            &user,
            &0i64,
            &7_776_000i64,
            &now,
            &user,
            &3i64,
            &Option::<String>::None,
            &Option::<String>::None,
        ],
    )
    .await?;
    Ok(())
}

/// How a batch of 256 is written.
#[derive(Clone, Copy)]
enum Batch {
    Statements,
    Savepoints,
    Unnest,
}

async fn batched(c: &Client, n: usize, how: Batch, user: &str) -> Result<()> {
    let mut left = n;
    while left > 0 {
        let take = left.min(256);
        c.batch_execute("BEGIN").await?;
        match how {
            Batch::Unnest => {
                let ids: Vec<String> = (0..take)
                    .map(|_| uuid::Uuid::new_v4().to_string())
                    .collect();
                c.execute(INSERT_UNNEST, &[&ids, &INPUT, &user, &(now_ms() as i64)])
                    .await?;
            }
            Batch::Statements | Batch::Savepoints => {
                for _ in 0..take {
                    let sp = matches!(how, Batch::Savepoints);
                    if sp {
                        c.batch_execute("SAVEPOINT job").await?;
                    }
                    insert_one(c, user).await?;
                    if sp {
                        c.batch_execute("RELEASE SAVEPOINT job").await?;
                    }
                }
            }
        }
        c.batch_execute("COMMIT").await?;
        left -= take;
    }
    Ok(())
}

fn written(rows: usize, secs: f64, cpu: PgCpu) -> Written {
    note_noise(&cpu.as_cpu_use());
    Written {
        rows,
        secs,
        rate: rows as f64 / secs,
        cpu_per_1k: PgCpu::per_thousand(cpu.total(), rows),
        cpu,
    }
}

/// Measures the four ways on a scratch schema, dropped afterwards.
pub(super) async fn server_limit(
    args: &BenchArgs,
    pg: &PgServer,
    control: Arc<Client>,
) -> Result<Limit> {
    let schema = format!("{}_limit", pg.run);
    pg::drop_schema(&control, &schema).await?;
    control
        .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
        .await?;
    let result = measure(args, pg, control.clone(), &schema).await;
    pg::drop_schema(&control, &schema).await?;
    result
}

async fn measure(
    args: &BenchArgs,
    pg: &PgServer,
    control: Arc<Client>,
    schema: &str,
) -> Result<Limit> {
    let url = pg.url("limit", Some(schema));
    let setup = pg::connect(&url).await?;
    setup.batch_execute(SCHEMA).await?;
    let user = uuid::Uuid::new_v4().to_string();
    let n = args.n;
    let prefix = pg.app_prefix();

    // Single-row commits from `concurrency` connections.
    let mut clients = Vec::new();
    for _ in 0..args.concurrency {
        clients.push(pg::connect(&url).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let meter = PgMeter::start(control.clone(), &prefix, &[]).await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (next, user) = (next.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                insert_one(&c, &user).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    let single_commits = written(n, secs, meter.stop().await);
    println!(
        "server limit: single-row commits from {} connections {:.0}/s",
        args.concurrency, single_commits.rate
    );

    let mut out = Vec::new();
    for how in [Batch::Statements, Batch::Savepoints, Batch::Unnest] {
        let meter = PgMeter::start(control.clone(), &prefix, &[]).await;
        let start = Instant::now();
        batched(&setup, n, how, &user).await?;
        let secs = start.elapsed().as_secs_f64();
        out.push(written(n, secs, meter.stop().await));
    }
    let [batched_statements, batched_savepoints, batched_unnest] =
        <[Written; 3]>::try_from(out).expect("three");
    println!(
        "server limit, 256 rows per transaction on one connection: one INSERT each {:.0}/s, \
         with SAVEPOINT/RELEASE each {:.0}/s, one INSERT … unnest {:.0}/s",
        batched_statements.rate, batched_savepoints.rate, batched_unnest.rate
    );
    Ok(Limit {
        single_commits,
        batched_statements,
        batched_savepoints,
        batched_unnest,
    })
}
