//! Homomorphic evaluation of Chebyshev series with exact scale management.
//!
//! Additions need equal scales, but products and rescales by primes that are only close to Δ
//! make every power's scale slightly different. Instead of tolerating the mismatch, each
//! constant multiplication is encoded for a *target* scale: multiplying by
//! `round(c·target·q_ℓ / scale)` and rescaling by `q_ℓ` leaves exactly `c·x` at scale `target`
//! (one level). So every addition is exact and no precision is lost to scale drift.
//!
//! The basis `T_1 … T_d` is built with `T_{2p} = 2T_p² − 1` and, for `p < k < 2p`,
//! `T_k = 2·T_p·T_{k−p} − T_{2p−k}`, so `T_k` sits at depth `⌈log2 k⌉`; the weighted sum
//! takes one more level. Total depth `⌈log2 d⌉ + 1` with `d − 1` non-scalar products: simple
//! and depth-efficient, but the product count grows linearly in `d` (Paterson–Stockmeyer /
//! BSGS in the Chebyshev basis, `O(√d)` products and depth `⌈log2(d+1)⌉`, is future work).

use crate::ciphertext::Ciphertext;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;

use super::evalmod::ChebyshevSeries;

fn prime(ev: &Evaluator<'_>, level: usize) -> Result<f64> {
    ev.context()
        .params()
        .q()
        .get(level)
        .map(|&q| q as f64)
        .ok_or(CkksError::LevelOutOfRange {
            level,
            max: ev.context().max_level(),
        })
}

/// `c·x` prepared so that after one rescale its scale is exactly `target` (the returned
/// ciphertext carries scale `target·q_level`, ready to be summed with others like it).
pub fn mul_const_for_scale(
    ev: &Evaluator<'_>,
    ct: &Ciphertext,
    c: f64,
    target: f64,
) -> Result<Ciphertext> {
    let q = prime(ev, ct.level())?;
    let mut out = ev.mul_const(ct, c * target / ct.scale())?;
    out.set_scale(target * q);
    Ok(out)
}

/// Equal up to f64 rounding only. The evaluator's [`crate::eval::SCALE_TOLERANCE`] (1e-9) is far too
/// loose here: primes ≡ 1 mod 2N near 2^58 differ by ~1e-12 relative, so scales built from
/// different prime products are "equal" within 1e-9 yet adding them as if equal is a
/// systematic 2^-38 relative error (measured: it capped EvalMod at 2^-33).
fn same_scale(a: f64, b: f64) -> bool {
    ((a - b) / a).abs() <= 16.0 * f64::EPSILON
}

/// Brings `ct` to `level` with scale exactly `scale`: a level drop if the scale already
/// matches, otherwise a multiplication by 1 re-encoded for `scale` (needs `ct.level() > level`).
pub fn align(ev: &Evaluator<'_>, ct: &Ciphertext, level: usize, scale: f64) -> Result<Ciphertext> {
    if ct.level() < level {
        return Err(CkksError::LevelMismatch {
            left: ct.level(),
            right: level,
        });
    }
    if same_scale(ct.scale(), scale) {
        let mut out = ev.drop_to_level(ct, level)?;
        out.set_scale(scale);
        return Ok(out);
    }
    if ct.level() == level {
        return Err(CkksError::ScaleMismatch {
            left_log2: ct.scale().log2(),
            right_log2: scale.log2(),
        });
    }
    let dropped = ev.drop_to_level(ct, level + 1)?;
    let mut out = ev.rescale(&mul_const_for_scale(ev, &dropped, 1.0, scale)?)?;
    out.set_scale(scale);
    Ok(out)
}

/// `2·a·b` (relinearized, rescaled) at the lower of the two levels.
pub(crate) fn double_product(
    ev: &Evaluator<'_>,
    a: &Ciphertext,
    b: &Ciphertext,
) -> Result<Ciphertext> {
    let level = a.level().min(b.level());
    let (a, b) = (ev.drop_to_level(a, level)?, ev.drop_to_level(b, level)?);
    let prod = ev.mul_relin(&a, &b)?;
    ev.rescale(&ev.mul_int(&prod, 2))
}

/// `T_1 … T_degree` of the encrypted `u` (index `k − 1` holds `T_k`; `T_k` at depth
/// `⌈log2 k⌉` below `u`).
pub fn chebyshev_basis(
    ev: &Evaluator<'_>,
    u: &Ciphertext,
    degree: usize,
) -> Result<Vec<Ciphertext>> {
    let mut t: Vec<Ciphertext> = Vec::with_capacity(degree);
    if degree == 0 {
        return Ok(t);
    }
    t.push(u.clone());
    for k in 2..=degree {
        let next = if k.is_power_of_two() {
            let half = &t[k / 2 - 1];
            ev.sub_const(&double_product(ev, half, half)?, 1.0)?
        } else {
            let p = 1usize << (usize::BITS - 1 - k.leading_zeros());
            let prod = double_product(ev, &t[p - 1], &t[k - p - 1])?;
            let low = align(ev, &t[2 * p - k - 1], prod.level(), prod.scale())?;
            ev.sub(&prod, &low)?
        };
        t.push(next);
    }
    Ok(t)
}

/// `Σ_k c_k T_k(u)` for the encrypted `u` (already mapped to `[−1, 1]`; fold the series'
/// affine change of variable into the previous linear step). The result has scale exactly
/// `target` and sits `⌈log2 d⌉ + 1` levels below `u`.
pub fn evaluate_chebyshev(
    ev: &Evaluator<'_>,
    u: &Ciphertext,
    series: &ChebyshevSeries,
    target: f64,
) -> Result<Ciphertext> {
    let coeffs = series.coeffs();
    let degree = series.degree();
    if degree == 0 {
        return Err(CkksError::InvalidParams {
            reason: "a constant series needs no homomorphic evaluation".into(),
        });
    }
    let basis = chebyshev_basis(ev, u, degree)?;
    let level = basis
        .iter()
        .map(Ciphertext::level)
        .min()
        .ok_or(CkksError::NoLevelLeft)?;
    if level == 0 {
        return Err(CkksError::NoLevelLeft);
    }
    let mut acc: Option<Ciphertext> = None;
    for (tk, &c) in basis.iter().zip(&coeffs[1..]) {
        let term = mul_const_for_scale(ev, &ev.drop_to_level(tk, level)?, c, target)?;
        match acc.as_mut() {
            None => acc = Some(term),
            Some(a) => ev.add_assign(a, &term)?,
        }
    }
    let acc = acc.ok_or(CkksError::NoLevelLeft)?;
    let mut out = ev.rescale(&acc)?;
    out.set_scale(target);
    ev.add_const(&out, coeffs[0])
}
