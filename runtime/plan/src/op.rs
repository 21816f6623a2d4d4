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

/// Which operand of an operation a type error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperandPos {
    /// The only operand of a unary operation.
    Sole,
    /// The first operand of a binary operation.
    Left,
    /// The second operand of a binary operation.
    Right,
}

impl std::fmt::Display for OperandPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OperandPos::Sole => "operand",
            OperandPos::Left => "left operand",
            OperandPos::Right => "right operand",
        })
    }
}

/// Why an operation cannot be applied to operands of these types: the one type rule's verdict,
/// shared by the compiler's builder and validator and by the plan loader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InferError {
    #[error("expects {expected} operands, got {got}")]
    Arity { expected: usize, got: usize },
    #[error("inputs and constants are created with HeGraph::input/constant")]
    Source,
    #[error("{operand} must be a ciphertext")]
    NotCiphertext { operand: OperandPos },
    #[error("{operand} must be a plaintext")]
    NotPlaintext { operand: OperandPos },
    #[error("slot counts differ ({left} vs {right})")]
    ShapeMismatch { left: usize, right: usize },
    #[error("depths differ ({left} vs {right})")]
    DepthMismatch { left: u32, right: u32 },
    #[error("scales differ (Δ^{left} vs Δ^{right})")]
    ScaleMismatch { left: u32, right: u32 },
    #[error("plaintext addend is encoded at Δ, ciphertext is at Δ^{scale_pow}")]
    PlainAddendScale { scale_pow: u32 },
    #[error("operands must be relinearized before the next product (degrees {left} and {right})")]
    ProductNotRelinearized { left: u8, right: u8 },
    #[error("only a degree-2 ciphertext can be relinearized (this one has degree {degree})")]
    RelinDegree { degree: u8 },
    #[error("rescaling a ciphertext at scale Δ^{scale_pow} would leave scale ≈ 1")]
    RescaleAtBaseScale { scale_pow: u32 },
    #[error("cannot drop from depth {from} up to depth {to}")]
    LevelDropUpward { from: u32, to: u32 },
    #[error("rotate a relinearized ciphertext (this one has degree {degree})")]
    RotateNotRelinearized { degree: u8 },
    #[error(
        "bootstrap needs a relinearized ciphertext at scale Δ (this one has degree {degree}, scale Δ^{scale_pow})"
    )]
    BootstrapInput { degree: u8, scale_pow: u32 },
    #[error("outputs must be relinearized (this one has degree {degree})")]
    OutputNotRelinearized { degree: u8 },
    #[error("the stated layout has {stated} slots, the value has {inferred}")]
    LayoutSlots { stated: usize, inferred: usize },
    #[error("the stated layout has row stride {stated}, the value has {inferred}")]
    LayoutStride { stated: usize, inferred: usize },
}

/// The type an operation produces from its operands' types, or why the operation is illegal.
pub fn infer(op: &HeOp, operands: &[&ValueType]) -> Result<ValueType, InferError> {
    if operands.len() != op.arity() {
        return Err(InferError::Arity {
            expected: op.arity(),
            got: operands.len(),
        });
    }
    match (op, operands) {
        (HeOp::Input { .. } | HeOp::Const(_), _) => Err(InferError::Source),
        (_, [a, b]) => infer_binary(op, a, b),
        (_, [a]) => infer_unary(op, a),
        _ => Err(InferError::Arity {
            expected: op.arity(),
            got: operands.len(),
        }),
    }
}

fn cipher(t: &ValueType, operand: OperandPos) -> Result<(), InferError> {
    if t.kind == Kind::Cipher {
        Ok(())
    } else {
        Err(InferError::NotCiphertext { operand })
    }
}

fn plain(t: &ValueType) -> Result<(), InferError> {
    if t.kind == Kind::Plain {
        Ok(())
    } else {
        Err(InferError::NotPlaintext {
            operand: OperandPos::Right,
        })
    }
}

fn same_shape(a: &ValueType, b: &ValueType) -> Result<(), InferError> {
    if a.layout.slots != b.layout.slots {
        return Err(InferError::ShapeMismatch {
            left: a.layout.slots,
            right: b.layout.slots,
        });
    }
    Ok(())
}

fn same_depth(a: &ValueType, b: &ValueType) -> Result<(), InferError> {
    if a.depth != b.depth {
        return Err(InferError::DepthMismatch {
            left: a.depth.0,
            right: b.depth.0,
        });
    }
    Ok(())
}

/// The layout of an elementwise combination: the larger logical block, garbage if either is.
fn merged(a: &ValueType, b: &ValueType) -> Layout {
    let mut l = a.layout.clone();
    l.rows = l.rows.max(b.layout.rows);
    l.cols = l.cols.max(b.layout.cols);
    if b.layout.padding == Padding::Garbage {
        l.padding = Padding::Garbage;
    }
    l
}

/// [`infer`] for the two-operand operations.
fn infer_binary(op: &HeOp, a: &ValueType, b: &ValueType) -> Result<ValueType, InferError> {
    cipher(a, OperandPos::Left)?;
    match op {
        HeOp::AddCC | HeOp::SubCC => {
            cipher(b, OperandPos::Right)?;
            same_shape(a, b)?;
            same_depth(a, b)?;
            if a.scale_pow != b.scale_pow {
                return Err(InferError::ScaleMismatch {
                    left: a.scale_pow,
                    right: b.scale_pow,
                });
            }
            Ok(ValueType {
                degree: a.degree.max(b.degree),
                layout: merged(a, b),
                ..a.clone()
            })
        }
        HeOp::AddCP | HeOp::SubCP => {
            plain(b)?;
            same_shape(a, b)?;
            if a.scale_pow != 1 {
                return Err(InferError::PlainAddendScale {
                    scale_pow: a.scale_pow,
                });
            }
            Ok(ValueType {
                layout: merged(a, b),
                ..a.clone()
            })
        }
        HeOp::MulCC => {
            cipher(b, OperandPos::Right)?;
            same_shape(a, b)?;
            if a.degree != 1 || b.degree != 1 {
                return Err(InferError::ProductNotRelinearized {
                    left: a.degree,
                    right: b.degree,
                });
            }
            same_depth(a, b)?;
            Ok(ValueType {
                degree: 2,
                scale_pow: a.scale_pow + b.scale_pow,
                layout: merged(a, b),
                ..a.clone()
            })
        }
        HeOp::MulCP => {
            plain(b)?;
            same_shape(a, b)?;
            Ok(ValueType {
                scale_pow: a.scale_pow + 1,
                ..a.clone()
            })
        }
        _ => Err(InferError::Arity {
            expected: op.arity(),
            got: 2,
        }),
    }
}

/// [`infer`] for the one-operand operations.
fn infer_unary(op: &HeOp, a: &ValueType) -> Result<ValueType, InferError> {
    cipher(a, OperandPos::Sole)?;
    let garbage = || ValueType {
        layout: a.layout.clone().with_padding(Padding::Garbage),
        ..a.clone()
    };
    match op {
        HeOp::Neg | HeOp::MulInt(_) => Ok(a.clone()),
        HeOp::AddScalar(_) => Ok(garbage()),
        HeOp::MulScalar(_) | HeOp::MulMomentum => Ok(ValueType {
            scale_pow: a.scale_pow + 1,
            ..a.clone()
        }),
        HeOp::Relin => {
            if a.degree != 2 {
                return Err(InferError::RelinDegree { degree: a.degree });
            }
            Ok(ValueType {
                degree: 1,
                ..a.clone()
            })
        }
        HeOp::Rescale => {
            if a.scale_pow < 2 {
                return Err(InferError::RescaleAtBaseScale {
                    scale_pow: a.scale_pow,
                });
            }
            Ok(ValueType {
                depth: Depth(a.depth.0 + 1),
                scale_pow: a.scale_pow - 1,
                ..a.clone()
            })
        }
        HeOp::LevelDrop { to } => {
            if *to < a.depth.0 {
                return Err(InferError::LevelDropUpward {
                    from: a.depth.0,
                    to: *to,
                });
            }
            Ok(ValueType {
                depth: Depth(*to),
                ..a.clone()
            })
        }
        HeOp::Rotate(_) | HeOp::Conjugate => {
            if a.degree != 1 {
                return Err(InferError::RotateNotRelinearized { degree: a.degree });
            }
            Ok(garbage())
        }
        HeOp::Bootstrap => {
            if a.degree != 1 || a.scale_pow != 1 {
                return Err(InferError::BootstrapInput {
                    degree: a.degree,
                    scale_pow: a.scale_pow,
                });
            }
            Ok(ValueType {
                depth: Depth(0),
                ..a.clone()
            })
        }
        HeOp::Output { .. } => {
            if a.degree != 1 {
                return Err(InferError::OutputNotRelinearized { degree: a.degree });
            }
            Ok(a.clone())
        }
        _ => Err(InferError::Arity {
            expected: op.arity(),
            got: 1,
        }),
    }
}

/// Whether `stated` may stand for a value whose inferred layout is `inferred`: a kernel may
/// re-describe what the slots hold (packing, rows, columns, first row, padding: what its masks and
/// sums make true, which its tests prove on the slot simulator), but the ciphertext's slot count
/// and row stride are the operation's. The builder applies this when a kernel states a result's
/// layout; the validators apply it to every recorded layout.
pub fn check_stated(inferred: &Layout, stated: &Layout) -> Result<(), InferError> {
    if stated.slots != inferred.slots {
        return Err(InferError::LayoutSlots {
            stated: stated.slots,
            inferred: inferred.slots,
        });
    }
    if stated.stride != inferred.stride {
        return Err(InferError::LayoutStride {
            stated: stated.stride,
            inferred: inferred.stride,
        });
    }
    Ok(())
}

/// The type of `op` on `operands` with the layout its builder states ([`infer`], then
/// [`check_stated`]): depth, scale, degree and kind are always inferred.
pub fn infer_stated(
    op: &HeOp,
    operands: &[&ValueType],
    stated: &Layout,
) -> Result<ValueType, InferError> {
    let ty = infer(op, operands)?;
    check_stated(&ty.layout, stated)?;
    Ok(ValueType {
        layout: stated.clone(),
        ..ty
    })
}
