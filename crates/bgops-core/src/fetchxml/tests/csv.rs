use crate::clock::Timestamp;
use crate::fetchxml::csv::{dotnet_double, format_value, to_csv};
use crate::metadata::{Cell, Row};

#[test]
fn values_are_written_as_the_sample_writes_them() {
    let guid = uuid::Uuid::parse_str("C9FDFE63-41E3-ED11-8845-0022480B2800").unwrap();
    let when = Timestamp::parse_rfc3339("2024-02-29T23:59:58.999+01:00").unwrap();
    for (cell, text) in [
        (Cell::Text("a \"b\", c".into()), "a \"b\", c"),
        (Cell::Text(String::new()), ""),
        (Cell::Int(-7), "-7"),
        (Cell::Int(i64::MAX), "9223372036854775807"),
        (Cell::Decimal("1234.5000".into()), "1234.5000"),
        (Cell::Decimal("-0.01".into()), "-0.01"),
        (Cell::Float(2.5), "2.5"),
        (Cell::Bool(true), "True"),
        (Cell::Bool(false), "False"),
        (Cell::Guid(guid), "c9fdfe63-41e3-ed11-8845-0022480b2800"),
        (Cell::DateTime(when), "2024-02-29T22:59:58Z"),
    ] {
        assert_eq!(format_value(&cell).as_deref(), Some(text), "{cell:?}");
    }
    assert_eq!(format_value(&Cell::Null), None);
}

#[test]
fn doubles_follow_dotnet_round_trip_formatting() {
    for (f, text) in [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (123.456, "123.456"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.0001, "0.0001"),
        (0.00012, "0.00012"),
        (0.00001, "1E-05"),
        (-1.25e-7, "-1.25E-07"),
        (1e14, "100000000000000"),
        (123456789012345.0, "123456789012345"),
        (1e15, "1E+15"),
        (1.5e20, "1.5E+20"),
        (12345678901234567.0, "12345678901234568"),
        (1234567890123456789.0, "1.2345678901234568E+18"),
        (f64::MAX, "1.7976931348623157E+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
        (5e-324, "5E-324"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        assert_eq!(dotnet_double(f), text, "{f:e}");
    }
}

fn row(cells: &[(&'static str, Cell)]) -> Row {
    cells.to_vec()
}

#[test]
fn header_is_first_seen_non_null_columns_unquoted() {
    let rows = vec![
        row(&[
            ("name", Cell::Text("A".into())),
            ("telephone1", Cell::Null),
            ("revenue", Cell::Null),
            ("accountid", Cell::Int(1)),
        ]),
        row(&[
            ("name", Cell::Null),
            ("telephone1", Cell::Text("555".into())),
            ("revenue", Cell::Null),
            ("accountid", Cell::Int(2)),
        ]),
    ];
    // `revenue` is null everywhere, so it is in no row and not in the file; `telephone1` is
    // first seen after `accountid`.
    assert_eq!(
        to_csv(&rows),
        "name,accountid,telephone1\r\n\"A\",\"1\",\"\"\r\n\"\",\"2\",\"555\"\r\n"
    );
}

#[test]
fn no_rows_is_one_empty_header_line() {
    assert_eq!(to_csv(&[]), "\r\n");
    // A row with only nulls still is a line.
    assert_eq!(to_csv(&[row(&[("name", Cell::Null)])]), "\r\n\r\n");
}

#[test]
fn quotes_are_doubled_and_line_breaks_kept() {
    let rows = vec![row(&[(
        "description",
        Cell::Text("say \"hi\",\r\nthen \"\"".into()),
    )])];
    assert_eq!(
        to_csv(&rows),
        "description\r\n\"say \"\"hi\"\",\r\nthen \"\"\"\"\"\r\n"
    );
}
