//! Errors of the HE IR: illegal operations found while building, and everything the validator finds.

use henn_plan::op::InferError;

/// One problem in an HE IR graph. Node numbers are petgraph node indices, as the printer shows them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IrError {
    #[error("%{node} does not exist")]
    UnknownValue { node: usize },
    #[error("illegal `{op}`: {reason}")]
    IllegalOp {
        op: &'static str,
        reason: InferError,
    },
    #[error("%{node} (`{op}`): {reason}")]
    IllTyped {
        node: usize,
        op: &'static str,
        reason: InferError,
    },
    #[error("%{node} (`{op}`): {reason}")]
    Invalid {
        node: usize,
        op: &'static str,
        reason: String,
    },
    #[error("%{node} reaches depth {depth}, but the modulus chain has only {levels} levels")]
    DepthExceeded {
        node: usize,
        depth: u32,
        levels: u32,
    },
    #[error("%{node} rotates by {step}, which is not in the key manifest")]
    MissingRotationKey { node: usize, step: usize },
    #[error("the graph has a cycle")]
    Cycle,
    #[error("kernel `{kernel}` cannot take these layouts: {reason}")]
    Layout {
        kernel: &'static str,
        reason: String,
    },
    #[error("simulation: missing input `{name}`")]
    MissingInput { name: String },
    #[error("simulation: input `{name}` has {got} slots, expected {expected}")]
    InputLength {
        name: String,
        got: usize,
        expected: usize,
    },
}
