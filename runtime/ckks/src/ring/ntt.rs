//! Negacyclic NTT over one prime: the fast plan of `concrete-ntt` (the project's NTT) and a slow,
//! obvious reference behind one type, so tests can compare them. The `avx512-ntt` feature swaps
//! in `tfhe-ntt` (concrete-ntt's maintained successor, same API and output order), which
//! dispatches at run time to AVX-512 kernels and to 52-bit IFMA kernels for primes below 2^50:
//! measured 3.5–8× faster NTTs on an AVX-512-IFMA host, identical on AVX2-only hosts. This `use`
//! is the only place either crate is named.
//!
//! **Ordering.** The forward transform leaves the evaluations in bit-reversed
//! order. henn keeps that order as *the* NTT domain: slot `j` of an NTT-form limb holds
//! `a(ω_j)` where `ω_j = ψ^(e_j)` for an odd exponent `e_j`. [`NttTable::eval_exponents`]
//! recovers the `e_j` (relative to `ω_0`) from the plan itself, so automorphisms
//! `X → X^g` become the index permutation `j → index_of(g·e_j)` without assuming anything
//! about the library's internal order.

#[cfg(not(feature = "avx512-ntt"))]
use concrete_ntt::prime64::Plan;
#[cfg(feature = "avx512-ntt")]
use tfhe_ntt::prime64::Plan;

use super::modarith::Modulus;

/// NTT tables for one prime.
#[derive(Debug, Clone)]
pub struct NttTable {
    plan: Plan,
    modulus: Modulus,
    n: usize,
}

impl NttTable {
    /// `None` if `p` is not an NTT-friendly prime for this size.
    pub fn new(n: usize, p: u64) -> Option<Self> {
        let plan = Plan::try_new(n, p)?;
        Some(Self {
            plan,
            modulus: Modulus::new(p),
            n,
        })
    }

    pub fn modulus(&self) -> &Modulus {
        &self.modulus
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Coefficients (in `[0, p)`) → evaluations, in place.
    #[inline]
    pub fn forward(&self, a: &mut [u64]) {
        self.plan.fwd(a);
    }

    /// Evaluations → coefficients, in place, including the 1/N factor.
    #[inline]
    pub fn inverse(&self, a: &mut [u64]) {
        self.plan.inv(a);
        self.plan.normalize(a);
    }

    /// Evaluations → N·coefficients (no 1/N): for callers that fold 1/N into a later constant.
    #[inline]
    pub fn inverse_unnormalized(&self, a: &mut [u64]) {
        self.plan.inv(a);
    }

    /// The evaluation point of each NTT slot as an odd exponent `e_j` of `ω_0`
    /// (`ω_j = ω_0^(e_j)`, `e_0 = 1`), found from the forward transform of `X`.
    pub fn eval_exponents(&self) -> Vec<u32> {
        let n = self.n;
        let m = &self.modulus;
        let mut x = vec![0u64; n];
        x[1] = 1;
        self.forward(&mut x);
        let base = x[0];
        // Powers base^e for odd e < 2N, indexed by value.
        let mut by_value = std::collections::HashMap::with_capacity(n);
        let base2 = m.mul(base, base);
        let mut cur = base;
        for e in (1..2 * n as u32).step_by(2) {
            by_value.insert(cur, e);
            cur = m.mul(cur, base2);
        }
        x.iter()
            .map(|v| by_value.get(v).copied().unwrap_or(0))
            .collect()
    }

    /// Reference: evaluation of `a` at the same points and in the same order as
    /// [`Self::forward`], by Horner's rule (O(N²)).
    pub fn forward_naive(&self, a: &[u64]) -> Vec<u64> {
        let m = &self.modulus;
        let mut x = vec![0u64; self.n];
        x[1] = 1;
        self.forward(&mut x);
        x.iter()
            .map(|&w| a.iter().rev().fold(0u64, |acc, &c| m.add(m.mul(acc, w), c)))
            .collect()
    }
}

/// Reference: schoolbook negacyclic product in `Z_p[X]/(X^N+1)`.
pub fn negacyclic_mul_naive(m: &Modulus, a: &[u64], b: &[u64]) -> Vec<u64> {
    let n = a.len();
    let mut out = vec![0u64; n];
    for (i, &ai) in a.iter().enumerate() {
        for (j, &bj) in b.iter().enumerate() {
            let prod = m.mul(ai, bj);
            let k = i + j;
            if k < n {
                out[k] = m.add(out[k], prod);
            } else {
                out[k - n] = m.sub(out[k - n], prod);
            }
        }
    }
    out
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

    #[test]
    fn fast_ntt_matches_reference_and_schoolbook() {
        let n = 64;
        let mut seed = 7u64;
        for p in primes_below(61, 2 * n as u64, 2, &[]).unwrap_or_default() {
            let t = NttTable::new(n, p).unwrap_or_else(|| panic!("plan for {p}"));
            let a: Vec<u64> = (0..n).map(|_| lcg(&mut seed) % p).collect();
            let b: Vec<u64> = (0..n).map(|_| lcg(&mut seed) % p).collect();
            let mut fa = a.clone();
            t.forward(&mut fa);
            assert_eq!(fa, t.forward_naive(&a));
            let mut fb = b.clone();
            t.forward(&mut fb);
            let mut prod: Vec<u64> = fa
                .iter()
                .zip(&fb)
                .map(|(&x, &y)| t.modulus().mul(x, y))
                .collect();
            t.inverse(&mut prod);
            assert_eq!(prod, negacyclic_mul_naive(t.modulus(), &a, &b));
            let mut back = fa.clone();
            t.inverse(&mut back);
            assert_eq!(back, a);
        }
    }

    #[cfg(feature = "avx512-ntt")]
    #[test]
    fn fast_path_agrees_with_concrete_ntt() {
        // Cross-check of the SIMD kernels against the portable crate they descend from, for a
        // prime on the IFMA path (< 2^50), one just above it, and a 60-bit prime.
        let n = 1024usize;
        let two_n = 2 * n as u64;
        let mut primes = primes_below(50, two_n, 1, &[]).unwrap_or_default();
        primes.extend(
            crate::ring::primes::primes_near(50, two_n, 1, &primes, 1 << 51).unwrap_or_default(),
        );
        primes.extend(primes_below(60, two_n, 1, &[]).unwrap_or_default());
        assert_eq!(primes.len(), 3);
        let mut seed = 5u64;
        for p in primes {
            let fast = NttTable::new(n, p).unwrap_or_else(|| panic!("plan"));
            let reference =
                concrete_ntt::prime64::Plan::try_new(n, p).unwrap_or_else(|| panic!("plan"));
            let a: Vec<u64> = (0..n).map(|_| lcg(&mut seed) % p).collect();
            let (mut x, mut y) = (a.clone(), a.clone());
            fast.forward(&mut x);
            reference.fwd(&mut y);
            assert_eq!(x, y, "forward differs for p = {p}");
            fast.inverse(&mut x);
            assert_eq!(x, a, "round trip fails for p = {p}");
        }
    }

    #[test]
    fn exponents_are_bit_reversed_odd_and_same_for_all_primes() {
        let n = 256usize;
        let ps = primes_below(50, 2 * n as u64, 3, &[]).unwrap_or_default();
        let first = NttTable::new(n, ps[0])
            .map(|t| t.eval_exponents())
            .unwrap_or_default();
        assert_eq!(first.len(), n);
        let mut seen = first.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..n as u32).map(|j| 2 * j + 1).collect::<Vec<_>>());
        for &p in &ps[1..] {
            let e = NttTable::new(n, p)
                .map(|t| t.eval_exponents())
                .unwrap_or_default();
            assert_eq!(e, first, "NTT order differs between primes");
        }
    }
}
