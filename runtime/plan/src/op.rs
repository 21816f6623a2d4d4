//! The CKKS operations of the HE IR and their effect on depth and scale.
//!
//! `spec/he-ir.md` is the reference table; [`HeOp::describe`] gives the same facts to the printer.

use serde::{Deserialize, Serialize};

use crate::types::Rotation;

/// Index of a plaintext constant in [`crate::HeGraph::consts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConstId(pub u32);

/// One CKKS operation. Operands are the node's incoming edges, ordered by [`Operand`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HeOp {
    /// A fresh ciphertext supplied by the data owner (depth 0).
    Input { name: String },
    /// A plaintext constant from the pool, encoded at scale Δ at the depth where it is used.
    Const(ConstId),
    /// ct + ct (both operands at the same depth and scale).
    AddCC,
    /// ct − ct.
    SubCC,
    /// ct + pt.
    AddCP,
    /// ct − pt.
    SubCP,
    /// −ct.
    Neg,
    /// ct + c for a real constant c (encoded at the ciphertext's scale; no level).
    AddScalar(f64),
    /// ct × ct tensor product: degree 2, scale Δ²·…, needs [`HeOp::Relin`] before the next product.
    MulCC,
    /// ct × pt: scale multiplied by Δ; rescale afterwards.
    MulCP,
    /// ct × n for an integer n: no scale change, no level.
    MulInt(i64),
    /// ct × c for a real constant c, encoded at scale Δ: rescale afterwards.
    MulScalar(f64),
    /// ct × γ_t, the optimizer's momentum coefficient of the current step (from the plan's
    /// schedule; public, changes per step): like [`HeOp::MulScalar`].
    MulMomentum,
    /// Relinearize a degree-2 ciphertext (one key switch with the relinearization key).
    Relin,
    /// Divide by the last prime: depth + 1, scale / Δ.
    Rescale,
    /// Drop primes without rescaling, to reach a greater depth (used to align operands).
    LevelDrop { to: u32 },
    /// Cyclic slot rotation (one key switch with the Galois key of that step).
    Rotate(Rotation),
    /// Complex conjugation of the slots (one key switch).
    Conjugate,
    /// Refresh a ciphertext to a usable level (a later issue implements it in the backend).
    Bootstrap,
    /// A named result returned to the data owner.
    Output { name: String },
}

/// The role of an operand edge: its position in the operation's argument list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Operand(pub u8);

impl HeOp {
    /// The number of operands the operation takes.
    pub fn arity(&self) -> usize {
        match self {
            HeOp::Input { .. } | HeOp::Const(_) => 0,
            HeOp::AddCC | HeOp::SubCC | HeOp::AddCP | HeOp::SubCP | HeOp::MulCC | HeOp::MulCP => 2,
            HeOp::Neg
            | HeOp::AddScalar(_)
            | HeOp::MulInt(_)
            | HeOp::MulScalar(_)
            | HeOp::MulMomentum
            | HeOp::Relin
            | HeOp::Rescale
            | HeOp::LevelDrop { .. }
            | HeOp::Rotate(_)
            | HeOp::Conjugate
            | HeOp::Bootstrap
            | HeOp::Output { .. } => 1,
        }
    }

    /// True for operations that perform a key switch (the dominant cost of CKKS).
    pub fn is_key_switch(&self) -> bool {
        matches!(self, HeOp::Relin | HeOp::Rotate(_) | HeOp::Conjugate)
    }

    /// A short mnemonic for printing and op counts.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            HeOp::Input { .. } => "input",
            HeOp::Const(_) => "const",
            HeOp::AddCC => "add",
            HeOp::SubCC => "sub",
            HeOp::AddCP => "add_plain",
            HeOp::SubCP => "sub_plain",
            HeOp::Neg => "neg",
            HeOp::AddScalar(_) => "add_scalar",
            HeOp::MulCC => "mul",
            HeOp::MulCP => "mul_plain",
            HeOp::MulInt(_) => "mul_int",
            HeOp::MulScalar(_) => "mul_scalar",
            HeOp::MulMomentum => "mul_momentum",
            HeOp::Relin => "relin",
            HeOp::Rescale => "rescale",
            HeOp::LevelDrop { .. } => "level_drop",
            HeOp::Rotate(_) => "rotate",
            HeOp::Conjugate => "conjugate",
            HeOp::Bootstrap => "bootstrap",
            HeOp::Output { .. } => "output",
        }
    }
}
