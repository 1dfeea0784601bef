//! How each column type is stored: [`Cell`] to bound SQLite value and back. The one place that
//! knows GUIDs are lower-case text, dates are milliseconds, booleans are 0/1 and decimals are
//! exact text.

use bgops_core::metadata::{Cell, Column, ColumnType};
use bgops_core::Timestamp;
use rusqlite::types::{Value, ValueRef};

use crate::table_sql::{is_decimal, wrong_type};
use crate::StoreError;

/// The value to bind for `cell` in `column`.
pub fn to_sql(column: &Column, cell: &Cell) -> Result<Value, StoreError> {
    use ColumnType as T;
    let value = match (column.column_type, cell) {
        (_, Cell::Null) => Value::Null,
        (T::PrimaryKey | T::Guid | T::Lookup { .. }, Cell::Guid(id)) => {
            Value::Text(id.hyphenated().to_string())
        }
        (T::String { .. } | T::Memo { .. }, Cell::Text(s)) => Value::Text(s.clone()),
        (T::Integer | T::BigInt | T::Choice { .. }, Cell::Int(i)) => Value::Integer(*i),
        (T::Boolean { .. }, Cell::Bool(b)) => Value::Integer(i64::from(*b)),
        (T::DateTime, Cell::DateTime(ts)) => Value::Integer(ts.0),
        (T::Decimal | T::Money, Cell::Decimal(s)) if is_decimal(s) => Value::Text(s.clone()),
        (T::Decimal | T::Money, Cell::Int(i)) => Value::Text(i.to_string()),
        (T::Double, Cell::Float(f)) if f.is_finite() => Value::Real(*f),
        (T::Double, Cell::Int(i)) => Value::Real(*i as f64),
        _ => return Err(wrong_type(column, cell)),
    };
    Ok(value)
}

/// Reads the stored value of `column` (of `table`, for the error message).
pub fn from_sql(table: &str, column: &Column, value: ValueRef<'_>) -> Result<Cell, StoreError> {
    use ColumnType as T;
    let cell = match (column.column_type, value) {
        (_, ValueRef::Null) => Some(Cell::Null),
        (T::PrimaryKey | T::Guid | T::Lookup { .. }, ValueRef::Text(t)) => {
            std::str::from_utf8(t).ok().and_then(|s| Cell::guid(s).ok())
        }
        (T::String { .. } | T::Memo { .. }, ValueRef::Text(t)) => std::str::from_utf8(t)
            .ok()
            .map(|s| Cell::Text(s.to_owned())),
        (T::Integer | T::BigInt | T::Choice { .. }, ValueRef::Integer(i)) => Some(Cell::Int(i)),
        (T::Boolean { .. }, ValueRef::Integer(i @ (0 | 1))) => Some(Cell::Bool(i == 1)),
        (T::DateTime, ValueRef::Integer(ms)) => Some(Cell::DateTime(Timestamp(ms))),
        (T::Decimal | T::Money, ValueRef::Text(t)) => std::str::from_utf8(t)
            .ok()
            .filter(|s| is_decimal(s))
            .map(|s| Cell::Decimal(s.to_owned())),
        (T::Decimal | T::Money, ValueRef::Integer(i)) => Some(Cell::Decimal(i.to_string())),
        (T::Double, ValueRef::Real(f)) => Some(Cell::Float(f)),
        (T::Double, ValueRef::Integer(i)) => Some(Cell::Float(i as f64)),
        _ => None,
    };
    cell.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{table}.{}: a stored {} value is not a valid {}",
            column.logical_name,
            value.data_type(),
            column.column_type.attribute_type()
        ))
    })
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
    fn every_type_round_trips() {
        let cases = [
            (ColumnType::PrimaryKey, Cell::Guid(uuid::Uuid::new_v4())),
            (ColumnType::String { max_len: 10 }, Cell::Text("x".into())),
            (ColumnType::BigInt, Cell::Int(i64::MAX)),
            (ColumnType::Money, Cell::Decimal("-12.3400".into())),
            (ColumnType::Double, Cell::Float(0.25)),
            (
                ColumnType::Boolean {
                    true_label: "Yes",
                    false_label: "No",
                },
                Cell::Bool(true),
            ),
            (
                ColumnType::DateTime,
                Cell::DateTime(Timestamp(1_700_000_000_123)),
            ),
            (ColumnType::Integer, Cell::Null),
        ];
        for (ty, cell) in cases {
            let col = column(ty);
            let value = to_sql(&col, &cell).unwrap();
            let back = from_sql("t", &col, ValueRef::from(&value)).unwrap();
            assert_eq!(back, cell, "{ty:?}");
        }
    }

    #[test]
    fn guids_are_stored_lower_case() {
        let id: uuid::Uuid = "110EAA68-DB17-4115-AD74-D185823FC089".parse().unwrap();
        let value = to_sql(&column(ColumnType::Guid), &Cell::Guid(id)).unwrap();
        assert_eq!(
            value,
            Value::Text("110eaa68-db17-4115-ad74-d185823fc089".into())
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

    #[test]
    fn bad_stored_data_is_corrupt_not_a_panic() {
        let bad = [
            (ColumnType::Guid, ValueRef::Text(b"nope")),
            (
                ColumnType::Boolean {
                    true_label: "Yes",
                    false_label: "No",
                },
                ValueRef::Integer(2),
            ),
            (ColumnType::DateTime, ValueRef::Text(b"2024-01-01")),
            (ColumnType::Decimal, ValueRef::Text(b"abc")),
            (
                ColumnType::String { max_len: 5 },
                ValueRef::Text(b"\xff\xfe"),
            ),
            (ColumnType::Integer, ValueRef::Real(1.5)),
            (ColumnType::Memo { max_len: 5 }, ValueRef::Blob(b"x")),
        ];
        for (ty, v) in bad {
            assert!(
                matches!(from_sql("t", &column(ty), v), Err(StoreError::Corrupt(_))),
                "{ty:?}"
            );
        }
    }
}
