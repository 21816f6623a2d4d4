//! The `Backend` trait: what the executor needs from anything that can run a plan's operations.
//!
//! Two implementations: [`crate::sim::SlotSim`] (plain `f64` slots with exact level tracking and an
//! optional noise model) and [`crate::ckks::CkksBackend`] (the real thing, on `henn-ckks`, holding
//! evaluation keys only). Binary operations align their operands' levels themselves (the
//! shallower one is dropped), so one instruction stream runs at whatever level a step starts.

/// What can go wrong while executing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    #[error("CKKS: {0}")]
    Ckks(#[from] henn_ckks::CkksError),
    #[error("instruction {index} (`{op}`): {reason}")]
    Instr {
        index: usize,
        op: &'static str,
        reason: String,
    },
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    #[error("missing input `{0}`")]
    MissingInput(String),
    #[error(
        "the computation ran out of levels (needs level {needed}, the ciphertext is at {available})"
    )]
    OutOfLevels { needed: i64, available: usize },
    #[error("{0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, ExecError>;

/// The operations of the HE IR on some representation of ciphertexts.
pub trait Backend {
    type Ct: Clone;

    fn slots(&self) -> usize;
    fn level(&self, a: &Self::Ct) -> usize;

    fn add(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    fn sub(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    fn neg(&self, a: &Self::Ct) -> Result<Self::Ct>;
    fn add_plain(&self, a: &Self::Ct, values: &[f64]) -> Result<Self::Ct>;
    fn sub_plain(&self, a: &Self::Ct, values: &[f64]) -> Result<Self::Ct>;
    fn add_scalar(&self, a: &Self::Ct, c: f64) -> Result<Self::Ct>;
    /// Tensor product (degree 2 until relinearized).
    fn mul(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    /// Multiply by plaintext slot values (rescale follows).
    fn mul_plain(&self, a: &Self::Ct, values: &[f64]) -> Result<Self::Ct>;
    fn mul_int(&self, a: &Self::Ct, n: i64) -> Result<Self::Ct>;
    /// Multiply by a real constant (rescale follows).
    fn mul_scalar(&self, a: &Self::Ct, c: f64) -> Result<Self::Ct>;
    fn relin(&self, a: &Self::Ct) -> Result<Self::Ct>;
    fn rescale(&self, a: &Self::Ct) -> Result<Self::Ct>;
    fn drop_to_level(&self, a: &Self::Ct, level: usize) -> Result<Self::Ct>;
    fn rotate(&self, a: &Self::Ct, step: i64) -> Result<Self::Ct>;
    fn conjugate(&self, a: &Self::Ct) -> Result<Self::Ct>;
    fn bootstrap(&self, a: &Self::Ct) -> Result<Self::Ct>;
}
