//! The exit codes of the client commands: each says the outcome, so a script can branch on it
//! without reading the output. Documented in the README ("Command line client").

use std::process::ExitCode;

use bgops_client::{Error, OperationStatus};

/// What a client command ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 0: the command did what was asked; for `submit --wait`, `wait` and `status`, the
    /// operation Succeeded.
    Done,
    /// 1: the operation ended Failed.
    Failed,
    /// 2: a usage error, found before anything was sent: a bad flag, an unknown parameter, a
    /// value of the wrong type, a malformed URL or id (also clap's own code).
    Usage,
    /// 3: the operation ended Canceled.
    Canceled,
    /// 4: the server could not be reached (refused, unresolvable, no answer in time).
    Unreachable,
    /// 5: the server refused the request (unknown custom API or id, bad token, missing
    /// privilege, a cancel of a finished operation…) or answered something unexpected.
    Refused,
    /// 6: the operation had not finished: `status` of a running one, or `wait` ran out of
    /// `--timeout`.
    NotFinished,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Failed => 1,
            Outcome::Usage => 2,
            Outcome::Canceled => 3,
            Outcome::Unreachable => 4,
            Outcome::Refused => 5,
            Outcome::NotFinished => 6,
        }
    }

    /// The outcome an operation's status stands for.
    pub fn of_status(status: OperationStatus) -> Outcome {
        match status {
            OperationStatus::Succeeded => Outcome::Done,
            OperationStatus::Failed => Outcome::Failed,
            OperationStatus::Canceled => Outcome::Canceled,
            _ => Outcome::NotFinished,
        }
    }

    /// The outcome of a client error.
    pub fn of_error(e: &Error) -> Outcome {
        match e {
            Error::Unreachable { .. } => Outcome::Unreachable,
            Error::Server(_) | Error::Unexpected { .. } => Outcome::Refused,
            Error::BadUrl { .. } | Error::InvalidHeader(_) | Error::Parameters(_) => Outcome::Usage,
            Error::Timeout { .. } => Outcome::NotFinished,
            _ => Outcome::Refused,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o.code())
    }
}
