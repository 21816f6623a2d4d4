//! Word-sized modular arithmetic for primes below 2^62.
//!
//! Two reductions are used in hot loops, never `%`:
//! * **Shoup** multiplication by a fixed constant `w` with its precomputed `floor(w·2^64/p)`;
//! * **Barrett** reduction of a 128-bit value with the precomputed `floor(2^128/p)`, which lets
//!   sums of many 124-bit products be accumulated lazily in `u128` and reduced once.

/// A prime modulus with its Barrett constant. All methods take and return values in `[0, p)`
/// unless their name says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modulus {
    p: u64,
    /// floor(2^128 / p), high and low words.
    r_hi: u64,
    r_lo: u64,
    /// Bit length of p and floor(2^(bits+63) / p): a one-multiply Barrett quotient for
    /// products of two reduced values ([`Self::mul_fast`]).
    bits: u32,
    barrett_fast: u64,
}

impl Modulus {
    /// `p` must be odd and below 2^62 (checked by the parameter builder).
    pub fn new(p: u64) -> Self {
        // floor(2^128 / p) = floor((2^128 - 1) / p) because p is not a power of two.
        let r = u128::MAX / p as u128;
        let bits = 64 - p.leading_zeros();
        let barrett_fast = ((1u128 << (bits + 63)) / p as u128) as u64;
        Self {
            p,
            r_hi: (r >> 64) as u64,
            r_lo: r as u64,
            bits,
            barrett_fast,
        }
    }

    #[inline(always)]
    pub fn value(&self) -> u64 {
        self.p
    }

    /// Reduces any 128-bit value.
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let x_lo = x as u64;
        let x_hi = (x >> 64) as u64;
        // q ≈ floor(x · r / 2^128), computed from the three significant partial products.
        let mid =
            (x_lo as u128) * (self.r_hi as u128) + (((x_lo as u128) * (self.r_lo as u128)) >> 64);
        let mid2 = (x_hi as u128) * (self.r_lo as u128) + (mid as u64 as u128);
        let q = (x_hi as u128) * (self.r_hi as u128) + (mid >> 64) + (mid2 >> 64);
        let mut r = x_lo.wrapping_sub((q as u64).wrapping_mul(self.p));
        if r >= self.p {
            r -= self.p;
        }
        if r >= self.p {
            r -= self.p;
        }
        r
    }

    /// Reduces a 64-bit value.
    #[inline(always)]
    pub fn reduce(&self, x: u64) -> u64 {
        self.reduce_u128(x as u128)
    }

    /// Reduces a signed value to `[0, p)`.
    #[inline(always)]
    pub fn reduce_i64(&self, x: i64) -> u64 {
        let a = x.unsigned_abs();
        // Fast path for the small values of secrets, errors and encodings.
        let r = if a < self.p { a } else { self.reduce(a) };
        if x >= 0 || r == 0 { r } else { self.p - r }
    }

    /// Reduces an integral, finite f64 (possibly far above 2^64) exactly: `v = mant·2^exp`.
    pub fn reduce_f64(&self, v: f64) -> u64 {
        if v.abs() < 9.2e18 {
            return self.reduce_i64(v as i64);
        }
        let bits = v.abs().to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i64 - 1075;
        let mant = ((bits & ((1u64 << 52) - 1)) | (1u64 << 52)) as i64;
        let r = self.mul(self.reduce_i64(mant), self.pow(2, exp.max(0) as u64));
        if v < 0.0 { self.neg(r) } else { r }
    }

    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(a as u128 * b as u128)
    }

    /// `a · b mod p` for `a, b < p` with one multiply for the quotient estimate (the
    /// product is shifted right by `bits − 1`, so the estimate is off by at most one `p`).
    #[inline(always)]
    pub fn mul_fast(&self, a: u64, b: u64) -> u64 {
        let d = a as u128 * b as u128;
        let c1 = (d >> (self.bits - 1)) as u64;
        let c3 = ((c1 as u128 * self.barrett_fast as u128) >> 64) as u64;
        let r = (d as u64).wrapping_sub(self.p.wrapping_mul(c3));
        r.min(r.wrapping_sub(self.p))
    }

    /// `d mod p` for `d < 2^(bits+63)`, e.g. a sum of up to 2^(63−bits) products of reduced
    /// values: the one-multiply quotient estimate is short by less than 3, fixed by three
    /// branch-free corrections. About half the cost of [`Self::reduce_u128`].
    #[inline(always)]
    pub fn reduce_wide(&self, d: u128) -> u64 {
        let c1 = (d >> (self.bits - 1)) as u64;
        let c3 = ((c1 as u128 * self.barrett_fast as u128) >> 64) as u64;
        let mut r = (d as u64).wrapping_sub(self.p.wrapping_mul(c3));
        r = r.min(r.wrapping_sub(self.p));
        r = r.min(r.wrapping_sub(self.p));
        r.min(r.wrapping_sub(self.p))
    }

    /// True when every value below `bound` can use [`Self::reduce_wide`].
    pub fn wide_ok(&self, bound: u128) -> bool {
        bound < 1u128 << (self.bits + 63)
    }

    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        if s >= self.p { s - self.p } else { s }
    }

    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        if a >= b { a - b } else { a + self.p - b }
    }

    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        if a == 0 { 0 } else { self.p - a }
    }

    pub fn pow(&self, mut base: u64, mut exp: u64) -> u64 {
        let mut acc = 1u64;
        base = self.reduce(base);
        while exp > 0 {
            if exp & 1 == 1 {
                acc = self.mul(acc, base);
            }
            base = self.mul(base, base);
            exp >>= 1;
        }
        acc
    }

    /// Inverse by Fermat's little theorem (p is prime); 0 maps to 0.
    pub fn inv(&self, a: u64) -> u64 {
        self.pow(a, self.p - 2)
    }

    /// Precomputes the Shoup companion of a constant `w < p`.
    #[inline(always)]
    pub fn shoup(&self, w: u64) -> ShoupConst {
        ShoupConst {
            w,
            w_shoup: (((w as u128) << 64) / self.p as u128) as u64,
        }
    }

    /// `a · w mod p` for `a < 2^64`, result in `[0, 2p)` (lazy).
    #[inline(always)]
    pub fn mul_shoup_lazy(&self, a: u64, w: ShoupConst) -> u64 {
        let q = ((a as u128 * w.w_shoup as u128) >> 64) as u64;
        a.wrapping_mul(w.w).wrapping_sub(q.wrapping_mul(self.p))
    }

    /// `a · w mod p`, fully reduced.
    #[inline(always)]
    pub fn mul_shoup(&self, a: u64, w: ShoupConst) -> u64 {
        let r = self.mul_shoup_lazy(a, w);
        if r >= self.p { r - self.p } else { r }
    }
}

/// A constant with its Shoup quotient `floor(w·2^64/p)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShoupConst {
    pub w: u64,
    pub w_shoup: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PRIMES: [u64; 3] = [0x3fff_ffff_ffff_ffc7, 1_152_921_504_606_748_673, 65537];

    proptest! {
        #[test]
        fn barrett_matches_u128_rem(x in any::<u128>(), i in 0usize..3) {
            let m = Modulus::new(PRIMES[i]);
            prop_assert_eq!(m.reduce_u128(x) as u128, x % PRIMES[i] as u128);
        }

        #[test]
        fn shoup_matches_plain(a in any::<u64>(), w in any::<u64>(), i in 0usize..3) {
            let p = PRIMES[i];
            let m = Modulus::new(p);
            let w = w % p;
            let c = m.shoup(w);
            prop_assert!(m.mul_shoup_lazy(a, c) < 2 * p);
            prop_assert_eq!(m.mul_shoup(a, c) as u128, (a as u128 * w as u128) % p as u128);
        }

        #[test]
        fn fast_product_matches_u128_rem(a in any::<u64>(), b in any::<u64>(), i in 0usize..3) {
            let p = PRIMES[i];
            let m = Modulus::new(p);
            let (a, b) = (a % p, b % p);
            prop_assert_eq!(m.mul_fast(a, b) as u128, (a as u128 * b as u128) % p as u128);
        }

        #[test]
        fn wide_reduction_matches_u128_rem(x in any::<u128>(), i in 0usize..3) {
            let p = PRIMES[i];
            let m = Modulus::new(p);
            let x = x >> (64 - m.bits + 1); // x < 2^(bits + 63)
            prop_assert!(m.wide_ok(x + 1));
            prop_assert_eq!(m.reduce_wide(x) as u128, x % p as u128);
        }

        #[test]
        fn signed_reduction(x in any::<i64>()) {
            let p = PRIMES[0];
            let m = Modulus::new(p);
            let expect = (x as i128).rem_euclid(p as i128) as u64;
            prop_assert_eq!(m.reduce_i64(x), expect);
        }
    }

    #[test]
    fn huge_floats_reduce_exactly() {
        let p = 65537u64;
        let m = Modulus::new(p);
        for (v, want) in [
            (2f64.powi(80), m.pow(2, 80)),
            (-(2f64.powi(70) * 3.0), m.neg(m.mul(3, m.pow(2, 70)))),
            (12345.0, 12345 % p),
        ] {
            assert_eq!(m.reduce_f64(v), want, "{v}");
        }
    }

    #[test]
    fn inverse_is_inverse() {
        for &p in &PRIMES {
            let m = Modulus::new(p);
            for a in [1u64, 2, 3, 12345, p - 1] {
                assert_eq!(m.mul(a, m.inv(a)), 1);
            }
        }
    }
}
