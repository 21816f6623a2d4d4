//! The syntax tree of a `.henn` file.
//!
//! The tree is deliberately generic: every declaration is `KIND [NAME] BODY`, where the body is a
//! value (`= expr`), an argument list (`(…)`) or a block (`{…}`). The parser therefore knows no
//! setting names; `henn-sema` interprets kinds such as `model`, `data`, `dense` and reports unknown
//! ones with precise spans. Every node carries the [`Span`] of its text.

use crate::lexer::Unit;
use crate::span::Span;

/// A whole file: top-level items (sema expects exactly one `model`).
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Decl(Decl),
    /// A stretch the parser skipped while recovering from a syntax error (already reported).
    Error(Span),
}

/// `KIND [NAME] = EXPR`, `KIND [NAME] ( ARGS )` or `KIND [NAME] { ITEMS }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decl {
    pub kind: Ident,
    pub name: Option<Ident>,
    pub body: Body,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Value(Expr),
    Args(Args),
    Block(Block),
}

/// `{ items }`; the span covers both braces.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub items: Vec<Item>,
    pub span: Span,
}

/// `( args )`; the span covers both parentheses.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub args: Vec<Arg>,
    pub span: Span,
}

/// `[name =] value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A number exactly as written (`-8`, `0.5`, `1e-3`); sema decides integer or real.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(Number),
    /// `4 GiB`.
    Quantity {
        value: Number,
        unit: Unit,
        unit_span: Span,
    },
    /// `2^16`.
    Power {
        base: Number,
        exponent: Number,
    },
    Name(Ident),
    /// `nag(lr = 0.1)`.
    Call {
        callee: Ident,
        args: Args,
    },
    /// `[a, b, c]`.
    List(Vec<Expr>),
    /// A string literal's text between the quotes, escapes unresolved (see [`unescape`]).
    Str(String),
    /// A stretch skipped by error recovery (already reported).
    Error,
}

/// Resolves the two escapes the language has (`\"` and `\\`). Returns the byte offset (inside
/// `raw`) and the text of the first unknown escape as the error.
pub fn unescape(raw: &str) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, other)) => return Err((i, format!("\\{other}"))),
            None => return Err((i, "\\".to_owned())),
        }
    }
    Ok(out)
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Decl(d) => d.span,
            Item::Error(s) => *s,
        }
    }
}

/// Resets every span to the default, so that trees from different texts compare structurally
/// (used by the print → parse round-trip tests).
pub trait StripSpans {
    fn strip_spans(&mut self);
}

impl StripSpans for File {
    fn strip_spans(&mut self) {
        self.items.iter_mut().for_each(StripSpans::strip_spans);
    }
}

impl StripSpans for Item {
    fn strip_spans(&mut self) {
        match self {
            Item::Decl(d) => d.strip_spans(),
            Item::Error(s) => *s = Span::default(),
        }
    }
}

impl StripSpans for Decl {
    fn strip_spans(&mut self) {
        self.span = Span::default();
        self.kind.strip_spans();
        if let Some(n) = &mut self.name {
            n.strip_spans();
        }
        match &mut self.body {
            Body::Value(e) => e.strip_spans(),
            Body::Args(a) => a.strip_spans(),
            Body::Block(b) => {
                b.span = Span::default();
                b.items.iter_mut().for_each(StripSpans::strip_spans);
            }
        }
    }
}

impl StripSpans for Args {
    fn strip_spans(&mut self) {
        self.span = Span::default();
        for a in &mut self.args {
            a.span = Span::default();
            if let Some(n) = &mut a.name {
                n.strip_spans();
            }
            a.value.strip_spans();
        }
    }
}

impl StripSpans for Ident {
    fn strip_spans(&mut self) {
        self.span = Span::default();
    }
}

impl StripSpans for Number {
    fn strip_spans(&mut self) {
        self.span = Span::default();
    }
}

impl StripSpans for Expr {
    fn strip_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            ExprKind::Number(n) => n.strip_spans(),
            ExprKind::Quantity {
                value, unit_span, ..
            } => {
                value.strip_spans();
                *unit_span = Span::default();
            }
            ExprKind::Power { base, exponent } => {
                base.strip_spans();
                exponent.strip_spans();
            }
            ExprKind::Name(i) => i.strip_spans(),
            ExprKind::Call { callee, args } => {
                callee.strip_spans();
                args.strip_spans();
            }
            ExprKind::List(items) => items.iter_mut().for_each(StripSpans::strip_spans),
            ExprKind::Str(_) | ExprKind::Error => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn unescape_handles_the_two_escapes_and_rejects_others() {
        assert_eq!(unescape(r#"a\"b\\c"#), Ok("a\"b\\c".to_owned()));
        assert_eq!(unescape("plain/path.csv"), Ok("plain/path.csv".to_owned()));
        assert_eq!(unescape(r"data\train"), Err((4, r"\t".to_owned())));
        assert_eq!(unescape("end\\"), Err((3, "\\".to_owned())));
    }
}
