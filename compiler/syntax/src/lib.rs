//! henn-syntax: the front end of the `.henn` language.
//!
//! The central data structure is the syntax tree [`ast::File`]: a list of generic declarations
//! `KIND [NAME] (= EXPR | ( ARGS ) | { ITEMS })`, each carrying the byte [`Span`] of its text. The
//! tree is generic on purpose: the grammar stays small and robust, error recovery has few places
//! to resynchronise, and `henn-sema` reports unknown kinds and settings with precise spans.
//!
//! Pipeline: [`lexer`] (logos) → [`parse()`] (lalrpop, recovering at items, arguments and list
//! elements) → [`ast::File`] plus [`Diagnostic`]s. [`print::print`] is the inverse of parsing up to
//! spans and comments. [`diagnostic::render`] is the one renderer for every front-end diagnostic
//! (rustc-style text through codespan-reporting, or JSON lines).
//!
//! Invariants: parsing never panics and never stops at the first error; every span lies on
//! character boundaries of the source; inputs over [`parse::MAX_SOURCE_BYTES`] or nested deeper
//! than [`parse::MAX_NESTING`] are refused with a diagnostic before any recursive walk.
//!
//! ```
//! use henn_syntax::{Format, Source, parse, print::print, render};
//!
//! let src = "model m { loss = bce  optimizer = sgd(lr 0.1) }";
//! let (tree, diags) = parse(src);
//! assert_eq!(diags.len(), 1); // the missing `=`, recovered from
//! let text = render(Source { name: "m.henn", text: src }, &diags, Format::Text { color: false });
//! assert!(text.starts_with("error[E0002]: unexpected number `0.1`"));
//! assert!(print(&tree).contains("loss = bce"));
//! ```

pub mod ast;
pub mod diagnostic;
pub mod lexer;
pub mod parse;
pub mod print;
pub mod span;

pub use diagnostic::{Code, Diagnostic, Format, Label, Severity, Source, render};
pub use parse::parse;
pub use span::Span;
