//! The checked model: what `henn check` proves about a `.henn` file, and the one type every later
//! stage (autodiff, tensor IR, HE lowering, plan) consumes.
//!
//! Every field is resolved: defaults are filled in, least-squares activation fits are already
//! computed into coefficients, widths chain, and security settings are explicit. Later stages never
//! look at the AST again, so nothing here carries spans except [`Model::source_name`] for messages.

use serde::{Deserialize, Serialize};

/// A fully checked training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The model's name (from the file's `model NAME { .. }` header).
    pub name: String,
    /// The file the model came from, for messages only.
    pub source_name: String,
    pub data: DataSpec,
    /// Dense layers in order; `layers[0].inputs == data.features`,
    /// `layers[i].outputs == layers[i + 1].inputs`, and the last layer's width is the class count.
    pub layers: Vec<DenseLayer>,
    pub loss: Loss,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub init: Init,
    pub encryption: EncryptionSpec,
}

/// What the data owner's training set looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// Features per sample, as the frozen feature extractor emits them (no bias column).
    pub features: usize,
    /// 1 = a single sigmoid output (binary, labels 0/1); k >= 2 = one sigmoid per class, one-hot labels.
    pub classes: usize,
    /// Number of training samples, if the file states it.
    pub samples: Option<usize>,
    /// A promise about the raw feature range, used for value-range bounds.
    pub feature_range: Option<Interval>,
    /// How features are scaled before training (statistics from the training split only).
    pub scaling: Scaling,
    /// Bundled training data, resolved relative to the `.henn` file's directory.
    pub train: Option<std::path::PathBuf>,
    /// Bundled test data, resolved the same way.
    pub test: Option<std::path::PathBuf>,
}

/// A closed interval `[lo, hi]` with `lo < hi`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scaling {
    None,
    /// Zero mean, unit variance per feature.
    Standardize,
    /// Each feature mapped to `[0, 1]`.
    MinMax,
}

/// One fully connected layer: `Z = A_prev · Wᵀ (+ b)`, `A = act(Z)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer {
    /// The layer's name in the file (or `dense{i}` when unnamed).
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    pub bias: bool,
    pub activation: Activation,
}

/// An activation as the encrypted run will compute it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Activation {
    /// No activation (a linear layer).
    Identity,
    /// A polynomial approximation of the sigmoid.
    Polynomial(PolyActivation),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolyActivation {
    /// Coefficients in the monomial basis, lowest degree first: `c[0] + c[1]·x + …`.
    pub coeffs: Vec<f64>,
    /// The interval the polynomial is trusted on; pre-activations outside it are reported.
    pub interval: Interval,
    /// Where the coefficients came from.
    pub origin: PolyOrigin,
    /// How σ′ is obtained for back-propagation.
    pub derivative: Derivative,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PolyOrigin {
    /// Least-squares fit of the sigmoid of this degree on the interval.
    LeastSquares { degree: u32 },
    /// Coefficients written out in the file.
    Explicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Derivative {
    /// σ̃′(Z): the derivative polynomial evaluated on the pre-activation.
    Polynomial,
    /// A ⊙ (1 − A): computed from the activation output.
    FromOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// Sigmoid outputs + binary cross-entropy per class: output error `A − Y`.
    Bce,
    /// Mean squared error: output error `(A − Y) ⊙ σ′(Z)`.
    Mse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Optimizer {
    Sgd { lr: f64 },
    Nag { lr: f64, momentum: Momentum },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Momentum {
    /// A fixed momentum coefficient in `[0, 1)`.
    Constant(f64),
    /// Nesterov's sequence: `α₁ = 1`, `αₜ₊₁ = (1 + √(1 + 4αₜ²)) / 2`, `γₜ = (αₜ − 1) / αₜ₊₁`.
    Nesterov,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub batch_size: usize,
    pub length: TrainLength,
    /// Seed for initialisation and batch order (deterministic, not a secret).
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrainLength {
    Iterations(u64),
    Epochs(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// Glorot/Xavier uniform: `U(−√(6/(fan_in+fan_out)), +…)`.
    Glorot,
    Uniform {
        lo: f64,
        hi: f64,
    },
    Constant(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncryptionSpec {
    pub security: Security,
    pub ring: RingDegree,
    /// log2 of the CKKS scale Δ.
    pub scale_bits: u32,
    pub bootstrapping: Bootstrapping,
    /// Upper bound on the evaluation-key memory, in bytes.
    pub key_memory_cap: Option<u64>,
    pub layout: LayoutHint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Security {
    Bits128,
    Bits192,
    Bits256,
    /// Below 128 bits. Only reachable when the file spells out `insecure`.
    Insecure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingDegree {
    Auto,
    /// log2 N.
    Fixed {
        log_n: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bootstrapping {
    /// The compiler bootstraps when that is the only way, or estimated faster.
    Auto,
    /// Never bootstrap (the chain must hold every step).
    Off,
    /// Always bootstrap (level-invariant loop, even when a leveled chain would do).
    On,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayoutHint {
    Auto,
    Vr,
    Dvr,
}

impl PolyActivation {
    /// p(x), by Horner's rule.
    pub fn eval(&self, x: f64) -> f64 {
        self.coeffs.iter().rev().fold(0.0, |acc, &c| acc * x + c)
    }

    /// p′(x), by Horner's rule on the derivative's coefficients.
    pub fn eval_derivative(&self, x: f64) -> f64 {
        self.coeffs
            .iter()
            .enumerate()
            .skip(1)
            .rev()
            .fold(0.0, |acc, (k, &c)| acc * x + c * k as f64)
    }
}
