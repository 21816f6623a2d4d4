//! [`Evaluator`]: every homomorphic operation. It holds the context and a reference to the
//! public [`EvaluationKeys`] only.

use std::sync::Arc;

use rayon::prelude::*;

use crate::ciphertext::{Ciphertext, Plaintext};
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::keys::{EvaluationKeys, GaloisKey, galois_element_conjugate, galois_element_for_step};
use crate::keyswitch::{Decomposed, decompose, inner_product_mac, key_switch_mod_down, mod_down};
use crate::ring::poly::RnsPoly;
use crate::ring::rescale::{CenteredLift, lift_centered, sub_mul_shoup};

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
    /// The context whose buffer pool takes the digits back on drop: the next decomposition
    /// reuses them instead of zeroing 3·(L+1+K) fresh limbs (about 45 MB at N = 2^16).
    ctx: Arc<Context>,
}

impl HoistedCiphertext {
    pub fn level(&self) -> usize {
        self.c0.level
    }
}

impl Drop for HoistedCiphertext {
    fn drop(&mut self) {
        for d in self.dec.digits.drain(..) {
            self.ctx.recycle(d.data);
        }
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
        // Key switch of d2 with (d0, d1) added inside the fused inner product + ModDown.
        let ctx = &self.ctx;
        let dec = decompose(ctx, &d2);
        ctx.recycle(d2.data);
        let (c0, c1) =
            key_switch_mod_down(ctx, &dec, key, None, [Some(&a.polys[0]), Some(&a.polys[1])]);
        for d in dec.digits {
            ctx.recycle(d.data);
        }
        for p in std::mem::replace(&mut a.polys, vec![c0, c1]) {
            ctx.recycle(p.data);
        }
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
        let inv = ctx.rescale_inv(level);
        let polys = a
            .polys
            .par_iter()
            .map(|p| {
                let mut last = p.limb(level).to_vec();
                ctx.ntt_table(level).inverse(&mut last);
                // Output limbs are built in place, one limb at a time while it is in cache:
                // centered last limb mod q_i, NTT, then (c_i − t)·q_last^{-1}; branch-free
                // kernels (`ring::rescale`), one output allocation.
                let mut out = RnsPoly {
                    n,
                    level: level - 1,
                    special: 0,
                    ntt: true,
                    data: vec![0; n * level],
                };
                out.data.par_chunks_mut(n).enumerate().for_each(|(i, t)| {
                    let m = &ctx.moduli()[i];
                    lift_centered(&last, t, &CenteredLift::new(q_last, m));
                    ctx.ntt_table(i).forward(t);
                    sub_mul_shoup(p.limb(i), t, m, inv[i]);
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
        // Copy only the kept limbs (a clone then truncate would copy the dropped ones too).
        Ok(Ciphertext {
            polys: a.polys.iter().map(|p| p.prefix_level(level)).collect(),
            scale: a.scale,
        })
    }

    /// Drops a plaintext to a lower level.
    pub fn drop_plain_to_level(&self, pt: &Plaintext, level: usize) -> Result<Plaintext> {
        if level > pt.level() {
            return Err(CkksError::LevelOutOfRange {
                level,
                max: pt.level(),
            });
        }
        Ok(Plaintext {
            poly: pt.poly.prefix_level(level),
            scale: pt.scale,
        })
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
            ctx: self.ctx.clone(),
        })
    }

    fn apply_galois_hoisted(&self, h: &HoistedCiphertext, key: &GaloisKey) -> Result<Ciphertext> {
        if key.key.level < h.level() {
            return Err(CkksError::KeyLevelTooLow {
                key_level: key.key.level,
                level: h.level(),
            });
        }
        // Inner product, ModDown and c0 += σ(h.c0) in one fused pass over each limb.
        let (c0, c1) = key_switch_mod_down(
            &self.ctx,
            &h.dec,
            &key.key,
            Some(&key.perm),
            [Some(&h.c0), None],
        );
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
                            crate::ring::automorphism::prefetch_limb(xl);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use crate::ring::rescale::divide_round_naive;
    use crate::sampling::CkksRng;

    /// The fused, branch-free rescale equals the obvious one bit for bit: coefficients of
    /// `(c_i − [c_ℓ]_centered)·q_ℓ^{-1} mod q_i` with `%`; and, over the integers, for two
    /// limbs, exactly `(x − [x]_{q_1})/q_1` of the CRT value `x ∈ (−Q/2, Q/2]`.
    #[test]
    fn rescale_equals_the_obvious_rescale() {
        let params =
            Params::insecure_toy_for_tests(10, 60, 45, 4, 2).unwrap_or_else(|e| panic!("{e}"));
        let ctx = Context::new(params).unwrap_or_else(|e| panic!("{e}"));
        let keys = EvaluationKeys::default();
        let ev = Evaluator::new(&ctx, &keys);
        let n = ctx.n();
        let mut rng = CkksRng::insecure_from_seed_for_tests(4);
        for level in [4usize, 2, 1] {
            let polys: Vec<RnsPoly> = (0..2)
                .map(|_| {
                    let mut p = RnsPoly::zero(n, level, 0, true);
                    for (i, limb) in p.limbs_mut().enumerate() {
                        let q = ctx.moduli()[i].value();
                        for x in limb.iter_mut() {
                            *x = rng.next_u64() % q;
                        }
                    }
                    p
                })
                .collect();
            let ct = Ciphertext {
                polys: polys.clone(),
                scale: 2f64.powi(45),
            };
            let out = ev.rescale(&ct).unwrap_or_else(|e| panic!("{e}"));
            let q_last = ctx.moduli()[level].value();
            for (p, o) in polys.iter().zip(&out.polys) {
                assert_eq!(o.level, level - 1);
                let mut pc = p.clone();
                ctx.to_coeff(&mut pc);
                let mut oc = o.clone();
                ctx.to_coeff(&mut oc);
                for i in 0..level {
                    let m = &ctx.moduli()[i];
                    let want = divide_round_naive(pc.limb(i), pc.limb(level), q_last, m);
                    assert_eq!(oc.limb(i), &want[..], "level {level}, limb {i}");
                }
                if level == 1 {
                    let (q0, q1) = (ctx.moduli()[0].value() as i128, q_last as i128);
                    let big_q = q0 * q1;
                    let inv_q0_mod_q1 = ctx.moduli()[1].inv(q0 as u64 % q_last) as i128;
                    for k in 0..n {
                        let (x0, x1) = (pc.limb(0)[k] as i128, pc.limb(1)[k] as i128);
                        // CRT: x = x0 + q0·((x1 − x0)·q0^{-1} mod q1), centered.
                        let mut x = x0 + q0 * ((x1 - x0).rem_euclid(q1) * inv_q0_mod_q1 % q1);
                        if x > big_q / 2 {
                            x -= big_q;
                        }
                        let mut r = x.rem_euclid(q1);
                        if r > q1 / 2 {
                            r -= q1;
                        }
                        let want = ((x - r) / q1).rem_euclid(q0);
                        assert_eq!(oc.limb(0)[k] as i128, want, "exact division, k = {k}");
                    }
                }
            }
        }
    }
}
