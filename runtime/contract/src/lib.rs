//! The owner contract: what a data owner must do to take part in a compiled training job, and the
//! rules that apply it.
//!
//! A plan carries one [`OwnerContract`]. It says which features the owner supplies and in which
//! order, how they are scaled (the kind, and on which rows the statistics are fitted), how labels
//! are encoded, how the parameters start (rule and seed), which samples every step takes (seed,
//! batch size, steps) and how the test split is treated. The rules themselves live here, in
//! [`rules`], and nowhere else: the plaintext trainer of the compiler (`henn-tir`) and the owner's
//! tools of the runtime (`henn-owner`) both call them, so the encrypted run and its plaintext twin
//! cannot drift apart. [`weights`] is the file the owner's decrypted result is written to.
//!
//! **Architecture invariant:** this crate depends on no compiler crate and on nothing that handles
//! keys; it is plain data and deterministic functions of it.

pub mod rules;
pub mod weights;

use serde::{Deserialize, Serialize};

pub use henn_data::{Scaler, ScalingKind};
pub use rules::{BatchOrder, Matrix, State, StateKind, StateSlot, initial_state, targets};
pub use weights::{LayerWeights, WeightsError, WeightsFile};

/// The most training steps any job may have (`--iterations`, a plan's schedule): the owner's
/// batch order holds one index list per step, so this bounds that allocation too.
pub const MAX_STEPS: u64 = 1 << 20;

/// What the data owner must do to take part in a plan's training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerContract {
    /// The model's name (weights files carry it).
    pub model: String,
    /// Features per sample, in the data file's column order (column 0 is the label, columns
    /// `1..=features` the features; for IDX images, the pixels in row-major order).
    pub features: usize,
    /// How the labels become training targets.
    pub labels: LabelEncoding,
    /// How the owner scales features before packing them.
    pub scaling: ScalingRule,
    /// The largest magnitude of a feature *after scaling* that the plan's value ranges assume
    /// (the rules are `henn_tir::contract::feature_bound`). The owner refuses data beyond it
    /// before encrypting: encrypted, it would train silently to garbage.
    pub feature_bound: f64,
    /// How the training state starts.
    pub init: InitRule,
    /// The dense layers, first to last: the shapes of the state the owner encrypts and decrypts.
    pub layers: Vec<LayerShape>,
    /// Which training samples, in which order, every step takes.
    pub batches: BatchRule,
    /// How the test split is treated.
    pub test: TestRule,
}

/// How a label becomes a target row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelEncoding {
    /// One sigmoid output per class: label `k < classes` → the unit row `e_k`.
    OneHot { classes: usize },
    /// One sigmoid output: label 0 → 0, any other label → 1.
    Binary,
}

impl LabelEncoding {
    /// Output columns of the network (and of a target row).
    pub fn columns(self) -> usize {
        match self {
            LabelEncoding::OneHot { classes } => classes,
            LabelEncoding::Binary => 1,
        }
    }
    /// The class count a data file's labels range over.
    pub fn classes(self) -> usize {
        match self {
            LabelEncoding::OneHot { classes } => classes,
            LabelEncoding::Binary => 2,
        }
    }
}

/// Feature scaling: its kind and the rows its statistics are fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingRule {
    pub kind: ScalingKind,
    /// The statistics are fitted on the training rows the job uses (see [`BatchRule::samples`]),
    /// never on test data. When the compiler was given fitted statistics they are here and the
    /// owner uses them as they are.
    pub fitted: Option<Scaler>,
}

/// How the parameters start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InitRule {
    pub kind: InitKind,
    /// ChaCha20 seed (`seed_from_u64`), stream 0. Not a secret: it makes runs repeatable.
    pub seed: u64,
    /// Nesterov momentum keeps the previous plain step (`U`, `u`) as state, starting equal to the
    /// parameters.
    pub momentum_state: bool,
}

/// The initialisation of the weights (biases start at 0 except under `Constant`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum InitKind {
    /// Uniform on `±√(6 / (fan_in + fan_out))`.
    Glorot,
    Uniform {
        lo: f64,
        hi: f64,
    },
    /// Every weight and bias is this value.
    Constant(f64),
}

/// One dense layer's shape: `W` is `outputs × inputs`, `b` has `outputs` entries when `bias`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerShape {
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    pub bias: bool,
}

/// Which samples every step takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRule {
    /// ChaCha20 seed (`seed_from_u64`), stream 1: one Fisher–Yates shuffle per epoch.
    pub seed: u64,
    /// Samples per step.
    pub batch_size: usize,
    /// The job uses the first `samples` rows of the training file (all rows when `None`).
    pub samples: Option<usize>,
    /// Steps the job runs; every step takes a full batch (an epoch's short tail is skipped).
    pub steps: u64,
}

/// How the owner treats the test split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestRule {
    /// Scaled with the training statistics and evaluated in the clear by the owner, after
    /// decryption; never sent to the server.
    OwnerEvaluatesInClear,
}

impl OwnerContract {
    /// The class count labels range over.
    pub fn classes(&self) -> usize {
        self.labels.classes()
    }

    /// What a data file must look like: its width and label range.
    pub fn expect(&self) -> henn_data::csv::Expect {
        henn_data::csv::Expect {
            features: Some(self.features),
            classes: Some(self.classes()),
        }
    }

    /// The training rows the job uses: the first `samples` rows of `train` (all of them when the
    /// contract names no count).
    pub fn training_rows(
        &self,
        train: &henn_data::Dataset,
    ) -> Result<henn_data::Dataset, ContractError> {
        match self.batches.samples {
            Some(n) if n > train.len() => Err(ContractError::NotEnoughSamples {
                wanted: n,
                available: train.len(),
            }),
            Some(n) => Ok(train.subset(&(0..n).collect::<Vec<_>>())),
            None => Ok(train.clone()),
        }
    }

    /// The scaler for the training rows: the contract's fitted statistics, or a fit on them.
    pub fn scaler(&self, rows: &henn_data::Dataset) -> Scaler {
        match &self.scaling.fitted {
            Some(s) => s.clone(),
            None => Scaler::fit(self.scaling.kind, rows),
        }
    }

    /// Checks the contract against itself: layers chain from the features to the label columns.
    pub fn check(&self) -> Result<(), ContractError> {
        let mut width = self.features;
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.inputs != width || layer.outputs == 0 {
                return Err(ContractError::Layers {
                    layer: l,
                    reason: format!(
                        "{}x{} after a width of {width}",
                        layer.outputs, layer.inputs
                    ),
                });
            }
            width = layer.outputs;
        }
        if width != self.labels.columns() {
            return Err(ContractError::Layers {
                layer: self.layers.len(),
                reason: format!(
                    "the last layer has {width} outputs, the labels {}",
                    self.labels.columns()
                ),
            });
        }
        if !(self.feature_bound.is_finite() && self.feature_bound > 0.0) {
            return Err(ContractError::Layers {
                layer: 0,
                reason: format!("the feature bound is {}", self.feature_bound),
            });
        }
        if self.batches.batch_size == 0 {
            return Err(ContractError::Layers {
                layer: 0,
                reason: "the batch size is 0".to_owned(),
            });
        }
        Ok(())
    }
}

/// Why data or a contract cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    #[error("the job trains on the first {wanted} samples, the training data has {available}")]
    NotEnoughSamples { wanted: usize, available: usize },
    #[error("the batch ({batch}) is larger than the training set ({samples})")]
    BatchTooLarge { batch: usize, samples: usize },
    #[error("{steps} training steps: more than the {max} any job may have")]
    TooManySteps { steps: u64, max: u64 },
    #[error("layer {layer}: {reason}")]
    Layers { layer: usize, reason: String },
}
