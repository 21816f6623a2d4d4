//! [`Encoder`]: complex/real slot vectors ↔ plaintexts at any level and scale.

use std::sync::Arc;

use num_complex::Complex64;
use rayon::prelude::*;

use crate::ciphertext::Plaintext;
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::ring::poly::RnsPoly;

/// Encodes with the canonical embedding and rounds to integers at a given scale; decodes with
/// an exact CRT reconstruction (balanced mixed radix / Garner), so decoding is correct even
/// when the coefficients exceed one prime.
#[derive(Debug, Clone)]
pub struct Encoder {
    ctx: Arc<Context>,
}

impl Encoder {
    pub fn new(ctx: &Arc<Context>) -> Self {
        Self { ctx: ctx.clone() }
    }

    pub fn slots(&self) -> usize {
        self.ctx.slots()
    }

    /// Encodes up to N/2 complex values (missing slots are zero).
    pub fn encode(&self, values: &[Complex64], level: usize, scale: f64) -> Result<Plaintext> {
        self.encode_slots(values, level, scale, 0)
    }

    /// Encodes over `Q_level` **and the special primes P**: the plaintext operand of
    /// [`crate::Evaluator::rotate_sum`], which multiplies it into key-switching results before
    /// their single ModDown. Usable everywhere a plaintext at `level` is (the extra limbs are
    /// ignored there).
    pub fn encode_extended(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<Plaintext> {
        self.encode_slots(values, level, scale, self.ctx.num_special())
    }

    /// Checks the request, then encodes the slots over `Q_level` and `special` special primes.
    fn encode_slots(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
        special: usize,
    ) -> Result<Plaintext> {
        let ctx = &self.ctx;
        if values.len() > ctx.slots() {
            return Err(CkksError::TooManyValues {
                given: values.len(),
                slots: ctx.slots(),
            });
        }
        if level > ctx.max_level() {
            return Err(CkksError::LevelOutOfRange {
                level,
                max: ctx.max_level(),
            });
        }
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(CkksError::UnencodableValue { value: scale });
        }
        let coeffs = ctx.fft().slots_to_coeffs(values);
        self.encode_coeffs(&coeffs, level, scale, special)
    }

    /// Encodes real values (imaginary parts zero).
    pub fn encode_real(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
        let z: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.encode(&z, level, scale)
    }

    /// Scales and rounds real coefficients, reduces them per prime, and transforms to NTT form.
    pub(crate) fn encode_coeffs(
        &self,
        coeffs: &[f64],
        level: usize,
        scale: f64,
        special: usize,
    ) -> Result<Plaintext> {
        let ctx = &self.ctx;
        let n = ctx.n();
        let scaled: Vec<f64> = coeffs.iter().map(|&c| (c * scale).round()).collect();
        if let Some(&bad) = scaled
            .iter()
            .find(|v| !v.is_finite() || v.abs() >= 2f64.powi(1000))
        {
            return Err(CkksError::UnencodableValue { value: bad });
        }
        let mut poly = RnsPoly::zero(n, level, special, false);
        let idx = ctx.prime_indices(level, special);
        poly.data
            .par_chunks_mut(n)
            .zip(idx.par_iter())
            .for_each(|(limb, &i)| {
                let m = &ctx.moduli()[i];
                for (o, &v) in limb.iter_mut().zip(&scaled) {
                    *o = m.reduce_f64(v);
                }
            });
        ctx.to_ntt(&mut poly);
        Ok(Plaintext { poly, scale })
    }

    /// Decodes all N/2 complex slots.
    pub fn decode(&self, pt: &Plaintext) -> Vec<Complex64> {
        let coeffs = self.decode_coeffs(&pt.poly, pt.scale);
        self.ctx.fft().coeffs_to_slots(&coeffs)
    }

    /// Decodes the real parts of all slots.
    pub fn decode_real(&self, pt: &Plaintext) -> Vec<f64> {
        self.decode(pt).into_iter().map(|z| z.re).collect()
    }

    /// Exact centered CRT reconstruction of every coefficient, divided by the scale.
    fn decode_coeffs(&self, poly: &RnsPoly, scale: f64) -> Vec<f64> {
        let ctx = &self.ctx;
        let n = ctx.n();
        let mut p = poly.clone();
        ctx.to_coeff(&mut p);
        let level = p.level;
        let moduli = ctx.moduli();
        // Radix weights W_i = q_0·…·q_{i-1} as f64 (relative error ≤ level·2^-53).
        let mut weights = Vec::with_capacity(level + 1);
        let mut w = 1.0f64;
        for m in &moduli[..=level] {
            weights.push(w);
            w *= m.value() as f64;
        }
        let inv_scale = 1.0 / scale;
        let data = &p.data;
        (0..n)
            .into_par_iter()
            .with_min_len(256)
            .map(|k| {
                // Balanced mixed-radix digits v_i ∈ (−q_i/2, q_i/2].
                let mut digits = [0i64; 64];
                let mut big = Vec::new();
                let digits: &mut [i64] = if level < 64 {
                    &mut digits[..=level]
                } else {
                    big.resize(level + 1, 0);
                    &mut big
                };
                for i in 0..=level {
                    let m = &moduli[i];
                    let mut t = data[i * n + k];
                    let invs = ctx.garner_inv(i);
                    for (kk, &v) in digits[..i].iter().enumerate() {
                        t = m.mul_shoup(m.sub(t, m.reduce_i64(v)), invs[kk]);
                    }
                    let q = m.value();
                    digits[i] = if t > q / 2 {
                        t as i64 - q as i64
                    } else {
                        t as i64
                    };
                }
                let mut acc = 0.0f64;
                for i in (0..=level).rev() {
                    acc += digits[i] as f64 * weights[i];
                }
                acc * inv_scale
            })
            .collect()
    }
}
