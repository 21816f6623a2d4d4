//! Element-wise kernels of exact division by a modulus (rescale by `q_last`, ModDown by `P`):
//!
//! 1. [`lift_centered`]: a coefficient `v ∈ [0, q)` of the dropped part, taken in the centered
//!    range `(−q/2, q/2]`, reduced modulo another prime `q_i` (this is what makes the division
//!    round to nearest rather than floor);
//! 2. after the NTT of that lift, [`sub_mul_shoup`]: `(x − t) · q^{-1} mod q_i`.
//!
//! Both are branch-free: the data are uniformly random, so a branch on `v > q/2` mispredicts
//! half the time and used to cost more than the NTTs themselves (measured: the rescale at
//! N = 2^16 spent 13 of its 27 ms outside the NTTs). Both are checked bit-exactly against
//! the obvious formulas in the tests below.

use super::modarith::{Modulus, ShoupConst};
use super::simd::{dispatch, mul_hi};

/// Constants to lift residues modulo `q` (centered) into `Z_{q_i}`.
#[derive(Debug, Clone, Copy)]
pub struct CenteredLift {
    /// `q_i`
    p: u64,
    /// `floor(q/2)`: values above it are negative.
    half: u64,
    /// `q_i − (q mod q_i)`, added to the residue of a negative value (in `(0, q_i]`).
    neg_q_mod: u64,
    /// `q < 2·q_i`: one conditional subtraction reduces `v < q` modulo `q_i`.
    one_sub: bool,
    m: Modulus,
}

impl CenteredLift {
    /// `q` is the modulus the inputs are reduced by, `m` the target prime (`q ≠ q_i`).
    pub fn new(q: u64, m: &Modulus) -> Self {
        let p = m.value();
        Self {
            p,
            half: q / 2,
            neg_q_mod: p - m.reduce(q),
            one_sub: q < 2 * p,
            m: *m,
        }
    }

    #[inline(always)]
    fn lift(&self, v: u64) -> u64 {
        let p = self.p;
        let r = if self.one_sub {
            v.min(v.wrapping_sub(p))
        } else {
            self.m.reduce(v)
        };
        let mask = 0u64.wrapping_sub((v > self.half) as u64);
        let a = r + (mask & self.neg_q_mod);
        a.min(a.wrapping_sub(p))
    }
}

/// `dst[k] = [src[k]]_centered mod q_i` for `src[k] ∈ [0, q)`; output in `[0, q_i)`.
pub fn lift_centered(src: &[u64], dst: &mut [u64], lift: &CenteredLift) {
    if lift.one_sub {
        // The usual case (q < 2·q_i) without the Barrett fallback: it vectorizes.
        let (p, half, neg) = (lift.p, lift.half, lift.neg_q_mod);
        dispatch(
            #[inline(always)]
            || {
                for (d, &v) in dst.iter_mut().zip(src) {
                    let r = v.min(v.wrapping_sub(p));
                    let mask = 0u64.wrapping_sub((v > half) as u64);
                    let a = r + (mask & neg);
                    *d = a.min(a.wrapping_sub(p));
                }
            },
        );
    } else {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = lift.lift(v);
        }
    }
}

/// `t[k] = (x[k] − t[k]) · w mod p` for `x[k], t[k] ∈ [0, p)`; output in `[0, p)`.
pub fn sub_mul_shoup(x: &[u64], t: &mut [u64], m: &Modulus, w: ShoupConst) {
    let p = m.value();
    let (w, ws) = (w.w, w.w_shoup);
    dispatch(
        #[inline(always)]
        || {
            for (o, &a) in t.iter_mut().zip(x) {
                // a + p − o ∈ (0, 2p): a valid Shoup input (any value below 2^64 is).
                let d = a + p - *o;
                let q = mul_hi(d, ws);
                let r = d.wrapping_mul(w).wrapping_sub(q.wrapping_mul(p));
                *o = r.min(r.wrapping_sub(p));
            }
        },
    );
}

/// Reference for [`lift_centered`] ∘ [`sub_mul_shoup`] on coefficients: the obvious
/// `(x − [v]_centered) · q^{-1} mod q_i` with signed arithmetic and `%`.
pub fn divide_round_naive(x: &[u64], v: &[u64], q: u64, m: &Modulus) -> Vec<u64> {
    let p = m.value() as i128;
    let q_inv = m.inv(m.reduce(q)) as i128;
    x.iter()
        .zip(v)
        .map(|(&xi, &vi)| {
            let c = if vi > q / 2 {
                vi as i128 - q as i128
            } else {
                vi as i128
            };
            let d = (xi as i128 - c).rem_euclid(p);
            ((d * q_inv) % p) as u64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::primes::primes_below;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 1
    }

    /// Every pair of sizes: q below, near and far above q_i (the `one_sub` and Barrett
    /// paths), with the edge values 0, q/2, q/2 + 1, q − 1 included.
    #[test]
    fn fused_kernels_match_the_obvious_formula() {
        let mut ps = Vec::new();
        for bits in [30u32, 50, 51, 60, 61] {
            ps.extend(primes_below(bits, 64, 2, &[]).unwrap_or_default());
        }
        assert_eq!(ps.len(), 10);
        let mut seed = 3u64;
        for &q in &ps {
            for &qi in ps.iter().filter(|&&p| p != q) {
                let m = Modulus::new(qi);
                let lift = CenteredLift::new(q, &m);
                let mut v: Vec<u64> = (0..200).map(|_| lcg(&mut seed) % q).collect();
                v.extend([0, q / 2, q / 2 + 1, q - 1]);
                let x: Vec<u64> = v.iter().map(|_| lcg(&mut seed) % qi).collect();
                let mut t = vec![0u64; v.len()];
                lift_centered(&v, &mut t, &lift);
                for (&vi, &ti) in v.iter().zip(&t) {
                    let c = if vi > q / 2 {
                        vi as i128 - q as i128
                    } else {
                        vi as i128
                    };
                    assert_eq!(ti as i128, c.rem_euclid(qi as i128), "lift {vi} mod {qi}");
                }
                let w = m.shoup(m.inv(m.reduce(q)));
                sub_mul_shoup(&x, &mut t, &m, w);
                assert_eq!(t, divide_round_naive(&x, &v, q, &m), "q = {q}, q_i = {qi}");
            }
        }
    }
}
