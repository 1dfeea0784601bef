//! The client commands of the `bgops` binary (SPEC §15): `submit`, `status`, `wait`, `cancel`,
//! `list` and `apis` against a running server, through `bgops-client`. Each ends with an exit
//! code that says the outcome (`exit.rs`).

mod exit;
mod progress;
mod render;

use std::process::ExitCode;
use std::time::Duration;

use bgops_client::{
    untyped_body_from_args, ArgumentError, Client, ListQuery, OperationId, OperationStatus,
    SubmitOptions,
};
use clap::{Args, Subcommand, ValueEnum};

pub use exit::Outcome;
use progress::Progress;
use render::Form;

/// How long `wait` waits without `--timeout`: in effect, until the operation ends.
const NO_TIMEOUT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The longest single long poll while waiting: the progress shown moves at least this often
/// (a long poll answers early only when the operation ends).
const EACH_LOOK: Duration = Duration::from_secs(5);

/// Where the server is and who is asking; shared by every client command.
#[derive(Args, Debug)]
pub struct Connection {
    /// The server's URL.
    #[arg(long, env = "BGOPS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The API key sent as the bearer token.
    #[arg(long, env = "BGOPS_TOKEN", hide_env_values = true)]
    token: String,
}

impl Connection {
    fn client(&self) -> Result<Client, CmdError> {
        Ok(Client::new(&self.url, &self.token)?)
    }
}

/// The exit codes, shown under each client command's help.
const EXIT_CODES: &str = "Exit codes: 0 done (the operation Succeeded), 1 Failed, 2 usage error, \
3 Canceled, 4 server unreachable, 5 refused by the server, 6 not finished.";

/// The client commands.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Submit a custom API in the background; prints the operation id (with --wait, waits
    /// for it and prints its outcome; the exit code says it).
    #[command(after_help = EXIT_CODES)]
    Submit(SubmitArgs),
    /// Print an operation's state (exit code: its outcome, 6 while it runs).
    #[command(after_help = EXIT_CODES)]
    Status(IdArgs),
    /// Wait for an operation to finish and print its outcome.
    #[command(after_help = EXIT_CODES)]
    Wait(WaitArgs),
    /// Ask for an operation to be canceled.
    #[command(after_help = EXIT_CODES)]
    Cancel(IdArgs),
    /// List background operations, newest first.
    #[command(after_help = EXIT_CODES)]
    List(ListArgs),
    /// List the custom APIs with their parameters.
    #[command(after_help = EXIT_CODES)]
    Apis(ApisArgs),
}

/// `bgops submit`.
#[derive(Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    conn: Connection,
    /// The custom API's unique name (`bgops apis` lists them).
    name: String,
    /// Request parameters, typed from the custom API's definition: true/false for Boolean,
    /// numbers for Integer, Decimal, Float, Money and Picklist, JSON for entities, a JSON
    /// array or a comma list for StringArray, text for the rest.
    #[arg(value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Wait for the operation to finish and print its outcome; the exit code says it.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up waiting after this long (exit code 6), e.g. 30s or 5m.
    #[arg(long, requires = "wait", value_parser = crate::cli::duration)]
    timeout: Option<Duration>,
    /// An Idempotency-Key: a retry with the same key and parameters returns the first
    /// submission's operation instead of a second one (on servers that support it). With it,
    /// a submission that got no answer, a 409 or a 502–504 is sent again up to 3 times.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Print JSON even on a terminal.
    #[arg(long)]
    json: bool,
}

/// `bgops status ID`, `bgops cancel ID`.
#[derive(Args, Debug)]
pub struct IdArgs {
    #[command(flatten)]
    conn: Connection,
    /// The operation's id (`backgroundoperationid`).
    id: OperationId,
    /// Print JSON even on a terminal.
    #[arg(long)]
    json: bool,
}

/// `bgops wait ID`.
#[derive(Args, Debug)]
pub struct WaitArgs {
    #[command(flatten)]
    conn: Connection,
    /// The operation's id (`backgroundoperationid`).
    id: OperationId,
    /// Give up after this long (exit code 6), e.g. 30s or 5m; without it, wait until the
    /// operation ends.
    #[arg(long, value_parser = crate::cli::duration)]
    timeout: Option<Duration>,
    /// Print JSON even on a terminal.
    #[arg(long)]
    json: bool,
}

/// `bgops list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    conn: Connection,
    /// Only operations in these states (comma list or repeated).
    #[arg(long, value_enum, value_delimiter = ',')]
    state: Vec<StateFilter>,
    /// Only operations of this custom API.
    #[arg(long, value_name = "NAME")]
    api: Option<String>,
    /// At most this many operations (0: all).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// JSON lines even on a terminal.
    #[arg(long)]
    json: bool,
}

/// `bgops apis`.
#[derive(Args, Debug)]
pub struct ApisArgs {
    #[command(flatten)]
    conn: Connection,
    /// JSON lines even on a terminal.
    #[arg(long)]
    json: bool,
}

/// The states `bgops list --state` takes: a status, or a state for all its statuses.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFilter {
    /// Ready: waiting to run (Waiting For Resources).
    Waiting,
    /// An attempt runs.
    InProgress,
    /// A cancel is being applied.
    Canceling,
    /// Ended Succeeded.
    Succeeded,
    /// Ended Failed.
    Failed,
    /// Ended Canceled.
    Canceled,
    /// Not finished: waiting, in progress or canceling.
    Active,
    /// Finished: succeeded, failed or canceled.
    Completed,
}

impl StateFilter {
    fn statuses(self) -> &'static [OperationStatus] {
        use OperationStatus as S;
        match self {
            StateFilter::Waiting => &[S::WaitingForResources],
            StateFilter::InProgress => &[S::InProgress],
            StateFilter::Canceling => &[S::Canceling],
            StateFilter::Succeeded => &[S::Succeeded],
            StateFilter::Failed => &[S::Failed],
            StateFilter::Canceled => &[S::Canceled],
            StateFilter::Active => &[S::WaitingForResources, S::InProgress, S::Canceling],
            StateFilter::Completed => &[S::Succeeded, S::Failed, S::Canceled],
        }
    }
}

/// Why a client command stopped.
#[derive(Debug, thiserror::Error)]
enum CmdError {
    /// From the client: the server refused, could not be reached…
    #[error(transparent)]
    Client(#[from] bgops_client::Error),
    /// The NAME=VALUE arguments do not fit the custom API.
    #[error(transparent)]
    Arguments(#[from] ArgumentError),
    /// No custom API by that name.
    #[error("the server has no custom API named '{0}' (`bgops apis` lists them)")]
    UnknownApi(String),
}

impl CmdError {
    fn outcome(&self) -> Outcome {
        match self {
            CmdError::Client(e) => Outcome::of_error(e),
            CmdError::Arguments(_) => Outcome::Usage,
            CmdError::UnknownApi(_) => Outcome::Refused,
        }
    }
}

impl ClientCommand {
    /// Runs the command; prints its result to standard output and errors to standard error.
    pub async fn run(self) -> ExitCode {
        let result = match self {
            ClientCommand::Submit(a) => submit(a).await,
            ClientCommand::Status(a) => status(a).await,
            ClientCommand::Wait(a) => wait(a).await,
            ClientCommand::Cancel(a) => cancel(a).await,
            ClientCommand::List(a) => list(a).await,
            ClientCommand::Apis(a) => apis(a).await,
        };
        match result {
            Ok(outcome) => outcome.into(),
            Err(e) => {
                eprintln!("error: {}", with_causes(&e));
                e.outcome().into()
            }
        }
    }
}

/// The error and its causes, each said once (HTTP libraries repeat their inner errors).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

async fn submit(a: SubmitArgs) -> Result<Outcome, CmdError> {
    let client = a.conn.client()?;
    let (body, function) = match client.custom_api(&a.name).await {
        Ok(Some(api)) => (api.body_from_args(&a.params)?, api.is_function),
        Ok(None) => return Err(CmdError::UnknownApi(a.name)),
        // A caller without read access to the definition tables: send the values as JSON
        // literals or text to the action, and let the server check them.
        Err(e) if e.http_status() == Some(403) => {
            eprintln!(
                "note: cannot read the definition of {} ({e}); values are sent untyped",
                a.name
            );
            (untyped_body_from_args(&a.params)?, false)
        }
        Err(e) => return Err(e.into()),
    };
    let options = match a.idempotency_key {
        Some(key) => SubmitOptions::idempotent(key),
        None => SubmitOptions::default(),
    };
    let op = if function {
        client.submit_function(&a.name, &body, &options).await?
    } else {
        client.submit_with(&a.name, &body, &options).await?
    };
    if !a.wait {
        // The id alone, on a terminal or not, so `ID=$(bgops submit …)` works.
        if a.json {
            render::out(
                &serde_json::json!({
                    "backgroundOperationId": op.id.to_string(),
                    "location": op.location,
                })
                .to_string(),
            );
        } else {
            render::out(&op.id.to_string());
        }
        return Ok(Outcome::Done);
    }
    let form = Form::choose(a.json);
    wait_for(&client, op.id, a.timeout, form).await
}

async fn status(a: IdArgs) -> Result<Outcome, CmdError> {
    let s = a.conn.client()?.status(a.id).await?;
    render::status(Form::choose(a.json), a.id, &s);
    Ok(Outcome::of_status(s.status))
}

async fn wait(a: WaitArgs) -> Result<Outcome, CmdError> {
    let client = a.conn.client()?;
    wait_for(&client, a.id, a.timeout, Form::choose(a.json)).await
}

/// Waits with progress on standard error, then prints the outcome.
async fn wait_for(
    client: &Client,
    id: OperationId,
    timeout: Option<Duration>,
    form: Form,
) -> Result<Outcome, CmdError> {
    let mut progress = Progress::start(id);
    // One plain look first, so the state shows at once (a long poll answers only at the end
    // or after EACH_LOOK).
    let result = match client.status(id).await {
        Ok(s) if s.is_terminal() => Ok(s),
        Ok(s) => {
            progress.update(&s);
            client
                .wait_with(id, timeout.unwrap_or(NO_TIMEOUT), EACH_LOOK, |s| {
                    progress.update(s)
                })
                .await
        }
        Err(e) => Err(e),
    };
    progress.finish();
    match result {
        Ok(s) => {
            render::status(form, id, &s);
            Ok(Outcome::of_status(s.status))
        }
        Err(bgops_client::Error::Timeout { last, .. }) => {
            render::status(form, id, &last);
            eprintln!(
                "error: operation {id} had not finished after {}",
                humantime::format_duration(timeout.unwrap_or(NO_TIMEOUT))
            );
            Ok(Outcome::NotFinished)
        }
        Err(e) => Err(e.into()),
    }
}

async fn cancel(a: IdArgs) -> Result<Outcome, CmdError> {
    let s = a.conn.client()?.cancel(a.id).await?;
    render::status(Form::choose(a.json), a.id, &s);
    Ok(Outcome::Done)
}

async fn list(a: ListArgs) -> Result<Outcome, CmdError> {
    let client = a.conn.client()?;
    let mut query = ListQuery::new().page_size(match a.limit {
        0 => 500,
        n => n.min(500) as u32,
    });
    for f in &a.state {
        for s in f.statuses() {
            query = query.status(*s);
        }
    }
    if let Some(api) = &a.api {
        query = query.api(api.clone());
    }
    let form = Form::choose(a.json);
    let mut rows = Vec::new();
    let mut page = Some(client.list(&query).await?);
    while let Some(p) = page {
        rows.extend(p.operations.iter().cloned());
        if a.limit != 0 && rows.len() >= a.limit {
            rows.truncate(a.limit);
            break;
        }
        page = client.next_page(&p).await?;
    }
    render::operations(form, &rows);
    Ok(Outcome::Done)
}

async fn apis(a: ApisArgs) -> Result<Outcome, CmdError> {
    let apis = a.conn.client()?.custom_apis().await?;
    render::apis(Form::choose(a.json), &apis);
    Ok(Outcome::Done)
}
