//! The CSV file of the FetchXML export (SPEC §11), byte for byte as the sample plug-in's
//! `EntityDataToCsvHelper` writes it.
//!
//! # Layout
//! - Columns are the union of the rows' columns in first-seen order. As in Dataverse, a row
//!   carries only its non-null values (a null attribute is absent from `Entity.Attributes`), so a
//!   [`Cell::Null`] is a missing column: a column that is null in every row is not in the file,
//!   and a column first non-null in a later row comes after the columns seen before it.
//! - The header row is the column logical names joined by `,`, not quoted.
//! - Each row has one field per column: the value in double quotes with every `"` doubled, or
//!   `""` where the row lacks the column. Line breaks inside a value are kept as they are (they
//!   are inside quotes).
//! - Every line, the last included, ends with CRLF. No rows gives a file of one empty header
//!   line (`"\r\n"`), as the sample writes.
//!
//! # Values ([`format_value`])
//! The sample writes `Money` as `Value.ToString()`, `OptionSetValue` as its integer,
//! `EntityReference` as its id, `DateTime` as `yyyy-MM-ddTHH:mm:ssZ`, and anything else with
//! `ToString()`. With .NET's invariant formatting that is, per storage type:
//! - text: as stored;
//! - whole numbers and choices: the integer (`-7`, `3`);
//! - decimal and money: the exact stored decimal text, `.` as separator, no grouping and no
//!   currency symbol (`1234.50`);
//! - floating point: .NET's shortest round-trip `double.ToString()`: plain notation for
//!   decimal exponents from -4 to 14 (`0.0001`, `123.5`, `100000000000000`), `E` notation
//!   outside (`1E-05`, `1E+15`, `1.5E+20`), `NaN`, `Infinity`, `-Infinity`;
//! - booleans: `True` / `False` (`bool.ToString()`, not the column's labels);
//! - ids, GUIDs and lookups: the GUID in lower-case `D` form (`Guid.ToString()`);
//! - dates: UTC, `YYYY-MM-DDTHH:MM:SSZ` (seconds, no fraction).
//!
//! The result is a Rust `String` (UTF-8); how it is encoded for the annotation is the caller's
//! choice.

use crate::metadata::{Cell, Row};

/// The line end the sample writes (`StringBuilder.AppendLine` on Windows).
const LINE_END: &str = "\r\n";

/// The CSV of `rows`, in the layout described in the module documentation.
pub fn to_csv(rows: &[Row]) -> String {
    let mut columns: Vec<&'static str> = Vec::new();
    for row in rows {
        for (name, cell) in row {
            if *cell != Cell::Null && !columns.contains(name) {
                columns.push(name);
            }
        }
    }

    let mut out = columns.join(",");
    out.push_str(LINE_END);
    for row in rows {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            let value = row
                .iter()
                .find(|(name, cell)| name == column && *cell != Cell::Null)
                .and_then(|(_, cell)| format_value(cell));
            if let Some(value) = value {
                out.push_str(&value.replace('"', "\"\""));
            }
            out.push('"');
        }
        out.push_str(LINE_END);
    }
    out
}

/// A cell's text as the sample plug-in writes it (see the module documentation); `None` for
/// [`Cell::Null`], which the file shows as a missing value.
pub fn format_value(cell: &Cell) -> Option<String> {
    Some(match cell {
        Cell::Null => return None,
        Cell::Text(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => dotnet_double(*f),
        Cell::Decimal(d) => d.clone(),
        Cell::Bool(true) => "True".to_owned(),
        Cell::Bool(false) => "False".to_owned(),
        Cell::Guid(g) => g.hyphenated().to_string(),
        Cell::DateTime(t) => t.to_dataverse(),
    })
}

/// .NET's `double.ToString()` (shortest round-trip digits, invariant culture): scientific
/// notation when the digits before the point would exceed both 15 and the digits written, or
/// the exponent is below -4 (its `FormatGeneral` rule).
pub(super) fn dotnet_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. `1.2345e3`.
    let shortest = format!("{:e}", f.abs());
    let (mantissa, exponent) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let count = digits.len() as i64;
    // Digits before the decimal point, as .NET's number buffer counts them.
    let scale = exponent + 1;
    if scale > count.max(15) || scale < -3 {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}{point}{rest}E{exp_sign}{:02}", exponent.abs())
    } else if scale <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(scale.unsigned_abs() as usize)
        )
    } else if scale >= count {
        format!("{sign}{digits}{}", "0".repeat((scale - count) as usize))
    } else {
        let (int_part, frac_part) = digits.split_at(scale as usize);
        format!("{sign}{int_part}.{frac_part}")
    }
}
