//! The tokens of a `.henn` file and the lexer that produces them.
//!
//! Lexing never fails: a character that starts no token becomes [`Token::Invalid`] and an
//! `E0001` diagnostic; an unterminated string becomes [`Token::Invalid`] and `E0004`. The parser
//! receives the invalid token like any other, recovers from it, and the parse error it causes is
//! suppressed (the lexer already reported the problem).

use logos::Logos;

use crate::diagnostic::{Code, Diagnostic, Label};
use crate::span::Span;

/// One token. Literal payloads borrow the source text; numbers keep their spelling so that the
/// pretty-printer can reproduce them exactly and sema decides integer versus real.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
pub enum Token<'src> {
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("=")]
    Eq,
    #[token(",")]
    Comma,
    #[token("^")]
    Caret,
    /// Binary memory units, only meaningful right after a number (`4 GiB`).
    #[token("B", |_| Unit::B, priority = 10)]
    #[token("KiB", |_| Unit::KiB, priority = 10)]
    #[token("MiB", |_| Unit::MiB, priority = 10)]
    #[token("GiB", |_| Unit::GiB, priority = 10)]
    #[token("TiB", |_| Unit::TiB, priority = 10)]
    Unit(Unit),
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice())]
    Ident(&'src str),
    #[regex(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", |lex| lex.slice())]
    Number(&'src str),
    /// The text between the quotes, escapes not yet resolved.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#, |lex| {
        let s = lex.slice();
        s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
    })]
    Str(&'src str),
    /// A string whose closing quote is missing on its line; reported, then treated as invalid.
    #[regex(r#""([^"\\\n]|\\[^\n])*"#, allow_greedy = true)]
    Unterminated,
    /// Never produced by logos itself: the lexer adapter substitutes it for bad input.
    Invalid,
}

/// Memory units for quantities such as `key_memory = 4 GiB` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Unit {
    B,
    KiB,
    MiB,
    GiB,
    TiB,
}

impl Unit {
    pub fn bytes(self) -> u64 {
        match self {
            Unit::B => 1,
            Unit::KiB => 1 << 10,
            Unit::MiB => 1 << 20,
            Unit::GiB => 1 << 30,
            Unit::TiB => 1 << 40,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::B => "B",
            Unit::KiB => "KiB",
            Unit::MiB => "MiB",
            Unit::GiB => "GiB",
            Unit::TiB => "TiB",
        }
    }
}

impl std::fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::LBrace => f.write_str("`{`"),
            Token::RBrace => f.write_str("`}`"),
            Token::LParen => f.write_str("`(`"),
            Token::RParen => f.write_str("`)`"),
            Token::LBracket => f.write_str("`[`"),
            Token::RBracket => f.write_str("`]`"),
            Token::Eq => f.write_str("`=`"),
            Token::Comma => f.write_str("`,`"),
            Token::Caret => f.write_str("`^`"),
            Token::Unit(u) => write!(f, "unit `{}`", u.as_str()),
            Token::Ident(s) => write!(f, "name `{s}`"),
            Token::Number(s) => write!(f, "number `{s}`"),
            Token::Str(_) => f.write_str("string"),
            Token::Invalid | Token::Unterminated => f.write_str("invalid input"),
        }
    }
}

/// A token with its byte range.
pub type Spanned<'src> = (usize, Token<'src>, usize);

/// Lexes all of `src`. Bad input becomes [`Token::Invalid`] plus a diagnostic in `diags`.
pub fn lex<'src>(src: &'src str, diags: &mut Vec<Diagnostic>) -> Vec<Spanned<'src>> {
    let mut out = Vec::new();
    let mut lexer = Token::lexer(src);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        match result {
            Ok(Token::Unterminated) => {
                diags.push(lex_error(src, Span::from(range.clone())));
                out.push((range.start, Token::Invalid, range.end));
            }
            Ok(tok) => out.push((range.start, tok, range.end)),
            Err(()) => {
                // Merge runs of bad characters into one token and one diagnostic, so recovery
                // and the user both see one problem.
                if let Some((_, Token::Invalid, end)) = out.last_mut()
                    && *end == range.start
                    && let Some(d) = diags.last_mut()
                    && d.code == Code::InvalidCharacter
                    && d.primary.span.end == range.start
                {
                    *end = range.end;
                    d.primary.span.end = range.end;
                    continue;
                }
                diags.push(lex_error(src, Span::from(range.clone())));
                out.push((range.start, Token::Invalid, range.end));
            }
        }
    }
    out
}

fn lex_error(src: &str, span: Span) -> Diagnostic {
    let text = src.get(span.range()).unwrap_or("");
    if text.starts_with('"') {
        return Diagnostic::error(Code::UnterminatedString, "unterminated string")
            .with_primary(Label::new(
                span,
                "this string has no closing `\"` on its line",
            ))
            .with_help("strings cannot span lines; close it with `\"`");
    }
    let ch = text.chars().next().unwrap_or('\u{FFFD}');
    let mut d = Diagnostic::error(
        Code::InvalidCharacter,
        format!("unexpected character `{}`", ch.escape_debug()),
    )
    .with_primary(Label::new(span, "not part of any token"));
    let hint = match ch {
        '\u{2212}' | '\u{2013}' | '\u{2014}' => Some("write the ASCII minus sign `-`"),
        '\u{201C}' | '\u{201D}' => Some("write the ASCII double quote `\"`"),
        '*' => Some("arithmetic is not part of the language; write the value (powers as `2^16`)"),
        '\u{00B7}' | '+' | '/' => Some("arithmetic is not part of the language; write the value"),
        ';' => Some("settings need no separator; remove the `;`"),
        ':' => Some("use `=` to give a setting its value"),
        '-' => Some("a minus sign must be followed directly by digits, as in `-8`"),
        '.' => Some("write a digit before the decimal point, as in `0.5`"),
        _ => None,
    };
    if let Some(h) = hint {
        d = d.with_help(h);
    }
    d
}
