//! Run-time CPU dispatch for the element-wise kernels (the NTT library dispatches its own).
//!
//! The release build targets baseline x86-64 (SSE2), where 64-bit compares and multiplies do
//! not vectorize. [`dispatch`] runs a kernel compiled with AVX2 enabled when the CPU has it
//! (through `pulp`'s safe feature-detection token), so plain loops written in a vectorizable
//! style (branch-free, [`mul_hi`] from 32-bit halves) become 4-lane SIMD; elsewhere the same
//! loop runs as scalar code. Results are bit-identical either way.

/// Runs `f`, compiled for AVX2 when the CPU has it. `f` must be `#[inline(always)]`-friendly
/// (a closure calling `#[inline(always)]` kernels) for the features to apply to its body.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(f);
    }
    f()
}

/// High 64 bits of `a·b`, from four 32×32-bit products: unlike a `u128` product, this form
/// vectorizes (`vpmuludq`).
#[inline(always)]
pub fn mul_hi(a: u64, b: u64) -> u64 {
    const LO: u64 = 0xffff_ffff;
    let (a0, a1) = (a & LO, a >> 32);
    let (b0, b1) = (b & LO, b >> 32);
    let ll = a0 * b0;
    let lh = a0 * b1;
    let hl = a1 * b0;
    let hh = a1 * b1;
    let mid = (ll >> 32) + (lh & LO) + (hl & LO);
    hh + (lh >> 32) + (hl >> 32) + (mid >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn mul_hi_matches_u128(a in any::<u64>(), b in any::<u64>()) {
            prop_assert_eq!(mul_hi(a, b), ((a as u128 * b as u128) >> 64) as u64);
        }
    }

    #[test]
    fn mul_hi_extremes() {
        for (a, b) in [
            (u64::MAX, u64::MAX),
            (u64::MAX, 1),
            (0, u64::MAX),
            (1 << 32, 1 << 32),
        ] {
            assert_eq!(mul_hi(a, b), ((a as u128 * b as u128) >> 64) as u64);
        }
    }
}
