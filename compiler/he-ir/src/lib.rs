//! The HE IR: a graph of CKKS operations over packed matrices.
//!
//! The central type is [`HeGraph`]: a `petgraph::StableGraph` whose nodes are [`HeOp`]s annotated with
//! a [`ValueType`] (ciphertext or plaintext, depth, scale as a power of Δ, degree, and [`Layout`]: how
//! a matrix sits in the slots). Operand order is carried on the edges ([`Operand`]). Nodes are added
//! through a builder that infers and checks every type ([`graph::infer`]), so an illegal node is
//! never created; [`validate`] re-checks a whole graph (after a rewrite, or when a plan is loaded)
//! against the chain's level count and the key manifest, collecting every error.
//!
//! [`kernels`] builds the three matrix products of training on Volley Revolver packings, each with a
//! cost formula; [`sim`] runs any graph on plain `f64` slot vectors, the reference the kernels (and
//! later the CKKS backend) are tested against; [`print`] renders the graph as text.
//!
//! Levels are counted as depth from the fresh inputs because the prime chain is chosen after the
//! whole computation's depth is known.

pub mod bootstrap;
pub mod error;
pub mod graph;
pub mod kernels;
pub mod lower;
pub mod poly;
pub mod print;
pub mod schedule;
pub mod sim;
pub mod validate;

pub use error::IrError;
pub use graph::{Constant, HeGraph, Node, ValueId};
pub use henn_plan::{
    Bound, ConstId, Depth, HeOp, Kind, Layout, Operand, Packing, Padding, Rotation, ValueType,
};
pub use henn_plan::{op, types};
pub use validate::{Limits, validate};
