//! The parser: the tree of each element, attribute defaults and value rules.

use crate::fetchxml::ast::{
    Columns, Condition, Entity, Fetch, FilterItem, FilterNode, FilterType, Operator, Order,
};
use crate::fetchxml::error::FetchXmlError;
use crate::fetchxml::parse::{parse, MAX_FILTER_DEPTH};

/// The message of a refused document.
pub(super) fn error(xml: &str) -> String {
    parse(xml).unwrap_err().to_string()
}

/// A document with `body` inside `<entity name="account">`.
pub(super) fn in_entity(body: &str) -> String {
    format!(r#"<fetch><entity name="account">{body}</entity></fetch>"#)
}

/// The one condition of `<filter>{condition}</filter>`.
pub(super) fn condition_of(condition: &str) -> Result<Condition, FetchXmlError> {
    let fetch = parse(&in_entity(&format!("<filter>{condition}</filter>")))?;
    match fetch.entity.filters[0].children.as_slice() {
        [FilterItem::Condition(c)] => Ok(c.clone()),
        other => panic!("{other:?}"),
    }
}

pub(super) fn cond(attribute: &str, operator: Operator, values: &[&str]) -> Condition {
    Condition {
        attribute: attribute.into(),
        operator,
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

#[test]
fn a_full_query_becomes_its_tree() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
        <!-- exported from Advanced Find -->
        <fetch version="1.0" output-format="xml-platform" mapping="logical" distinct="true"
               count="50" page="2" paging-cookie="&lt;cookie page=&quot;1&quot;/&gt;">
          <entity name="account">
            <attribute name="name" />
            <attribute name="revenue" />
            <order attribute="revenue" descending="true" />
            <order attribute="name" />
            <filter type="or">
              <condition attribute="name" operator="like" value="%contoso%" />
              <filter>
                <condition attribute="revenue" operator="ge" value="1000" />
                <condition attribute="industrycode" operator="in">
                  <value>1</value>
                  <value><![CDATA[2]]></value>
                </condition>
              </filter>
            </filter>
            <filter type="and"><condition attribute="telephone1" operator="null" /></filter>
          </entity>
        </fetch>"#;
    let expected = Fetch {
        top: None,
        count: Some(50),
        page: Some(2),
        paging_cookie: Some(r#"<cookie page="1"/>"#.into()),
        distinct: true,
        entity: Entity {
            name: "account".into(),
            columns: Columns::Listed(vec!["name".into(), "revenue".into()]),
            orders: vec![
                Order {
                    attribute: "revenue".into(),
                    descending: true,
                },
                Order {
                    attribute: "name".into(),
                    descending: false,
                },
            ],
            filters: vec![
                FilterNode {
                    filter_type: FilterType::Or,
                    children: vec![
                        FilterItem::Condition(cond("name", Operator::Like, &["%contoso%"])),
                        FilterItem::Filter(FilterNode {
                            filter_type: FilterType::And,
                            children: vec![
                                FilterItem::Condition(cond("revenue", Operator::Ge, &["1000"])),
                                FilterItem::Condition(cond(
                                    "industrycode",
                                    Operator::In,
                                    &["1", "2"],
                                )),
                            ],
                        }),
                    ],
                },
                FilterNode {
                    filter_type: FilterType::And,
                    children: vec![FilterItem::Condition(cond(
                        "telephone1",
                        Operator::Null,
                        &[],
                    ))],
                },
            ],
        },
    };
    assert_eq!(parse(xml).unwrap(), expected);
}

#[test]
fn the_smallest_query_has_defaults() {
    let fetch = parse(r#"<fetch><entity name="contact"/></fetch>"#).unwrap();
    assert_eq!(
        fetch,
        Fetch {
            top: None,
            count: None,
            page: None,
            paging_cookie: None,
            distinct: false,
            entity: Entity {
                name: "contact".into(),
                columns: Columns::Listed(vec![]),
                orders: vec![],
                filters: vec![],
            },
        }
    );
}

#[test]
fn top_count_and_page_are_whole_numbers_in_range() {
    let f = parse(r#"<fetch top="5000"><entity name="a"/></fetch>"#).unwrap();
    assert_eq!(f.top, Some(5000));
    let f = parse(r#"<fetch count=" 1 " page="2147483647"><entity name="a"/></fetch>"#).unwrap();
    assert_eq!((f.count, f.page), (Some(1), Some(2_147_483_647)));
    for (attribute, value) in [
        ("top", "0"),
        ("top", "5001"),
        ("top", "-1"),
        ("top", "+5"),
        ("top", "1.0"),
        ("top", ""),
        ("top", "ten"),
        ("count", "0"),
        ("count", "99999999999999999999"),
        ("page", "0"),
        ("page", "2147483648"),
    ] {
        let e = error(&format!(
            r#"<fetch {attribute}="{value}"><entity name="a"/></fetch>"#
        ));
        assert!(
            e.starts_with(&format!(
                "The attribute '{attribute}' of FetchXML element 'fetch' has the value '{value}'; expected a whole number from 1 to "
            )),
            "{e}"
        );
    }
}

#[test]
fn top_cannot_be_combined_with_paging() {
    assert_eq!(
        error(r#"<fetch top="5" count="2"><entity name="a"/></fetch>"#),
        "The attribute 'top' of FetchXML element 'fetch' cannot be combined with the paging attribute 'count'."
    );
    assert!(
        error(r#"<fetch top="5" page="2"><entity name="a"/></fetch>"#)
            .contains("paging attribute 'page'")
    );
}

#[test]
fn booleans_read_as_dataverse_reads_them() {
    for (value, expected) in [
        ("true", true),
        ("True", true),
        ("1", true),
        ("false", false),
        ("FALSE", false),
        ("0", false),
    ] {
        let f = parse(&format!(
            r#"<fetch distinct="{value}"><entity name="a"><order attribute="x" descending="{value}"/></entity></fetch>"#
        ))
        .unwrap();
        assert_eq!(f.distinct, expected, "{value}");
        assert_eq!(f.entity.orders[0].descending, expected, "{value}");
    }
    assert_eq!(
        error(r#"<fetch distinct="yes"><entity name="a"/></fetch>"#),
        "The attribute 'distinct' of FetchXML element 'fetch' has the value 'yes'; expected 'true' or 'false'."
    );
    assert!(
        error(&in_entity(r#"<order attribute="x" descending="desc"/>"#)).contains(
            "The attribute 'descending' of FetchXML element 'order' has the value 'desc'"
        )
    );
}

#[test]
fn aggregate_is_refused_unless_false() {
    assert!(parse(r#"<fetch aggregate="false"><entity name="a"/></fetch>"#).is_ok());
    assert_eq!(
        error(r#"<fetch aggregate="true"><entity name="a"/></fetch>"#),
        "The attribute 'aggregate' of FetchXML element 'fetch' has the value 'true'; aggregate queries are not supported."
    );
}

#[test]
fn all_attributes_wins_over_listed_attributes() {
    let f = parse(&in_entity(r#"<attribute name="name"/><all-attributes/>"#)).unwrap();
    assert_eq!(f.entity.columns, Columns::All);
    let f = parse(&in_entity(r#"<all-attributes></all-attributes>"#)).unwrap();
    assert_eq!(f.entity.columns, Columns::All);
}

#[test]
fn filter_types_and_nesting() {
    assert_eq!(
        error(&in_entity(r#"<filter type="xor"/>"#)),
        "The attribute 'type' of FetchXML element 'filter' has the value 'xor'; expected 'and' or 'or'."
    );
    let nested = |depth: usize| {
        in_entity(&format!(
            "{}{}",
            "<filter>".repeat(depth),
            "</filter>".repeat(depth)
        ))
    };
    assert!(parse(&nested(MAX_FILTER_DEPTH)).is_ok());
    assert_eq!(
        error(&nested(MAX_FILTER_DEPTH + 1)),
        format!("FetchXML 'filter' elements are nested more than {MAX_FILTER_DEPTH} levels deep.")
    );
}

#[test]
fn every_operator_is_read() {
    for op in Operator::ALL {
        let k = op.keyword();
        let c = match op {
            Operator::Null | Operator::NotNull => {
                condition_of(&format!(r#"<condition attribute="x" operator="{k}"/>"#))
            }
            Operator::In | Operator::NotIn => condition_of(&format!(
                r#"<condition attribute="x" operator="{k}"><value>a</value><value>b</value></condition>"#
            )),
            _ => condition_of(&format!(r#"<condition attribute="x" operator="{k}" value="a"/>"#)),
        }
        .unwrap();
        assert_eq!(c.operator, op);
        assert_eq!(Operator::from_keyword(k), Some(op));
        let expected: &[&str] = match op {
            Operator::Null | Operator::NotNull => &[],
            Operator::In | Operator::NotIn => &["a", "b"],
            _ => &["a"],
        };
        assert_eq!(c.values, expected, "{k}");
    }
}

#[test]
fn unknown_operators_are_named() {
    for op in ["on-or-after", "EQ", "eq-userid", "not-begin-with", ""] {
        let e = condition_of(&format!(
            r#"<condition attribute="x" operator="{op}" value="1"/>"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!("The condition operator '{op}' is not supported; the supported operators are eq, ne,")),
            "{e}"
        );
    }
}

#[test]
fn values_match_their_operator() {
    // One value, as an attribute or one child; empty text is a value.
    assert_eq!(
        condition_of(r#"<condition attribute="x" operator="eq"><value> a </value></condition>"#)
            .unwrap()
            .values,
        [" a "]
    );
    assert_eq!(
        condition_of(r#"<condition attribute="x" operator="ne" value=""/>"#)
            .unwrap()
            .values,
        [""]
    );
    assert_eq!(
        condition_of(r#"<condition attribute="x" operator="eq"><value/></condition>"#)
            .unwrap()
            .values,
        [""]
    );
    assert_eq!(
        condition_of(r#"<condition attribute="x" operator="null" value=""/>"#)
            .unwrap()
            .values,
        Vec::<String>::new()
    );
    for (xml, problem) in [
        (
            r#"<condition attribute="x" operator="eq"/>"#,
            "The condition on 'x' with operator 'eq' needs a value.",
        ),
        (
            r#"<condition attribute="x" operator="like" value="a"><value>b</value></condition>"#,
            "The condition on 'x' with operator 'like' takes exactly one value.",
        ),
        (
            r#"<condition attribute="x" operator="gt"><value>1</value><value>2</value></condition>"#,
            "The condition on 'x' with operator 'gt' takes exactly one value.",
        ),
        (
            r#"<condition attribute="x" operator="null" value="1"/>"#,
            "The condition on 'x' with operator 'null' takes no value.",
        ),
        (
            r#"<condition attribute="x" operator="not-null"><value>1</value></condition>"#,
            "The condition on 'x' with operator 'not-null' takes no value.",
        ),
        (
            r#"<condition attribute="x" operator="in" value="1"/>"#,
            "The condition on 'x' with operator 'in' takes its values as child 'value' elements, not as a 'value' attribute.",
        ),
        (
            r#"<condition attribute="x" operator="not-in"/>"#,
            "The condition on 'x' with operator 'not-in' needs at least one child 'value' element.",
        ),
    ] {
        assert_eq!(condition_of(xml).unwrap_err().to_string(), problem, "{xml}");
    }
}

#[test]
fn long_names_are_clipped_in_messages() {
    let long = "x".repeat(10_000);
    let e = error(&format!("<{long}/>"));
    assert!(e.len() < 200, "{e}");
    assert!(e.contains('…'), "{e}");
}
