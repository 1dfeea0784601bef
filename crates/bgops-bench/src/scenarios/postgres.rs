//! bgops on PostgreSQL (`--postgres URL`): real `bgops serve` nodes, each on a fresh schema of
//! the run (`--database <url>&options=-c search_path=<schema>`; bgops creates it, the harness
//! drops it), loaded over keep-alive HTTP like the SQLite scenarios, with start and end times
//! read from the schema's `backgroundoperation` table (milliseconds).
//!
//! - one node: submit (workers held), burn-down of the queue that left, status poll (in turns
//!   with the axum anchor, `poll_rounds`);
//! - pickup across processes: node A with `--workers 1`, held by a long `bgops_Delay`, takes
//!   the submissions at `--rate`; node B (no HTTP load) runs them;
//! - two nodes: both held, N queued, both released: the same burn-down on two processes.

use tokio_postgres::Client;

use super::*;
use crate::pg::{self, PgServer};
use crate::pgcpu::{PgCpu, PgMeter};

/// A figure with the CPU of every process behind it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct WithCpu<T> {
    pub figure: T,
    pub cpu: PgCpu,
}

/// What bgops on PostgreSQL measured.
#[derive(Default, Serialize)]
pub(super) struct PgBgops {
    pub submit: Option<WithCpu<Throughput>>,
    pub burn: Option<WithCpu<Drain>>,
    pub poll: Option<WithCpu<Throughput>>,
    pub axum: Option<Throughput>,
    /// bgops's status poll rate over the anchor's, per round (`poll_rounds`).
    pub poll_ratios: Vec<f64>,
    pub pickup: Option<WithCpu<Pickup>>,
    pub two_nodes: Option<WithCpu<Drain>>,
    /// The submitted operations, for the status poll and the axum anchor.
    #[serde(skip)]
    pub submit_ids: Option<Vec<String>>,
}

/// The nodes of one scenario and the schema they share.
struct Nodes {
    schema: String,
    servers: Vec<ChildServer>,
}

impl Nodes {
    fn pids(&self) -> Vec<u32> {
        self.servers.iter().map(|s| s.pid).collect()
    }

    fn target(&self, i: usize, token: &str) -> Target {
        Target::new(self.servers[i].addr, token)
    }

    async fn stop(self, control: &Client) -> Result<()> {
        for s in self.servers {
            s.stop(Duration::from_secs(60))?;
        }
        pg::drop_schema(control, &self.schema).await
    }
}

/// Starts nodes with `workers[i]` workers each on a fresh schema `<run>_<name>`.
async fn start_nodes(
    launch: &BgopsLaunch,
    pg: &PgServer,
    control: &Client,
    name: &str,
    workers: &[usize],
) -> Result<Nodes> {
    let schema = format!("{}_{name}", pg.run);
    pg::drop_schema(control, &schema).await?;
    let mut nodes = Nodes {
        schema,
        servers: Vec::new(),
    };
    for (i, w) in workers.iter().enumerate() {
        let who = format!("bgops_{name}_{i}");
        let url = pg.url(&who, Some(&nodes.schema));
        match server::start_bgops_on(launch, &url, *w, &format!("pg-{name}-{i}")) {
            Ok(s) => nodes.servers.push(s),
            Err(e) => {
                nodes.stop(control).await?;
                return Err(e);
            }
        }
    }
    Ok(nodes)
}

/// Runs every bgops-on-PostgreSQL scenario the arguments allow.
pub(super) async fn bgops_postgres(
    args: &BenchArgs,
    workers: usize,
    launch: &BgopsLaunch,
    pg: &PgServer,
    control: Arc<Client>,
    workdir: &Path,
) -> Result<PgBgops> {
    let mut out = PgBgops::default();
    if args.runs("pg-submit") || args.runs("pg-poll") {
        let nodes = start_nodes(launch, pg, &control, "one", &[workers]).await?;
        let mut r = one_node(args, workers, pg, &control, &nodes, &mut out).await;
        if r.is_ok() && args.runs("pg-poll") {
            let ids = out.submit_ids.take().unwrap_or_default();
            r = poll_rounds(args, pg, &control, &nodes, workdir, ids, &mut out).await;
        }
        nodes.stop(&control).await?;
        r?;
    }
    if args.runs("pg-pickup") {
        let nodes = start_nodes(launch, pg, &control, "pickup", &[1]).await?;
        let r = pickup(args, workers, launch, pg, &control, nodes).await;
        out.pickup = Some(r?);
    }
    if args.runs("pg-two-nodes") && args.runs("pg-submit") {
        let nodes = start_nodes(launch, pg, &control, "two", &[workers, workers]).await?;
        let r = two_nodes(args, workers, pg, &control, &nodes).await;
        nodes.stop(&control).await?;
        out.two_nodes = Some(r?);
    }
    Ok(out)
}

/// Warm-up of a node: connections, caches, the first pages of the table.
async fn warm_up(args: &BenchArgs, target: &Target, control: &Client, schema: &str) -> Result<()> {
    let warm = load::closed_loop(
        target,
        &Workload::Submit,
        args.concurrency,
        Stop::Count(args.n.min(500)),
    )
    .await;
    if warm.ok == 0 {
        bail!(
            "bgops on PostgreSQL accepted no submission during warm-up: {}",
            warm.first_error.unwrap_or_default()
        );
    }
    pg::wait_drained(control, schema, drain_timeout(args.n)).await
}

/// Releases the blockers and times the burn-down of what was queued since `marker`.
async fn burn_down(
    args: &BenchArgs,
    pg: &PgServer,
    control: &Arc<Client>,
    nodes: &Nodes,
    blockers: &[String],
    marker: i64,
) -> Result<WithCpu<Drain>> {
    let meter = PgMeter::start(control.clone(), &pg.app_prefix(), &nodes.pids()).await;
    release_workers(&nodes.target(0, &args.token), blockers).await?;
    pg::wait_drained(control, &nodes.schema, drain_timeout(args.n)).await?;
    let cpu = meter.stop().await;
    let timings = pg::timings_since(control, &nodes.schema, marker, "bgops_Echo").await?;
    let secs = window_secs(&timings).context("no operation ran")?;
    Ok(WithCpu {
        figure: Drain::new(timings.len(), secs, cpu.as_cpu_use()),
        cpu,
    })
}

/// Submit with every worker held, burn-down, status poll: one node.
async fn one_node(
    args: &BenchArgs,
    workers: usize,
    pg: &PgServer,
    control: &Arc<Client>,
    nodes: &Nodes,
    out: &mut PgBgops,
) -> Result<()> {
    let target = nodes.target(0, &args.token);
    warm_up(args, &target, control, &nodes.schema).await?;
    let n = args.n;
    let blockers = hold_workers(&target, workers).await?;
    println!("→ PostgreSQL submit: all {workers} workers held, submitting {n}");
    let marker = now_ms() as i64;
    let meter = PgMeter::start(control.clone(), &pg.app_prefix(), &nodes.pids()).await;
    let sub = load::closed_loop(&target, &Workload::Submit, args.concurrency, Stop::Count(n)).await;
    let cpu = meter.stop().await;
    let t = Throughput::of(&sub, cpu.as_cpu_use());
    println!(
        "PostgreSQL submit: {} × bgops_Echo in {:.2} s → {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        t.ops, t.secs, t.rate, t.p50_ms, t.p99_ms
    );
    out.submit = Some(WithCpu { figure: t, cpu });
    let ids: Vec<String> = sub.submitted.iter().map(|s| s.id.clone()).collect();

    let burn = burn_down(args, pg, control, nodes, &blockers, marker).await?;
    println!(
        "PostgreSQL burn-down, one node: {} operations in {:.2} s → {:.0}/s",
        burn.figure.ops, burn.figure.secs, burn.figure.rate
    );
    out.burn = Some(burn);

    out.submit_ids = Some(ids);
    Ok(())
}

/// Rounds of the status poll: bgops and the axum anchor in turns.
const POLL_ROUNDS: usize = 3;

/// The status poll of the one node and the axum anchor, loaded with the same ids in turns
/// (bgops first in odd rounds, the anchor first in even ones), `POLL_ROUNDS` times, each for
/// `--poll-secs`. On this kind of machine the anchor alone moved by a fifth from one minute to
/// the next, so one bgops run against one anchor run a minute later said little; the figures
/// kept are those of the round whose ratio is the median, and every round's ratio is printed
/// and kept.
async fn poll_rounds(
    args: &BenchArgs,
    pg: &PgServer,
    control: &Arc<Client>,
    nodes: &Nodes,
    workdir: &Path,
    ids: Vec<String>,
    out: &mut PgBgops,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids = Arc::new(ids);
    let target = nodes.target(0, &args.token);
    let (anchor, anchor_target) =
        super::anchors::start_warm_anchor(args, workdir, ids.clone()).await?;
    println!(
        "→ PostgreSQL status poll: {POLL_ROUNDS} rounds of bgops and the axum anchor in turns, {} s each",
        args.poll_secs
    );
    let mut ours = Vec::with_capacity(POLL_ROUNDS);
    let mut theirs = Vec::with_capacity(POLL_ROUNDS);
    for round in 0..POLL_ROUNDS {
        for side in [round % 2, 1 - round % 2] {
            if side == 0 {
                let meter = PgMeter::start(control.clone(), &pg.app_prefix(), &nodes.pids()).await;
                let r = load::closed_loop(
                    &target,
                    &Workload::Poll(ids.clone()),
                    args.concurrency,
                    Stop::Duration(Duration::from_secs_f64(args.poll_secs)),
                )
                .await;
                let cpu = meter.stop().await;
                ours.push(WithCpu {
                    figure: Throughput::of(&r, cpu.as_cpu_use()),
                    cpu,
                });
            } else {
                theirs.push(
                    super::anchors::poll(&anchor_target, ids.clone(), args, &[anchor.pid]).await,
                );
            }
        }
        let (b, a) = (&ours[round].figure, &theirs[round]);
        println!(
            "  round {}: bgops {:.0}/s (p50 {:.2} ms, p99 {:.2} ms), axum {:.0}/s (p99 {:.2} ms) = {:.2}×",
            round + 1,
            b.rate,
            b.p50_ms,
            b.p99_ms,
            a.rate,
            a.p99_ms,
            b.rate / a.rate
        );
        out.poll_ratios.push(b.rate / a.rate);
    }
    anchor.stop(Duration::from_secs(10))?;
    // The round whose ratio is the median, both sides of it: a pair measured together.
    let mut order: Vec<usize> = (0..POLL_ROUNDS).collect();
    order.sort_by(|x, y| out.poll_ratios[*x].total_cmp(&out.poll_ratios[*y]));
    let median = order[POLL_ROUNDS / 2];
    let (b, a) = (ours.swap_remove(median), theirs.swap_remove(median));
    println!(
        "PostgreSQL status poll: the median round ({}) {:.0}/s against axum {:.0}/s = {:.2}×",
        median + 1,
        b.figure.rate,
        a.rate,
        b.figure.rate / a.rate
    );
    out.poll = Some(b);
    out.axum = Some(a);
    Ok(())
}

/// Submissions at `--rate` to node A (one worker, held), run by node B.
async fn pickup(
    args: &BenchArgs,
    workers: usize,
    launch: &BgopsLaunch,
    pg: &PgServer,
    control: &Arc<Client>,
    mut nodes: Nodes,
) -> Result<WithCpu<Pickup>> {
    let result = async {
        let a = nodes.target(0, &args.token);
        let blocker = hold_workers(&a, 1).await?;
        let url = pg.url("bgops_pickup_1", Some(&nodes.schema));
        nodes.servers.push(server::start_bgops_on(
            launch,
            &url,
            workers,
            "pg-pickup-1",
        )?);
        // Node B warms up on its own: a few operations submitted to A, run by B.
        warm_up(args, &a, control, &nodes.schema).await?;
        println!(
            "→ PostgreSQL pickup: {}/s for {} s to node A (its one worker held), run by node B",
            args.rate, args.rate_secs
        );
        let marker = now_ms() as i64;
        let meter = PgMeter::start(control.clone(), &pg.app_prefix(), &nodes.pids()).await;
        let secs = Duration::from_secs_f64(args.rate_secs);
        let r = load::open_loop(&a, &Workload::Submit, args.concurrency, args.rate, secs).await;
        release_workers(&a, &blocker).await?;
        pg::wait_drained(control, &nodes.schema, drain_timeout(args.n)).await?;
        let cpu = meter.stop().await;
        let timings = pg::timings_since(control, &nodes.schema, marker, "bgops_Echo").await?;
        let pk = pickup_figures(args, &r, &timings, cpu.as_cpu_use());
        println!(
            "PostgreSQL pickup at {}/s across processes: {} operations, submit → starttime p50 \
             {:.2} ms, p99 {:.2} ms; → endtime p50 {:.2} ms, p99 {:.2} ms",
            args.rate, pk.ops, pk.pickup_p50_ms, pk.pickup_p99_ms, pk.done_p50_ms, pk.done_p99_ms
        );
        anyhow::Ok(WithCpu { figure: pk, cpu })
    }
    .await;
    nodes.stop(control).await?;
    result
}

/// Both nodes held, N queued through node A, both released.
async fn two_nodes(
    args: &BenchArgs,
    workers: usize,
    pg: &PgServer,
    control: &Arc<Client>,
    nodes: &Nodes,
) -> Result<WithCpu<Drain>> {
    let a = nodes.target(0, &args.token);
    warm_up(args, &a, control, &nodes.schema).await?;
    // 2 × workers blockers: each node runs at most its own workers, so all are held once all
    // run.
    let blockers = hold_workers(&a, 2 * workers).await?;
    let marker = now_ms() as i64;
    let sub = load::closed_loop(&a, &Workload::Submit, args.concurrency, Stop::Count(args.n)).await;
    if sub.errors > 0 {
        eprintln!("  warning: {} failed submissions", sub.errors);
    }
    let burn = burn_down(args, pg, control, nodes, &blockers, marker).await?;
    println!(
        "PostgreSQL burn-down, two nodes: {} operations in {:.2} s → {:.0}/s",
        burn.figure.ops, burn.figure.secs, burn.figure.rate
    );
    Ok(burn)
}
