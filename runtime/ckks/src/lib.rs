//! henn-ckks: a pure-Rust RNS-CKKS library: leveled arithmetic, and bootstrapping (`bootstrap`:
//! full-slot and sparse-slot circuits at 128-bit parameters; see its module guide).
//!
//! # Central data structure
//!
//! Everything is an [`RnsPoly`]: a polynomial of `Z_Q[X]/(X^N+1)` stored **limb-major** (one
//! contiguous run of N `u64` words per prime), always in **NTT form** for ciphertexts, plaintexts
//! and keys. A [`Ciphertext`] is 2 (or, between tensor and relinearization, 3) such polynomials
//! at a *level* `ℓ` (primes `q_0..=q_ℓ`) with an exactly tracked `f64` scale. Extended-basis
//! polynomials (key-switching keys, ModUp'd digits) additionally carry the special primes `P`.
//!
//! # Objects and roles
//!
//! * [`Params`] / [`ParamsBuilder`]: N, the Q chain (first prime + scale primes alternating
//!   around Δ so scale drift stays tiny), special primes P, `dnum`; every set is checked against
//!   the HE Standard table on log2(QP). Weaker sets only via [`Params::insecure_toy_for_tests`]
//!   / [`Params::insecure_unchecked`].
//! * [`Context`] (`Arc`): params + NTT plans per prime (`concrete-ntt`, the project's choice;
//!   the `avx512-ntt` feature swaps in its successor `tfhe-ntt`, see `ring::ntt`), basis converters for
//!   ModUp/ModDown at every level, rescale/CRT constants, the encoder's FFT tables.
//! * [`Encoder`]: canonical embedding (special FFT), N/2 complex slots, any level and scale;
//!   decoding reconstructs coefficients exactly (balanced Garner) before converting to f64.
//! * Client side: [`KeyGenerator`], [`Encryptor`], [`Decryptor`] (owns the zeroizing
//!   [`SecretKey`]). Server side: [`Evaluator`] over [`EvaluationKeys`] (relinearization +
//!   Galois keys for exactly the requested rotations) — no secret key in any of its signatures.
//!
//! # Algorithms (why it is fast)
//!
//! * NTT domain = the NTT library's bit-reversed output order; Galois automorphisms are index
//!   permutations in that order, derived from the plan itself (`ring::automorphism`).
//! * Hybrid key switching (`keyswitch`): digits of α = ceil((L+1)/dnum) primes, α special
//!   primes, ModUp by fast basis extension with lazy `u128` accumulation (one Barrett reduction
//!   per output), NTT-domain inner product with lazy accumulation, ModDown. The NTT's 1/N factor
//!   is folded into the basis-conversion constants.
//! * Rotations are always hoisted internally: the Galois permutation is applied while reading
//!   the decomposed digits in the inner product, so `k` rotations of one ciphertext
//!   ([`Evaluator::rotate_many`], [`Evaluator::hoist`]) cost one ModUp plus `k` inner products
//!   and ModDowns.
//! * ModDown uses an *exact, centered* basis conversion (the overflow count `v` is computed
//!   in f64 and subtracted), so the division by P rounds without bias. The approximate
//!   conversion's error `u ∈ [0, K)` has a mean which, times the all-ones polynomial, puts a
//!   few very large errors into the slots (≈ 5 bits of max precision lost at N = 2^13–2^15).
//! * Public-key encryption forms the encryption of zero modulo `Q_ℓ·P` and divides by P
//!   (ModDown), so fresh noise is only that rounding: ≈ 3.5 bits more precision than
//!   encrypting modulo Q_ℓ (SEAL does the same with its special prime).
//! * Basis conversions store the scaled residues coefficient-major and unroll the short dot
//!   products per source size (const generics), accumulating in registers; sums of a few
//!   products are reduced with a one-multiply Barrett variant (`Modulus::reduce_wide`).
//!   Key-switching temporaries are recycled through a small buffer pool in the [`Context`].
//! * Shoup multiplication for constants, Barrett for products, no `%` in hot loops; `rayon`
//!   over limbs and digits (it runs inside the caller's pool, so a 1-thread pool is
//!   single-threaded).
//! * Slow references live beside the fast paths and are tested against them: schoolbook
//!   negacyclic product and Horner NTT (`ring::ntt`), coefficient-domain automorphism, naive
//!   canonical embedding (`encoding`).
//!
//! # Randomness and security
//!
//! Secrets are uniform ternary (dense); errors discrete Gaussian σ = 3.2 (tail cut at 41);
//! all from ChaCha20 seeded by the OS. Fixed seeds exist only in `insecure_*_for_tests`
//! constructors. Uniform key halves are expanded from a 32-byte seed, and serialized as that
//! seed.
//!
//! # Serialization
//!
//! [`serial`]: one generic envelope (magic, format version, type tag, parameter hash, length,
//! payload, BLAKE3 checksum) with size limits checked before allocating; all corruption is a
//! typed [`CkksError`], never a panic.
//!
//! # Scale management
//!
//! Each ciphertext carries its scale as an `f64`: products multiply scales, rescale divides by
//! exactly the dropped prime, level drops keep it. Scale primes alternate above and below
//! 2^scale_bits so the drift after many rescales stays tiny. Additions require equal levels and
//! scales (relative tolerance [`eval::SCALE_TOLERANCE`]); aligning them is the compiler's job.
//! Integer constants ([`Evaluator::mul_int`]) cost no level; real constants
//! ([`Evaluator::mul_const`]) are encoded at the scale of the prime the next rescale drops, so
//! the scale is unchanged after it.
//!
//! # Designed for bootstrapping later
//!
//! Level-aware contexts (converters per level), hoisted decompositions reusable across many
//! Galois elements, keys generable at a lower level, and plaintext-times-rotated sums are the
//! pieces CoeffToSlots/SlotToCoeff need.

pub mod bootstrap;
pub mod ciphertext;
pub mod context;
pub mod encoder;
pub mod encoding;
pub mod error;
pub mod eval;
pub mod keys;
pub mod keyswitch;
pub mod params;
pub mod ring;
pub mod sampling;
pub mod serial;

pub use ciphertext::{Ciphertext, Plaintext};
pub use context::Context;
pub use encoder::Encoder;
pub use error::{CkksError, Result};
pub use eval::{Evaluator, HoistedCiphertext};
pub use keys::{
    Decryptor, Encryptor, EvaluationKeys, GaloisKey, KeyGenerator, PublicKey, SecretKey,
    SwitchingKey, galois_element_conjugate, galois_element_for_step,
};
pub use num_complex::Complex64;
pub use params::{Params, ParamsBuilder, SecurityLevel, max_log2_qp};
pub use ring::poly::RnsPoly;
