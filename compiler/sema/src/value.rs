//! Reading values out of expressions, with one diagnostic per problem.

use henn_syntax::ast::{self, Arg, Args, Expr, ExprKind, Ident};
use henn_syntax::{Code, Diagnostic, Span};

use crate::model::Interval;

/// Collects diagnostics while sema walks the tree.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub diags: Vec<Diagnostic>,
    /// Spans the parser skipped while recovering. A "missing setting" inside one of them is
    /// probably the setting the parser could not read, so it is not reported again.
    pub recovered: Vec<Span>,
    /// Names offered as "did you mean" fixes. A setting that was suggested is probably present
    /// but misspelt, so it is not also reported as missing.
    pub suggested: Vec<String>,
}

impl Sink {
    /// Whether `span` contains text the parser skipped.
    pub fn damaged(&self, span: Span) -> bool {
        self.recovered
            .iter()
            .any(|r| r.start >= span.start && r.end <= span.end)
    }

    /// Whether the parser skipped anything at all.
    pub fn any_damage(&self) -> bool {
        !self.recovered.is_empty()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }
}

/// A short description of an expression's form, for "expected X, found Y" messages.
pub(crate) fn describe(e: &Expr) -> &'static str {
    match &e.kind {
        ExprKind::Number(_) => "a number",
        ExprKind::Quantity { .. } => "a quantity with a unit",
        ExprKind::Power { .. } => "a power",
        ExprKind::Name(_) => "a name",
        ExprKind::Call { .. } => "a constructor call",
        ExprKind::List(_) => "a list",
        ExprKind::Str(_) => "a string",
        ExprKind::Error => "an invalid expression",
    }
}

fn mismatch(sink: &mut Sink, e: &Expr, what: &str, expected: &str) {
    if e.kind == ExprKind::Error {
        return; // already reported by the parser
    }
    sink.push(
        Diagnostic::error(Code::TypeMismatch, format!("`{what}` expects {expected}"))
            .at(e.span, format!("found {}", describe(e))),
    );
}

/// Levenshtein distance, for "did you mean" suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate to `name`, if it is close enough to be a plausible typo.
pub(crate) fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    // Bounded so that adversarial files with thousands of names stay fast.
    candidates
        .iter()
        .take(1000)
        .map(|c| (distance(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Lists at most this many names in "expected …" messages.
const MAX_LISTED: usize = 8;

pub(crate) fn one_of(candidates: &[&str]) -> String {
    let mut quoted: Vec<String> = candidates
        .iter()
        .take(MAX_LISTED)
        .map(|c| format!("`{c}`"))
        .collect();
    if candidates.len() > MAX_LISTED {
        quoted.push(format!("{} more", candidates.len() - MAX_LISTED));
    }
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// An "unknown X" diagnostic with a suggestion or the list of what is allowed.
pub(crate) fn unknown(code: Code, what: &str, ident: &Ident, allowed: &[&str]) -> Diagnostic {
    let d = Diagnostic::error(code, format!("`{}` is not a known {what}", ident.name))
        .at(ident.span, "unknown");
    match suggest(&ident.name, allowed) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None if allowed.is_empty() => d,
        None => d.with_help(format!("expected {}", one_of(allowed))),
    }
}

/// A real number (integers accepted).
pub(crate) fn real(sink: &mut Sink, e: &Expr, what: &str) -> Option<f64> {
    match &e.kind {
        ExprKind::Number(n) => number(sink, n),
        ExprKind::Quantity { unit_span, .. } => {
            sink.push(
                Diagnostic::error(
                    Code::MisplacedUnit,
                    format!("`{what}` takes a plain number"),
                )
                .at(*unit_span, "remove this unit"),
            );
            None
        }
        _ => {
            mismatch(sink, e, what, "a number");
            None
        }
    }
}

pub(crate) fn number(sink: &mut Sink, n: &ast::Number) -> Option<f64> {
    match n.text.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            sink.push(
                Diagnostic::error(Code::NotFinite, "number out of range")
                    .at(n.span, "this overflows a 64-bit float"),
            );
            None
        }
    }
}

/// A non-negative integer in `min..=max` from a number literal's text.
pub(crate) fn int_literal(
    sink: &mut Sink,
    n: &ast::Number,
    what: &str,
    min: u64,
    max: u64,
) -> Option<u64> {
    let text = n.text.as_str();
    if text.contains(['.', 'e', 'E']) {
        sink.push(
            Diagnostic::error(
                Code::NotAnInteger,
                format!("`{what}` must be a whole number"),
            )
            .at(n.span, "not an integer"),
        );
        return None;
    }
    let value = match text.parse::<i128>() {
        Ok(v) => v,
        Err(_) => {
            sink.push(
                Diagnostic::error(
                    Code::IntegerOutOfRange,
                    format!("`{what}` is far too large"),
                )
                .at(n.span, format!("must be at most {max}")),
            );
            return None;
        }
    };
    if value < i128::from(min) || value > i128::from(max) {
        let code = if value <= 0 && min >= 1 {
            Code::NotPositive
        } else {
            Code::IntegerOutOfRange
        };
        let msg = if code == Code::NotPositive {
            format!("`{what}` must be positive")
        } else {
            format!("`{what}` is out of range")
        };
        sink.push(Diagnostic::error(code, msg).at(n.span, format!("must be in {min}..={max}")));
        return None;
    }
    u64::try_from(value).ok()
}

pub(crate) fn int(sink: &mut Sink, e: &Expr, what: &str, min: u64, max: u64) -> Option<u64> {
    match &e.kind {
        ExprKind::Number(n) => int_literal(sink, n, what, min, max),
        _ => {
            mismatch(sink, e, what, "a whole number");
            None
        }
    }
}

/// A positive, finite real (learning rates and the like).
pub(crate) fn positive(sink: &mut Sink, e: &Expr, what: &str) -> Option<f64> {
    let v = real(sink, e, what)?;
    if v <= 0.0 {
        sink.push(
            Diagnostic::error(Code::NotPositive, format!("`{what}` must be positive"))
                .at(e.span, format!("{what} = {v} is not > 0")),
        );
        return None;
    }
    Some(v)
}

/// One of a fixed set of names.
pub(crate) fn keyword<'a>(
    sink: &mut Sink,
    e: &Expr,
    what: &str,
    allowed: &[&'a str],
) -> Option<&'a str> {
    match &e.kind {
        ExprKind::Name(id) => match allowed.iter().find(|a| **a == id.name) {
            Some(a) => Some(a),
            None => {
                sink.push(unknown(
                    Code::UnknownValue,
                    &format!("value for `{what}`"),
                    id,
                    allowed,
                ));
                None
            }
        },
        _ => {
            mismatch(sink, e, what, &format!("one of {}", one_of(allowed)));
            None
        }
    }
}

pub(crate) fn boolean(sink: &mut Sink, e: &Expr, what: &str) -> Option<bool> {
    keyword(sink, e, what, &["true", "false"]).map(|k| k == "true")
}

/// `[lo, hi]` with both finite and `lo < hi`.
pub(crate) fn interval(sink: &mut Sink, e: &Expr, what: &str) -> Option<Interval> {
    let ExprKind::List(items) = &e.kind else {
        mismatch(sink, e, what, "an interval `[lo, hi]`");
        return None;
    };
    if items.len() != 2 {
        sink.push(
            Diagnostic::error(
                Code::TypeMismatch,
                format!("`{what}` expects an interval `[lo, hi]`"),
            )
            .at(e.span, format!("a list of {} elements, not 2", items.len())),
        );
        return None;
    }
    let lo = real(sink, &items[0], what);
    let hi = real(sink, &items[1], what);
    let (lo, hi) = (lo?, hi?);
    if lo >= hi {
        sink.push(
            Diagnostic::error(
                Code::EmptyInterval,
                format!("`{what}` is an empty interval"),
            )
            .at(e.span, format!("{lo} is not below {hi}"))
            .with_help("write the lower bound first: `[lo, hi]` with lo < hi"),
        );
        return None;
    }
    Some(Interval { lo, hi })
}

/// A string literal with escapes resolved.
pub(crate) fn string(sink: &mut Sink, e: &Expr, what: &str) -> Option<String> {
    let ExprKind::Str(raw) = &e.kind else {
        mismatch(sink, e, what, "a string");
        return None;
    };
    match ast::unescape(raw) {
        Ok(s) => Some(s),
        Err((offset, esc)) => {
            // +1 skips the opening quote.
            let start = e.span.start + 1 + offset;
            sink.push(
                Diagnostic::error(
                    Code::InvalidEscape,
                    format!("unknown escape `{esc}` in string"),
                )
                .at(
                    Span::new(start, start + esc.len()),
                    "only `\\\"` and `\\\\` are escapes",
                )
                .with_help("paths may use `/` as the separator on every platform"),
            );
            None
        }
    }
}

/// The arguments of a constructor call, matched to parameter names. Positional arguments fill
/// `params` in order; a named argument may appear once. Unknown names, surplus positional
/// arguments and duplicates are reported.
pub(crate) struct CallArgs<'a> {
    found: Vec<(&'static str, &'a Arg)>,
    pub span: Span,
}

impl<'a> CallArgs<'a> {
    pub fn new(sink: &mut Sink, callee: &str, args: &'a Args, params: &[&'static str]) -> Self {
        let mut found: Vec<(&'static str, &'a Arg)> = Vec::new();
        let mut next_positional = 0usize;
        // After an argument the parser skipped, positions are unreliable (the skipped text may
        // have held a name), so later positional arguments are not matched to parameters.
        let mut damaged = false;
        for arg in &args.args {
            if arg.value.kind == ExprKind::Error {
                damaged = true;
                continue;
            }
            if damaged && arg.name.is_none() {
                continue;
            }
            let param = match &arg.name {
                Some(name) => match params.iter().find(|p| **p == name.name) {
                    Some(p) => *p,
                    None => {
                        sink.push(unknown(
                            Code::UnknownArgument,
                            &format!("argument of `{callee}`"),
                            name,
                            params,
                        ));
                        continue;
                    }
                },
                None => {
                    // The next parameter not yet given by name.
                    while params
                        .get(next_positional)
                        .is_some_and(|p| found.iter().any(|(f, _)| f == p))
                    {
                        next_positional += 1;
                    }
                    match params.get(next_positional) {
                        Some(p) => {
                            next_positional += 1;
                            p
                        }
                        None => {
                            sink.push(
                                Diagnostic::error(
                                    Code::UnknownArgument,
                                    format!("too many arguments for `{callee}`"),
                                )
                                .at(arg.span, "this argument has no parameter")
                                .with_note(format!("`{callee}` takes {}", one_of(params))),
                            );
                            continue;
                        }
                    }
                }
            };
            if let Some((_, first)) = found.iter().find(|(f, _)| *f == param) {
                sink.push(
                    Diagnostic::error(Code::Duplicate, format!("`{param}` is given twice"))
                        .at(arg.span, "second value")
                        .with_secondary(first.span, "first value"),
                );
                continue;
            }
            found.push((param, arg));
        }
        CallArgs {
            found,
            span: args.span,
        }
    }

    pub fn get(&self, param: &str) -> Option<&'a Expr> {
        self.found
            .iter()
            .find(|(p, _)| *p == param)
            .map(|(_, a)| &a.value)
    }

    /// Reports a missing required argument.
    pub fn require(&self, sink: &mut Sink, callee: &str, param: &str) -> Option<&'a Expr> {
        let e = self.get(param);
        if e.is_none() && !sink.damaged(self.span) {
            sink.push(
                Diagnostic::error(Code::MissingSetting, format!("`{callee}` needs `{param}`"))
                    .at(self.span, format!("`{param}` is missing here")),
            );
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("sampels", "samples"), 2);
        assert_eq!(distance("netwrok", "network"), 2);
        assert_eq!(distance("sgd", "sdg"), 2);
        assert_eq!(distance("σx", "x"), 1);
    }

    #[test]
    fn suggestions_only_for_plausible_typos() {
        let keys = ["features", "classes", "samples"];
        assert_eq!(suggest("sampels", &keys), Some("samples"));
        assert_eq!(suggest("featrues", &keys), Some("features"));
        assert_eq!(suggest("x", &keys), None);
        assert_eq!(suggest("batch", &keys), None);
    }

    #[test]
    fn one_of_lists_are_short() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
        let many: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let listed = one_of(&refs);
        assert!(listed.ends_with("or 12 more"), "{listed}");
        assert!(!listed.contains("n8"));
    }
}
