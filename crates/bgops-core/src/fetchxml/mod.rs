//! FetchXML for the sample custom API `sample_ExportDataUsingFetchXmlToAnnotation` (SPEC §11):
//! parsing the supported subset into a plain AST ([`ast`], [`parse`](mod@parse)), checking it
//! against the catalogue and translating it into the
//! [`QueryPlan`](crate::odata::plan::QueryPlan) the storage layer runs
//! ([`translate`](mod@translate)), and writing the rows as the sample's CSV ([`csv`]).
//!
//! The export itself (reading every page as the caller, creating the annotation) belongs to the
//! engine's plug-in; this module holds no I/O.

pub mod ast;
pub mod csv;
pub mod error;
pub mod parse;
pub mod translate;

#[cfg(test)]
mod tests;

pub use ast::Fetch;
pub use csv::to_csv;
pub use error::FetchXmlError;
pub use parse::parse;
pub use translate::{translate, FetchQuery, Paging};

use crate::catalogue::Catalogue;

/// Parses `xml` and checks it against `catalogue` in one step: what the export plug-in calls
/// with the `FetchXml` parameter.
pub fn compile(xml: &str, catalogue: &Catalogue) -> Result<FetchQuery, FetchXmlError> {
    translate(&parse(xml)?, catalogue)
}
