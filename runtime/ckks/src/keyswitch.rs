//! Hybrid key switching (Han–Ki; Kim–Polyakov–Zucca): decompose into digits of α primes, ModUp
//! each digit to Q_ℓ·P by fast basis extension, inner product with the key, ModDown by P.
//!
//! The decomposition ([`Decomposed`]) is independent of the key, which is what hoisting reuses:
//! a rotation applies its Galois permutation *inside* the inner product (reading the digits
//! through the permutation), so k rotations of one ciphertext share one ModUp.
//! [`inner_product_mac`] goes one step further (double hoisting): it multiplies a plaintext
//! into the inner product and accumulates, so a sum of plaintext-weighted rotations needs a
//! single ModDown ([`crate::Evaluator::rotate_sum`]).

use rayon::prelude::*;

use crate::context::Context;
use crate::keys::SwitchingKey;
use crate::ring::basis::LAZY_TERMS;
use crate::ring::modarith::Modulus;
use crate::ring::poly::RnsPoly;

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
            let mut scratch = ctx.take_buffer(0);
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
    let level = dec.level;
    let l_max = ctx.max_level();
    let ndig = dec.digits.len();
    out0.data
        .par_chunks_mut(n)
        .zip(out1.data.par_chunks_mut(n))
        .enumerate()
        .for_each(|(limb, (o0, o1))| {
            let (prime, key_limb) = if limb <= level {
                (limb, limb)
            } else {
                (
                    l_max + 1 + (limb - level - 1),
                    key.level + 1 + (limb - level - 1),
                )
            };
            let m = &ctx.moduli()[prime];
            let pt = pt_poly.map(|p| p.limb(limb));
            let pv = m.value() as u128;
            let wide = ndig <= LAZY_TERMS && m.wide_ok(ndig as u128 * pv * pv);
            let ds: Vec<&[u64]> = dec.digits.iter().map(|d| d.limb(limb)).collect();
            let bs: Vec<&[u64]> = key.digits.iter().map(|k| k.0.limb(key_limb)).collect();
            let as_: Vec<&[u64]> = key.digits.iter().map(|k| k.1.limb(key_limb)).collect();
            let inp = LimbInputs {
                ds: &ds,
                bs: &bs,
                as_: &as_,
                perm,
                pt,
            };
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
        });
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
    if ds.iter().chain(bs).chain(as_).any(|s| s.len() != n) || o1.len() != n {
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
    let mut scratch = ctx.take_buffer(0);
    ctx.moddown()
        .convert_centered(n, &p_part, &mut conv, &mut scratch);
    // The output is written over the conversion buffer (exactly Q-sized), and the Q·P input
    // goes back to the pool: results do not carry the special limbs' capacity around.
    conv.par_chunks_mut(n)
        .zip(x.data.par_chunks(n))
        .enumerate()
        .for_each(|(i, (cl, xl))| {
            ctx.ntt_table(i).forward(cl);
            let m = &ctx.moduli()[i];
            let pinv = ctx.p_inv_mod_q(i);
            for (c, &a) in cl.iter_mut().zip(xl.iter()) {
                *c = m.mul_shoup(a.wrapping_add(m.value() - *c), pinv);
            }
        });
    ctx.recycle(std::mem::replace(&mut x.data, conv));
    x.special = 0;
    ctx.recycle(p_part);
    ctx.recycle(scratch);
    x
}

/// Full key switch of `d` (NTT, Q_level): returns `(c_0', c_1')` with
/// `c_0' + c_1'·s ≈ d·s'`.
pub fn key_switch(ctx: &Context, d: &RnsPoly, key: &SwitchingKey) -> (RnsPoly, RnsPoly) {
    let dec = decompose(ctx, d);
    let (a, b) = inner_product(ctx, &dec, key, None);
    for digit in dec.digits {
        ctx.recycle(digit.data);
    }
    rayon::join(|| mod_down(ctx, a), || mod_down(ctx, b))
}
