//! Properties of the OData query layer over arbitrary input: nothing a caller sends makes the
//! parser, the validator or the skiptoken decoder panic; every refusal is a 400; and text that
//! looks like SQL stays data, arriving in the plan exactly as sent.

use bgops_core::catalogue::Catalogue;
use bgops_core::error::ErrorCode;
use bgops_core::metadata::{Cell, Table};
use bgops_core::odata::ast::CmpOp;
use bgops_core::odata::parse::parse_options;
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::odata::skiptoken;
use bgops_core::odata::validate::plan;
use bgops_core::ApiError;
use proptest::prelude::*;

fn account() -> std::sync::Arc<Table> {
    Catalogue::standard()
        .by_logical_name("account")
        .expect("the standard catalogue has account")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// Parses and plans against `account`; any refusal must be a 400 with the query syntax code.
fn run(pairs: &[(String, String)]) -> Result<QueryPlan, ApiError> {
    let result = parse_options(pairs).and_then(|options| plan(&account(), &options));
    if let Err(e) = &result {
        assert_eq!(e.status, 400, "{e:?}");
        assert_eq!(e.code, ErrorCode::BAD_SYNTAX, "{e:?}");
    }
    result
}

/// Pieces `$filter` is made of, good and bad, so random sequences get deep into the grammar.
const PIECES: &[&str] = &[
    "name",
    "numberofemployees",
    "revenue",
    "creditonhold",
    "createdon",
    "accountid",
    "_primarycontactid_value",
    "description",
    "statecode",
    "nosuch",
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "and",
    "or",
    "not",
    "(",
    ")",
    ",",
    "contains(",
    "startswith(",
    "endswith(",
    "null",
    "true",
    "false",
    "@p1",
    "@p2",
    "'",
    "''",
    "'text'",
    "'O''Bryan'",
    "00000000-0000-0000-0000-000000000001",
    "2024-01-31",
    "2024-01-31T10:00:00Z",
    "2024-01-31T10:00:00+02:00",
    "1.5",
    "-2",
    "1e3",
    "99999999999999999999",
    "-",
    "/",
    ".",
    "é",
    "日本",
    "asc",
    "desc",
];

fn filter_token() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(str::to_owned),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => any::<char>().prop_map(String::from),
    ]
}

fn token_soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(filter_token(), 0..30),
        prop::bool::ANY,
    )
        .prop_map(|(tokens, spaced)| tokens.join(if spaced { " " } else { "" }))
}

fn option_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$select".to_owned()),
        Just("$filter".to_owned()),
        Just("$orderby".to_owned()),
        Just("$top".to_owned()),
        Just("$count".to_owned()),
        Just("$skiptoken".to_owned()),
        Just("$skip".to_owned()),
        Just("$expand".to_owned()),
        Just("@p1".to_owned()),
        Just("@p2".to_owned()),
        ".{0,8}",
    ]
}

fn option_value() -> impl Strategy<Value = String> {
    prop_oneof![
        token_soup(),
        ".{0,40}",
        "[0-9]{0,6}",
        Just("true".to_owned())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_filters_never_panic(f in ".{0,200}") {
        let _ = run(&pairs(&[("$filter", &f)]));
    }

    #[test]
    fn filter_token_soup_never_panics(f in token_soup(), p1 in option_value(), p2 in option_value()) {
        let _ = run(&pairs(&[("$filter", &f), ("@p1", &p1), ("@p2", &p2)]));
    }

    #[test]
    fn arbitrary_option_lists_never_panic(
        list in prop::collection::vec((option_name(), option_value()), 0..6)
    ) {
        let _ = run(&list);
    }

    #[test]
    fn select_and_orderby_soup_never_panics(s in token_soup(), o in token_soup(), p1 in option_value()) {
        let _ = run(&pairs(&[("$select", &s), ("$orderby", &o), ("@p1", &p1)]));
    }

    #[test]
    fn string_literals_stay_data(text in ".{0,100}") {
        let quoted = text.replace('\'', "''");
        let plan = run(&pairs(&[("$filter", &format!("name eq '{quoted}'"))]))
            .expect("a quoted string compared with a text column is valid");
        let expected = Cell::Text(text.clone());
        let kept = matches!(
            plan.filter,
            Some(Filter::Compare { column, op: CmpOp::Eq, value })
                if column.logical_name == "name" && value == expected
        );
        prop_assert!(kept, "{:?} did not arrive as one text value", text);
    }

    #[test]
    fn skiptoken_garbage_never_panics(token in ".{0,200}") {
        let r = skiptoken::decode(b"key", "query", &token);
        prop_assert!(matches!(r, Err(e) if e.status == 400));
    }

    #[test]
    fn skiptokens_round_trip(values in prop::collection::vec(cell(), 0..6)) {
        let token = skiptoken::encode(b"key", "query", &values);
        prop_assert_eq!(skiptoken::decode(b"key", "query", &token).expect("own token"), values);
    }
}

/// A well-formed, well-typed condition on `account`.
fn valid_condition() -> impl Strategy<Value = String> {
    let quoted = ".{0,12}".prop_map(|t: String| format!("'{}'", t.replace('\'', "''")));
    let leaf = prop_oneof![
        quoted.clone().prop_map(|q| format!("name eq {q}")),
        quoted.prop_map(|q| format!("{q} ne description")),
        any::<i32>().prop_map(|i| format!("numberofemployees gt {i}")),
        any::<i32>().prop_map(|i| format!("{i} le statecode")),
        "-?[0-9]{1,6}(\\.[0-9]{1,4})?(e-?[0-9])?".prop_map(|d| format!("revenue ge {d}")),
        any::<bool>().prop_map(|b| format!("creditonhold eq {b}")),
        Just("createdon lt 2024-01-31T10:00:00+02:00".to_owned()),
        Just("modifiedon ge '2024-01-31'".to_owned()),
        any::<u128>()
            .prop_map(|u| format!("_primarycontactid_value eq {}", uuid::Uuid::from_u128(u))),
        Just("telephone1 ne null".to_owned()),
        Just("name eq accountnumber".to_owned()),
        "[a-z' ]{1,8}".prop_map(|t| format!("contains(name,'{}')", t.replace('\'', "''"))),
        "[a-z]{1,8}".prop_map(|t| format!("not startswith(name,'{t}')")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn valid_conditions_always_plan(f in valid_condition()) {
        let r = run(&pairs(&[("$filter", &f), ("$orderby", "revenue desc,name")]));
        prop_assert!(r.is_ok(), "{}: {:?}", f, r);
    }
}

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        Just(Cell::Null),
        ".{0,20}".prop_map(Cell::Text),
        any::<i64>().prop_map(Cell::Int),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Cell::Float),
        "-?[0-9]{1,10}\\.[0-9]{0,4}".prop_map(Cell::Decimal),
        any::<bool>().prop_map(Cell::Bool),
        any::<u128>().prop_map(|u| Cell::Guid(uuid::Uuid::from_u128(u))),
        any::<i64>().prop_map(|t| Cell::DateTime(bgops_core::Timestamp(t))),
    ]
}

#[test]
fn sql_injection_in_a_string_literal_is_one_text_value() {
    let payload = "'; DROP TABLE account; --";
    let f = format!("name eq '{}'", payload.replace('\'', "''"));
    assert_eq!(f, "name eq '''; DROP TABLE account; --'");
    let plan = run(&pairs(&[("$filter", &f)])).expect("valid filter");
    match plan.filter {
        Some(Filter::Compare { column, value, .. }) => {
            assert_eq!(column.logical_name, "name");
            assert_eq!(value, Cell::Text(payload.to_owned()));
        }
        other => panic!("{other:?}"),
    }
    // Unescaped, the quote ends the string and the rest is refused, not run.
    let e = run(&pairs(&[(
        "$filter",
        "name eq ''; DROP TABLE account; --'",
    )]))
    .unwrap_err();
    assert!(
        e.message.contains("unexpected character ';'"),
        "{}",
        e.message
    );
    // Through an alias and a string function it is data too.
    let plan = run(&pairs(&[
        ("$filter", "contains(name,@p1)"),
        ("@p1", "'''; DROP TABLE account; --'"),
    ]))
    .expect("valid filter");
    assert!(matches!(
        plan.filter,
        Some(Filter::StrFunc { value, .. }) if value == payload
    ));
}

#[test]
fn property_names_cannot_smuggle_sql() {
    for f in [
        "name; DROP TABLE account eq 'x'",
        "name--x eq 'x'",
        "\"name\" eq 'x'",
        "name eq 'x' or 1 eq 1",
    ] {
        assert!(run(&pairs(&[("$filter", f)])).is_err(), "{f}");
    }
    for s in ["name,accountid FROM account --", "name;x", "*"] {
        assert!(run(&pairs(&[("$select", s)])).is_err(), "{s}");
    }
    for o in ["name; DROP TABLE account", "name desc, (select 1)"] {
        assert!(run(&pairs(&[("$orderby", o)])).is_err(), "{o}");
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for depth in [33, 100, 1_000, 4_000] {
        let parens = format!("{}name eq 'x'{}", "(".repeat(depth), ")".repeat(depth));
        let nots = format!("{}name eq 'x'", "not ".repeat(depth.min(2_000)));
        for f in [parens, nots] {
            let e = run(&pairs(&[("$filter", &f)])).unwrap_err();
            assert!(
                e.message.contains("nested more than 32 levels") || e.message.contains("longer"),
                "{}",
                e.message
            );
        }
    }
}
