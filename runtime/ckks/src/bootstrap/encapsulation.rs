//! Sparse-secret encapsulation (Bossuat–Troncoso-Pastoriza–Hubaux 2022): the main secret `s`
//! stays dense (uniform ternary, covered by the HE Standard table); only for ModRaise the
//! level-0 ciphertext is switched to an ephemeral sparse secret `s'` of Hamming weight `h`,
//! and right after ModRaise switched back to `s`.
//!
//! Why: ModRaise's overflow `I = round((c_0 + c_1·s')/q_0)` has coefficients that are sums of
//! `h + 1` independent uniform values in `[−1/2, 1/2]`, so `|I| ≤ (h + 1)/2` **always**:
//! with `h = 32`, `|I| ≤ 16` and an EvalMod interval `K = 17` never fails (failure
//! probability 0 from `I`; the dense secret needs `K ≈ 6·sqrt(2N/36)`, e.g. 48 at N = 2^10 and
//! ≈ 350 at N = 2^16, with a non-zero tail). With `K = 16` a failure needs
//! `|Σ U_j| ≥ 15.5` for `n = 33` uniforms, probability `2/33! ≈ 2^−121.7` per coefficient
//! (the hypercube-corner volume), `≈ 2^−105.7` per bootstrap at N = 2^16.
//!
//! Keys: `to_sparse` (s → s') is generated **at level 0 only**, so the sparse secret is only
//! ever exposed in an RLWE sample modulo `q_0·P`; `to_dense` (s' → s) encrypts `s'` under the
//! dense `s` at the top level. **Known limit:** `q_0·P` uses all special primes (≈ 426 bits
//! for B1); the recommended ≤ ~121 bits needs a dedicated small-modulus key (one special prime,
//! a smaller q_0), which the hybrid key-switching code does not support yet.

use std::sync::Arc;

use crate::ciphertext::Ciphertext;
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::keys::{KeyGenerator, SecretKey, SwitchingKey};
use crate::keyswitch::key_switch;
use crate::serial::{Reader, Serializable, TypeTag, Writer};

/// The two switching keys of the encapsulation (public evaluation material).
#[derive(Debug, Clone, PartialEq)]
pub struct EncapsulationKeys {
    /// Dense → sparse, level 0 only.
    pub to_sparse: SwitchingKey,
    /// Sparse → dense, every level.
    pub to_dense: SwitchingKey,
    /// Hamming weight of the ephemeral secret (its value is dropped and zeroized).
    pub hamming_weight: usize,
}

impl EncapsulationKeys {
    /// Samples an ephemeral sparse secret of weight `hamming_weight` and both keys.
    pub fn generate(kg: &mut KeyGenerator, sk: &SecretKey, hamming_weight: usize) -> Result<Self> {
        let sparse = kg.gen_sparse_secret_key(hamming_weight)?;
        let to_sparse = kg.gen_key_switching_key(sk, &sparse, Some(0))?;
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
}

impl Serializable for EncapsulationKeys {
    const TAG: TypeTag = TypeTag::EncapsulationKeys;
    /// The weight, then both keys in the switching-key payload format (seeded halves).
    fn write_payload(&self, ctx: &Context, w: &mut Writer) {
        w.u64(self.hamming_weight as u64);
        self.to_sparse.write_payload(ctx, w);
        self.to_dense.write_payload(ctx, w);
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let hamming_weight = r.u64()?;
        if hamming_weight == 0 || hamming_weight > ctx.n() as u64 {
            return Err(CkksError::Malformed {
                reason: format!("Hamming weight {hamming_weight}"),
            });
        }
        let to_sparse = SwitchingKey::read_payload(ctx, r)?;
        if to_sparse.level() != 0 {
            // The sparse secret must only ever be exposed modulo the smallest modulus.
            return Err(CkksError::Malformed {
                reason: format!(
                    "dense→sparse key at level {} (must be 0)",
                    to_sparse.level()
                ),
            });
        }
        let to_dense = SwitchingKey::read_payload(ctx, r)?;
        Ok(Self {
            to_sparse,
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
