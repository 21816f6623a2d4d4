//! Semantic checking for `.henn` files: a parsed [`henn_syntax`] tree becomes a checked [`Model`].
//!
//! The central type is [`Model`] (in [`model`]): a fully resolved training job with defaults
//! filled in, activation fits computed, widths chained and security explicit. Later stages never
//! look at the syntax tree again.
//!
//! Entry points:
//! - [`check_file`] / [`check_source`]: `Ok(Model)` or a [`CheckError`] whose `Display` renders
//!   every diagnostic rustc-style (no colour).
//! - [`analyze_file`] / [`analyze_source`]: the [`Analysis`] with the model (if valid) *and* all
//!   diagnostics, warnings included; `henn check` uses these.
//!
//! Every diagnostic carries a stable code (`E0001`…, `W0001`…) listed in `spec/language.md`.
//!
//! ```
//! let src = r#"
//!     model tiny {
//!       data { features = 2  classes = 1  samples = 4 }
//!       activation s = sigmoid_fit(degree = 3, interval = [-4, 4], derivative = output)
//!       network { dense out(1) }
//!       optimizer = sgd(lr = 0.5)
//!       train { iterations = 10 }
//!     }"#;
//! let model = henn_sema::check_source("tiny.henn", src)?;
//! assert_eq!(henn_sema::summary(&model), "2 → 1, bce, sgd, 128-bit");
//! assert_eq!(model.schedule.batch_size, 4); // full batch by default
//!
//! let err = henn_sema::check_source("bad.henn", &src.replace("lr = 0.5", "lr = 0")).unwrap_err();
//! assert!(err.to_string().starts_with("error[E0113]: `lr` must be positive"));
//! # Ok::<(), henn_sema::CheckError>(())
//! ```

mod check;
pub mod fit;
pub mod located;
pub mod model;
mod value;

use std::io::Read;
use std::path::{Path, PathBuf};

use henn_syntax::{Format, Source, Span};

pub use henn_syntax::{Code, Diagnostic};
pub use located::{Construct, Located, SourceMap};

pub use check::{DEFAULT_SCALE_BITS, MAX_LOG_N, MAX_WIDTH, MIN_LOG_N};
pub use henn_syntax::parse::MAX_SOURCE_BYTES;
pub use model::*;

/// The result of checking one source: the model when there is no error, and every diagnostic.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The file's display name (as given, or the path as passed).
    pub name: String,
    /// The text the spans refer to (lossily decoded when the file was not UTF-8).
    pub text: String,
    pub model: Option<Model>,
    /// Errors and warnings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// Where the model's constructs are, for problems found after checking ([`Located`]).
    pub spans: SourceMap,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Adds a problem found after checking (by the compiler), located through [`Self::spans`],
    /// in position order with the others. The model stays: it checked, it does not compile.
    pub fn push_late(&mut self, late: &Located) {
        let d = self.spans.diagnostic(late);
        let key = |d: &Diagnostic| (d.primary.span.start, d.primary.span.end);
        let at = self.diagnostics.partition_point(|x| key(x) <= key(&d));
        self.diagnostics.insert(at, d);
    }

    /// Renders every diagnostic through the one renderer.
    pub fn render(&self, format: Format) -> String {
        henn_syntax::render(
            Source {
                name: &self.name,
                text: &self.text,
            },
            &self.diagnostics,
            format,
        )
    }

    fn into_result(self) -> Result<Model, CheckError> {
        match self.model {
            Some(m) if !self.has_errors() => Ok(m),
            _ => Err(CheckError::Invalid(Box::new(self))),
        }
    }
}

/// Why a file did not yield a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The file could not be read at all.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read and has errors; `Display` renders them rustc-style without colour.
    #[error("{}", .0.render(Format::Text { color: false }).trim_end())]
    Invalid(Box<Analysis>),
}

impl CheckError {
    /// The diagnostics (empty for an I/O error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            CheckError::Io { .. } => &[],
            CheckError::Invalid(a) => &a.diagnostics,
        }
    }

    /// The analysis behind an `Invalid` error, for JSON rendering or tooling.
    pub fn analysis(&self) -> Option<&Analysis> {
        match self {
            CheckError::Io { .. } => None,
            CheckError::Invalid(a) => Some(a),
        }
    }
}

/// Checks source text. Relative data paths resolve against the directory part of `name`.
pub fn check_source(name: &str, src: &str) -> Result<Model, CheckError> {
    analyze_source(name, src).into_result()
}

/// Reads and checks a file (at most [`MAX_SOURCE_BYTES`]; invalid UTF-8 is a diagnostic).
/// Relative data paths resolve against the file's directory.
pub fn check_file(path: &Path) -> Result<Model, CheckError> {
    analyze_file(path)?.into_result()
}

/// Like [`check_source`], but returns warnings too and never fails.
pub fn analyze_source(name: &str, src: &str) -> Analysis {
    let base = Path::new(name).parent().unwrap_or(Path::new(""));
    analyze_text(name.to_owned(), src.to_owned(), base)
}

/// Like [`check_file`], but returns warnings too; fails only when the file cannot be read.
pub fn analyze_file(path: &Path) -> Result<Analysis, CheckError> {
    let io = |source| CheckError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    // Read one byte past the cap so an oversized file is detected without reading it all.
    file.take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let name = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new(""));
    if bytes.len() > MAX_SOURCE_BYTES {
        let d = Diagnostic::error(
            Code::FileTooLarge,
            format!("file is larger than the limit of {MAX_SOURCE_BYTES} bytes"),
        )
        .at(Span::default(), "file starts here")
        .with_note("a .henn file describes one model; it is never this large");
        return Ok(Analysis {
            name,
            text: String::new(),
            model: None,
            diagnostics: vec![d],
            spans: SourceMap::default(),
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(analyze_text(name, text, base)),
        Err(err) => {
            let at = err.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
            // The lossy text agrees with the bytes up to `at`; U+FFFD there is 3 bytes long.
            let d = Diagnostic::error(Code::InvalidUtf8, "file is not valid UTF-8")
                .at(
                    Span::new(at, at + '\u{FFFD}'.len_utf8()),
                    format!("invalid byte at offset {at}"),
                )
                .with_help("save the file as UTF-8");
            Ok(Analysis {
                name,
                text,
                model: None,
                diagnostics: vec![d],
                spans: SourceMap::default(),
            })
        }
    }
}

fn analyze_text(name: String, text: String, base: &Path) -> Analysis {
    let (file, mut diags) = henn_syntax::parse(&text);
    let mut sink = value::Sink::default();
    // Where the parser complained, text may have been dropped: a "missing" setting there is
    // probably the one it could not read.
    sink.recovered.extend(
        diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.primary.span),
    );
    // Sema runs even after syntax errors (on the recovered tree) so one run reports as much as
    // it can; the model is only returned when there is no error at all. When the parser gave up
    // entirely (empty tree after errors) there is nothing to check.
    let syntax_failed = diags.iter().any(Diagnostic::is_error);
    let spans = SourceMap::of_file(&file);
    let model = if syntax_failed && file.items.is_empty() {
        None
    } else {
        check::check(&mut sink, &file, &name, base)
    };
    // A semantic error at the place of a syntax error, about a value that contains one, or about
    // a value glued to one (`2**16` reads as `2`), is a follow-on of the recovery: not shown.
    let syntax: Vec<Span> = diags.iter().map(|d| d.primary.span).collect();
    diags.extend(sink.diags.into_iter().filter(|d| {
        let p = d.primary.span;
        !syntax.iter().any(|s| {
            s.start == p.start || s.start == p.end || (s.start >= p.start && s.end <= p.end)
        })
    }));
    diags.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    let model = if diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        model
    };
    Analysis {
        name,
        text,
        model,
        diagnostics: diags,
        spans,
    }
}

/// The one-line description used by `henn check`: `64 → 32 → 32 → 10, bce, sgd, 128-bit`.
pub fn summary(model: &Model) -> String {
    let mut widths = vec![model.data.features.to_string()];
    widths.extend(model.layers.iter().map(|l| l.outputs.to_string()));
    // Keep the line short for very deep networks: the first and last widths and the depth.
    if widths.len() > 8 {
        let n = model.layers.len();
        let tail = widths.split_off(widths.len() - 2);
        widths.truncate(3);
        widths.push(format!("… ({n} layers)"));
        widths.extend(tail);
    }
    let loss = match model.loss {
        Loss::Bce => "bce",
        Loss::Mse => "mse",
    };
    let opt = match model.optimizer {
        Optimizer::Sgd { .. } => "sgd",
        Optimizer::Nag { .. } => "nag",
    };
    let security = match model.encryption.security {
        Security::Bits128 => "128-bit",
        Security::Bits192 => "192-bit",
        Security::Bits256 => "256-bit",
        Security::Insecure => "INSECURE",
    };
    format!("{}, {loss}, {opt}, {security}", widths.join(" → "))
}
