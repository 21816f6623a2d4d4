//! The execution plan: the contract between the compiler and the runtime.
//!
//! The plan's instruction set is the HE IR's operation set ([`HeOp`]) and its values are described
//! by the same [`Layout`]s, so compiler and runtime cannot disagree on what an operation means. The
//! runtime crates depend on this crate and never on the compiler.

pub mod bootstrap;
pub mod hoist;
pub mod io;
pub mod op;
pub mod plan;
pub mod report;
pub mod types;
pub mod validate;

pub use op::{ConstId, HeOp, InferError, Operand};
pub use plan::Plan;
pub use types::{Bound, Depth, Kind, Layout, Origin, Packing, Padding, Rotation, Stage, ValueType};
