//! Semantic checking for `.henn` files: a parsed [`henn_syntax`] AST becomes a checked [`Model`].
//!
//! The central type is [`Model`] (in [`model`]): a fully resolved training job with defaults filled in.

pub mod model;

pub use model::*;
