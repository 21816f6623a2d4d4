//! Parameter sets: ring degree, the Q chain, the special primes P, the key-switching digit count
//! `dnum`, and the security check against the HE Standard table.

use serde::{Deserialize, Serialize};

use crate::error::{CkksError, Result};
use crate::ring::primes::{is_prime, primes_below, primes_near};

/// Largest prime size henn uses: every modulus stays below 2^61 so that 16 lazy 122-bit
/// products fit in a `u128` accumulator, and well below the 2^62 limit of the NTT's fast path.
pub const MAX_PRIME_BITS: u32 = 61;

/// Classical security levels of the HE Standard (uniform ternary secret, σ = 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityLevel {
    Classic128,
    Classic192,
    Classic256,
    /// Not checked: only reachable through [`Params::insecure_toy_for_tests`] and
    /// [`Params::insecure_unchecked`].
    InsecureUnchecked,
}

impl SecurityLevel {
    pub fn bits(self) -> Option<u32> {
        match self {
            Self::Classic128 => Some(128),
            Self::Classic192 => Some(192),
            Self::Classic256 => Some(256),
            Self::InsecureUnchecked => None,
        }
    }
}

/// Maximum log2(QP) for a ring degree 2^log_n and a security level (HE Standard v1.1 for
/// N ≤ 2^15; OpenFHE's 2024 extension for 2^16 and 2^17 — 1747 bits at 2^16, not 1772).
pub fn max_log2_qp(log_n: u32, level: SecurityLevel) -> Option<u32> {
    let row: [u32; 3] = match log_n {
        10 => [27, 19, 14],
        11 => [54, 37, 29],
        12 => [109, 75, 58],
        13 => [218, 152, 118],
        14 => [438, 305, 237],
        15 => [881, 611, 476],
        16 => [1747, 1199, 929],
        17 => [3523, 2411, 1866],
        _ => return None,
    };
    match level {
        SecurityLevel::Classic128 => Some(row[0]),
        SecurityLevel::Classic192 => Some(row[1]),
        SecurityLevel::Classic256 => Some(row[2]),
        SecurityLevel::InsecureUnchecked => None,
    }
}

/// A complete, validated CKKS parameter set. Construct it with [`ParamsBuilder`] (checked) or
/// the loudly named insecure constructors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub(crate) log_n: u32,
    /// q_0 (first prime, holds the final message) … q_L (scale primes), in chain order.
    pub(crate) q: Vec<u64>,
    /// Special primes for hybrid key switching.
    pub(crate) p: Vec<u64>,
    pub(crate) dnum: usize,
    pub(crate) scale_bits: u32,
    pub(crate) security: SecurityLevel,
}

impl Params {
    pub fn log_n(&self) -> u32 {
        self.log_n
    }
    pub fn n(&self) -> usize {
        1 << self.log_n
    }
    pub fn slots(&self) -> usize {
        self.n() / 2
    }
    pub fn q(&self) -> &[u64] {
        &self.q
    }
    pub fn p(&self) -> &[u64] {
        &self.p
    }
    pub fn dnum(&self) -> usize {
        self.dnum
    }
    /// Highest level (number of Q primes minus one).
    pub fn max_level(&self) -> usize {
        self.q.len() - 1
    }
    /// Primes per key-switching digit, α = ceil((L+1)/dnum).
    pub fn alpha(&self) -> usize {
        self.q.len().div_ceil(self.dnum)
    }
    pub fn default_scale(&self) -> f64 {
        (self.scale_bits as f64).exp2()
    }
    pub fn scale_bits(&self) -> u32 {
        self.scale_bits
    }
    pub fn security(&self) -> SecurityLevel {
        self.security
    }
    pub fn log2_q(&self) -> f64 {
        self.q.iter().map(|&x| (x as f64).log2()).sum()
    }
    pub fn log2_qp(&self) -> f64 {
        self.log2_q() + self.p.iter().map(|&x| (x as f64).log2()).sum::<f64>()
    }

    /// Checks structure (sizes, primality, congruences, distinctness). Does not check security.
    fn validate_structure(&self) -> Result<()> {
        let bad = |reason: String| Err(CkksError::InvalidParams { reason });
        if !(10..=17).contains(&self.log_n) {
            return bad(format!("log_n = {} is outside 10..=17", self.log_n));
        }
        if self.q.is_empty() {
            return bad("empty Q chain".into());
        }
        if self.dnum == 0 || self.dnum > self.q.len() {
            return bad(format!(
                "dnum = {} must be in 1..={}",
                self.dnum,
                self.q.len()
            ));
        }
        if self.p.len() < self.alpha() {
            return bad(format!(
                "{} special primes cannot cover digits of {} primes",
                self.p.len(),
                self.alpha()
            ));
        }
        if !(20..=60).contains(&self.scale_bits) {
            return bad(format!("scale bits {} outside 20..=60", self.scale_bits));
        }
        let two_n = 2 * self.n() as u64;
        let mut all: Vec<u64> = self.q.iter().chain(&self.p).copied().collect();
        for &x in &all {
            if x >= 1u64 << MAX_PRIME_BITS || !is_prime(x) || x % two_n != 1 {
                return bad(format!("{x} is not a prime < 2^61 congruent to 1 mod 2N"));
            }
        }
        all.sort_unstable();
        all.dedup();
        if all.len() != self.q.len() + self.p.len() {
            return bad("primes are not distinct".into());
        }
        Ok(())
    }

    /// Checks log2(QP) against the HE Standard table for `level`.
    pub fn check_security(&self, level: SecurityLevel) -> Result<()> {
        let Some(max) = max_log2_qp(self.log_n, level) else {
            return Err(CkksError::InvalidParams {
                reason: "no security table entry for this ring degree / level".into(),
            });
        };
        let log2_qp = self.log2_qp();
        if log2_qp > max as f64 {
            return Err(CkksError::InsecureParams {
                log_n: self.log_n,
                log2_qp,
                max_log2_qp: max,
                level: level.bits().unwrap_or(0),
            });
        }
        Ok(())
    }

    /// **INSECURE.** Builds parameters without any security check, for tests on small rings.
    /// Never use for data that matters.
    pub fn insecure_toy_for_tests(
        log_n: u32,
        first_bits: u32,
        scale_bits: u32,
        levels: usize,
        dnum: usize,
    ) -> Result<Self> {
        ParamsBuilder::new(log_n)
            .first_bits(first_bits)
            .scale_bits(scale_bits)
            .levels(levels)
            .dnum(dnum)
            .build_unchecked()
    }

    /// **INSECURE (unchecked).** The builder's parameters without the security check: for speed
    /// comparisons at other libraries' parameters, which are reported as `"unchecked"`.
    pub fn insecure_unchecked(builder: &ParamsBuilder) -> Result<Self> {
        builder.build_unchecked()
    }

    /// Canonical bytes (for hashing into serialized headers).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 8 * (self.q.len() + self.p.len()));
        out.extend_from_slice(b"henn-ckks-params-v1");
        out.extend_from_slice(&self.log_n.to_le_bytes());
        out.extend_from_slice(&(self.q.len() as u32).to_le_bytes());
        for &x in &self.q {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&(self.p.len() as u32).to_le_bytes());
        for &x in &self.p {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&(self.dnum as u32).to_le_bytes());
        out.extend_from_slice(&self.scale_bits.to_le_bytes());
        out
    }

    /// BLAKE3 of the canonical bytes: identifies the parameter set in file headers.
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(&self.canonical_bytes()).as_bytes()
    }

    /// Reassembles parameters from explicit primes (e.g. after deserialization), validating
    /// structure and, unless `security` is `InsecureUnchecked`, security.
    pub fn from_primes(
        log_n: u32,
        q: Vec<u64>,
        p: Vec<u64>,
        dnum: usize,
        scale_bits: u32,
        security: SecurityLevel,
    ) -> Result<Self> {
        let params = Self {
            log_n,
            q,
            p,
            dnum,
            scale_bits,
            security,
        };
        params.validate_structure()?;
        if security != SecurityLevel::InsecureUnchecked {
            params.check_security(security)?;
        }
        Ok(params)
    }
}

/// Builds a parameter set from sizes, searching for the primes.
#[derive(Debug, Clone)]
pub struct ParamsBuilder {
    log_n: u32,
    first_bits: u32,
    scale_bits: u32,
    levels: usize,
    dnum: usize,
    special_bits: u32,
    security: SecurityLevel,
}

impl ParamsBuilder {
    /// Defaults: 60-bit first prime, 40-bit scale, 10 levels, dnum 3, 60-bit special primes,
    /// 128-bit security.
    pub fn new(log_n: u32) -> Self {
        Self {
            log_n,
            first_bits: 60,
            scale_bits: 40,
            levels: 10,
            dnum: 3,
            special_bits: 60,
            security: SecurityLevel::Classic128,
        }
    }
    pub fn first_bits(mut self, bits: u32) -> Self {
        self.first_bits = bits;
        self
    }
    pub fn scale_bits(mut self, bits: u32) -> Self {
        self.scale_bits = bits;
        self
    }
    /// Number of rescales available (the chain has `levels + 1` primes).
    pub fn levels(mut self, levels: usize) -> Self {
        self.levels = levels;
        self
    }
    pub fn dnum(mut self, dnum: usize) -> Self {
        self.dnum = dnum;
        self
    }
    pub fn special_bits(mut self, bits: u32) -> Self {
        self.special_bits = bits;
        self
    }
    pub fn security(mut self, level: SecurityLevel) -> Self {
        self.security = level;
        self
    }

    /// Searches primes and checks security at the requested level.
    pub fn build(&self) -> Result<Params> {
        let mut params = self.build_unchecked()?;
        if self.security == SecurityLevel::InsecureUnchecked {
            return Err(CkksError::InvalidParams {
                reason: "use Params::insecure_unchecked for unchecked parameters".into(),
            });
        }
        params.check_security(self.security)?;
        params.security = self.security;
        Ok(params)
    }

    fn build_unchecked(&self) -> Result<Params> {
        let bad = |reason: String| Err(CkksError::InvalidParams { reason });
        if !(10..=17).contains(&self.log_n) {
            return bad(format!("log_n = {} is outside 10..=17", self.log_n));
        }
        let two_n = 2u64 << self.log_n;
        let min_bits = self.log_n + 2;
        for (name, b) in [
            ("first", self.first_bits),
            ("scale", self.scale_bits),
            ("special", self.special_bits),
        ] {
            if b < min_bits.max(20) || b > MAX_PRIME_BITS {
                return bad(format!(
                    "{name} prime bits {b} outside {}..=61",
                    min_bits.max(20)
                ));
            }
        }
        if self.scale_bits > 60 {
            return bad("scale bits above 60".into());
        }
        let chain = self.levels + 1;
        if self.dnum == 0 || self.dnum > chain {
            return bad(format!("dnum = {} must be in 1..={chain}", self.dnum));
        }
        let fail = |bits: u32, wanted: usize| CkksError::PrimeSearchFailed {
            bits,
            log_n: self.log_n,
            wanted,
        };
        // Scale primes alternate around 2^scale_bits, except that at 50 bits they all stay
        // below 2^50: the NTT's 52-bit IFMA kernels (AVX-512 hosts) need p < 2^50 and run 1.7×
        // faster than for a prime just above. The drift this costs is tiny (primes ≡ 1 mod 2N
        // lie within ~2^-27 of 2^50 relative) and the scale is tracked exactly anyway.
        let max_value = if self.scale_bits == 50 {
            (1u64 << 50) - 1
        } else {
            (1u64 << MAX_PRIME_BITS) - 1
        };
        let scale = primes_near(self.scale_bits, two_n, self.levels, &[], max_value)
            .ok_or_else(|| fail(self.scale_bits, self.levels))?;
        let first = primes_below(self.first_bits, two_n, 1, &scale)
            .ok_or_else(|| fail(self.first_bits, 1))?;
        let mut q = first;
        q.extend_from_slice(&scale);
        let alpha = chain.div_ceil(self.dnum);
        let p = primes_below(self.special_bits, two_n, alpha, &q)
            .ok_or_else(|| fail(self.special_bits, alpha))?;
        let params = Params {
            log_n: self.log_n,
            q,
            p,
            dnum: self.dnum,
            scale_bits: self.scale_bits,
            security: SecurityLevel::InsecureUnchecked,
        };
        params.validate_structure()?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_finds_valid_chain_and_checks_security() {
        let p = ParamsBuilder::new(14)
            .first_bits(60)
            .scale_bits(40)
            .levels(5)
            .dnum(3)
            .build();
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.q().len(), 6);
        assert_eq!(p.p().len(), 2);
        assert!(p.log2_qp() <= 438.0);
        assert_eq!(p.security(), SecurityLevel::Classic128);
    }

    #[test]
    fn over_budget_is_rejected_with_numbers() {
        // 60 + 10·50 + 4·60 = 800 bits > 438 at N = 2^14.
        let r = ParamsBuilder::new(14)
            .scale_bits(50)
            .levels(10)
            .dnum(3)
            .build();
        match r {
            Err(CkksError::InsecureParams {
                log_n: 14,
                max_log2_qp: 438,
                log2_qp,
                ..
            }) => {
                assert!(log2_qp > 700.0)
            }
            other => panic!("expected InsecureParams, got {other:?}"),
        }
        // The 1747-bit bound at 2^16 (not the older 1772).
        assert_eq!(max_log2_qp(16, SecurityLevel::Classic128), Some(1747));
        let r = ParamsBuilder::new(16)
            .scale_bits(50)
            .levels(30)
            .dnum(3)
            .build();
        assert!(matches!(
            r,
            Err(CkksError::InsecureParams {
                max_log2_qp: 1747,
                ..
            })
        ));
        let ok = ParamsBuilder::new(16)
            .scale_bits(50)
            .levels(20)
            .dnum(3)
            .build();
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn insecure_toy_is_explicit() {
        let p = Params::insecure_toy_for_tests(10, 50, 40, 4, 2);
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.security(), SecurityLevel::InsecureUnchecked);
        assert!(p.check_security(SecurityLevel::Classic128).is_err());
    }

    #[test]
    fn structural_errors_are_typed() {
        assert!(matches!(
            ParamsBuilder::new(9).build(),
            Err(CkksError::InvalidParams { .. })
        ));
        assert!(matches!(
            ParamsBuilder::new(12).levels(2).dnum(4).build(),
            Err(CkksError::InvalidParams { .. })
        ));
        assert!(matches!(
            Params::from_primes(
                12,
                vec![17],
                vec![],
                1,
                40,
                SecurityLevel::InsecureUnchecked
            ),
            Err(CkksError::InvalidParams { .. })
        ));
    }
}
