//! What the SQLite and PostgreSQL translations of the generic tables share, so both backends
//! resolve, check and order alike: which columns the store manages, the identifier check (the
//! only text spliced into SQL), a plan's column resolved to the table's own, the total order of
//! a query, `LIKE` patterns, and the exact decimal text a Decimal or Money column holds.

use bgops_core::metadata::{Cell, Column, ColumnType, Row, Table};
use bgops_core::odata::ast::StrFn;
use bgops_core::odata::plan::QueryPlan;

use crate::StoreError;

/// Columns the store sets on every write; a caller's values for them are ignored.
pub const SYSTEM_COLUMNS: [&str; 4] = ["createdon", "modifiedon", "createdby", "versionnumber"];

/// Columns the database computes (`GENERATED ALWAYS`): readable, never written.
const GENERATED_COLUMNS: &[(&str, &str)] = &[("contact", "fullname")];

/// Whether the store, not the caller, decides this column's value.
pub fn store_managed(table: &Table, column: &str) -> bool {
    SYSTEM_COLUMNS.contains(&column) || GENERATED_COLUMNS.contains(&(table.logical_name, column))
}

/// `"name"`, after checking that `name` is a plain lower-case identifier.
pub fn ident(name: &str) -> Result<String, StoreError> {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        Ok(format!("\"{name}\""))
    } else {
        Err(StoreError::InvalidRequest(format!(
            "'{name}' is not a table or column name"
        )))
    }
}

/// The table's own column equal to `column`, so a plan cannot name a column of another table.
pub fn own_column<'t>(table: &'t Table, column: &Column) -> Result<&'t Column, StoreError> {
    table
        .column(column.logical_name)
        .filter(|c| *c == column)
        .ok_or_else(|| {
            StoreError::InvalidRequest(format!(
                "table {} has no column {}",
                table.logical_name, column.logical_name
            ))
        })
}

/// The primary key column.
pub fn primary_key(table: &Table) -> Result<&Column, StoreError> {
    table.column(table.primary_id).ok_or_else(|| {
        StoreError::InvalidRequest(format!(
            "table {} lacks its primary key column",
            table.logical_name
        ))
    })
}

/// `"a", "b", …` for a SELECT or INSERT list.
pub fn column_list(columns: &[&Column]) -> Result<String, StoreError> {
    let names = columns
        .iter()
        .map(|c| ident(c.logical_name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names.join(", "))
}

/// How a column's values compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Text, without case: both sides lower-cased (every letter, Unicode's full mapping), then
    /// compared code point by code point.
    Text,
    /// Exact decimal text, numerically.
    Decimal,
    /// The stored value as it is.
    Native,
}

/// How values of `column` compare, in filters, ordering and keyset positions alike.
pub fn comparison(column: &Column) -> Comparison {
    match column.column_type {
        ColumnType::String { .. } | ColumnType::Memo { .. } => Comparison::Text,
        ColumnType::Decimal | ColumnType::Money => Comparison::Decimal,
        _ => Comparison::Native,
    }
}

/// A text column for `contains`/`startswith`/`endswith`, refused for any other.
pub fn text_column(column: &Column) -> Result<(), StoreError> {
    if comparison(column) == Comparison::Text {
        Ok(())
    } else {
        Err(StoreError::InvalidRequest(format!(
            "{} is not a text column",
            column.logical_name
        )))
    }
}

/// The refusal of `column lt/le/gt/ge null`, which the query layer never builds.
pub fn ordered_null(column: &Column) -> StoreError {
    StoreError::InvalidRequest(format!(
        "{} cannot be ordered against null",
        column.logical_name
    ))
}

/// `pattern` for LIKE, with its wildcards and the escape character (`\`) taken literally.
pub fn like_pattern(func: StrFn, text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    match func {
        StrFn::Contains => format!("%{escaped}%"),
        StrFn::StartsWith => format!("{escaped}%"),
        StrFn::EndsWith => format!("%{escaped}"),
    }
}

/// The plan's order made total: up to the first primary-key entry, or with the primary key
/// (ascending) appended when the plan lacks it. `true` is descending.
pub fn total_order<'t>(
    table: &'t Table,
    plan: &QueryPlan,
) -> Result<Vec<(&'t Column, bool)>, StoreError> {
    let pk = primary_key(table)?;
    let mut order = Vec::with_capacity(plan.orderby.len() + 1);
    for (column, descending) in &plan.orderby {
        let column = own_column(table, column)?;
        order.push((column, *descending));
        if column == pk {
            return Ok(order);
        }
    }
    order.push((pk, false));
    Ok(order)
}

/// Checks that a keyset position has one value per order-by column.
pub fn keyset_shape(order: &[(&Column, bool)], after: &[Cell]) -> Result<(), StoreError> {
    if after.len() == order.len() {
        Ok(())
    } else {
        Err(StoreError::InvalidRequest(format!(
            "a keyset position has {} values for {} order-by columns",
            after.len(),
            order.len()
        )))
    }
}

/// What a query reads: the selected and the order-by columns, in table order; whether each is
/// selected; and where each order-by column is among them.
pub struct ReadColumns<'t> {
    /// The columns of the SELECT list.
    pub read: Vec<&'t Column>,
    /// Parallel to `read`: whether the caller asked for the column.
    pub selected: Vec<bool>,
    /// For each entry of the total order, its index in `read`.
    pub key_at: Vec<usize>,
}

/// The columns a query of `plan` in `order` reads (see [`ReadColumns`]).
pub fn read_columns<'t>(
    table: &'t Table,
    plan: &QueryPlan,
    order: &[(&'t Column, bool)],
) -> Result<ReadColumns<'t>, StoreError> {
    for column in &plan.select {
        own_column(table, column)?;
    }
    let read: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| {
            plan.select.iter().any(|s| s.logical_name == c.logical_name)
                || order.iter().any(|(o, _)| o.logical_name == c.logical_name)
        })
        .collect();
    let selected = read
        .iter()
        .map(|c| plan.select.iter().any(|s| s.logical_name == c.logical_name))
        .collect();
    let key_at = order
        .iter()
        .map(|(o, _)| read.iter().position(|c| c == o).unwrap_or_default())
        .collect();
    Ok(ReadColumns {
        read,
        selected,
        key_at,
    })
}

impl ReadColumns<'_> {
    /// Splits the values of one result row (parallel to `read`) into the row the caller sees
    /// and its keyset position.
    pub fn split(&self, values: Vec<Cell>) -> (Row, Vec<Cell>) {
        let key = self.key_at.iter().map(|&i| values[i].clone()).collect();
        let row = self
            .read
            .iter()
            .zip(values)
            .zip(&self.selected)
            .filter(|(_, keep)| **keep)
            .map(|((c, v), _)| (c.logical_name, v))
            .collect();
        (row, key)
    }
}

/// The primary key an insert names among its values.
pub fn insert_id(table: &Table, values: &Row) -> Result<uuid::Uuid, StoreError> {
    match values.iter().find(|(n, _)| *n == table.primary_id) {
        Some((_, Cell::Guid(id))) => Ok(*id),
        _ => Err(StoreError::InvalidRequest(format!(
            "an insert into {} needs its primary key {} as a GUID",
            table.logical_name, table.primary_id
        ))),
    }
}

/// Refuses an update whose values change the row's primary key.
pub fn same_key(table: &Table, id: uuid::Uuid, values: &Row) -> Result<(), StoreError> {
    match values.iter().find(|(n, _)| *n == table.primary_id) {
        Some((_, key)) if *key != Cell::Guid(id) => Err(StoreError::InvalidRequest(format!(
            "an update of {} {id} cannot change its primary key",
            table.logical_name
        ))),
        _ => Ok(()),
    }
}

/// The caller's values for the columns it may set (not the primary key, not the store's own
/// columns), resolved to the table's columns; a column given twice is refused.
pub fn caller_values<'t, 'v>(
    table: &'t Table,
    values: &'v Row,
) -> Result<Vec<(&'t Column, &'v Cell)>, StoreError> {
    let mut out: Vec<(&Column, &Cell)> = Vec::with_capacity(values.len());
    for (name, cell) in values {
        let column = table.column(name).ok_or_else(|| {
            StoreError::InvalidRequest(format!("table {} has no column {name}", table.logical_name))
        })?;
        if *name == table.primary_id || store_managed(table, name) {
            continue;
        }
        if out.iter().any(|(c, _)| c.logical_name == *name) {
            return Err(StoreError::InvalidRequest(format!(
                "column {name} is given twice"
            )));
        }
        out.push((column, cell));
    }
    Ok(out)
}

/// The lookup column `column` of `table`, for deleting a parent's children.
pub fn lookup_column<'t>(table: &'t Table, column: &str) -> Result<&'t Column, StoreError> {
    table
        .column(column)
        .filter(|c| matches!(c.column_type, ColumnType::Lookup { .. }))
        .ok_or_else(|| {
            StoreError::InvalidRequest(format!(
                "{column} is not a lookup column of {}",
                table.logical_name
            ))
        })
}

/// Whether `s` is a plain decimal number: optional sign, digits with an optional point, and an
/// optional exponent (`12`, `-0.50`, `.5`, `2e3`). SQLite's `CAST(… AS REAL)` and
/// PostgreSQL's `CAST(… AS numeric)` read all of these, so comparisons and ordering see the
/// number the text means.
pub fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// The refusal of `cell` for `column`: a value of another type.
pub fn wrong_type(column: &Column, cell: &Cell) -> StoreError {
    let kind = match cell {
        Cell::Null => "null",
        Cell::Text(_) => "text",
        Cell::Int(_) => "an integer",
        Cell::Float(_) => "a floating-point number",
        Cell::Decimal(_) => "a decimal",
        Cell::Bool(_) => "a boolean",
        Cell::Guid(_) => "a GUID",
        Cell::DateTime(_) => "a date and time",
    };
    StoreError::InvalidRequest(format!(
        "column {} ({}) cannot hold {kind}",
        column.logical_name,
        column.column_type.attribute_type(),
    ))
}

/// `text` lower-cased as text comparisons see it (Unicode's full lower-case mapping, as
/// PostgreSQL's `lower()` under ICU's root locale does it).
pub fn fold_case(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            text.to_ascii_lowercase().into()
        } else {
            text.into()
        }
    } else {
        text.to_lowercase().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain() {
        assert_eq!(ident("address1_city").unwrap(), "\"address1_city\"");
        for bad in ["", "a b", "x\"y", "Name", "a;--"] {
            assert!(ident(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(like_pattern(StrFn::Contains, "50%"), "%50\\%%");
        assert_eq!(like_pattern(StrFn::StartsWith, "a_b"), "a\\_b%");
        assert_eq!(like_pattern(StrFn::EndsWith, "c:\\x"), "%c:\\\\x");
    }

    #[test]
    fn decimal_text_is_checked() {
        for ok in ["0", "12", "-0.50", "+1.", ".5", "2e3", "1.5E-7"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in [
            "", "-", ".", "e3", "1e", "1.2.3", "0x10", "1,5", " 1", "NaN", "inf",
        ] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn case_folds_every_letter() {
        assert_eq!(fold_case("Contoso"), "contoso");
        assert_eq!(fold_case("ÄRGER École"), "ärger école");
        assert_eq!(fold_case("ΟΔΟΣ"), "οδος", "final sigma");
        assert!(matches!(fold_case("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
