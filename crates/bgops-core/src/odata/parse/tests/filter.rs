//! The `$filter` grammar: operators, precedence, grouping, functions, property names, and
//! refusals with their positions and limits.

use super::{and, cmp, eq_int, filter, filter_err, not, opts, or};
use crate::odata::ast::{CmpOp, Expr, Literal, StrFn};
use crate::odata::parse::{MAX_FILTER_CHARS, MAX_FILTER_DEPTH};

#[test]
fn every_comparison_operator() {
    for (word, op) in [
        ("eq", CmpOp::Eq),
        ("ne", CmpOp::Ne),
        ("gt", CmpOp::Gt),
        ("ge", CmpOp::Ge),
        ("lt", CmpOp::Lt),
        ("le", CmpOp::Le),
    ] {
        assert_eq!(
            filter(&format!("numberofemployees {word} 5")),
            cmp("numberofemployees", op, Literal::Int(5))
        );
    }
}

#[test]
fn literal_on_the_left_is_mirrored() {
    for (word, op) in [
        ("eq", CmpOp::Eq),
        ("ne", CmpOp::Ne),
        ("gt", CmpOp::Lt),
        ("ge", CmpOp::Le),
        ("lt", CmpOp::Gt),
        ("le", CmpOp::Ge),
    ] {
        assert_eq!(
            filter(&format!("5 {word} numberofemployees")),
            cmp("numberofemployees", op, Literal::Int(5))
        );
    }
}

#[test]
fn property_against_property_compares_columns() {
    assert_eq!(
        filter("firstname ne lastname"),
        Expr::CompareColumns {
            left: "firstname".into(),
            op: CmpOp::Ne,
            right: "lastname".into()
        }
    );
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        filter("a eq 1 or b eq 2 and c eq 3"),
        or(eq_int("a", 1), and(eq_int("b", 2), eq_int("c", 3)))
    );
    assert_eq!(
        filter("a eq 1 and b eq 2 or c eq 3"),
        or(and(eq_int("a", 1), eq_int("b", 2)), eq_int("c", 3))
    );
}

#[test]
fn parentheses_group() {
    assert_eq!(
        filter("(a eq 1 or b eq 2) and c eq 3"),
        and(or(eq_int("a", 1), eq_int("b", 2)), eq_int("c", 3))
    );
    assert_eq!(filter("((a eq 1))"), eq_int("a", 1));
}

#[test]
fn chains_are_left_grouped_and_balanced() {
    assert_eq!(
        filter("a eq 1 or b eq 2 or c eq 3"),
        or(or(eq_int("a", 1), eq_int("b", 2)), eq_int("c", 3))
    );
    assert_eq!(
        filter("a eq 1 and b eq 2 and c eq 3 and d eq 4"),
        and(
            and(eq_int("a", 1), eq_int("b", 2)),
            and(eq_int("c", 3), eq_int("d", 4))
        )
    );
}

#[test]
fn not_applies_to_a_condition_a_group_or_a_function() {
    assert_eq!(filter("not a eq 1"), not(eq_int("a", 1)));
    assert_eq!(
        filter("not (a eq 1 or b eq 2)"),
        not(or(eq_int("a", 1), eq_int("b", 2)))
    );
    assert_eq!(filter("not not a eq 1"), not(not(eq_int("a", 1))));
    assert_eq!(
        filter("not contains(name,'x') and a eq 1"),
        and(
            not(Expr::StrFunc {
                func: StrFn::Contains,
                column: "name".into(),
                value: "x".into()
            }),
            eq_int("a", 1)
        )
    );
}

#[test]
fn string_functions() {
    for (word, func) in [
        ("contains", StrFn::Contains),
        ("startswith", StrFn::StartsWith),
        ("endswith", StrFn::EndsWith),
    ] {
        assert_eq!(
            filter(&format!("{word}( name , 'Con''toso' )")),
            Expr::StrFunc {
                func,
                column: "name".into(),
                value: "Con'toso".into()
            }
        );
    }
}

#[test]
fn string_function_arguments_are_checked() {
    let e = filter_err("contains('x',name)");
    assert!(
        e.contains("position 9") && e.contains("first argument"),
        "{e}"
    );
    assert!(filter_err("contains(name,5)").contains("expected a quoted string"));
    assert!(filter_err("contains(name 'x')").contains("expected ','"));
    assert!(filter_err("contains(name,'x'").contains("expected ')' to close 'contains('"));
    assert!(filter_err("tolower(name) eq 'x'").contains("the function 'tolower' is not supported"));
}

#[test]
fn property_names() {
    assert_eq!(
        filter("_parentcustomerid_value eq 00000000-0000-0000-0000-000000000001"),
        cmp(
            "_parentcustomerid_value",
            CmpOp::Eq,
            Literal::Guid(uuid::Uuid::from_u128(1))
        )
    );
    assert!(filter_err("primarycontactid/fullname eq 'x'").contains("property paths"));
    assert!(filter_err("Microsoft.Dynamics.CRM.In(x) eq 1").contains("qualified names"));
}

#[test]
fn errors_say_what_was_expected_and_where() {
    assert_eq!(
        filter_err("name eq"),
        "Bad Request - Error in query syntax: Syntax error at position 7 in '$filter': expected a value after 'eq'."
    );
    let e = filter_err("numberofemployees eq ");
    assert!(
        e.contains("position 21") && e.contains("expected a value after 'eq'"),
        "{e}"
    );
    let e = filter_err("name 'x'");
    assert!(
        e.contains("position 5") && e.contains("expected a comparison operator"),
        "{e}"
    );
    let e = filter_err("name EQ 'x'");
    assert!(e.contains("lower case"), "{e}");
    let e = filter_err("name eq 'x' foo");
    assert!(
        e.contains("position 12") && e.contains("expected 'and', 'or'"),
        "{e}"
    );
    let e = filter_err("(name eq 'x'");
    assert!(
        e.contains("position 12") && e.contains("expected ')' to close the '(' at position 0"),
        "{e}"
    );
    let e = filter_err("name eq 'x')");
    assert!(e.contains("position 11"), "{e}");
    let e = filter_err("");
    assert!(
        e.contains("position 0") && e.contains("expected a condition"),
        "{e}"
    );
    let e = filter_err("name eq 'x' and");
    assert!(
        e.contains("position 15") && e.contains("expected a condition"),
        "{e}"
    );
    let e = filter_err("1 eq 2");
    assert!(
        e.contains("position 0") && e.contains("property name on at least one side"),
        "{e}"
    );
    let e = filter_err("name eq 'x' & a eq 1");
    assert!(
        e.contains("position 12") && e.contains("unexpected character '&'"),
        "{e}"
    );
    let e = filter_err("name eq and");
    assert!(e.contains("found 'and'"), "{e}");
    // Positions count characters, not bytes.
    let e = filter_err("name eq 'é' x");
    assert!(e.contains("position 12"), "{e}");
}

#[test]
fn keywords_are_lower_case() {
    assert!(filter_err("a eq 1 AND b eq 2").contains("expected 'and', 'or'"));
    // `NULL` is taken for a property name: the validator will not find it.
    assert_eq!(
        filter("a eq NULL"),
        Expr::CompareColumns {
            left: "a".into(),
            op: CmpOp::Eq,
            right: "NULL".into()
        }
    );
}

#[test]
fn filter_length_is_limited() {
    let mut f = "name eq 'x'".to_owned();
    while f.chars().count() < MAX_FILTER_CHARS {
        f.push(' ');
    }
    assert!(opts(&[("$filter", &f)]).is_ok());
    f.push(' ');
    assert_eq!(
        filter_err(&f),
        "Bad Request - Error in query syntax: The $filter is longer than the limit of 8192 characters."
    );
    // Characters, not bytes: 8,192 two-byte characters are within the limit.
    let mut f = format!("name eq '{}'", "é".repeat(MAX_FILTER_CHARS - 10));
    assert!(opts(&[("$filter", &f)]).is_ok());
    f.push(' ');
    assert!(opts(&[("$filter", &f)]).is_err());
}

#[test]
fn nesting_depth_is_limited() {
    let parens = |n: usize| format!("{}a eq 1{}", "(".repeat(n), ")".repeat(n));
    assert!(opts(&[("$filter", &parens(MAX_FILTER_DEPTH))]).is_ok());
    let e = filter_err(&parens(MAX_FILTER_DEPTH + 1));
    assert!(
        e.contains("position 32") && e.contains("nested more than 32 levels"),
        "{e}"
    );
    // Far deeper than the limit: refused early, no stack overflow.
    assert!(filter_err(&parens(4000)).contains("nested more than 32 levels"));

    let nots = |n: usize| format!("{}a eq 1", "not ".repeat(n));
    assert!(opts(&[("$filter", &nots(MAX_FILTER_DEPTH))]).is_ok());
    assert!(filter_err(&nots(MAX_FILTER_DEPTH + 1)).contains("nested more than 32 levels"));
    assert!(filter_err(&nots(2000)).contains("nested more than 32 levels"));

    // Each chain counts once, however long.
    let long_chain = vec!["a eq 1"; 500].join(" or ");
    assert!(opts(&[("$filter", &long_chain)]).is_ok());
    // `(a eq 1 and (…))` nests two levels each time: a group and a chain.
    let nested = |n: usize| {
        let mut e = "a eq 1".to_owned();
        for _ in 0..n {
            e = format!("(a eq 1 and {e})");
        }
        e
    };
    assert!(opts(&[("$filter", &nested(16))]).is_ok());
    let e = filter_err(&nested(17));
    assert!(e.contains("nested more than 32 levels"), "{e}");
    // A chain around the deepest allowed group is one level too many.
    let e = filter_err(&format!("{} or b eq 2", nested(16)));
    assert!(
        e.contains("position 0") && e.contains("nested more than 32 levels"),
        "{e}"
    );
}

#[test]
fn long_chains_stay_shallow() {
    fn depth(e: &Expr) -> usize {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => 1 + depth(a).max(depth(b)),
            Expr::Not(a) => 1 + depth(a),
            _ => 1,
        }
    }
    let chain = vec!["a eq 1"; 700].join(" and ");
    assert!(depth(&filter(&chain)) <= 11);
}
