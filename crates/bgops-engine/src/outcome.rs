//! Turning how an attempt ran into the outcome to record: success, retry, failure or cancel.
//! Pure functions of their inputs (clock and jitter passed in), so the rules are unit-tested.

use bgops_core::{
    BackgroundOperation, CustomApi, FailureDecision, Jitter, OperationError, ParamValue,
    Parameters, RetryPolicy, Timestamp,
};
use bgops_store::AttemptResult;

use crate::plugin::PluginError;

/// How an attempt's execution ended, before policy is applied.
#[derive(Debug)]
pub enum AttemptRun {
    /// The plug-in returned these outputs.
    Returned(Parameters),
    /// The plug-in returned an error.
    Error(PluginError),
    /// The attempt time-out passed.
    TimedOut,
    /// The plug-in panicked or its task was lost.
    Crashed(String),
}

/// Decides what to record for an attempt of `op`.
pub fn decide(
    op: &BackgroundOperation,
    api: &CustomApi,
    run: AttemptRun,
    cancel_requested: bool,
    policy: RetryPolicy,
    jitter: &dyn Jitter,
    now: Timestamp,
) -> AttemptResult {
    let error = match run {
        AttemptRun::Returned(outputs) => match api.validate_outputs(&outputs) {
            Ok(()) => {
                return AttemptResult::Succeeded {
                    outputs: outputs.to_key_value_json(),
                    outputs_json: Some(outputs.to_json_text()),
                }
            }
            Err(message) => OperationError::plugin(message, true),
        },
        AttemptRun::Error(PluginError::Canceled) if cancel_requested => {
            return AttemptResult::Canceled
        }
        AttemptRun::Error(PluginError::Canceled) => {
            OperationError::plugin("The plug-in stopped without a cancel request.", false)
        }
        AttemptRun::Error(PluginError::Failed {
            message,
            code,
            permanent,
        }) => {
            let mut e = OperationError::plugin(message, permanent);
            if let Some(code) = code {
                e.code = code;
            }
            e
        }
        AttemptRun::TimedOut => OperationError::timeout(),
        AttemptRun::Crashed(why) => {
            OperationError::plugin(format!("The plug-in crashed: {why}"), false)
        }
    };
    failure(
        op.retry_count,
        op.max_retries,
        error,
        cancel_requested,
        policy,
        jitter,
        now,
    )
}

/// The outcome of a failed attempt: a retry at some time, or the end.
pub fn failure(
    retry_count: i32,
    max_retries: i32,
    error: OperationError,
    cancel_requested: bool,
    policy: RetryPolicy,
    jitter: &dyn Jitter,
    now: Timestamp,
) -> AttemptResult {
    let policy = RetryPolicy {
        max_retries: u32::try_from(max_retries).unwrap_or(0),
        ..policy
    };
    let retries_done = u32::try_from(retry_count).unwrap_or(0);
    let retry_at =
        match policy.after_failure(retries_done, error.permanent || cancel_requested, jitter) {
            FailureDecision::RetryAfter(d) => Some(now.plus(d)),
            FailureDecision::GiveUp => None,
        };
    AttemptResult::Failed { error, retry_at }
}

/// Reads stored inputs back into typed parameters, using the API's definition for types;
/// a parameter the definition no longer knows is passed on as a string.
pub fn stored_inputs(api: &CustomApi, stored: &str) -> Parameters {
    let mut p = Parameters::default();
    for (name, value) in bgops_core::params::parse_key_value_json(stored) {
        let typed = api
            .request_type(&name)
            .and_then(|t| ParamValue::from_storage_string(t, &value))
            .unwrap_or(ParamValue::String(value));
        p.set(name, typed);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgops_core::custom_api::diagnostics;
    use bgops_core::retry::FixedJitter;
    use bgops_core::{ErrorCode, OperationId, OperationStatus, UserId};
    use std::time::Duration;

    fn op(retry_count: i32, max_retries: i32) -> BackgroundOperation {
        BackgroundOperation {
            id: OperationId::new_random(),
            name: diagnostics::FAIL.into(),
            display_name: "Fail".into(),
            status: OperationStatus::InProgress,
            input_parameters: "[]".into(),
            output_parameters: None,
            start_time: None,
            end_time: None,
            retry_count,
            error_code: None,
            error_message: None,
            run_as: UserId::new_random(),
            priority: 0,
            ttl_seconds: 60,
            created_on: Timestamp(0),
            modified_on: Timestamp(0),
            created_by: UserId::new_random(),
            version_number: 1,
            attempt: 1,
            max_retries,
            trace_parent: None,
        }
    }

    fn api() -> CustomApi {
        diagnostics::all().remove(2)
    }

    const POLICY: RetryPolicy = RetryPolicy {
        base: Duration::from_secs(10),
        max_retries: 3,
    };

    #[test]
    fn failure_is_retried_with_backoff_until_retries_are_spent() {
        let j = FixedJitter(1.0);
        let now = Timestamp(1_000_000);
        let r = decide(
            &op(1, 3),
            &api(),
            AttemptRun::Error(PluginError::failed("x")),
            false,
            POLICY,
            &j,
            now,
        );
        assert_eq!(
            r,
            AttemptResult::Failed {
                error: OperationError::plugin("x", false),
                retry_at: Some(Timestamp(1_020_000)),
            }
        );
        let r = decide(
            &op(3, 3),
            &api(),
            AttemptRun::Error(PluginError::failed("x")),
            false,
            POLICY,
            &j,
            now,
        );
        assert!(matches!(r, AttemptResult::Failed { retry_at: None, .. }));
    }

    #[test]
    fn permanent_and_canceled_are_not_retried() {
        let j = FixedJitter(0.5);
        let now = Timestamp(0);
        let r = decide(
            &op(0, 3),
            &api(),
            AttemptRun::Error(PluginError::permanent("p")),
            false,
            POLICY,
            &j,
            now,
        );
        assert!(matches!(r, AttemptResult::Failed { retry_at: None, .. }));
        let r = decide(
            &op(0, 3),
            &api(),
            AttemptRun::Error(PluginError::failed("f")),
            true,
            POLICY,
            &j,
            now,
        );
        assert!(matches!(r, AttemptResult::Failed { retry_at: None, .. }));
        let r = decide(
            &op(0, 3),
            &api(),
            AttemptRun::Error(PluginError::Canceled),
            true,
            POLICY,
            &j,
            now,
        );
        assert_eq!(r, AttemptResult::Canceled);
    }

    #[test]
    fn timeout_has_its_code_and_is_retryable() {
        let r = decide(
            &op(0, 3),
            &api(),
            AttemptRun::TimedOut,
            false,
            POLICY,
            &FixedJitter(0.0),
            Timestamp(5),
        );
        match r {
            AttemptResult::Failed { error, retry_at } => {
                assert_eq!(error.code, ErrorCode::TIMEOUT);
                assert_eq!(retry_at, Some(Timestamp(5)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_output_type_fails_permanently() {
        let mut out = Parameters::default();
        out.set("Attempts", ParamValue::String("1".into()));
        let r = decide(
            &op(0, 3),
            &api(),
            AttemptRun::Returned(out),
            false,
            POLICY,
            &FixedJitter(0.0),
            Timestamp(0),
        );
        assert!(matches!(r, AttemptResult::Failed { retry_at: None, .. }));
    }

    #[test]
    fn stored_inputs_regain_their_types() {
        let p = stored_inputs(
            &api(),
            r#"[{"Key":"FailTimes","Value":"2"},{"Key":"Permanent","Value":"true"}]"#,
        );
        assert_eq!(p.get("FailTimes"), Some(&ParamValue::Integer(2)));
        assert_eq!(p.get("Permanent"), Some(&ParamValue::Boolean(true)));
    }
}
