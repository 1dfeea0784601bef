//! Translation: columns, order, paging, names, filter structure.

use super::{b, column, compare, error, filter_of, names, query};
use crate::catalogue::Catalogue;
use crate::fetchxml::ast::{
    Columns, Condition, Entity, Fetch, FilterItem, FilterNode, FilterType, Operator,
};
use crate::fetchxml::parse::MAX_FILTER_DEPTH;
use crate::fetchxml::translate::{Paging, DEFAULT_PAGE_SIZE};
use crate::metadata::Cell;
use crate::odata::ast::CmpOp;
use crate::odata::plan::Filter;

#[test]
fn attributes_keep_their_order_and_the_primary_id_comes_last() {
    let q = query(
        r#"<fetch><entity name="account">
            <attribute name="revenue"/><attribute name="name"/><attribute name="revenue"/>
            <attribute name="primarycontactid"/>
        </entity></fetch>"#,
    )
    .unwrap();
    assert_eq!(q.table.logical_name, "account");
    assert_eq!(
        names(&q.plan.select),
        ["revenue", "name", "primarycontactid", "accountid"]
    );
    assert!(q.plan.explicit_select);
    assert!(!q.plan.count);
    assert_eq!(q.plan.filter, None);
    // Asked for explicitly, the id stays where it was written.
    let q = query(
        r#"<fetch><entity name="account"><attribute name="accountid"/><attribute name="name"/></entity></fetch>"#,
    )
    .unwrap();
    assert_eq!(names(&q.plan.select), ["accountid", "name"]);
    // No attribute at all: the id alone, as in Dataverse.
    let q = query(r#"<fetch><entity name="contact"/></fetch>"#).unwrap();
    assert_eq!(names(&q.plan.select), ["contactid"]);
}

#[test]
fn all_attributes_selects_every_column_in_table_order() {
    let q = query(r#"<fetch><entity name="contact"><all-attributes/></entity></fetch>"#).unwrap();
    let table = Catalogue::standard().by_logical_name("contact").unwrap();
    assert_eq!(q.plan.select, table.columns);
    assert!(!q.plan.explicit_select);
}

#[test]
fn orders_are_kept_and_end_with_the_primary_id() {
    let q = query(
        r#"<fetch><entity name="account">
            <order attribute="revenue" descending="true"/><order attribute="name"/>
            <order attribute="revenue"/>
        </entity></fetch>"#,
    )
    .unwrap();
    let order: Vec<(&str, bool)> = q
        .plan
        .orderby
        .iter()
        .map(|(c, d)| (c.logical_name, *d))
        .collect();
    assert_eq!(
        order,
        [("revenue", true), ("name", false), ("accountid", false)]
    );
    let q = query(
        r#"<fetch><entity name="account"><order attribute="accountid" descending="true"/></entity></fetch>"#,
    )
    .unwrap();
    assert_eq!(q.plan.orderby, [(column("account", "accountid"), true)]);
}

#[test]
fn paging_intent_is_returned() {
    let q = query(r#"<fetch><entity name="account"/></fetch>"#).unwrap();
    assert_eq!(
        q.paging,
        Paging {
            top: None,
            page_size: DEFAULT_PAGE_SIZE,
            first_page: 1
        }
    );
    assert_eq!(q.paging.rows_to_skip(), 0);
    assert_eq!(q.plan.top, None);

    let q = query(r#"<fetch top="7"><entity name="account"/></fetch>"#).unwrap();
    assert_eq!(q.paging.top, Some(7));
    assert_eq!(q.plan.top, Some(7));
    assert_eq!(q.paging.rows_to_skip(), 0);

    let q = query(
        r#"<fetch count="2" page="3" paging-cookie="&lt;cookie/&gt;" distinct="true"><entity name="account"/></fetch>"#,
    )
    .unwrap();
    assert_eq!(
        q.paging,
        Paging {
            top: None,
            page_size: 2,
            first_page: 3
        }
    );
    assert_eq!(q.paging.rows_to_skip(), 4);
    // `distinct` changes nothing: the id is still selected, so every row is distinct.
    assert_eq!(names(&q.plan.select), ["accountid"]);

    let q = query(r#"<fetch page="2"><entity name="account"/></fetch>"#).unwrap();
    assert_eq!(q.paging.rows_to_skip(), 5_000);
    let far = Paging {
        top: None,
        page_size: 5_000,
        first_page: u32::MAX,
    };
    assert_eq!(far.rows_to_skip(), u64::from(u32::MAX - 1) * 5_000);
}

#[test]
fn unknown_entities_and_attributes_are_named() {
    assert_eq!(
        error(r#"<fetch><entity name="nosuch"/></fetch>"#),
        "The entity with a name = 'nosuch' with namemapping = 'Logical' was not found in the MetadataCache."
    );
    let expected =
        "'account' entity doesn't contain attribute with Name = 'nosuch' and NameMapping = 'Logical'.";
    for body in [
        r#"<attribute name="nosuch"/>"#,
        r#"<order attribute="nosuch"/>"#,
        r#"<filter><condition attribute="nosuch" operator="null"/></filter>"#,
    ] {
        assert_eq!(
            error(&format!(
                r#"<fetch><entity name="account">{body}</entity></fetch>"#
            )),
            expected,
            "{body}"
        );
    }
    // Logical names only: a lookup is not `_x_value`, and names are case-sensitive.
    assert!(error(
        r#"<fetch><entity name="contact"><attribute name="_parentcustomerid_value"/></entity></fetch>"#
    )
    .contains("Name = '_parentcustomerid_value'"));
    assert!(
        error(r#"<fetch><entity name="account"><attribute name="Name"/></entity></fetch>"#)
            .contains("Name = 'Name'")
    );
    assert!(error(r#"<fetch><entity name="Account"/></fetch>"#).contains("name = 'Account'"));
}

#[test]
fn in_lists_become_balanced_or_and_and_trees() {
    let eq = |v| compare("account", "industrycode", CmpOp::Eq, Cell::Int(v));
    let ne = |v| compare("account", "industrycode", CmpOp::Ne, Cell::Int(v));
    assert_eq!(
        filter_of(
            "account",
            r#"<condition attribute="industrycode" operator="in"><value>1</value></condition>"#
        )
        .unwrap(),
        eq(1)
    );
    assert_eq!(
        filter_of(
            "account",
            r#"<condition attribute="industrycode" operator="in"><value>1</value><value>2</value><value>3</value></condition>"#
        )
        .unwrap(),
        Filter::Or(b(eq(1)), b(Filter::Or(b(eq(2)), b(eq(3)))))
    );
    assert_eq!(
        filter_of(
            "account",
            r#"<condition attribute="industrycode" operator="not-in"><value>1</value><value>2</value></condition>"#
        )
        .unwrap(),
        Filter::And(b(ne(1)), b(ne(2)))
    );
    let e = filter_of(
        "account",
        r#"<condition attribute="industrycode" operator="in"><value>1</value><value>x</value></condition>"#,
    )
    .unwrap_err();
    assert!(e
        .to_string()
        .contains("The value 'x' of the condition on 'industrycode'"));

    // A long list stays shallow.
    let values: String = (0..1000).map(|i| format!("<value>{i}</value>")).collect();
    let f = filter_of(
        "account",
        &format!(r#"<condition attribute="industrycode" operator="in">{values}</condition>"#),
    )
    .unwrap();
    fn depth(f: &Filter) -> usize {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => 1 + depth(a).max(depth(b)),
            Filter::Not(a) => 1 + depth(a),
            _ => 1,
        }
    }
    assert_eq!(depth(&f), 11);
}

#[test]
fn filters_combine_by_their_type_and_empty_filters_vanish() {
    let name = |v: &str| compare("account", "name", CmpOp::Eq, Cell::Text(v.into()));
    let q = query(
        r#"<fetch><entity name="account">
            <filter type="or">
              <condition attribute="name" operator="eq" value="a"/>
              <filter><condition attribute="name" operator="eq" value="b"/><condition attribute="name" operator="eq" value="c"/></filter>
              <filter type="or"/>
            </filter>
            <filter/>
            <filter><condition attribute="name" operator="eq" value="d"/></filter>
        </entity></fetch>"#,
    )
    .unwrap();
    assert_eq!(
        q.plan.filter,
        Some(Filter::And(
            b(Filter::Or(
                b(name("a")),
                b(Filter::And(b(name("b")), b(name("c"))))
            )),
            b(name("d"))
        ))
    );
    let q = query(r#"<fetch><entity name="account"><filter/></entity></fetch>"#).unwrap();
    assert_eq!(q.plan.filter, None);
}

fn hand_built(filter: FilterNode) -> Fetch {
    Fetch {
        top: None,
        count: None,
        page: None,
        paging_cookie: None,
        distinct: false,
        entity: Entity {
            name: "account".into(),
            columns: Columns::Listed(vec![]),
            orders: vec![],
            filters: vec![filter],
        },
    }
}

#[test]
fn hand_built_trees_are_checked_too() {
    let catalogue = Catalogue::standard();
    let with = |operator, values: &[&str]| {
        hand_built(FilterNode {
            filter_type: FilterType::And,
            children: vec![FilterItem::Condition(Condition {
                attribute: "name".into(),
                operator,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            })],
        })
    };
    let message = |fetch: Fetch| {
        crate::fetchxml::translate(&fetch, &catalogue)
            .unwrap_err()
            .to_string()
    };
    assert!(message(with(Operator::Eq, &[])).ends_with("needs a value."));
    assert!(message(with(Operator::Like, &["a", "b"])).ends_with("takes exactly one value."));
    assert!(message(with(Operator::Null, &["a"])).ends_with("takes no value."));
    assert!(message(with(Operator::In, &[])).ends_with("needs at least one child 'value' element."));

    let mut deep = FilterNode {
        filter_type: FilterType::And,
        children: vec![],
    };
    for _ in 0..MAX_FILTER_DEPTH {
        deep = FilterNode {
            filter_type: FilterType::Or,
            children: vec![FilterItem::Filter(deep)],
        };
    }
    assert_eq!(
        message(hand_built(deep)),
        format!("FetchXML 'filter' elements are nested more than {MAX_FILTER_DEPTH} levels deep.")
    );
}
