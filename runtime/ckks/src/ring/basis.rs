//! Fast (approximate) RNS basis conversion, the kernel of ModUp, ModDown and key switching.
//!
//! For x given by residues `x_i` modulo the source primes `q_i` (product `Q'`), the converter
//! computes, for each target prime `t`,
//! `Σ_i [x_i · (Q'/q_i)^{-1}]_{q_i} · (Q'/q_i mod t)  mod t`,
//! which equals `x + u·Q'` for a small integer `0 ≤ u < #sources`. The sums are accumulated
//! lazily in `u128` and reduced once per output (Barrett), with a Barrett fold every
//! [`LAZY_TERMS`] terms so no accumulator can overflow.

use rayon::prelude::*;

use super::modarith::{Modulus, ShoupConst};

/// Products are below 2^122 (primes < 2^61), so 32 fit in a u128; fold every 16 to be safe.
pub const LAZY_TERMS: usize = 16;

/// Precomputed constants for one source basis → target basis conversion.
#[derive(Debug, Clone)]
pub struct BasisConverter {
    src: Vec<Modulus>,
    dst: Vec<Modulus>,
    /// (Q'/q_i)^{-1} mod q_i, optionally times an extra factor (e.g. N^{-1}).
    qhat_inv: Vec<ShoupConst>,
    /// (Q'/q_i) mod t, laid out `[dst][src]`.
    qhat_mod_dst: Vec<u64>,
    /// 1/q_i as f64, for the exact (centered) conversion.
    src_inv_f64: Vec<f64>,
    /// −Q' mod t.
    neg_q_mod_dst: Vec<u64>,
    /// Whether the dot products for target t stay below the [`Modulus::reduce_wide`] bound.
    wide_ok: Vec<bool>,
}

impl BasisConverter {
    /// `extra[i]` multiplies the i-th source residue first (used to fold the NTT's 1/N factor).
    pub fn new(src: &[Modulus], dst: &[Modulus], extra: Option<&[u64]>) -> Self {
        let mut qhat_inv = Vec::with_capacity(src.len());
        for (i, mi) in src.iter().enumerate() {
            // Q'/q_i mod q_i = Π_{k≠i} q_k mod q_i
            let mut prod = 1u64;
            for (k, mk) in src.iter().enumerate() {
                if k != i {
                    prod = mi.mul(prod, mi.reduce(mk.value()));
                }
            }
            let mut inv = mi.inv(prod);
            if let Some(e) = extra {
                inv = mi.mul(inv, mi.reduce(e[i]));
            }
            qhat_inv.push(mi.shoup(inv));
        }
        let mut qhat_mod_dst = Vec::with_capacity(src.len() * dst.len());
        for mt in dst {
            for i in 0..src.len() {
                let mut prod = 1u64;
                for (k, mk) in src.iter().enumerate() {
                    if k != i {
                        prod = mt.mul(prod, mt.reduce(mk.value()));
                    }
                }
                qhat_mod_dst.push(prod);
            }
        }
        let src_inv_f64 = src.iter().map(|m| 1.0 / m.value() as f64).collect();
        let neg_q_mod_dst = dst
            .iter()
            .map(|mt| {
                mt.neg(
                    src.iter()
                        .fold(1u64, |acc, m| mt.mul(acc, mt.reduce(m.value()))),
                )
            })
            .collect();
        let src_sum: u128 = src.iter().map(|m| m.value() as u128).sum();
        let wide_ok = dst
            .iter()
            // + 1: the centered conversion starts the sum with a value below t
            .map(|mt| src.len() <= LAZY_TERMS && mt.wide_ok((src_sum + 1) * mt.value() as u128))
            .collect();
        Self {
            wide_ok,
            src: src.to_vec(),
            dst: dst.to_vec(),
            qhat_inv,
            qhat_mod_dst,
            src_inv_f64,
            neg_q_mod_dst,
        }
    }

    pub fn num_src(&self) -> usize {
        self.src.len()
    }

    pub fn num_dst(&self) -> usize {
        self.dst.len()
    }

    /// `input`: `num_src` limbs of `n` coefficients each (limb-major, values `< q_i`);
    /// `output`: `num_dst` limbs. `scratch` is resized to `num_src · n`.
    pub fn convert(&self, n: usize, input: &[u64], output: &mut [u64], scratch: &mut Vec<u64>) {
        let outs: Vec<&mut [u64]> = output.chunks_mut(n).collect();
        self.convert_into(n, input, outs, scratch, false);
    }

    /// Exact conversion of the **centered** residue: subtracts `v·Q'` with
    /// `v = round(Σ_i y_i / q_i)` (computed in f64), so the output is `x` taken in
    /// `[−Q'/2, Q'/2)` with no `u·Q'` term. ModDown uses it: the approximate version's
    /// non-centered error `u ∈ [0, K)` has a mean that, times the all-ones polynomial, becomes
    /// a few very large slot errors (several bits lost at N = 2^15).
    pub fn convert_centered(
        &self,
        n: usize,
        input: &[u64],
        output: &mut [u64],
        scratch: &mut Vec<u64>,
    ) {
        let outs: Vec<&mut [u64]> = output.chunks_mut(n).collect();
        self.convert_into(n, input, outs, scratch, true);
    }

    /// Like [`Self::convert`], with one separate output slice per target prime (lets ModUp
    /// write straight into the limbs of an extended-basis polynomial). Fewer outputs than
    /// targets convert only to a prefix of the target basis.
    ///
    /// Layout for speed: the scaled residues `y` are stored coefficient-major (the `ns` values
    /// of one coefficient are contiguous), so each output coefficient is a short dot product
    /// accumulated in registers; the work is split over blocks of coefficients, each block
    /// writing its slice of every output limb.
    pub fn convert_into(
        &self,
        n: usize,
        input: &[u64],
        outputs: Vec<&mut [u64]>,
        scratch: &mut Vec<u64>,
        centered: bool,
    ) {
        let ns = self.src.len();
        let nd = outputs.len().min(self.dst.len());
        scratch.resize(ns * n, 0);
        const BLOCK: usize = 512;
        // y[k·ns + i] = x_i[k] · (Q'/q_i)^{-1} mod q_i, written row by row (contiguous).
        scratch
            .par_chunks_mut(BLOCK * ns)
            .enumerate()
            .for_each(|(b, rows)| {
                let base = b * BLOCK;
                let len = rows.len() / ns;
                let xs: Vec<&[u64]> = (0..ns)
                    .map(|i| &input[i * n + base..i * n + base + len])
                    .collect();
                for (k, row) in rows.chunks_exact_mut(ns).enumerate() {
                    for (((r, x), m), c) in
                        row.iter_mut().zip(&xs).zip(&self.src).zip(&self.qhat_inv)
                    {
                        *r = m.mul_shoup(x[k], *c);
                    }
                }
            });
        let y = &scratch[..];
        let nblocks = n.div_ceil(BLOCK);
        let mut blocks: Vec<Vec<&mut [u64]>> =
            (0..nblocks).map(|_| Vec::with_capacity(nd)).collect();
        for out in outputs.into_iter().take(nd) {
            for (b, chunk) in out.chunks_mut(BLOCK).enumerate() {
                blocks[b].push(chunk);
            }
        }
        blocks
            .into_par_iter()
            .enumerate()
            .for_each(|(b, mut outs)| {
                let base = b * BLOCK;
                let len = outs.first().map_or(0, |o| o.len());
                let yb = &y[base * ns..(base + len) * ns];
                let mut v = [0u64; BLOCK];
                if centered {
                    for (vk, row) in v.iter_mut().zip(yb.chunks_exact(ns)) {
                        let f: f64 = row
                            .iter()
                            .zip(&self.src_inv_f64)
                            .map(|(&yi, &inv)| yi as f64 * inv)
                            .sum();
                        *vk = f.round() as u64;
                    }
                }
                let mut corr = [0u64; BLOCK];
                for (t, out) in outs.iter_mut().enumerate() {
                    let mt = &self.dst[t];
                    let consts = &self.qhat_mod_dst[t * ns..(t + 1) * ns];
                    let wide = self.wide_ok[t];
                    // The centered correction −v·Q' mod t starts each accumulator (no second
                    // pass over the output); v ≤ ns, so it comes from a small table.
                    let init = if centered {
                        let negq = self.neg_q_mod_dst[t];
                        let mut table = [0u64; LAZY_TERMS + 2];
                        for (j, e) in table.iter_mut().enumerate().skip(1) {
                            *e = mt.add(negq, mt.mul_fast(mt.reduce(j as u64 - 1), negq));
                        }
                        for (c, &vk) in corr.iter_mut().zip(&v[..len]) {
                            *c = match table.get(vk as usize) {
                                Some(&e) => e,
                                None => mt.mul_fast(mt.reduce(vk), negq),
                            };
                        }
                        Some(&corr[..len])
                    } else {
                        None
                    };
                    match ns {
                        1 => dot_block::<1>(yb, consts, out, mt, wide, init),
                        2 => dot_block::<2>(yb, consts, out, mt, wide, init),
                        3 => dot_block::<3>(yb, consts, out, mt, wide, init),
                        4 => dot_block::<4>(yb, consts, out, mt, wide, init),
                        5 => dot_block::<5>(yb, consts, out, mt, wide, init),
                        6 => dot_block::<6>(yb, consts, out, mt, wide, init),
                        7 => dot_block::<7>(yb, consts, out, mt, wide, init),
                        8 => dot_block::<8>(yb, consts, out, mt, wide, init),
                        _ => dot_block_any(yb, ns, consts, out, mt, init),
                    }
                }
            });
    }
}

/// One output block for a source basis of `S` primes: each coefficient's `S` scaled residues
/// are contiguous, so the dot product with the target's constants unrolls into registers.
/// `init` (reduced values) starts the accumulators.
#[inline(always)]
fn dot_block<const S: usize>(
    yb: &[u64],
    consts: &[u64],
    out: &mut [u64],
    mt: &Modulus,
    wide: bool,
    init: Option<&[u64]>,
) {
    let Ok(c) = <&[u64; S]>::try_from(consts) else {
        return dot_block_any(yb, S, consts, out, mt, init);
    };
    for (k, (o, row)) in out.iter_mut().zip(yb.chunks_exact(S)).enumerate() {
        let Ok(row) = <&[u64; S]>::try_from(row) else {
            continue;
        };
        let mut acc = init.map_or(0, |i| i[k] as u128);
        for i in 0..S {
            acc += row[i] as u128 * c[i] as u128;
        }
        *o = if wide {
            mt.reduce_wide(acc)
        } else {
            mt.reduce_u128(acc)
        };
    }
}

/// Any source size: lazy `u128` accumulation with a Barrett fold every [`LAZY_TERMS`] terms.
fn dot_block_any(
    yb: &[u64],
    ns: usize,
    consts: &[u64],
    out: &mut [u64],
    mt: &Modulus,
    init: Option<&[u64]>,
) {
    for (k, (o, row)) in out.iter_mut().zip(yb.chunks_exact(ns)).enumerate() {
        let mut acc: u128 = init.map_or(0, |i| i[k] as u128);
        for (chunk_y, chunk_c) in row.chunks(LAZY_TERMS).zip(consts.chunks(LAZY_TERMS)) {
            if acc >> 124 != 0 {
                acc = mt.reduce_u128(acc) as u128;
            }
            for (&yi, &ci) in chunk_y.iter().zip(chunk_c) {
                acc += yi as u128 * ci as u128;
            }
        }
        *o = mt.reduce_u128(acc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::primes::primes_below;

    #[test]
    fn conversion_is_exact_up_to_multiple_of_source_modulus() {
        let ps = primes_below(30, 64, 5, &[]).unwrap_or_default();
        let src: Vec<Modulus> = ps[..3].iter().map(|&p| Modulus::new(p)).collect();
        let dst: Vec<Modulus> = ps[3..].iter().map(|&p| Modulus::new(p)).collect();
        let conv = BasisConverter::new(&src, &dst, None);
        let n = 4;
        // Small signed values x, represented mod each source prime.
        let xs: [i64; 4] = [0, 1, -123456789, 987654321012];
        let mut input = vec![0u64; 3 * n];
        for (i, m) in src.iter().enumerate() {
            for (k, &x) in xs.iter().enumerate() {
                input[i * n + k] = m.reduce_i64(x);
            }
        }
        let mut out = vec![0u64; 2 * n];
        let mut scratch = Vec::new();
        conv.convert(n, &input, &mut out, &mut scratch);
        let big_q: u128 = ps[..3].iter().map(|&p| p as u128).product();
        for (t, m) in dst.iter().enumerate() {
            for (k, &x) in xs.iter().enumerate() {
                let got = out[t * n + k];
                // got ≡ x + u·Q' (mod t) for some 0 ≤ u ≤ 3 (x taken as its residue in [0, Q')).
                let x_pos = (x as i128).rem_euclid(big_q as i128) as u128;
                let ok = (0..=3u128).any(|u| {
                    let v = (x_pos + u * big_q) % m.value() as u128;
                    v as u64 == got
                });
                assert!(ok, "target {t}, value {x}");
            }
        }
        // Centered conversion is exact for |x| < Q'/2.
        conv.convert_centered(n, &input, &mut out, &mut scratch);
        for (t, m) in dst.iter().enumerate() {
            for (k, &x) in xs.iter().enumerate() {
                assert_eq!(
                    out[t * n + k],
                    m.reduce_i64(x),
                    "centered: target {t}, value {x}"
                );
            }
        }
    }
}
