//! Homomorphic evaluation of Chebyshev series with exact scale management.
//!
//! Additions need equal scales, but products and rescales by primes that are only close to Δ
//! make every power's scale slightly different. Instead of tolerating the mismatch, each
//! constant multiplication is encoded for a *target* scale: multiplying by
//! `round(c·target·q_ℓ / scale)` and rescaling by `q_ℓ` leaves exactly `c·x` at scale `target`
//! (one level). So every addition is exact and no precision is lost to scale drift.
//!
//! The basis `T_1 … T_d` is built with `T_{2p} = 2T_p² − 1` and, for `p < k < 2p`,
//! `T_k = 2·T_p·T_{k−p} − T_{2p−k}`, so `T_k` sits at depth `⌈log2 k⌉`.
//! [`evaluate_chebyshev`] uses baby-step/giant-step (Paterson–Stockmeyer in the Chebyshev
//! basis, Bossuat et al. EC21): `O(√d)` products and depth `⌈log2(d + 1)⌉`;
//! [`evaluate_chebyshev_full`] (every `T_k`, `d − 1` products, depth `⌈log2 d⌉ + 1`) is the
//! simple reference.

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

/// `2·a·b − c` with one rescale: `c` (at a level ≥ the product's) is brought to the
/// product's scale `S = s_a·s_b` before the rescale by an *integer* multiplier
/// `round(S/s_c)` (free, exact up to a relative `2^-61` that the scale then absorbs), instead
/// of a constant multiplication and a rescale of its own. Falls back to [`align`] when the
/// ratio does not fit an `i64`.
fn double_product_minus(
    ev: &Evaluator<'_>,
    a: &Ciphertext,
    b: &Ciphertext,
    c: &Ciphertext,
) -> Result<Ciphertext> {
    let level = a.level().min(b.level());
    let ratio = a.scale() * b.scale() / c.scale();
    if c.level() < level || !(1.0..=2f64.powi(62)).contains(&ratio) {
        let prod = double_product(ev, a, b)?;
        let low = align(ev, c, prod.level(), prod.scale())?;
        return ev.sub(&prod, &low);
    }
    let (a, b) = (ev.drop_to_level(a, level)?, ev.drop_to_level(b, level)?);
    let prod = ev.mul_int(&ev.mul_relin(&a, &b)?, 2);
    let mut low = ev.mul_int(&ev.drop_to_level(c, level)?, ratio.round() as i64);
    low.set_scale(prod.scale());
    ev.rescale(&ev.sub(&prod, &low)?)
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
            double_product_minus(ev, &t[p - 1], &t[k - p - 1], &t[2 * p - k - 1])?
        };
        t.push(next);
    }
    Ok(t)
}

/// `Σ_k c_k T_k(u)` with the full basis `T_1 … T_d` (`d − 1` non-scalar products, depth
/// `⌈log2 d⌉ + 1`): the simple reference for [`evaluate_chebyshev`]. The result has scale
/// exactly `target`.
pub fn evaluate_chebyshev_full(
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

/// `⌈log2 k⌉`: the depth of `T_k` in [`chebyshev_basis`].
fn depth_of_t(k: usize) -> usize {
    if k <= 1 {
        0
    } else {
        (usize::BITS - (k - 1).leading_zeros()) as usize
    }
}

/// The baby-step count `m` (a power of two) for degree `d`: `≈ sqrt(d + 1)`, at least 2.
pub fn bsgs_baby(degree: usize) -> usize {
    let target = ((degree + 1) as f64).sqrt();
    let m = target.log2().round().max(1.0).exp2() as usize;
    m.max(2)
}

/// Splits `Σ c_i T_i` (degree ≥ `k`) as `q·T_k + r` (deg r < k), using
/// `T_{k+j} = 2·T_k·T_j − T_{k−j}`.
fn split_at(c: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut r = c[..k].to_vec();
    let mut q = vec![0.0; c.len() - k];
    q[0] = c[k];
    for j in 1..c.len() - k {
        q[j] = 2.0 * c[k + j];
        r[k - j] -= c[k + j];
    }
    (q, r)
}

/// The largest giant step `m·2^j ≤ degree` (None below `m`).
fn giant_for(degree: usize, m: usize) -> Option<usize> {
    if degree < m {
        return None;
    }
    let mut k = m;
    while 2 * k <= degree {
        k *= 2;
    }
    Some(k)
}

/// Depth (levels below `u`) of the BSGS evaluation of `c`; `None` for a constant.
fn bsgs_depth(c: &[f64], m: usize) -> Option<usize> {
    let degree = c.len().saturating_sub(1);
    match giant_for(degree, m) {
        None => (degree >= 1).then(|| depth_of_t(degree) + 1),
        Some(k) => {
            let (q, r) = split_at(c, k);
            let prod = bsgs_depth(&q, m).unwrap_or(0).max(depth_of_t(k)) + 1;
            Some(bsgs_depth(&r, m).map_or(prod, |d| d.max(prod)))
        }
    }
}

/// Multiplicative depth of [`evaluate_chebyshev`] for `series` (`⌈log2(d + 1)⌉` for the
/// dense series EvalMod uses).
pub fn chebyshev_depth(series: &ChebyshevSeries) -> usize {
    let c = series.coeffs();
    bsgs_depth(c, bsgs_baby(series.degree())).unwrap_or(0)
}

/// A polynomial value during the BSGS evaluation.
enum Val {
    Const(f64),
    Ct(Ciphertext),
}

struct Bsgs<'a, 'k> {
    ev: &'a Evaluator<'k>,
    /// `T_1 … T_{m−1}` (index `i − 1`).
    baby: Vec<Ciphertext>,
    /// `(k, T_k)` for `k = m, 2m, 4m, …`.
    giants: Vec<(usize, Ciphertext)>,
    m: usize,
    top: usize,
}

impl Bsgs<'_, '_> {
    fn level_at(&self, depth: usize) -> Result<usize> {
        self.top.checked_sub(depth).ok_or(CkksError::NoLevelLeft)
    }

    /// `Σ c_i T_i(u)` with scale exactly `target`, at level `top − bsgs_depth(c)`.
    fn eval(&self, c: &[f64], target: f64) -> Result<Val> {
        let ev = self.ev;
        let degree = c.len().saturating_sub(1);
        let Some(k) = giant_for(degree, self.m) else {
            if degree == 0 {
                return Ok(Val::Const(c.first().copied().unwrap_or(0.0)));
            }
            // Leaf: all terms at the level of the deepest T_i, one shared rescale.
            let level = self.level_at(depth_of_t(degree))?;
            let mut acc: Option<Ciphertext> = None;
            for (t, &ci) in self.baby.iter().zip(&c[1..]) {
                let term = mul_const_for_scale(ev, &ev.drop_to_level(t, level)?, ci, target)?;
                match acc.as_mut() {
                    None => acc = Some(term),
                    Some(a) => ev.add_assign(a, &term)?,
                }
            }
            let acc = acc.ok_or(CkksError::NoLevelLeft)?;
            let mut out = ev.rescale(&acc)?;
            out.set_scale(target);
            return Ok(Val::Ct(ev.add_const(&out, c[0])?));
        };
        let (q, r) = split_at(c, k);
        let tk = &self
            .giants
            .iter()
            .find(|(g, _)| *g == k)
            .ok_or(CkksError::NoLevelLeft)?
            .1;
        let q_depth = bsgs_depth(&q, self.m).unwrap_or(0);
        let mul_level = self.level_at(q_depth.max(depth_of_t(k)))?;
        let tk_at = ev.drop_to_level(tk, mul_level)?;
        let prime = prime(ev, mul_level)?;
        let mut prod = match self.eval(&q, target * prime / tk_at.scale())? {
            Val::Const(cq) => ev.rescale(&mul_const_for_scale(ev, &tk_at, cq, target)?)?,
            Val::Ct(qc) => {
                let qc = ev.drop_to_level(&qc, mul_level)?;
                ev.rescale(&ev.mul_relin(&qc, &tk_at)?)?
            }
        };
        prod.set_scale(target);
        match self.eval(&r, target)? {
            Val::Const(cr) => Ok(Val::Ct(ev.add_const(&prod, cr)?)),
            Val::Ct(rc) => {
                let level = prod.level().min(rc.level());
                let mut out = ev.drop_to_level(&prod, level)?;
                ev.add_assign(&mut out, &ev.drop_to_level(&rc, level)?)?;
                Ok(Val::Ct(out))
            }
        }
    }
}

/// `Σ_k c_k T_k(u)` for the encrypted `u` (already mapped to `[−1, 1]`; fold the series'
/// affine change of variable into the previous linear step), by baby-step/giant-step
/// (Paterson–Stockmeyer in the Chebyshev basis): baby powers `T_1 … T_{m−1}` (`m ≈ √d`),
/// giant powers `T_m, T_{2m}, T_{4m}, …`, and the recursive split `p = q·T_k + r`. About
/// `m + log2(d/m) + d/m` non-scalar products instead of `d − 1`, and depth
/// [`chebyshev_depth`] (`⌈log2(d + 1)⌉` for dense series: one level less than the full
/// basis). Scales stay exact: each quotient `q` is evaluated for the scale that makes
/// `q·T_k` land on `target` after its rescale, so the result has scale exactly `target`.
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
    let m = bsgs_baby(degree);
    let depth = bsgs_depth(coeffs, m).unwrap_or(0);
    if u.level() < depth {
        return Err(CkksError::NoLevelLeft);
    }
    let baby = chebyshev_basis(ev, u, (m - 1).min(degree))?;
    let mut giants: Vec<(usize, Ciphertext)> = Vec::new();
    if degree >= m {
        // T_m = 2·T_{m/2}² − 1 (m ≥ 2 is a power of two; T_1 = u when m = 2).
        let half = &baby[m / 2 - 1];
        let mut k = m;
        let mut t = ev.sub_const(&double_product(ev, half, half)?, 1.0)?;
        loop {
            giants.push((k, t.clone()));
            if 2 * k > degree {
                break;
            }
            t = ev.sub_const(&double_product(ev, &t, &t)?, 1.0)?;
            k *= 2;
        }
    }
    let b = Bsgs {
        ev,
        baby,
        giants,
        m,
        top: u.level(),
    };
    match b.eval(coeffs, target)? {
        Val::Ct(mut out) => {
            out.set_scale(target);
            Ok(out)
        }
        Val::Const(_) => Err(CkksError::InvalidParams {
            reason: "a constant series needs no homomorphic evaluation".into(),
        }),
    }
}
