//! [`Evaluator`]: every homomorphic operation. It holds the context and a reference to the
//! public [`EvaluationKeys`] only.

use std::sync::Arc;

use rayon::prelude::*;

use crate::ciphertext::{Ciphertext, Plaintext};
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::keys::{EvaluationKeys, GaloisKey, galois_element_conjugate, galois_element_for_step};
use crate::keyswitch::{
    Decomposed, decompose, inner_product, inner_product_mac, key_switch, mod_down,
};
use crate::ring::poly::RnsPoly;

/// Relative tolerance under which two scales count as equal. Scales are tracked exactly, so
/// equal histories give bit-identical scales; the tolerance only absorbs f64 rounding of
/// different but mathematically equal products.
pub const SCALE_TOLERANCE: f64 = 1e-9;

/// A ciphertext decomposed once for many rotations (Halevi–Shoup hoisting).
#[derive(Debug, Clone)]
pub struct HoistedCiphertext {
    c0: RnsPoly,
    dec: Decomposed,
    scale: f64,
}

impl HoistedCiphertext {
    pub fn level(&self) -> usize {
        self.c0.level
    }
}

/// Homomorphic operations under one set of evaluation keys.
#[derive(Debug, Clone)]
pub struct Evaluator<'k> {
    ctx: Arc<Context>,
    keys: &'k EvaluationKeys,
}

impl<'k> Evaluator<'k> {
    pub fn new(ctx: &Arc<Context>, keys: &'k EvaluationKeys) -> Self {
        Self {
            ctx: ctx.clone(),
            keys,
        }
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    fn same_level(a: usize, b: usize) -> Result<()> {
        if a != b {
            return Err(CkksError::LevelMismatch { left: a, right: b });
        }
        Ok(())
    }

    fn same_scale(a: f64, b: f64) -> Result<()> {
        if ((a - b) / a).abs() > SCALE_TOLERANCE {
            return Err(CkksError::ScaleMismatch {
                left_log2: a.log2(),
                right_log2: b.log2(),
            });
        }
        Ok(())
    }

    fn check_pair(a: &Ciphertext, b: &Ciphertext) -> Result<()> {
        Self::same_level(a.level(), b.level())?;
        Self::same_scale(a.scale, b.scale)
    }

    // ---------------------------------------------------------------- additive operations

    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let mut out = a.clone();
        self.add_assign(&mut out, b)?;
        Ok(out)
    }

    pub fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        Self::check_pair(a, b)?;
        for (i, bp) in b.polys.iter().enumerate() {
            if i < a.polys.len() {
                self.ctx.add_assign(&mut a.polys[i], bp);
            } else {
                a.polys.push(bp.clone());
            }
        }
        Ok(())
    }

    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let mut nb = b.clone();
        self.negate_assign(&mut nb);
        self.add(a, &nb)
    }

    pub fn negate(&self, a: &Ciphertext) -> Ciphertext {
        let mut out = a.clone();
        self.negate_assign(&mut out);
        out
    }

    pub fn negate_assign(&self, a: &mut Ciphertext) {
        for p in &mut a.polys {
            self.ctx.neg_assign(p);
        }
    }

    pub fn add_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        Self::same_level(a.level(), pt.level())?;
        Self::same_scale(a.scale, pt.scale)?;
        let mut out = a.clone();
        self.ctx.add_assign(&mut out.polys[0], &pt.poly);
        Ok(out)
    }

    pub fn sub_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        Self::same_level(a.level(), pt.level())?;
        Self::same_scale(a.scale, pt.scale)?;
        let mut out = a.clone();
        self.ctx.sub_assign(&mut out.polys[0], &pt.poly);
        Ok(out)
    }

    /// Adds the real constant `c` to every slot (encoded at the ciphertext's scale).
    pub fn add_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        let consts = self.const_residues(c * a.scale, a.level())?;
        let mut out = a.clone();
        self.ctx.add_scalar_rns(&mut out.polys[0], &consts);
        Ok(out)
    }

    /// Residues of round(v) for every prime up to `level` (exact for any finite magnitude).
    fn const_residues(&self, v: f64, level: usize) -> Result<Vec<u64>> {
        let r = v.round();
        if !r.is_finite() || r.abs() >= 2f64.powi(1000) {
            return Err(CkksError::UnencodableValue { value: v });
        }
        Ok(self.ctx.moduli()[..=level]
            .iter()
            .map(|m| m.reduce_f64(r))
            .collect())
    }

    /// Subtracts the real constant `c` from every slot.
    pub fn sub_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        self.add_const(a, -c)
    }

    // ---------------------------------------------------------- multiplicative operations

    /// Ciphertext × plaintext (scales multiply; rescale afterwards).
    pub fn mul_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        Self::same_level(a.level(), pt.level())?;
        let mut out = a.clone();
        out.polys
            .par_iter_mut()
            .for_each(|p| self.ctx.mul_assign(p, &pt.poly));
        out.scale = a.scale * pt.scale;
        Ok(out)
    }

    /// Multiplies by an integer constant: no level and no scale change.
    pub fn mul_int(&self, a: &Ciphertext, c: i64) -> Ciphertext {
        let consts: Vec<u64> = self.ctx.moduli()[..=a.level()]
            .iter()
            .map(|m| m.reduce_i64(c))
            .collect();
        let mut out = a.clone();
        for p in &mut out.polys {
            self.ctx.mul_scalar_rns(p, &consts);
        }
        out
    }

    /// Multiplies by a real constant encoded at scale `q_level` (the prime the following
    /// rescale drops), so that after [`Self::rescale`] the scale is exactly unchanged.
    /// Integer constants should use [`Self::mul_int`] (no level consumed).
    pub fn mul_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        let level = a.level();
        let q = self.ctx.moduli()[level].value() as f64;
        let consts = self.const_residues(c * q, level)?;
        let mut out = a.clone();
        for p in &mut out.polys {
            self.ctx.mul_scalar_rns(p, &consts);
        }
        out.scale = a.scale * q;
        Ok(out)
    }

    /// Tensor product: a degree-2 ciphertext `(a0b0, a0b1 + a1b0, a1b1)`.
    pub fn mul_no_relin(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        Self::same_level(a.level(), b.level())?;
        for c in [a, b] {
            if c.degree() != 1 {
                return Err(CkksError::CiphertextDegree {
                    expected: 1,
                    got: c.degree(),
                });
            }
        }
        let ctx = &self.ctx;
        let n = ctx.n();
        let level = a.level();
        let len = n * (level + 1);
        let fresh = |data: Vec<u64>| RnsPoly {
            n,
            level,
            special: 0,
            ntt: true,
            data,
        };
        let mut d0 = fresh(ctx.take_buffer(len));
        let mut d1 = fresh(ctx.take_buffer(len));
        let mut d2 = fresh(ctx.take_buffer(len));
        let (a0, a1, b0, b1) = (&a.polys[0], &a.polys[1], &b.polys[0], &b.polys[1]);
        d0.data
            .par_chunks_mut(n)
            .zip(d1.data.par_chunks_mut(n))
            .zip(d2.data.par_chunks_mut(n))
            .enumerate()
            .for_each(|(i, ((x0, x1), x2))| {
                let m = &ctx.moduli()[i];
                let (a0, a1, b0, b1) = (a0.limb(i), a1.limb(i), b0.limb(i), b1.limb(i));
                for k in 0..n {
                    x0[k] = m.mul_fast(a0[k], b0[k]);
                    x1[k] = m
                        .reduce_wide(a0[k] as u128 * b1[k] as u128 + a1[k] as u128 * b0[k] as u128);
                    x2[k] = m.mul_fast(a1[k], b1[k]);
                }
            });
        Ok(Ciphertext {
            polys: vec![d0, d1, d2],
            scale: a.scale * b.scale,
        })
    }

    /// Degree 2 → degree 1 with the relinearization key.
    pub fn relinearize(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.relinearize_owned(a.clone())
    }

    /// [`Self::relinearize`] reusing the input's buffers.
    pub fn relinearize_owned(&self, mut a: Ciphertext) -> Result<Ciphertext> {
        if a.degree() != 2 {
            return Err(CkksError::CiphertextDegree {
                expected: 2,
                got: a.degree(),
            });
        }
        let key = self.keys.relin.as_ref().ok_or(CkksError::MissingRelinKey)?;
        if key.level < a.level() {
            return Err(CkksError::KeyLevelTooLow {
                key_level: key.level,
                level: a.level(),
            });
        }
        let d2 = a.polys.pop().ok_or(CkksError::CiphertextDegree {
            expected: 2,
            got: 0,
        })?;
        let (k0, k1) = key_switch(&self.ctx, &d2, key);
        self.ctx.recycle(d2.data);
        self.ctx.add_assign(&mut a.polys[0], &k0);
        self.ctx.add_assign(&mut a.polys[1], &k1);
        self.ctx.recycle(k0.data);
        self.ctx.recycle(k1.data);
        Ok(a)
    }

    /// Tensor product + relinearization (no rescale).
    pub fn mul_relin(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.relinearize_owned(self.mul_no_relin(a, b)?)
    }

    pub fn square_relin(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.mul_relin(a, a)
    }

    /// Divides by the last prime `q_level` (rounding), dropping one level; the scale is
    /// divided by exactly that prime.
    pub fn rescale(&self, a: &Ciphertext) -> Result<Ciphertext> {
        let level = a.level();
        if level == 0 {
            return Err(CkksError::NoLevelLeft);
        }
        let ctx = &self.ctx;
        let n = ctx.n();
        let q_last = ctx.moduli()[level].value();
        let half = q_last / 2;
        let inv = ctx.rescale_inv(level);
        let polys = a
            .polys
            .par_iter()
            .map(|p| {
                let mut last = p.limb(level).to_vec();
                ctx.ntt_table(level).inverse(&mut last);
                // Output limbs are built in place: centered last limb mod q_i, NTT, then
                // (c_i − t)·q_last^{-1}; no clone of the input, no per-limb temporaries.
                let mut out = RnsPoly::zero(n, level - 1, 0, true);
                out.data.par_chunks_mut(n).enumerate().for_each(|(i, t)| {
                    let m = &ctx.moduli()[i];
                    let qi = m.value();
                    let q_mod = m.reduce(q_last);
                    // one conditional subtraction suffices when q_last < 2·q_i (the usual case)
                    if q_last < 2 * qi {
                        for (o, &v) in t.iter_mut().zip(&last) {
                            let r = v.min(v.wrapping_sub(qi));
                            *o = if v > half { m.sub(r, q_mod) } else { r };
                        }
                    } else {
                        for (o, &v) in t.iter_mut().zip(&last) {
                            let r = m.reduce(v);
                            *o = if v > half { m.sub(r, q_mod) } else { r };
                        }
                    }
                    ctx.ntt_table(i).forward(t);
                    let c = inv[i];
                    for (o, &x) in t.iter_mut().zip(p.limb(i)) {
                        *o = m.mul_shoup(x.wrapping_add(qi - *o), c);
                    }
                });
                out
            })
            .collect();
        Ok(Ciphertext {
            polys,
            scale: a.scale / q_last as f64,
        })
    }

    /// Drops levels without dividing (modulus switching down); the scale is unchanged.
    pub fn drop_to_level(&self, a: &Ciphertext, level: usize) -> Result<Ciphertext> {
        if level > a.level() {
            return Err(CkksError::LevelOutOfRange {
                level,
                max: a.level(),
            });
        }
        let mut out = a.clone();
        for p in &mut out.polys {
            p.truncate_level(level);
        }
        Ok(out)
    }

    /// Drops a plaintext to a lower level.
    pub fn drop_plain_to_level(&self, pt: &Plaintext, level: usize) -> Result<Plaintext> {
        if level > pt.level() {
            return Err(CkksError::LevelOutOfRange {
                level,
                max: pt.level(),
            });
        }
        let mut out = pt.clone();
        out.poly.truncate_level(level);
        Ok(out)
    }

    // ------------------------------------------------------------------------ rotations

    fn galois_key(&self, g: usize, step: i64) -> Result<&GaloisKey> {
        self.keys
            .galois
            .get(&g)
            .ok_or(if g == galois_element_conjugate(&self.ctx) {
                CkksError::MissingConjugationKey
            } else {
                CkksError::MissingRotationKey { step, galois: g }
            })
    }

    /// Decomposes `a` once (INTT + ModUp of c_1) for any number of rotations.
    pub fn hoist(&self, a: &Ciphertext) -> Result<HoistedCiphertext> {
        if a.degree() != 1 {
            return Err(CkksError::CiphertextDegree {
                expected: 1,
                got: a.degree(),
            });
        }
        Ok(HoistedCiphertext {
            c0: a.polys[0].clone(),
            dec: decompose(&self.ctx, &a.polys[1]),
            scale: a.scale,
        })
    }

    fn apply_galois_hoisted(&self, h: &HoistedCiphertext, key: &GaloisKey) -> Result<Ciphertext> {
        if key.key.level < h.level() {
            return Err(CkksError::KeyLevelTooLow {
                key_level: key.key.level,
                level: h.level(),
            });
        }
        let ctx = &self.ctx;
        let (a, b) = inner_product(ctx, &h.dec, &key.key, Some(&key.perm));
        let (mut c0, c1) = rayon::join(|| mod_down(ctx, a), || mod_down(ctx, b));
        // c0 += σ(h.c0), reading h.c0 through the permutation (no permuted copy).
        let n = ctx.n();
        let perm = &key.perm[..];
        c0.data
            .par_chunks_mut(n)
            .zip(h.c0.data.par_chunks(n))
            .enumerate()
            .for_each(|(i, (out, src))| {
                let m = &ctx.moduli()[i];
                for (o, &j) in out.iter_mut().zip(perm) {
                    *o = m.add(*o, src[j as usize]);
                }
            });
        Ok(Ciphertext {
            polys: vec![c0, c1],
            scale: h.scale,
        })
    }

    /// Rotation of a hoisted ciphertext by `step` slots to the left.
    pub fn rotate_hoisted(&self, h: &HoistedCiphertext, step: i64) -> Result<Ciphertext> {
        let g = galois_element_for_step(&self.ctx, step);
        if g == 1 {
            return Ok(Ciphertext {
                polys: vec![h.c0.clone(), self.recompose(h)],
                scale: h.scale,
            });
        }
        let key = self.galois_key(g, step)?;
        self.apply_galois_hoisted(h, key)
    }

    /// The identity rotation of a hoisted ciphertext needs the original c_1 back: the digit
    /// limbs of a digit's own primes are exactly c_1's limbs.
    fn recompose(&self, h: &HoistedCiphertext) -> RnsPoly {
        let n = self.ctx.n();
        let level = h.level();
        let alpha = self.ctx.params().alpha();
        let mut out = RnsPoly::zero(n, level, 0, true);
        for (j, d) in h.dec.digits.iter().enumerate() {
            let lo = j * alpha;
            let hi = ((j + 1) * alpha).min(level + 1);
            out.data[lo * n..hi * n].copy_from_slice(&d.data[lo * n..hi * n]);
        }
        out
    }

    /// `Σ_k pt_k ⊙ rot_{step_k}(ct)` with **double hoisting**: one decomposition (the
    /// hoisted input), one inner product per term, the plaintext products accumulated in the
    /// extended basis Q·P, and a single ModDown for the whole sum — the inner loop of
    /// baby-step/giant-step linear transforms and of matrix–vector products. The plaintexts
    /// must come from [`crate::Encoder::encode_extended`] at the ciphertext's level and share
    /// one scale; the result's scale is the product (rescale afterwards).
    pub fn rotate_sum(
        &self,
        h: &HoistedCiphertext,
        terms: &[(i64, &Plaintext)],
    ) -> Result<Ciphertext> {
        let ctx = &self.ctx;
        let n = ctx.n();
        let level = h.level();
        let k = ctx.num_special();
        let Some((_, first)) = terms.first() else {
            return Err(CkksError::InvalidParams {
                reason: "rotate_sum of no terms".into(),
            });
        };
        for (_, pt) in terms {
            Self::same_level(level, pt.level())?;
            Self::same_scale(first.scale, pt.scale)?;
            if pt.poly.special != k {
                return Err(CkksError::PlaintextBasis {
                    expected: k,
                    got: pt.poly.special,
                });
            }
        }
        let len_qp = n * (level + 1 + k);
        let mut acc0 = RnsPoly::zero(n, level, k, true);
        let mut acc1 = RnsPoly::zero(n, level, k, true);
        let mut c0 = RnsPoly::zero(n, level, 0, true);
        let idx = ctx.prime_indices(level, k);
        // acc += pt ⊙ x over the limbs of x (Q·P or Q only).
        let mac = |acc: &mut RnsPoly, x: &RnsPoly, pt: &RnsPoly, perm: Option<&[u32]>| {
            let limbs = x.num_limbs();
            acc.data[..limbs * n]
                .par_chunks_mut(n)
                .zip(x.data.par_chunks(n))
                .zip(pt.data.par_chunks(n))
                .zip(idx.par_iter())
                .for_each(|(((a, xl), pl), &i)| {
                    let m = &ctx.moduli()[i];
                    match perm {
                        None => {
                            for ((o, &xv), &pv) in a.iter_mut().zip(xl).zip(pl) {
                                *o = m.add(*o, m.mul_fast(xv, pv));
                            }
                        }
                        Some(p) => {
                            for ((o, &j), &pv) in a.iter_mut().zip(p).zip(pl) {
                                *o = m.add(*o, m.mul_fast(xl[j as usize], pv));
                            }
                        }
                    }
                });
        };
        for &(step, pt) in terms {
            let g = galois_element_for_step(ctx, step);
            if g == 1 {
                // Identity: add P·pt·c1 to the extended accumulator (exact after ModDown).
                let mut c1 = self.recompose(h);
                let pm: Vec<u64> = (0..=level).map(|i| ctx.p_mod_q(i)).collect();
                ctx.mul_scalar_rns(&mut c1, &pm);
                mac(&mut acc1, &c1, &pt.poly, None);
                mac(&mut c0, &h.c0, &pt.poly, None);
                continue;
            }
            let key = self.galois_key(g, step)?;
            if key.key.level < level {
                return Err(CkksError::KeyLevelTooLow {
                    key_level: key.key.level,
                    level,
                });
            }
            inner_product_mac(
                ctx,
                &h.dec,
                &key.key,
                Some(&key.perm),
                &pt.poly,
                &mut acc0,
                &mut acc1,
            );
            mac(&mut c0, &h.c0, &pt.poly, Some(&key.perm));
        }
        debug_assert_eq!(acc0.data.len(), len_qp);
        let (mut d0, d1) = rayon::join(|| mod_down(ctx, acc0), || mod_down(ctx, acc1));
        ctx.add_assign(&mut d0, &c0);
        Ok(Ciphertext {
            polys: vec![d0, d1],
            scale: h.scale * first.scale,
        })
    }

    /// Rotation by `step` slots to the left (slot j receives slot j + step).
    pub fn rotate(&self, a: &Ciphertext, step: i64) -> Result<Ciphertext> {
        let g = galois_element_for_step(&self.ctx, step);
        if g == 1 {
            return Ok(a.clone());
        }
        let key = self.galois_key(g, step)?;
        let h = self.hoist(a)?;
        self.apply_galois_hoisted(&h, key)
    }

    /// Several rotations of one ciphertext sharing one decomposition.
    pub fn rotate_many(&self, a: &Ciphertext, steps: &[i64]) -> Result<Vec<Ciphertext>> {
        let h = self.hoist(a)?;
        steps.iter().map(|&s| self.rotate_hoisted(&h, s)).collect()
    }

    /// Complex conjugation of every slot.
    pub fn conjugate(&self, a: &Ciphertext) -> Result<Ciphertext> {
        let g = galois_element_conjugate(&self.ctx);
        let key = self.galois_key(g, 0)?;
        let h = self.hoist(a)?;
        self.apply_galois_hoisted(&h, key)
    }
}
