//! Sparse-secret encapsulation (Bossuat–Troncoso-Pastoriza–Hubaux 2022): the main secret `s`
//! stays dense (uniform ternary, covered by the HE Standard table); only for ModRaise the
//! level-0 ciphertext is switched to an ephemeral sparse secret `s'` of Hamming weight `h`,
//! and right after ModRaise switched back to `s`.
//!
//! # Failure probability
//!
//! ModRaise's overflow `I = round((c_0 + c_1·s')/q_0)` has coefficients that are sums of
//! `h + 1` independent values in `[−1/2, 1/2]`, so `|I| ≤ (h + 1)/2` **always**: with
//! `h = 32`, `|I| ≤ 16` and the EvalMod interval `K = 17` ([`EncapsulationKeys::failure_free_k_bound`],
//! the default of [`super::BootstrapSpec`]) **never fails**: failure probability 0 per
//! bootstrap, for any number of bootstraps (the dense secret would need `K ≈ 6·sqrt(2N/36)`,
//! ≈ 350 at N = 2^16, with a non-zero tail). With `K = 16` instead a failure needs
//! `|Σ U_j| ≥ 15.5` for `n = 33` uniforms, probability `2/33! ≈ 2^−121.7` per coefficient,
//! `≈ 2^−105.7` per bootstrap at N = 2^16: too much for runs of thousands of bootstraps,
//! which is why the default is 17. (The remaining error sources are the Gaussian noise
//! tails, which the precision figures measure.)
//!
//! # Keys and their security
//!
//! * `to_sparse` (s → s') is a [`SmallSwitchingKey`]: one digit over the **dedicated small
//!   modulus `q_0·p_0`** (the first Q prime and the first special prime; 60 + 61 = 121 bits
//!   for [`super::bootstrappable_params`]). It is an RLWE sample *under the sparse secret*,
//!   and sparse secrets are only safe at small moduli: Bossuat et al. give > 128-bit
//!   security for h = 32 at N = 2^16 with a 121-bit modulus (hybrid attacks need a much
//!   larger q/σ). Using all special primes (`q_0·P`, ≈ 490 bits) would expose `s'` in an RLWE
//!   sample far outside that regime. Noise of the switch: `q_0·σ·sqrt(N)/p_0` ≈ 2^8, at the
//!   message scale ≥ 2^40 of the level-0 ciphertext.
//! * `to_dense` (s' → s) is an ordinary hybrid key under the dense `s` over the whole `Q·P`
//!   (covered by the table like every evaluation key; `s'` is only its message).
//!
//! The ephemeral secret itself is dropped (zeroized) after key generation.

use std::sync::Arc;

use crate::ciphertext::Ciphertext;
use crate::context::Context;
use crate::error::{CkksError, Result};
use zeroize::Zeroize;

use crate::keys::{KeyGenerator, SecretKey, SwitchingKey, restrict};
use crate::keyswitch::key_switch;
use crate::ring::poly::RnsPoly;
use crate::sampling::uniform_from_seed;
use crate::serial::{Reader, Serializable, TypeTag, Writer, read_poly, write_poly};

/// A one-digit switching key over the small modulus `q_0·p_0` (level 0, one special prime),
/// for ciphertexts at level 0: see the module docs for why.
#[derive(Debug, Clone, PartialEq)]
pub struct SmallSwitchingKey {
    /// `b = −a·s_to + e + p_0·s_from` over `{q_0, p_0}`, NTT form.
    b: RnsPoly,
    /// Uniform, expanded from `seed` (stream 0).
    a: RnsPoly,
    seed: [u8; 32],
}

impl SmallSwitchingKey {
    /// A key switching level-0 ciphertexts under `from` to `to`.
    pub fn generate(kg: &mut KeyGenerator, from: &SecretKey, to: &SecretKey) -> Result<Self> {
        let ctx = kg.context().clone();
        if ctx.num_special() == 0 {
            return Err(CkksError::InvalidParams {
                reason: "the small-modulus key needs a special prime".into(),
            });
        }
        let n = ctx.n();
        let seed = kg.rng_mut().seed32();
        let a = uniform_from_seed(&ctx, &seed, 0, 0, 1);
        let e = kg.rng_mut().gaussian(n);
        let mut b = ctx.poly_from_signed(&e, 0, 1);
        ctx.to_ntt(&mut b);
        let mut s_to = restrict(&to.ntt, 0, 1);
        ctx.mul_assign(&mut s_to, &a);
        ctx.sub_assign(&mut b, &s_to);
        s_to.data.zeroize();
        // + p_0·s_from on the q_0 limb (p_0 ≡ 0 on its own limb).
        let m = &ctx.moduli()[0];
        let c = m.shoup(m.reduce(ctx.params().p()[0]));
        for (x, &y) in b.data[..n].iter_mut().zip(&from.ntt.data[..n]) {
            *x = m.add(*x, m.mul_shoup(y, c));
        }
        Ok(Self { b, a, seed })
    }

    /// log2 of the key's modulus `q_0·p_0`.
    pub fn log2_modulus(ctx: &Context) -> f64 {
        let q0 = ctx.params().q()[0] as f64;
        let p0 = ctx.params().p().first().map_or(1.0, |&p| p as f64);
        q0.log2() + p0.log2()
    }

    /// Bytes of coefficient data held in memory.
    pub fn byte_size(&self) -> usize {
        (self.b.data.len() + self.a.data.len()) * 8
    }

    /// Switches a degree-1 level-0 ciphertext: lift `c_1` to `{q_0, p_0}`, multiply by the
    /// key, divide by `p_0` with rounding, add to `c_0`.
    pub fn switch(&self, ctx: &Arc<Context>, ct: &Ciphertext) -> Result<Ciphertext> {
        if ct.degree() != 1 {
            return Err(CkksError::CiphertextDegree {
                expected: 1,
                got: ct.degree(),
            });
        }
        if ct.level() != 0 {
            return Err(CkksError::KeyLevelTooLow {
                key_level: 0,
                level: ct.level(),
            });
        }
        let q0 = ctx.params().q()[0];
        let mut c1 = ct.polys[1].clone();
        ctx.to_coeff(&mut c1);
        let signed: Vec<i64> = c1.limb(0).iter().map(|&v| centered(v, q0)).collect();
        let mut d = ctx.poly_from_signed(&signed, 0, 1);
        ctx.to_ntt(&mut d);
        let mut k0 = d.clone();
        ctx.mul_assign(&mut k0, &self.b);
        let mut k1 = d;
        ctx.mul_assign(&mut k1, &self.a);
        let mut c0 = ct.polys[0].clone();
        ctx.add_assign(&mut c0, &mod_down_p0(ctx, k0));
        Ok(Ciphertext {
            polys: vec![c0, mod_down_p0(ctx, k1)],
            scale: ct.scale,
        })
    }
}

/// `v mod q` as a signed value in `(−q/2, q/2]`.
fn centered(v: u64, q: u64) -> i64 {
    if v > q / 2 {
        v as i64 - q as i64
    } else {
        v as i64
    }
}

/// `x ↦ round(x/p_0)` from `{q_0, p_0}` to `q_0`: `(x − [x]_{p_0})·p_0^{-1}` with the
/// centered remainder (exact division, rounding to nearest).
fn mod_down_p0(ctx: &Context, mut x: RnsPoly) -> RnsPoly {
    let n = ctx.n();
    let q0 = ctx.params().q()[0];
    let p0 = ctx.params().p()[0];
    ctx.to_coeff(&mut x);
    let m = &ctx.moduli()[0];
    let inv = m.shoup(pow_mod(p0 % q0, q0 - 2, q0));
    let mut out = RnsPoly::zero(n, 0, 0, false);
    let (xq, xp) = (x.limb(0), x.limb(1));
    for ((o, &a), &r) in out.data.iter_mut().zip(xq).zip(xp) {
        let diff = m.sub(a, m.reduce_i64(centered(r, p0)));
        *o = m.mul_shoup(diff, inv);
    }
    ctx.to_ntt(&mut out);
    out
}

/// `b^e mod m` (m < 2^62 prime), for the one inverse above.
fn pow_mod(mut b: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1u64;
    b %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = ((r as u128 * b as u128) % m as u128) as u64;
        }
        b = ((b as u128 * b as u128) % m as u128) as u64;
        e >>= 1;
    }
    r
}

/// The two switching keys of the encapsulation (public evaluation material).
#[derive(Debug, Clone, PartialEq)]
pub struct EncapsulationKeys {
    /// Dense → sparse, level 0 only, over the small modulus `q_0·p_0`.
    pub to_sparse: SmallSwitchingKey,
    /// Sparse → dense, every level.
    pub to_dense: SwitchingKey,
    /// Hamming weight of the ephemeral secret (its value is dropped and zeroized).
    pub hamming_weight: usize,
}

impl EncapsulationKeys {
    /// Samples an ephemeral sparse secret of weight `hamming_weight` and both keys.
    pub fn generate(kg: &mut KeyGenerator, sk: &SecretKey, hamming_weight: usize) -> Result<Self> {
        let sparse = kg.gen_sparse_secret_key(hamming_weight)?;
        let to_sparse = SmallSwitchingKey::generate(kg, sk, &sparse)?;
        let to_dense = kg.gen_key_switching_key(&sparse, sk, None)?;
        Ok(Self {
            to_sparse,
            to_dense,
            hamming_weight,
        })
    }

    /// The smallest EvalMod bound `K` that can never fail: `|I| ≤ (h + 1)/2`, plus one.
    pub fn failure_free_k_bound(&self) -> f64 {
        self.hamming_weight.div_ceil(2) as f64 + 1.0
    }

    /// Bytes of key data held in memory.
    pub fn byte_size(&self) -> usize {
        self.to_sparse.byte_size() + self.to_dense.byte_size()
    }

    /// Level-0 ciphertext under the dense secret → under the sparse one.
    pub fn switch_to_sparse(&self, ctx: &Arc<Context>, ct: &Ciphertext) -> Result<Ciphertext> {
        self.to_sparse.switch(ctx, ct)
    }

    /// Ciphertext under the sparse secret (any level) → under the dense one.
    pub fn switch_to_dense(&self, ctx: &Arc<Context>, ct: &Ciphertext) -> Result<Ciphertext> {
        switch_key(ctx, ct, &self.to_dense)
    }
}

impl Serializable for EncapsulationKeys {
    const TAG: TypeTag = TypeTag::EncapsulationKeys;
    /// The weight, then both keys in the switching-key payload format (seeded halves).
    fn write_payload(&self, ctx: &Context, w: &mut Writer) {
        w.u64(self.hamming_weight as u64);
        w.bytes(&self.to_sparse.seed);
        write_poly(&self.to_sparse.b, w);
        self.to_dense.write_payload(ctx, w);
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let hamming_weight = r.u64()?;
        if hamming_weight == 0 || hamming_weight > ctx.n() as u64 {
            return Err(CkksError::Malformed {
                reason: format!("Hamming weight {hamming_weight}"),
            });
        }
        let seed = r.array32()?;
        let b = read_poly(ctx, r, Some(1))?;
        if b.level != 0 || !b.ntt {
            // The sparse secret may only ever appear modulo q_0·p_0.
            return Err(CkksError::Malformed {
                reason: "dense→sparse key not over q_0·p_0 in NTT form".into(),
            });
        }
        let a = uniform_from_seed(ctx, &seed, 0, 0, 1);
        let to_dense = SwitchingKey::read_payload(ctx, r)?;
        Ok(Self {
            to_sparse: SmallSwitchingKey { b, a, seed },
            to_dense,
            hamming_weight: hamming_weight as usize,
        })
    }
}

/// Switches a degree-1 ciphertext with `key` (`(c_0, c_1) ↦ (c_0 + k_0, k_1)` with
/// `(k_0, k_1) = KeySwitch(c_1)`).
pub fn switch_key(ctx: &Arc<Context>, ct: &Ciphertext, key: &SwitchingKey) -> Result<Ciphertext> {
    if ct.degree() != 1 {
        return Err(CkksError::CiphertextDegree {
            expected: 1,
            got: ct.degree(),
        });
    }
    if key.level() < ct.level() {
        return Err(CkksError::KeyLevelTooLow {
            key_level: key.level(),
            level: ct.level(),
        });
    }
    let (k0, k1) = key_switch(ctx, &ct.polys[1], key);
    let mut c0 = ct.polys[0].clone();
    ctx.add_assign(&mut c0, &k0);
    Ok(Ciphertext {
        polys: vec![c0, k1],
        scale: ct.scale,
    })
}
