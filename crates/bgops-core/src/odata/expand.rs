//! `$expand` as the metadata collections read it: a comma-separated list of navigation
//! properties, each optionally with nested query options in parentheses separated by `;`
//! (`OptionSet($select=Options)`, `Attributes($select=LogicalName;$filter=IsPrimaryId eq true)`).
//! The table queries refuse `$expand`; this parser only splits the text, and the caller judges
//! the properties and options it names.

use crate::error::ApiError;

/// One expanded navigation property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpandItem {
    /// The navigation property (`OptionSet`).
    pub property: String,
    /// Its nested query options as name/value pairs, in the order written.
    pub options: Vec<(String, String)>,
}

fn error(text: &str, detail: &str) -> ApiError {
    let shown: String = text.chars().take(128).collect();
    ApiError::bad_syntax(format!(
        "The value '{shown}' of '$expand' is not valid: {detail}."
    ))
}

/// Parses the value of `$expand`.
pub fn parse_expand(text: &str) -> Result<Vec<ExpandItem>, ApiError> {
    let chars: Vec<char> = text.chars().collect();
    let mut items = Vec::new();
    let mut i = 0;
    loop {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        let start = i;
        while chars
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        {
            i += 1;
        }
        if i == start {
            return Err(error(text, "expected a navigation property name"));
        }
        let property: String = chars[start..i].iter().collect();
        let mut options = Vec::new();
        if chars.get(i) == Some(&'(') {
            let (inner, len) = parenthesized(&chars, i)
                .ok_or_else(|| error(text, "a parenthesis or quote is not closed"))?;
            i += len;
            for part in split_top_level(&inner, ';') {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let (name, value) = part
                    .split_once('=')
                    .ok_or_else(|| error(text, "expected 'option=value' inside the parentheses"))?;
                options.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        items.push(ExpandItem { property, options });
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        match chars.get(i) {
            None => return Ok(items),
            Some(',') => i += 1,
            Some(_) => return Err(error(text, "expected ',' between navigation properties")),
        }
    }
}

/// The text inside the parentheses opening at `open` and the length including both, honouring
/// nested parentheses and quoted strings; `None` when not closed.
fn parenthesized(chars: &[char], open: usize) -> Option<(String, usize)> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (k, c) in chars.iter().enumerate().skip(open) {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some((chars[open + 1..k].iter().collect(), k + 1 - open));
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits `text` at `sep` outside parentheses and quoted strings.
fn split_top_level(text: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut depth, mut quoted) = (0usize, false);
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            c if c == sep && !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(property: &str, options: &[(&str, &str)]) -> ExpandItem {
        ExpandItem {
            property: property.into(),
            options: options
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn properties_with_and_without_nested_options() {
        assert_eq!(parse_expand("OptionSet").unwrap(), [item("OptionSet", &[])]);
        assert_eq!(
            parse_expand("OptionSet($select=Options)").unwrap(),
            [item("OptionSet", &[("$select", "Options")])]
        );
        assert_eq!(
            parse_expand(
                "Attributes($select=LogicalName;$filter=startswith(LogicalName,'a;b)')), OptionSet"
            )
            .unwrap(),
            [
                item(
                    "Attributes",
                    &[
                        ("$select", "LogicalName"),
                        ("$filter", "startswith(LogicalName,'a;b)')")
                    ]
                ),
                item("OptionSet", &[])
            ]
        );
    }

    #[test]
    fn malformed_values_are_400s() {
        for bad in ["", "OptionSet(", "OptionSet($select)", "A B", ",", "A('x)"] {
            let e = parse_expand(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
        }
    }
}
