//! `bgops`: parse the command line, set up logging and tracing, run the service or a client
//! command.

mod admin_cmd;
mod cli;
mod client_cmd;
mod config_file;
mod edge_args;
mod telemetry;

/// mimalloc instead of the system allocator: a request allocates and frees dozens of small
/// buffers (headers, JSON values, row strings), and glibc's allocator was about 8% of a status
/// monitor request's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = match config_file::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let telemetry = match telemetry::init(cli.log_format, &cli.tracing) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    // Named apart from the engine's runtime (`bgops-engine`) and the SQLite writer
    // (`bgops-sqlite-writer`), so `top -H`, `perf` and `/proc/<pid>/task` tell them apart.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bgops-http")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let code = match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    };
    // The runtime first (its tasks may still end spans), then the exporter's last flush.
    drop(runtime);
    drop(telemetry);
    code
}
