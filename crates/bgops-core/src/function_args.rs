//! The parameters of a function call in the URL (SPEC §3):
//! `GET {name}(P1=@p1,P2='inline')?@p1=…`. Each value is an OData literal — `'text'` with `''`
//! for a quote, numbers, `true`/`false`, `null`, GUIDs, dates and date-times — or, for
//! collections and entities, JSON. The values are read into the same JSON a POST body carries
//! and checked by [`CustomApi::validate_request`], so an action and a function refuse the same
//! things with the same messages.

use serde_json::{Map, Number, Value};

use crate::clock::Timestamp;
use crate::custom_api::CustomApi;
use crate::error::ApiError;
use crate::params::{ParamType, ParamValue, Parameters};

fn syntax(detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_syntax(detail)
}

/// Splits `P1=@p1,P2='a,b'` at the commas outside quotes, brackets and braces.
fn split_args(args: &str) -> Result<Vec<&str>, ApiError> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in args.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(syntax(format!("unterminated string literal in '{args}'.")));
    }
    parts.push(&args[start..]);
    Ok(parts)
}

/// Reads an OData literal into the JSON a request body would carry.
pub fn literal_to_json(literal: &str) -> Result<Value, ApiError> {
    let s = literal.trim();
    if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        if s.len() >= 2 {
            if inner.replace("''", "").contains('\'') {
                return Err(syntax(format!(
                    "the string literal {s} has a quote that is not doubled."
                )));
            }
            return Ok(Value::String(inner.replace("''", "'")));
        }
    }
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "null" => return Ok(Value::Null),
        _ => {}
    }
    if s.starts_with('[') || s.starts_with('{') {
        return serde_json::from_str(s)
            .map_err(|e| syntax(format!("'{s}' is not a valid JSON value: {e}.")));
    }
    // Numbers; a Decimal or Money parameter gets its exact text back in `exact_decimals`.
    let number = s
        .strip_suffix(['m', 'M', 'd', 'D', 'f', 'F', 'L', 'l'])
        .filter(|n| n.parse::<f64>().is_ok())
        .unwrap_or(s);
    if let Ok(n) = number.parse::<i64>() {
        return Ok(Value::Number(Number::from(n)));
    }
    if number.parse::<f64>().is_ok() && number.chars().all(|c| "+-.eE0123456789".contains(c)) {
        if let Ok(Value::Number(n)) = serde_json::from_str::<Value>(number) {
            return Ok(Value::Number(n));
        }
    }
    // GUIDs, dates and date-times are written without quotes in OData URLs.
    if bare_kind(s).is_some() {
        return Ok(Value::String(s.to_owned()));
    }
    Err(syntax(format!(
        "'{s}' is not a valid literal (text is written in single quotes: '{s}')."
    )))
}

/// The type of an unquoted GUID, date or date-time literal.
fn bare_kind(s: &str) -> Option<&'static str> {
    if s.len() == 36 && uuid::Uuid::parse_str(s).is_ok() {
        return Some("Guid");
    }
    if Timestamp::parse_rfc3339(s).is_some()
        || Timestamp::parse_rfc3339(&format!("{s}T00:00:00Z")).is_some()
    {
        return Some("DateTime");
    }
    None
}

/// Whether `s` is an exact decimal number (digits with an optional sign and point).
fn is_decimal_text(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut parts = body.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
}

/// Reads the parameters of a call of function `api`: `args` is the text between the
/// parentheses of the URL segment, `query` the decoded query pairs (where aliases are). An
/// alias with no value in the query is null, as in OData.
pub fn function_parameters(
    api: &CustomApi,
    args: &str,
    query: &[(String, String)],
) -> Result<Parameters, ApiError> {
    let mut body = Map::new();
    let mut exact: Vec<(String, String)> = Vec::new();
    if !args.trim().is_empty() {
        for part in split_args(args)? {
            let Some((name, value)) = part.split_once('=') else {
                return Err(syntax(format!(
                    "'{part}' is not a parameter assignment: write Name=value or Name=@alias."
                )));
            };
            let name = name.trim();
            let value = value.trim();
            let literal = match value.strip_prefix('@') {
                Some(alias) => query
                    .iter()
                    .find(|(k, _)| k.strip_prefix('@') == Some(alias))
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("null"),
                None => value,
            };
            if body.contains_key(name) {
                return Err(syntax(format!("the parameter {name} is given twice.")));
            }
            let json = literal_to_json(literal)?;
            // An unquoted GUID or date is not text.
            if let (Some(kind), Some(ParamType::String)) =
                (bare_kind(literal.trim()), api.request_type(name))
            {
                return Err(ApiError::param_type(name, &api.unique_name, "String", kind));
            }
            if json.is_number() && is_decimal_text(literal.trim()) {
                exact.push((name.to_owned(), literal.trim().to_owned()));
            }
            body.insert(name.to_owned(), json);
        }
    }
    let mut inputs = api.validate_request(&body)?;
    // Decimal and Money keep the digits the caller wrote, beyond what a double holds.
    for (name, text) in exact {
        match api.request_type(&name) {
            Some(ParamType::Decimal) => inputs.set(name, ParamValue::Decimal(text)),
            Some(ParamType::Money) => inputs.set(name, ParamValue::Money(text)),
            _ => {}
        }
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_api::{RequestParameter, ResponseProperty};
    use serde_json::json;

    fn api() -> CustomApi {
        let p = |name: &str, t: ParamType, optional: bool| RequestParameter {
            name: name.into(),
            param_type: t,
            optional,
        };
        CustomApi {
            unique_name: "contoso_Fn".into(),
            display_name: "Fn".into(),
            is_function: true,
            request_parameters: vec![
                p("Text", ParamType::String, false),
                p("Number", ParamType::Integer, true),
                p("Amount", ParamType::Money, true),
                p("Id", ParamType::Guid, true),
                p("When", ParamType::DateTime, true),
                p("Flag", ParamType::Boolean, true),
                p("Names", ParamType::StringArray, true),
            ],
            response_properties: vec![ResponseProperty {
                name: "Out".into(),
                param_type: ParamType::String,
            }],
            plugin_type: "X".into(),
            execute_privilege: None,
            attempt_timeout: None,
            max_retries: None,
        }
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn aliases_and_inline_literals_of_every_kind() {
        let p = function_parameters(
            &api(),
            "Text=@t,Number=42,Amount=@a,Id=@id,When=2024-05-01T10:00:00Z,Flag=true,Names=@n",
            &q(&[
                ("@t", "it''s, ok"),
                ("@a", "12345678901234567.89"),
                ("@id", "3aadf856-1939-49d5-a1e0-870d76edefb2"),
                ("@n", r#"["a","b"]"#),
            ]),
        );
        // The alias value is a literal too: quotes are needed for text.
        assert!(p.is_err());
        let p = function_parameters(
            &api(),
            "Text=@t,Number=42,Amount=@a,Id=@id,When=2024-05-01T10:00:00Z,Flag=true,Names=@n",
            &q(&[
                ("@t", "'it''s, ok'"),
                ("@a", "12345678901234567.89"),
                ("@id", "3aadf856-1939-49d5-a1e0-870d76edefb2"),
                ("@n", r#"["a","b"]"#),
            ]),
        )
        .unwrap();
        assert_eq!(p.get("Text"), Some(&ParamValue::String("it's, ok".into())));
        assert_eq!(p.get("Number"), Some(&ParamValue::Integer(42)));
        assert_eq!(
            p.get("Amount"),
            Some(&ParamValue::Money("12345678901234567.89".into()))
        );
        assert_eq!(p.get("Flag"), Some(&ParamValue::Boolean(true)));
        assert_eq!(
            p.get("Names").map(ParamValue::to_json),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            p.get("When").map(ParamValue::to_json),
            Some(json!("2024-05-01T10:00:00Z"))
        );
        assert!(p.get("Id").is_some());
    }

    #[test]
    fn inline_text_with_commas_and_parentheses() {
        let p = function_parameters(&api(), "Text='a,b)(c'", &[]).unwrap();
        assert_eq!(p.get("Text"), Some(&ParamValue::String("a,b)(c".into())));
    }

    #[test]
    fn refusals_name_the_problem() {
        let e = function_parameters(&api(), "", &[]).unwrap_err();
        assert!(e.message.contains("Text"), "{}", e.message);
        let e = function_parameters(&api(), "Text=@t", &[]).unwrap_err();
        assert!(
            e.message.contains("Text"),
            "missing alias is null: {}",
            e.message
        );
        let e = function_parameters(&api(), "Text='x',Nope=1", &[]).unwrap_err();
        assert_eq!(e.code.to_string(), "0x8009732e");
        let e = function_parameters(&api(), "Text=5", &[]).unwrap_err();
        assert_eq!(e.code.to_string(), "0x8009732f");
        assert!(function_parameters(&api(), "Text='x", &[]).is_err());
        assert!(function_parameters(&api(), "Text", &[]).is_err());
        assert!(function_parameters(&api(), "Text='x',Text='y'", &[]).is_err());
        assert!(function_parameters(&api(), "Text='a'b'", &[]).is_err());
    }

    #[test]
    fn literals() {
        assert_eq!(literal_to_json("'a''b'").unwrap(), json!("a'b"));
        assert_eq!(literal_to_json("-7").unwrap(), json!(-7));
        assert_eq!(literal_to_json("1.5").unwrap(), json!(1.5));
        assert_eq!(literal_to_json("null").unwrap(), Value::Null);
        assert_eq!(literal_to_json("2024-01-02").unwrap(), json!("2024-01-02"));
        assert!(literal_to_json("a b").is_err());
        assert!(literal_to_json("text").is_err());
        let e = function_parameters(&api(), "Text=3aadf856-1939-49d5-a1e0-870d76edefb2", &[])
            .unwrap_err();
        assert_eq!(
            e.message,
            "Parameter Text on Custom API contoso_Fn should be of type String but provided type was Guid."
        );
    }
}
