//! HTTP plug-ins (SPEC §8): a custom API implemented in any language behind an HTTP endpoint.
//!
//! Each attempt (or synchronous call) is one signed POST of
//! `{"BackgroundOperationId","MessageName","UserId","Attempt","InputParameters"}`; the endpoint
//! answers `200 {"OutputParameters":{…}}`, or `{"error":{"message","permanent"}}` to fail.
//! Non-2xx answers, time-outs and network errors fail the attempt and are retried per policy;
//! outputs are typed with the custom API's response properties, and a mismatch fails for good.

use std::sync::Arc;

use async_trait::async_trait;
use bgops_core::outbound_url::{OutboundUrl, UrlError};
use bgops_core::params::json_type_name;
use bgops_core::{CustomApi, ErrorCode, ParamValue, Parameters};
use serde_json::{json, Value};

use crate::outbound::{Outbound, OutboundResponse, SendError, MAX_RESPONSE_BYTES};
use crate::plugin::{Plugin, PluginContext, PluginError};

/// How much of an unexpected answer goes into the error message.
const EXCERPT_CHARS: usize = 200;

/// A plug-in that POSTs to an endpoint URL (a `plugintypes` row with `bgops_endpointurl`).
pub struct HttpPlugin {
    /// Where to POST; it passed the outbound URL rules.
    url: OutboundUrl,
    /// The shared client, policy and signing secret.
    outbound: Arc<Outbound>,
}

impl HttpPlugin {
    /// A plug-in for `endpoint`, which must pass `outbound`'s URL policy (the callback URL
    /// rules).
    pub fn new(endpoint: &str, outbound: Arc<Outbound>) -> Result<Self, UrlError> {
        Ok(Self {
            url: outbound.parse_url(endpoint)?,
            outbound,
        })
    }

    /// The endpoint.
    pub fn url(&self) -> &OutboundUrl {
        &self.url
    }
}

#[async_trait]
impl Plugin for HttpPlugin {
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError> {
        let body = json!({
            "BackgroundOperationId": ctx.operation_id.map(|id| id.to_string()),
            "MessageName": ctx.message_name,
            "UserId": ctx.user_id.to_string(),
            "Attempt": ctx.attempt,
            "InputParameters": ctx.inputs.to_json_object(),
        });
        // Stable per attempt, so a receiver can drop a duplicate delivery of the same attempt.
        let message_id = match ctx.operation_id {
            Some(id) => format!("msg_{id}_{}", ctx.attempt),
            None => format!("msg_sync_{}", uuid::Uuid::new_v4().simple()),
        };
        let send = async {
            let mut request =
                self.outbound
                    .signed_post(&self.url, &message_id, body.to_string().into_bytes())?;
            if let Some(tp) = ctx.trace_parent {
                request = request.header(crate::trace::TRACEPARENT, tp.to_string());
            }
            self.outbound.send(request, ctx.timeout).await
        };
        let answer = tokio::select! {
            answer = send => answer,
            () = ctx.cancel.cancelled() => return Err(PluginError::Canceled),
        };
        match answer {
            Ok(response) => read_answer(&ctx.api, &response),
            Err(e) => {
                tracing::info!(url = %self.url, error = %e, "HTTP plug-in request failed");
                Err(send_failure(e))
            }
        }
    }
}

/// The attempt's failure for a request that got no usable answer.
fn send_failure(e: SendError) -> PluginError {
    match e {
        SendError::Refused(e) => {
            PluginError::permanent(format!("The HTTP plug-in endpoint is not allowed: {e}."))
        }
        SendError::Timeout(_) => PluginError::Failed {
            message: bgops_core::error::TIMEOUT_MESSAGE.to_owned(),
            code: Some(ErrorCode::TIMEOUT),
            permanent: false,
        },
        SendError::TooLarge => PluginError::failed(format!(
            "The HTTP plug-in answered with a body larger than {MAX_RESPONSE_BYTES} bytes."
        )),
        SendError::Network(m) | SendError::Client(m) => {
            PluginError::failed(format!("The HTTP plug-in could not be reached: {m}"))
        }
    }
}

/// Reads an answer into the outputs or the attempt's failure.
fn read_answer(api: &CustomApi, response: &OutboundResponse) -> Result<Parameters, PluginError> {
    let status = response.status;
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    if let Some(error) = json.as_ref().and_then(|j| j.get("error")) {
        let message = match error {
            Value::String(m) => m.clone(),
            _ => error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!("The HTTP plug-in reported an error (HTTP {status}) without a message.")
                }),
        };
        let permanent = error.get("permanent").and_then(Value::as_bool) == Some(true);
        return Err(PluginError::Failed {
            message,
            code: None,
            permanent,
        });
    }
    if !status.is_success() {
        return Err(PluginError::failed(format!(
            "The HTTP plug-in answered HTTP {status}: {}",
            excerpt_bytes(&response.body)
        )));
    }
    let outputs = match json {
        None if response.body.iter().all(u8::is_ascii_whitespace) => {
            return Ok(Parameters::default())
        }
        None => {
            return Err(PluginError::failed(format!(
                "The HTTP plug-in answered HTTP {status} with a body that is not JSON: {}",
                excerpt_bytes(&response.body)
            )))
        }
        Some(Value::Object(mut body)) => body.remove("OutputParameters").unwrap_or(Value::Null),
        Some(other) => {
            return Err(PluginError::permanent(format!(
            "The HTTP plug-in answered with JSON {} instead of an object with OutputParameters.",
            json_type_name(&other)
        )))
        }
    };
    let outputs = match outputs {
        Value::Null => return Ok(Parameters::default()),
        Value::Object(map) => map,
        other => {
            return Err(PluginError::permanent(format!(
                "The HTTP plug-in answered OutputParameters as {} instead of an object of response properties.",
                json_type_name(&other)
            )))
        }
    };
    let mut typed = Parameters::default();
    for (name, value) in &outputs {
        if value.is_null() {
            // Response properties are optional: null is the same as absent.
            continue;
        }
        let Some(ty) = api.response_type(name) else {
            return Err(PluginError::permanent(format!(
                "The HTTP plug-in returned output parameter {name}, which is not a response property of Custom API {}.",
                api.unique_name
            )));
        };
        let value = ParamValue::from_json(ty, value).map_err(|wrong| {
            PluginError::permanent(format!(
                "The HTTP plug-in returned output parameter {name} as {} ({}), but Custom API {} defines it as {}.",
                wrong.0,
                excerpt(&value.to_string()),
                api.unique_name,
                ty.label()
            ))
        })?;
        typed.set(name.clone(), value);
    }
    Ok(typed)
}

fn excerpt_bytes(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    excerpt(&String::from_utf8_lossy(body))
}

/// The first [`EXCERPT_CHARS`] characters of `text` on one line.
fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgops_core::{ParamType, ResponseProperty};
    use reqwest::header::HeaderMap;
    use reqwest::StatusCode;

    fn api() -> CustomApi {
        CustomApi {
            unique_name: "test_Api".into(),
            display_name: "Test".into(),
            is_function: false,
            request_parameters: vec![],
            response_properties: vec![
                ResponseProperty {
                    name: "Count".into(),
                    param_type: ParamType::Integer,
                },
                ResponseProperty {
                    name: "Name".into(),
                    param_type: ParamType::String,
                },
            ],
            plugin_type: "Test.Http".into(),
            execute_privilege: None,
            attempt_timeout: None,
            max_retries: None,
        }
    }

    fn answer(status: u16, body: &str) -> Result<Parameters, PluginError> {
        read_answer(
            &api(),
            &OutboundResponse {
                status: StatusCode::from_u16(status).unwrap(),
                headers: HeaderMap::new(),
                body: body.as_bytes().to_vec(),
            },
        )
    }

    fn failure(r: Result<Parameters, PluginError>) -> (String, bool) {
        match r {
            Err(PluginError::Failed {
                message, permanent, ..
            }) => (message, permanent),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn outputs_are_typed_and_nulls_are_absent() {
        let out = answer(200, r#"{"OutputParameters":{"Count":3,"Name":null}}"#).unwrap();
        assert_eq!(out.0, vec![("Count".to_owned(), ParamValue::Integer(3))]);
        assert_eq!(answer(200, "").unwrap(), Parameters::default());
        assert_eq!(answer(204, "{}").unwrap(), Parameters::default());
    }

    #[test]
    fn errors_are_classified() {
        let (m, permanent) = failure(answer(503, "upstream\n  down"));
        assert_eq!(
            (m.as_str(), permanent),
            (
                "The HTTP plug-in answered HTTP 503 Service Unavailable: upstream down",
                false
            )
        );
        let (m, permanent) = failure(answer(
            500,
            r#"{"error":{"message":"no","permanent":true}}"#,
        ));
        assert_eq!((m.as_str(), permanent), ("no", true));
        let (m, permanent) = failure(answer(200, r#"{"error":{"message":"later"}}"#));
        assert_eq!((m.as_str(), permanent), ("later", false));
        let (m, permanent) = failure(answer(200, "<html>"));
        assert!(m.contains("not JSON: <html>") && !permanent, "{m}");
        let (m, permanent) = failure(answer(200, r#"{"OutputParameters":{"Other":1}}"#));
        assert!(
            m.contains("Other, which is not a response property") && permanent,
            "{m}"
        );
        let (m, permanent) = failure(answer(200, r#"{"OutputParameters":[1]}"#));
        assert!(m.contains("OutputParameters as Array") && permanent, "{m}");
        let (m, permanent) = failure(answer(200, r#"{"OutputParameters":{"Count":"three"}}"#));
        assert_eq!(
            (m.as_str(), permanent),
            ("The HTTP plug-in returned output parameter Count as String (\"three\"), but Custom API test_Api defines it as Integer.", true)
        );
    }

    #[test]
    fn excerpts_are_short_and_flat() {
        let long = "é".repeat(500);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt_bytes(b""), "(empty body)");
    }
}
