//! Literals as the tokenizer reads them: strings, numbers, GUIDs, dates and date-times.

use super::{cmp, filter, filter_err};
use crate::clock::Timestamp;
use crate::odata::ast::{CmpOp, Expr, Literal};
use crate::odata::parse::parse_datetime_text;

#[test]
fn quoted_strings_unescape_doubled_quotes() {
    assert_eq!(
        filter("lastname eq 'O''Bryan'"),
        cmp("lastname", CmpOp::Eq, Literal::String("O'Bryan".into()))
    );
    assert_eq!(
        filter("name eq ''''"),
        cmp("name", CmpOp::Eq, Literal::String("'".into()))
    );
    assert_eq!(
        filter("name eq ''"),
        cmp("name", CmpOp::Eq, Literal::String(String::new()))
    );
    assert_eq!(
        filter("name eq 'é ( ) and or 日本'"),
        cmp(
            "name",
            CmpOp::Eq,
            Literal::String("é ( ) and or 日本".into())
        )
    );
}

#[test]
fn every_literal_kind() {
    let lit = |text: &str| match filter(&format!("x eq {text}")) {
        Expr::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(lit("null"), Literal::Null);
    assert_eq!(lit("true"), Literal::Bool(true));
    assert_eq!(lit("false"), Literal::Bool(false));
    assert_eq!(lit("42"), Literal::Int(42));
    assert_eq!(lit("-2"), Literal::Int(-2));
    assert_eq!(lit("1.5"), Literal::Decimal("1.5".into()));
    assert_eq!(lit("-1.50"), Literal::Decimal("-1.50".into()));
    assert_eq!(lit("1e3"), Literal::Decimal("1e3".into()));
    assert_eq!(lit("2.5E-3"), Literal::Decimal("2.5E-3".into()));
    assert_eq!(
        lit("99999999999999999999"),
        Literal::Decimal("99999999999999999999".into())
    );
    assert_eq!(lit("'text'"), Literal::String("text".into()));
    assert_eq!(
        lit("00000000-0000-0000-0000-000000000001"),
        Literal::Guid(uuid::Uuid::from_u128(1))
    );
    assert_eq!(
        lit("ABCDEF00-0000-0000-0000-000000000001"),
        Literal::Guid(uuid::Uuid::from_u128(
            0xabcdef00_0000_0000_0000_000000000001
        ))
    );
    let jan31 = Timestamp::parse_rfc3339("2024-01-31T00:00:00Z").unwrap();
    assert_eq!(lit("2024-01-31"), Literal::DateTime(jan31));
    let ten = Timestamp::parse_rfc3339("2024-01-31T10:00:00Z").unwrap();
    assert_eq!(lit("2024-01-31T10:00:00Z"), Literal::DateTime(ten));
    assert_eq!(lit("2024-01-31T10:00Z"), Literal::DateTime(ten));
    assert_eq!(lit("2024-01-31T10:00:00"), Literal::DateTime(ten));
    assert_eq!(lit("2024-01-31T12:00:00+02:00"), Literal::DateTime(ten));
    assert_eq!(lit("2024-01-31T09:00:00-01:00"), Literal::DateTime(ten));
    assert_eq!(
        lit("2024-01-31T10:00:00.250Z"),
        Literal::DateTime(Timestamp(ten.0 + 250))
    );
}

#[test]
fn malformed_literals_are_refused_with_their_position() {
    let e = filter_err("name eq 'abc");
    assert!(e.contains("position 8") && e.contains("not closed"), "{e}");
    let e = filter_err("x eq 2024-02-30");
    assert!(
        e.contains("position 5") && e.contains("not a valid date"),
        "{e}"
    );
    let e = filter_err("x eq 2024-01-31T25:00:00Z");
    assert!(e.contains("position 5"), "{e}");
    let e = filter_err("x eq 2024-01-31T10:00:00+0200");
    assert!(e.contains("time zone offset"), "{e}");
    let e = filter_err("x eq 1.");
    assert!(e.contains("after the decimal point"), "{e}");
    let e = filter_err("x eq 1e");
    assert!(e.contains("exponent"), "{e}");
    let e = filter_err("x eq 12abc");
    assert!(
        e.contains("position 5") && e.contains("number is not valid"),
        "{e}"
    );
    let e = filter_err("x eq 1.2.3");
    assert!(e.contains("number is not valid"), "{e}");
}

#[test]
fn datetime_text_for_string_values() {
    assert_eq!(
        parse_datetime_text("2024-01-31"),
        Timestamp::parse_rfc3339("2024-01-31T00:00:00Z")
    );
    assert_eq!(
        parse_datetime_text("2024-01-31T10:00:00+01:00"),
        Timestamp::parse_rfc3339("2024-01-31T09:00:00Z")
    );
    assert_eq!(parse_datetime_text("2024-01-31 and"), None);
    assert_eq!(parse_datetime_text("yesterday"), None);
    assert_eq!(parse_datetime_text("2024-1-31"), None);
}

#[test]
fn enumeration_literals_keep_their_type_and_member() {
    assert_eq!(
        filter("AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'"),
        cmp(
            "AttributeType",
            CmpOp::Eq,
            Literal::Enum {
                type_name: "Microsoft.Dynamics.CRM.AttributeTypeCode".into(),
                member: "Picklist".into()
            }
        )
    );
    // Written on the left, it moves right like any literal.
    assert_eq!(
        filter("Microsoft.Dynamics.CRM.AttributeTypeCode'State' ne AttributeType"),
        cmp(
            "AttributeType",
            CmpOp::Ne,
            Literal::Enum {
                type_name: "Microsoft.Dynamics.CRM.AttributeTypeCode".into(),
                member: "State".into()
            }
        )
    );
    assert!(filter_err("x eq A.B'open").contains("not closed"));
}
