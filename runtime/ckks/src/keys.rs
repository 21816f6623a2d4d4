//! Keys and their generation.
//!
//! The client holds a [`KeyGenerator`] and a [`Decryptor`] (which owns the [`SecretKey`],
//! zeroized on drop). The server only ever receives [`PublicKey`] and [`EvaluationKeys`]
//! (relinearization + Galois keys): no server-side signature mentions the secret key.
//!
//! A switching key for the hybrid method holds, for each digit `j` (α consecutive Q primes),
//! `(b_j, a_j)` over `Q·P` in NTT form with `b_j = −a_j·s + e_j + [i ∈ D_j]·P·s'`; the `a_j`
//! are expanded from a 32-byte seed (stored instead of the polynomials when serialized).

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;
use zeroize::Zeroize;

use crate::ciphertext::{Ciphertext, Plaintext};
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::ring::poly::RnsPoly;
use crate::sampling::CkksRng;

/// The secret `s` (uniform ternary), in NTT form over every prime of Q·P.
pub struct SecretKey {
    pub(crate) coeffs: Vec<i64>,
    pub(crate) ntt: RnsPoly,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.coeffs.zeroize();
        self.ntt.data.zeroize();
    }
}

/// `(b, a)` with `b = −a·s + e` over Q·P (all levels and the special primes), NTT form; `a`
/// expanded from `seed`. Encryption works modulo `Q_ℓ·P` and divides by P, so fresh noise is
/// only the rounding of that division (≈ 3 bits more precision than encrypting modulo Q_ℓ).
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    pub(crate) seed: [u8; 32],
}

/// A hybrid key-switching key from some `s'` to `s`, valid for ciphertexts up to `level`.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchingKey {
    pub(crate) level: usize,
    /// `(b_j, a_j)` over primes `q_0..=q_level` and all of P, NTT form.
    pub(crate) digits: Vec<(RnsPoly, RnsPoly)>,
    pub(crate) seed: [u8; 32],
}

impl SwitchingKey {
    /// Highest ciphertext level this key can switch.
    pub fn level(&self) -> usize {
        self.level
    }
    /// Bytes of coefficient data held in memory.
    pub fn byte_size(&self) -> usize {
        self.digits
            .iter()
            .map(|(b, a)| (b.data.len() + a.data.len()) * 8)
            .sum()
    }
}

/// Everything the evaluating party needs: the relinearization key and the Galois keys for
/// exactly the rotations (and conjugation) requested.
#[derive(Debug, Clone, Default)]
pub struct EvaluationKeys {
    pub(crate) relin: Option<SwitchingKey>,
    /// Keyed by Galois element g (5^k mod 2N for rotation k, 2N−1 for conjugation).
    pub(crate) galois: BTreeMap<usize, GaloisKey>,
}

/// A Galois key with its NTT-domain permutation (recomputed, never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct GaloisKey {
    pub(crate) galois: usize,
    pub(crate) key: SwitchingKey,
    pub(crate) perm: Arc<Vec<u32>>,
}

impl GaloisKey {
    /// The Galois element this key switches for.
    pub fn galois(&self) -> usize {
        self.galois
    }
    /// Highest ciphertext level the key can rotate (keys for low levels are smaller).
    pub fn key_level(&self) -> usize {
        self.key.level
    }
}

impl EvaluationKeys {
    pub fn relin(&self) -> Option<&SwitchingKey> {
        self.relin.as_ref()
    }
    pub fn galois_elements(&self) -> impl Iterator<Item = usize> + '_ {
        self.galois.keys().copied()
    }
    pub fn galois_key(&self, g: usize) -> Option<&GaloisKey> {
        self.galois.get(&g)
    }
    pub fn insert_galois(&mut self, key: GaloisKey) {
        self.galois.insert(key.galois, key);
    }
    pub fn set_relin(&mut self, key: SwitchingKey) {
        self.relin = Some(key);
    }
    /// Total bytes of key material held in memory.
    pub fn byte_size(&self) -> usize {
        self.relin.as_ref().map_or(0, |k| k.byte_size())
            + self
                .galois
                .values()
                .map(|k| k.key.byte_size())
                .sum::<usize>()
    }
}

/// Galois element for a left rotation by `step` slots (negative steps rotate right).
pub fn galois_element_for_step(ctx: &Context, step: i64) -> usize {
    let slots = ctx.slots() as i64;
    let two_n = 2 * ctx.n();
    let k = step.rem_euclid(slots) as u64;
    // 5^k mod 2N by square-and-multiply (2N is tiny, so u128 never overflows).
    let mut acc: u128 = 1;
    let mut base: u128 = 5;
    let mut e = k;
    while e > 0 {
        if e & 1 == 1 {
            acc = acc * base % two_n as u128;
        }
        base = base * base % two_n as u128;
        e >>= 1;
    }
    acc as usize
}

/// Galois element of complex conjugation.
pub fn galois_element_conjugate(ctx: &Context) -> usize {
    2 * ctx.n() - 1
}

/// Generates keys from a CSPRNG seeded by the operating system.
#[derive(Debug)]
pub struct KeyGenerator {
    ctx: Arc<Context>,
    rng: CkksRng,
}

impl KeyGenerator {
    pub fn new(ctx: &Arc<Context>) -> Result<Self> {
        Ok(Self {
            ctx: ctx.clone(),
            rng: CkksRng::from_os()?,
        })
    }

    /// **TEST ONLY — NOT SECURE.** Deterministic keys from a fixed seed.
    pub fn insecure_from_seed_for_tests(ctx: &Arc<Context>, seed: u64) -> Self {
        Self {
            ctx: ctx.clone(),
            rng: CkksRng::insecure_from_seed_for_tests(seed),
        }
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The generator's CSPRNG, for key material built outside this module (bootstrapping's
    /// small-modulus encapsulation key).
    pub(crate) fn rng_mut(&mut self) -> &mut CkksRng {
        &mut self.rng
    }

    pub fn gen_secret_key(&mut self) -> SecretKey {
        let ctx = &self.ctx;
        let coeffs = self.rng.ternary(ctx.n());
        let mut ntt = ctx.poly_from_signed(&coeffs, ctx.max_level(), ctx.num_special());
        ctx.to_ntt(&mut ntt);
        SecretKey { coeffs, ntt }
    }

    /// **For sparse-secret encapsulation only**: an ephemeral secret with exactly
    /// `hamming_weight` coefficients in {−1, 1} at uniform positions. Sparse secrets are not
    /// covered by the HE Standard table; use it only with keys over a small modulus (see
    /// `bootstrap::encapsulation`), never as a main key.
    pub fn gen_sparse_secret_key(&mut self, hamming_weight: usize) -> Result<SecretKey> {
        let ctx = &self.ctx;
        let n = ctx.n();
        if hamming_weight == 0 || hamming_weight > n {
            return Err(CkksError::InvalidParams {
                reason: format!("Hamming weight {hamming_weight} outside 1..={n}"),
            });
        }
        let mut coeffs = vec![0i64; n];
        let mut placed = 0;
        while placed < hamming_weight {
            let r = self.rng.next_u64();
            // n is a power of two: the low bits are a uniform position, the top bit the sign.
            let pos = (r as usize) & (n - 1);
            if coeffs[pos] == 0 {
                coeffs[pos] = if r >> 63 == 1 { 1 } else { -1 };
                placed += 1;
            }
        }
        let mut ntt = ctx.poly_from_signed(&coeffs, ctx.max_level(), ctx.num_special());
        ctx.to_ntt(&mut ntt);
        Ok(SecretKey { coeffs, ntt })
    }

    /// A key switching ciphertexts decryptable under `from` to ciphertexts under `to`, for
    /// levels ≤ `level` (default: all).
    pub fn gen_key_switching_key(
        &mut self,
        from: &SecretKey,
        to: &SecretKey,
        level: Option<usize>,
    ) -> Result<SwitchingKey> {
        let level = self.check_level(level)?;
        Ok(self.gen_switching_key(to, &from.ntt, level))
    }

    /// Small error polynomial over the given basis, NTT form.
    fn error_poly(&mut self, level: usize, special: usize) -> RnsPoly {
        let e = self.rng.gaussian(self.ctx.n());
        let mut p = self.ctx.poly_from_signed(&e, level, special);
        self.ctx.to_ntt(&mut p);
        p
    }

    fn uniform_poly(&self, seed: &[u8; 32], stream: u64, level: usize, special: usize) -> RnsPoly {
        crate::sampling::uniform_from_seed(&self.ctx, seed, stream, level, special)
    }

    pub fn gen_public_key(&mut self, sk: &SecretKey) -> PublicKey {
        let ctx = self.ctx.clone();
        let l = ctx.max_level();
        let k = ctx.num_special();
        let seed = self.rng.seed32();
        let a = self.uniform_poly(&seed, 0, l, k);
        let s = restrict(&sk.ntt, l, k);
        let mut b = self.error_poly(l, k);
        let mut as_ = a.clone();
        ctx.mul_assign(&mut as_, &s);
        ctx.sub_assign(&mut b, &as_);
        PublicKey { b, a, seed }
    }

    /// Switching key from `s'` (NTT form over all primes) to `sk`, for levels ≤ `level`.
    fn gen_switching_key(
        &mut self,
        sk: &SecretKey,
        s_prime: &RnsPoly,
        level: usize,
    ) -> SwitchingKey {
        let ctx = self.ctx.clone();
        let k = ctx.num_special();
        let alpha = ctx.params().alpha();
        let digits = (level + 1).div_ceil(alpha);
        let seed = self.rng.seed32();
        let s = restrict(&sk.ntt, level, k);
        let sp = restrict(s_prime, level, k);
        let n = ctx.n();
        let mut out = Vec::with_capacity(digits);
        for j in 0..digits {
            let a = self.uniform_poly(&seed, j as u64, level, k);
            let mut b = self.error_poly(level, k);
            let mut as_ = a.clone();
            ctx.mul_assign(&mut as_, &s);
            ctx.sub_assign(&mut b, &as_);
            let lo = j * alpha;
            let hi = ((j + 1) * alpha).min(level + 1);
            // + P·s' on the digit's own primes (P ≡ 0 on the special primes).
            b.data[lo * n..hi * n]
                .par_chunks_mut(n)
                .zip(sp.data[lo * n..hi * n].par_chunks(n))
                .enumerate()
                .for_each(|(t, (bl, sl))| {
                    let i = lo + t;
                    let m = &ctx.moduli()[i];
                    let c = m.shoup(ctx.p_mod_q(i));
                    for (x, &y) in bl.iter_mut().zip(sl) {
                        *x = m.add(*x, m.mul_shoup(y, c));
                    }
                });
            out.push((b, a));
        }
        SwitchingKey {
            level,
            digits: out,
            seed,
        }
    }

    /// Relinearization key (switches `s²` to `s`), for levels ≤ `level` (default: all).
    pub fn gen_relin_key(&mut self, sk: &SecretKey, level: Option<usize>) -> Result<SwitchingKey> {
        let level = self.check_level(level)?;
        let mut s2 = sk.ntt.clone();
        self.ctx.mul_assign(&mut s2, &sk.ntt);
        let key = self.gen_switching_key(sk, &s2, level);
        s2.data.zeroize();
        Ok(key)
    }

    /// Galois key for element `g` (odd, < 2N).
    pub fn gen_galois_key(
        &mut self,
        sk: &SecretKey,
        galois: usize,
        level: Option<usize>,
    ) -> Result<GaloisKey> {
        let level = self.check_level(level)?;
        if galois.is_multiple_of(2) || galois >= 2 * self.ctx.n() {
            return Err(CkksError::InvalidParams {
                reason: format!("Galois element {galois} is not odd and below 2N"),
            });
        }
        let perm = Arc::new(self.ctx.order().galois_permutation(galois));
        let mut sg = self.ctx.permute(&sk.ntt, &perm);
        let key = self.gen_switching_key(sk, &sg, level);
        sg.data.zeroize();
        Ok(GaloisKey { galois, key, perm })
    }

    /// Relinearization key plus Galois keys for exactly the given rotation steps (and
    /// conjugation if asked), optionally only up to `level`.
    pub fn gen_evaluation_keys(
        &mut self,
        sk: &SecretKey,
        rotations: &[i64],
        conjugation: bool,
        level: Option<usize>,
    ) -> Result<EvaluationKeys> {
        let mut keys = EvaluationKeys {
            relin: Some(self.gen_relin_key(sk, level)?),
            ..Default::default()
        };
        for &step in rotations {
            let g = galois_element_for_step(&self.ctx, step);
            if g != 1 && !keys.galois.contains_key(&g) {
                keys.insert_galois(self.gen_galois_key(sk, g, level)?);
            }
        }
        if conjugation {
            let g = galois_element_conjugate(&self.ctx);
            keys.insert_galois(self.gen_galois_key(sk, g, level)?);
        }
        Ok(keys)
    }

    fn check_level(&self, level: Option<usize>) -> Result<usize> {
        let max = self.ctx.max_level();
        match level {
            None => Ok(max),
            Some(l) if l <= max => Ok(l),
            Some(l) => Err(CkksError::LevelOutOfRange { level: l, max }),
        }
    }
}

/// Copies the limbs `q_0..=q_level` and the first `special` special limbs of a polynomial
/// held over all primes.
pub(crate) fn restrict(full: &RnsPoly, level: usize, special: usize) -> RnsPoly {
    let n = full.n;
    let mut data = Vec::with_capacity(n * (level + 1 + special));
    data.extend_from_slice(&full.data[..n * (level + 1)]);
    let sp_start = n * (full.level + 1);
    data.extend_from_slice(&full.data[sp_start..sp_start + n * special]);
    RnsPoly {
        n,
        level,
        special,
        ntt: full.ntt,
        data,
    }
}

/// Public-key encryption.
#[derive(Debug)]
pub struct Encryptor {
    ctx: Arc<Context>,
    pk: PublicKey,
    rng: CkksRng,
}

impl Encryptor {
    pub fn new(ctx: &Arc<Context>, pk: PublicKey) -> Result<Self> {
        Ok(Self {
            ctx: ctx.clone(),
            pk,
            rng: CkksRng::from_os()?,
        })
    }

    /// **TEST ONLY — NOT SECURE.** Deterministic encryption randomness.
    pub fn insecure_from_seed_for_tests(ctx: &Arc<Context>, pk: PublicKey, seed: u64) -> Self {
        Self {
            ctx: ctx.clone(),
            pk,
            rng: CkksRng::insecure_from_seed_for_tests(seed),
        }
    }

    /// `((b·u + e_0)/P + m, (a·u + e_1)/P)` at the plaintext's level and scale: the encryption
    /// of zero is formed modulo `Q_ℓ·P` and divided by P (rounded), as SEAL does.
    pub fn encrypt(&mut self, pt: &Plaintext) -> Ciphertext {
        let ctx = &self.ctx;
        let level = pt.level();
        let k = ctx.num_special();
        let n = ctx.n();
        let u = self.rng.ternary(n);
        let e0 = self.rng.gaussian(n);
        let e1 = self.rng.gaussian(n);
        let mut u = ctx.poly_from_signed(&u, level, k);
        let mut c0 = ctx.poly_from_signed(&e0, level, k);
        let mut c1 = ctx.poly_from_signed(&e1, level, k);
        rayon::join(
            || ctx.to_ntt(&mut u),
            || rayon::join(|| ctx.to_ntt(&mut c0), || ctx.to_ntt(&mut c1)),
        );
        let b = restrict(&self.pk.b, level, k);
        let a = restrict(&self.pk.a, level, k);
        let idx = ctx.prime_indices(level, k);
        c0.data
            .par_chunks_mut(n)
            .zip(c1.data.par_chunks_mut(n))
            .zip(u.data.par_chunks(n).zip(b.data.par_chunks(n)))
            .zip(a.data.par_chunks(n))
            .zip(idx.par_iter())
            .for_each(|((((x0, x1), (ul, bl)), al), &i)| {
                let m = &ctx.moduli()[i];
                for t in 0..n {
                    x0[t] = m.add(x0[t], m.mul_fast(bl[t], ul[t]));
                    x1[t] = m.add(x1[t], m.mul_fast(al[t], ul[t]));
                }
            });
        u.data.zeroize();
        let (mut c0, c1) = rayon::join(
            || crate::keyswitch::mod_down(ctx, c0),
            || crate::keyswitch::mod_down(ctx, c1),
        );
        ctx.add_assign(&mut c0, &pt.poly);
        Ciphertext {
            polys: vec![c0, c1],
            scale: pt.scale,
        }
    }
}

/// Owns the secret key; decrypts.
#[derive(Debug)]
pub struct Decryptor {
    ctx: Arc<Context>,
    sk: SecretKey,
}

impl Decryptor {
    pub fn new(ctx: &Arc<Context>, sk: SecretKey) -> Self {
        Self {
            ctx: ctx.clone(),
            sk,
        }
    }

    pub fn secret_key(&self) -> &SecretKey {
        &self.sk
    }

    /// `c_0 + c_1·s (+ c_2·s²)` as a plaintext at the ciphertext's level and scale.
    pub fn decrypt(&self, ct: &Ciphertext) -> Plaintext {
        let ctx = &self.ctx;
        let level = ct.level();
        let s = restrict(&self.sk.ntt, level, 0);
        let mut acc = ct.polys[ct.polys.len() - 1].clone();
        for c in ct.polys[..ct.polys.len() - 1].iter().rev() {
            ctx.mul_assign(&mut acc, &s);
            ctx.add_assign(&mut acc, c);
        }
        Plaintext {
            poly: acc,
            scale: ct.scale,
        }
    }
}
