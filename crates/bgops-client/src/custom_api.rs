//! Custom API definitions as a client sees them (SPEC §8): read from the `customapis`,
//! `customapirequestparameters` and `customapiresponseproperties` tables, and used to type
//! parameters given as text (`Number=42` on a command line) before anything is sent.

use bgops_core::params::WrongType;
use bgops_core::{ParamType, ParamValue, RequestParameter, ResponseProperty};
use serde_json::{Map, Value};

/// A custom API that can be submitted: its name, its typed request parameters and response
/// properties.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomApiInfo {
    /// The name to submit (`uniquename`), case-sensitive.
    pub unique_name: String,
    /// `displayname`.
    pub display_name: String,
    /// `description`, when set.
    pub description: Option<String>,
    /// Whether it is a function (called with GET) rather than an action.
    pub is_function: bool,
    /// Whether it is private (hidden from Dataverse's metadata; still callable).
    pub is_private: bool,
    /// The request parameters, by name.
    pub request_parameters: Vec<RequestParameter>,
    /// The response properties, by name.
    pub response_properties: Vec<ResponseProperty>,
}

/// Why `NAME=VALUE` arguments do not make a request for a custom API. Each says which
/// parameter, and what the custom API expects.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    /// An argument without `=`.
    #[error("'{0}' is not NAME=VALUE")]
    NotAPair(String),
    /// A parameter the custom API does not define.
    #[error("{api} has no parameter {name}; its parameters: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    Unknown {
        /// The custom API.
        api: String,
        /// The name given.
        name: String,
        /// The parameters it has, as `Name (Type)`.
        known: Vec<String>,
    },
    /// A value that does not read as the parameter's type.
    #[error("parameter {name} of {api} is of type {ty}: '{value}' is not {article} {ty}{hint}",
        ty = expected.label(), article = article(expected), hint = hint(*expected))]
    WrongType {
        /// The custom API.
        api: String,
        /// The parameter.
        name: String,
        /// The type it is defined with.
        expected: ParamType,
        /// The text given.
        value: String,
    },
    /// A parameter given twice.
    #[error("parameter {0} is given twice")]
    Repeated(String),
    /// A required parameter left out.
    #[error("{api} requires parameter {name} ({})", .expected.label())]
    Missing {
        /// The custom API.
        api: String,
        /// The parameter.
        name: String,
        /// Its type.
        expected: ParamType,
    },
}

fn article(t: &ParamType) -> &'static str {
    if t.label().starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

fn hint(t: ParamType) -> &'static str {
    match t {
        ParamType::Boolean => " (true or false)",
        ParamType::Integer | ParamType::Picklist => {
            " (a whole number from -2147483648 to 2147483647)"
        }
        ParamType::Decimal | ParamType::Money | ParamType::Float => " (a number such as 12.5)",
        ParamType::DateTime => " (such as 2026-12-04T09:30:00Z)",
        ParamType::Guid => " (such as 3aadf856-1939-49d5-a1e0-870d76edefb2)",
        ParamType::StringArray => " (a JSON array of strings, or a comma list)",
        ParamType::Entity | ParamType::EntityCollection | ParamType::EntityReference => {
            " (as JSON)"
        }
        ParamType::String => "",
    }
}

/// Reads `text` as a value of type `ty`, in the Web API JSON form the server takes.
pub fn value_from_text(ty: ParamType, text: &str) -> Result<Value, WrongType> {
    let unreadable = || WrongType("text");
    let json = match ty {
        ParamType::String | ParamType::DateTime | ParamType::Guid => Value::String(text.into()),
        ParamType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(unreadable()),
        },
        ParamType::Integer
        | ParamType::Picklist
        | ParamType::Decimal
        | ParamType::Money
        | ParamType::Float => {
            let n: serde_json::Number =
                serde_json::from_str(text.trim()).map_err(|_| unreadable())?;
            Value::Number(n)
        }
        ParamType::StringArray if !text.trim_start().starts_with('[') => Value::Array(
            text.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        ParamType::StringArray
        | ParamType::Entity
        | ParamType::EntityCollection
        | ParamType::EntityReference => serde_json::from_str(text).map_err(|_| unreadable())?,
    };
    ParamValue::from_json(ty, &json)?;
    Ok(json)
}

/// Builds a request body from `NAME=VALUE` arguments without a definition to type them by
/// (the caller may not read the definition tables): a value that reads as a JSON number,
/// `true`/`false`, an array or an object is sent as that, anything else as text. The server
/// still checks each parameter and names the one of a wrong type.
pub fn untyped_body_from_args<S: AsRef<str>>(
    args: &[S],
) -> Result<Map<String, Value>, ArgumentError> {
    let mut body = Map::new();
    for arg in args {
        let arg = arg.as_ref();
        let (name, text) = arg
            .split_once('=')
            .ok_or_else(|| ArgumentError::NotAPair(arg.to_owned()))?;
        let value = match serde_json::from_str::<Value>(text) {
            Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => v,
            _ => Value::String(text.to_owned()),
        };
        if body.insert(name.to_owned(), value).is_some() {
            return Err(ArgumentError::Repeated(name.to_owned()));
        }
    }
    Ok(body)
}

impl CustomApiInfo {
    /// The request parameter `name`, if defined.
    pub fn parameter(&self, name: &str) -> Option<&RequestParameter> {
        self.request_parameters.iter().find(|p| p.name == name)
    }

    /// Builds a request body from `NAME=VALUE` arguments, each value typed by the parameter's
    /// definition: `true`/`false` for Boolean, numbers for the numeric types, JSON for
    /// entities, a JSON array or a comma list for StringArray, text for the rest. Names are
    /// case-sensitive, as on the wire. Required parameters must be present.
    pub fn body_from_args<S: AsRef<str>>(
        &self,
        args: &[S],
    ) -> Result<Map<String, Value>, ArgumentError> {
        let mut body = Map::new();
        for arg in args {
            let arg = arg.as_ref();
            let (name, text) = arg
                .split_once('=')
                .ok_or_else(|| ArgumentError::NotAPair(arg.to_owned()))?;
            let param = self.parameter(name).ok_or_else(|| ArgumentError::Unknown {
                api: self.unique_name.clone(),
                name: name.to_owned(),
                known: self
                    .request_parameters
                    .iter()
                    .map(|p| format!("{} ({})", p.name, p.param_type.label()))
                    .collect(),
            })?;
            let value =
                value_from_text(param.param_type, text).map_err(|_| ArgumentError::WrongType {
                    api: self.unique_name.clone(),
                    name: name.to_owned(),
                    expected: param.param_type,
                    value: text.to_owned(),
                })?;
            if body.insert(name.to_owned(), value).is_some() {
                return Err(ArgumentError::Repeated(name.to_owned()));
            }
        }
        if let Some(p) = self
            .request_parameters
            .iter()
            .find(|p| !p.optional && !body.contains_key(&p.name))
        {
            return Err(ArgumentError::Missing {
                api: self.unique_name.clone(),
                name: p.name.clone(),
                expected: p.param_type,
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn echo() -> CustomApiInfo {
        let p = |name: &str, t, optional| RequestParameter {
            name: name.into(),
            param_type: t,
            optional,
        };
        CustomApiInfo {
            unique_name: "bgops_Echo".into(),
            display_name: "Echo".into(),
            description: None,
            is_function: false,
            is_private: false,
            request_parameters: vec![
                p("Flag", ParamType::Boolean, true),
                p("Number", ParamType::Integer, true),
                p("Text", ParamType::String, false),
                p("Tags", ParamType::StringArray, true),
                p("Amount", ParamType::Decimal, true),
            ],
            response_properties: vec![],
        }
    }

    #[test]
    fn types_values_from_the_definition() {
        let body = echo()
            .body_from_args(&[
                "Text=42",
                "Number=-7",
                "Flag=TRUE",
                "Tags=a,b",
                "Amount=12.50",
            ])
            .unwrap();
        // The decimal keeps its text: no precision is lost on the way.
        assert_eq!(
            Value::Object(body).to_string(),
            r#"{"Text":"42","Number":-7,"Flag":true,"Tags":["a","b"],"Amount":12.50}"#
        );
        let body = echo()
            .body_from_args(&["Text=", r#"Tags=["x,y"]"#])
            .unwrap();
        assert_eq!(body["Text"], "");
        assert_eq!(body["Tags"], json!(["x,y"]));
    }

    #[test]
    fn says_which_parameter_and_which_type() {
        let e = echo()
            .body_from_args(&["Text=a", "Number=abc"])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter Number of bgops_Echo is of type Integer: 'abc' is not an Integer \
             (a whole number from -2147483648 to 2147483647)"
        );
        let e = echo()
            .body_from_args(&["Text=a", "Number=3000000000"])
            .unwrap_err();
        assert!(matches!(e, ArgumentError::WrongType { .. }), "{e}");
        let e = echo().body_from_args(&["Text=a", "Flag=yes"]).unwrap_err();
        assert!(
            e.to_string().contains("is not a Boolean (true or false)"),
            "{e}"
        );
        let e = echo()
            .body_from_args(&["Text=a", "Colour=red"])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "bgops_Echo has no parameter Colour; its parameters: Flag (Boolean), \
             Number (Integer), Text (String), Tags (StringArray), Amount (Decimal)"
        );
        assert_eq!(
            echo()
                .body_from_args(&["Number=1"])
                .unwrap_err()
                .to_string(),
            "bgops_Echo requires parameter Text (String)"
        );
        assert_eq!(
            echo().body_from_args(&["Text"]).unwrap_err(),
            ArgumentError::NotAPair("Text".into())
        );
        assert_eq!(
            echo().body_from_args(&["Text=a", "Text=b"]).unwrap_err(),
            ArgumentError::Repeated("Text".into())
        );
    }

    #[test]
    fn untyped_values_are_json_literals_or_text() {
        let body = untyped_body_from_args(&["A=42", "B=true", "C=hello", "D=[1]", "E=null", "F="])
            .unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"A": 42, "B": true, "C": "hello", "D": [1], "E": "null", "F": ""})
        );
        assert_eq!(
            untyped_body_from_args(&["A=1", "A=2"]).unwrap_err(),
            ArgumentError::Repeated("A".into())
        );
    }

    #[test]
    fn reads_every_type_or_refuses_it() {
        for (t, ok, bad) in [
            (ParamType::DateTime, "2026-12-04T09:30:00Z", "tomorrow"),
            (
                ParamType::Guid,
                "3aadf856-1939-49d5-a1e0-870d76edefb2",
                "42",
            ),
            (ParamType::Float, "1e3", "x"),
            (ParamType::Money, "10.25", "ten"),
            (ParamType::Picklist, "3", "3.5"),
            (
                ParamType::EntityReference,
                r#"{"@odata.type":"Microsoft.Dynamics.CRM.account","accountid":"3aadf856-1939-49d5-a1e0-870d76edefb2"}"#,
                "{",
            ),
        ] {
            assert!(value_from_text(t, ok).is_ok(), "{t:?} {ok}");
            assert!(value_from_text(t, bad).is_err(), "{t:?} {bad}");
        }
    }
}
