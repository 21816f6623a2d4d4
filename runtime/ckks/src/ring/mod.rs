//! Arithmetic over the RNS ring `Z_Q[X]/(X^N + 1)`: word-level modular arithmetic, prime search,
//! NTT tables, RNS polynomials, basis conversion and automorphisms.

pub mod automorphism;
pub mod basis;
pub mod modarith;
pub mod ntt;
pub mod poly;
pub mod primes;
