//! Depth-optimal polynomial evaluation (activations σ̃ and σ̃′).
//!
//! p(x) of degree d is split as p = q·x^(2^j) + r with 2^j the largest power of two ≤ d, recursively;
//! the powers x^(2^j) come from repeated squaring and are shared. Constants are folded where they cost
//! nothing: a constant quotient multiplies the power directly (one scalar product instead of a
//! ciphertext product), and constant remainders are added as scalars (no level). The result sits at
//! depth ⌈log2(d + 1)⌉ above x, the minimum for a degree-d polynomial. The number of ciphertext
//! products is not minimal (Paterson–Stockmeyer would use fewer for large d); activations here have
//! degree ≤ 15, where depth is what matters.

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::op::HeOp;

/// Coefficients below this magnitude are treated as zero (they would only add noise).
const NEGLIGIBLE: f64 = 1e-300;

enum Term {
    Const(f64),
    Ct(ValueId),
}

/// Evaluate `Σ coeffs[k]·x^k` (monomial basis, lowest degree first) on the ciphertext `x`.
pub fn poly_eval(g: &mut HeGraph, x: ValueId, coeffs: &[f64]) -> Result<ValueId, IrError> {
    let mut powers = vec![x];
    match eval(g, &mut powers, coeffs)? {
        Term::Ct(v) => Ok(v),
        // A constant polynomial: 0·x + c keeps the result a ciphertext of the same shape.
        Term::Const(c) => {
            let zero = g.op(HeOp::MulInt(0), &[x])?;
            g.op(HeOp::AddScalar(c), &[zero])
        }
    }
}

/// The depth [`poly_eval`] uses for a polynomial of this degree.
pub fn poly_depth(degree: usize) -> u32 {
    if degree == 0 {
        0
    } else {
        (degree + 1).next_power_of_two().trailing_zeros()
    }
}

fn degree(coeffs: &[f64]) -> usize {
    coeffs
        .iter()
        .rposition(|c| c.abs() > NEGLIGIBLE)
        .unwrap_or(0)
}

/// x^(2^j), squaring as needed.
fn power(g: &mut HeGraph, powers: &mut Vec<ValueId>, j: usize) -> Result<ValueId, IrError> {
    while powers.len() <= j {
        let last = powers[powers.len() - 1];
        let sq = g.mul(last, last)?;
        powers.push(sq);
    }
    Ok(powers[j])
}

fn eval(g: &mut HeGraph, powers: &mut Vec<ValueId>, coeffs: &[f64]) -> Result<Term, IrError> {
    let d = degree(coeffs);
    let c0 = coeffs.first().copied().unwrap_or(0.0);
    if d == 0 {
        return Ok(Term::Const(c0));
    }
    if d == 1 {
        let x = powers[0];
        let lin = if coeffs[1] == 1.0 {
            x
        } else {
            g.mul_scalar(x, coeffs[1])?
        };
        return Ok(Term::Ct(add_const(g, lin, c0)?));
    }
    let j = usize::BITS as usize - 1 - d.leading_zeros() as usize; // floor(log2 d)
    let split = 1usize << j;
    let q = eval(g, powers, &coeffs[split..=d])?;
    let r = eval(g, powers, &coeffs[..split])?;
    let xp = power(g, powers, j)?;
    let hi = match q {
        Term::Const(k) => g.mul_scalar(xp, k)?,
        Term::Ct(q) => g.mul(q, xp)?,
    };
    Ok(Term::Ct(match r {
        Term::Const(k) => add_const(g, hi, k)?,
        Term::Ct(r) => g.add(hi, r)?,
    }))
}

fn add_const(g: &mut HeGraph, v: ValueId, c: f64) -> Result<ValueId, IrError> {
    if c == 0.0 {
        Ok(v)
    } else {
        g.op(HeOp::AddScalar(c), &[v])
    }
}

/// σ̃′ from the activation output: A ⊙ (1 − A) (one level; exact only for the true sigmoid).
pub fn sigmoid_derivative_from_output(g: &mut HeGraph, a: ValueId) -> Result<ValueId, IrError> {
    let neg = g.op(HeOp::Neg, &[a])?;
    let one_minus = g.op(HeOp::AddScalar(1.0), &[neg])?;
    g.mul(a, one_minus)
}
