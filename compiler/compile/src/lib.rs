//! henn-compile: the compiler's last stage. A checked [`henn_sema::Model`] goes in, a validated
//! [`henn_plan::Plan`] comes out; nothing else crosses to the runtime.
//!
//! It sequences the stages (tensor IR → HE lowering → bootstrap placement → schedule) and makes
//! the decisions that span them: the ring degree and prime chain (the lowering depends on the slot
//! count, the chain on the lowered depth), the levels between bootstraps and the bootstrap circuit,
//! and the choice between a leveled and a bootstrapping plan by the report's cost model. It writes
//! the model's owner contract (`henn_tir::contract::owner_contract`) into the plan, the only part
//! of the model the owner's tools see.
//!
//! **Architecture invariants:** no CLI code here (no `clap`, no printing, no `anyhow`); errors are
//! typed ([`CompileError`]); the runtime crates never depend on this crate.

mod pipeline;

pub use pipeline::infer::{
    InferOptions, InferWeights, compile_for_inference, compile_inference, trained_state_level,
};
pub use pipeline::{CompileError, CompileOptions, Compiled, OptSummary, compile, compile_with};
