//! The option sets of choice, state, status and boolean columns as Dataverse shows them under
//! `$expand=OptionSet`: `OptionSetMetadata` with `Options` (each with its `Value` and a `Label`
//! holding `LocalizedLabels` and `UserLocalizedLabel`; states name their default status,
//! statuses their state), or `BooleanOptionSetMetadata` with `TrueOption` and `FalseOption`.

use serde_json::{json, Map, Value};

use super::metadata_uuid;
use crate::metadata::{ChoiceKind, Column, ColumnType, Table};

/// The language of every label (English, United States).
pub const LANGUAGE_CODE: u32 = 1033;

/// A label without text in any language, as Dataverse shows an unset display name.
pub fn empty_label() -> Value {
    json!({"LocalizedLabels": [], "UserLocalizedLabel": null})
}

/// A label with one English text; `id` names it (`MetadataId`).
pub fn label(text: &str, id: uuid::Uuid) -> Value {
    let localized = json!({
        "Label": text,
        "LanguageCode": LANGUAGE_CODE,
        "IsManaged": true,
        "MetadataId": id.to_string(),
        "HasChanged": null,
    });
    json!({"LocalizedLabels": [localized.clone()], "UserLocalizedLabel": localized})
}

fn option(table: &Table, column: &Column, value: i32, text: &str) -> Map<String, Value> {
    let id = metadata_uuid(&format!(
        "{}.{}#{value}",
        table.logical_name, column.logical_name
    ));
    let Value::Object(m) = json!({
        "Value": value,
        "Color": null,
        "IsManaged": true,
        "ExternalValue": null,
        "ParentValues": [],
        "Tag": null,
        "IsHidden": false,
        "MetadataId": null,
        "HasChanged": null,
        "Label": label(text, id),
        "Description": empty_label(),
    }) else {
        unreachable!("json! of an object literal is an object")
    };
    m
}

/// The states each status of `table` belongs to, from its status column.
fn status_states(table: &Table) -> &'static [(i32, i32)] {
    table
        .columns
        .iter()
        .find_map(|c| match c.column_type {
            ColumnType::Choice {
                kind: ChoiceKind::Status { states },
                ..
            } => Some(states),
            _ => None,
        })
        .unwrap_or(&[])
}

/// The option set of `column` (of `table`) with every property, or `None` for a column that
/// has none (not a choice or boolean).
pub fn option_set_json(table: &Table, column: &Column) -> Option<Map<String, Value>> {
    let (option_set_type, choices) = match column.column_type {
        ColumnType::Choice { options, kind } => (
            match kind {
                ChoiceKind::Picklist => "Picklist",
                ChoiceKind::State => "State",
                ChoiceKind::Status { .. } => "Status",
            },
            Some((options, kind)),
        ),
        ColumnType::Boolean { .. } => ("Boolean", None),
        _ => return None,
    };
    let id = metadata_uuid(&format!(
        "{}.{}#optionset",
        table.logical_name, column.logical_name
    ));
    let Value::Object(mut m) = json!({
        "MetadataId": id.to_string(),
        "HasChanged": null,
        "IsCustomOptionSet": false,
        "IsGlobal": false,
        "IsManaged": true,
        "Name": format!("{}_{}", table.logical_name, column.logical_name),
        "ExternalTypeName": null,
        "OptionSetType": option_set_type,
        "IntroducedVersion": "1.0.0.0",
        "ParentOptionSetName": null,
        "Description": empty_label(),
        "DisplayName": empty_label(),
        "IsCustomizable": {
            "Value": false,
            "CanBeChanged": false,
            "ManagedPropertyLogicalName": "iscustomizable",
        },
    }) else {
        unreachable!("json! of an object literal is an object")
    };
    match (column.column_type, choices) {
        (
            ColumnType::Boolean {
                true_label,
                false_label,
            },
            _,
        ) => {
            m.insert(
                "TrueOption".into(),
                Value::Object(option(table, column, 1, true_label)),
            );
            m.insert(
                "FalseOption".into(),
                Value::Object(option(table, column, 0, false_label)),
            );
        }
        (_, Some((options, kind))) => {
            let states = status_states(table);
            let list: Vec<Value> = options
                .iter()
                .map(|(value, text)| {
                    let mut o = option(table, column, *value, text);
                    match kind {
                        ChoiceKind::Picklist => {}
                        ChoiceKind::State => {
                            o.insert(
                                "@odata.type".into(),
                                json!("#Microsoft.Dynamics.CRM.StateOptionMetadata"),
                            );
                            let default_status = states
                                .iter()
                                .find(|(_, state)| state == value)
                                .map(|(status, _)| *status);
                            o.insert("DefaultStatus".into(), json!(default_status));
                            o.insert("InvariantName".into(), json!(text.replace(' ', "")));
                        }
                        ChoiceKind::Status { states } => {
                            o.insert(
                                "@odata.type".into(),
                                json!("#Microsoft.Dynamics.CRM.StatusOptionMetadata"),
                            );
                            let state = states
                                .iter()
                                .find(|(status, _)| status == value)
                                .map(|(_, state)| *state);
                            o.insert("State".into(), json!(state));
                            o.insert("TransitionData".into(), Value::Null);
                        }
                    }
                    Value::Object(o)
                })
                .collect();
            m.insert("Options".into(), Value::Array(list));
        }
        _ => {}
    }
    Some(m)
}
