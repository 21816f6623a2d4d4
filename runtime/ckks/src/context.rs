//! [`Context`]: parameters plus every precomputed table (NTT plans per prime, basis converters
//! for ModUp/ModDown at each level, rescale and CRT constants, the encoder's FFT tables).
//! Shared as `Arc<Context>` by every object of one parameter set.

use std::sync::Arc;

use rayon::prelude::*;

use crate::encoding::SpecialFft;
use crate::error::{CkksError, Result};
use crate::params::Params;
use crate::ring::automorphism::NttOrder;
use crate::ring::basis::BasisConverter;
use crate::ring::modarith::{Modulus, ShoupConst};
use crate::ring::ntt::NttTable;
use crate::ring::poly::RnsPoly;

/// Parameters plus precomputation. Index convention for primes: `0..=L` are the Q chain,
/// `L+1..L+1+K` the special primes.
#[derive(Debug)]
pub struct Context {
    params: Params,
    n: usize,
    moduli: Vec<Modulus>,
    ntt: Vec<NttTable>,
    order: NttOrder,
    fft: SpecialFft,
    hash: [u8; 32],
    /// `rescale_inv[l][i]` = q_l^{-1} mod q_i (i < l).
    rescale_inv: Vec<Vec<ShoupConst>>,
    /// `modup[l][j]`: digit j's primes (≤ l) → the other Q_l primes then P, with 1/N folded in.
    modup: Vec<Vec<BasisConverter>>,
    /// P → q_0..q_L (prefixes are used at lower levels), with 1/N folded in.
    moddown: BasisConverter,
    /// P^{-1} mod q_i.
    p_inv_mod_q: Vec<ShoupConst>,
    /// P mod q_i (the gadget factor in switching keys).
    p_mod_q: Vec<u64>,
    /// `garner_inv[i][k]` = q_k^{-1} mod q_i for k < i.
    garner_inv: Vec<Vec<ShoupConst>>,
    /// Recycled temporaries of the key-switching path (digits, conversion buffers): large
    /// allocations freed and re-requested every operation otherwise cost page faults.
    pool: std::sync::Mutex<Vec<Vec<u64>>>,
}

/// Most buffers kept in the pool (a hybrid key switch uses about ten).
const POOL_MAX: usize = 12;

impl Context {
    pub fn new(params: Params) -> Result<Arc<Self>> {
        let n = params.n();
        let l = params.max_level();
        let primes: Vec<u64> = params.q.iter().chain(&params.p).copied().collect();
        let moduli: Vec<Modulus> = primes.iter().map(|&p| Modulus::new(p)).collect();
        let ntt = primes
            .iter()
            .map(|&p| {
                NttTable::new(n, p).ok_or_else(|| CkksError::InvalidParams {
                    reason: format!("no NTT plan for prime {p} at N = {n}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let order = NttOrder::new(ntt[0].eval_exponents());
        if !order.is_complete() {
            return Err(CkksError::InvalidParams {
                reason: "NTT evaluation order could not be derived".into(),
            });
        }
        let q_moduli = &moduli[..=l];
        let p_moduli = &moduli[l + 1..];
        let rescale_inv = (0..=l)
            .map(|lv| {
                (0..lv)
                    .map(|i| {
                        let m = &moduli[i];
                        m.shoup(m.inv(m.reduce(primes[lv])))
                    })
                    .collect()
            })
            .collect();
        let alpha = params.alpha();
        let mut modup = Vec::with_capacity(l + 1);
        for lv in 0..=l {
            let digits = (lv + 1).div_ceil(alpha);
            let mut per = Vec::with_capacity(digits);
            for j in 0..digits {
                let lo = j * alpha;
                let hi = ((j + 1) * alpha).min(lv + 1);
                let src: Vec<Modulus> = moduli[lo..hi].to_vec();
                let n_inv: Vec<u64> = src.iter().map(|m| m.inv(m.reduce(n as u64))).collect();
                let dst: Vec<Modulus> = (0..=lv)
                    .filter(|i| !(lo..hi).contains(i))
                    .map(|i| moduli[i])
                    .chain(p_moduli.iter().copied())
                    .collect();
                per.push(BasisConverter::new(&src, &dst, Some(&n_inv)));
            }
            modup.push(per);
        }
        let n_inv_p: Vec<u64> = p_moduli.iter().map(|m| m.inv(m.reduce(n as u64))).collect();
        let moddown = BasisConverter::new(p_moduli, q_moduli, Some(&n_inv_p));
        let mut p_mod_q = Vec::with_capacity(l + 1);
        let mut p_inv_mod_q = Vec::with_capacity(l + 1);
        for m in q_moduli {
            let pm = params
                .p
                .iter()
                .fold(1u64, |acc, &p| m.mul(acc, m.reduce(p)));
            p_mod_q.push(pm);
            p_inv_mod_q.push(m.shoup(m.inv(pm)));
        }
        let garner_inv = (0..=l)
            .map(|i| {
                let m = &moduli[i];
                (0..i)
                    .map(|k| m.shoup(m.inv(m.reduce(primes[k]))))
                    .collect()
            })
            .collect();
        let hash = params.hash();
        Ok(Arc::new(Self {
            fft: SpecialFft::new(n),
            params,
            n,
            moduli,
            ntt,
            order,
            hash,
            rescale_inv,
            modup,
            moddown,
            p_inv_mod_q,
            p_mod_q,
            garner_inv,
            pool: std::sync::Mutex::new(Vec::new()),
        }))
    }

    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn n(&self) -> usize {
        self.n
    }
    pub fn slots(&self) -> usize {
        self.n / 2
    }
    pub fn max_level(&self) -> usize {
        self.params.max_level()
    }
    pub fn num_special(&self) -> usize {
        self.params.p.len()
    }
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }
    pub(crate) fn fft(&self) -> &SpecialFft {
        &self.fft
    }
    pub(crate) fn moduli(&self) -> &[Modulus] {
        &self.moduli
    }
    pub(crate) fn ntt_table(&self, i: usize) -> &NttTable {
        &self.ntt[i]
    }
    pub(crate) fn order(&self) -> &NttOrder {
        &self.order
    }
    pub(crate) fn rescale_inv(&self, level: usize) -> &[ShoupConst] {
        &self.rescale_inv[level]
    }
    pub(crate) fn modup(&self, level: usize, digit: usize) -> &BasisConverter {
        &self.modup[level][digit]
    }
    pub(crate) fn num_digits(&self, level: usize) -> usize {
        self.modup[level].len()
    }
    pub(crate) fn moddown(&self) -> &BasisConverter {
        &self.moddown
    }
    pub(crate) fn p_inv_mod_q(&self, i: usize) -> ShoupConst {
        self.p_inv_mod_q[i]
    }
    pub(crate) fn p_mod_q(&self, i: usize) -> u64 {
        self.p_mod_q[i]
    }
    pub(crate) fn garner_inv(&self, i: usize) -> &[ShoupConst] {
        &self.garner_inv[i]
    }

    /// A buffer of exactly `len` words with unspecified contents (callers overwrite it).
    pub(crate) fn take_buffer(&self, len: usize) -> Vec<u64> {
        let reused = self.pool.lock().ok().and_then(|mut pool| {
            // best fit, so a long-lived result does not keep a much larger allocation
            let i = pool
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())?
                .0;
            Some(pool.swap_remove(i))
        });
        match reused {
            Some(mut v) => {
                v.resize(len, 0);
                v.truncate(len);
                v
            }
            None => vec![0; len],
        }
    }

    /// Returns a temporary to the pool.
    pub(crate) fn recycle(&self, v: Vec<u64>) {
        if v.capacity() < 4096 {
            return;
        }
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < POOL_MAX
        {
            pool.push(v);
        }
    }

    /// Global prime indices of the limbs of a polynomial at `level` with `special` special
    /// limbs.
    pub(crate) fn prime_indices(&self, level: usize, special: usize) -> Vec<usize> {
        let l = self.max_level();
        (0..=level).chain(l + 1..l + 1 + special).collect()
    }

    /// Lifts small signed coefficients into an RNS polynomial (coefficient form).
    pub(crate) fn poly_from_signed(&self, coeffs: &[i64], level: usize, special: usize) -> RnsPoly {
        let mut out = RnsPoly::zero(self.n, level, special, false);
        let idx = self.prime_indices(level, special);
        out.data
            .par_chunks_mut(self.n)
            .zip(idx.par_iter())
            .for_each(|(limb, &i)| {
                let m = &self.moduli[i];
                for (o, &c) in limb.iter_mut().zip(coeffs) {
                    *o = m.reduce_i64(c);
                }
            });
        out
    }

    /// Coefficient form → NTT form, every limb.
    pub(crate) fn to_ntt(&self, a: &mut RnsPoly) {
        if a.ntt {
            return;
        }
        let idx = self.prime_indices(a.level, a.special);
        a.data
            .par_chunks_mut(self.n)
            .zip(idx.par_iter())
            .for_each(|(limb, &i)| {
                self.ntt[i].forward(limb);
            });
        a.ntt = true;
    }

    /// NTT form → coefficient form, every limb.
    pub(crate) fn to_coeff(&self, a: &mut RnsPoly) {
        if !a.ntt {
            return;
        }
        let idx = self.prime_indices(a.level, a.special);
        a.data
            .par_chunks_mut(self.n)
            .zip(idx.par_iter())
            .for_each(|(limb, &i)| {
                self.ntt[i].inverse(limb);
            });
        a.ntt = false;
    }

    /// Limb-wise binary operation `a ← f(m, a, b)` over matching polynomials.
    pub(crate) fn zip_apply(
        &self,
        a: &mut RnsPoly,
        b: &RnsPoly,
        f: impl Fn(&Modulus, u64, u64) -> u64 + Sync,
    ) {
        let idx = self.prime_indices(a.level, a.special);
        let n = self.n;
        a.data
            .par_chunks_mut(n)
            .zip(b.data.par_chunks(n))
            .zip(idx.par_iter())
            .for_each(|((x, y), &i)| {
                let m = &self.moduli[i];
                for (u, &v) in x.iter_mut().zip(y) {
                    *u = f(m, *u, v);
                }
            });
    }

    pub(crate) fn add_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        self.zip_apply(a, b, |m, x, y| m.add(x, y));
    }
    pub(crate) fn sub_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        self.zip_apply(a, b, |m, x, y| m.sub(x, y));
    }
    pub(crate) fn mul_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        self.zip_apply(a, b, |m, x, y| m.mul_fast(x, y));
    }
    pub(crate) fn neg_assign(&self, a: &mut RnsPoly) {
        let idx = self.prime_indices(a.level, a.special);
        a.data
            .par_chunks_mut(self.n)
            .zip(idx.par_iter())
            .for_each(|(x, &i)| {
                let m = &self.moduli[i];
                for u in x.iter_mut() {
                    *u = m.neg(*u);
                }
            });
    }

    /// Multiplies each limb by a per-prime constant (given for the global prime index).
    pub(crate) fn mul_scalar_rns(&self, a: &mut RnsPoly, consts: &[u64]) {
        let idx = self.prime_indices(a.level, a.special);
        a.data
            .par_chunks_mut(self.n)
            .zip(idx.par_iter())
            .zip(consts.par_iter())
            .for_each(|((x, &i), &c)| {
                let m = &self.moduli[i];
                let s = m.shoup(m.reduce(c));
                for u in x.iter_mut() {
                    *u = m.mul_shoup(*u, s);
                }
            });
    }

    /// Adds a per-prime constant to every NTT slot (a constant polynomial in NTT form).
    pub(crate) fn add_scalar_rns(&self, a: &mut RnsPoly, consts: &[u64]) {
        let idx = self.prime_indices(a.level, a.special);
        a.data
            .par_chunks_mut(self.n)
            .zip(idx.par_iter())
            .zip(consts.par_iter())
            .for_each(|((x, &i), &c)| {
                let m = &self.moduli[i];
                let c = m.reduce(c);
                for u in x.iter_mut() {
                    *u = m.add(*u, c);
                }
            });
    }

    /// Applies the Galois automorphism with NTT-domain permutation `perm` to every limb.
    pub(crate) fn permute(&self, a: &RnsPoly, perm: &[u32]) -> RnsPoly {
        let mut out = RnsPoly::zero(self.n, a.level, a.special, a.ntt);
        out.data
            .par_chunks_mut(self.n)
            .zip(a.data.par_chunks(self.n))
            .for_each(|(o, x)| {
                crate::ring::automorphism::permute_limb(perm, x, o);
            });
        out
    }
}
