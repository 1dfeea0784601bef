//! Converting a `$filter` literal to a [`Cell`] of the compared column's storage type: integers
//! checked against the column's range, decimals kept digit for digit, dates and GUIDs accepted
//! as strings too, and a mismatch worded as ODataLib words it.

use super::operator_kind;
use crate::error::ApiError;
use crate::metadata::{Cell, Column, ColumnType};
use crate::odata::ast::{CmpOp, Literal};
use crate::odata::parse::parse_datetime_text;

/// The longest decimal text a `Decimal` or `Money` comparison accepts once its exponent is
/// written out; Dataverse's decimals have far fewer digits.
const MAX_DECIMAL_CHARS: usize = 128;

/// The literal as a value of the column's storage type.
pub(super) fn convert(column: &Column, op: CmpOp, value: &Literal) -> Result<Cell, ApiError> {
    use ColumnType as T;
    let out_of_range = || {
        ApiError::bad_syntax(format!(
            "The value {} is out of range for the {} property '{}'.",
            shown(value),
            column.column_type.edm_type(),
            column.property_name()
        ))
    };
    let not_valid = |text: &str| {
        ApiError::bad_syntax(format!(
            "The value '{}' is not a valid {} for the property '{}'.",
            text.chars().take(64).collect::<String>(),
            column.column_type.edm_type(),
            column.property_name()
        ))
    };
    Ok(match (column.column_type, value) {
        (T::String { .. } | T::Memo { .. }, Literal::String(s)) => Cell::Text(s.clone()),
        (T::Integer | T::Choice { .. }, Literal::Int(i)) => {
            i32::try_from(*i).map_err(|_| out_of_range())?;
            Cell::Int(*i)
        }
        (T::BigInt, Literal::Int(i)) => Cell::Int(*i),
        (T::Decimal | T::Money, Literal::Int(i)) => Cell::Decimal(i.to_string()),
        (T::Decimal | T::Money, Literal::Decimal(text)) => {
            Cell::Decimal(plain_decimal(text).ok_or_else(out_of_range)?)
        }
        (T::Double, Literal::Int(i)) => Cell::Float(*i as f64),
        (T::Double, Literal::Decimal(text)) => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Cell::Float(f),
            _ => return Err(out_of_range()),
        },
        (T::Boolean { .. }, Literal::Bool(b)) => Cell::Bool(*b),
        (T::DateTime, Literal::DateTime(ts)) => Cell::DateTime(*ts),
        (T::DateTime, Literal::String(s)) => {
            Cell::DateTime(parse_datetime_text(s).ok_or_else(|| not_valid(s))?)
        }
        (T::PrimaryKey | T::Guid | T::Lookup { .. }, Literal::Guid(g)) => Cell::Guid(*g),
        (T::PrimaryKey | T::Guid | T::Lookup { .. }, Literal::String(s)) => {
            Cell::guid(s).map_err(|_| not_valid(s))?
        }
        _ => {
            return Err(ApiError::bad_syntax(format!(
                "A binary operator with incompatible types was detected. Found operand types '{}' (property '{}') and '{}' for operator kind '{}'.",
                column.column_type.edm_type(),
                column.property_name(),
                literal_type(value),
                operator_kind(op)
            )))
        }
    })
}

/// A decimal literal (`1.50`, `-2`, `1.5e3`) in plain notation (`1.50`, `-2`, `1500`), digit
/// for digit, so nothing is rounded; `None` when it would be unreasonably long.
fn plain_decimal(text: &str) -> Option<String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None if text.len() <= MAX_DECIMAL_CHARS => return Some(text.to_owned()),
        None => return None,
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int_part}{frac_part}");
    if !digits.chars().all(|c| c.is_ascii_digit()) || digits.is_empty() {
        return None;
    }
    let len = i64::try_from(digits.len()).ok()?;
    let limit = i64::try_from(MAX_DECIMAL_CHARS).ok()?;
    let point = i64::try_from(int_part.len()).ok()?.checked_add(exponent)?;
    if point > limit || point < -limit || len > limit {
        return None;
    }
    let mut out = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= len {
        format!("{digits}{}", "0".repeat((point - len) as usize))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    // Leading zeros of the integer part say nothing.
    let int_len = out.find('.').unwrap_or(out.len());
    let zeros = out[..int_len].chars().take_while(|c| *c == '0').count();
    out.drain(..zeros.min(int_len.saturating_sub(1)));
    if negative {
        out.insert(0, '-');
    }
    Some(out)
}

/// The OData type of a literal, for messages.
fn literal_type(value: &Literal) -> &str {
    match value {
        Literal::Null => "null",
        Literal::Bool(_) => "Edm.Boolean",
        Literal::Int(i) if i32::try_from(*i).is_ok() => "Edm.Int32",
        Literal::Int(_) => "Edm.Int64",
        Literal::Decimal(_) => "Edm.Decimal",
        Literal::String(_) => "Edm.String",
        Literal::Guid(_) => "Edm.Guid",
        Literal::DateTime(_) => "Edm.DateTimeOffset",
        Literal::Enum { type_name, .. } => type_name,
    }
}

/// A literal as shown in a message.
fn shown(value: &Literal) -> String {
    match value {
        Literal::Int(i) => i.to_string(),
        Literal::Decimal(d) => d.chars().take(64).collect(),
        other => format!("{other:?}"),
    }
}
