//! Unit tests of the query plan: selection, order, and every conversion and type check of
//! `$filter`.

use super::*;
use crate::catalogue::Catalogue;
use crate::clock::Timestamp;
use crate::metadata::{Cell, RequiredLevel, TableAccess, Writability};
use crate::odata::ast::OrderBy;
use crate::odata::parse::parse_options;

fn account() -> std::sync::Arc<Table> {
    Catalogue::standard().by_logical_name("account").unwrap()
}

fn col(logical_name: &'static str, column_type: ColumnType) -> Column {
    Column {
        logical_name,
        column_type,
        writability: Writability::ReadWrite,
        required: RequiredLevel::None,
    }
}

/// A table with one column of every type.
fn every_type() -> Table {
    Table {
        logical_name: "sample",
        entity_set: "samples",
        primary_id: "sampleid",
        primary_name: "name",
        display_name: "Sample",
        columns: vec![
            col("sampleid", ColumnType::PrimaryKey),
            col("name", ColumnType::String { max_len: 100 }),
            col("notes", ColumnType::Memo { max_len: 2000 }),
            col("count32", ColumnType::Integer),
            col("count64", ColumnType::BigInt),
            col("amount", ColumnType::Decimal),
            col("price", ColumnType::Money),
            col("ratio", ColumnType::Double),
            col(
                "flag",
                ColumnType::Boolean {
                    true_label: "Yes",
                    false_label: "No",
                },
            ),
            col("when", ColumnType::DateTime),
            col("other", ColumnType::Guid),
            col(
                "kind",
                ColumnType::Choice {
                    options: &[(1, "One")],
                    kind: crate::metadata::ChoiceKind::Picklist,
                },
            ),
            col(
                "ownerid",
                ColumnType::Lookup {
                    targets: &["systemuser"],
                },
            ),
        ],
        access: TableAccess::ReadWrite,
    }
}

fn plan_of(table: &Table, pairs: &[(&str, &str)]) -> Result<QueryPlan, ApiError> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    plan(table, &parse_options(&pairs)?)
}

fn filter_of(table: &Table, f: &str) -> Result<Filter, ApiError> {
    plan_of(table, &[("$filter", f)]).map(|p| p.filter.unwrap())
}

/// The value a one-comparison filter converts to.
fn value_of(table: &Table, f: &str) -> Result<Cell, ApiError> {
    match filter_of(table, f)? {
        Filter::Compare { value, .. } => Ok(value),
        other => panic!("{other:?}"),
    }
}

fn message(r: Result<impl std::fmt::Debug, ApiError>) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(e.code, crate::error::ErrorCode::BAD_SYNTAX);
    e.message
}

fn names(columns: &[Column]) -> Vec<&'static str> {
    columns.iter().map(|c| c.logical_name).collect()
}

#[test]
fn without_select_every_column_is_selected() {
    let t = account();
    let p = plan_of(&t, &[]).unwrap();
    assert_eq!(p.select, t.columns);
    assert!(!p.explicit_select);
    assert_eq!(p.filter, None);
    assert_eq!(
        names(&p.orderby.iter().map(|(c, _)| *c).collect::<Vec<_>>()),
        ["accountid"]
    );
    assert_eq!(p.top, None);
    assert!(!p.count);
}

#[test]
fn select_keeps_order_drops_repeats_and_adds_the_key() {
    let t = account();
    let p = plan_of(
        &t,
        &[("$select", "revenue,name,revenue,_primarycontactid_value")],
    )
    .unwrap();
    assert!(p.explicit_select);
    assert_eq!(
        names(&p.select),
        ["revenue", "name", "primarycontactid", "accountid"]
    );
    let p = plan_of(&t, &[("$select", "accountid,name")]).unwrap();
    assert_eq!(names(&p.select), ["accountid", "name"]);
}

#[test]
fn unknown_properties_are_named() {
    let t = account();
    let expected =
        "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'.";
    assert_eq!(
        message(plan_of(&t, &[("$select", "name,nosuch")])),
        expected
    );
    assert_eq!(
        message(plan_of(&t, &[("$orderby", "nosuch desc")])),
        expected
    );
    assert_eq!(message(filter_of(&t, "nosuch eq 1")), expected);
    assert_eq!(message(filter_of(&t, "name eq nosuch")), expected);
    assert_eq!(message(filter_of(&t, "contains(nosuch,'x')")), expected);
    // A lookup is read as `_name_value`, never by its logical name.
    assert!(message(plan_of(&t, &[("$select", "primarycontactid")]))
        .contains("property named 'primarycontactid'"));
    // Names are case-sensitive.
    assert!(message(plan_of(&t, &[("$select", "Name")])).contains("'Name'"));
}

#[test]
fn orderby_ends_with_the_primary_key() {
    let t = account();
    let p = plan_of(&t, &[("$orderby", "name desc,revenue,name")]).unwrap();
    let order: Vec<(&str, bool)> = p
        .orderby
        .iter()
        .map(|(c, d)| (c.logical_name, *d))
        .collect();
    assert_eq!(
        order,
        [("name", true), ("revenue", false), ("accountid", false)]
    );
    let p = plan_of(&t, &[("$orderby", "accountid desc,name")]).unwrap();
    let order: Vec<(&str, bool)> = p
        .orderby
        .iter()
        .map(|(c, d)| (c.logical_name, *d))
        .collect();
    assert_eq!(order, [("accountid", true), ("name", false)]);
}

#[test]
fn top_and_count_are_copied() {
    let p = plan_of(&account(), &[("$top", "10"), ("$count", "true")]).unwrap();
    assert_eq!(p.top, Some(10));
    assert!(p.count);
}

#[test]
fn text_columns_take_strings() {
    let t = every_type();
    assert_eq!(
        value_of(&t, "name eq 'O''Bryan'").unwrap(),
        Cell::Text("O'Bryan".into())
    );
    assert_eq!(
        value_of(&t, "notes ne 'x'").unwrap(),
        Cell::Text("x".into())
    );
    assert_eq!(
        message(value_of(&t, "name eq 5")),
        "Bad Request - Error in query syntax: A binary operator with incompatible types was detected. Found operand types 'Edm.String' (property 'name') and 'Edm.Int32' for operator kind 'Equal'."
    );
    assert!(message(value_of(&t, "notes gt true")).contains(
        "'Edm.String' (property 'notes') and 'Edm.Boolean' for operator kind 'GreaterThan'"
    ));
}

#[test]
fn integer_columns_take_integers_in_range() {
    let t = every_type();
    assert_eq!(value_of(&t, "count32 eq -7").unwrap(), Cell::Int(-7));
    assert_eq!(value_of(&t, "kind eq 1").unwrap(), Cell::Int(1));
    assert_eq!(
        value_of(&t, "count64 ge 9000000000").unwrap(),
        Cell::Int(9_000_000_000)
    );
    let e = message(value_of(&t, "count32 lt 3000000000"));
    assert!(
        e.contains("The value 3000000000 is out of range for the Edm.Int32 property 'count32'."),
        "{e}"
    );
    assert!(message(value_of(&t, "kind eq 3000000000")).contains("out of range"));
    assert!(message(value_of(&t, "count32 eq 1.5"))
        .contains("'Edm.Int32' (property 'count32') and 'Edm.Decimal'"));
    assert!(message(value_of(&t, "count32 eq '1'")).contains("'Edm.String'"));
    assert!(message(value_of(&t, "count64 eq 99999999999999999999")).contains("'Edm.Decimal'"));
    assert!(message(value_of(&t, "kind le false")).contains("LessThanOrEqual"));
}

#[test]
fn decimal_columns_keep_exact_text() {
    let t = every_type();
    for (literal, text) in [
        ("5", "5"),
        ("-2", "-2"),
        ("1.50", "1.50"),
        ("1e3", "1000"),
        ("1.5e-2", "0.015"),
        ("-2.50E1", "-25.0"),
        ("12.345e+1", "123.45"),
        ("0.5e0", "0.5"),
        (
            "123456789012345678901234567890.123456789",
            "123456789012345678901234567890.123456789",
        ),
    ] {
        assert_eq!(
            value_of(&t, &format!("amount eq {literal}")).unwrap(),
            Cell::Decimal(text.into()),
            "{literal}"
        );
        assert_eq!(
            value_of(&t, &format!("price eq {literal}")).unwrap(),
            Cell::Decimal(text.into()),
            "{literal}"
        );
    }
    for huge in ["1e999", "1e-999", "1e99999999999999999999"] {
        let e = message(value_of(&t, &format!("amount eq {huge}")));
        assert!(
            e.contains("out of range for the Edm.Decimal property 'amount'"),
            "{e}"
        );
    }
    assert!(message(value_of(&t, "price eq '5'"))
        .contains("'Edm.Decimal' (property 'price') and 'Edm.String'"));
}

#[test]
fn double_columns_take_numbers() {
    let t = every_type();
    assert_eq!(value_of(&t, "ratio gt 2").unwrap(), Cell::Float(2.0));
    assert_eq!(value_of(&t, "ratio gt 1.5").unwrap(), Cell::Float(1.5));
    assert_eq!(value_of(&t, "ratio gt 1e3").unwrap(), Cell::Float(1000.0));
    assert!(message(value_of(&t, "ratio gt 1e999")).contains("out of range"));
    assert!(message(value_of(&t, "ratio gt 'x'")).contains("'Edm.Double'"));
}

#[test]
fn boolean_columns_take_true_and_false() {
    let t = every_type();
    assert_eq!(value_of(&t, "flag eq true").unwrap(), Cell::Bool(true));
    assert_eq!(value_of(&t, "flag ne false").unwrap(), Cell::Bool(false));
    assert!(message(value_of(&t, "flag eq 1"))
        .contains("'Edm.Boolean' (property 'flag') and 'Edm.Int32'"));
    assert!(message(value_of(&t, "flag eq 'true'")).contains("'Edm.String'"));
}

#[test]
fn date_columns_take_dates_and_iso_strings() {
    let t = every_type();
    let jan31 = Timestamp::parse_rfc3339("2024-01-31T00:00:00Z").unwrap();
    let ten = Timestamp::parse_rfc3339("2024-01-31T10:00:00Z").unwrap();
    assert_eq!(
        value_of(&t, "when ge 2024-01-31").unwrap(),
        Cell::DateTime(jan31)
    );
    assert_eq!(
        value_of(&t, "when lt 2024-01-31T11:00:00+01:00").unwrap(),
        Cell::DateTime(ten)
    );
    assert_eq!(
        value_of(&t, "when ge '2024-01-31'").unwrap(),
        Cell::DateTime(jan31)
    );
    assert_eq!(
        value_of(&t, "when ge '2024-01-31T10:00:00Z'").unwrap(),
        Cell::DateTime(ten)
    );
    let e = message(value_of(&t, "when ge 'yesterday'"));
    assert!(
        e.contains(
            "The value 'yesterday' is not a valid Edm.DateTimeOffset for the property 'when'."
        ),
        "{e}"
    );
    assert!(message(value_of(&t, "when ge 20240131"))
        .contains("'Edm.DateTimeOffset' (property 'when') and 'Edm.Int32'"));
    // Account's system columns are dates too.
    assert_eq!(
        value_of(&account(), "createdon gt 2024-01-31").unwrap(),
        Cell::DateTime(jan31)
    );
}

#[test]
fn guid_columns_take_guids_quoted_or_not() {
    let t = every_type();
    let one = Cell::Guid(uuid::Uuid::from_u128(1));
    for f in [
        "sampleid eq 00000000-0000-0000-0000-000000000001",
        "sampleid eq '00000000-0000-0000-0000-000000000001'",
        "other eq '{00000000-0000-0000-0000-000000000001}'",
        "_ownerid_value eq 00000000-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000001 eq _ownerid_value",
    ] {
        assert_eq!(value_of(&t, f).unwrap(), one, "{f}");
    }
    let e = message(value_of(&t, "sampleid eq 'not-a-guid'"));
    assert!(
        e.contains("The value 'not-a-guid' is not a valid Edm.Guid for the property 'sampleid'."),
        "{e}"
    );
    assert!(message(value_of(&t, "_ownerid_value eq 5"))
        .contains("'Edm.Guid' (property '_ownerid_value') and 'Edm.Int32'"));
    assert!(
        message(value_of(&t, "name eq 00000000-0000-0000-0000-000000000001"))
            .contains("'Edm.String' (property 'name') and 'Edm.Guid'")
    );
}

#[test]
fn null_comparisons_become_null_tests() {
    let t = account();
    let revenue = *t.column("revenue").unwrap();
    assert_eq!(
        filter_of(&t, "revenue eq null").unwrap(),
        Filter::IsNull {
            column: revenue,
            negated: false
        }
    );
    assert_eq!(
        filter_of(&t, "revenue ne null").unwrap(),
        Filter::IsNull {
            column: revenue,
            negated: true
        }
    );
    assert_eq!(
        filter_of(&t, "null ne revenue").unwrap(),
        Filter::IsNull {
            column: revenue,
            negated: true
        }
    );
    assert_eq!(
        plan_of(&t, &[("$filter", "revenue eq @p1")])
            .unwrap()
            .filter,
        Some(Filter::IsNull {
            column: revenue,
            negated: false
        })
    );
    for op in ["gt", "ge", "lt", "le"] {
        let e = message(filter_of(&t, &format!("revenue {op} null")));
        assert!(
            e.contains(&format!(
                "The operator '{op}' cannot compare the property 'revenue' with null"
            )),
            "{e}"
        );
    }
}

#[test]
fn string_functions_need_text_columns_and_text() {
    let t = every_type();
    assert_eq!(
        filter_of(&t, "startswith(notes,'100%_')").unwrap(),
        Filter::StrFunc {
            func: StrFn::StartsWith,
            column: *t.column("notes").unwrap(),
            value: "100%_".into()
        }
    );
    let e = message(filter_of(&t, "contains(count32,'1')"));
    assert!(
        e.contains("The function 'contains' applies to Edm.String properties only; the property 'count32' is Edm.Int32."),
        "{e}"
    );
    let e = message(filter_of(&t, "endswith(name,'')"));
    assert!(
        e.contains("The function 'endswith' needs a non-empty text"),
        "{e}"
    );
}

#[test]
fn column_comparisons_need_the_same_type() {
    let t = every_type();
    assert_eq!(
        filter_of(&t, "name eq notes").unwrap(),
        Filter::CompareColumns {
            left: *t.column("name").unwrap(),
            op: CmpOp::Eq,
            right: *t.column("notes").unwrap()
        }
    );
    assert!(filter_of(&t, "count32 lt kind").is_ok());
    assert!(filter_of(&t, "amount ge price").is_ok());
    assert!(filter_of(&t, "sampleid ne _ownerid_value").is_ok());
    let e = message(filter_of(&t, "name eq count32"));
    assert!(
        e.contains("Found operand types 'Edm.String' (property 'name') and 'Edm.Int32' (property 'count32') for operator kind 'Equal'."),
        "{e}"
    );
}

#[test]
fn logic_is_kept() {
    let t = account();
    let name = *t.column("name").unwrap();
    let employees = *t.column("numberofemployees").unwrap();
    let f = filter_of(
        &t,
        "not (name eq 'a' or numberofemployees gt 5) and name ne 'b'",
    )
    .unwrap();
    assert_eq!(
        f,
        Filter::And(
            Box::new(Filter::Not(Box::new(Filter::Or(
                Box::new(Filter::Compare {
                    column: name,
                    op: CmpOp::Eq,
                    value: Cell::Text("a".into())
                }),
                Box::new(Filter::Compare {
                    column: employees,
                    op: CmpOp::Gt,
                    value: Cell::Int(5)
                })
            )))),
            Box::new(Filter::Compare {
                column: name,
                op: CmpOp::Ne,
                value: Cell::Text("b".into())
            })
        )
    );
}

#[test]
fn a_table_without_its_key_column_is_refused_not_panicked_on() {
    let mut t = every_type();
    t.columns.remove(0);
    assert_eq!(plan(&t, &QueryOptions::default()).unwrap_err().status, 500);
}

#[test]
fn hand_built_options_are_checked_too() {
    let options = QueryOptions {
        orderby: vec![OrderBy {
            column: String::new(),
            descending: false,
        }],
        ..QueryOptions::default()
    };
    assert!(plan(&account(), &options).is_err());
    let options = QueryOptions {
        filter: Some(Expr::Compare {
            column: "revenue".into(),
            op: CmpOp::Eq,
            value: Literal::Decimal("1.e-x".into()),
        }),
        ..QueryOptions::default()
    };
    assert!(plan(&account(), &options).is_err());
}

#[test]
fn memo_columns_cannot_order_a_page() {
    // A page's `$skiptoken` carries its last row's sort values: a memo would not fit a link.
    let t = account();
    assert_eq!(
        message(plan_of(&t, &[("$orderby", "description desc")])),
        "Bad Request - Error in query syntax: 'description' is a multiple-lines-of-text column and cannot be used in $orderby."
    );
    assert!(plan_of(&t, &[("$orderby", "name desc")]).is_ok());
}
