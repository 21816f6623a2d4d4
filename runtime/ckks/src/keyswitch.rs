//! Hybrid key switching (Han–Ki; Kim–Polyakov–Zucca): decompose into digits of α primes, ModUp
//! each digit to Q_ℓ·P by fast basis extension, inner product with the key, ModDown by P.
//!
//! The decomposition ([`Decomposed`]) is independent of the key, which is what hoisting reuses:
//! a rotation applies its Galois permutation inside the inner product, so k rotations of one
//! ciphertext share one ModUp. The permutation is applied limb by limb (each digit's limb
//! prefetched into L2 and permuted into a per-thread buffer that the inner product then
//! streams), not as a gather across all digits at once, which missed the cache on nearly every
//! read. [`key_switch_mod_down`] fuses the inner product with ModDown (and with the addition of
//! `c_0`, or of `σ(c_0)` for a rotation), so the Q part of the inner product never goes to
//! memory; relinearization and rotations use it. [`inner_product_mac`] goes one step further
//! for sums (double hoisting): it multiplies a plaintext into the inner product and
//! accumulates, so a sum of plaintext-weighted rotations needs a single ModDown
//! ([`crate::Evaluator::rotate_sum`]).

use rayon::prelude::*;

use crate::context::Context;
use crate::keys::SwitchingKey;
use crate::ring::basis::LAZY_TERMS;
use crate::ring::modarith::Modulus;
use crate::ring::poly::RnsPoly;
use crate::ring::rescale::sub_mul_shoup;

/// The ModUp'd digits of one polynomial: `digits[j]` lives over `q_0..=q_level` and all of P,
/// in NTT form.
#[derive(Debug, Clone)]
pub struct Decomposed {
    pub(crate) level: usize,
    pub(crate) digits: Vec<RnsPoly>,
}

/// INTT + ModUp of every digit of `d` (NTT form over Q_level).
pub fn decompose(ctx: &Context, d: &RnsPoly) -> Decomposed {
    let n = ctx.n();
    let level = d.level;
    let k = ctx.num_special();
    let alpha = ctx.params().alpha();
    let num_digits = ctx.num_digits(level);
    // Coefficient form without the 1/N factor (folded into the ModUp constants).
    let mut coeff = ctx.take_buffer(d.data.len());
    coeff.copy_from_slice(&d.data);
    coeff.par_chunks_mut(n).enumerate().for_each(|(i, limb)| {
        ctx.ntt_table(i).inverse_unnormalized(limb);
    });
    let l_max = ctx.max_level();
    let digits = (0..num_digits)
        .into_par_iter()
        .map(|j| {
            let lo = j * alpha;
            let hi = ((j + 1) * alpha).min(level + 1);
            let mut out = RnsPoly {
                n,
                level,
                special: k,
                ntt: true,
                data: ctx.take_buffer(n * (level + 1 + k)),
            };
            let mut scratch = ctx.take_buffer((hi - lo) * n);
            {
                let outs: Vec<&mut [u64]> = out
                    .data
                    .chunks_mut(n)
                    .enumerate()
                    .filter(|(i, _)| !(lo..hi).contains(i))
                    .map(|(_, c)| c)
                    .collect();
                ctx.modup(level, j).convert_into(
                    n,
                    &coeff[lo * n..hi * n],
                    outs,
                    &mut scratch,
                    false,
                );
            }
            ctx.recycle(scratch);
            out.data
                .par_chunks_mut(n)
                .enumerate()
                .for_each(|(i, limb)| {
                    if (lo..hi).contains(&i) {
                        limb.copy_from_slice(d.limb(i));
                    } else {
                        let prime = if i <= level {
                            i
                        } else {
                            l_max + 1 + (i - level - 1)
                        };
                        ctx.ntt_table(prime).forward(limb);
                    }
                });
            out
        })
        .collect();
    ctx.recycle(coeff);
    Decomposed { level, digits }
}

/// `(Σ_j D_j·b_j, Σ_j D_j·a_j)` over Q_level·P (NTT form), reading each digit through the
/// Galois permutation `perm` when given (hoisted rotation).
pub fn inner_product(
    ctx: &Context,
    dec: &Decomposed,
    key: &SwitchingKey,
    perm: Option<&[u32]>,
) -> (RnsPoly, RnsPoly) {
    let n = ctx.n();
    let (level, k) = (dec.level, ctx.num_special());
    let len = n * (level + 1 + k);
    let mut out0 = RnsPoly {
        n,
        level,
        special: k,
        ntt: true,
        data: ctx.take_buffer(len),
    };
    let mut out1 = RnsPoly {
        n,
        level,
        special: k,
        ntt: true,
        data: ctx.take_buffer(len),
    };
    inner_product_into(ctx, dec, key, perm, None, &mut out0, &mut out1);
    (out0, out1)
}

/// `acc_0 += pt ⊙ Σ_j D_j·b_j`, `acc_1 += pt ⊙ Σ_j D_j·a_j` over Q_level·P, fused into the
/// inner product (double hoisting: the plaintext multiplies the key-switching result before
/// the single ModDown of a sum). `pt` must have the special limbs.
pub fn inner_product_mac(
    ctx: &Context,
    dec: &Decomposed,
    key: &SwitchingKey,
    perm: Option<&[u32]>,
    pt: &RnsPoly,
    acc0: &mut RnsPoly,
    acc1: &mut RnsPoly,
) {
    inner_product_into(ctx, dec, key, perm, Some(pt), acc0, acc1);
}

fn inner_product_into(
    ctx: &Context,
    dec: &Decomposed,
    key: &SwitchingKey,
    perm: Option<&[u32]>,
    pt_poly: Option<&RnsPoly>,
    out0: &mut RnsPoly,
    out1: &mut RnsPoly,
) {
    let n = ctx.n();
    out0.data
        .par_chunks_mut(n)
        .zip(out1.data.par_chunks_mut(n))
        .enumerate()
        .for_each_init(
            || match perm {
                Some(_) => vec![0u64; dec.digits.len() * n],
                None => Vec::new(),
            },
            |buf, (limb, (o0, o1))| {
                let pt = pt_poly.map(|p| p.limb(limb));
                let v = LimbViews::new(ctx, dec, key, limb);
                match perm {
                    Some(p) => ip_range(&v, &v.permuted_digits(p, buf), None, pt, 0, o0, o1),
                    None => ip_range(&v, &v.ds, None, pt, 0, o0, o1),
                }
            },
        );
}

/// Global prime index and key limb index of limb `limb` of a Q_level·P polynomial.
fn limb_primes(ctx: &Context, level: usize, key: &SwitchingKey, limb: usize) -> (usize, usize) {
    if limb <= level {
        (limb, limb)
    } else {
        let t = limb - level - 1;
        (ctx.max_level() + 1 + t, key.level + 1 + t)
    }
}

/// The whole-limb operands of one limb of the inner product: the digits' and the key's limbs
/// and the limb's modulus.
struct LimbViews<'a> {
    m: &'a Modulus,
    ds: Vec<&'a [u64]>,
    bs: Vec<&'a [u64]>,
    as_: Vec<&'a [u64]>,
}

impl<'a> LimbViews<'a> {
    fn new(ctx: &'a Context, dec: &'a Decomposed, key: &'a SwitchingKey, limb: usize) -> Self {
        let (prime, key_limb) = limb_primes(ctx, dec.level, key, limb);
        Self {
            m: &ctx.moduli()[prime],
            ds: dec.digits.iter().map(|d| d.limb(limb)).collect(),
            bs: key.digits.iter().map(|k| k.0.limb(key_limb)).collect(),
            as_: key.digits.iter().map(|k| k.1.limb(key_limb)).collect(),
        }
    }

    /// The digits read through `perm`, copied into `buf` (one limb per digit), so that the
    /// inner product then streams them: a gather straight from all digits at once (1.5 MiB
    /// per limb at N = 2^16, three digits) misses the L2 cache on nearly every read, a
    /// permutation of one 512 KiB limb at a time does not.
    fn permuted_digits<'b>(&self, perm: &[u32], buf: &'b mut [u64]) -> Vec<&'b [u64]> {
        let n = perm.len();
        for (d, out) in self.ds.iter().zip(buf.chunks_mut(n)) {
            crate::ring::automorphism::permute_limb(perm, d, out);
        }
        buf.chunks(n).collect()
    }
}

/// Inner-product outputs `o0, o1` for coefficients `start..start + o0.len()` of one limb (a
/// whole limb, or one cache-sized chunk of it for the fused ModDown), with the digits `ds`
/// (whole limbs, read through `perm` when given) and the key limbs of `v`. `pt`, when given,
/// is the plaintext's slice for the same range.
fn ip_range(
    v: &LimbViews<'_>,
    ds: &[&[u64]],
    perm: Option<&[u32]>,
    pt: Option<&[u64]>,
    start: usize,
    o0: &mut [u64],
    o1: &mut [u64],
) {
    let range = start..start + o0.len();
    let m = v.m;
    let ndig = ds.len();
    let pv = m.value() as u128;
    let wide = ndig <= LAZY_TERMS && m.wide_ok(ndig as u128 * pv * pv);
    // With a permutation the digits are gathered from the whole limb; without, read in step.
    let ds: Vec<&[u64]> = match perm {
        Some(_) => ds.to_vec(),
        None => ds.iter().map(|d| &d[range.clone()]).collect(),
    };
    let bs: Vec<&[u64]> = v.bs.iter().map(|b| &b[range.clone()]).collect();
    let as_: Vec<&[u64]> = v.as_.iter().map(|a| &a[range.clone()]).collect();
    let inp = LimbInputs {
        ds: &ds,
        bs: &bs,
        as_: &as_,
        perm: perm.map(|p| &p[range.clone()]),
        pt,
    };
    // compiled with AVX2/BMI2 where available (`mulx` for the u128 sums)
    crate::ring::simd::dispatch(
        #[inline(always)]
        || {
            if wide {
                match ndig {
                    1 => ip_limb::<1>(&inp, o0, o1, m),
                    2 => ip_limb::<2>(&inp, o0, o1, m),
                    3 => ip_limb::<3>(&inp, o0, o1, m),
                    4 => ip_limb::<4>(&inp, o0, o1, m),
                    _ => ip_limb_any(&inp, o0, o1, m),
                }
            } else {
                ip_limb_any(&inp, o0, o1, m);
            }
        },
    );
}

/// The read-only operands of one limb of the inner product.
#[derive(Clone, Copy)]
struct LimbInputs<'a> {
    ds: &'a [&'a [u64]],
    bs: &'a [&'a [u64]],
    as_: &'a [&'a [u64]],
    perm: Option<&'a [u32]>,
    pt: Option<&'a [u64]>,
}

/// One limb of the inner product for `D` digits, accumulators in registers (products of
/// reduced values, so [`Modulus::reduce_wide`] applies).
#[inline(always)]
fn ip_limb<const D: usize>(inp: &LimbInputs<'_>, o0: &mut [u64], o1: &mut [u64], m: &Modulus) {
    let LimbInputs {
        ds,
        bs,
        as_,
        perm,
        pt,
    } = *inp;
    let n = o0.len();
    let (Ok(ds), Ok(bs), Ok(as_)) = (
        <&[&[u64]; D]>::try_from(ds),
        <&[&[u64]; D]>::try_from(bs),
        <&[&[u64]; D]>::try_from(as_),
    ) else {
        return ip_limb_any(inp, o0, o1, m);
    };
    let ds_len_ok = ds.iter().all(|s| s.len() == n || perm.is_some());
    if !ds_len_ok || bs.iter().chain(as_).any(|s| s.len() != n) || o1.len() != n {
        return ip_limb_any(inp, o0, o1, m);
    }
    match perm {
        None => {
            for k in 0..n {
                let (mut a0, mut a1) = (0u128, 0u128);
                for j in 0..D {
                    let x = ds[j][k] as u128;
                    a0 += x * bs[j][k] as u128;
                    a1 += x * as_[j][k] as u128;
                }
                store(o0, o1, k, m.reduce_wide(a0), m.reduce_wide(a1), pt, m);
            }
        }
        Some(p) => {
            for (k, &src) in p.iter().enumerate().take(n) {
                let src = src as usize;
                let (mut a0, mut a1) = (0u128, 0u128);
                for j in 0..D {
                    let x = ds[j][src] as u128;
                    a0 += x * bs[j][k] as u128;
                    a1 += x * as_[j][k] as u128;
                }
                store(o0, o1, k, m.reduce_wide(a0), m.reduce_wide(a1), pt, m);
            }
        }
    }
}

/// Writes one inner-product output, or (with a plaintext limb) accumulates `pt ⊙ output`.
#[inline(always)]
fn store(
    o0: &mut [u64],
    o1: &mut [u64],
    k: usize,
    v0: u64,
    v1: u64,
    pt: Option<&[u64]>,
    m: &Modulus,
) {
    match pt {
        None => {
            o0[k] = v0;
            o1[k] = v1;
        }
        Some(p) => {
            o0[k] = m.add(o0[k], m.mul_fast(v0, p[k]));
            o1[k] = m.add(o1[k], m.mul_fast(v1, p[k]));
        }
    }
}

/// Any digit count: lazy accumulation with a Barrett fold every [`LAZY_TERMS`] digits.
fn ip_limb_any(inp: &LimbInputs<'_>, o0: &mut [u64], o1: &mut [u64], m: &Modulus) {
    let LimbInputs {
        ds,
        bs,
        as_,
        perm,
        pt,
    } = *inp;
    for k in 0..o0.len() {
        let src = perm.map_or(k, |p| p[k] as usize);
        let (mut a0, mut a1) = (0u128, 0u128);
        for (j, ((d, b), a)) in ds.iter().zip(bs).zip(as_).enumerate() {
            if j > 0 && j % LAZY_TERMS == 0 {
                a0 = m.reduce_u128(a0) as u128;
                a1 = m.reduce_u128(a1) as u128;
            }
            let x = d[src] as u128;
            a0 += x * b[k] as u128;
            a1 += x * a[k] as u128;
        }
        store(o0, o1, k, m.reduce_u128(a0), m.reduce_u128(a1), pt, m);
    }
}

/// ModDown: `(x − Conv_{P→Q}([x]_P)) · P^{-1}` over Q_level, NTT form in and out.
pub fn mod_down(ctx: &Context, mut x: RnsPoly) -> RnsPoly {
    let n = ctx.n();
    let level = x.level;
    let k = x.special;
    let l_max = ctx.max_level();
    let mut p_part = ctx.take_buffer(x.data.len() - (level + 1) * n);
    p_part.copy_from_slice(&x.data[(level + 1) * n..]);
    p_part.par_chunks_mut(n).enumerate().for_each(|(t, limb)| {
        ctx.ntt_table(l_max + 1 + t).inverse_unnormalized(limb);
    });
    debug_assert_eq!(k, ctx.num_special());
    let mut conv = ctx.take_buffer((level + 1) * n);
    let mut scratch = ctx.take_buffer(k * n);
    ctx.moddown()
        .convert_centered(n, &p_part, &mut conv, &mut scratch);
    // The output is written over the conversion buffer (exactly Q-sized), and the Q·P input
    // goes back to the pool: results do not carry the special limbs' capacity around.
    conv.par_chunks_mut(n)
        .zip(x.data.par_chunks(n))
        .enumerate()
        .for_each(|(i, (cl, xl))| {
            ctx.ntt_table(i).forward(cl);
            sub_mul_shoup(xl, cl, &ctx.moduli()[i], ctx.p_inv_mod_q(i));
        });
    ctx.recycle(std::mem::replace(&mut x.data, conv));
    x.special = 0;
    ctx.recycle(p_part);
    ctx.recycle(scratch);
    x
}

/// Coefficients per chunk of the fused inner product + ModDown: two chunks of inner-product
/// outputs (32 KiB) stay in L1 between being computed and being consumed.
const FUSED_CHUNK: usize = 2048;

/// Inner product with the key **fused with ModDown**: `(ModDown(Σ_j D_j·b_j) + σ(add_0),
/// ModDown(Σ_j D_j·a_j) + σ(add_1))` over Q_level, NTT form, where `σ` reads through `perm`
/// (the Galois permutation of a hoisted rotation, also applied to the digits) and the addends
/// are optional. Equal, bit for bit, to [`inner_product`] then [`mod_down`] then the additions.
///
/// Why fused: only the special limbs of the inner product are written out (ModDown needs
/// them in coefficient form); each Q limb's inner product is computed chunk by chunk right
/// where `(x − Conv(x_P))·P^{-1}` consumes it, so the Q-part is never stored and re-read, and
/// the addition of `σ(c_0)` for a rotation costs no separate pass either.
pub fn key_switch_mod_down(
    ctx: &Context,
    dec: &Decomposed,
    key: &SwitchingKey,
    perm: Option<&[u32]>,
    add: [Option<&RnsPoly>; 2],
) -> (RnsPoly, RnsPoly) {
    let n = ctx.n();
    let level = dec.level;
    let k = ctx.num_special();
    let l_max = ctx.max_level();
    // 1. Special limbs of both inner products, to coefficients (1/N is in the converter).
    let mut p0 = ctx.take_buffer(k * n);
    let mut p1 = ctx.take_buffer(k * n);
    // Room for one limb of every digit read through the permutation, per worker thread.
    let perm_buf = || match perm {
        Some(_) => vec![0u64; dec.digits.len() * n],
        None => Vec::new(),
    };
    p0.par_chunks_mut(n)
        .zip(p1.par_chunks_mut(n))
        .enumerate()
        .for_each_init(perm_buf, |buf, (t, (o0, o1))| {
            let v = LimbViews::new(ctx, dec, key, level + 1 + t);
            match perm {
                Some(p) => ip_range(&v, &v.permuted_digits(p, buf), None, None, 0, o0, o1),
                None => ip_range(&v, &v.ds, None, None, 0, o0, o1),
            }
            let table = ctx.ntt_table(l_max + 1 + t);
            table.inverse_unnormalized(o0);
            table.inverse_unnormalized(o1);
        });
    // 2. Exact P → Q_level conversion of both; the outputs become the results.
    let mut out0 = vec![0u64; (level + 1) * n];
    let mut out1 = vec![0u64; (level + 1) * n];
    let convert = |src: &[u64], dst: &mut [u64]| {
        // sized up front: a pool buffer that is long enough needs no zeroing
        let mut scratch = ctx.take_buffer(k * n);
        ctx.moddown().convert_centered(n, src, dst, &mut scratch);
        ctx.recycle(scratch);
    };
    rayon::join(|| convert(&p0, &mut out0), || convert(&p1, &mut out1));
    ctx.recycle(p0);
    ctx.recycle(p1);
    // 3. Per Q limb: NTT of the conversions, then (ip − conv)·P^{-1} (+ σ(add)) chunkwise.
    out0.par_chunks_mut(n)
        .zip(out1.par_chunks_mut(n))
        .enumerate()
        .for_each_init(perm_buf, |buf, (i, (c0, c1))| {
            let table = ctx.ntt_table(i);
            table.forward(c0);
            table.forward(c1);
            let m = &ctx.moduli()[i];
            let pinv = ctx.p_inv_mod_q(i);
            let v = LimbViews::new(ctx, dec, key, i);
            let ds = match perm {
                Some(p) => v.permuted_digits(p, buf),
                None => v.ds.clone(),
            };
            if let (Some(_), Some(a)) = (perm, add[0]) {
                crate::ring::automorphism::prefetch_limb(a.limb(i));
            }
            let mut t0 = [0u64; FUSED_CHUNK];
            let mut t1 = [0u64; FUSED_CHUNK];
            for (ci, (c0c, c1c)) in c0
                .chunks_mut(FUSED_CHUNK)
                .zip(c1.chunks_mut(FUSED_CHUNK))
                .enumerate()
            {
                let start = ci * FUSED_CHUNK;
                let len = c0c.len();
                let (t0, t1) = (&mut t0[..len], &mut t1[..len]);
                ip_range(&v, &ds, None, None, start, t0, t1);
                sub_mul_shoup(t0, c0c, m, pinv);
                sub_mul_shoup(t1, c1c, m, pinv);
                for (c, a) in [(c0c, add[0]), (c1c, add[1])] {
                    if let Some(a) = a {
                        add_range(c, a.limb(i), perm, start, m);
                    }
                }
            }
        });
    let poly = |data| RnsPoly {
        n,
        level,
        special: 0,
        ntt: true,
        data,
    };
    (poly(out0), poly(out1))
}

/// `out[k] += a[σ(start + k)]` where `σ` is `perm` or the identity.
#[inline]
fn add_range(out: &mut [u64], a: &[u64], perm: Option<&[u32]>, start: usize, m: &Modulus) {
    let p = m.value();
    match perm {
        Some(perm) => {
            for (o, &j) in out.iter_mut().zip(&perm[start..]) {
                let s = *o + a[j as usize];
                *o = s.min(s.wrapping_sub(p));
            }
        }
        None => {
            for (o, &v) in out.iter_mut().zip(&a[start..]) {
                let s = *o + v;
                *o = s.min(s.wrapping_sub(p));
            }
        }
    }
}

/// Full key switch of `d` (NTT, Q_level): returns `(c_0', c_1')` with
/// `c_0' + c_1'·s ≈ d·s'`.
pub fn key_switch(ctx: &Context, d: &RnsPoly, key: &SwitchingKey) -> (RnsPoly, RnsPoly) {
    let dec = decompose(ctx, d);
    let out = key_switch_mod_down(ctx, &dec, key, None, [None, None]);
    for digit in dec.digits {
        ctx.recycle(digit.data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyGenerator, galois_element_for_step};
    use crate::params::Params;
    use crate::sampling::CkksRng;

    /// A random NTT-form polynomial over Q_level (uniform residues).
    fn random_poly(ctx: &Context, level: usize, rng: &mut CkksRng) -> RnsPoly {
        let n = ctx.n();
        let mut p = RnsPoly::zero(n, level, 0, true);
        for (i, limb) in p.limbs_mut().enumerate() {
            let q = ctx.moduli()[i].value();
            for x in limb.iter_mut() {
                *x = rng.next_u64() % q;
            }
        }
        p
    }

    /// The fused inner product + ModDown (+ permuted addends) equals the separate passes bit
    /// for bit: relinearization-style (no permutation) and rotation-style, at the top level
    /// and below it (keys at the top level, so key limbs and polynomial limbs differ).
    #[test]
    fn fused_key_switch_equals_inner_product_then_mod_down() {
        let params =
            Params::insecure_toy_for_tests(10, 60, 40, 5, 3).unwrap_or_else(|e| panic!("{e}"));
        let ctx = Context::new(params).unwrap_or_else(|e| panic!("{e}"));
        let mut kg = KeyGenerator::insecure_from_seed_for_tests(&ctx, 5);
        let sk = kg.gen_secret_key();
        let relin = kg
            .gen_relin_key(&sk, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let g = galois_element_for_step(&ctx, 3);
        let gk = kg
            .gen_galois_key(&sk, g, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rng = CkksRng::insecure_from_seed_for_tests(9);
        // The inner product itself against the obvious formula, read through the permutation.
        {
            let d = random_poly(&ctx, 4, &mut rng);
            let dec = decompose(&ctx, &d);
            let (a, b) = inner_product(&ctx, &dec, &gk.key, Some(&gk.perm[..]));
            for limb in 0..dec.digits[0].num_limbs() {
                let (prime, key_limb) = limb_primes(&ctx, 4, &gk.key, limb);
                let m = &ctx.moduli()[prime];
                for kk in 0..ctx.n() {
                    let src = gk.perm[kk] as usize;
                    let (mut s0, mut s1) = (0u64, 0u64);
                    for (dg, (kb, ka)) in dec.digits.iter().zip(&gk.key.digits) {
                        let x = dg.limb(limb)[src];
                        s0 = m.add(s0, m.mul(x, kb.limb(key_limb)[kk]));
                        s1 = m.add(s1, m.mul(x, ka.limb(key_limb)[kk]));
                    }
                    assert_eq!(
                        (a.limb(limb)[kk], b.limb(limb)[kk]),
                        (s0, s1),
                        "limb {limb}"
                    );
                }
            }
        }
        for level in [5usize, 3, 1, 0] {
            let d = random_poly(&ctx, level, &mut rng);
            let (x0, x1) = (
                random_poly(&ctx, level, &mut rng),
                random_poly(&ctx, level, &mut rng),
            );
            let dec = decompose(&ctx, &d);
            for (key, perm) in [(&relin, None), (&gk.key, Some(&gk.perm[..]))] {
                let (f0, f1) = key_switch_mod_down(&ctx, &dec, key, perm, [Some(&x0), Some(&x1)]);
                let (a, b) = inner_product(&ctx, &dec, key, perm);
                let (mut r0, mut r1) = (mod_down(&ctx, a), mod_down(&ctx, b));
                let (s0, s1) = match perm {
                    Some(p) => (ctx.permute(&x0, p), ctx.permute(&x1, p)),
                    None => (x0.clone(), x1.clone()),
                };
                ctx.add_assign(&mut r0, &s0);
                ctx.add_assign(&mut r1, &s1);
                assert_eq!(f0, r0, "c0, level {level}, perm {}", perm.is_some());
                assert_eq!(f1, r1, "c1, level {level}, perm {}", perm.is_some());
                // Without addends: the plain key switch.
                let (g0, _) = key_switch_mod_down(&ctx, &dec, key, perm, [None, None]);
                ctx.add_assign(&mut r0, &{
                    let mut neg = s0.clone();
                    ctx.neg_assign(&mut neg);
                    neg
                });
                assert_eq!(g0, r0, "no addend, level {level}");
            }
        }
    }
}
