//! Reading the query string of a table request into [`QueryOptions`]: which options bgops
//! accepts, their limits, parameter aliases, and the hand-written tokenizer and
//! recursive-descent parser of `$filter` and `$orderby`.
//!
//! Error positions are 0-based character offsets into the option's value, as ODataLib counts
//! them. The parser works on `char`s, never on byte offsets, so no input can make it panic.

use std::collections::HashMap;
use std::fmt;

use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::odata::ast::{CmpOp, Expr, Literal, OrderBy, QueryOptions, StrFn};

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

fn parse_filter(v: &str, aliases: &Aliases) -> Result<Expr, ApiError> {
    if v.chars().count() > MAX_FILTER_CHARS {
        return Err(ApiError::bad_syntax(format!(
            "The $filter is longer than the limit of {MAX_FILTER_CHARS} characters."
        )));
    }
    let mut p = Parser::new("$filter", v, Some(aliases))?;
    if p.at_end() {
        return Err(p.error_here("expected a condition"));
    }
    let (expr, _) = p.or_chain(0)?;
    if !p.at_end() {
        let found = p.describe_here();
        return Err(p.error_here(format!(
            "expected 'and', 'or' or the end of the expression, found {found}"
        )));
    }
    Ok(expr)
}

/// The parameter aliases of the request, by name without the `@`.
struct Aliases<'a>(HashMap<&'a str, &'a str>);

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Clone, Debug, PartialEq)]
enum Tok {
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
struct Token {
    tok: Tok,
    pos: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(is_ident_char)
}

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

fn tokenize(option: &str, text: &str) -> Result<Vec<Token>, ApiError> {
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
                    Tok::Word(word)
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
fn lex_date(chars: &[char], i: usize) -> Option<Result<(Timestamp, usize), String>> {
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

// ---------------------------------------------------------------------------------------------
// Parser

/// A parsed sub-expression and its nesting depth.
type Parsed = Result<(Expr, usize), ApiError>;

/// One side of a comparison or a function argument.
enum Operand {
    Property(String),
    Value(Literal),
}

/// Words that cannot be property names.
const RESERVED: [&str; 9] = ["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le"];

struct Parser<'a> {
    option: &'a str,
    toks: Vec<Token>,
    i: usize,
    /// `None` where aliases are not allowed (`$select`, alias values themselves).
    aliases: Option<&'a Aliases<'a>>,
}

impl<'a> Parser<'a> {
    fn new(
        option: &'a str,
        text: &str,
        aliases: Option<&'a Aliases<'a>>,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            option,
            toks: tokenize(option, text)?,
            i: 0,
            aliases,
        })
    }

    fn peek(&self) -> &Token {
        // `toks` always ends with `End`, and `bump` never moves past it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.toks[(self.i + ahead).min(self.toks.len() - 1)].tok
    }

    fn peek_word(&self) -> Option<&str> {
        match &self.peek().tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn at_end(&self) -> bool {
        self.peek().tok == Tok::End
    }

    fn error_at(&self, pos: usize, msg: impl fmt::Display) -> ApiError {
        syntax_error(self.option, pos, msg)
    }

    fn error_here(&self, msg: impl fmt::Display) -> ApiError {
        self.error_at(self.peek().pos, msg)
    }

    fn describe_here(&self) -> String {
        match &self.peek().tok {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Word(w) => format!("'{}'", clip(w)),
            Tok::Alias(a) => format!("'@{}'", clip(a)),
            Tok::Lit(_) => "a value".into(),
            Tok::End => "the end".into(),
        }
    }

    /// After an item of a comma list: `true` if a `,` follows (consumed), `false` at the end.
    fn list_continues(&mut self) -> Result<bool, ApiError> {
        match self.peek().tok {
            Tok::Comma => {
                self.bump();
                Ok(true)
            }
            Tok::End => Ok(false),
            _ => {
                let found = self.describe_here();
                Err(self.error_here(format!("expected ',' or the end, found {found}")))
            }
        }
    }

    /// A property name (or, where allowed, an alias naming one).
    fn property(&mut self, expected: &str) -> Result<String, ApiError> {
        let pos = self.peek().pos;
        match self.operand(expected)? {
            Operand::Property(p) => Ok(p),
            Operand::Value(_) => Err(self.error_at(pos, expected)),
        }
    }

    /// A property name, a literal, or an alias standing for either.
    fn operand(&mut self, expected: &str) -> Result<Operand, ApiError> {
        let t = self.peek().clone();
        let operand = match t.tok {
            Tok::Word(w) => self.word_operand(&w, t.pos, expected)?,
            Tok::Lit(l) => Operand::Value(l),
            Tok::Alias(name) => match self.aliases {
                Some(aliases) => resolve_alias(aliases, &name)?,
                None => {
                    return Err(self.error_at(
                        t.pos,
                        format!("parameter aliases cannot be used here ({expected})"),
                    ))
                }
            },
            _ => return Err(self.error_here(expected)),
        };
        self.bump();
        Ok(operand)
    }

    fn word_operand(&self, w: &str, pos: usize, expected: &str) -> Result<Operand, ApiError> {
        Ok(match w {
            "null" => Operand::Value(Literal::Null),
            "true" => Operand::Value(Literal::Bool(true)),
            "false" => Operand::Value(Literal::Bool(false)),
            w if RESERVED.contains(&w) => {
                return Err(self.error_at(pos, format!("{expected}, found '{w}'")))
            }
            w if w.contains('/') => {
                return Err(self.error_at(
                    pos,
                    format!(
                        "property paths such as '{}' are not supported by bgops",
                        clip(w)
                    ),
                ))
            }
            w if w.contains('.') => {
                return Err(self.error_at(
                    pos,
                    format!(
                        "qualified names such as '{}' are not supported by bgops",
                        clip(w)
                    ),
                ))
            }
            w if *self.peek_at(1) == Tok::LParen => {
                return Err(self.error_at(
                    pos,
                    format!(
                        "the function '{}' is not supported by bgops; use contains, startswith or endswith",
                        clip(w)
                    ),
                ))
            }
            w => Operand::Property(w.to_owned()),
        })
    }

    /// `and_chain ('or' and_chain)*`; returns the expression and its nesting depth. `opened`
    /// counts the parentheses and `not`s around it.
    fn or_chain(&mut self, opened: usize) -> Parsed {
        self.chain("or", opened, Self::and_chain, Expr::Or)
    }

    fn and_chain(&mut self, opened: usize) -> Parsed {
        self.chain("and", opened, Self::unary, Expr::And)
    }

    fn chain(
        &mut self,
        keyword: &str,
        opened: usize,
        item: fn(&mut Self, usize) -> Parsed,
        join: fn(Box<Expr>, Box<Expr>) -> Expr,
    ) -> Parsed {
        let first_pos = self.peek().pos;
        let (first, mut depth) = item(self, opened)?;
        let mut items = vec![first];
        while self.peek_word() == Some(keyword) {
            self.bump();
            let (e, d) = item(self, opened)?;
            depth = depth.max(d);
            items.push(e);
        }
        if items.len() > 1 {
            depth += 1;
            if depth > MAX_FILTER_DEPTH {
                return Err(self.error_at(first_pos, too_deep()));
            }
        }
        Ok((balanced(items, join), depth))
    }

    /// `'not' unary | primary`
    fn unary(&mut self, opened: usize) -> Parsed {
        if self.peek_word() == Some("not") {
            let pos = self.bump().pos;
            if opened + 1 > MAX_FILTER_DEPTH {
                return Err(self.error_at(pos, too_deep()));
            }
            let (e, d) = self.unary(opened + 1)?;
            if d + 1 > MAX_FILTER_DEPTH {
                return Err(self.error_at(pos, too_deep()));
            }
            return Ok((Expr::Not(Box::new(e)), d + 1));
        }
        self.primary(opened)
    }

    /// `'(' or_chain ')' | function call | comparison`
    fn primary(&mut self, opened: usize) -> Parsed {
        if self.peek().tok == Tok::LParen {
            let pos = self.bump().pos;
            if opened + 1 > MAX_FILTER_DEPTH {
                return Err(self.error_at(pos, too_deep()));
            }
            let (e, d) = self.or_chain(opened + 1)?;
            if self.peek().tok != Tok::RParen {
                let found = self.describe_here();
                return Err(self.error_here(format!(
                    "expected ')' to close the '(' at position {pos}, found {found}"
                )));
            }
            self.bump();
            if d + 1 > MAX_FILTER_DEPTH {
                return Err(self.error_at(pos, too_deep()));
            }
            return Ok((e, d + 1));
        }
        let func = match self.peek_word() {
            Some("contains") => Some(StrFn::Contains),
            Some("startswith") => Some(StrFn::StartsWith),
            Some("endswith") => Some(StrFn::EndsWith),
            _ => None,
        };
        match func {
            Some(func) if *self.peek_at(1) == Tok::LParen => Ok((self.string_function(func)?, 0)),
            _ => Ok((self.comparison()?, 0)),
        }
    }

    /// `contains(property, 'text')` and its siblings.
    fn string_function(&mut self, func: StrFn) -> Result<Expr, ApiError> {
        let name = self.bump();
        let name = match name.tok {
            Tok::Word(w) => w,
            _ => String::new(),
        };
        self.bump(); // '('
        let pos = self.peek().pos;
        let column = match self.operand(&format!(
            "expected a property name as the first argument of '{name}'"
        ))? {
            Operand::Property(p) => p,
            Operand::Value(_) => {
                return Err(self.error_at(
                    pos,
                    format!("expected a property name as the first argument of '{name}'"),
                ))
            }
        };
        if self.peek().tok != Tok::Comma {
            return Err(
                self.error_here(format!("expected ',' after the first argument of '{name}'"))
            );
        }
        self.bump();
        let pos = self.peek().pos;
        let expected = format!("expected a quoted string as the second argument of '{name}'");
        let value = match self.operand(&expected)? {
            Operand::Value(Literal::String(s)) => s,
            _ => return Err(self.error_at(pos, expected)),
        };
        if self.peek().tok != Tok::RParen {
            return Err(self.error_here(format!("expected ')' to close '{name}('")));
        }
        self.bump();
        Ok(Expr::StrFunc {
            func,
            column,
            value,
        })
    }

    /// `operand op operand`, normalized to the property on the left.
    fn comparison(&mut self) -> Result<Expr, ApiError> {
        let left_pos = self.peek().pos;
        let left = self.operand("expected a condition")?;
        let op = match self.peek_word() {
            Some("eq") => CmpOp::Eq,
            Some("ne") => CmpOp::Ne,
            Some("gt") => CmpOp::Gt,
            Some("ge") => CmpOp::Ge,
            Some("lt") => CmpOp::Lt,
            Some("le") => CmpOp::Le,
            other => {
                let hint = match other {
                    Some(w) if RESERVED.contains(&w.to_ascii_lowercase().as_str()) => {
                        " (operators are written in lower case)"
                    }
                    _ => "",
                };
                let found = self.describe_here();
                return Err(self.error_here(format!(
                    "expected a comparison operator (eq, ne, gt, ge, lt, le), found {found}{hint}"
                )));
            }
        };
        self.bump();
        let right = self.operand(&format!("expected a value after '{}'", op_keyword(op)))?;
        match (left, right) {
            (Operand::Property(l), Operand::Property(r)) => Ok(Expr::CompareColumns {
                left: l,
                op,
                right: r,
            }),
            (Operand::Property(column), Operand::Value(value)) => {
                Ok(Expr::Compare { column, op, value })
            }
            (Operand::Value(value), Operand::Property(column)) => Ok(Expr::Compare {
                column,
                op: mirrored(op),
                value,
            }),
            (Operand::Value(_), Operand::Value(_)) => Err(self.error_at(
                left_pos,
                "a comparison needs a property name on at least one side",
            )),
        }
    }
}

/// The operand an alias stands for: `null` when it is not assigned.
fn resolve_alias(aliases: &Aliases, name: &str) -> Result<Operand, ApiError> {
    let Some(text) = aliases.0.get(name) else {
        return Ok(Operand::Value(Literal::Null));
    };
    let option = format!("@{name}");
    if text.chars().count() > MAX_FILTER_CHARS {
        return Err(ApiError::bad_syntax(format!(
            "The value of '{}' is longer than the limit of {MAX_FILTER_CHARS} characters.",
            clip(&option)
        )));
    }
    let mut p = Parser::new(&option, text, None)?;
    let expected = "expected a single value or property name";
    let operand = p.operand(expected)?;
    if !p.at_end() {
        return Err(p.error_here(expected));
    }
    Ok(operand)
}

fn too_deep() -> String {
    format!(
        "the expression is nested more than {MAX_FILTER_DEPTH} levels deep (each pair of parentheses, each 'not' and each and/or chain counts one level)"
    )
}

/// Joins a chain into a balanced tree, so a long `a or b or c …` stays shallow for whatever
/// walks it; `a or b or c` is still `(a or b) or c`.
fn balanced(mut items: Vec<Expr>, join: fn(Box<Expr>, Box<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        return items.remove(0);
    }
    let right = items.split_off(items.len().div_ceil(2));
    join(
        Box::new(balanced(items, join)),
        Box::new(balanced(right, join)),
    )
}

/// The operator with its operands swapped: `5 lt x` is `x gt 5`.
fn mirrored(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Eq,
        CmpOp::Ne => CmpOp::Ne,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
    }
}

/// The operator as written in `$filter`.
pub(crate) fn op_keyword(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Gt => "gt",
        CmpOp::Ge => "ge",
        CmpOp::Lt => "lt",
        CmpOp::Le => "le",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Result<QueryOptions, ApiError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        parse_options(&pairs)
    }

    fn filter(f: &str) -> Expr {
        opts(&[("$filter", f)]).unwrap().filter.unwrap()
    }

    fn filter_err(f: &str) -> String {
        let e = opts(&[("$filter", f)]).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.code, crate::error::ErrorCode::BAD_SYNTAX);
        e.message
    }

    fn cmp(column: &str, op: CmpOp, value: Literal) -> Expr {
        Expr::Compare {
            column: column.into(),
            op,
            value,
        }
    }

    fn eq_int(column: &str, v: i64) -> Expr {
        cmp(column, CmpOp::Eq, Literal::Int(v))
    }

    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }

    #[test]
    fn no_options_is_the_default() {
        assert_eq!(opts(&[]).unwrap(), QueryOptions::default());
    }

    #[test]
    fn every_comparison_operator() {
        for (word, op) in [
            ("eq", CmpOp::Eq),
            ("ne", CmpOp::Ne),
            ("gt", CmpOp::Gt),
            ("ge", CmpOp::Ge),
            ("lt", CmpOp::Lt),
            ("le", CmpOp::Le),
        ] {
            assert_eq!(
                filter(&format!("numberofemployees {word} 5")),
                cmp("numberofemployees", op, Literal::Int(5))
            );
        }
    }

    #[test]
    fn literal_on_the_left_is_mirrored() {
        for (word, op) in [
            ("eq", CmpOp::Eq),
            ("ne", CmpOp::Ne),
            ("gt", CmpOp::Lt),
            ("ge", CmpOp::Le),
            ("lt", CmpOp::Gt),
            ("le", CmpOp::Ge),
        ] {
            assert_eq!(
                filter(&format!("5 {word} numberofemployees")),
                cmp("numberofemployees", op, Literal::Int(5))
            );
        }
    }

    #[test]
    fn property_against_property_compares_columns() {
        assert_eq!(
            filter("firstname ne lastname"),
            Expr::CompareColumns {
                left: "firstname".into(),
                op: CmpOp::Ne,
                right: "lastname".into()
            }
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            filter("a eq 1 or b eq 2 and c eq 3"),
            or(eq_int("a", 1), and(eq_int("b", 2), eq_int("c", 3)))
        );
        assert_eq!(
            filter("a eq 1 and b eq 2 or c eq 3"),
            or(and(eq_int("a", 1), eq_int("b", 2)), eq_int("c", 3))
        );
    }

    #[test]
    fn parentheses_group() {
        assert_eq!(
            filter("(a eq 1 or b eq 2) and c eq 3"),
            and(or(eq_int("a", 1), eq_int("b", 2)), eq_int("c", 3))
        );
        assert_eq!(filter("((a eq 1))"), eq_int("a", 1));
    }

    #[test]
    fn chains_are_left_grouped_and_balanced() {
        assert_eq!(
            filter("a eq 1 or b eq 2 or c eq 3"),
            or(or(eq_int("a", 1), eq_int("b", 2)), eq_int("c", 3))
        );
        assert_eq!(
            filter("a eq 1 and b eq 2 and c eq 3 and d eq 4"),
            and(
                and(eq_int("a", 1), eq_int("b", 2)),
                and(eq_int("c", 3), eq_int("d", 4))
            )
        );
    }

    #[test]
    fn not_applies_to_a_condition_a_group_or_a_function() {
        assert_eq!(filter("not a eq 1"), not(eq_int("a", 1)));
        assert_eq!(
            filter("not (a eq 1 or b eq 2)"),
            not(or(eq_int("a", 1), eq_int("b", 2)))
        );
        assert_eq!(filter("not not a eq 1"), not(not(eq_int("a", 1))));
        assert_eq!(
            filter("not contains(name,'x') and a eq 1"),
            and(
                not(Expr::StrFunc {
                    func: StrFn::Contains,
                    column: "name".into(),
                    value: "x".into()
                }),
                eq_int("a", 1)
            )
        );
    }

    #[test]
    fn string_functions() {
        for (word, func) in [
            ("contains", StrFn::Contains),
            ("startswith", StrFn::StartsWith),
            ("endswith", StrFn::EndsWith),
        ] {
            assert_eq!(
                filter(&format!("{word}( name , 'Con''toso' )")),
                Expr::StrFunc {
                    func,
                    column: "name".into(),
                    value: "Con'toso".into()
                }
            );
        }
    }

    #[test]
    fn string_function_arguments_are_checked() {
        let e = filter_err("contains('x',name)");
        assert!(
            e.contains("position 9") && e.contains("first argument"),
            "{e}"
        );
        assert!(filter_err("contains(name,5)").contains("expected a quoted string"));
        assert!(filter_err("contains(name 'x')").contains("expected ','"));
        assert!(filter_err("contains(name,'x'").contains("expected ')' to close 'contains('"));
        assert!(
            filter_err("tolower(name) eq 'x'").contains("the function 'tolower' is not supported")
        );
    }

    #[test]
    fn quoted_strings_unescape_doubled_quotes() {
        assert_eq!(
            filter("lastname eq 'O''Bryan'"),
            cmp("lastname", CmpOp::Eq, Literal::String("O'Bryan".into()))
        );
        assert_eq!(
            filter("name eq ''''"),
            cmp("name", CmpOp::Eq, Literal::String("'".into()))
        );
        assert_eq!(
            filter("name eq ''"),
            cmp("name", CmpOp::Eq, Literal::String(String::new()))
        );
        assert_eq!(
            filter("name eq 'é ( ) and or 日本'"),
            cmp(
                "name",
                CmpOp::Eq,
                Literal::String("é ( ) and or 日本".into())
            )
        );
    }

    #[test]
    fn every_literal_kind() {
        let lit = |text: &str| match filter(&format!("x eq {text}")) {
            Expr::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(lit("null"), Literal::Null);
        assert_eq!(lit("true"), Literal::Bool(true));
        assert_eq!(lit("false"), Literal::Bool(false));
        assert_eq!(lit("42"), Literal::Int(42));
        assert_eq!(lit("-2"), Literal::Int(-2));
        assert_eq!(lit("1.5"), Literal::Decimal("1.5".into()));
        assert_eq!(lit("-1.50"), Literal::Decimal("-1.50".into()));
        assert_eq!(lit("1e3"), Literal::Decimal("1e3".into()));
        assert_eq!(lit("2.5E-3"), Literal::Decimal("2.5E-3".into()));
        assert_eq!(
            lit("99999999999999999999"),
            Literal::Decimal("99999999999999999999".into())
        );
        assert_eq!(lit("'text'"), Literal::String("text".into()));
        assert_eq!(
            lit("00000000-0000-0000-0000-000000000001"),
            Literal::Guid(uuid::Uuid::from_u128(1))
        );
        assert_eq!(
            lit("ABCDEF00-0000-0000-0000-000000000001"),
            Literal::Guid(uuid::Uuid::from_u128(
                0xabcdef00_0000_0000_0000_000000000001
            ))
        );
        let jan31 = Timestamp::parse_rfc3339("2024-01-31T00:00:00Z").unwrap();
        assert_eq!(lit("2024-01-31"), Literal::DateTime(jan31));
        let ten = Timestamp::parse_rfc3339("2024-01-31T10:00:00Z").unwrap();
        assert_eq!(lit("2024-01-31T10:00:00Z"), Literal::DateTime(ten));
        assert_eq!(lit("2024-01-31T10:00Z"), Literal::DateTime(ten));
        assert_eq!(lit("2024-01-31T10:00:00"), Literal::DateTime(ten));
        assert_eq!(lit("2024-01-31T12:00:00+02:00"), Literal::DateTime(ten));
        assert_eq!(lit("2024-01-31T09:00:00-01:00"), Literal::DateTime(ten));
        assert_eq!(
            lit("2024-01-31T10:00:00.250Z"),
            Literal::DateTime(Timestamp(ten.0 + 250))
        );
    }

    #[test]
    fn malformed_literals_are_refused_with_their_position() {
        let e = filter_err("name eq 'abc");
        assert!(e.contains("position 8") && e.contains("not closed"), "{e}");
        let e = filter_err("x eq 2024-02-30");
        assert!(
            e.contains("position 5") && e.contains("not a valid date"),
            "{e}"
        );
        let e = filter_err("x eq 2024-01-31T25:00:00Z");
        assert!(e.contains("position 5"), "{e}");
        let e = filter_err("x eq 2024-01-31T10:00:00+0200");
        assert!(e.contains("time zone offset"), "{e}");
        let e = filter_err("x eq 1.");
        assert!(e.contains("after the decimal point"), "{e}");
        let e = filter_err("x eq 1e");
        assert!(e.contains("exponent"), "{e}");
        let e = filter_err("x eq 12abc");
        assert!(
            e.contains("position 5") && e.contains("number is not valid"),
            "{e}"
        );
        let e = filter_err("x eq 1.2.3");
        assert!(e.contains("number is not valid"), "{e}");
    }

    #[test]
    fn property_names() {
        assert_eq!(
            filter("_parentcustomerid_value eq 00000000-0000-0000-0000-000000000001"),
            cmp(
                "_parentcustomerid_value",
                CmpOp::Eq,
                Literal::Guid(uuid::Uuid::from_u128(1))
            )
        );
        assert!(filter_err("primarycontactid/fullname eq 'x'").contains("property paths"));
        assert!(filter_err("Microsoft.Dynamics.CRM.In(x) eq 1").contains("qualified names"));
    }

    #[test]
    fn errors_say_what_was_expected_and_where() {
        assert_eq!(
            filter_err("name eq"),
            "Bad Request - Error in query syntax: Syntax error at position 7 in '$filter': expected a value after 'eq'."
        );
        let e = filter_err("numberofemployees eq ");
        assert!(
            e.contains("position 21") && e.contains("expected a value after 'eq'"),
            "{e}"
        );
        let e = filter_err("name 'x'");
        assert!(
            e.contains("position 5") && e.contains("expected a comparison operator"),
            "{e}"
        );
        let e = filter_err("name EQ 'x'");
        assert!(e.contains("lower case"), "{e}");
        let e = filter_err("name eq 'x' foo");
        assert!(
            e.contains("position 12") && e.contains("expected 'and', 'or'"),
            "{e}"
        );
        let e = filter_err("(name eq 'x'");
        assert!(
            e.contains("position 12") && e.contains("expected ')' to close the '(' at position 0"),
            "{e}"
        );
        let e = filter_err("name eq 'x')");
        assert!(e.contains("position 11"), "{e}");
        let e = filter_err("");
        assert!(
            e.contains("position 0") && e.contains("expected a condition"),
            "{e}"
        );
        let e = filter_err("name eq 'x' and");
        assert!(
            e.contains("position 15") && e.contains("expected a condition"),
            "{e}"
        );
        let e = filter_err("1 eq 2");
        assert!(
            e.contains("position 0") && e.contains("property name on at least one side"),
            "{e}"
        );
        let e = filter_err("name eq 'x' & a eq 1");
        assert!(
            e.contains("position 12") && e.contains("unexpected character '&'"),
            "{e}"
        );
        let e = filter_err("name eq and");
        assert!(e.contains("found 'and'"), "{e}");
        // Positions count characters, not bytes.
        let e = filter_err("name eq 'é' x");
        assert!(e.contains("position 12"), "{e}");
    }

    #[test]
    fn keywords_are_lower_case() {
        assert!(filter_err("a eq 1 AND b eq 2").contains("expected 'and', 'or'"));
        // `NULL` is taken for a property name: the validator will not find it.
        assert_eq!(
            filter("a eq NULL"),
            Expr::CompareColumns {
                left: "a".into(),
                op: CmpOp::Eq,
                right: "NULL".into()
            }
        );
    }

    #[test]
    fn aliases_stand_for_values_and_properties() {
        let o = opts(&[
            ("$filter", "@p1 gt @p2 and name eq @p3"),
            ("$orderby", "@p1 desc"),
            ("@p1", "revenue"),
            ("@p2", "5000"),
            ("@p3", "'O''Bryan'"),
        ])
        .unwrap();
        assert_eq!(
            o.filter.unwrap(),
            and(
                cmp("revenue", CmpOp::Gt, Literal::Int(5000)),
                cmp("name", CmpOp::Eq, Literal::String("O'Bryan".into()))
            )
        );
        assert_eq!(
            o.orderby,
            vec![OrderBy {
                column: "revenue".into(),
                descending: true
            }]
        );
    }

    #[test]
    fn an_unassigned_alias_is_null() {
        assert_eq!(
            filter("name eq @nothing"),
            cmp("name", CmpOp::Eq, Literal::Null)
        );
    }

    #[test]
    fn alias_values_are_single_operands() {
        let e = opts(&[("$filter", "name eq @p1"), ("@p1", "'a' or 1 eq 1")]).unwrap_err();
        assert!(e.message.contains("position 4 in '@p1'"), "{}", e.message);
        let e = opts(&[("$filter", "name eq @p1"), ("@p1", "@p2")]).unwrap_err();
        assert!(e.message.contains("cannot be used here"), "{}", e.message);
        let e = opts(&[("$orderby", "@p1"), ("@p1", "5")]).unwrap_err();
        assert!(
            e.message.contains("expected a property name"),
            "{}",
            e.message
        );
        let e = opts(&[("$orderby", "@p1")]).unwrap_err();
        assert!(
            e.message.contains("expected a property name"),
            "{}",
            e.message
        );
        let e = opts(&[("$select", "@p1"), ("@p1", "name")]).unwrap_err();
        assert!(e.message.contains("cannot be used here"), "{}", e.message);
        let e = opts(&[("@p 1", "x")]).unwrap_err();
        assert!(
            e.message.contains("not a valid parameter alias name"),
            "{}",
            e.message
        );
        let e = opts(&[("@p1", "1"), ("@p1", "2")]).unwrap_err();
        assert!(
            e.message.contains("'@p1' was specified more than once"),
            "{}",
            e.message
        );
        // An unused alias is not read.
        assert!(opts(&[("@p1", "'unclosed")]).is_ok());
    }

    #[test]
    fn select_is_a_comma_list_of_properties() {
        assert_eq!(
            opts(&[("$select", "name, _primarycontactid_value ,revenue")])
                .unwrap()
                .select,
            Some(vec![
                "name".to_owned(),
                "_primarycontactid_value".to_owned(),
                "revenue".to_owned()
            ])
        );
        for bad in [
            "",
            "name,",
            ",name",
            "name revenue",
            "5",
            "'name'",
            "a/b",
            "name;drop",
        ] {
            let e = opts(&[("$select", bad)]).unwrap_err();
            assert!(e.message.contains("in '$select'"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn orderby_is_a_comma_list_with_directions() {
        assert_eq!(
            opts(&[("$orderby", "name,revenue desc, createdon asc")])
                .unwrap()
                .orderby,
            vec![
                OrderBy {
                    column: "name".into(),
                    descending: false
                },
                OrderBy {
                    column: "revenue".into(),
                    descending: true
                },
                OrderBy {
                    column: "createdon".into(),
                    descending: false
                },
            ]
        );
        for bad in ["", "name,", "name up", "name desc desc", "name DESC"] {
            let e = opts(&[("$orderby", bad)]).unwrap_err();
            assert!(e.message.contains("in '$orderby'"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn top_is_a_bounded_non_negative_integer() {
        assert_eq!(opts(&[("$top", "0")]).unwrap().top, Some(0));
        assert_eq!(opts(&[("$top", "5000")]).unwrap().top, Some(5000));
        assert_eq!(opts(&[("$top", "007")]).unwrap().top, Some(7));
        for above in ["5001", "99999999999999999999999"] {
            let e = opts(&[("$top", above)]).unwrap_err();
            assert!(
                e.message.contains("above the limit of 5,000"),
                "{}",
                e.message
            );
        }
        for bad in ["", "-1", "1.5", "ten", " 5", "+5"] {
            let e = opts(&[("$top", bad)]).unwrap_err();
            assert!(
                e.message.contains("non-negative integer"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn count_is_true_or_false() {
        assert!(opts(&[("$count", "true")]).unwrap().count);
        assert!(!opts(&[("$count", "false")]).unwrap().count);
        for bad in ["True", "1", ""] {
            assert!(opts(&[("$count", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn skiptoken_is_kept_opaque() {
        assert_eq!(
            opts(&[("$skiptoken", "a b'c(")]).unwrap().skiptoken,
            Some("a b'c(".into())
        );
    }

    #[test]
    fn refused_options_say_so() {
        for name in ["$skip", "$search", "$format", "$apply", "$expand"] {
            let e = opts(&[(name, "1")]).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(
                e.message.contains(&format!(
                    "The query option '{name}' is not supported by bgops."
                )),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn unknown_options_are_refused_and_names_are_case_sensitive() {
        let e = opts(&[("$xyz", "1")]).unwrap_err();
        assert!(
            e.message.contains("'$xyz' is not supported"),
            "{}",
            e.message
        );
        let e = opts(&[("$Select", "name")]).unwrap_err();
        assert!(
            e.message.contains("did you mean '$select'?"),
            "{}",
            e.message
        );
        let e = opts(&[("$", "")]).unwrap_err();
        assert!(e.message.contains("'$' is not supported"), "{}", e.message);
        // Names without `$` or `@` are the application's own.
        assert_eq!(opts(&[("foo", "bar")]).unwrap(), QueryOptions::default());
    }

    #[test]
    fn duplicated_options_are_refused() {
        for name in SUPPORTED {
            let e = opts(&[(name, "1"), (name, "1")]).unwrap_err();
            assert!(
                e.message.contains(&format!(
                    "Query option '{name}' was specified more than once"
                )),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn filter_length_is_limited() {
        let mut f = "name eq 'x'".to_owned();
        while f.chars().count() < MAX_FILTER_CHARS {
            f.push(' ');
        }
        assert!(opts(&[("$filter", &f)]).is_ok());
        f.push(' ');
        assert_eq!(
            filter_err(&f),
            "Bad Request - Error in query syntax: The $filter is longer than the limit of 8192 characters."
        );
        // Characters, not bytes: 8,192 two-byte characters are within the limit.
        let mut f = format!("name eq '{}'", "é".repeat(MAX_FILTER_CHARS - 10));
        assert!(opts(&[("$filter", &f)]).is_ok());
        f.push(' ');
        assert!(opts(&[("$filter", &f)]).is_err());
    }

    #[test]
    fn nesting_depth_is_limited() {
        let parens = |n: usize| format!("{}a eq 1{}", "(".repeat(n), ")".repeat(n));
        assert!(opts(&[("$filter", &parens(MAX_FILTER_DEPTH))]).is_ok());
        let e = filter_err(&parens(MAX_FILTER_DEPTH + 1));
        assert!(
            e.contains("position 32") && e.contains("nested more than 32 levels"),
            "{e}"
        );
        // Far deeper than the limit: refused early, no stack overflow.
        assert!(filter_err(&parens(4000)).contains("nested more than 32 levels"));

        let nots = |n: usize| format!("{}a eq 1", "not ".repeat(n));
        assert!(opts(&[("$filter", &nots(MAX_FILTER_DEPTH))]).is_ok());
        assert!(filter_err(&nots(MAX_FILTER_DEPTH + 1)).contains("nested more than 32 levels"));
        assert!(filter_err(&nots(2000)).contains("nested more than 32 levels"));

        // Each chain counts once, however long.
        let long_chain = vec!["a eq 1"; 500].join(" or ");
        assert!(opts(&[("$filter", &long_chain)]).is_ok());
        // `(a eq 1 and (…))` nests two levels each time: a group and a chain.
        let nested = |n: usize| {
            let mut e = "a eq 1".to_owned();
            for _ in 0..n {
                e = format!("(a eq 1 and {e})");
            }
            e
        };
        assert!(opts(&[("$filter", &nested(16))]).is_ok());
        let e = filter_err(&nested(17));
        assert!(e.contains("nested more than 32 levels"), "{e}");
        // A chain around the deepest allowed group is one level too many.
        let e = filter_err(&format!("{} or b eq 2", nested(16)));
        assert!(
            e.contains("position 0") && e.contains("nested more than 32 levels"),
            "{e}"
        );
    }

    #[test]
    fn long_chains_stay_shallow() {
        fn depth(e: &Expr) -> usize {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => 1 + depth(a).max(depth(b)),
                Expr::Not(a) => 1 + depth(a),
                _ => 1,
            }
        }
        let chain = vec!["a eq 1"; 700].join(" and ");
        assert!(depth(&filter(&chain)) <= 11);
    }

    #[test]
    fn datetime_text_for_string_values() {
        assert_eq!(
            parse_datetime_text("2024-01-31"),
            Timestamp::parse_rfc3339("2024-01-31T00:00:00Z")
        );
        assert_eq!(
            parse_datetime_text("2024-01-31T10:00:00+01:00"),
            Timestamp::parse_rfc3339("2024-01-31T09:00:00Z")
        );
        assert_eq!(parse_datetime_text("2024-01-31 and"), None);
        assert_eq!(parse_datetime_text("yesterday"), None);
        assert_eq!(parse_datetime_text("2024-1-31"), None);
    }
}
