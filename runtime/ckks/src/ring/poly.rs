//! [`RnsPoly`]: a polynomial of `Z_Q[X]/(X^N+1)` stored limb-major (one contiguous run of N words
//! per prime), over the primes `q_0..=q_level` and optionally all special primes `P`.

use serde::{Deserialize, Serialize};

/// Limb-major RNS polynomial. The primes it lives over are implied by `level` and
/// `special` and resolved against a [`crate::Context`]: limb `i ≤ level` is modulo `q_i`,
/// limb `level + 1 + k` (when `special`) is modulo the `k`-th special prime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RnsPoly {
    pub(crate) n: usize,
    pub(crate) level: usize,
    pub(crate) special: usize,
    /// `true` when the limbs hold NTT evaluations, `false` for coefficients.
    pub(crate) ntt: bool,
    pub(crate) data: Vec<u64>,
}

impl RnsPoly {
    pub fn zero(n: usize, level: usize, special: usize, ntt: bool) -> Self {
        Self {
            n,
            level,
            special,
            ntt,
            data: vec![0; n * (level + 1 + special)],
        }
    }

    pub fn n(&self) -> usize {
        self.n
    }

    pub fn level(&self) -> usize {
        self.level
    }

    pub fn is_ntt(&self) -> bool {
        self.ntt
    }

    /// Number of limbs (Q part plus special part).
    pub fn num_limbs(&self) -> usize {
        self.level + 1 + self.special
    }

    #[inline]
    pub fn limb(&self, i: usize) -> &[u64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    #[inline]
    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        let n = self.n;
        &mut self.data[i * n..(i + 1) * n]
    }

    pub fn limbs(&self) -> std::slice::ChunksExact<'_, u64> {
        self.data.chunks_exact(self.n)
    }

    pub fn limbs_mut(&mut self) -> std::slice::ChunksExactMut<'_, u64> {
        self.data.chunks_exact_mut(self.n)
    }

    /// A copy of the Q limbs up to `level` (only valid without special limbs): the exact
    /// reduction modulo the smaller Q, copying nothing that is dropped.
    pub(crate) fn prefix_level(&self, level: usize) -> Self {
        debug_assert_eq!(self.special, 0);
        let level = level.min(self.level);
        Self {
            n: self.n,
            level,
            special: 0,
            ntt: self.ntt,
            data: self.data[..self.n * (level + 1)].to_vec(),
        }
    }
}
