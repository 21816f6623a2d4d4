//! Bootstrappable modulus chains: which primes serve which stage.
//!
//! From `q_0` upwards: the residual levels the application uses, then SlotToCoeff, EvalMod and
//! CoeffToSlots (the bootstrap consumes the chain from the top down, so its output lands at
//! the top of the residual part). Each segment has its own prime size: EvalMod's primes are
//! large because its precision is set by its scale (EvalMod runs at the scale of its primes);
//! CoeffToSlots' primes must absorb the large ModRaise'd values.

use crate::error::{CkksError, Result};
use crate::params::{Params, SecurityLevel};
use crate::ring::primes::{primes_below, primes_near};

/// A chain layout: `(count, bits)` per segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootChainSpec {
    pub log_n: u32,
    pub first_bits: u32,
    /// Levels left to the application after a bootstrap (primes near `2^residual.1`).
    pub residual: (usize, u32),
    pub slot_to_coeff: (usize, u32),
    pub eval_mod: (usize, u32),
    pub coeff_to_slots: (usize, u32),
    pub special: (usize, u32),
    pub dnum: usize,
}

impl BootChainSpec {
    /// `B1-boot` of the research brief: Lattigo's N16QP1767H32768H32 chain with one residual
    /// 40-bit prime removed — 60 + 12×40 | StC 3×39 | EvalMod 8×60 | CtS 4×56, P = 6×61,
    /// dnum 5: log2 QP ≈ 1727 ≤ 1747 (128-bit, dense secret), 12 levels after a bootstrap.
    /// Note: this crate's EvalMod needs `⌈log2(d + 1)⌉ + r` levels (9 for d = 40, r = 3);
    /// [`super::bootstrappable_params`] builds the chain the compiler uses (all application
    /// primes ≈ Δ, EvalMod 9 levels).
    pub const B1: Self = Self {
        log_n: 16,
        first_bits: 60,
        residual: (12, 40),
        slot_to_coeff: (3, 39),
        eval_mod: (8, 60),
        coeff_to_slots: (4, 56),
        special: (6, 61),
        dnum: 5,
    };

    /// `B1` adjusted to what the pipeline consumed before BSGS EvalMod: EvalMod 10×60 and CtS 3×56, with
    /// 10 residual levels (log2 QP ≈ 1711).
    pub const fn b1_current() -> Self {
        Self {
            residual: (10, 40),
            eval_mod: (10, 60),
            coeff_to_slots: (3, 56),
            ..Self::B1
        }
    }

    /// Number of bootstrap levels (StC + EvalMod + CtS).
    pub fn bootstrap_depth(&self) -> usize {
        self.slot_to_coeff.0 + self.eval_mod.0 + self.coeff_to_slots.0
    }

    /// Searches the primes (all ≡ 1 mod 2N, distinct) and checks security at `security`.
    pub fn build(&self, security: SecurityLevel) -> Result<Params> {
        if !(10..=17).contains(&self.log_n) {
            return Err(CkksError::InvalidParams {
                reason: format!("log_n = {} is outside 10..=17", self.log_n),
            });
        }
        let min_bits = (self.log_n + 2).max(20);
        for (name, bits) in [
            ("first", self.first_bits),
            ("residual", self.residual.1),
            ("SlotToCoeff", self.slot_to_coeff.1),
            ("EvalMod", self.eval_mod.1),
            ("CoeffToSlots", self.coeff_to_slots.1),
            ("special", self.special.1),
        ] {
            if !(min_bits..=61).contains(&bits) {
                return Err(CkksError::InvalidParams {
                    reason: format!("{name} prime bits {bits} outside {min_bits}..=61"),
                });
            }
        }
        let two_n = 2u64 << self.log_n;
        let fail = |bits: u32, wanted: usize| CkksError::PrimeSearchFailed {
            bits,
            log_n: self.log_n,
            wanted,
        };
        let mut q: Vec<u64> = Vec::new();
        let first = primes_below(self.first_bits, two_n, 1, &q).ok_or(fail(self.first_bits, 1))?;
        q.extend(first);
        let (count, bits) = self.residual;
        let max = (1u64 << bits.saturating_add(1).min(61)) - 1;
        let residual = primes_near(bits, two_n, count, &q, max).ok_or(fail(bits, count))?;
        q.extend(residual);
        for (count, bits) in [self.slot_to_coeff, self.eval_mod, self.coeff_to_slots] {
            let seg = primes_below(bits, two_n, count, &q).ok_or(fail(bits, count))?;
            q.extend(seg);
        }
        let (count, bits) = self.special;
        let p = primes_below(bits, two_n, count, &q).ok_or(fail(bits, count))?;
        Params::from_primes(self.log_n, q, p, self.dnum, self.residual.1, security)
    }
}
