//! Lowering: the tensor IR of one training step becomes an HE IR graph ([`henn_he_ir::HeGraph`]).
//!
//! [`lower`] walks the step (batch values become lists of sample-block ciphertexts, parameters
//! lists of weight-row blocks, one row stride for the whole step); [`kernels`] builds the three
//! matrix products of training on Volley Revolver packings, each with a cost formula, and
//! [`kernels::registry`] holds the pluggable [`kernels::registry::ProductKernel`]s and the one
//! decision point between kernel families; [`poly`] evaluates polynomials depth-optimally.
//!
//! **Invariants.** This is the only compiler crate after `henn-tir` that reads the tensor IR. Every
//! node is built through the HE IR's type-checking builder; a kernel that knows its result's
//! layout better than the inference (a masked sum is zero-padded, a column sum is a weight row)
//! states it when it creates the node ([`henn_he_ir::HeGraph::op_as`] and friends), and its tests
//! prove the claim on the slot simulator. Each kernel's cost formula is checked by tests against
//! the graph it builds.

pub mod kernels;
pub mod lower;
pub mod poly;

pub use lower::{
    LowerConfig, Lowered, PlainWeights, ProductUse, choose_stride, lower_inference_plain,
    lower_step, lower_step_with, state_slot,
};
