//! The parser's refusals: unsupported or misplaced elements and attributes, malformed XML and
//! the size limits.

use super::parse::{cond, condition_of, error, in_entity};
use crate::fetchxml::ast::Operator;
use crate::fetchxml::parse::{parse, MAX_FETCHXML_BYTES};

#[test]
fn unsupported_elements_are_named() {
    assert_eq!(
        error(&in_entity(
            r#"<link-entity name="contact" from="parentcustomerid" to="accountid"/>"#
        )),
        "FetchXML element 'link-entity' is not supported."
    );
    assert_eq!(
        error(r#"<fetch><entity name="a"/><order attribute="x"/></fetch>"#),
        "FetchXML element 'order' is not allowed inside 'fetch'."
    );
    assert_eq!(
        error(&in_entity(r#"<condition attribute="x" operator="null"/>"#)),
        "FetchXML element 'condition' is not allowed inside 'entity'."
    );
    assert_eq!(
        error(&in_entity(
            r#"<attribute name="x"><value>1</value></attribute>"#
        )),
        "FetchXML element 'value' is not allowed inside 'attribute'."
    );
    assert_eq!(
        error(&in_entity(
            r#"<all-attributes><attribute name="x"/></all-attributes>"#
        )),
        "FetchXML element 'attribute' is not allowed inside 'all-attributes'."
    );
    assert_eq!(
        error(&in_entity(r#"<order attribute="x"><filter/></order>"#)),
        "FetchXML element 'filter' is not allowed inside 'order'."
    );
    assert_eq!(
        error(&in_entity(r#"<filter><order attribute="x"/></filter>"#)),
        "FetchXML element 'order' is not allowed inside 'filter'."
    );
    assert_eq!(
        error(&in_entity(
            r#"<filter><condition attribute="x" operator="in"><item>1</item></condition></filter>"#
        )),
        "FetchXML element 'item' is not supported."
    );
    assert_eq!(
        error(&in_entity(
            r#"<filter><condition attribute="x" operator="eq"><value><b>1</b></value></condition></filter>"#
        )),
        "FetchXML element 'b' is not supported."
    );
    assert_eq!(
        error(r#"<fetch xmlns:x="urn:x"><x:entity name="a"/></fetch>"#),
        "FetchXML element '{urn:x}entity' is not supported."
    );
}

#[test]
fn unsupported_attributes_are_named() {
    for (xml, element, attribute) in [
        (
            in_entity(r#"<attribute name="name" alias="n"/>"#),
            "attribute",
            "alias",
        ),
        (
            r#"<fetch no-lock="true"><entity name="a"/></fetch>"#.to_owned(),
            "fetch",
            "no-lock",
        ),
        (
            r#"<fetch><entity name="a" enableprefiltering="1"/></fetch>"#.to_owned(),
            "entity",
            "enableprefiltering",
        ),
        (
            in_entity(r#"<all-attributes x="1"/>"#),
            "all-attributes",
            "x",
        ),
        (
            in_entity(r#"<order attribute="name" alias="n"/>"#),
            "order",
            "alias",
        ),
        (in_entity(r#"<filter hint="union"/>"#), "filter", "hint"),
        (
            in_entity(
                r#"<filter><condition attribute="x" operator="eq" value="1" entityname="c"/></filter>"#,
            ),
            "condition",
            "entityname",
        ),
        (
            in_entity(
                r#"<filter><condition attribute="x" operator="in"><value id="1">1</value></condition></filter>"#,
            ),
            "value",
            "id",
        ),
        (
            r#"<fetch xmlns:x="urn:x" x:top="1"><entity name="a"/></fetch>"#.to_owned(),
            "fetch",
            "{urn:x}top",
        ),
    ] {
        assert_eq!(
            error(&xml),
            format!(
                "The attribute '{attribute}' of FetchXML element '{element}' is not supported."
            ),
            "{xml}"
        );
    }
}

#[test]
fn ui_hints_on_conditions_are_ignored() {
    let c = condition_of(
        r#"<condition attribute="parentcustomerid" operator="eq" uiname="Contoso" uitype="account" uihidden="0" value="{00000000-0000-0000-0000-000000000001}"/>"#,
    )
    .unwrap();
    assert_eq!(
        c,
        cond(
            "parentcustomerid",
            Operator::Eq,
            &["{00000000-0000-0000-0000-000000000001}"]
        )
    );
}

#[test]
fn required_attributes_are_named() {
    for (xml, element, attribute) in [
        (r#"<fetch><entity/></fetch>"#.to_owned(), "entity", "name"),
        (in_entity("<attribute/>"), "attribute", "name"),
        (
            in_entity("<order descending='true'/>"),
            "order",
            "attribute",
        ),
        (
            in_entity(r#"<filter><condition operator="null"/></filter>"#),
            "condition",
            "attribute",
        ),
        (
            in_entity(r#"<filter><condition attribute="x"/></filter>"#),
            "condition",
            "operator",
        ),
    ] {
        assert_eq!(
            error(&xml),
            format!("FetchXML element '{element}' needs the attribute '{attribute}'."),
            "{xml}"
        );
    }
}

#[test]
fn the_document_needs_fetch_and_one_entity() {
    assert_eq!(
        error(r#"<entity name="account"/>"#),
        "The root element of a FetchXML query must be 'fetch', not 'entity'."
    );
    assert_eq!(
        error("<fetch/>"),
        "A FetchXML query needs exactly one 'entity' element inside 'fetch'; found 0."
    );
    assert_eq!(
        error(r#"<fetch><entity name="a"/><entity name="b"/></fetch>"#),
        "A FetchXML query needs exactly one 'entity' element inside 'fetch'; found 2."
    );
}

#[test]
fn text_is_refused_outside_values() {
    assert_eq!(
        error(r#"<fetch>hello<entity name="a"/></fetch>"#),
        "FetchXML element 'fetch' cannot contain text."
    );
    assert_eq!(
        error(&in_entity("<attribute name='x'>y</attribute>")),
        "FetchXML element 'attribute' cannot contain text."
    );
    assert_eq!(
        error(&in_entity("<filter>x</filter>")),
        "FetchXML element 'filter' cannot contain text."
    );
    // White space, comments and processing instructions are fine.
    assert!(parse("<fetch>\n\t <!-- c --><?pi x?><entity name='a'> </entity>\r\n</fetch>").is_ok());
}

#[test]
fn malformed_xml_reports_the_parser_position() {
    let e = error("<fetch><entity name='a'></fetch>");
    assert!(
        e.starts_with("The FetchXML is not well-formed XML: "),
        "{e}"
    );
    assert!(e.contains("1:"), "{e}");
    for bad in [
        "",
        "   ",
        "not xml",
        "<fetch>",
        "<fetch><entity name='a' name='b'/></fetch>",
        "<fetch><entity name=a/></fetch>",
        "<fetch/><fetch/>",
        "<fetch>&unknown;</fetch>",
    ] {
        assert!(
            error(bad).starts_with("The FetchXML is not well-formed XML: "),
            "{bad}: {}",
            error(bad)
        );
    }
}

#[test]
fn dtds_are_refused() {
    let xml = r#"<!DOCTYPE fetch [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><fetch><entity name="&b;"/></fetch>"#;
    assert!(error(xml).starts_with("The FetchXML is not well-formed XML: "));
}

#[test]
fn oversized_documents_are_refused_before_parsing() {
    let padding = " ".repeat(MAX_FETCHXML_BYTES);
    let xml = format!("<fetch><entity name='a'/>{padding}</fetch>");
    assert_eq!(
        error(&xml),
        format!(
            "The FetchXML is {} bytes long; at most {MAX_FETCHXML_BYTES} bytes are accepted.",
            xml.len()
        )
    );
}

#[test]
fn too_many_nodes_are_refused() {
    let values = "<value/>".repeat(20_000);
    let xml = in_entity(&format!(
        r#"<filter><condition attribute="x" operator="in">{values}</condition></filter>"#
    ));
    assert!(xml.len() <= MAX_FETCHXML_BYTES);
    assert!(error(&xml).starts_with("The FetchXML is not well-formed XML: "));
}
