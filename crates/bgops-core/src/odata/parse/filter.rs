//! The `$filter` grammar: `or` and `and` chains, `not`, parentheses, the string functions and
//! comparisons, parsed by recursive descent into an [`Expr`] no deeper than
//! [`MAX_FILTER_DEPTH`].

use super::lex::Tok;
use super::parser::{Operand, Parser, RESERVED};
use super::{Aliases, MAX_FILTER_CHARS, MAX_FILTER_DEPTH};
use crate::error::ApiError;
use crate::odata::ast::{CmpOp, Expr, Literal, StrFn};

pub(super) fn parse_filter(v: &str, aliases: &Aliases) -> Result<Expr, ApiError> {
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

/// A parsed sub-expression and its nesting depth.
type Parsed = Result<(Expr, usize), ApiError>;

impl<'a> Parser<'a> {
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
