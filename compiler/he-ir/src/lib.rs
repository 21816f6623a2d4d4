//! The HE IR core: a graph of CKKS operations over packed matrices, and nothing that builds it
//! from (or turns it into) anything else.
//!
//! The central type is [`HeGraph`]: a `petgraph::StableGraph` whose nodes are [`HeOp`]s annotated with
//! a [`ValueType`] (ciphertext or plaintext, depth, scale as a power of Δ, degree, and [`Layout`]: how
//! a matrix sits in the slots). Operand order is carried on the edges ([`Operand`]). Nodes are added
//! through a builder that infers and checks every type ([`graph::infer`], [`graph::infer_stated`]),
//! so an illegal node is never created; [`validate`] re-checks a whole graph (after a rewrite, or
//! when a plan is loaded) against the chain's level count and the key manifest, collecting every
//! error. [`sim`] runs any graph on plain `f64` slot vectors, the reference kernels and passes (and
//! the CKKS backend) are tested against; [`print`] renders the graph as text.
//!
//! **Invariants.** A node's full type, layout included, is fixed when the node is created and
//! checked there by the one type rule of `henn_plan::op` (the same rule the validator and the plan
//! loader apply); there is no API to change a type afterwards. A kernel may *state* the layout of a
//! result it creates (what its masks and sums make true; its tests prove the claim on the slot
//! simulator) but not change the slot count or the row stride. Levels are counted as depth from the
//! fresh inputs because the prime chain is chosen after the whole computation's depth is known.
//! This crate does not know the tensor IR: the lowering (`henn-lower`) and the post-passes
//! (`henn-passes`) depend on it, never the other way round, so a rewrite stage can depend on the IR
//! alone.

pub mod error;
pub mod graph;
pub mod print;
pub mod sim;
pub mod validate;

pub use error::IrError;
pub use graph::{Constant, HeGraph, Node, ValueId};
pub use henn_plan::{
    Bound, ConstId, Depth, HeOp, Kind, Layout, Operand, Packing, Padding, Rotation, ValueType,
};
pub use henn_plan::{op, types};
pub use validate::{Limits, validate};
