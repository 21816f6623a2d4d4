//! henn-tir: the tensor IR of one training step, built from a checked model, differentiated,
//! validated, printed and interpreted in plain floating point.
//!
//! The central data structure is [`Graph`]: a `petgraph` `StableGraph` whose nodes are typed
//! [`Op`]s carrying the [`Shape`] of their result, and whose edges carry the operand [`Role`]
//! (`Arg`, `Lhs`, `Rhs`). Values are addressed by [`ValueId`] handles. One graph describes one
//! training step for one batch size:
//!
//! 1. [`build::build_train_step`] turns a [`henn_sema::Model`] into forward pass → monitored loss
//!    → back-propagation → optimizer update, reading the parameters with `Load` and writing them
//!    back with `Store`. Every op is explicit (the three matmul forms `A·Bᵀ`, `Aᵀ·B`, `A·B`,
//!    elementwise ops, polynomial evaluation, column sums, scalar scales), because the HE
//!    lowering consumes this graph and has to choose an encoding for each of them.
//! 2. [`Graph::validate`] re-derives every shape and reports all problems at once.
//! 3. [`Graph::to_text`] prints it (snapshot-tested).
//! 4. [`interp::run`] evaluates it in `f64`; [`train::Trainer`] drives it over epochs with the
//!    model's seed, tracking the range of every activation's input.
//!
//! [`exact`] names the layers a run evaluates with the exact sigmoid instead of their polynomial
//! (the float model the twin is compared with, [`train::Trainer::with_activation`]).
//!
//! [`surrogate`] documents (and computes) the loss whose exact gradient the BCE rule `A − Y` is
//! when σ̃ is a polynomial; the gradient check in the tests uses it.

pub mod build;
pub mod contract;
pub mod error;
pub mod exact;
pub mod graph;
pub mod interp;
pub mod print;
pub mod surrogate;
pub mod train;
pub mod validate;
pub mod weights;

pub use build::{StepGraph, build_inference, build_train_step};
pub use error::{TirError, TrainError, ValidationErrors};
pub use graph::{
    Factor, Graph, InputKind, LayerIdx, LossKind, MatMulForm, Node, Op, PolyRole, Role, Shape,
    Slot, SlotKind, ValueId,
};
