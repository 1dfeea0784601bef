//! Checking a parsed FetchXML query against the catalogue and turning it into the
//! [`QueryPlan`] the storage layer already runs for OData queries, plus the paging the export
//! must follow ([`Paging`]).
//!
//! The translation keeps Dataverse's SQL semantics where the plan's operators differ: a
//! `not-like` or `not-in` never matches a row whose column is null, and `in` lists become
//! balanced trees so a long list does not become a deep recursion downstream.

use std::sync::Arc;

use crate::catalogue::Catalogue;
use crate::fetchxml::ast::{
    Columns, Condition, Fetch, FilterItem, FilterNode, FilterType, Operator,
};
use crate::fetchxml::error::FetchXmlError;
use crate::fetchxml::parse::{parse_bool, MAX_FILTER_DEPTH};
use crate::metadata::{Cell, Column, ColumnType, Table};
use crate::odata::ast::{CmpOp, StrFn};
use crate::odata::parse::parse_datetime_text;
use crate::odata::plan::{Filter, QueryPlan};

/// The page size when `count` is not given: Dataverse's 5,000 rows.
pub const DEFAULT_PAGE_SIZE: u32 = 5_000;

/// The longest decimal value accepted in a condition, in characters.
const MAX_DECIMAL_CHARS: usize = 128;

/// A FetchXML query checked against its table: what the export hands to the storage layer.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchQuery {
    /// The table queried (the storage layer takes it with the plan).
    pub table: Arc<Table>,
    /// Columns, filter and order. `select` is the requested columns in document order followed
    /// by the primary id (SPEC §11); `orderby` ends with the primary id so pages are exact.
    pub plan: QueryPlan,
    /// Which rows of the ordered result the export reads.
    pub paging: Paging,
}

/// The paging intent of a FetchXML query. The export reads every page, as the sample plug-in
/// does, so `count` only sets the page size and never truncates the result; `page` says where
/// reading starts; `top` is the only cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// `top`: the most rows returned in all (`None`: no cap).
    pub top: Option<u32>,
    /// Rows per page: `count`, else [`DEFAULT_PAGE_SIZE`].
    pub page_size: u32,
    /// The 1-based page reading starts from: `page`, else 1.
    pub first_page: u32,
}

impl Paging {
    /// How many rows of the ordered result come before the first page read:
    /// `(first_page - 1) × page_size`.
    pub fn rows_to_skip(&self) -> u64 {
        u64::from(self.first_page.saturating_sub(1)) * u64::from(self.page_size)
    }
}

/// Checks `fetch` against the catalogue and builds the query.
///
/// The entity must be a catalogue table and every attribute one of its columns (logical names;
/// a lookup by its own name, not `_x_value`). Values are converted to the column's storage type;
/// `distinct` and `paging-cookie` change nothing (every row carries its primary id, and `page`
/// decides where reading starts).
pub fn translate(fetch: &Fetch, catalogue: &Catalogue) -> Result<FetchQuery, FetchXmlError> {
    let entity = &fetch.entity;
    let table = catalogue
        .by_logical_name(&entity.name)
        .ok_or_else(|| FetchXmlError::UnknownEntity(entity.name.clone()))?;
    let primary = *resolve(&table, table.primary_id)?;

    let (select, explicit_select) = match &entity.columns {
        Columns::All => (table.columns.clone(), false),
        Columns::Listed(names) => {
            let mut select: Vec<Column> = Vec::new();
            for name in names {
                let column = *resolve(&table, name)?;
                if !select.contains(&column) {
                    select.push(column);
                }
            }
            if !select.contains(&primary) {
                select.push(primary);
            }
            (select, true)
        }
    };

    let mut orderby: Vec<(Column, bool)> = Vec::new();
    for order in &entity.orders {
        let column = *resolve(&table, &order.attribute)?;
        if !orderby.iter().any(|(c, _)| *c == column) {
            orderby.push((column, order.descending));
        }
    }
    if !orderby.iter().any(|(c, _)| *c == primary) {
        orderby.push((primary, false));
    }

    let mut filters = Vec::new();
    for node in &entity.filters {
        filters.extend(filter(&table, node, 1)?);
    }

    Ok(FetchQuery {
        plan: QueryPlan {
            select,
            explicit_select,
            filter: combine(filters, Filter::And),
            orderby,
            top: fetch.top,
            count: false,
        },
        paging: Paging {
            top: fetch.top,
            page_size: fetch.count.unwrap_or(DEFAULT_PAGE_SIZE),
            first_page: fetch.page.unwrap_or(1),
        },
        table,
    })
}

fn resolve<'t>(table: &'t Table, name: &str) -> Result<&'t Column, FetchXmlError> {
    table
        .column(name)
        .ok_or_else(|| FetchXmlError::UnknownAttribute {
            entity: table.logical_name,
            attribute: name.to_owned(),
        })
}

/// A `<filter>`; `None` when it holds no condition (an empty filter restricts nothing).
fn filter(table: &Table, node: &FilterNode, depth: usize) -> Result<Option<Filter>, FetchXmlError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(FetchXmlError::TooDeep(MAX_FILTER_DEPTH));
    }
    let mut parts = Vec::new();
    for child in &node.children {
        match child {
            FilterItem::Condition(c) => parts.push(condition(table, c)?),
            FilterItem::Filter(inner) => parts.extend(filter(table, inner, depth + 1)?),
        }
    }
    Ok(match node.filter_type {
        FilterType::And => combine(parts, Filter::And),
        FilterType::Or => combine(parts, Filter::Or),
    })
}

/// `parts` joined by `join` as a balanced tree (depth log₂ n, not n).
fn combine(mut parts: Vec<Filter>, join: fn(Box<Filter>, Box<Filter>) -> Filter) -> Option<Filter> {
    if parts.len() <= 1 {
        return parts.pop();
    }
    let right = parts.split_off(parts.len() / 2);
    let left = combine(parts, join)?;
    let right = combine(right, join)?;
    Some(join(Box::new(left), Box::new(right)))
}

fn condition(table: &Table, c: &Condition) -> Result<Filter, FetchXmlError> {
    let column = *resolve(table, &c.attribute)?;
    let problem = |problem| FetchXmlError::ConditionValues {
        attribute: c.attribute.clone(),
        operator: c.operator.keyword(),
        problem,
    };
    let single = || match c.values.as_slice() {
        [value] => Ok(value.as_str()),
        [] => Err(problem("needs a value")),
        _ => Err(problem("takes exactly one value")),
    };
    let compare = |op: CmpOp, text: &str| -> Result<Filter, FetchXmlError> {
        Ok(Filter::Compare {
            column,
            op,
            value: convert(&column, text)?,
        })
    };
    Ok(match c.operator {
        Operator::Eq => compare(CmpOp::Eq, single()?)?,
        Operator::Ne => compare(CmpOp::Ne, single()?)?,
        Operator::Gt => compare(CmpOp::Gt, single()?)?,
        Operator::Ge => compare(CmpOp::Ge, single()?)?,
        Operator::Lt => compare(CmpOp::Lt, single()?)?,
        Operator::Le => compare(CmpOp::Le, single()?)?,
        Operator::Like => like(&column, c.operator, single()?)?,
        Operator::NotLike => not_null_and_not(&column, like(&column, c.operator, single()?)?),
        Operator::BeginsWith | Operator::EndsWith => {
            text_column(&column, c.operator)?;
            let value = single()?;
            if value.is_empty() {
                return Err(problem("needs a non-empty value"));
            }
            Filter::StrFunc {
                func: if c.operator == Operator::BeginsWith {
                    StrFn::StartsWith
                } else {
                    StrFn::EndsWith
                },
                column,
                value: value.to_owned(),
            }
        }
        Operator::Null | Operator::NotNull => {
            if !c.values.is_empty() {
                return Err(problem("takes no value"));
            }
            Filter::IsNull {
                column,
                negated: c.operator == Operator::NotNull,
            }
        }
        Operator::In | Operator::NotIn => {
            let (op, join): (_, fn(_, _) -> _) = if c.operator == Operator::In {
                (CmpOp::Eq, Filter::Or)
            } else {
                (CmpOp::Ne, Filter::And)
            };
            let parts = c
                .values
                .iter()
                .map(|v| compare(op, v))
                .collect::<Result<Vec<_>, _>>()?;
            combine(parts, join)
                .ok_or_else(|| problem("needs at least one child 'value' element"))?
        }
    })
}

/// `inner` negated with SQL's treatment of null: a row whose column is null matches neither.
fn not_null_and_not(column: &Column, inner: Filter) -> Filter {
    Filter::And(
        Box::new(Filter::IsNull {
            column: *column,
            negated: true,
        }),
        Box::new(Filter::Not(Box::new(inner))),
    )
}

fn text_column(column: &Column, operator: Operator) -> Result<(), FetchXmlError> {
    match column.column_type {
        ColumnType::String { .. } | ColumnType::Memo { .. } => Ok(()),
        other => Err(FetchXmlError::NotText {
            operator: operator.keyword(),
            attribute: column.logical_name,
            attribute_type: other.attribute_type(),
        }),
    }
}

/// A `like` pattern as the text match the plan can express: `x%` starts-with, `%x` ends-with,
/// `%x%` contains, `x` equality (case-insensitive, as LIKE is in Dataverse). `[c]` escapes one
/// character; `_`, character sets and `%` inside the text are refused.
fn like(column: &Column, operator: Operator, pattern: &str) -> Result<Filter, FetchXmlError> {
    text_column(column, operator)?;
    let refuse = |problem| FetchXmlError::LikePattern {
        attribute: column.logical_name,
        pattern: pattern.to_owned(),
        problem,
    };
    // `None` stands for `%`.
    let mut tokens: Vec<Option<char>> = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '%' => tokens.push(None),
            '_' => {
                return Err(refuse(
                    "'_' (any one character) cannot be matched; write [_] for a literal underscore",
                ))
            }
            '[' => match chars.get(i + 1..i + 3) {
                Some([c, ']']) if *c != '^' => {
                    tokens.push(Some(*c));
                    i += 2;
                }
                _ => return Err(refuse(
                    "character sets in [ ] are not supported; only [x] escaping one character is",
                )),
            },
            c => tokens.push(Some(c)),
        }
        i += 1;
    }
    let leading = tokens.iter().take_while(|t| t.is_none()).count();
    let trailing = tokens[leading..]
        .iter()
        .rev()
        .take_while(|t| t.is_none())
        .count();
    let core = &tokens[leading..tokens.len() - trailing];
    let text: Option<String> = core.iter().copied().collect();
    let Some(text) = text else {
        return Err(refuse(
            "'%' may only stand at the start or the end of the pattern",
        ));
    };
    if text.is_empty() {
        return Err(refuse("it has no text to match"));
    }
    let func = match (leading > 0, trailing > 0) {
        (false, false) => {
            return Ok(Filter::Compare {
                column: *column,
                op: CmpOp::Eq,
                value: Cell::Text(text),
            })
        }
        (false, true) => StrFn::StartsWith,
        (true, false) => StrFn::EndsWith,
        (true, true) => StrFn::Contains,
    };
    Ok(Filter::StrFunc {
        func,
        column: *column,
        value: text,
    })
}

/// A condition value as a value of the column's storage type.
pub(super) fn convert(column: &Column, text: &str) -> Result<Cell, FetchXmlError> {
    use ColumnType as T;
    let invalid = |expected| FetchXmlError::InvalidValue {
        attribute: column.logical_name,
        value: text.to_owned(),
        expected,
    };
    let trimmed = text.trim();
    Ok(match column.column_type {
        T::String { .. } | T::Memo { .. } => Cell::Text(text.to_owned()),
        T::Integer | T::Choice { .. } => trimmed
            .parse::<i32>()
            .map(|i| Cell::Int(i64::from(i)))
            .map_err(|_| invalid("whole number from -2147483648 to 2147483647"))?,
        T::BigInt => trimmed.parse::<i64>().map(Cell::Int).map_err(|_| {
            invalid("whole number from -9223372036854775808 to 9223372036854775807")
        })?,
        T::Decimal | T::Money => Cell::Decimal(
            plain_decimal(trimmed).ok_or_else(|| invalid("decimal number such as 1234.50"))?,
        ),
        T::Double => match trimmed.parse::<f64>() {
            Ok(f) if f.is_finite() => Cell::Float(f),
            _ => return Err(invalid("number such as 12.5 or 1.5E3")),
        },
        T::Boolean { .. } => {
            Cell::Bool(parse_bool(trimmed).ok_or_else(|| invalid("boolean (true, false, 1 or 0)"))?)
        }
        T::DateTime => Cell::DateTime(parse_datetime_text(trimmed).ok_or_else(|| {
            invalid("date or date-time such as 2024-01-31 or 2024-01-31T10:00:00Z")
        })?),
        T::PrimaryKey | T::Guid | T::Lookup { .. } => {
            Cell::guid(trimmed).map_err(|_| invalid("GUID"))?
        }
    })
}

/// A decimal as written (`+1.50`, `-.5`, `007`) in the plain form storage keeps (`1.50`,
/// `-0.5`, `7`); `None` for anything else (exponents, grouping, over-long text).
fn plain_decimal(text: &str) -> Option<String> {
    if text.len() > MAX_DECIMAL_CHARS {
        return None;
    }
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int_part) || !digits(frac_part) || int_part.len() + frac_part.len() == 0 {
        return None;
    }
    let int_part = int_part.trim_start_matches('0');
    let mut out = String::with_capacity(text.len() + 1);
    if negative {
        out.push('-');
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    if !frac_part.is_empty() {
        out.push('.');
        out.push_str(frac_part);
    }
    Some(out)
}
