//! OData query options as Dataverse supports them (SPEC §6): parsing `$select`, `$filter`,
//! `$orderby`, `$top`, `$count` and parameter aliases into a plain AST ([`ast`]), validating it
//! against table metadata into a typed [`plan::QueryPlan`] that the storage layer translates to
//! parameterized SQL, and the opaque, tamper-checked `$skiptoken` of keyset paging.

pub mod ast;
pub mod eval;
pub mod expand;
pub mod parse;
pub mod plan;
pub mod skiptoken;
pub mod validate;
