//! Reading a FetchXML document into a [`Fetch`]: the supported subset of SPEC §11 and nothing
//! else. Every element and attribute outside it is refused by name rather than ignored, so a
//! query never silently returns other rows than the caller meant.
//!
//! The XML itself is read by `roxmltree` with DTDs refused and the document size and node count
//! capped; no input makes the parser panic.

use roxmltree::{Document, Node, ParsingOptions};

use crate::fetchxml::ast::{
    Columns, Condition, Entity, Fetch, FilterItem, FilterNode, FilterType, Operator, Order,
};
use crate::fetchxml::error::FetchXmlError;

/// The longest FetchXML accepted, in bytes. A query is a few kilobytes; the cap keeps a
/// malicious body from costing more than a moment of parsing.
pub const MAX_FETCHXML_BYTES: usize = 256 * 1024;

/// The most XML nodes (elements, attributes, text) accepted, bounding the parsed tree's memory.
pub const MAX_NODES: u32 = 20_000;

/// The deepest nesting of `filter` elements accepted; bounds every recursion over the filter.
pub const MAX_FILTER_DEPTH: usize = 32;

/// The largest `top` and `count`: Dataverse returns at most 5,000 rows per page.
pub const MAX_PAGE_SIZE: u32 = 5_000;

/// The element names of the subset, so that a known element in the wrong place gets a better
/// message than "not supported".
const KNOWN: [&str; 8] = [
    "fetch",
    "entity",
    "attribute",
    "all-attributes",
    "order",
    "filter",
    "condition",
    "value",
];

/// Parses a FetchXML query of the supported subset.
///
/// `fetch` takes `top`, `count`, `page`, `paging-cookie`, `distinct` (and `aggregate="false"`);
/// `version`, `output-format` and `mapping` are accepted and ignored. `condition` also accepts
/// and ignores `uiname`, `uitype` and `uihidden`, the display hints that Advanced Find writes
/// into lookup conditions. Names are case-sensitive, as in Dataverse.
pub fn parse(xml: &str) -> Result<Fetch, FetchXmlError> {
    if xml.len() > MAX_FETCHXML_BYTES {
        return Err(FetchXmlError::TooLarge {
            len: xml.len(),
            limit: MAX_FETCHXML_BYTES,
        });
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options)
        .map_err(|e| FetchXmlError::Malformed(e.to_string()))?;
    let root = doc.root_element();
    if name_of(root) != "fetch" {
        return Err(FetchXmlError::WrongRoot(name_of(root)));
    }
    fetch(root)
}

fn fetch(node: Node<'_, '_>) -> Result<Fetch, FetchXmlError> {
    const EL: &str = "fetch";
    check_attributes(
        node,
        EL,
        &[
            "top",
            "count",
            "page",
            "paging-cookie",
            "distinct",
            "aggregate",
            "version",
            "output-format",
            "mapping",
        ],
    )?;
    if let Some(value) = node.attribute("aggregate") {
        if parse_bool(value) != Some(false) {
            return Err(FetchXmlError::InvalidAttribute {
                element: EL,
                attribute: "aggregate",
                value: value.to_owned(),
                expected: "aggregate queries are not supported",
            });
        }
    }
    let top = number(node, EL, "top", MAX_PAGE_SIZE)?;
    let count = number(node, EL, "count", MAX_PAGE_SIZE)?;
    let page = number(node, EL, "page", i32::MAX as u32)?;
    if top.is_some() {
        if count.is_some() {
            return Err(FetchXmlError::TopWithPaging("count"));
        }
        if page.is_some() {
            return Err(FetchXmlError::TopWithPaging("page"));
        }
    }
    let distinct = match node.attribute("distinct") {
        None => false,
        Some(value) => parse_bool(value).ok_or_else(|| FetchXmlError::InvalidAttribute {
            element: EL,
            attribute: "distinct",
            value: value.to_owned(),
            expected: "expected 'true' or 'false'",
        })?,
    };

    let mut entities = Vec::new();
    for child in element_children(node, EL)? {
        match name_of(child).as_str() {
            "entity" => entities.push(entity(child)?),
            other => return Err(misplaced(other, EL)),
        }
    }
    let found = entities.len();
    let entity = match <[Entity; 1]>::try_from(entities) {
        Ok([entity]) => entity,
        Err(_) => return Err(FetchXmlError::EntityCount(found)),
    };
    Ok(Fetch {
        top,
        count,
        page,
        paging_cookie: node.attribute("paging-cookie").map(str::to_owned),
        distinct,
        entity,
    })
}

fn entity(node: Node<'_, '_>) -> Result<Entity, FetchXmlError> {
    const EL: &str = "entity";
    check_attributes(node, EL, &["name"])?;
    let name = required(node, EL, "name")?;
    let mut listed = Vec::new();
    let mut all = false;
    let mut orders = Vec::new();
    let mut filters = Vec::new();
    for child in element_children(node, EL)? {
        match name_of(child).as_str() {
            "attribute" => {
                check_attributes(child, "attribute", &["name"])?;
                no_children(child, "attribute")?;
                listed.push(required(child, "attribute", "name")?);
            }
            "all-attributes" => {
                check_attributes(child, "all-attributes", &[])?;
                no_children(child, "all-attributes")?;
                all = true;
            }
            "order" => orders.push(order(child)?),
            "filter" => filters.push(filter(child, 1)?),
            other => return Err(misplaced(other, EL)),
        }
    }
    Ok(Entity {
        name,
        columns: if all {
            Columns::All
        } else {
            Columns::Listed(listed)
        },
        orders,
        filters,
    })
}

fn order(node: Node<'_, '_>) -> Result<Order, FetchXmlError> {
    const EL: &str = "order";
    check_attributes(node, EL, &["attribute", "descending"])?;
    no_children(node, EL)?;
    let descending = match node.attribute("descending") {
        None => false,
        Some(value) => parse_bool(value).ok_or_else(|| FetchXmlError::InvalidAttribute {
            element: EL,
            attribute: "descending",
            value: value.to_owned(),
            expected: "expected 'true' or 'false'",
        })?,
    };
    Ok(Order {
        attribute: required(node, EL, "attribute")?,
        descending,
    })
}

fn filter(node: Node<'_, '_>, depth: usize) -> Result<FilterNode, FetchXmlError> {
    const EL: &str = "filter";
    if depth > MAX_FILTER_DEPTH {
        return Err(FetchXmlError::TooDeep(MAX_FILTER_DEPTH));
    }
    check_attributes(node, EL, &["type"])?;
    let filter_type = match node.attribute("type") {
        None | Some("and") => FilterType::And,
        Some("or") => FilterType::Or,
        Some(other) => {
            return Err(FetchXmlError::InvalidAttribute {
                element: EL,
                attribute: "type",
                value: other.to_owned(),
                expected: "expected 'and' or 'or'",
            })
        }
    };
    let mut children = Vec::new();
    for child in element_children(node, EL)? {
        match name_of(child).as_str() {
            "condition" => children.push(FilterItem::Condition(condition(child)?)),
            "filter" => children.push(FilterItem::Filter(filter(child, depth + 1)?)),
            other => return Err(misplaced(other, EL)),
        }
    }
    Ok(FilterNode {
        filter_type,
        children,
    })
}

fn condition(node: Node<'_, '_>) -> Result<Condition, FetchXmlError> {
    const EL: &str = "condition";
    check_attributes(
        node,
        EL,
        &[
            "attribute",
            "operator",
            "value",
            "uiname",
            "uitype",
            "uihidden",
        ],
    )?;
    let attribute = required(node, EL, "attribute")?;
    let keyword = required(node, EL, "operator")?;
    let operator =
        Operator::from_keyword(&keyword).ok_or(FetchXmlError::UnsupportedOperator(keyword))?;

    let mut children = Vec::new();
    for child in element_children(node, EL)? {
        match name_of(child).as_str() {
            "value" => children.push(value_text(child)?),
            other => return Err(misplaced(other, EL)),
        }
    }
    let problem = |problem| FetchXmlError::ConditionValues {
        attribute: attribute.clone(),
        operator: operator.keyword(),
        problem,
    };
    let attribute_value = node.attribute("value");
    let values = match operator {
        Operator::Null | Operator::NotNull => {
            let given = attribute_value.is_some_and(|v| !v.is_empty()) || !children.is_empty();
            if given {
                return Err(problem("takes no value"));
            }
            Vec::new()
        }
        Operator::In | Operator::NotIn => {
            if attribute_value.is_some() {
                return Err(problem(
                    "takes its values as child 'value' elements, not as a 'value' attribute",
                ));
            }
            if children.is_empty() {
                return Err(problem("needs at least one child 'value' element"));
            }
            children
        }
        _ => match (attribute_value, children.len()) {
            (Some(v), 0) => vec![v.to_owned()],
            (None, 1) => children,
            (None, 0) => return Err(problem("needs a value")),
            _ => return Err(problem("takes exactly one value")),
        },
    };
    Ok(Condition {
        attribute,
        operator,
        values,
    })
}

/// The text of a `<value>` element (text and CDATA only).
fn value_text(node: Node<'_, '_>) -> Result<String, FetchXmlError> {
    check_attributes(node, "value", &[])?;
    let mut text = String::new();
    for child in node.children() {
        if child.is_element() {
            return Err(misplaced(&name_of(child), "value"));
        }
        if child.is_text() {
            text.push_str(child.text().unwrap_or_default());
        }
    }
    Ok(text)
}

/// The element's name; a namespaced element is shown as `{uri}name` and is never in the subset.
fn name_of(node: Node<'_, '_>) -> String {
    let tag = node.tag_name();
    match tag.namespace() {
        Some(ns) => format!("{{{ns}}}{}", tag.name()),
        None => tag.name().to_owned(),
    }
}

/// Refuses any attribute not in `allowed` (namespaced attributes included).
fn check_attributes(
    node: Node<'_, '_>,
    element: &'static str,
    allowed: &[&str],
) -> Result<(), FetchXmlError> {
    for attribute in node.attributes() {
        let supported = attribute.namespace().is_none() && allowed.contains(&attribute.name());
        if !supported {
            let shown = match attribute.namespace() {
                Some(ns) => format!("{{{ns}}}{}", attribute.name()),
                None => attribute.name().to_owned(),
            };
            return Err(FetchXmlError::UnsupportedAttribute {
                element,
                attribute: shown,
            });
        }
    }
    Ok(())
}

fn required(
    node: Node<'_, '_>,
    element: &'static str,
    attribute: &'static str,
) -> Result<String, FetchXmlError> {
    node.attribute(attribute)
        .map(str::to_owned)
        .ok_or(FetchXmlError::MissingAttribute { element, attribute })
}

/// The child elements; text other than white space is refused, comments and processing
/// instructions are skipped.
fn element_children<'a, 'i>(
    node: Node<'a, 'i>,
    element: &'static str,
) -> Result<Vec<Node<'a, 'i>>, FetchXmlError> {
    let mut out = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(child);
        } else if child.is_text() && child.text().is_some_and(|t| !t.trim().is_empty()) {
            return Err(FetchXmlError::UnexpectedText(element));
        }
    }
    Ok(out)
}

fn no_children(node: Node<'_, '_>, element: &'static str) -> Result<(), FetchXmlError> {
    match element_children(node, element)?.first() {
        Some(child) => Err(misplaced(&name_of(*child), element)),
        None => Ok(()),
    }
}

/// The error for a child element that cannot be where it is.
fn misplaced(name: &str, parent: &'static str) -> FetchXmlError {
    match KNOWN.iter().find(|k| **k == name) {
        Some(known) => FetchXmlError::MisplacedElement {
            element: known,
            parent,
        },
        None => FetchXmlError::UnsupportedElement(name.to_owned()),
    }
}

/// An optional whole-number attribute from 1 to `max`.
fn number(
    node: Node<'_, '_>,
    element: &'static str,
    attribute: &'static str,
    max: u32,
) -> Result<Option<u32>, FetchXmlError> {
    let Some(value) = node.attribute(attribute) else {
        return Ok(None);
    };
    let text = value.trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u32>().ok().filter(|n| (1..=max).contains(n))
    } else {
        None
    };
    parsed
        .map(Some)
        .ok_or_else(|| FetchXmlError::InvalidAttribute {
            element,
            attribute,
            value: value.to_owned(),
            expected: if max == MAX_PAGE_SIZE {
                "expected a whole number from 1 to 5000"
            } else {
                "expected a whole number from 1 to 2147483647"
            },
        })
}

/// An XML Schema boolean (`true`, `false`, `1`, `0`), case-insensitive as Dataverse reads it.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" => Some(true),
        "0" => Some(false),
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}
