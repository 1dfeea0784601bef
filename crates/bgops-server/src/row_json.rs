//! A `backgroundoperation` row as Web API JSON (SPEC §4, §6): `$select`, `@odata.etag`, and the
//! FormattedValue and lookup annotations a client asks for with `Prefer`.

use bgops_core::{ApiError, BackgroundOperation, Timestamp};
use serde_json::{Map, Value};

/// Every column of the entity set, in the order rows show them.
pub const COLUMNS: &[&str] = &[
    "backgroundoperationid",
    "name",
    "displayname",
    "backgroundoperationstatecode",
    "backgroundoperationstatuscode",
    "inputparameters",
    "outputparameters",
    "starttime",
    "endtime",
    "retrycount",
    "errorcode",
    "errormessage",
    "runas",
    "priority",
    "ttlinseconds",
    "createdon",
    "modifiedon",
    "_createdby_value",
    "versionnumber",
];

/// The annotation carrying a label.
pub const FORMATTED_VALUE: &str = "OData.Community.Display.V1.FormattedValue";
/// The annotation naming a lookup's table.
pub const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";

/// Reads `$select` into column names, refusing unknown ones with 400 naming them.
pub fn parse_select(select: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(select) = select else {
        return Ok(None);
    };
    let mut cols = Vec::new();
    for c in select.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if !COLUMNS.contains(&c) {
            return Err(ApiError::bad_syntax(format!(
                "Could not find a property named '{c}' on type 'Microsoft.Dynamics.CRM.backgroundoperation'."
            )));
        }
        if !cols.iter().any(|x| x == c) {
            cols.push(c.to_owned());
        }
    }
    Ok(Some(cols))
}

/// Whether the `odata.include-annotations` value asks for `annotation`.
pub fn wants_annotation(pref: Option<&str>, annotation: &str) -> bool {
    let Some(pref) = pref else { return false };
    pref.split(',').map(str::trim).any(|p| {
        p == "*"
            || p == annotation
            || p.strip_suffix('*')
                .is_some_and(|prefix| annotation.starts_with(prefix))
    })
}

/// The FormattedValue of a date: `M/D/YYYY h:mm AM` in UTC.
pub fn format_date(t: Timestamp) -> String {
    let s = t.to_dataverse(); // YYYY-MM-DDTHH:MM:SSZ
    let (y, m, d) = (&s[0..4], &s[5..7], &s[8..10]);
    let hour: u32 = s[11..13].parse().unwrap_or(0);
    let minute = &s[14..16];
    let (h12, ampm) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    format!(
        "{}/{}/{} {}:{} {}",
        m.trim_start_matches('0'),
        d.trim_start_matches('0'),
        y,
        h12,
        minute,
        ampm
    )
}

/// The etag of a row version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// What to render, and with which annotations.
pub struct RowView<'a> {
    /// The selected columns; `None` for all.
    pub select: Option<&'a [String]>,
    /// The `odata.include-annotations` preference.
    pub annotations: Option<&'a str>,
    /// The created-by user's name, for its lookup's FormattedValue.
    pub created_by_name: Option<&'a str>,
}

/// The JSON object for `op`, without `@odata.context`.
pub fn render(op: &BackgroundOperation, view: &RowView<'_>) -> Map<String, Value> {
    let formatted = wants_annotation(view.annotations, FORMATTED_VALUE);
    let lookup_names = wants_annotation(view.annotations, LOOKUP_LOGICAL_NAME);
    let date = |t: Option<Timestamp>| t.map_or(Value::Null, |t| Value::String(t.to_dataverse()));
    let mut out = Map::new();
    out.insert("@odata.etag".into(), Value::String(etag(op.version_number)));
    let wanted = |c: &str| match view.select {
        None => true,
        Some(cols) => cols.iter().any(|x| x == c),
    };
    for &c in COLUMNS {
        // The key and the version are always returned.
        if !(wanted(c) || c == "backgroundoperationid" || c == "versionnumber") {
            continue;
        }
        let value = match c {
            "backgroundoperationid" => Value::String(op.id.to_string()),
            "name" => Value::String(op.name.clone()),
            "displayname" => Value::String(op.display_name.clone()),
            "backgroundoperationstatecode" => {
                if formatted {
                    out.insert(
                        format!("{c}@{FORMATTED_VALUE}"),
                        Value::String(op.state().label().into()),
                    );
                }
                Value::from(op.state().code())
            }
            "backgroundoperationstatuscode" => {
                if formatted {
                    out.insert(
                        format!("{c}@{FORMATTED_VALUE}"),
                        Value::String(op.status.label().into()),
                    );
                }
                Value::from(op.status.code())
            }
            "inputparameters" => Value::String(op.input_parameters.clone()),
            "outputparameters" => op
                .output_parameters
                .clone()
                .map_or(Value::Null, Value::String),
            "starttime" | "endtime" | "createdon" | "modifiedon" => {
                let t = match c {
                    "starttime" => op.start_time,
                    "endtime" => op.end_time,
                    "createdon" => Some(op.created_on),
                    _ => Some(op.modified_on),
                };
                if let (true, Some(t)) = (formatted, t) {
                    out.insert(
                        format!("{c}@{FORMATTED_VALUE}"),
                        Value::String(format_date(t)),
                    );
                }
                date(t)
            }
            "retrycount" => Value::from(op.retry_count),
            "errorcode" => op.error_code.map_or(Value::Null, Value::from),
            "errormessage" => op.error_message.clone().map_or(Value::Null, Value::String),
            "runas" => Value::String(op.run_as.to_string()),
            "priority" => Value::from(op.priority),
            "ttlinseconds" => Value::from(op.ttl_seconds),
            "_createdby_value" => {
                if let (true, Some(name)) = (formatted, view.created_by_name) {
                    out.insert(
                        format!("{c}@{FORMATTED_VALUE}"),
                        Value::String(name.to_owned()),
                    );
                }
                if lookup_names {
                    out.insert(
                        format!("{c}@{LOOKUP_LOGICAL_NAME}"),
                        Value::String("systemuser".into()),
                    );
                }
                Value::String(op.created_by.to_string())
            }
            "versionnumber" => Value::from(op.version_number),
            _ => continue,
        };
        out.insert(c.to_owned(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_refuses_unknown_columns() {
        assert!(parse_select(Some("name,nope"))
            .unwrap_err()
            .message
            .contains("'nope'"));
        assert_eq!(
            parse_select(Some("name, name,errorcode")).unwrap(),
            Some(vec!["name".to_owned(), "errorcode".to_owned()])
        );
    }

    #[test]
    fn annotation_patterns() {
        assert!(wants_annotation(Some("*"), FORMATTED_VALUE));
        assert!(wants_annotation(
            Some("OData.Community.Display.V1.*"),
            FORMATTED_VALUE
        ));
        assert!(wants_annotation(Some(FORMATTED_VALUE), FORMATTED_VALUE));
        assert!(!wants_annotation(
            Some(LOOKUP_LOGICAL_NAME),
            FORMATTED_VALUE
        ));
        assert!(!wants_annotation(None, FORMATTED_VALUE));
    }

    #[test]
    fn dates_format_like_dataverse_labels() {
        assert_eq!(format_date(Timestamp(0)), "1/1/1970 12:00 AM");
        assert_eq!(
            format_date(Timestamp(1_700_000_000_000)),
            "11/14/2023 10:13 PM"
        );
    }
}
