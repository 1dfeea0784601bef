//! Unit tests of the FetchXML parser, its translation and the CSV writer.

mod conditions;
mod csv;
mod parse;
mod parse_errors;
mod translate;

use crate::catalogue::Catalogue;
use crate::fetchxml::error::FetchXmlError;
use crate::fetchxml::{compile, FetchQuery};
use crate::metadata::{Cell, Column};
use crate::odata::ast::CmpOp;
use crate::odata::plan::Filter;

pub(super) fn query(xml: &str) -> Result<FetchQuery, FetchXmlError> {
    compile(xml, &Catalogue::standard())
}

pub(super) fn error(xml: &str) -> String {
    query(xml).unwrap_err().to_string()
}

/// The filter of `<entity name="{entity}"><filter>{conditions}</filter></entity>`.
pub(super) fn filter_of(entity: &str, conditions: &str) -> Result<Filter, FetchXmlError> {
    let xml =
        format!(r#"<fetch><entity name="{entity}"><filter>{conditions}</filter></entity></fetch>"#);
    query(&xml).map(|q| q.plan.filter.unwrap())
}

pub(super) fn column(entity: &str, name: &str) -> Column {
    *Catalogue::standard()
        .by_logical_name(entity)
        .unwrap()
        .column(name)
        .unwrap()
}

pub(super) fn names(columns: &[Column]) -> Vec<&'static str> {
    columns.iter().map(|c| c.logical_name).collect()
}

pub(super) fn compare(entity: &str, name: &str, op: CmpOp, value: Cell) -> Filter {
    Filter::Compare {
        column: column(entity, name),
        op,
        value,
    }
}

pub(super) fn b(f: Filter) -> Box<Filter> {
    Box::new(f)
}
