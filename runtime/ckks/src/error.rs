//! The crate's single error type. Every variant carries the structured facts a caller needs to
//! react (which level, which rotation step, which limit), never just a string.

use thiserror::Error;

/// Everything that can go wrong in henn-ckks on a user-reachable path.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CkksError {
    #[error("invalid parameters: {reason}")]
    InvalidParams { reason: String },
    #[error(
        "parameters exceed the {level}-bit security budget: log2(QP) = {log2_qp:.1} > {max_log2_qp} bits at N = 2^{log_n}"
    )]
    InsecureParams {
        log_n: u32,
        log2_qp: f64,
        max_log2_qp: u32,
        level: u32,
    },
    #[error("could not find {wanted} NTT-friendly primes of {bits} bits for N = 2^{log_n}")]
    PrimeSearchFailed {
        bits: u32,
        log_n: u32,
        wanted: usize,
    },
    #[error("level mismatch: {left} vs {right}")]
    LevelMismatch { left: usize, right: usize },
    #[error("scale mismatch: 2^{left_log2:.6} vs 2^{right_log2:.6}")]
    ScaleMismatch { left_log2: f64, right_log2: f64 },
    #[error("level {level} is out of range (maximum {max})")]
    LevelOutOfRange { level: usize, max: usize },
    #[error("cannot rescale: the ciphertext is already at level 0")]
    NoLevelLeft,
    #[error("no rotation key for step {step} (Galois element {galois})")]
    MissingRotationKey { step: i64, galois: usize },
    #[error("no conjugation key")]
    MissingConjugationKey,
    #[error("no relinearization key")]
    MissingRelinKey,
    #[error("key generated up to level {key_level} cannot switch a ciphertext at level {level}")]
    KeyLevelTooLow { key_level: usize, level: usize },
    #[error("too many values: {given} > {slots} slots")]
    TooManyValues { given: usize, slots: usize },
    #[error("value is not finite or too large to encode: {value}")]
    UnencodableValue { value: f64 },
    #[error("expected a degree-{expected} ciphertext, got degree {got}")]
    CiphertextDegree { expected: usize, got: usize },
    #[error(
        "plaintext has {got} special limbs, expected {expected} (use Encoder::encode_extended)"
    )]
    PlaintextBasis { expected: usize, got: usize },
    #[error("objects belong to different parameter sets")]
    ContextMismatch,
    #[error("operating-system randomness failed: {reason}")]
    Randomness { reason: String },
    #[error(
        "serialized data is truncated: needed {needed} bytes at offset {offset}, have {available}"
    )]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("bad magic bytes: not a henn file")]
    BadMagic,
    #[error("unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("wrong object type: expected tag {expected}, found {found}")]
    WrongType { expected: u16, found: u16 },
    #[error("object was made for other parameters (hash mismatch)")]
    ParamsMismatch,
    #[error("checksum mismatch: data is corrupted")]
    ChecksumMismatch,
    #[error("declared size {declared} bytes exceeds the limit of {limit} bytes")]
    TooLarge { declared: u64, limit: u64 },
    #[error("malformed payload: {reason}")]
    Malformed { reason: String },
}

/// Short alias used throughout the crate.
pub type Result<T> = std::result::Result<T, CkksError>;
