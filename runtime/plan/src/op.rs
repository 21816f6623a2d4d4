//! The CKKS operations of the HE IR and their effect on depth and scale.
//!
//! `spec/he-ir.md` is the reference table; [`HeOp::describe`] gives the same facts to the printer.

use serde::{Deserialize, Serialize};

use crate::types::{Depth, Kind, Layout, Padding, Rotation, ValueType};

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

/// The type an operation produces from its operands' types, or why the operation is illegal.
pub fn infer(op: &HeOp, operands: &[&ValueType]) -> Result<ValueType, String> {
    if operands.len() != op.arity() {
        return Err(format!(
            "expects {} operands, got {}",
            op.arity(),
            operands.len()
        ));
    }
    let cipher = |t: &ValueType, what: &str| -> Result<(), String> {
        if t.kind == Kind::Cipher {
            Ok(())
        } else {
            Err(format!("{what} must be a ciphertext"))
        }
    };
    let same_shape = |a: &ValueType, b: &ValueType| -> Result<(), String> {
        if a.layout.slots != b.layout.slots {
            return Err(format!(
                "slot counts differ ({} vs {})",
                a.layout.slots, b.layout.slots
            ));
        }
        Ok(())
    };
    let merged = |a: &ValueType, b: &ValueType| -> Layout {
        let mut l = a.layout.clone();
        l.rows = l.rows.max(b.layout.rows);
        l.cols = l.cols.max(b.layout.cols);
        if b.layout.padding == Padding::Garbage {
            l.padding = Padding::Garbage;
        }
        l
    };
    match op {
        HeOp::Input { .. } | HeOp::Const(_) => {
            Err("inputs and constants are created with HeGraph::input/constant".into())
        }
        HeOp::AddCC | HeOp::SubCC => {
            let (a, b) = (operands[0], operands[1]);
            cipher(a, "left operand")?;
            cipher(b, "right operand")?;
            same_shape(a, b)?;
            if a.depth != b.depth {
                return Err(format!("depths differ ({} vs {})", a.depth.0, b.depth.0));
            }
            if a.scale_pow != b.scale_pow {
                return Err(format!(
                    "scales differ (Δ^{} vs Δ^{})",
                    a.scale_pow, b.scale_pow
                ));
            }
            Ok(ValueType {
                degree: a.degree.max(b.degree),
                layout: merged(a, b),
                ..a.clone()
            })
        }
        HeOp::AddCP | HeOp::SubCP => {
            let (a, b) = (operands[0], operands[1]);
            cipher(a, "left operand")?;
            if b.kind != Kind::Plain {
                return Err("right operand must be a plaintext".into());
            }
            same_shape(a, b)?;
            if a.scale_pow != 1 {
                return Err(format!(
                    "plaintext addend is encoded at Δ, ciphertext is at Δ^{}",
                    a.scale_pow
                ));
            }
            Ok(ValueType {
                layout: merged(a, b),
                ..a.clone()
            })
        }
        HeOp::Neg | HeOp::MulInt(_) => {
            cipher(operands[0], "operand")?;
            Ok(operands[0].clone())
        }
        HeOp::AddScalar(_) => {
            cipher(operands[0], "operand")?;
            Ok(ValueType {
                layout: operands[0].layout.clone().with_padding(Padding::Garbage),
                ..operands[0].clone()
            })
        }
        HeOp::MulCC => {
            let (a, b) = (operands[0], operands[1]);
            cipher(a, "left operand")?;
            cipher(b, "right operand")?;
            same_shape(a, b)?;
            if a.degree != 1 || b.degree != 1 {
                return Err("operands must be relinearized before the next product".into());
            }
            if a.depth != b.depth {
                return Err(format!("depths differ ({} vs {})", a.depth.0, b.depth.0));
            }
            Ok(ValueType {
                degree: 2,
                scale_pow: a.scale_pow + b.scale_pow,
                layout: merged(a, b),
                ..a.clone()
            })
        }
        HeOp::MulCP => {
            let (a, b) = (operands[0], operands[1]);
            cipher(a, "left operand")?;
            if b.kind != Kind::Plain {
                return Err("right operand must be a plaintext".into());
            }
            same_shape(a, b)?;
            Ok(ValueType {
                scale_pow: a.scale_pow + 1,
                ..a.clone()
            })
        }
        HeOp::MulScalar(_) | HeOp::MulMomentum => {
            cipher(operands[0], "operand")?;
            Ok(ValueType {
                scale_pow: operands[0].scale_pow + 1,
                ..operands[0].clone()
            })
        }
        HeOp::Relin => {
            let a = operands[0];
            cipher(a, "operand")?;
            if a.degree != 2 {
                return Err("only a degree-2 ciphertext can be relinearized".into());
            }
            Ok(ValueType {
                degree: 1,
                ..a.clone()
            })
        }
        HeOp::Rescale => {
            let a = operands[0];
            cipher(a, "operand")?;
            if a.scale_pow < 2 {
                return Err("rescaling a ciphertext at scale Δ would leave scale ≈ 1".into());
            }
            Ok(ValueType {
                depth: Depth(a.depth.0 + 1),
                scale_pow: a.scale_pow - 1,
                ..a.clone()
            })
        }
        HeOp::LevelDrop { to } => {
            let a = operands[0];
            cipher(a, "operand")?;
            if *to < a.depth.0 {
                return Err(format!(
                    "cannot drop from depth {} up to depth {to}",
                    a.depth.0
                ));
            }
            Ok(ValueType {
                depth: Depth(*to),
                ..a.clone()
            })
        }
        HeOp::Rotate(_) | HeOp::Conjugate => {
            let a = operands[0];
            cipher(a, "operand")?;
            if a.degree != 1 {
                return Err("rotate a relinearized ciphertext".into());
            }
            Ok(ValueType {
                layout: a.layout.clone().with_padding(Padding::Garbage),
                ..a.clone()
            })
        }
        HeOp::Bootstrap => {
            let a = operands[0];
            cipher(a, "operand")?;
            if a.degree != 1 || a.scale_pow != 1 {
                return Err("bootstrap needs a relinearized ciphertext at scale Δ".into());
            }
            Ok(ValueType {
                depth: Depth(0),
                ..a.clone()
            })
        }
        HeOp::Output { .. } => {
            let a = operands[0];
            cipher(a, "operand")?;
            if a.degree != 1 {
                return Err("outputs must be relinearized".into());
            }
            Ok(a.clone())
        }
    }
}
