//! `bgops-bench`: the benchmark harness of issue 6. It starts the real `bgops` server on
//! temporary SQLite files (or targets a running one), loads it over keep-alive HTTP, and
//! prints every figure beside its anchor measured in the same run on the same machine:
//! apalis-sqlite for enqueue and burn-down, raw batched rusqlite inserts for submissions, and
//! an axum hello-world for the status monitor.

mod anchor_server;
mod apalis_anchor;
mod db;
mod load;
mod machine;
mod peers;
mod pg;
mod pgcpu;
mod procstat;
mod report;
mod scenarios;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

/// Benchmark harness for bgops: figures side by side with their anchors, and ratios.
#[derive(Parser, Debug)]
#[command(
    name = "bgops-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the axum hello-world anchor (started by the harness itself).
    #[command(hide = true)]
    AnchorServer {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

/// Sizes and targets of a run.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The `bgops` executable (default: `bgops` beside this executable, i.e.
    /// target/release/bgops after `cargo build --release -p bgops -p bgops-bench`).
    #[arg(long)]
    pub bgops: Option<PathBuf>,
    /// Target a running server instead (e.g. http://127.0.0.1:8080); scenarios that restart
    /// the server (scale, memory) are skipped.
    #[arg(long)]
    pub url: Option<String>,
    /// API key of a System Administrator (with --url), or the --admin-token given to the
    /// servers this harness starts.
    #[arg(long, default_value = "bgops-bench-admin-token")]
    pub token: String,
    /// With --url: the server's SQLite file, for timings in milliseconds (burn-down, end to
    /// end, pickup latency). Without it those scenarios are skipped.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// With --url: the server's process id, to charge its CPU to the scenarios.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// `--workers` of the server (and the concurrency of the apalis worker). Default: bgops's
    /// default, 2 × cores.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Operations per submit, burn-down and end-to-end scenario, and apalis jobs.
    #[arg(long, default_value_t = 20_000)]
    pub n: usize,
    /// HTTP connections (and apalis enqueue tasks).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Submissions per second of the pickup-latency scenario.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// How long the pickup-latency scenario submits, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub rate_secs: f64,
    /// How long each status-poll run lasts, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub poll_secs: f64,
    /// Rows already in the table for the scale and memory scenarios (0 skips them).
    #[arg(long, default_value_t = 1_000_000)]
    pub scale_rows: usize,
    /// How long the server runs with `--scale-rows` waiting operations before its peak RSS
    /// is read, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub mem_secs: f64,
    /// Longest an apalis burn-down may take before its partial rate is reported, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub apalis_timeout: f64,
    /// Clients long-polling operations of the burst in the waiting scenario.
    #[arg(long, default_value_t = 10_000)]
    pub pollers: usize,
    /// Run only the waiting scenarios (long polls during a burst, the idempotency storm).
    #[arg(long)]
    pub waiting_only: bool,
    /// A `bgops` built without the observability work (say, from the commit before it): the
    /// observability-cost scenario measures it beside this build's.
    #[arg(long)]
    pub baseline_bgops: Option<PathBuf>,
    /// Skip scenarios: any of submit, poll, pickup, e2e, waiting, edge, anchors, apalis, apalis-fresh,
    /// scale, memory, observe (comma-separated; `submit` also skips burn-down); with --postgres also pg (every
    /// bgops-on-PostgreSQL scenario), pg-submit (also burn-down and two nodes), pg-poll,
    /// pg-pickup, pg-two-nodes, graphile, graphile-batched, apalis-pg, pg-limit.
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// PostgreSQL server for the PostgreSQL scenarios (e.g.
    /// postgres://postgres@127.0.0.1:5432/test): bgops nodes on fresh schemas of it, the peers
    /// graphile-worker and apalis-postgres, and the server's own limit. `sslmode=disable` is
    /// added unless the URL names an sslmode.
    #[arg(long)]
    pub postgres: Option<String>,
    /// The graphile-worker peer's package folder (default: this crate's peers/graphile);
    /// `npm ci` runs there unless node_modules is already installed (never with --quick).
    #[arg(long)]
    pub graphile_dir: Option<PathBuf>,
    /// CI smoke run: tiny sizes (N=200, 5,000 scale rows, 1-2 s runs), no thresholds; the
    /// PostgreSQL peers are skipped.
    #[arg(long)]
    pub quick: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Directory for the temporary databases and server logs (default: a new temporary
    /// directory, removed at the end unless --keep).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Keep the temporary directory (databases, logs).
    #[arg(long)]
    pub keep: bool,
}

impl BenchArgs {
    /// Applies `--quick`: the smoke sizes, unless a size was given explicitly as a smaller one.
    fn apply_quick(&mut self) {
        if self.quick {
            self.n = self.n.min(200);
            self.concurrency = self.concurrency.min(16);
            self.rate = self.rate.min(200.0);
            self.rate_secs = self.rate_secs.min(2.0);
            self.poll_secs = self.poll_secs.min(1.0);
            self.scale_rows = self.scale_rows.min(5_000);
            self.mem_secs = self.mem_secs.min(1.0);
            self.pollers = self.pollers.min(200);
            self.apalis_timeout = self.apalis_timeout.min(60.0);
            for peer in ["graphile", "graphile-batched", "apalis-pg"] {
                self.skip.push(peer.to_owned());
            }
        }
    }

    /// Whether scenario `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        !self.skip.iter().any(|s| s == name)
    }

    fn check(&mut self) -> Result<()> {
        if self.n == 0 || self.concurrency == 0 || self.rate <= 0.0 {
            bail!("--n, --concurrency and --rate must be positive");
        }
        if self.skip.iter().any(|s| s == "pg") {
            self.skip
                .extend(["pg-submit", "pg-poll", "pg-pickup", "pg-two-nodes"].map(String::from));
        }
        if self.workers == Some(0) {
            bail!("--workers must be at least 1");
        }
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Some(Command::AnchorServer { listen }) => runtime.block_on(anchor_server::serve(listen)),
        None => runtime.block_on(bench(cli.bench)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn bench(mut args: BenchArgs) -> Result<()> {
    args.apply_quick();
    args.check()?;
    let started = std::time::Instant::now();
    let mut temp = None;
    let workdir = match &args.workdir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            let dir = tempfile::Builder::new().prefix("bgops-bench-").tempdir()?;
            let path = dir.path().to_owned();
            temp = Some(dir);
            path
        }
    };
    let machine = machine::describe(&workdir);
    println!("bgops-bench — {}", machine::one_line(&machine));
    println!("work directory: {}", workdir.display());
    let mut report = report::Report {
        machine,
        ..Default::default()
    };
    scenarios::run_all(&args, &workdir, &mut report).await?;

    println!("{}", report.render());
    println!(
        "\nbgops-bench finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("results written to {}", path.display());
    }
    if let Some(dir) = temp {
        if args.keep {
            println!("kept {}", dir.keep().display());
        }
    }
    Ok(())
}

/// Parses `--url` into a socket address. Only loopback addresses are accepted: the harness
/// generates load, and load goes only to servers on this machine.
pub fn url_addr(url: &str) -> Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .context("--url must start with http://")?;
    let host = rest.split('/').next().unwrap_or(rest);
    use std::net::ToSocketAddrs;
    let addr = host
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve {host}"))?;
    if !addr.ip().is_loopback() {
        bail!("--url must be a loopback address (127.0.0.0/8 or [::1]), not {addr}");
    }
    Ok(addr)
}

/// How long to wait for a queue of `n` operations to drain before giving up.
pub fn drain_timeout(n: usize) -> Duration {
    Duration::from_secs(120 + (n as u64) / 50)
}
