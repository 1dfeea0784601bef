//! What can go wrong talking to bgops: the server refused (with its Dataverse error code and
//! message), the server could not be reached, or an operation was still running at a deadline.

use bgops_core::OperationId;

use crate::operation::Status;

/// An error answer from the server, in the Dataverse shape
/// `{"error":{"code":"0x…","message":"…"}}`, with its HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    /// The HTTP status, e.g. 400, 401, 404.
    pub status: u16,
    /// The Dataverse error code as the server wrote it, e.g. `0x8006088a`.
    pub code: String,
    /// The message, e.g. `Resource not found for the segment 'contoso_Nope'.`.
    pub message: String,
}

impl ServerError {
    /// The code as the signed 32-bit value Dataverse stores (`0x80040265` → -2147220891), when
    /// it is hexadecimal.
    pub fn code_value(&self) -> Option<i32> {
        let hex = self.code.strip_prefix("0x").unwrap_or(&self.code);
        u32::from_str_radix(hex, 16).ok().map(|v| v as i32)
    }
}

/// Why a call did not give the answer asked for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the request and said why (a bad parameter, an unknown custom API, a
    /// missing privilege, an unknown id, a cancel of a finished operation…).
    #[error("{} (HTTP {}, {})", .0.message, .0.status, .0.code)]
    Server(ServerError),
    /// No answer: the connection was refused or broke, or the server did not answer in time.
    /// The cause is the error's `source()`.
    #[error("cannot reach bgops at {url}")]
    Unreachable {
        /// The URL asked for.
        url: String,
        /// What the HTTP library saw.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered something a bgops server does not send (an error without the
    /// Dataverse error body, a body that is not the expected JSON): another service at the
    /// URL, or a proxy in the way.
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    Unexpected {
        /// The URL asked for.
        url: String,
        /// The HTTP status of the answer.
        status: u16,
        /// What was wrong with it.
        detail: String,
    },
    /// The base URL given to [`Client::new`](crate::Client::new) is not an absolute http(s)
    /// URL.
    #[error("'{url}' is not an http:// or https:// URL: {reason}")]
    BadUrl {
        /// The text given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A value (the token, an idempotency key, a callback URL) cannot be sent in the HTTP
    /// header it goes in: it holds a line break or another control character.
    #[error("the value for the {0} header holds a character HTTP headers cannot carry")]
    InvalidHeader(&'static str),
    /// The parameters given cannot be sent: they do not serialize to a JSON object.
    #[error("the parameters cannot be sent: {0}")]
    Parameters(String),
    /// [`Client::wait`](crate::Client::wait) reached its deadline before the operation
    /// finished; `last` is the state seen last.
    #[error("operation {id} had not finished when the wait ended (last seen: {})", .last.status.label())]
    Timeout {
        /// The operation waited for.
        id: OperationId,
        /// Its status at the last look.
        last: Box<Status>,
    },
}

impl Error {
    /// The server's error, when the server refused the request.
    pub fn server(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) => Some(e),
            _ => None,
        }
    }

    /// The Dataverse error code (`0x…`), when the server refused the request.
    pub fn code(&self) -> Option<&str> {
        self.server().map(|e| e.code.as_str())
    }

    /// The HTTP status, when the server answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Server(e) => Some(e.status),
            Error::Unexpected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether nothing answered: worth retrying later, or a wrong URL.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_value_is_the_signed_int32_dataverse_stores() {
        let e = ServerError {
            status: 400,
            code: "0x80040265".into(),
            message: "x".into(),
        };
        assert_eq!(e.code_value(), Some(-2147220891));
        let odd = ServerError {
            code: "E_FAIL".into(),
            ..e
        };
        assert_eq!(odd.code_value(), None);
    }
}
