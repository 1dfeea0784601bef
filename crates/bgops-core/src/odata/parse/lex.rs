//! The tokenizer of `$select`, `$filter`, `$orderby` and alias values: parentheses, commas,
//! words, `@aliases` and literals (quoted strings, GUIDs, dates and date-times, numbers), each
//! with the character position it starts at.

use super::{clip, syntax_error};
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::odata::ast::Literal;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    LParen,
    RParen,
    Comma,
    /// A property name, keyword or function name; may hold `.` or `/` (refused by the parser).
    Word(String),
    /// `@name`, without the `@`.
    Alias(String),
    Lit(Literal),
    End,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub(super) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(is_ident_char)
}

pub(super) fn tokenize(option: &str, text: &str) -> Result<Vec<Token>, ApiError> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let start = i;
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '\'' => {
                let (s, len) = lex_string(&chars, i)
                    .ok_or_else(|| syntax_error(option, i, "the quoted string is not closed"))?;
                i += len;
                Tok::Lit(Literal::String(s))
            }
            '@' => {
                let len = chars[i + 1..]
                    .iter()
                    .take_while(|c| is_ident_char(**c))
                    .count();
                if len == 0 {
                    return Err(syntax_error(option, i, "expected an alias name after '@'"));
                }
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                i += 1 + len;
                Tok::Alias(name)
            }
            _ => {
                if let Some(g) = lex_guid(&chars, i) {
                    i += 36;
                    Tok::Lit(Literal::Guid(g))
                } else if let Some(date) = lex_date(&chars, i) {
                    let (ts, len) = date.map_err(|m| syntax_error(option, i, m))?;
                    i += len;
                    Tok::Lit(Literal::DateTime(ts))
                } else if c.is_ascii_digit()
                    || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
                {
                    let (lit, len) =
                        lex_number(&chars, i).map_err(|m| syntax_error(option, i, m))?;
                    i += len;
                    Tok::Lit(lit)
                } else if c.is_ascii_alphabetic() || c == '_' {
                    let len = chars[i..]
                        .iter()
                        .take_while(|c| is_ident_char(**c) || **c == '.' || **c == '/')
                        .count();
                    let word: String = chars[i..i + len].iter().collect();
                    i += len;
                    if word.contains('.') && chars.get(i) == Some(&'\'') {
                        // An enumeration literal: `Namespace.Type'Member'`.
                        let (member, len) = lex_string(&chars, i).ok_or_else(|| {
                            syntax_error(option, i, "the quoted string is not closed")
                        })?;
                        i += len;
                        Tok::Lit(Literal::Enum {
                            type_name: word,
                            member,
                        })
                    } else {
                        Tok::Word(word)
                    }
                } else {
                    return Err(syntax_error(
                        option,
                        i,
                        format!("unexpected character '{c}'"),
                    ));
                }
            }
        };
        out.push(Token { tok, pos: start });
    }
    out.push(Token {
        tok: Tok::End,
        pos: n,
    });
    Ok(out)
}

/// A quoted string at `i`: its content (`''` unescaped) and length, or `None` if not closed.
fn lex_string(chars: &[char], i: usize) -> Option<(String, usize)> {
    let mut s = String::new();
    let mut j = i + 1;
    loop {
        match chars.get(j)? {
            '\'' if chars.get(j + 1) == Some(&'\'') => {
                s.push('\'');
                j += 2;
            }
            '\'' => return Some((s, j + 1 - i)),
            c => {
                s.push(*c);
                j += 1;
            }
        }
    }
}

/// An unquoted GUID (`8-4-4-4-12` hex digits) at `i`, not followed by a word character.
fn lex_guid(chars: &[char], i: usize) -> Option<uuid::Uuid> {
    let s = chars.get(i..i + 36)?;
    let shaped = s.iter().enumerate().all(|(k, c)| match k {
        8 | 13 | 18 | 23 => *c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    let next = chars.get(i + 36).copied();
    if !shaped || next.is_some_and(|c| is_ident_char(c) || c == '-') {
        return None;
    }
    uuid::Uuid::parse_str(&s.iter().collect::<String>()).ok()
}

/// A date or date-time at `i`: `None` if the text is not shaped like one, `Some(Err)` if it is
/// but does not hold a valid instant.
pub(super) fn lex_date(chars: &[char], i: usize) -> Option<Result<(Timestamp, usize), String>> {
    let head = chars.get(i..i + 10)?;
    let shaped = head.iter().enumerate().all(|(k, c)| match k {
        4 | 7 => *c == '-',
        _ => c.is_ascii_digit(),
    });
    if !shaped {
        return None;
    }
    let date: String = head.iter().collect();
    let mut j = i + 10;
    let mut text = date.clone();
    if chars.get(j) == Some(&'T') {
        j += 1;
        let time_len = chars[j..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == ':' || **c == '.')
            .count();
        let time: String = chars[j..j + time_len].iter().collect();
        j += time_len;
        let offset = match chars.get(j) {
            Some('Z' | 'z') => {
                j += 1;
                "Z".to_owned()
            }
            Some('+' | '-') => {
                let off = chars.get(j..j + 6).unwrap_or(&[]);
                let ok = off.len() == 6
                    && off[1].is_ascii_digit()
                    && off[2].is_ascii_digit()
                    && off[3] == ':'
                    && off[4].is_ascii_digit()
                    && off[5].is_ascii_digit();
                if !ok {
                    return Some(Err(format!(
                        "the time zone offset of the date-time starting with '{date}' is not valid: write Z or +hh:mm"
                    )));
                }
                j += 6;
                off.iter().collect()
            }
            _ => "Z".to_owned(),
        };
        // OData allows leaving out the seconds.
        let seconds = if time.len() == 5 { ":00" } else { "" };
        text = format!("{date}T{time}{seconds}{offset}");
    } else {
        text.push_str("T00:00:00Z");
    }
    if chars.get(j).is_some_and(|c| is_ident_char(*c)) {
        return Some(Err(format!(
            "the date-time starting with '{date}' is not valid"
        )));
    }
    Some(match Timestamp::parse_rfc3339(&text) {
        Some(ts) => Ok((ts, j - i)),
        None => Err(format!(
            "'{}' is not a valid date or date-time",
            clip(&text)
        )),
    })
}

/// A number at `i` (`-2`, `1.5`, `1e3`): an integer when it has neither fraction nor exponent
/// and fits 64 bits, else a decimal kept as written.
fn lex_number(chars: &[char], i: usize) -> Result<(Literal, usize), String> {
    let digits = |from: usize| {
        chars[from.min(chars.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut j = i;
    if chars.get(j) == Some(&'-') {
        j += 1;
    }
    j += digits(j);
    let mut integral = true;
    if chars.get(j) == Some(&'.') {
        let frac = digits(j + 1);
        if frac == 0 {
            return Err("expected digits after the decimal point".into());
        }
        j += 1 + frac;
        integral = false;
    }
    if matches!(chars.get(j), Some('e' | 'E')) {
        let mut k = j + 1;
        if matches!(chars.get(k), Some('+' | '-')) {
            k += 1;
        }
        let exp = digits(k);
        if exp == 0 {
            return Err("expected the digits of the exponent".into());
        }
        j = k + exp;
        integral = false;
    }
    if chars.get(j).is_some_and(|c| is_ident_char(*c) || *c == '.') {
        return Err("the number is not valid".into());
    }
    let text: String = chars[i..j].iter().collect();
    let lit = match (integral, text.parse::<i64>()) {
        (true, Ok(v)) => Literal::Int(v),
        _ => Literal::Decimal(text),
    };
    Ok((lit, j - i))
}
