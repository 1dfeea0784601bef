//! Custom API definitions (SPEC §8): the named, typed contract of an operation, how a request's
//! JSON is checked against it before anything is stored, and the diagnostic APIs of SPEC §1.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::params::{ParamType, ParamValue, Parameters};

/// A request parameter of a custom API.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestParameter {
    /// The name used on the wire (`uniquename`).
    pub name: String,
    /// Its type.
    pub param_type: ParamType,
    /// Whether a caller may leave it out.
    pub optional: bool,
}

/// A response property of a custom API.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseProperty {
    /// The name used on the wire (`uniquename`).
    pub name: String,
    /// Its type.
    pub param_type: ParamType,
}

/// A custom API: what can be submitted, with which parameters, run by which plug-in.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomApi {
    /// The message name (`uniquename`), case-sensitive.
    pub unique_name: String,
    /// `displayname`, copied to each operation row.
    pub display_name: String,
    /// Whether it is called with GET as a function.
    pub is_function: bool,
    /// The request parameters, in definition order.
    pub request_parameters: Vec<RequestParameter>,
    /// The response properties, in definition order.
    pub response_properties: Vec<ResponseProperty>,
    /// The `typename` of the plug-in that runs it.
    pub plugin_type: String,
    /// The privilege a caller must hold to run it, beyond the table privileges.
    pub execute_privilege: Option<String>,
    /// Overrides the service's attempt time-out for this API.
    pub attempt_timeout: Option<Duration>,
    /// Overrides the service's maximum number of retries for this API.
    pub max_retries: Option<u32>,
}

impl CustomApi {
    /// Checks a request body against the definition and returns the typed inputs, in definition
    /// order, or the error a caller gets (`0x8009732E`, `0x8009732F`, missing required).
    pub fn validate_request(&self, body: &Map<String, Value>) -> Result<Parameters, ApiError> {
        for key in body.keys() {
            if key.starts_with('@') {
                continue;
            }
            if !self.request_parameters.iter().any(|p| p.name == *key) {
                return Err(ApiError::param_not_defined(key, &self.unique_name));
            }
        }
        let mut inputs = Parameters::default();
        for p in &self.request_parameters {
            match body.get(&p.name) {
                None | Some(Value::Null) => {
                    if !p.optional {
                        return Err(ApiError::param_missing(&p.name, &self.unique_name));
                    }
                }
                Some(v) => {
                    let value = ParamValue::from_json(p.param_type, v).map_err(|w| {
                        ApiError::param_type(&p.name, &self.unique_name, p.param_type.label(), w.0)
                    })?;
                    inputs.set(p.name.clone(), value);
                }
            }
        }
        Ok(inputs)
    }

    /// Checks a plug-in's outputs against the response properties; the error is a message for
    /// the failed attempt.
    pub fn validate_outputs(&self, outputs: &Parameters) -> Result<(), String> {
        for (name, value) in &outputs.0 {
            match self.response_properties.iter().find(|p| p.name == *name) {
                None => {
                    return Err(format!(
                        "The plug-in returned output parameter {name}, which is not a response property of Custom API {}.",
                        self.unique_name
                    ))
                }
                Some(p) if p.param_type != value.param_type() => {
                    return Err(format!(
                        "The plug-in returned output parameter {name} of type {} but Custom API {} defines it as {}.",
                        value.param_type().label(),
                        self.unique_name,
                        p.param_type.label()
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The type of response property `name`, if defined.
    pub fn response_type(&self, name: &str) -> Option<ParamType> {
        self.response_properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.param_type)
    }

    /// The type of request parameter `name`, if defined.
    pub fn request_type(&self, name: &str) -> Option<ParamType> {
        self.request_parameters
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.param_type)
    }
}

/// The diagnostic custom APIs of SPEC §1, always registered.
pub mod diagnostics {
    use super::*;

    /// `bgops_Echo`: echoes `Text`, `Number` and `Flag`.
    pub const ECHO: &str = "bgops_Echo";
    /// `bgops_Delay`: sleeps `DelayMs`, stopping at once when canceled.
    pub const DELAY: &str = "bgops_Delay";
    /// `bgops_Fail`: fails its first `FailTimes` attempts.
    pub const FAIL: &str = "bgops_Fail";

    fn req(name: &str, t: ParamType, optional: bool) -> RequestParameter {
        RequestParameter {
            name: name.to_owned(),
            param_type: t,
            optional,
        }
    }

    fn resp(name: &str, t: ParamType) -> ResponseProperty {
        ResponseProperty {
            name: name.to_owned(),
            param_type: t,
        }
    }

    fn api(
        name: &str,
        display: &str,
        request_parameters: Vec<RequestParameter>,
        response_properties: Vec<ResponseProperty>,
    ) -> CustomApi {
        CustomApi {
            unique_name: name.to_owned(),
            display_name: display.to_owned(),
            is_function: false,
            request_parameters,
            response_properties,
            plugin_type: format!("Bgops.Diagnostics.{}", &name["bgops_".len()..]),
            execute_privilege: Some("prvBgopsDiagnostics".to_owned()),
            attempt_timeout: None,
            max_retries: None,
        }
    }

    /// The three definitions.
    pub fn all() -> Vec<CustomApi> {
        use ParamType::*;
        vec![
            api(
                ECHO,
                "Echo",
                vec![
                    req("Text", String, true),
                    req("Number", Integer, true),
                    req("Flag", Boolean, true),
                ],
                vec![
                    resp("Text", String),
                    resp("Number", Integer),
                    resp("Flag", Boolean),
                ],
            ),
            api(
                DELAY,
                "Delay",
                vec![req("DelayMs", Integer, false)],
                vec![resp("DelayedMs", Integer)],
            ),
            api(
                FAIL,
                "Fail",
                vec![
                    req("FailTimes", Integer, false),
                    req("ErrorCode", Integer, true),
                    req("Message", String, true),
                    req("Permanent", Boolean, true),
                ],
                vec![resp("Attempts", Integer)],
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn echo() -> CustomApi {
        diagnostics::all().remove(0)
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn accepts_defined_parameters_in_definition_order() {
        let p = echo()
            .validate_request(&obj(json!({"Flag": true, "Text": "hi"})))
            .unwrap();
        assert_eq!(p.0[0].0, "Text");
        assert_eq!(p.get("Flag"), Some(&ParamValue::Boolean(true)));
        assert_eq!(p.get("Number"), None);
    }

    #[test]
    fn refuses_unknown_wrong_type_and_missing() {
        let e = echo()
            .validate_request(&obj(json!({"Nope": 1})))
            .unwrap_err();
        assert_eq!(
            e.message,
            "Parameter Nope is not defined on Custom API bgops_Echo."
        );
        assert_eq!(e.code.to_string(), "0x8009732e");
        let e = echo()
            .validate_request(&obj(json!({"Number": "x"})))
            .unwrap_err();
        assert_eq!(
            e.message,
            "Parameter Number on Custom API bgops_Echo should be of type Integer but provided type was String."
        );
        let delay = diagnostics::all().remove(1);
        let e = delay.validate_request(&Map::new()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("DelayMs"), "{}", e.message);
    }

    #[test]
    fn checks_outputs() {
        let api = echo();
        let mut out = Parameters::default();
        out.set("Number", ParamValue::Integer(1));
        assert!(api.validate_outputs(&out).is_ok());
        out.set("Number", ParamValue::String("1".into()));
        assert!(api.validate_outputs(&out).is_err());
    }
}
