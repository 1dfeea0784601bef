//! System jobs of OnBackgroundOperationComplete steps (SPEC §9): what a job (`asyncoperation`
//! row) records in its `data` when a background operation completes, and what its handler gets
//! from it — the execution context JSON a webhook receives (notes §7.3), or the typed inputs of
//! a native plug-in.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::custom_api::{CustomApi, RequestParameter};
use crate::params::{ParamType, ParamValue, Parameters};
use crate::step_rules::{
    MODE_ASYNCHRONOUS, ON_BACKGROUND_OPERATION_COMPLETE, STAGE_POST_OPERATION,
};

/// `operationtype` 1, System Event: the type of the jobs of asynchronous steps.
pub const OPERATION_TYPE_SYSTEM_EVENT: i64 = 1;
/// The organization every context and `WhoAmI()` names: bgops is one organization.
pub const ORGANIZATION_ID: &str = "a1b2c3d4-0000-4000-8000-000000000002";
/// The business unit every context and `WhoAmI()` names.
pub const BUSINESS_UNIT_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001";
/// `OrganizationName` of an execution context.
pub const ORGANIZATION_NAME: &str = "bgops";
/// A body larger than this drops its parameters and images, as Dataverse does, and says so in
/// `x-ms-dynamics-msg-size-exceeded`.
pub const MAX_CONTEXT_BYTES: usize = 256 * 1024;

/// The status monitor path of an operation, for rows that did not record the URL their
/// caller saw.
pub fn status_monitor_path(operation: Uuid) -> String {
    format!("/api/backgroundoperation/{operation}")
}

/// The input parameters of OnBackgroundOperationComplete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobInputs {
    /// Always 0.
    pub payload_type: i32,
    /// The status monitor URL of the background operation.
    pub location_url: String,
    /// The background operation.
    pub background_operation_id: Uuid,
}

/// The output parameters of OnBackgroundOperationComplete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobOutputs {
    /// The custom API that ran.
    pub operation_name: String,
    /// `backgroundoperationstatecode` (3).
    pub background_operation_state_code: i32,
    /// `backgroundoperationstatuscode` (30, 31 or 32).
    pub background_operation_status_code: i32,
}

/// A job's `data` column: the event as it happened, so the job needs no other row to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobData {
    /// `OnBackgroundOperationComplete`.
    pub message_name: String,
    /// The event's inputs.
    pub input_parameters: JobInputs,
    /// The event's outputs.
    pub output_parameters: JobOutputs,
    /// The user the operation ran as (`runas`).
    pub user_id: Uuid,
    /// The user who submitted it (`createdby`).
    pub initiating_user_id: Uuid,
    /// Shared by the jobs of one completion.
    pub correlation_id: Uuid,
}

/// What a completed background operation contributes to its jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedOperation<'a> {
    /// `backgroundoperationid`.
    pub id: Uuid,
    /// `name`: the custom API.
    pub name: &'a str,
    /// `backgroundoperationstatecode`.
    pub state: i32,
    /// `backgroundoperationstatuscode`.
    pub status: i32,
    /// The status monitor URL the caller got, if recorded.
    pub location: Option<&'a str>,
    /// `runas`.
    pub run_as: Uuid,
    /// `createdby`.
    pub created_by: Uuid,
}

impl JobData {
    /// The data of the jobs started by `op`'s completion.
    pub fn new(op: &CompletedOperation<'_>, correlation_id: Uuid) -> Self {
        Self {
            message_name: ON_BACKGROUND_OPERATION_COMPLETE.to_owned(),
            input_parameters: JobInputs {
                payload_type: 0,
                location_url: op
                    .location
                    .map_or_else(|| status_monitor_path(op.id), str::to_owned),
                background_operation_id: op.id,
            },
            output_parameters: JobOutputs {
                operation_name: op.name.to_owned(),
                background_operation_state_code: op.state,
                background_operation_status_code: op.status,
            },
            user_id: op.run_as,
            initiating_user_id: op.created_by,
            correlation_id,
        }
    }

    /// The stored JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Reads the stored JSON text.
    pub fn parse(s: &str) -> Result<Self, String> {
        serde_json::from_str(s).map_err(|e| format!("the job's data cannot be read ({e})"))
    }

    /// The typed inputs a native plug-in handler gets: the event's input parameters followed by
    /// its output parameters (a post-operation step sees both in Dataverse).
    pub fn plugin_inputs(&self) -> Parameters {
        let i = &self.input_parameters;
        let o = &self.output_parameters;
        Parameters(vec![
            ("PayloadType".into(), ParamValue::Integer(i.payload_type)),
            (
                "LocationUrl".into(),
                ParamValue::String(i.location_url.clone()),
            ),
            (
                "BackgroundOperationId".into(),
                ParamValue::Guid(i.background_operation_id),
            ),
            (
                "OperationName".into(),
                ParamValue::String(o.operation_name.clone()),
            ),
            (
                "BackgroundOperationStateCode".into(),
                ParamValue::Integer(o.background_operation_state_code),
            ),
            (
                "BackgroundOperationStatusCode".into(),
                ParamValue::Integer(o.background_operation_status_code),
            ),
        ])
    }

    /// The custom API a plug-in handler sees as the one being run: the message, with the
    /// parameters of [`JobData::plugin_inputs`] and no response properties (a step's outputs
    /// are not kept).
    pub fn message_api(plugin_type: &str) -> CustomApi {
        let param = |name: &str, param_type| RequestParameter {
            name: name.to_owned(),
            param_type,
            optional: false,
        };
        CustomApi {
            unique_name: ON_BACKGROUND_OPERATION_COMPLETE.to_owned(),
            display_name: ON_BACKGROUND_OPERATION_COMPLETE.to_owned(),
            is_function: false,
            request_parameters: vec![
                param("PayloadType", ParamType::Integer),
                param("LocationUrl", ParamType::String),
                param("BackgroundOperationId", ParamType::Guid),
                param("OperationName", ParamType::String),
                param("BackgroundOperationStateCode", ParamType::Integer),
                param("BackgroundOperationStatusCode", ParamType::Integer),
            ],
            response_properties: Vec::new(),
            plugin_type: plugin_type.to_owned(),
            execute_privilege: None,
            attempt_timeout: None,
            max_retries: None,
        }
    }
}

/// The job and step a context is built for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextSource<'a> {
    /// The job (`asyncoperationid`): the context's `OperationId` and `RequestId`.
    pub job_id: Uuid,
    /// When the job was created: `OperationCreatedOn`.
    pub job_created_on: Timestamp,
    /// The step (`sdkmessageprocessingstepid`): `OwningExtension.Id`.
    pub step_id: Uuid,
    /// The step's `name`.
    pub step_name: &'a str,
}

/// A date in the WCF JSON form Dataverse contexts use: `/Date(1506409448000)/`.
pub fn wcf_date(t: Timestamp) -> String {
    format!("/Date({})/", t.millis())
}

/// A parameter collection as Dataverse serializes it: `[{"key":…,"value":…}]`.
fn key_values(pairs: Vec<(&str, Value)>) -> Value {
    Value::Array(
        pairs
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// The execution context (`RemoteExecutionContext`) a webhook receives for a job.
pub fn execution_context(data: &JobData, source: &ContextSource<'_>) -> Map<String, Value> {
    let i = &data.input_parameters;
    let o = &data.output_parameters;
    let context = json!({
        "BusinessUnitId": BUSINESS_UNIT_ID,
        "CorrelationId": data.correlation_id,
        "Depth": 1,
        "InitiatingUserId": data.initiating_user_id,
        "InputParameters": key_values(vec![
            ("PayloadType", json!(i.payload_type)),
            ("LocationUrl", json!(i.location_url)),
            ("BackgroundOperationId", json!(i.background_operation_id)),
        ]),
        "IsExecutingOffline": false,
        "IsInTransaction": false,
        "IsOfflinePlayback": false,
        "IsolationMode": 1,
        "MessageName": data.message_name,
        "Mode": MODE_ASYNCHRONOUS,
        "OperationCreatedOn": wcf_date(source.job_created_on),
        "OperationId": source.job_id,
        "OrganizationId": ORGANIZATION_ID,
        "OrganizationName": ORGANIZATION_NAME,
        "OutputParameters": key_values(vec![
            ("OperationName", json!(o.operation_name)),
            ("BackgroundOperationStateCode", json!(o.background_operation_state_code)),
            ("BackgroundOperationStatusCode", json!(o.background_operation_status_code)),
        ]),
        "OwningExtension": {
            "Id": source.step_id,
            "KeyAttributes": [],
            "LogicalName": "sdkmessageprocessingstep",
            "Name": source.step_name,
            "RowVersion": null,
        },
        "ParentContext": null,
        "PostEntityImages": [],
        "PreEntityImages": [],
        "PrimaryEntityId": Uuid::nil(),
        "PrimaryEntityName": "none",
        "RequestId": source.job_id,
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": STAGE_POST_OPERATION,
        "UserId": data.user_id,
    });
    match context {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The body a webhook is sent, and whether it exceeded [`MAX_CONTEXT_BYTES`]: then, as in
/// Dataverse, `ParentContext`, `InputParameters`, `PreEntityImages` and `PostEntityImages` are
/// removed.
pub fn webhook_body(mut context: Map<String, Value>) -> (Vec<u8>, bool) {
    let body = serde_json::to_vec(&context).unwrap_or_default();
    if body.len() <= MAX_CONTEXT_BYTES {
        return (body, false);
    }
    for key in [
        "ParentContext",
        "InputParameters",
        "PreEntityImages",
        "PostEntityImages",
    ] {
        context.remove(key);
    }
    (serde_json::to_vec(&context).unwrap_or_default(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(location: Option<&str>) -> CompletedOperation<'_> {
        CompletedOperation {
            id: Uuid::from_u128(1),
            name: "bgops_Echo",
            state: 3,
            status: 31,
            location,
            run_as: Uuid::from_u128(2),
            created_by: Uuid::from_u128(3),
        }
    }

    #[test]
    fn data_round_trips_and_falls_back_to_the_status_monitor_path() {
        let d = JobData::new(&op(None), Uuid::from_u128(9));
        assert_eq!(
            d.input_parameters.location_url,
            "/api/backgroundoperation/00000000-0000-0000-0000-000000000001"
        );
        let text = d.to_json();
        assert!(text.contains("\"PayloadType\":0"), "{text}");
        assert!(text.contains("\"OperationName\":\"bgops_Echo\""), "{text}");
        assert_eq!(JobData::parse(&text).unwrap(), d);
        assert!(JobData::parse("nope").is_err());
    }

    #[test]
    fn context_has_the_dataverse_shape() {
        let d = JobData::new(
            &op(Some("https://h/api/backgroundoperation/1")),
            Uuid::from_u128(9),
        );
        let source = ContextSource {
            job_id: Uuid::from_u128(7),
            job_created_on: Timestamp(1_506_409_448_000),
            step_id: Uuid::from_u128(8),
            step_name: "notify",
        };
        let c = Value::Object(execution_context(&d, &source));
        assert_eq!(c["MessageName"], "OnBackgroundOperationComplete");
        assert_eq!(c["PrimaryEntityName"], "none");
        assert_eq!(c["Stage"], 40);
        assert_eq!(c["Mode"], 1);
        assert_eq!(c["Depth"], 1);
        assert_eq!(c["OperationCreatedOn"], "/Date(1506409448000)/");
        assert_eq!(c["OrganizationId"], ORGANIZATION_ID);
        assert_eq!(c["UserId"], "00000000-0000-0000-0000-000000000002");
        assert_eq!(
            c["InitiatingUserId"],
            "00000000-0000-0000-0000-000000000003"
        );
        assert_eq!(
            c["InputParameters"],
            json!([
                {"key": "PayloadType", "value": 0},
                {"key": "LocationUrl", "value": "https://h/api/backgroundoperation/1"},
                {"key": "BackgroundOperationId", "value": "00000000-0000-0000-0000-000000000001"},
            ])
        );
        assert_eq!(
            c["OutputParameters"],
            json!([
                {"key": "OperationName", "value": "bgops_Echo"},
                {"key": "BackgroundOperationStateCode", "value": 3},
                {"key": "BackgroundOperationStatusCode", "value": 31},
            ])
        );
        assert_eq!(
            c["OwningExtension"]["LogicalName"],
            "sdkmessageprocessingstep"
        );
        assert_eq!(c["OwningExtension"]["Name"], "notify");
    }

    #[test]
    fn an_oversized_context_drops_its_parameters() {
        let mut d = JobData::new(&op(None), Uuid::nil());
        let source = ContextSource {
            job_id: Uuid::nil(),
            job_created_on: Timestamp(0),
            step_id: Uuid::nil(),
            step_name: "s",
        };
        let (_, exceeded) = webhook_body(execution_context(&d, &source));
        assert!(!exceeded);
        d.input_parameters.location_url = "x".repeat(MAX_CONTEXT_BYTES);
        let (body, exceeded) = webhook_body(execution_context(&d, &source));
        assert!(exceeded);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v.get("InputParameters").is_none());
        assert!(v.get("OutputParameters").is_some());
    }

    #[test]
    fn plugin_inputs_are_typed_and_match_the_message_api() {
        let d = JobData::new(&op(None), Uuid::nil());
        let inputs = d.plugin_inputs();
        let api = JobData::message_api("X");
        for (name, value) in &inputs.0 {
            assert_eq!(api.request_type(name), Some(value.param_type()), "{name}");
        }
        assert_eq!(
            inputs.get("BackgroundOperationStatusCode"),
            Some(&ParamValue::Integer(31))
        );
    }
}
