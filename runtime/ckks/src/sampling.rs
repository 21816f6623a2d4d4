//! Randomness. Keys and noise come only from ChaCha20 seeded by the operating system
//! ([`CkksRng::from_os`]); the deterministic constructor is test-only and loudly named.
//! Uniform "a" halves of keys are expanded from a 32-byte seed so they can be stored as a seed.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::error::{CkksError, Result};
use crate::ring::modarith::Modulus;

/// Standard deviation of the error distribution (HE Standard).
pub const SIGMA: f64 = 3.2;
/// Tail cut: samples are drawn from the discrete Gaussian restricted to |x| ≤ 41 (> 12.8σ;
/// the discarded mass is below 2^-110).
pub const GAUSS_BOUND: i64 = 41;

/// The crate's CSPRNG.
#[derive(Debug)]
pub struct CkksRng {
    inner: ChaCha20Rng,
    cdt: Vec<u64>,
}

impl CkksRng {
    /// ChaCha20 seeded from the operating system.
    pub fn from_os() -> Result<Self> {
        let inner = ChaCha20Rng::try_from_rng(&mut getrandom::SysRng).map_err(|e| {
            CkksError::Randomness {
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            inner,
            cdt: gaussian_cdt(),
        })
    }

    /// **TEST ONLY — NOT SECURE.** A reproducible generator from a fixed seed.
    pub fn insecure_from_seed_for_tests(seed: u64) -> Self {
        Self {
            inner: ChaCha20Rng::seed_from_u64(seed),
            cdt: gaussian_cdt(),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    pub fn seed32(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        self.inner.fill_bytes(&mut s);
        s
    }

    /// Uniform ternary {-1, 0, 1}^n (dense secret).
    pub fn ternary(&mut self, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let mut w = self.inner.next_u64();
            for _ in 0..8 {
                let b = (w & 0xff) as u8;
                w >>= 8;
                // 255 = 3·85: reject the last value so the three outcomes are equally likely.
                if b < 255 && out.len() < n {
                    out.push((b % 3) as i64 - 1);
                }
            }
        }
        out
    }

    /// Discrete Gaussian, σ = 3.2, by inversion of a 64-bit cumulative table.
    pub fn gaussian(&mut self, n: usize) -> Vec<i64> {
        (0..n)
            .map(|_| {
                let r = self.inner.next_u64();
                let sign = r & 1;
                let u = r >> 1;
                // cdt[k] = P(|X| ≤ k)·2^63 (with |X| = 0 counted once).
                let mag = self.cdt.iter().take_while(|&&c| c <= u).count() as i64;
                let mag = mag.min(GAUSS_BOUND);
                if sign == 1 { -mag } else { mag }
            })
            .collect()
    }
}

/// Cumulative table for |X| where X is the discrete Gaussian on [-B, B] with σ = 3.2, scaled to
/// 2^63 (the sign is a separate bit; 0 gets half weight per sign so P(0) is right).
fn gaussian_cdt() -> Vec<u64> {
    let rho = |x: f64| (-x * x / (2.0 * SIGMA * SIGMA)).exp();
    let total: f64 = (-GAUSS_BOUND..=GAUSS_BOUND).map(|x| rho(x as f64)).sum();
    let mut acc = 0.0;
    let mut cdt = Vec::with_capacity(GAUSS_BOUND as usize + 1);
    for k in 0..=GAUSS_BOUND {
        // probability of magnitude k given a fixed sign: P(0) for k = 0, 2·P(k) otherwise.
        let p = if k == 0 {
            rho(0.0)
        } else {
            2.0 * rho(k as f64)
        } / total;
        acc += p;
        cdt.push((acc.min(1.0) * 9.223_372_036_854_776e18) as u64);
    }
    cdt
}

/// The uniform polynomial `a` of a seeded key or ciphertext half, over `Q_level` and `special`
/// special primes, in NTT form. Key generation and deserialization both call this one function:
/// a stored seed must expand to exactly the polynomial it was generated as.
pub(crate) fn uniform_from_seed(
    ctx: &crate::context::Context,
    seed: &[u8; 32],
    stream: u64,
    level: usize,
    special: usize,
) -> crate::ring::poly::RnsPoly {
    let moduli: Vec<_> = ctx
        .prime_indices(level, special)
        .iter()
        .map(|&i| ctx.moduli()[i])
        .collect();
    crate::ring::poly::RnsPoly {
        n: ctx.n(),
        level,
        special,
        ntt: true,
        data: expand_uniform(seed, stream, &moduli, ctx.n()),
    }
}

/// Expands a 32-byte seed into uniform residues for the given primes (limb-major, `n` each),
/// by rejection sampling so each residue is exactly uniform.
pub fn expand_uniform(seed: &[u8; 32], stream: u64, moduli: &[Modulus], n: usize) -> Vec<u64> {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    rng.set_stream(stream);
    let mut out = Vec::with_capacity(moduli.len() * n);
    for m in moduli {
        let p = m.value();
        let mask = u64::MAX >> p.leading_zeros();
        let mut k = 0;
        while k < n {
            let v = rng.next_u64() & mask;
            if v < p {
                out.push(v);
                k += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ternary_and_gaussian_statistics() {
        let mut rng = CkksRng::insecure_from_seed_for_tests(3);
        let t = rng.ternary(30000);
        let counts = [-1i64, 0, 1].map(|v| t.iter().filter(|&&x| x == v).count() as f64);
        for c in counts {
            assert!((c / 30000.0 - 1.0 / 3.0).abs() < 0.02);
        }
        let g = rng.gaussian(50000);
        let mean = g.iter().sum::<i64>() as f64 / 5e4;
        let var = g.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / 5e4;
        assert!(mean.abs() < 0.1, "mean {mean}");
        assert!((var.sqrt() - SIGMA).abs() < 0.1, "sd {}", var.sqrt());
        assert!(g.iter().all(|x| x.abs() <= GAUSS_BOUND));
    }

    #[test]
    fn os_rng_works_and_differs() {
        let a = CkksRng::from_os().map(|mut r| r.next_u64());
        let b = CkksRng::from_os().map(|mut r| r.next_u64());
        assert!(a.is_ok() && b.is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn seeded_expansion_is_deterministic_and_in_range() {
        let m = [Modulus::new(65537), Modulus::new(0x3fff_ffff_ffff_ffc7)];
        let a = expand_uniform(&[7; 32], 1, &m, 64);
        let b = expand_uniform(&[7; 32], 1, &m, 64);
        let c = expand_uniform(&[7; 32], 2, &m, 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a[..64].iter().all(|&x| x < 65537));
    }
}
