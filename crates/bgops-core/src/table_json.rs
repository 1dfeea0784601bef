//! Rows in their Web API JSON form: reading a create/update body into typed cells (with
//! `@odata.bind` for lookups) and writing a row back out with its annotations.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::catalogue::Catalogue;
use crate::clock::Timestamp;
use crate::error::{ApiError, ErrorCode};
use crate::metadata::{Cell, Column, ColumnType, RequiredLevel, Row, Table, Writability};

/// The annotation carrying a label.
pub const FORMATTED_VALUE: &str = "OData.Community.Display.V1.FormattedValue";
/// The annotation naming a lookup's table.
pub const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";

/// Whether a body creates a row or updates one (which columns may be written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// POST, or an upsert that creates.
    Create,
    /// PATCH.
    Update,
}

fn invalid_property(table: &Table, name: &str) -> ApiError {
    ApiError::new(
        400,
        ErrorCode::BAD_SYNTAX,
        format!(
            "Invalid property '{name}' was found in entity 'Microsoft.Dynamics.CRM.{}'.",
            table.logical_name
        ),
    )
}

fn wrong_value(table: &Table, col: &Column, v: &Value) -> ApiError {
    ApiError::bad_payload(format!(
        "Cannot convert the literal '{v}' to the expected type '{}' of property '{}' of entity '{}'.",
        col.column_type.edm_type(),
        col.property_name(),
        table.logical_name
    ))
}

/// Reads one JSON value into the cell of `col`.
pub fn cell_from_json(table: &Table, col: &Column, v: &Value) -> Result<Cell, ApiError> {
    if v.is_null() {
        return Ok(Cell::Null);
    }
    let bad = || wrong_value(table, col, v);
    Ok(match col.column_type {
        ColumnType::String { max_len } | ColumnType::Memo { max_len } => {
            let s = v.as_str().ok_or_else(bad)?;
            if s.chars().count() > max_len as usize {
                return Err(ApiError::invalid_argument(format!(
                    "The value of '{}' is longer than its maximum length of {max_len} characters.",
                    col.logical_name
                )));
            }
            Cell::Text(s.to_owned())
        }
        ColumnType::Integer | ColumnType::Choice { .. } => {
            let n = v
                .as_i64()
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(bad)?;
            if let ColumnType::Choice { options, .. } = col.column_type {
                if !options.iter().any(|(o, _)| i64::from(*o) == n) {
                    return Err(ApiError::invalid_argument(format!(
                        "{n} is not a valid option for the choice column '{}'.",
                        col.logical_name
                    )));
                }
            }
            Cell::Int(n)
        }
        ColumnType::BigInt => Cell::Int(v.as_i64().ok_or_else(bad)?),
        ColumnType::Decimal | ColumnType::Money => match v {
            Value::Number(n) => Cell::Decimal(n.to_string()),
            _ => return Err(bad()),
        },
        ColumnType::Double => Cell::Float(v.as_f64().ok_or_else(bad)?),
        ColumnType::Boolean { .. } => Cell::Bool(v.as_bool().ok_or_else(bad)?),
        ColumnType::DateTime => Cell::DateTime(
            v.as_str()
                .and_then(|s| {
                    Timestamp::parse_rfc3339(s).or_else(|| {
                        // A date alone means midnight UTC.
                        Timestamp::parse_rfc3339(&format!("{s}T00:00:00Z"))
                    })
                })
                .ok_or_else(bad)?,
        ),
        ColumnType::PrimaryKey | ColumnType::Guid | ColumnType::Lookup { .. } => v
            .as_str()
            .and_then(|s| Cell::guid(s).ok())
            .ok_or_else(bad)?,
    })
}

/// Parses an `@odata.bind` value (`/accounts(id)`, `accounts(id)` or an absolute URL) into the
/// entity set and id.
fn parse_bind(v: &str) -> Option<(&str, &str)> {
    let path = match v.find("/api/data/") {
        Some(i) => {
            let rest = &v[i + "/api/data/".len()..];
            rest.split_once('/').map(|(_, p)| p)?
        }
        None => v.trim_start_matches('/'),
    };
    let (set, rest) = path.split_once('(')?;
    let id = rest.strip_suffix(')')?;
    Some((set, id))
}

/// The rows a body's `@odata.bind` properties point to: `(lookup column, target table, id)`,
/// for the caller to check that they exist. Malformed binds are skipped (`row_from_json`
/// refuses them).
pub fn bound_references(
    catalogue: &Catalogue,
    table: &Table,
    body: &Map<String, Value>,
) -> Vec<(&'static str, std::sync::Arc<Table>, uuid::Uuid)> {
    let mut out = Vec::new();
    for (key, value) in body {
        let (Some(nav), Some(s)) = (key.strip_suffix("@odata.bind"), value.as_str()) else {
            continue;
        };
        let nav = nav.to_ascii_lowercase();
        let Some(col) = table.columns.iter().find(|c| {
            matches!(c.column_type, ColumnType::Lookup { .. })
                && (nav == c.logical_name
                    || nav
                        .strip_prefix(c.logical_name)
                        .and_then(|r| r.strip_prefix('_'))
                        .is_some())
        }) else {
            continue;
        };
        let Some((set, id)) = parse_bind(s) else {
            continue;
        };
        let (Some(target), Ok(Cell::Guid(id))) = (catalogue.by_entity_set(set), Cell::guid(id))
        else {
            continue;
        };
        out.push((col.logical_name, target, id));
    }
    out
}

/// Reads a create or update body into cells. Unknown properties, read-only columns, values of
/// the wrong type and bad `@odata.bind` references are 400s that change nothing.
pub fn row_from_json(
    catalogue: &Catalogue,
    table: &Table,
    body: &Map<String, Value>,
    kind: WriteKind,
) -> Result<Row, ApiError> {
    let mut row: Row = Vec::new();
    let mut put = |col: &Column, cell: Cell, name: &str| -> Result<(), ApiError> {
        let allowed = match col.writability {
            Writability::ReadWrite => true,
            Writability::CreateOnly => kind == WriteKind::Create,
            Writability::ReadOnly => {
                col.column_type == ColumnType::PrimaryKey && kind == WriteKind::Create
            }
        };
        if !allowed {
            return Err(ApiError::invalid_argument(format!(
                "The column '{name}' of {} cannot be {}.",
                table.logical_name,
                if kind == WriteKind::Create {
                    "set"
                } else {
                    "changed"
                }
            )));
        }
        if row.iter().any(|(c, _)| *c == col.logical_name) {
            return Err(ApiError::invalid_argument(format!(
                "The column '{name}' is given more than once."
            )));
        }
        row.push((col.logical_name, cell));
        Ok(())
    };
    for (key, value) in body {
        if let Some(nav) = key.strip_suffix("@odata.bind") {
            // `col@odata.bind` or `col_target@odata.bind`, case-insensitive.
            let nav_lower = nav.to_ascii_lowercase();
            let col = table
                .columns
                .iter()
                .find(|c| {
                    matches!(c.column_type, ColumnType::Lookup { .. })
                        && (nav_lower == c.logical_name
                            || nav_lower
                                .strip_prefix(c.logical_name)
                                .and_then(|r| r.strip_prefix('_'))
                                .is_some())
                })
                .ok_or_else(|| invalid_property(table, nav))?;
            let ColumnType::Lookup { targets } = col.column_type else {
                return Err(invalid_property(table, nav));
            };
            let cell = match value {
                Value::Null => Cell::Null,
                Value::String(s) => {
                    let (set, id) = parse_bind(s).ok_or_else(|| {
                        ApiError::bad_payload(format!(
                            "'{s}' is not a valid reference for '{key}': use \"/{{entityset}}({{id}})\"."
                        ))
                    })?;
                    let target = catalogue.by_entity_set(set).ok_or_else(|| {
                        ApiError::bad_payload(format!("'{set}' in '{key}' is not an entity set."))
                    })?;
                    if !targets.contains(&target.logical_name) {
                        return Err(ApiError::bad_payload(format!(
                            "'{key}' cannot refer to a {} row.",
                            target.logical_name
                        )));
                    }
                    Cell::guid(id).map_err(|_| {
                        ApiError::bad_payload(format!("'{id}' in '{key}' is not a valid GUID."))
                    })?
                }
                _ => return Err(ApiError::bad_payload(format!("'{key}' must be a string."))),
            };
            put(col, cell, nav)?;
            continue;
        }
        if key.starts_with('@') || key.contains("@OData.") || key.contains("@odata.") {
            continue; // annotations sent back by clients are ignored
        }
        let col = table
            .column_by_property(key)
            .ok_or_else(|| invalid_property(table, key))?;
        if matches!(col.column_type, ColumnType::Lookup { .. }) {
            return Err(ApiError::invalid_argument(format!(
                "Set the lookup '{key}' with '{}@odata.bind': \"/{{entityset}}({{id}})\".",
                col.logical_name
            )));
        }
        let cell = cell_from_json(table, col, value)?;
        put(col, cell, key)?;
    }
    check_system_required(table, &row, kind)?;
    if kind == WriteKind::Create {
        // A new row starts in the first option of its state and status, as in Dataverse.
        for name in ["statecode", "statuscode"] {
            if let Some(col) = table.column(name) {
                if let ColumnType::Choice { options, .. } = col.column_type {
                    if !row.iter().any(|(c, _)| *c == name)
                        && col.writability != Writability::ReadOnly
                    {
                        if let Some((first, _)) = options.first() {
                            row.push((col.logical_name, Cell::Int(i64::from(*first))));
                        }
                    }
                }
            }
        }
    }
    derive_columns(table, &mut row)?;
    Ok(row)
}

/// A system-required column must be set by a create and cannot be cleared by an update.
fn check_system_required(table: &Table, row: &Row, kind: WriteKind) -> Result<(), ApiError> {
    for col in table
        .columns
        .iter()
        .filter(|c| c.required == RequiredLevel::System)
    {
        let given = row
            .iter()
            .find(|(c, _)| *c == col.logical_name)
            .map(|(_, v)| v);
        let empty = match given {
            None => kind == WriteKind::Create,
            Some(Cell::Null) => true,
            Some(Cell::Text(t)) => t.trim().is_empty(),
            Some(_) => false,
        };
        if empty {
            return Err(ApiError::invalid_argument(format!(
                "A {} needs a value in '{}': it is required.",
                table.logical_name,
                col.property_name()
            )));
        }
    }
    Ok(())
}

/// Columns computed from others on write: an annotation's `filesize` and `isdocument` follow
/// its `documentbody` (Base64).
pub fn derive_columns(table: &Table, row: &mut Row) -> Result<(), ApiError> {
    if table.logical_name != "annotation" {
        return Ok(());
    }
    let Some((_, body)) = row.iter().find(|(c, _)| *c == "documentbody") else {
        return Ok(());
    };
    let (size, is_doc) = match body {
        Cell::Text(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| {
                    ApiError::invalid_argument("documentbody must be Base64-encoded content.")
                })?;
            (Cell::Int(bytes.len() as i64), Cell::Bool(true))
        }
        _ => (Cell::Int(0), Cell::Bool(false)),
    };
    row.retain(|(c, _)| *c != "filesize" && *c != "isdocument");
    row.push(("filesize", size));
    row.push(("isdocument", is_doc));
    Ok(())
}

/// The native JSON of a cell.
pub fn cell_to_json(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Int(i) => Value::from(*i),
        Cell::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cell::Decimal(s) => s
            .parse::<Number>()
            .map_or_else(|_| Value::String(s.clone()), Value::Number),
        Cell::Bool(b) => Value::Bool(*b),
        Cell::Guid(g) => Value::String(g.hyphenated().to_string()),
        Cell::DateTime(t) => Value::String(t.to_dataverse()),
    }
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

/// Resolves a lookup's label: the primary name of the row it points to, and that row's table.
pub type LookupLabel<'a> = &'a dyn Fn(&Column, &Cell) -> Option<(String, &'static str)>;

/// How to render rows.
pub struct RenderOptions<'a> {
    /// The `odata.include-annotations` preference.
    pub annotations: Option<&'a str>,
    /// Resolves a lookup's label: `(target logical name, id)` → primary name.
    pub lookup_label: LookupLabel<'a>,
}

/// The JSON object of a row (without `@odata.context`): `@odata.etag`, then each column in the
/// row, with the annotations asked for.
pub fn row_to_json(table: &Table, row: &Row, opts: &RenderOptions<'_>) -> Map<String, Value> {
    let formatted = wants_annotation(opts.annotations, FORMATTED_VALUE);
    let lookup_names = wants_annotation(opts.annotations, LOOKUP_LOGICAL_NAME);
    let mut out = Map::new();
    if let Some((_, Cell::Int(v))) = row.iter().find(|(c, _)| *c == "versionnumber") {
        out.insert("@odata.etag".into(), Value::String(etag(*v)));
    }
    for (name, cell) in row {
        let Some(col) = table.column(name) else {
            continue;
        };
        let prop = col.property_name();
        if formatted {
            let label = match (col.column_type, cell) {
                (_, Cell::Null) => None,
                (ColumnType::Choice { .. } | ColumnType::Boolean { .. }, _) => {
                    col.column_type.label_of(cell).map(str::to_owned)
                }
                (ColumnType::DateTime, Cell::DateTime(t)) => Some(format_date(*t)),
                (ColumnType::Lookup { .. }, _) => (opts.lookup_label)(col, cell).map(|(l, _)| l),
                _ => None,
            };
            if let Some(label) = label {
                out.insert(format!("{prop}@{FORMATTED_VALUE}"), Value::String(label));
            }
        }
        if lookup_names && !matches!(cell, Cell::Null) {
            if let ColumnType::Lookup { targets } = col.column_type {
                let target = (opts.lookup_label)(col, cell)
                    .map(|(_, t)| t)
                    .unwrap_or(targets[0]);
                out.insert(
                    format!("{prop}@{LOOKUP_LOGICAL_NAME}"),
                    Value::String(target.to_owned()),
                );
            }
        }
        out.insert(prop, cell_to_json(cell));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_a_create_body_with_binds() {
        let cat = Catalogue::standard();
        let contact = cat.by_logical_name("contact").unwrap();
        let row = row_from_json(
            &cat,
            &contact,
            &obj(json!({
                "firstname": "Ada", "lastname": "Lovelace",
                "parentcustomerid_account@odata.bind": "/accounts(00000000-0000-0000-0000-000000000001)",
                "birthdate": "1815-12-10"
            })),
            WriteKind::Create,
        )
        .unwrap();
        assert!(row.contains(&("firstname", Cell::Text("Ada".into()))));
        assert!(row
            .iter()
            .any(|(c, v)| *c == "parentcustomerid" && matches!(v, Cell::Guid(_))));
        assert!(row
            .iter()
            .any(|(c, v)| *c == "birthdate" && matches!(v, Cell::DateTime(_))));
    }

    #[test]
    fn refuses_unknown_read_only_and_wrong_types() {
        let cat = Catalogue::standard();
        let account = cat.by_logical_name("account").unwrap();
        for body in [
            json!({"nope": 1}),
            json!({"createdon": "2024-01-01T00:00:00Z"}),
            json!({"numberofemployees": "many"}),
            json!({"statecode": 7}),
            json!({"primarycontactid@odata.bind": "/accounts(00000000-0000-0000-0000-000000000001)"}),
            json!({"_primarycontactid_value": "00000000-0000-0000-0000-000000000001"}),
            json!({"name": "x".repeat(161)}),
        ] {
            assert!(
                row_from_json(&cat, &account, &obj(body.clone()), WriteKind::Create).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn a_system_required_column_is_set_on_create_and_never_cleared() {
        let cat = Catalogue::standard();
        let user = cat.by_logical_name("systemuser").unwrap();
        for (body, kind) in [
            (json!({}), WriteKind::Create),
            (json!({"fullname": null}), WriteKind::Create),
            (json!({"fullname": "  "}), WriteKind::Create),
            (json!({"fullname": null}), WriteKind::Update),
        ] {
            let err = row_from_json(&cat, &user, &obj(body.clone()), kind).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
            assert!(err.message.contains("'fullname'"), "{}", err.message);
        }
        assert!(row_from_json(&cat, &user, &obj(json!({})), WriteKind::Update).is_ok());
        assert!(row_from_json(
            &cat,
            &user,
            &obj(json!({"fullname": "A"})),
            WriteKind::Create
        )
        .is_ok());
        // Business-required columns are advertised, not enforced, as in Dataverse.
        let contact = cat.by_logical_name("contact").unwrap();
        assert!(row_from_json(&cat, &contact, &obj(json!({})), WriteKind::Create).is_ok());
    }

    #[test]
    fn annotation_size_follows_its_body() {
        let cat = Catalogue::standard();
        let t = cat.by_logical_name("annotation").unwrap();
        let row = row_from_json(
            &cat,
            &t,
            &obj(json!({"documentbody": "aGVsbG8="})),
            WriteKind::Create,
        )
        .unwrap();
        assert!(row.contains(&("filesize", Cell::Int(5))));
        assert!(row.contains(&("isdocument", Cell::Bool(true))));
        assert!(row_from_json(
            &cat,
            &t,
            &obj(json!({"documentbody": "***"})),
            WriteKind::Create
        )
        .is_err());
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
