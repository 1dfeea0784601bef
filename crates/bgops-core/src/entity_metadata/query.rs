//! The query options of the attribute collections: `$select` checked against the properties
//! of the requested metadata type, `$filter` against the scalar ones (with enumeration
//! literals of `AttributeTypeCode`), and `$expand=OptionSet(...)` on the types that have an
//! option set. Paging, ordering and counting are refused: metadata answers are small.

use serde_json::{Map, Value};

use super::attributes::{attribute_filter_row, attribute_filter_table, attribute_json};
use super::options::option_set_json;
use super::types::{option_set_properties, MetadataType, ATTRIBUTE_TYPE_CODES, NAMESPACE, TYPES};
use crate::error::ApiError;
use crate::metadata::{Column, Table};
use crate::odata::ast::{Expr, Literal, QueryOptions};
use crate::odata::expand::parse_expand;
use crate::odata::plan::Filter;
use crate::odata::{eval, parse, validate};

/// The type name of `AttributeType`'s enumeration literals.
const ATTRIBUTE_TYPE_CODE: &str = "Microsoft.Dynamics.CRM.AttributeTypeCode";

/// Query string pairs, percent-decoded.
pub type QueryPairs = Vec<(String, String)>;

/// Takes `$expand` out of the query pairs: the table query parser refuses it, the metadata
/// handlers read it themselves.
pub fn take_expand(pairs: &[(String, String)]) -> Result<(QueryPairs, Option<String>), ApiError> {
    let mut rest = Vec::new();
    let mut expand = None;
    for (name, value) in pairs {
        if name == "$expand" {
            if expand.replace(value.clone()).is_some() {
                return Err(ApiError::bad_syntax(
                    "Query option '$expand' was specified more than once, but it must be specified at most once.",
                ));
            }
        } else {
            rest.push((name.clone(), value.clone()));
        }
    }
    Ok((rest, expand))
}

/// A request's options on an attribute collection or one attribute, checked.
#[derive(Debug)]
pub struct AttributeQuery {
    /// The metadata type the URL asks for (`AttributeMetadata` without a cast).
    cast: &'static MetadataType,
    /// `$select`, without repeats; `None` for every property.
    select: Option<Vec<String>>,
    /// `$filter`, over the properties of [`attribute_filter_table`].
    filter: Option<Filter>,
    /// `$expand=OptionSet`: `Some(None)` for every property of the option set,
    /// `Some(Some(names))` for `OptionSet($select=names)`.
    option_set: Option<Option<Vec<String>>>,
}

fn unknown_property(property: &str, type_name: &str) -> ApiError {
    let shown: String = property.chars().take(128).collect();
    ApiError::bad_syntax(format!(
        "Could not find a property named '{shown}' on type '{NAMESPACE}.{type_name}'."
    ))
}

/// Replaces `AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'X'` by the text `X`
/// (the pseudo-table holds `AttributeType` as text), refusing members the enumeration lacks.
/// Other enumeration literals are left for validation to refuse.
fn map_enum_literals(expr: &mut Expr) -> Result<(), ApiError> {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => {
            map_enum_literals(a)?;
            map_enum_literals(b)
        }
        Expr::Not(a) => map_enum_literals(a),
        Expr::Compare { column, value, .. } => {
            if let Literal::Enum { type_name, member } = value {
                if column == "AttributeType" && type_name == ATTRIBUTE_TYPE_CODE {
                    if !ATTRIBUTE_TYPE_CODES.contains(&member.as_str()) {
                        let shown: String = member.chars().take(64).collect();
                        return Err(ApiError::bad_syntax(format!(
                            "'{shown}' is not a member of the enumeration '{ATTRIBUTE_TYPE_CODE}'."
                        )));
                    }
                    *value = Literal::String(std::mem::take(member));
                }
            }
            Ok(())
        }
        Expr::CompareColumns { .. } | Expr::StrFunc { .. } => Ok(()),
    }
}

fn checked_select(
    names: &[String],
    allowed: &[(&'static str, &'static str)],
    type_name: &str,
) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if !allowed.iter().any(|(p, _)| p == name) {
            return Err(unknown_property(name, type_name));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

impl AttributeQuery {
    /// Checks the query pairs (percent-decoded) of a request on attributes of type `cast`.
    ///
    /// Without a cast (`AttributeMetadata`), `$select` may name the properties of any
    /// attribute type; an attribute that lacks one leaves it out.
    pub fn parse(
        pairs: &[(String, String)],
        cast: &'static MetadataType,
    ) -> Result<Self, ApiError> {
        let (rest, expand) = take_expand(pairs)?;
        for (name, _) in &rest {
            if matches!(name.as_str(), "$orderby" | "$top" | "$count" | "$skiptoken") {
                return Err(ApiError::bad_syntax(format!(
                    "The query option '{name}' is not supported on metadata; the answer holds every matching attribute."
                )));
            }
        }
        let mut options = parse::parse_options(&rest)?;
        let select = match options.select.take() {
            None => None,
            Some(names) => {
                let allowed: Vec<(&str, &str)> = if cast.base.is_none() {
                    TYPES
                        .iter()
                        .flat_map(|t| t.properties.iter().copied())
                        .collect()
                } else {
                    cast.all_properties()
                };
                Some(checked_select(&names, &allowed, cast.name)?)
            }
        };
        let filter = match options.filter.take() {
            None => None,
            Some(mut expr) => {
                map_enum_literals(&mut expr)?;
                let only_filter = QueryOptions {
                    filter: Some(expr),
                    ..QueryOptions::default()
                };
                validate::plan(&attribute_filter_table(), &only_filter)?.filter
            }
        };
        let mut option_set = None;
        if let Some(text) = expand {
            for item in parse_expand(&text)? {
                let option_set_type = match cast.option_set_type() {
                    Some(t) if item.property == "OptionSet" => t,
                    _ => {
                        let mut e = unknown_property(&item.property, cast.name);
                        if item.property == "OptionSet" {
                            e.message.push_str(" Cast the attributes to Microsoft.Dynamics.CRM.PicklistAttributeMetadata, StateAttributeMetadata, StatusAttributeMetadata or BooleanAttributeMetadata to expand their option sets.");
                        }
                        return Err(e);
                    }
                };
                let mut selected = None;
                for (name, value) in &item.options {
                    if name != "$select" {
                        return Err(ApiError::bad_syntax(format!(
                            "The query option '{name}' is not supported inside '$expand=OptionSet(...)'; use $select."
                        )));
                    }
                    let mut names: Vec<String> =
                        value.split(',').map(|s| s.trim().to_owned()).collect();
                    if option_set_type == "BooleanOptionSetMetadata" {
                        // The options of a boolean are its two: a client asking every choice
                        // column for `Options` gets them.
                        names = names
                            .into_iter()
                            .flat_map(|n| match n.as_str() {
                                "Options" => {
                                    vec!["TrueOption".to_owned(), "FalseOption".to_owned()]
                                }
                                _ => vec![n],
                            })
                            .collect();
                    }
                    selected = Some(checked_select(
                        &names,
                        &option_set_properties(option_set_type),
                        option_set_type,
                    )?);
                }
                option_set = Some(selected);
            }
        }
        Ok(Self {
            cast,
            select,
            filter,
            option_set,
        })
    }

    /// Whether `column` is of the requested type and passes `$filter`; its JSON when it does.
    fn matching_json(&self, table: &Table, column: &Column) -> Option<Map<String, Value>> {
        if !MetadataType::of_column(column).is_a(self.cast) {
            return None;
        }
        let json = attribute_json(table, column);
        let passes = self.filter.as_ref().is_none_or(|f| {
            eval::matches(f, &attribute_filter_row(&attribute_filter_table(), &json))
        });
        passes.then_some(json)
    }

    /// The attribute as the request shows it, or `None` when it is not of the requested type
    /// or `$filter` excludes it.
    pub fn render(&self, table: &Table, column: &Column) -> Option<Map<String, Value>> {
        let full = self.matching_json(table, column)?;
        let concrete = MetadataType::of_column(column);
        let mut out = Map::new();
        if concrete.name != self.cast.name {
            out.insert(
                "@odata.type".into(),
                Value::String(format!("#{}", concrete.qualified())),
            );
        }
        match &self.select {
            None => out.extend(full),
            Some(names) => {
                for (k, v) in full {
                    if k == "MetadataId" || names.contains(&k) {
                        out.insert(k, v);
                    }
                }
            }
        }
        if let Some(selected) = &self.option_set {
            let set = option_set_json(table, column).map(|set| match selected {
                None => set,
                Some(names) => set
                    .into_iter()
                    .filter(|(k, _)| k == "MetadataId" || names.contains(k))
                    .collect(),
            });
            out.insert("OptionSet".into(), set.map_or(Value::Null, Value::Object));
        }
        Some(out)
    }

    /// Every attribute of `table` the request asks for, in column order.
    pub fn render_all(&self, table: &Table) -> Vec<Value> {
        table
            .columns
            .iter()
            .filter_map(|c| self.render(table, c).map(Value::Object))
            .collect()
    }

    /// The `(…)` part of `@odata.context` naming what was selected and expanded, if anything.
    pub fn context_properties(&self) -> Option<String> {
        let mut parts: Vec<String> = self.select.clone().unwrap_or_default();
        if let Some(selected) = &self.option_set {
            parts.push(match selected {
                None => "OptionSet()".to_owned(),
                Some(names) => format!("OptionSet({})", names.join(",")),
            });
        }
        (!parts.is_empty()).then(|| format!("({})", parts.join(",")))
    }
}
