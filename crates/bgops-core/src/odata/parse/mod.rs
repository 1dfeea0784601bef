//! Reading the query string of a table request into [`QueryOptions`]: which options bgops
//! accepts, their limits and parameter aliases. The hand-written tokenizer (`lex`) and the
//! recursive-descent parser (`parser`, with the `$filter` grammar in `filter`) of `$filter` and
//! `$orderby` live in the submodules.
//!
//! Error positions are 0-based character offsets into the option's value, as ODataLib counts
//! them. The parser works on `char`s, never on byte offsets, so no input can make it panic.

mod filter;
mod lex;
mod parser;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::odata::ast::{OrderBy, QueryOptions};

pub(crate) use filter::op_keyword;
use filter::parse_filter;
use lex::{is_identifier, lex_date};
use parser::Parser;

/// The longest `$filter` accepted, in characters: keeps parsing and the generated SQL small
/// (a URL may be 32 KB, and most of it should not be one condition).
pub const MAX_FILTER_CHARS: usize = 8_192;

/// The deepest nesting accepted in `$filter`: every pair of parentheses, every `not` and every
/// `and`/`or` chain (however long) counts one level. Bounds the recursion of the parser and of
/// everything that walks the tree afterwards.
pub const MAX_FILTER_DEPTH: usize = 32;

/// The largest `$top`: Dataverse returns at most 5,000 rows per request.
pub const MAX_TOP: u32 = 5_000;

/// The options bgops reads.
const SUPPORTED: [&str; 6] = [
    "$select",
    "$filter",
    "$orderby",
    "$top",
    "$count",
    "$skiptoken",
];

/// Options that are OData but refused, with a hint where there is a way to do without.
const REFUSED: [(&str, &str); 5] = [
    (
        "$skip",
        " Page with the 'Prefer: odata.maxpagesize' header and follow '@odata.nextLink' instead.",
    ),
    (
        "$search",
        " Use $filter with contains, startswith or endswith instead.",
    ),
    ("$format", " Responses are always JSON."),
    ("$apply", ""),
    ("$expand", ""),
];

/// Parses the query options of a table request.
///
/// `pairs` are the query string's name/value pairs, already percent-decoded (`+` already a
/// space). Names starting with `$` are system query options (case-sensitive, each at most once);
/// names starting with `@` are parameter aliases usable in `$filter` and `$orderby` (an alias
/// that is used but not assigned is `null`); other names are ignored. Every refusal is a 400
/// with code `0x80060888`.
pub fn parse_options(pairs: &[(String, String)]) -> Result<QueryOptions, ApiError> {
    let mut given: HashMap<&str, &str> = HashMap::new();
    let mut aliases: HashMap<&str, &str> = HashMap::new();
    for (name, value) in pairs {
        if name.starts_with('$') {
            if let Some((_, hint)) = REFUSED.iter().find(|(n, _)| n == name) {
                return Err(ApiError::bad_syntax(format!(
                    "The query option '{name}' is not supported by bgops.{hint}"
                )));
            }
            if !SUPPORTED.contains(&name.as_str()) {
                return Err(unknown_option(name));
            }
            if given.insert(name, value).is_some() {
                return Err(specified_twice(name));
            }
        } else if let Some(alias) = name.strip_prefix('@') {
            if !is_identifier(alias) {
                return Err(ApiError::bad_syntax(format!(
                    "'{}' is not a valid parameter alias name: write '@' and letters, digits or '_'.",
                    clip(name)
                )));
            }
            if aliases.insert(alias, value).is_some() {
                return Err(specified_twice(name));
            }
        }
        // Other names are custom query options: not ours to judge.
    }
    let aliases = Aliases(aliases);

    let mut options = QueryOptions::default();
    if let Some(v) = given.get("$select") {
        options.select = Some(parse_select(v)?);
    }
    if let Some(v) = given.get("$filter") {
        options.filter = Some(parse_filter(v, &aliases)?);
    }
    if let Some(v) = given.get("$orderby") {
        options.orderby = parse_orderby(v, &aliases)?;
    }
    if let Some(v) = given.get("$top") {
        options.top = Some(parse_top(v)?);
    }
    if let Some(v) = given.get("$count") {
        options.count = match *v {
            "true" => true,
            "false" => false,
            other => {
                return Err(ApiError::bad_syntax(format!(
                    "The value '{}' of '$count' is not valid: write 'true' or 'false'.",
                    clip(other)
                )))
            }
        };
    }
    if let Some(v) = given.get("$skiptoken") {
        options.skiptoken = Some((*v).to_owned());
    }
    Ok(options)
}

/// Parses a date (`2024-01-31`, midnight UTC) or a date-time (`2024-01-31T10:00:00Z`, with an
/// offset, or none meaning UTC) written as the whole of `text`; for string values compared with
/// date columns.
pub(crate) fn parse_datetime_text(text: &str) -> Option<Timestamp> {
    let chars: Vec<char> = text.trim().chars().collect();
    match lex_date(&chars, 0) {
        Some(Ok((ts, len))) if len == chars.len() => Some(ts),
        _ => None,
    }
}

fn unknown_option(name: &str) -> ApiError {
    let mut msg = format!(
        "The query option '{}' is not supported by bgops; it supports $select, $filter, $orderby, $top, $count and $skiptoken.",
        clip(name)
    );
    let lower = name.to_ascii_lowercase();
    if let Some(known) = SUPPORTED.iter().find(|k| **k == lower) {
        msg.push_str(&format!(
            " Option names are case-sensitive: did you mean '{known}'?"
        ));
    }
    ApiError::bad_syntax(msg)
}

fn specified_twice(name: &str) -> ApiError {
    ApiError::bad_syntax(format!(
        "Query option '{}' was specified more than once, but it must be specified at most once.",
        clip(name)
    ))
}

fn parse_top(v: &str) -> Result<u32, ApiError> {
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::bad_syntax(format!(
            "The value '{}' of '$top' is not valid: write a non-negative integer.",
            clip(v)
        )));
    }
    // All digits: a parse failure can only be an overflow, which is above the limit too.
    match v.parse::<u64>() {
        Ok(n) if n <= u64::from(MAX_TOP) => Ok(n as u32),
        _ => Err(ApiError::bad_syntax(format!(
            "The value '{}' of '$top' is above the limit of 5,000 rows.",
            clip(v)
        ))),
    }
}

fn parse_select(v: &str) -> Result<Vec<String>, ApiError> {
    let mut p = Parser::new("$select", v, None)?;
    let mut out = Vec::new();
    loop {
        out.push(p.property("expected a property name")?);
        if !p.list_continues()? {
            return Ok(out);
        }
    }
}

fn parse_orderby(v: &str, aliases: &Aliases) -> Result<Vec<OrderBy>, ApiError> {
    let mut p = Parser::new("$orderby", v, Some(aliases))?;
    let mut out = Vec::new();
    loop {
        let column = p.property("expected a property name to order by")?;
        let descending = match p.peek_word() {
            Some("asc") => {
                p.bump();
                false
            }
            Some("desc") => {
                p.bump();
                true
            }
            _ => false,
        };
        out.push(OrderBy { column, descending });
        if !p.list_continues()? {
            return Ok(out);
        }
    }
}

/// The parameter aliases of the request, by name without the `@`.
struct Aliases<'a>(HashMap<&'a str, &'a str>);

fn syntax_error(option: &str, pos: usize, msg: impl fmt::Display) -> ApiError {
    ApiError::bad_syntax(format!(
        "Syntax error at position {pos} in '{option}': {msg}."
    ))
}

/// Shortens user text echoed in a message.
fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}
