//! `bgops serve --config FILE` (SPEC §15): a TOML file holding any of `serve`'s flags. Its keys
//! are clap's argument ids (the flag's long name with `_` for `-`: `--attempt-timeout` is
//! `attempt_timeout`), so a flag added to `serve` is a key at once, with the same parser and
//! the same checks. A value from the file counts only where the flag was neither on the
//! command line nor in its `BGOPS_*` variable; unknown keys and bad values are errors naming
//! the key. `docs/bgops.example.toml` documents every key; a test below holds it to that.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// Why a configuration file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key that is not a flag of `serve`.
    #[error("{path}: unknown key '{key}' (keys are the flags of `bgops serve` with _ for -, e.g. attempt_timeout; docs/bgops.example.toml lists them)")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A value the flag does not take.
    #[error("{path}: key '{key}': {message}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Parses the command line; for `serve --config FILE`, adds the file's values for the flags
/// the command line and the environment left unset. Usage errors exit as clap does (status 2).
pub fn parse() -> Result<Cli, ConfigError> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&argv);
    let serve = match matches.subcommand() {
        Some(("serve", serve)) => serve,
        _ => return Ok(from_matches(&matches)),
    };
    let Some(path) = serve.get_one::<PathBuf>("config") else {
        return Ok(from_matches(&matches));
    };
    let extra = file_args(path, serve)?;
    let matches = Cli::command()
        .try_get_matches_from(argv.into_iter().chain(extra))
        .unwrap_or_else(|e| e.exit());
    Ok(from_matches(&matches))
}

fn from_matches(matches: &ArgMatches) -> Cli {
    Cli::from_arg_matches(matches).unwrap_or_else(|e| e.exit())
}

/// `serve` as clap sees it once built (with the global flags it inherits).
fn serve_command() -> Command {
    let mut cmd = Cli::command();
    cmd.build();
    cmd.find_subcommand("serve")
        .expect("bgops has a serve command")
        .clone()
}

/// The keys a configuration file may hold: every long flag of `serve` but `--config` and
/// `--help`, by argument id.
pub fn keys() -> Vec<String> {
    serve_command()
        .get_arguments()
        .filter(|a| a.get_long().is_some())
        .map(|a| a.get_id().to_string())
        .filter(|id| id != "config" && id != "help" && id != "version")
        .collect()
}

/// The command-line arguments the file at `path` stands for, leaving out flags already given
/// on the command line or in the environment.
fn file_args(path: &Path, given: &ArgMatches) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim().to_owned(),
        })?;
    let serve = serve_command();
    let known = keys();
    let mut args = Vec::new();
    for (key, value) in table {
        let unknown = || ConfigError::UnknownKey {
            path: path.to_owned(),
            key: key.clone(),
        };
        if !known.contains(&key) {
            return Err(unknown());
        }
        let arg = serve
            .get_arguments()
            .find(|a| a.get_id() == key.as_str())
            .ok_or_else(unknown)?;
        let long = arg.get_long().ok_or_else(unknown)?;
        let bad = |message: String| ConfigError::BadValue {
            path: path.to_owned(),
            key: key.clone(),
            message,
        };
        let mut these: Vec<OsString> = Vec::new();
        match (arg.get_action(), &value) {
            (ArgAction::SetTrue, toml::Value::Boolean(b)) => {
                if *b {
                    these.push(format!("--{long}").into());
                }
            }
            (ArgAction::SetTrue, _) => return Err(bad("must be true or false".into())),
            (ArgAction::Append, toml::Value::Array(items)) => {
                for item in items {
                    these.push(format!("--{long}={}", scalar(item).map_err(bad)?).into());
                }
            }
            (_, v) => these.push(format!("--{long}={}", scalar(v).map_err(bad)?).into()),
        }
        // Each value alone, so a bad one is reported against its key.
        if let Err(e) = Command::new("bgops")
            .subcommand(serve.clone())
            .try_get_matches_from(
                ["bgops".into(), "serve".into()]
                    .into_iter()
                    .chain(these.iter().cloned())
                    .collect::<Vec<OsString>>(),
            )
        {
            return Err(bad(clap_message(&e)));
        }
        let overridden = matches!(
            given.value_source(&key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !overridden {
            args.extend(these);
        }
    }
    Ok(args)
}

/// A TOML value as the text a flag takes.
fn scalar(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Array(_) => Err("takes one value, not a list".into()),
        toml::Value::Table(_) => Err("takes a value, not a table".into()),
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../docs/bgops.example.toml");

    /// The keys the example file shows, set or commented out (`# key = …`).
    fn example_keys() -> Vec<String> {
        EXAMPLE
            .lines()
            .map(|l| l.trim_start_matches('#').trim())
            .filter_map(|l| l.split_once(" = "))
            .map(|(k, _)| k.to_owned())
            .filter(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect()
    }

    #[test]
    fn the_example_file_documents_every_serve_flag_and_nothing_else() {
        let documented = example_keys();
        for key in keys() {
            assert!(
                documented.contains(&key),
                "docs/bgops.example.toml does not document `{key}` (a flag of `bgops serve`): \
                 add a line `# {key} = …` with its default and meaning"
            );
        }
        let known = keys();
        for key in documented {
            assert!(
                known.contains(&key),
                "docs/bgops.example.toml documents `{key}`, which is no flag of `bgops serve`"
            );
        }
    }

    #[test]
    fn keys_are_argument_ids() {
        let keys = keys();
        for k in [
            "listen",
            "database",
            "attempt_timeout",
            "callback_allow_http",
            "log_format",
        ] {
            assert!(keys.contains(&k.to_owned()), "{k} in {keys:?}");
        }
        assert!(!keys.contains(&"config".to_owned()));
    }
}
