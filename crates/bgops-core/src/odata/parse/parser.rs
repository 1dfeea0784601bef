//! The token cursor shared by `$select`, `$orderby` and `$filter`: looking ahead, consuming,
//! reporting an error at a position, and reading one operand (a property name, a literal, or a
//! parameter alias standing for either).

use std::fmt;

use super::lex::{tokenize, Tok, Token};
use super::{clip, syntax_error, Aliases, MAX_FILTER_CHARS};
use crate::error::ApiError;
use crate::odata::ast::Literal;

/// One side of a comparison or a function argument.
pub(super) enum Operand {
    Property(String),
    Value(Literal),
}

/// Words that cannot be property names.
pub(super) const RESERVED: [&str; 9] = ["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le"];

pub(super) struct Parser<'a> {
    option: &'a str,
    toks: Vec<Token>,
    i: usize,
    /// `None` where aliases are not allowed (`$select`, alias values themselves).
    aliases: Option<&'a Aliases<'a>>,
}

impl<'a> Parser<'a> {
    pub(super) fn new(
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

    pub(super) fn peek(&self) -> &Token {
        // `toks` always ends with `End`, and `bump` never moves past it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    pub(super) fn peek_at(&self, ahead: usize) -> &Tok {
        &self.toks[(self.i + ahead).min(self.toks.len() - 1)].tok
    }

    pub(super) fn peek_word(&self) -> Option<&str> {
        match &self.peek().tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    pub(super) fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    pub(super) fn at_end(&self) -> bool {
        self.peek().tok == Tok::End
    }

    pub(super) fn error_at(&self, pos: usize, msg: impl fmt::Display) -> ApiError {
        syntax_error(self.option, pos, msg)
    }

    pub(super) fn error_here(&self, msg: impl fmt::Display) -> ApiError {
        self.error_at(self.peek().pos, msg)
    }

    pub(super) fn describe_here(&self) -> String {
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
    pub(super) fn list_continues(&mut self) -> Result<bool, ApiError> {
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
    pub(super) fn property(&mut self, expected: &str) -> Result<String, ApiError> {
        let pos = self.peek().pos;
        match self.operand(expected)? {
            Operand::Property(p) => Ok(p),
            Operand::Value(_) => Err(self.error_at(pos, expected)),
        }
    }

    /// A property name, a literal, or an alias standing for either.
    pub(super) fn operand(&mut self, expected: &str) -> Result<Operand, ApiError> {
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
