//! How each column type is stored on PostgreSQL: [`Cell`] to bound value and back. The one
//! place that knows GUIDs are lower-case text, dates are milliseconds, booleans are 0/1,
//! decimals are exact text, and how text keeps a NUL character PostgreSQL cannot store.

use std::borrow::Cow;

use bgops_core::metadata::{Cell, Column, ColumnType};
use bgops_core::Timestamp;
use tokio_postgres::types::ToSql;

use crate::table_sql::{is_decimal, wrong_type};
use crate::StoreError;

/// The SQL type a column's values are stored as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// `TEXT`.
    Text,
    /// `BIGINT`.
    BigInt,
    /// `DOUBLE PRECISION`.
    Double,
}

impl Storage {
    /// The type's name, for casting a placeholder (`$1::text`) so a statement never depends on
    /// PostgreSQL inferring it.
    pub fn sql_type(self) -> &'static str {
        match self {
            Storage::Text => "text",
            Storage::BigInt => "bigint",
            Storage::Double => "float8",
        }
    }
}

/// How `column` is stored.
pub fn storage(column: &Column) -> Storage {
    use ColumnType as T;
    match column.column_type {
        T::Integer | T::BigInt | T::Choice { .. } | T::Boolean { .. } | T::DateTime => {
            Storage::BigInt
        }
        T::Double => Storage::Double,
        T::PrimaryKey
        | T::Guid
        | T::Lookup { .. }
        | T::String { .. }
        | T::Memo { .. }
        | T::Decimal
        | T::Money => Storage::Text,
    }
}

/// A bound value, typed as its column is stored (so a NULL is a typed NULL).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A `TEXT` value.
    Text(Option<String>),
    /// A `BIGINT` value.
    BigInt(Option<i64>),
    /// A `DOUBLE PRECISION` value.
    Double(Option<f64>),
}

impl Value {
    /// The SQL type of the value (see [`Storage::sql_type`]).
    pub fn sql_type(&self) -> &'static str {
        match self {
            Value::Text(_) => Storage::Text,
            Value::BigInt(_) => Storage::BigInt,
            Value::Double(_) => Storage::Double,
        }
        .sql_type()
    }

    /// The value as a statement parameter.
    pub fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Text(v) => v,
            Value::BigInt(v) => v,
            Value::Double(v) => v,
        }
    }
}

/// The value to bind for `cell` in `column`.
pub fn to_sql(column: &Column, cell: &Cell) -> Result<Value, StoreError> {
    use ColumnType as T;
    let value = match (column.column_type, cell) {
        (_, Cell::Null) => match storage(column) {
            Storage::Text => Value::Text(None),
            Storage::BigInt => Value::BigInt(None),
            Storage::Double => Value::Double(None),
        },
        (T::PrimaryKey | T::Guid | T::Lookup { .. }, Cell::Guid(id)) => {
            Value::Text(Some(id.hyphenated().to_string()))
        }
        (T::String { .. } | T::Memo { .. }, Cell::Text(s)) => {
            Value::Text(Some(encode_text(s).into_owned()))
        }
        (T::Integer | T::BigInt | T::Choice { .. }, Cell::Int(i)) => Value::BigInt(Some(*i)),
        (T::Boolean { .. }, Cell::Bool(b)) => Value::BigInt(Some(i64::from(*b))),
        (T::DateTime, Cell::DateTime(ts)) => Value::BigInt(Some(ts.0)),
        (T::Decimal | T::Money, Cell::Decimal(s)) if is_decimal(s) => Value::Text(Some(s.clone())),
        (T::Decimal | T::Money, Cell::Int(i)) => Value::Text(Some(i.to_string())),
        (T::Double, Cell::Float(f)) if f.is_finite() => Value::Double(Some(*f)),
        (T::Double, Cell::Int(i)) => Value::Double(Some(*i as f64)),
        _ => return Err(wrong_type(column, cell)),
    };
    Ok(value)
}

/// Reads column `index` of `row`, the stored value of `column` (of `table`, for the error
/// message).
pub fn from_sql(
    table: &str,
    column: &Column,
    row: &tokio_postgres::Row,
    index: usize,
) -> Result<Cell, StoreError> {
    use ColumnType as T;
    let corrupt = |what: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!(
            "{table}.{}: a stored value {what} is not a valid {}",
            column.logical_name,
            column.column_type.attribute_type()
        ))
    };
    let cell = match storage(column) {
        Storage::Text => {
            let Some(s) = row
                .try_get::<_, Option<String>>(index)
                .map_err(|e| corrupt(&e))?
            else {
                return Ok(Cell::Null);
            };
            match column.column_type {
                T::PrimaryKey | T::Guid | T::Lookup { .. } => Cell::guid(&s).ok(),
                T::Decimal | T::Money => is_decimal(&s).then_some(Cell::Decimal(s)),
                _ => decode_text(&s).map(Cell::Text),
            }
        }
        Storage::BigInt => {
            let Some(i) = row
                .try_get::<_, Option<i64>>(index)
                .map_err(|e| corrupt(&e))?
            else {
                return Ok(Cell::Null);
            };
            match column.column_type {
                T::Boolean { .. } => matches!(i, 0 | 1).then_some(Cell::Bool(i == 1)),
                T::DateTime => Some(Cell::DateTime(Timestamp(i))),
                _ => Some(Cell::Int(i)),
            }
        }
        Storage::Double => row
            .try_get::<_, Option<f64>>(index)
            .map_err(|e| corrupt(&e))?
            .map_or(Some(Cell::Null), |f| Some(Cell::Float(f))),
    };
    cell.ok_or_else(|| corrupt(&"(out of range)"))
}

/// Stands for itself (doubled) or, followed by `0`, for a NUL character: PostgreSQL's `TEXT`
/// cannot hold U+0000, which SQLite and JSON can. A noncharacter, so real text hardly has it.
const ESCAPE: char = '\u{fdd0}';

/// `text` as stored: NUL as `ESCAPE 0`, `ESCAPE` doubled. Equal texts stay equal, case folding
/// and substrings are unchanged for text without either character.
pub fn encode_text(text: &str) -> Cow<'_, str> {
    if !text.contains(['\0', ESCAPE]) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '\0' => out.extend([ESCAPE, '0']),
            ESCAPE => out.extend([ESCAPE, ESCAPE]),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// The text `stored` holds (the inverse of [`encode_text`]); `None` for a lone escape.
fn decode_text(stored: &str) -> Option<String> {
    if !stored.contains(ESCAPE) {
        return Some(stored.to_owned());
    }
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(ch) = chars.next() {
        if ch == ESCAPE {
            match chars.next()? {
                '0' => out.push('\0'),
                ESCAPE => out.push(ESCAPE),
                _ => return None,
            }
        } else {
            out.push(ch);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgops_core::metadata::{RequiredLevel, Writability};

    fn column(column_type: ColumnType) -> Column {
        Column {
            logical_name: "c",
            column_type,
            writability: Writability::ReadWrite,
            required: RequiredLevel::None,
        }
    }

    #[test]
    fn nul_and_escape_round_trip() {
        for text in [
            "plain",
            "a\0b",
            "\0",
            "\u{fdd0}",
            "x\u{fdd0}0\0\u{fdd0}\u{fdd0}",
        ] {
            let stored = encode_text(text);
            assert!(!stored.contains('\0'), "{text:?}");
            assert_eq!(decode_text(&stored).as_deref(), Some(text));
        }
        assert_eq!(decode_text("bad\u{fdd0}"), None);
        assert_eq!(decode_text("bad\u{fdd0}x"), None);
    }

    #[test]
    fn nulls_are_typed_and_guids_lower_case() {
        let id: uuid::Uuid = "110EAA68-DB17-4115-AD74-D185823FC089".parse().unwrap();
        assert_eq!(
            to_sql(&column(ColumnType::Guid), &Cell::Guid(id)).unwrap(),
            Value::Text(Some("110eaa68-db17-4115-ad74-d185823fc089".into()))
        );
        assert_eq!(
            to_sql(&column(ColumnType::DateTime), &Cell::Null).unwrap(),
            Value::BigInt(None)
        );
        assert_eq!(
            to_sql(&column(ColumnType::Double), &Cell::Null).unwrap(),
            Value::Double(None)
        );
    }

    #[test]
    fn wrong_types_are_refused() {
        let bad = [
            (ColumnType::Integer, Cell::Text("1".into())),
            (ColumnType::Money, Cell::Decimal("1,5".into())),
            (ColumnType::Double, Cell::Float(f64::NAN)),
            (ColumnType::Guid, Cell::Text("not a guid".into())),
        ];
        for (ty, cell) in bad {
            assert!(matches!(
                to_sql(&column(ty), &cell),
                Err(StoreError::InvalidRequest(_))
            ));
        }
    }
}
