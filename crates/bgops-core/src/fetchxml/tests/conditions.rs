//! Conditions: values converted to column types, text operators, null tests.

use super::{b, column, compare, filter_of};
use crate::clock::Timestamp;
use crate::fetchxml::translate::convert;
use crate::metadata::{Cell, Column, ColumnType, RequiredLevel, Writability};
use crate::odata::ast::{CmpOp, StrFn};
use crate::odata::plan::Filter;

#[test]
fn comparisons_convert_values_to_the_column_type() {
    let guid = uuid::Uuid::from_u128(0x1234);
    let jan31 = Timestamp::parse_rfc3339("2024-01-31T00:00:00Z").unwrap();
    for (entity, op_kw, op, name, text, value) in [
        (
            "account",
            "eq",
            CmpOp::Eq,
            "name",
            "Contoso",
            Cell::Text("Contoso".into()),
        ),
        (
            "account",
            "ne",
            CmpOp::Ne,
            "description",
            " x ",
            Cell::Text(" x ".into()),
        ),
        (
            "account",
            "gt",
            CmpOp::Gt,
            "numberofemployees",
            " 10 ",
            Cell::Int(10),
        ),
        (
            "account",
            "ge",
            CmpOp::Ge,
            "industrycode",
            "3",
            Cell::Int(3),
        ),
        (
            "account",
            "lt",
            CmpOp::Lt,
            "revenue",
            "1000.50",
            Cell::Decimal("1000.50".into()),
        ),
        (
            "account",
            "le",
            CmpOp::Le,
            "versionnumber",
            "9000000000",
            Cell::Int(9_000_000_000),
        ),
        (
            "account",
            "eq",
            CmpOp::Eq,
            "creditonhold",
            "1",
            Cell::Bool(true),
        ),
        (
            "account",
            "eq",
            CmpOp::Eq,
            "creditonhold",
            "false",
            Cell::Bool(false),
        ),
        (
            "account",
            "ge",
            CmpOp::Ge,
            "createdon",
            "2024-01-31",
            Cell::DateTime(jan31),
        ),
        (
            "contact",
            "lt",
            CmpOp::Lt,
            "birthdate",
            "2024-01-31T01:00:00+01:00",
            Cell::DateTime(jan31),
        ),
        (
            "account",
            "eq",
            CmpOp::Eq,
            "accountid",
            "00000000-0000-0000-0000-000000001234",
            Cell::Guid(guid),
        ),
        (
            "contact",
            "ne",
            CmpOp::Ne,
            "parentcustomerid",
            "{00000000-0000-0000-0000-000000001234}",
            Cell::Guid(guid),
        ),
        (
            "systemuser",
            "eq",
            CmpOp::Eq,
            "azureactivedirectoryobjectid",
            "00000000-0000-0000-0000-000000001234",
            Cell::Guid(guid),
        ),
    ] {
        let f = filter_of(
            entity,
            &format!(r#"<condition attribute="{name}" operator="{op_kw}" value="{text}"/>"#),
        )
        .unwrap();
        assert_eq!(f, compare(entity, name, op, value), "{name} {op_kw} {text}");
    }
}

fn typed(column_type: ColumnType) -> Column {
    Column {
        logical_name: "c",
        column_type,
        writability: Writability::ReadWrite,
        required: RequiredLevel::None,
    }
}

#[test]
fn values_convert_for_every_column_type() {
    let ok = |t, text: &str| convert(&typed(t), text).unwrap();
    assert_eq!(
        ok(ColumnType::Memo { max_len: 5 }, ""),
        Cell::Text(String::new())
    );
    assert_eq!(
        ok(ColumnType::Integer, "-2147483648"),
        Cell::Int(-2_147_483_648)
    );
    assert_eq!(
        ok(ColumnType::BigInt, "-9223372036854775808"),
        Cell::Int(i64::MIN)
    );
    for (text, plain) in [
        ("5", "5"),
        ("+5", "5"),
        ("-1.50", "-1.50"),
        ("007.25", "7.25"),
        (".5", "0.5"),
        ("-.5", "-0.5"),
        ("5.", "5"),
        ("000", "0"),
    ] {
        assert_eq!(
            ok(ColumnType::Decimal, text),
            Cell::Decimal(plain.into()),
            "{text}"
        );
        assert_eq!(
            ok(ColumnType::Money, text),
            Cell::Decimal(plain.into()),
            "{text}"
        );
    }
    assert_eq!(ok(ColumnType::Double, "1.5E3"), Cell::Float(1500.0));
    assert_eq!(ok(ColumnType::Double, "-0.25"), Cell::Float(-0.25));

    for (t, text, expected) in [
        (
            ColumnType::Integer,
            "2147483648",
            "whole number from -2147483648 to 2147483647",
        ),
        (
            ColumnType::Integer,
            "1.0",
            "whole number from -2147483648 to 2147483647",
        ),
        (
            ColumnType::Choice {
                options: &[],
                kind: crate::metadata::ChoiceKind::Picklist,
            },
            "one",
            "whole number from -2147483648 to 2147483647",
        ),
        (
            ColumnType::BigInt,
            "9223372036854775808",
            "whole number from -9223372036854775808 to 9223372036854775807",
        ),
        (ColumnType::Decimal, "1e3", "decimal number such as 1234.50"),
        (ColumnType::Money, "1,000", "decimal number such as 1234.50"),
        (ColumnType::Money, "$5", "decimal number such as 1234.50"),
        (ColumnType::Money, "", "decimal number such as 1234.50"),
        (ColumnType::Money, ".", "decimal number such as 1234.50"),
        (ColumnType::Money, "-", "decimal number such as 1234.50"),
        (ColumnType::Double, "NaN", "number such as 12.5 or 1.5E3"),
        (ColumnType::Double, "inf", "number such as 12.5 or 1.5E3"),
        (ColumnType::Double, "1e999", "number such as 12.5 or 1.5E3"),
        (
            ColumnType::Boolean {
                true_label: "Yes",
                false_label: "No",
            },
            "yes",
            "boolean (true, false, 1 or 0)",
        ),
        (
            ColumnType::DateTime,
            "yesterday",
            "date or date-time such as 2024-01-31 or 2024-01-31T10:00:00Z",
        ),
        (ColumnType::PrimaryKey, "not-a-guid", "GUID"),
        (ColumnType::Guid, "", "GUID"),
        (ColumnType::Lookup { targets: &[] }, "1234", "GUID"),
    ] {
        let e = convert(&typed(t), text).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("The value '{text}' of the condition on 'c' is not a valid {expected}."),
            "{t:?} {text}"
        );
    }
    let long = "9".repeat(129);
    assert!(convert(&typed(ColumnType::Decimal), &long).is_err());
}

#[test]
fn text_operators_become_string_functions() {
    let name = column("account", "name");
    let str_func = |func, value: &str| Filter::StrFunc {
        func,
        column: name,
        value: value.into(),
    };
    let like = |pattern: &str| {
        filter_of(
            "account",
            &format!(r#"<condition attribute="name" operator="like" value="{pattern}"/>"#),
        )
    };
    assert_eq!(like("con%").unwrap(), str_func(StrFn::StartsWith, "con"));
    assert_eq!(like("%oso").unwrap(), str_func(StrFn::EndsWith, "oso"));
    assert_eq!(like("%nto%").unwrap(), str_func(StrFn::Contains, "nto"));
    assert_eq!(like("%%nto%%").unwrap(), str_func(StrFn::Contains, "nto"));
    assert_eq!(like("%100[%]%").unwrap(), str_func(StrFn::Contains, "100%"));
    assert_eq!(like("a[_]b%").unwrap(), str_func(StrFn::StartsWith, "a_b"));
    assert_eq!(like("[[]x]%").unwrap(), str_func(StrFn::StartsWith, "[x]"));
    assert_eq!(
        like("é漢字😀%").unwrap(),
        str_func(StrFn::StartsWith, "é漢字😀")
    );
    assert_eq!(
        like("Contoso").unwrap(),
        compare("account", "name", CmpOp::Eq, Cell::Text("Contoso".into()))
    );
    assert_eq!(
        filter_of(
            "account",
            r#"<condition attribute="name" operator="not-like" value="%x%"/>"#
        )
        .unwrap(),
        Filter::And(
            b(Filter::IsNull {
                column: name,
                negated: true
            }),
            b(Filter::Not(b(str_func(StrFn::Contains, "x"))))
        )
    );
    assert_eq!(
        filter_of(
            "account",
            r#"<condition attribute="name" operator="begins-with" value="100%"/>"#
        )
        .unwrap(),
        str_func(StrFn::StartsWith, "100%")
    );
    assert_eq!(
        filter_of(
            "account",
            r#"<condition attribute="name" operator="ends-with" value="_x"/>"#
        )
        .unwrap(),
        str_func(StrFn::EndsWith, "_x")
    );
}

#[test]
fn unsupported_like_patterns_are_explained() {
    for (pattern, problem) in [
        (
            "a%b",
            "'%' may only stand at the start or the end of the pattern",
        ),
        (
            "%a%b%",
            "'%' may only stand at the start or the end of the pattern",
        ),
        (
            "a_b",
            "'_' (any one character) cannot be matched; write [_] for a literal underscore",
        ),
        (
            "[a-c]%",
            "character sets in [ ] are not supported; only [x] escaping one character is",
        ),
        (
            "[^a]%",
            "character sets in [ ] are not supported; only [x] escaping one character is",
        ),
        (
            "a[",
            "character sets in [ ] are not supported; only [x] escaping one character is",
        ),
        ("%", "it has no text to match"),
        ("", "it has no text to match"),
    ] {
        let e = filter_of(
            "account",
            &format!(r#"<condition attribute="name" operator="not-like" value="{pattern}"/>"#),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("The like pattern '{pattern}' of the condition on 'name' is not supported: {problem}."),
        );
    }
}

#[test]
fn text_operators_need_text_columns_and_text() {
    for op in ["like", "not-like", "begins-with", "ends-with"] {
        let e = filter_of(
            "account",
            &format!(r#"<condition attribute="revenue" operator="{op}" value="1%"/>"#),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("The condition operator '{op}' applies to text columns only; the column 'revenue' is of type Money.")
        );
    }
    let e = filter_of(
        "account",
        r#"<condition attribute="name" operator="begins-with" value=""/>"#,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "The condition on 'name' with operator 'begins-with' needs a non-empty value."
    );
}

#[test]
fn null_tests() {
    let phone = column("account", "telephone1");
    assert_eq!(
        filter_of(
            "account",
            r#"<condition attribute="telephone1" operator="null"/>"#
        )
        .unwrap(),
        Filter::IsNull {
            column: phone,
            negated: false
        }
    );
    assert_eq!(
        filter_of(
            "account",
            r#"<condition attribute="telephone1" operator="not-null"/>"#
        )
        .unwrap(),
        Filter::IsNull {
            column: phone,
            negated: true
        }
    );
}
