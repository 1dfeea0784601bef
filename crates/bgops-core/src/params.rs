//! Typed custom API parameters (SPEC §8): the thirteen types, how each is read from the Web API
//! JSON a caller sends, the string form stored in `inputparameters`/`outputparameters` (SPEC §13),
//! and the native JSON given back by the status monitor and synchronous calls.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::clock::Timestamp;

/// The `type` of a request parameter or response property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ParamType {
    /// 0
    Boolean,
    /// 1
    DateTime,
    /// 2
    Decimal,
    /// 3
    Entity,
    /// 4
    EntityCollection,
    /// 5
    EntityReference,
    /// 6
    Float,
    /// 7
    Integer,
    /// 8
    Money,
    /// 9
    Picklist,
    /// 10
    String,
    /// 11
    StringArray,
    /// 12
    Guid,
}

impl ParamType {
    /// Every type, in code order.
    pub const ALL: [ParamType; 13] = [
        Self::Boolean,
        Self::DateTime,
        Self::Decimal,
        Self::Entity,
        Self::EntityCollection,
        Self::EntityReference,
        Self::Float,
        Self::Integer,
        Self::Money,
        Self::Picklist,
        Self::String,
        Self::StringArray,
        Self::Guid,
    ];

    /// The `type` column value.
    pub fn code(self) -> i32 {
        Self::ALL.iter().position(|t| *t == self).unwrap_or(0) as i32
    }

    /// The type for a `type` column value (0–12).
    pub fn from_code(code: i64) -> Option<Self> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The label, as used in error messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Boolean => "Boolean",
            Self::DateTime => "DateTime",
            Self::Decimal => "Decimal",
            Self::Entity => "Entity",
            Self::EntityCollection => "EntityCollection",
            Self::EntityReference => "EntityReference",
            Self::Float => "Float",
            Self::Integer => "Integer",
            Self::Money => "Money",
            Self::Picklist => "Picklist",
            Self::String => "String",
            Self::StringArray => "StringArray",
            Self::Guid => "Guid",
        }
    }
}

/// A typed parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// Boolean.
    Boolean(bool),
    /// DateTime, kept to the millisecond, shown to the second.
    DateTime(Timestamp),
    /// Decimal, kept as its decimal text so no precision is lost on the way through.
    Decimal(String),
    /// An entity object (`@odata.type` and columns), kept as JSON.
    Entity(Value),
    /// An array of entity objects, kept as JSON.
    EntityCollection(Value),
    /// An entity reference (`@odata.type` and key), kept as JSON.
    EntityReference(Value),
    /// Float (double).
    Float(f64),
    /// Integer (Int32).
    Integer(i32),
    /// Money, kept as its decimal text.
    Money(String),
    /// Picklist (choice value).
    Picklist(i32),
    /// String.
    String(String),
    /// Array of strings.
    StringArray(Vec<String>),
    /// Guid.
    Guid(Uuid),
}

/// Why a JSON value is not of a parameter's type: the name of the type it has instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrongType(pub &'static str);

/// The "provided type" of a whole number given for an Integer or Picklist that does not fit in
/// an Int32 (saying "Integer" there would read as "should be Integer but was Integer").
pub const OUT_OF_INT32: &str = "Integer outside the Int32 range";

/// Whether `v` is a JSON number written without a fraction or exponent.
fn is_whole_number(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_i64() || n.is_u64() || !n.to_string().contains(['.', 'e', 'E']),
        _ => false,
    }
}

/// The type name of a JSON value, for the "provided type was {3}" part of `0x8009732F`.
pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Decimal",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

impl ParamValue {
    /// The type of this value.
    pub fn param_type(&self) -> ParamType {
        match self {
            Self::Boolean(_) => ParamType::Boolean,
            Self::DateTime(_) => ParamType::DateTime,
            Self::Decimal(_) => ParamType::Decimal,
            Self::Entity(_) => ParamType::Entity,
            Self::EntityCollection(_) => ParamType::EntityCollection,
            Self::EntityReference(_) => ParamType::EntityReference,
            Self::Float(_) => ParamType::Float,
            Self::Integer(_) => ParamType::Integer,
            Self::Money(_) => ParamType::Money,
            Self::Picklist(_) => ParamType::Picklist,
            Self::String(_) => ParamType::String,
            Self::StringArray(_) => ParamType::StringArray,
            Self::Guid(_) => ParamType::Guid,
        }
    }

    /// Reads a value of type `ty` from the Web API JSON form.
    pub fn from_json(ty: ParamType, v: &Value) -> Result<Self, WrongType> {
        let wrong = || WrongType(json_type_name(v));
        let int32 = |v: &Value| match v.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Ok(n),
            None if is_whole_number(v) => Err(WrongType(OUT_OF_INT32)),
            None => Err(wrong()),
        };
        Ok(match ty {
            ParamType::Boolean => Self::Boolean(v.as_bool().ok_or_else(wrong)?),
            ParamType::DateTime => Self::DateTime(
                v.as_str()
                    .and_then(Timestamp::parse_rfc3339)
                    .ok_or_else(wrong)?,
            ),
            ParamType::Decimal | ParamType::Money => {
                let text = match v {
                    Value::Number(n) => n.to_string(),
                    _ => return Err(wrong()),
                };
                if ty == ParamType::Decimal {
                    Self::Decimal(text)
                } else {
                    Self::Money(text)
                }
            }
            ParamType::Entity => match v {
                Value::Object(_) => Self::Entity(v.clone()),
                _ => return Err(wrong()),
            },
            ParamType::EntityReference => match v {
                Value::Object(_) => Self::EntityReference(v.clone()),
                _ => return Err(wrong()),
            },
            ParamType::EntityCollection => match v {
                Value::Array(items) if items.iter().all(Value::is_object) => {
                    Self::EntityCollection(v.clone())
                }
                _ => return Err(wrong()),
            },
            ParamType::Float => Self::Float(v.as_f64().ok_or_else(wrong)?),
            ParamType::Integer => Self::Integer(int32(v)?),
            ParamType::Picklist => Self::Picklist(int32(v)?),
            ParamType::String => Self::String(v.as_str().ok_or_else(wrong)?.to_owned()),
            ParamType::StringArray => match v {
                Value::Array(items) => Self::StringArray(
                    items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or(WrongType("Array"))?,
                ),
                _ => return Err(wrong()),
            },
            ParamType::Guid => Self::Guid(
                v.as_str()
                    .filter(|s| s.len() == 36)
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(wrong)?,
            ),
        })
    }

    /// The native Web API JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Boolean(b) => Value::Bool(*b),
            Self::DateTime(t) => Value::String(t.to_dataverse()),
            Self::Decimal(s) | Self::Money(s) => s
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or_else(|_| Value::String(s.clone())),
            Self::Entity(v) | Self::EntityCollection(v) | Self::EntityReference(v) => v.clone(),
            Self::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Self::Integer(i) | Self::Picklist(i) => Value::from(*i),
            Self::String(s) => Value::String(s.clone()),
            Self::StringArray(items) => Value::from(items.clone()),
            Self::Guid(g) => Value::String(g.hyphenated().to_string()),
        }
    }

    /// The string stored as `Value` in a Key/Value array (SPEC §13).
    pub fn to_storage_string(&self) -> String {
        match self {
            Self::Boolean(b) => b.to_string(),
            Self::DateTime(t) => t.to_dataverse(),
            Self::Decimal(s) | Self::Money(s) => s.clone(),
            Self::Entity(v) | Self::EntityCollection(v) | Self::EntityReference(v) => v.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Integer(i) | Self::Picklist(i) => i.to_string(),
            Self::String(s) => s.clone(),
            Self::StringArray(items) => Value::from(items.clone()).to_string(),
            Self::Guid(g) => g.hyphenated().to_string(),
        }
    }

    /// Reads a stored string back as a value of type `ty`.
    pub fn from_storage_string(ty: ParamType, s: &str) -> Option<Self> {
        let json = match ty {
            ParamType::Boolean => Value::Bool(s.parse().ok()?),
            ParamType::Integer | ParamType::Picklist | ParamType::Float => {
                Value::Number(s.parse().ok()?)
            }
            ParamType::Decimal => return Some(Self::Decimal(s.to_owned())),
            ParamType::Money => return Some(Self::Money(s.to_owned())),
            ParamType::Entity
            | ParamType::EntityCollection
            | ParamType::EntityReference
            | ParamType::StringArray => serde_json::from_str(s).ok()?,
            ParamType::DateTime | ParamType::String | ParamType::Guid => {
                Value::String(s.to_owned())
            }
        };
        Self::from_json(ty, &json).ok()
    }

    /// The integer, if this is an Integer or Picklist.
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Self::Integer(i) | Self::Picklist(i) => Some(*i),
            _ => None,
        }
    }

    /// The string, if this is a String.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a Boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            _ => None,
        }
    }
}

/// An ordered set of named parameter values: a request's inputs or a plug-in's outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parameters(pub Vec<(String, ParamValue)>);

/// One element of the stored Key/Value array, as written (read back by [`KeyValueRef`]).
#[derive(Serialize)]
struct KeyValue {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value")]
    value: String,
}

impl Parameters {
    /// The value named `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Adds or replaces `name`.
    pub fn set(&mut self, name: impl Into<String>, value: ParamValue) {
        let name = name.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// The stored form: a JSON array of `{"Key","Value"}` with string values.
    pub fn to_key_value_json(&self) -> String {
        let items: Vec<KeyValue> = self
            .0
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: v.to_storage_string(),
            })
            .collect();
        serde_json::to_string(&items).unwrap_or_else(|_| "[]".to_owned())
    }

    /// The parameters as the text of a JSON object of native values (what the status monitor
    /// shows of an operation's outputs).
    pub fn to_json_text(&self) -> String {
        Value::Object(self.to_json_object()).to_string()
    }

    /// The parameters as a JSON object of native values.
    pub fn to_json_object(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect()
    }
}

/// The JSON a stored `Value` string shows as when its type is `ty`: the same as
/// [`ParamValue::from_storage_string`] then [`ParamValue::to_json`], with the string itself
/// when the type is unknown or the text does not read as the type. A String moves into the
/// result without a copy (the status monitor's most common output).
pub fn stored_value_to_json(ty: Option<ParamType>, stored: String) -> Value {
    match ty {
        None | Some(ParamType::String) => Value::String(stored),
        Some(ty) => ParamValue::from_storage_string(ty, &stored)
            .map_or(Value::String(stored), |v| v.to_json()),
    }
}

/// One stored `{"Key": …, "Value": …}` item, borrowed from the text where it has no escapes.
#[derive(Deserialize)]
struct KeyValueRef<'a> {
    #[serde(rename = "Key", borrow)]
    key: Cow<'a, str>,
    #[serde(rename = "Value", borrow)]
    value: Cow<'a, str>,
}

/// Like [`parse_key_value_json`], without copying keys and values that need no unescaping
/// (the status monitor reads every output this way).
pub fn parse_key_value_refs(s: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    serde_json::from_str::<Vec<KeyValueRef<'_>>>(s)
        .map(|items| items.into_iter().map(|kv| (kv.key, kv.value)).collect())
        .unwrap_or_default()
}

/// Reads a stored Key/Value array into `(key, value string)` pairs; malformed text gives none.
pub fn parse_key_value_json(s: &str) -> Vec<(String, String)> {
    parse_key_value_refs(s)
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_value_refs_read_like_the_owned_parse() {
        let stored = r#"[{"Key":"Text","Value":"plain"},{"Key":"Q","Value":"say \"hi\"\n"}]"#;
        let refs: Vec<(String, String)> = parse_key_value_refs(stored)
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(refs, parse_key_value_json(stored));
        assert_eq!(refs[1].1, "say \"hi\"\n");
        assert!(parse_key_value_refs("not json").is_empty());
    }

    #[test]
    fn stored_values_show_as_their_type() {
        let cases = [
            (Some(ParamType::String), "héllo \"x\"", json!("héllo \"x\"")),
            (Some(ParamType::Integer), "42", json!(42)),
            (Some(ParamType::Boolean), "true", json!(true)),
            (
                Some(ParamType::StringArray),
                r#"["a","b"]"#,
                json!(["a", "b"]),
            ),
            (
                Some(ParamType::Integer),
                "not a number",
                json!("not a number"),
            ),
            (None, "7", json!("7")),
        ];
        for (ty, stored, want) in cases {
            assert_eq!(
                stored_value_to_json(ty, stored.to_owned()),
                want,
                "{ty:?} {stored}"
            );
            if let Some(ty) = ty {
                if let Some(v) = ParamValue::from_storage_string(ty, stored) {
                    assert_eq!(v.to_json(), want, "same as the long way");
                }
            }
        }
    }

    #[test]
    fn type_codes_are_0_to_12() {
        assert_eq!(ParamType::Boolean.code(), 0);
        assert_eq!(ParamType::Guid.code(), 12);
        assert_eq!(ParamType::from_code(7), Some(ParamType::Integer));
        assert_eq!(ParamType::from_code(13), None);
        assert_eq!(ParamType::from_code(-1), None);
    }

    #[test]
    fn reads_and_refuses_by_type() {
        assert_eq!(
            ParamValue::from_json(ParamType::Integer, &json!(5)),
            Ok(ParamValue::Integer(5))
        );
        assert_eq!(
            ParamValue::from_json(ParamType::Integer, &json!("5")),
            Err(WrongType("String"))
        );
        assert_eq!(
            ParamValue::from_json(ParamType::Integer, &json!(1.5)),
            Err(WrongType("Decimal"))
        );
        assert_eq!(
            ParamValue::from_json(ParamType::Integer, &json!(3_000_000_000i64)),
            Err(WrongType(OUT_OF_INT32))
        );
        let huge: Value = serde_json::from_str("100000000000000000000").unwrap();
        assert_eq!(
            ParamValue::from_json(ParamType::Picklist, &huge),
            Err(WrongType(OUT_OF_INT32))
        );
        assert_eq!(
            ParamValue::from_json(ParamType::Integer, &json!(1e3)),
            Err(WrongType("Decimal"))
        );
        assert_eq!(
            ParamValue::from_json(ParamType::Boolean, &json!(1)),
            Err(WrongType("Integer"))
        );
        assert!(ParamValue::from_json(ParamType::Guid, &json!("nope")).is_err());
        assert!(ParamValue::from_json(ParamType::StringArray, &json!(["a", 1])).is_err());
    }

    #[test]
    fn stored_form_is_strings_and_round_trips() {
        let mut p = Parameters::default();
        p.set("Text", ParamValue::String("hé \"x\"".into()));
        p.set("Number", ParamValue::Integer(-7));
        p.set("Flag", ParamValue::Boolean(true));
        let stored = p.to_key_value_json();
        assert_eq!(
            stored,
            r#"[{"Key":"Text","Value":"hé \"x\""},{"Key":"Number","Value":"-7"},{"Key":"Flag","Value":"true"}]"#
        );
        let back = parse_key_value_json(&stored);
        assert_eq!(back[1], ("Number".to_owned(), "-7".to_owned()));
        assert_eq!(
            ParamValue::from_storage_string(ParamType::Integer, "-7"),
            Some(ParamValue::Integer(-7))
        );
        assert_eq!(
            ParamValue::from_storage_string(ParamType::Boolean, "true")
                .unwrap()
                .to_json(),
            json!(true)
        );
    }
}
