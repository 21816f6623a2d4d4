//! Diagnostics: the one type every front-end error becomes, and the one renderer for it.
//!
//! Every diagnostic has a stable [`Code`] (listed with its meaning in `spec/language.md`), a
//! primary [`Label`] pointing into the source, optional secondary labels, a help line when a fix
//! is obvious, and notes. [`render`] turns a batch of diagnostics into rustc-style text (with or
//! without colour, through codespan-reporting) or into JSON lines for tools.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use serde::Serialize;

use crate::span::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $desc:literal;)*) => {
        /// Stable diagnostic codes. The numbers never change meaning; retired codes are not reused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $($(#[$doc])* $name,)*
        }

        impl Code {
            /// Every code, in numeric order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The code as printed, e.g. `E0001`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }

            /// One-line meaning, as listed in the spec.
            pub fn description(self) -> &'static str {
                match self { $(Code::$name => $desc,)* }
            }
        }
    };
}

codes! {
    InvalidCharacter = "E0001", "a character that starts no token";
    UnexpectedToken = "E0002", "a token the grammar does not allow here";
    UnexpectedEof = "E0003", "the file ends in the middle of a construct";
    UnterminatedString = "E0004", "a string without its closing quote on the same line";
    InvalidEscape = "E0005", "an escape other than `\\\"` or `\\\\` inside a string";
    NestingTooDeep = "E0006", "brackets nested deeper than the limit (32)";
    FileTooLarge = "E0007", "a file larger than the limit (1 MiB)";
    InvalidUtf8 = "E0008", "a file that is not valid UTF-8";
    MissingModel = "E0100", "no `model NAME { … }` declaration in the file";
    ExtraModel = "E0101", "more than one model, or something other than a model at top level";
    UnknownItem = "E0102", "an unknown section, setting or declaration kind";
    Duplicate = "E0103", "a section, setting, argument, activation or layer defined twice";
    MissingSetting = "E0104", "a required setting or argument is absent";
    WrongForm = "E0105", "an item of the wrong form (block where a value is expected, name missing, …)";
    TypeMismatch = "E0106", "a value of the wrong type (e.g. a name where a number is expected)";
    UnknownValue = "E0107", "a name that is not one of the allowed values of a setting";
    UnknownActivation = "E0108", "a layer refers to an activation that is not declared";
    UnknownArgument = "E0109", "an argument a constructor does not take";
    EmptyNetwork = "E0110", "a network with no dense layer";
    WidthMismatch = "E0111", "a layer's stated input width differs from the previous layer's output";
    ClassMismatch = "E0112", "the output layer's width differs from the class count";
    NotPositive = "E0113", "a number that must be positive is zero or negative";
    EmptyInterval = "E0114", "an interval `[lo, hi]` with `lo >= hi`";
    BadDegree = "E0115", "a polynomial degree outside 1..=31";
    RingNotPowerOfTwo = "E0116", "a ring degree that is not a power of two in 2^10..=2^17";
    InsecureWithoutMarker = "E0117", "security below 128 bits without the explicit `insecure` marker";
    UnsupportedSecurity = "E0118", "a security level other than 128, 192 or 256";
    IntegerOutOfRange = "E0119", "an integer outside the range its setting allows";
    NotAnInteger = "E0120", "a fractional or exponent number where an integer is required";
    NotFinite = "E0121", "a number that overflows to infinity";
    MomentumOutOfRange = "E0122", "a constant momentum outside [0, 1)";
    BatchTooLarge = "E0123", "a batch size larger than the number of samples";
    ScaleBitsOutOfRange = "E0124", "scale_bits outside 20..=60";
    ConflictingSettings = "E0125", "two settings that exclude each other (e.g. iterations and epochs)";
    BadCoefficients = "E0126", "an empty coefficient list or more than 32 coefficients";
    FitFailed = "E0127", "the least-squares fit cannot be represented accurately in the monomial basis";
    BadPath = "E0128", "an empty data path or one containing a NUL byte";
    MisplacedUnit = "E0129", "a unit where none is allowed, or a quantity without its unit";
    BceNeedsSigmoid = "E0130", "`loss = bce` with an output layer that has no sigmoid approximation";
    /// Found by the compiler (`henn check` runs it): located through sema's source map.
    SampleCountUnknown = "E0131", "a model trained for epochs whose sample count is neither stated nor read from its data";
    TooManySteps = "E0132", "a schedule of more steps than any job may have";
    TooDeep = "E0133", "a schedule that needs more levels than any chain at its security holds, bootstrapped or not";
    KeyMemoryExceeded = "E0134", "evaluation keys larger than the `key_memory` cap";
    NoPlan = "E0135", "no encryption parameters or plan fit the model (ring, bootstrapping, lowering)";
    /// Warnings start at W.
    DerivativeNegative = "W0001", "σ̃′ changes sign inside the activation's trusted interval";
    InsecureParameters = "W0002", "the file asks for parameters below 128-bit security";
    UnusedActivation = "W0003", "an activation that no layer uses";
    EvenDegreeFit = "W0004", "an even-degree `sigmoid_fit` on a symmetric interval: σ − ½ is odd, so it equals the odd degree below";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message attached to a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

impl Label {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Label {
            span,
            message: message.into(),
        }
    }
}

/// One problem found in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    /// Where the problem is. A file-level problem uses an empty span at offset 0.
    pub primary: Label,
    /// Related places, e.g. the first definition of a duplicate.
    pub secondary: Vec<Label>,
    /// A concrete fix, when one is obvious.
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            primary: Label::new(Span::default(), ""),
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn with_primary(mut self, label: Label) -> Self {
        self.primary = label;
        self
    }

    /// Shorthand for a primary label.
    pub fn at(self, span: Span, message: impl Into<String>) -> Self {
        self.with_primary(Label::new(span, message))
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label::new(span, message));
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// How [`render`] formats diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// rustc-style text; `color` adds ANSI escapes.
    Text { color: bool },
    /// One JSON object per diagnostic per line.
    Json,
}

/// A source file as the renderer sees it: its display name and its text.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// Renders `diags` for one file. This is the only place diagnostics become text.
pub fn render(source: Source<'_>, diags: &[Diagnostic], format: Format) -> String {
    match format {
        Format::Text { color } => render_text(source, diags, color),
        Format::Json => {
            let mut out = String::new();
            for d in diags {
                // Serialising the struct directly keeps the documented field order.
                let line = serde_json::to_string(&json_diagnostic(source, d)).unwrap_or_default();
                out.push_str(&line);
                out.push('\n');
            }
            out
        }
    }
}

fn render_text(source: Source<'_>, diags: &[Diagnostic], color: bool) -> String {
    let file = SimpleFile::new(source.name, source.text);
    let config = term::Config::default();
    let mut out = String::new();
    for d in diags {
        let cs_diag = to_codespan(source.text, d);
        let rendered = if color {
            let mut buffer = term::termcolor::Buffer::ansi();
            let styles = term::Styles::default();
            let mut writer = term::StylesWriter::new(&mut buffer, &styles);
            term::emit_to_write_style(&mut writer, &config, &file, &cs_diag)
                .map(|()| String::from_utf8_lossy(buffer.as_slice()).into_owned())
        } else {
            term::emit_into_string(&config, &file, &cs_diag)
        };
        match rendered {
            Ok(s) => out.push_str(&s),
            // Spans are clamped below, so this is unreachable in practice; degrade to one line
            // rather than lose the message.
            Err(_) => out.push_str(&format!(
                "{}[{}]: {}\n  --> {}\n",
                severity_word(d.severity),
                d.code,
                d.message,
                source.name
            )),
        }
    }
    out
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Moves a span inside the text and onto character boundaries.
fn clamp(text: &str, span: Span) -> Span {
    let fix = |mut i: usize| {
        i = i.min(text.len());
        while i > 0 && !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = fix(span.start);
    let end = fix(span.end).max(start);
    Span::new(start, end)
}

fn to_codespan(text: &str, d: &Diagnostic) -> cs::Diagnostic<()> {
    let severity = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let mut labels = vec![
        cs::Label::primary((), clamp(text, d.primary.span).range())
            .with_message(&d.primary.message),
    ];
    for l in &d.secondary {
        labels.push(cs::Label::secondary((), clamp(text, l.span).range()).with_message(&l.message));
    }
    let mut notes: Vec<String> = d.help.iter().map(|h| format!("help: {h}")).collect();
    notes.extend(d.notes.iter().map(|n| format!("note: {n}")));
    cs::Diagnostic::new(severity)
        .with_code(d.code.as_str())
        .with_message(&d.message)
        .with_labels(labels)
        .with_notes(notes)
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

/// The 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> LineCol {
    let offset = clamp(text, Span::new(offset, offset)).start;
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    LineCol { line, column }
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
    primary: bool,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    severity: Severity,
    code: &'static str,
    message: &'a str,
    labels: Vec<JsonLabel<'a>>,
    help: Option<&'a str>,
    notes: &'a [String],
}

/// The JSON object for one diagnostic (the schema is documented in `spec/language.md`).
pub fn to_json(source: Source<'_>, d: &Diagnostic) -> serde_json::Value {
    serde_json::to_value(json_diagnostic(source, d)).unwrap_or(serde_json::Value::Null)
}

fn json_diagnostic<'a>(source: Source<'a>, d: &'a Diagnostic) -> JsonDiagnostic<'a> {
    let label = |l: &'_ Label, primary: bool| {
        let start = line_col(source.text, l.span.start);
        let end = line_col(source.text, l.span.end);
        (start, end, primary)
    };
    let (start, end, _) = label(&d.primary, true);
    let mut labels = Vec::new();
    for (l, primary) in
        std::iter::once((&d.primary, true)).chain(d.secondary.iter().map(|l| (l, false)))
    {
        let (s, e, p) = label(l, primary);
        labels.push(JsonLabel {
            line: s.line,
            column: s.column,
            end_line: e.line,
            end_column: e.column,
            message: &l.message,
            primary: p,
        });
    }
    JsonDiagnostic {
        file: source.name,
        line: start.line,
        column: start.column,
        end_line: end.line,
        end_column: end.column,
        severity: d.severity,
        code: d.code.as_str(),
        message: &d.message,
        labels,
        help: d.help.as_deref(),
        notes: &d.notes,
    }
}
