//! Running one attempt of an OnBackgroundOperationComplete system job (SPEC §9): find the step
//! that started it and the step's handler, then either POST the execution context to a webhook
//! service endpoint (with the `x-ms-dynamics-*` headers of notes §7.3 and the endpoint's auth:
//! WebhookKey as `?code=`, HttpHeader as headers, HttpQueryString as query parameters) or call a
//! plug-in (native, or an HTTP plug-in row) with the event's parameters as inputs.
//!
//! The answer is `Ok` or the attempt's error; whether it is retried is the job runner's call.

use std::sync::Arc;

use bgops_core::catalogue::serviceendpoint_with_authvalue;
use bgops_core::custom_api_rows::{int, text};
use bgops_core::metadata::Row;
use bgops_core::step_rules::{self, WebhookAuth, ON_BACKGROUND_OPERATION_COMPLETE};
use bgops_core::system_job::{execution_context, webhook_body, ContextSource, JobData};
use bgops_core::{OperationError, OperationId, UserId};
use bgops_store::SystemJob;
use reqwest::header::{HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;

use crate::engine::Inner;
use crate::outbound::SendError;
use crate::outcome::AttemptRun;
use crate::plugin::{PluginContext, PluginError};

/// The most of a failing webhook's answer kept in the job's `message`.
const ANSWER_EXCERPT: usize = 512;

/// A failure no retry can fix (the step or its handler is gone or broken).
fn permanent(message: impl Into<String>) -> OperationError {
    OperationError::plugin(message, true)
}

/// A failure a retry may fix.
fn transient(message: impl Into<String>) -> OperationError {
    OperationError::plugin(message, false)
}

/// Runs `job`'s handler once, stopping when `cancel` fires (its lease was lost).
pub(crate) async fn run(
    inner: &Arc<Inner>,
    job: &SystemJob,
    cancel: &CancellationToken,
) -> Result<(), OperationError> {
    let data = JobData::parse(&job.data).map_err(permanent)?;
    let step_id = job
        .step_id
        .ok_or_else(|| permanent("The system job names no step (owningextensionid)."))?;
    let step = read(inner, "sdkmessageprocessingstep", step_id)
        .await?
        .ok_or_else(|| {
            permanent(format!(
                "The step {step_id} that started this system job no longer exists."
            ))
        })?;
    let step_name = text(&step, "name").unwrap_or_default().to_owned();
    let handler_id = step_rules::step_handler_id(&step)
        .ok_or_else(|| permanent(format!("The step {step_name} has no handler.")))?;
    let endpoint = inner
        .store
        .get_row(Arc::new(serviceendpoint_with_authvalue()), handler_id)
        .await
        .map_err(|e| transient(format!("The step's handler could not be read: {e}")))?;
    if let Some(endpoint) = endpoint {
        let source = ContextSource {
            job_id: job.id,
            job_created_on: job.created_on,
            step_id,
            step_name: &step_name,
        };
        return post_webhook(inner, job, &data, &source, &endpoint, cancel).await;
    }
    match read(inner, "plugintype", handler_id).await? {
        Some(plugin_type) => call_plugin(inner, job, &data, &plugin_type, cancel).await,
        None => Err(permanent(format!(
            "The handler {handler_id} of step {step_name} no longer exists."
        ))),
    }
}

/// One row of a catalogue table; a storage error is worth a retry.
async fn read(
    inner: &Inner,
    logical_name: &str,
    id: uuid::Uuid,
) -> Result<Option<Row>, OperationError> {
    let Some(table) = inner.catalogue.by_logical_name(logical_name) else {
        return Ok(None);
    };
    inner
        .store
        .get_row(table, id)
        .await
        .map_err(|e| transient(format!("The {logical_name} row could not be read: {e}")))
}

/// POSTs the execution context to a webhook service endpoint; 2xx is success.
async fn post_webhook(
    inner: &Inner,
    job: &SystemJob,
    data: &JobData,
    source: &ContextSource<'_>,
    endpoint: &Row,
    cancel: &CancellationToken,
) -> Result<(), OperationError> {
    let name = text(endpoint, "name").unwrap_or_default();
    let outbound = inner.config.outbound.as_ref().ok_or_else(|| {
        permanent("This service sends no HTTP requests, so it cannot call a webhook.")
    })?;
    let url = outbound
        .parse_url(text(endpoint, "url").unwrap_or_default())
        .map_err(|e| {
            permanent(format!(
                "The url of service endpoint {name} is not accepted: {e}."
            ))
        })?;
    let auth = WebhookAuth::parse(
        int(endpoint, "authtype").unwrap_or_default(),
        text(endpoint, "authvalue").unwrap_or_default(),
    )
    .map_err(|e| {
        permanent(format!(
            "The authentication of service endpoint {name} is not usable: {e}."
        ))
    })?;
    let (body, size_exceeded) = webhook_body(execution_context(data, source));
    let signed = outbound
        .signed_post(&url, &job.id.to_string(), body)
        .map_err(|e| send_error(name, e))?;
    let mut request = signed
        .query(&auth.query())
        .header("x-ms-dynamics-organization", organization(data))
        .header("x-ms-dynamics-entity-name", "none")
        .header(
            "x-ms-dynamics-request-name",
            ON_BACKGROUND_OPERATION_COMPLETE,
        )
        .header(
            "x-ms-correlation-request-id",
            data.correlation_id.to_string(),
        );
    if size_exceeded {
        request = request.header("x-ms-dynamics-msg-size-exceeded", "true");
    }
    for (header, value) in auth.headers() {
        let (Ok(header), Ok(value)) = (
            HeaderName::from_bytes(header.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(permanent(format!(
                "The header '{header}' of service endpoint {name} cannot be sent."
            )));
        };
        request = request.header(header, value);
    }
    let timeout = inner.config.attempt_timeout;
    let sending = std::time::Instant::now();
    let answer = tokio::select! {
        a = outbound.send(request, timeout) => a,
        _ = cancel.cancelled() => return Err(transient("The webhook call was abandoned: the job's lease was lost.")),
    };
    let delivered = matches!(&answer, Ok(a) if a.status.is_success());
    inner.config.metrics.delivery(
        bgops_metrics::DeliveryKind::webhook,
        if delivered {
            bgops_metrics::DeliveryOutcome::delivered
        } else {
            bgops_metrics::DeliveryOutcome::failed
        },
        sending.elapsed(),
    );
    match answer {
        Ok(a) if a.status.is_success() => Ok(()),
        Ok(a) => {
            let excerpt: String = String::from_utf8_lossy(&a.body)
                .chars()
                .take(ANSWER_EXCERPT)
                .collect();
            let excerpt = excerpt.trim();
            let mut message = format!(
                "The webhook call to service endpoint {name} failed: it answered {}",
                a.status
            );
            if a.status.is_redirection() {
                message.push_str(" (redirects are not followed)");
            }
            if !excerpt.is_empty() {
                message.push_str(&format!(": {excerpt}"));
            }
            Err(transient(message))
        }
        Err(SendError::Timeout(_)) => Err(OperationError::timeout()),
        Err(e) => Err(send_error(name, e)),
    }
}

/// The error of a request that got no answer; a refused address is not retried.
fn send_error(endpoint: &str, e: SendError) -> OperationError {
    let message = format!("The webhook call to service endpoint {endpoint} failed: {e}.");
    match e {
        SendError::Refused(_) | SendError::Client(_) => permanent(message),
        _ => transient(message),
    }
}

/// `x-ms-dynamics-organization`: the host the caller used, taken from the status monitor URL
/// (bgops is one organization).
fn organization(data: &JobData) -> String {
    reqwest::Url::parse(&data.input_parameters.location_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| bgops_core::system_job::ORGANIZATION_NAME.to_owned())
}

/// Calls a plug-in handler with the event's parameters; its outputs are not kept.
async fn call_plugin(
    inner: &Inner,
    job: &SystemJob,
    data: &JobData,
    plugin_type: &Row,
    cancel: &CancellationToken,
) -> Result<(), OperationError> {
    let type_name = text(plugin_type, "typename").unwrap_or_default();
    if inner.registry.plugin(type_name).is_none() {
        // An HTTP plug-in row created meanwhile: reread the definitions once.
        inner.registry.current_apis().await;
    }
    let api = JobData::message_api(type_name);
    let user = UserId(data.user_id);
    let ctx = PluginContext {
        operation_id: Some(OperationId(data.input_parameters.background_operation_id)),
        message_name: ON_BACKGROUND_OPERATION_COMPLETE.to_owned(),
        user_id: user,
        attempt: u32::try_from(job.attempt).unwrap_or(u32::MAX),
        inputs: data.plugin_inputs(),
        cancel: cancel.clone(),
        data: inner.data_access(user),
        api: Arc::new(api.clone()),
        timeout: inner.attempt_timeout(&api),
        trace_parent: crate::trace::outgoing(None),
    };
    match inner.execute(&api, ctx).await {
        AttemptRun::Returned(_) => Ok(()),
        AttemptRun::Error(PluginError::Failed {
            message,
            code,
            permanent,
        }) => {
            let mut e = OperationError::plugin(message, permanent);
            if let Some(code) = code {
                e.code = code;
            }
            Err(e)
        }
        AttemptRun::Error(PluginError::Canceled) => {
            Err(transient("The plug-in stopped before it finished."))
        }
        AttemptRun::TimedOut => Err(OperationError::timeout()),
        AttemptRun::Crashed(why) => Err(transient(format!("The plug-in crashed: {why}"))),
    }
}
