//! The Dataverse error catalogue (SPEC §12): every error a caller can see, with its code, message
//! and HTTP status, built in one place so the wire shape never drifts.

use std::fmt;

/// A Dataverse web-service error code, such as `0x80040265`.
///
/// Shown on the wire as lower-case hex (as Dataverse does) and stored in `errorcode` columns as the
/// signed 32-bit value (`0x80040265` → -2147220891).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Service protection: too many concurrent requests (Dataverse's
    /// `ConcurrencyLimitExceeded`).
    pub const CONCURRENCY_LIMIT: Self = Self(0x8007_2326);
    /// `ObjectDoesNotExist`: a row or item is not there.
    pub const NOT_FOUND: Self = Self(0x8004_0217);
    /// An unknown entity set, action or function in the URL.
    pub const UNKNOWN_SEGMENT: Self = Self(0x8006_088a);
    /// `PrivilegeDenied`.
    pub const PRIVILEGE_DENIED: Self = Self(0x8004_0220);
    /// `AccessDenied`.
    pub const ACCESS_DENIED: Self = Self(0x8004_8405);
    /// CannotActOnBehalfOfAnotherUser: impersonation without `prvActOnBehalfOfAnotherUser`.
    pub const CANNOT_ACT_ON_BEHALF: Self = Self(0x8004_a110);
    /// `IsvAborted`: a plug-in reported an error.
    pub const PLUGIN_ERROR: Self = Self(0x8004_0265);
    /// `SandboxWorkerPluginTimeout`: an attempt exceeded its time-out.
    pub const TIMEOUT: Self = Self(0x8004_4173);
    /// `SandboxWorkerNotAvailable`: the node running an attempt died (its lease expired).
    pub const WORKER_LOST: Self = Self(0x8004_418d);
    /// `InvalidStateCodeStatusCode`, also used for a cancel of a terminal row.
    pub const INVALID_STATE: Self = Self(0x8004_8408);
    /// `BackgroundOperationParameterNotDefined`.
    pub const PARAM_NOT_DEFINED: Self = Self(0x8009_732e);
    /// `BackgroundOperationParameterTypeDoesNotMatch`.
    pub const PARAM_TYPE: Self = Self(0x8009_732f);
    /// `CallbackWithoutRespondAsync`.
    pub const CALLBACK_WITHOUT_ASYNC: Self = Self(0x8009_7326);
    /// `CallbackUriDoesNotFollowHttps`.
    pub const CALLBACK_NOT_HTTPS: Self = Self(0x8009_7328);
    /// `CallbackUriContainsInvalidSymbol`.
    pub const CALLBACK_HASH: Self = Self(0x8009_7329);
    /// `CallbackUriSpecifiedTwice`.
    pub const CALLBACK_TWICE: Self = Self(0x8009_732d);
    /// `InvalidArgument`: a request that is well-formed but not acceptable.
    pub const INVALID_ARGUMENT: Self = Self(0x8004_0203);
    /// A required parameter of a custom API is missing (`RequiredFieldMissing`-like).
    pub const PARAM_MISSING: Self = Self(0x8004_0200);
    /// A JSON payload that cannot be read.
    pub const BAD_PAYLOAD: Self = Self(0x8004_8d19);
    /// A URL (path or query) that cannot be read.
    pub const BAD_SYNTAX: Self = Self(0x8006_0888);
    /// The caller is not authenticated.
    pub const UNAUTHENTICATED: Self = Self(0x8004_4306);
    /// A request body over the limit.
    pub const TOO_LARGE: Self = Self(0x8004_4185);
    /// `ConcurrencyVersionMismatch`: `If-Match` did not match the row's etag.
    pub const VERSION_MISMATCH: Self = Self(0x8006_0882);
    /// `DuplicateRecord`: a row with the same key exists.
    pub const DUPLICATE_RECORD: Self = Self(0x8004_0237);
    /// A method the resource does not support.
    pub const NOT_SUPPORTED: Self = Self(0x8006_0889);
    /// An unexpected internal failure.
    pub const INTERNAL: Self = Self(0x8004_0216);
    /// Service protection: too many requests in the time window (-2147015902).
    pub const RATE_LIMIT_REQUESTS: Self = Self(0x8007_2322);
    /// Service protection: too many concurrent requests (-2147015898).
    pub const RATE_LIMIT_CONCURRENT: Self = Self(0x8007_2326);

    /// The signed 32-bit value stored in `errorcode` columns.
    pub fn as_i32(self) -> i32 {
        self.0 as i32
    }

    /// The code for a signed 32-bit column value.
    pub fn from_i32(v: i32) -> Self {
        Self(v as u32)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

/// An error as a Web API caller sees it: `{"error":{"code","message"}}` with an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The Dataverse error code.
    pub code: ErrorCode,
    /// The message, exactly as Dataverse words it where it has a wording.
    pub message: String,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The status monitor's 404: `Could not find item '{id}'.`
    pub fn item_not_found(id: impl fmt::Display) -> Self {
        Self::new(
            404,
            ErrorCode::NOT_FOUND,
            format!("Could not find item '{id}'."),
        )
    }

    /// A table row's 404: `{table} With Id = {id} Does Not Exist`.
    pub fn row_not_found(table: &str, id: impl fmt::Display) -> Self {
        Self::new(
            404,
            ErrorCode::NOT_FOUND,
            format!("{table} With Id = {id} Does Not Exist"),
        )
    }

    /// An unknown entity set, action or function.
    pub fn unknown_segment(name: &str) -> Self {
        Self::new(
            404,
            ErrorCode::UNKNOWN_SEGMENT,
            format!("Resource not found for the segment '{name}'."),
        )
    }

    /// A request parameter the custom API does not define.
    pub fn param_not_defined(param: &str, api: &str) -> Self {
        Self::new(
            400,
            ErrorCode::PARAM_NOT_DEFINED,
            format!("Parameter {param} is not defined on Custom API {api}."),
        )
    }

    /// A request parameter of the wrong type.
    pub fn param_type(param: &str, api: &str, expected: &str, provided: &str) -> Self {
        Self::new(
            400,
            ErrorCode::PARAM_TYPE,
            format!(
                "Parameter {param} on Custom API {api} should be of type {expected} but provided type was {provided}."
            ),
        )
    }

    /// A required request parameter that was not sent.
    pub fn param_missing(param: &str, api: &str) -> Self {
        Self::new(
            400,
            ErrorCode::PARAM_MISSING,
            format!("Required parameter {param} of Custom API {api} is missing."),
        )
    }

    /// A cancel of an operation that already finished (SPEC §5, §13).
    pub fn terminal_cancel() -> Self {
        Self::new(
            400,
            ErrorCode::INVALID_STATE,
            "Canceling background operation is not allowed after it is in terminal state.",
        )
    }

    /// A state/status pair that is not the cancel pair, or not a valid pair at all.
    pub fn invalid_state_pair() -> Self {
        Self::new(
            400,
            ErrorCode::INVALID_STATE,
            "State code is invalid or state code is valid but status code is invalid for a specified state code.",
        )
    }

    /// A plug-in's own error message, as a synchronous call answers it.
    pub fn plugin(message: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::PLUGIN_ERROR, message)
    }

    /// An attempt that exceeded its time-out.
    pub fn timeout() -> Self {
        Self::new(400, ErrorCode::TIMEOUT, TIMEOUT_MESSAGE)
    }

    /// A body that is not the JSON the resource expects.
    pub fn bad_payload(detail: impl fmt::Display) -> Self {
        Self::new(
            400,
            ErrorCode::BAD_PAYLOAD,
            format!("Error identified in Payload provided by the user: {detail}"),
        )
    }

    /// A URL that cannot be read (malformed id, bad query option).
    pub fn bad_syntax(detail: impl fmt::Display) -> Self {
        Self::new(
            400,
            ErrorCode::BAD_SYNTAX,
            format!("Bad Request - Error in query syntax: {detail}"),
        )
    }

    /// A property name in a query option or URL that the table does not have, worded as
    /// Dataverse words it.
    pub fn unknown_property(property: &str, table_logical_name: &str) -> Self {
        Self::new(
            400,
            ErrorCode::BAD_SYNTAX,
            format!(
                "Could not find a property named '{property}' on type 'Microsoft.Dynamics.CRM.{table_logical_name}'."
            ),
        )
    }

    /// A request that is readable but not acceptable.
    pub fn invalid_argument(detail: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::INVALID_ARGUMENT, detail)
    }

    /// A missing or unknown bearer token.
    pub fn unauthenticated() -> Self {
        Self::new(
            401,
            ErrorCode::UNAUTHENTICATED,
            "The request is not authenticated: send 'Authorization: Bearer {token}' with a valid API key.",
        )
    }

    /// A bearer token that was presented but refused, with the reason.
    pub fn bad_token(reason: impl fmt::Display) -> Self {
        Self::new(
            401,
            ErrorCode::UNAUTHENTICATED,
            format!("The request is not authenticated: {reason}."),
        )
    }

    /// Service protection: more than `limit` requests within `window_secs` (429), with
    /// Dataverse's message.
    pub fn too_many_requests(limit: u32, window_secs: u64) -> Self {
        Self::new(
            429,
            ErrorCode::RATE_LIMIT_REQUESTS,
            format!(
                "Number of requests exceeded the limit of {limit} over time window of {window_secs} seconds."
            ),
        )
    }

    /// Service protection: more than `limit` requests at once (429), with Dataverse's message.
    pub fn too_many_concurrent(limit: u32) -> Self {
        Self::new(
            429,
            ErrorCode::RATE_LIMIT_CONCURRENT,
            format!("Number of concurrent requests exceeded the limit of {limit}."),
        )
    }

    /// A caller without the privilege an action needs.
    pub fn privilege_denied(user: impl fmt::Display, privilege: &str, entity: &str) -> Self {
        Self::new(
            403,
            ErrorCode::PRIVILEGE_DENIED,
            format!(
                "Principal user (Id={user}, type=8) is missing {privilege} privilege on entity '{entity}'. Consider adding missing privilege to one of the principal (user/team) roles for the request to succeed."
            ),
        )
    }

    /// A caller without a privilege that is not about one table (a custom API's
    /// `executeprivilegename`, `prvActOnBehalfOfAnotherUser`).
    pub fn privilege_missing(user: impl fmt::Display, privilege: &str) -> Self {
        Self::new(
            403,
            ErrorCode::PRIVILEGE_DENIED,
            format!(
                "Principal user (Id={user}, type=8) is missing {privilege} privilege. Consider adding missing privilege to one of the principal (user/team) roles for the request to succeed."
            ),
        )
    }

    /// A body over the configured limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            ErrorCode::TOO_LARGE,
            format!("The request body is larger than the limit of {limit} bytes."),
        )
    }

    /// `If-Match` did not match.
    pub fn version_mismatch() -> Self {
        Self::new(
            412,
            ErrorCode::VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
    }

    /// A method the resource does not allow.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(405, ErrorCode::NOT_SUPPORTED, detail)
    }

    /// An `Idempotency-Key` reused for another request (SPEC §15): the IETF draft's 422.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            422,
            ErrorCode::INVALID_ARGUMENT,
            "This Idempotency-Key was already used for a different request (another body, custom API or callback). Use a new key for a new request.",
        )
    }

    /// A retry under an `Idempotency-Key` whose first request is still being processed
    /// (SPEC §15): the IETF draft's 409.
    pub fn idempotency_key_in_flight() -> Self {
        Self::new(
            409,
            ErrorCode::INVALID_ARGUMENT,
            "A request with this Idempotency-Key is still being processed. Retry after it has been answered.",
        )
    }

    /// More event streams than `--max-event-streams` at once (SPEC §15): 429, as Dataverse's
    /// concurrency limit.
    pub fn too_many_streams(limit: usize) -> Self {
        Self::new(
            429,
            ErrorCode::CONCURRENCY_LIMIT,
            format!("Number of concurrent event streams exceeded the limit of {limit}. Close a stream or retry later."),
        )
    }

    /// An internal failure; the cause is logged, never sent.
    pub fn internal() -> Self {
        Self::new(
            500,
            ErrorCode::INTERNAL,
            "An unexpected error occurred. The server logged the details.",
        )
    }
}

/// The message of an attempt that exceeded its time-out (SPEC §7).
pub const TIMEOUT_MESSAGE: &str =
    "The plug-in execution failed because the operation has timed-out at the Sandbox Worker.";

/// The message recorded for an attempt lost with its node.
pub const WORKER_LOST_MESSAGE: &str =
    "The plug-in execution failed because the node running it stopped before it finished (its lease expired).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_as_lower_hex_and_store_signed() {
        assert_eq!(ErrorCode::PLUGIN_ERROR.to_string(), "0x80040265");
        assert_eq!(ErrorCode::PLUGIN_ERROR.as_i32(), -2_147_220_891);
        assert_eq!(ErrorCode::TIMEOUT.as_i32(), -2_147_204_749);
        assert_eq!(ErrorCode::from_i32(-2_147_204_749), ErrorCode::TIMEOUT);
        assert_eq!(ErrorCode::UNKNOWN_SEGMENT.to_string(), "0x8006088a");
    }
}
