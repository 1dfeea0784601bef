//! What the status monitor (`/api/backgroundoperation/{id}`, SPEC §5) says about an operation,
//! and the answer to a background submission.

use std::time::Duration;

use bgops_core::{OperationId, OperationState, OperationStatus};
use serde_json::{Map, Value};

/// The state of one background operation, as the status monitor shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// Where the operation is: Waiting For Resources, In Progress, Canceling, or one of the
    /// terminal Succeeded, Failed, Canceled.
    pub status: OperationStatus,
    /// The response properties, with their native JSON types; filled only once Succeeded.
    pub outputs: Map<String, Value>,
    /// The error the last attempt ended with; only when Failed.
    pub failure: Option<Failure>,
    /// How long the server asks pollers to wait before the next look (`Retry-After`); only
    /// while the operation has not finished.
    pub retry_after: Option<Duration>,
}

/// Why an operation ended Failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `backgroundOperationErrorCode`: the signed 32-bit Dataverse code, e.g. -2147220891
    /// (`0x80040265`, a plug-in error).
    pub code: i32,
    /// `backgroundOperationErrorMessage`.
    pub message: String,
}

impl Failure {
    /// The code in the `0x…` form error bodies use.
    pub fn hex_code(&self) -> String {
        format!("0x{:08x}", self.code as u32)
    }
}

impl Status {
    /// Whether the operation has finished for good (Succeeded, Failed or Canceled).
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// The state the status belongs to (Ready, Locked, Completed).
    pub fn state(&self) -> OperationState {
        self.status.state()
    }

    /// Reads a status monitor body; `None` when it is not one.
    pub(crate) fn from_body(
        body: Map<String, Value>,
        retry_after: Option<Duration>,
    ) -> Option<Self> {
        let status = body
            .get("backgroundOperationStatusCode")
            .and_then(Value::as_i64)
            .and_then(OperationStatus::from_code)?;
        let failure = match (
            body.get("backgroundOperationErrorCode")
                .and_then(Value::as_i64),
            body.get("backgroundOperationErrorMessage")
                .and_then(Value::as_str),
        ) {
            (Some(code), message) => Some(Failure {
                code: i32::try_from(code).unwrap_or(code as i32),
                message: message.unwrap_or_default().to_owned(),
            }),
            _ => None,
        };
        let outputs = body
            .into_iter()
            .filter(|(k, _)| !k.starts_with("backgroundOperation") && !k.starts_with('@'))
            .collect();
        Some(Status {
            status,
            outputs,
            failure,
            retry_after,
        })
    }

    /// The status monitor's JSON form of this status (without `Retry-After`), as a program
    /// reading the CLI's output gets it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "backgroundOperationStateCode".into(),
            self.state().code().into(),
        );
        m.insert(
            "backgroundOperationStatusCode".into(),
            self.status.code().into(),
        );
        if let Some(f) = &self.failure {
            m.insert("backgroundOperationErrorCode".into(), f.code.into());
            m.insert(
                "backgroundOperationErrorMessage".into(),
                f.message.clone().into(),
            );
        }
        for (k, v) in &self.outputs {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// The answer to a background submission (`202 Accepted`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The new operation's id (`x-ms-dyn-backgroundoperationid`).
    pub id: OperationId,
    /// Its status monitor URL (`Location`).
    pub location: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_success_failure_and_cancel() {
        let ok = Status::from_body(
            body(json!({"backgroundOperationStateCode":3,"backgroundOperationStatusCode":30,"Text":"hi","Number":4})),
            None,
        )
        .unwrap();
        assert_eq!(ok.status, OperationStatus::Succeeded);
        assert_eq!(ok.outputs["Text"], "hi");
        assert_eq!(ok.outputs.len(), 2);
        assert_eq!(ok.failure, None);
        assert_eq!(ok.to_json()["Number"], 4);

        let failed = Status::from_body(
            body(json!({"backgroundOperationStateCode":3,"backgroundOperationStatusCode":31,
                "backgroundOperationErrorCode":-2147220891,"backgroundOperationErrorMessage":"boom"})),
            None,
        )
        .unwrap();
        let f = failed.failure.clone().unwrap();
        assert_eq!((f.code, f.message.as_str()), (-2147220891, "boom"));
        assert_eq!(f.hex_code(), "0x80040265");
        assert!(failed.outputs.is_empty());
        assert_eq!(
            failed.to_json()["backgroundOperationErrorCode"],
            -2147220891
        );

        let running = Status::from_body(
            body(json!({"backgroundOperationStateCode":2,"backgroundOperationStatusCode":20})),
            Some(Duration::from_secs(60)),
        )
        .unwrap();
        assert!(!running.is_terminal());
        assert_eq!(running.state(), OperationState::Locked);

        assert_eq!(Status::from_body(body(json!({"value":[]})), None), None);
    }
}
