//! Arithmetic over the RNS ring `Z_Q[X]/(X^N + 1)`: word-level modular arithmetic, prime search,
//! NTT tables, RNS polynomials, basis conversion, automorphisms, the branch-free kernels of
//! exact division (rescale, ModDown) and the run-time SIMD dispatch of element-wise kernels.

pub mod automorphism;
pub mod basis;
pub mod modarith;
pub mod ntt;
pub mod poly;
pub mod primes;
pub mod rescale;
pub mod simd;
