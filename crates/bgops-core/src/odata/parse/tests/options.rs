//! The query options themselves: `$select`, `$orderby`, `$top`, `$count`, `$skiptoken`,
//! parameter aliases, and refused, unknown or repeated options.

use super::{and, cmp, filter, opts};
use crate::odata::ast::{CmpOp, Literal, OrderBy, QueryOptions};
use crate::odata::parse::SUPPORTED;

#[test]
fn no_options_is_the_default() {
    assert_eq!(opts(&[]).unwrap(), QueryOptions::default());
}

#[test]
fn aliases_stand_for_values_and_properties() {
    let o = opts(&[
        ("$filter", "@p1 gt @p2 and name eq @p3"),
        ("$orderby", "@p1 desc"),
        ("@p1", "revenue"),
        ("@p2", "5000"),
        ("@p3", "'O''Bryan'"),
    ])
    .unwrap();
    assert_eq!(
        o.filter.unwrap(),
        and(
            cmp("revenue", CmpOp::Gt, Literal::Int(5000)),
            cmp("name", CmpOp::Eq, Literal::String("O'Bryan".into()))
        )
    );
    assert_eq!(
        o.orderby,
        vec![OrderBy {
            column: "revenue".into(),
            descending: true
        }]
    );
}

#[test]
fn an_unassigned_alias_is_null() {
    assert_eq!(
        filter("name eq @nothing"),
        cmp("name", CmpOp::Eq, Literal::Null)
    );
}

#[test]
fn alias_values_are_single_operands() {
    let e = opts(&[("$filter", "name eq @p1"), ("@p1", "'a' or 1 eq 1")]).unwrap_err();
    assert!(e.message.contains("position 4 in '@p1'"), "{}", e.message);
    let e = opts(&[("$filter", "name eq @p1"), ("@p1", "@p2")]).unwrap_err();
    assert!(e.message.contains("cannot be used here"), "{}", e.message);
    let e = opts(&[("$orderby", "@p1"), ("@p1", "5")]).unwrap_err();
    assert!(
        e.message.contains("expected a property name"),
        "{}",
        e.message
    );
    let e = opts(&[("$orderby", "@p1")]).unwrap_err();
    assert!(
        e.message.contains("expected a property name"),
        "{}",
        e.message
    );
    let e = opts(&[("$select", "@p1"), ("@p1", "name")]).unwrap_err();
    assert!(e.message.contains("cannot be used here"), "{}", e.message);
    let e = opts(&[("@p 1", "x")]).unwrap_err();
    assert!(
        e.message.contains("not a valid parameter alias name"),
        "{}",
        e.message
    );
    let e = opts(&[("@p1", "1"), ("@p1", "2")]).unwrap_err();
    assert!(
        e.message.contains("'@p1' was specified more than once"),
        "{}",
        e.message
    );
    // An unused alias is not read.
    assert!(opts(&[("@p1", "'unclosed")]).is_ok());
}

#[test]
fn select_is_a_comma_list_of_properties() {
    assert_eq!(
        opts(&[("$select", "name, _primarycontactid_value ,revenue")])
            .unwrap()
            .select,
        Some(vec![
            "name".to_owned(),
            "_primarycontactid_value".to_owned(),
            "revenue".to_owned()
        ])
    );
    for bad in [
        "",
        "name,",
        ",name",
        "name revenue",
        "5",
        "'name'",
        "a/b",
        "name;drop",
    ] {
        let e = opts(&[("$select", bad)]).unwrap_err();
        assert!(e.message.contains("in '$select'"), "{bad}: {}", e.message);
    }
}

#[test]
fn orderby_is_a_comma_list_with_directions() {
    assert_eq!(
        opts(&[("$orderby", "name,revenue desc, createdon asc")])
            .unwrap()
            .orderby,
        vec![
            OrderBy {
                column: "name".into(),
                descending: false
            },
            OrderBy {
                column: "revenue".into(),
                descending: true
            },
            OrderBy {
                column: "createdon".into(),
                descending: false
            },
        ]
    );
    for bad in ["", "name,", "name up", "name desc desc", "name DESC"] {
        let e = opts(&[("$orderby", bad)]).unwrap_err();
        assert!(e.message.contains("in '$orderby'"), "{bad}: {}", e.message);
    }
}

#[test]
fn top_is_a_bounded_non_negative_integer() {
    assert_eq!(opts(&[("$top", "0")]).unwrap().top, Some(0));
    assert_eq!(opts(&[("$top", "5000")]).unwrap().top, Some(5000));
    assert_eq!(opts(&[("$top", "007")]).unwrap().top, Some(7));
    for above in ["5001", "99999999999999999999999"] {
        let e = opts(&[("$top", above)]).unwrap_err();
        assert!(
            e.message.contains("above the limit of 5,000"),
            "{}",
            e.message
        );
    }
    for bad in ["", "-1", "1.5", "ten", " 5", "+5"] {
        let e = opts(&[("$top", bad)]).unwrap_err();
        assert!(
            e.message.contains("non-negative integer"),
            "{bad}: {}",
            e.message
        );
    }
}

#[test]
fn count_is_true_or_false() {
    assert!(opts(&[("$count", "true")]).unwrap().count);
    assert!(!opts(&[("$count", "false")]).unwrap().count);
    for bad in ["True", "1", ""] {
        assert!(opts(&[("$count", bad)]).is_err(), "{bad}");
    }
}

#[test]
fn skiptoken_is_kept_opaque() {
    assert_eq!(
        opts(&[("$skiptoken", "a b'c(")]).unwrap().skiptoken,
        Some("a b'c(".into())
    );
}

#[test]
fn refused_options_say_so() {
    for name in ["$skip", "$search", "$format", "$apply", "$expand"] {
        let e = opts(&[(name, "1")]).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains(&format!(
                "The query option '{name}' is not supported by bgops."
            )),
            "{}",
            e.message
        );
    }
}

#[test]
fn unknown_options_are_refused_and_names_are_case_sensitive() {
    let e = opts(&[("$xyz", "1")]).unwrap_err();
    assert!(
        e.message.contains("'$xyz' is not supported"),
        "{}",
        e.message
    );
    let e = opts(&[("$Select", "name")]).unwrap_err();
    assert!(
        e.message.contains("did you mean '$select'?"),
        "{}",
        e.message
    );
    let e = opts(&[("$", "")]).unwrap_err();
    assert!(e.message.contains("'$' is not supported"), "{}", e.message);
    // Names without `$` or `@` are the application's own.
    assert_eq!(opts(&[("foo", "bar")]).unwrap(), QueryOptions::default());
}

#[test]
fn duplicated_options_are_refused() {
    for name in SUPPORTED {
        let e = opts(&[(name, "1"), (name, "1")]).unwrap_err();
        assert!(
            e.message.contains(&format!(
                "Query option '{name}' was specified more than once"
            )),
            "{}",
            e.message
        );
    }
}
