//! The checked model's side of the owner contract: the one function that states a model's
//! [`OwnerContract`], and conversions between the contract's state and the tensor IR's.
//!
//! The plaintext trainer applies the contract's rules through this module, and the compiler
//! writes the same contract into the plan, so the owner (who has only the plan) and the twin
//! compute the same initial state, scaling and batches.

use std::collections::BTreeMap;

use henn_contract::{
    BatchRule, InitKind, InitRule, LabelEncoding, LayerShape, Matrix, OwnerContract, ScalingRule,
    State, TestRule,
};
use henn_data::ScalingKind;
use henn_sema::{Init, Model, Optimizer, Scaling};

use crate::graph::{LayerIdx, Slot};
use crate::interp::Tensor;

/// Maps the model's scaling to henn-data's.
pub fn scaling_kind(s: Scaling) -> ScalingKind {
    match s {
        Scaling::None => ScalingKind::None,
        Scaling::Standardize => ScalingKind::Standardize,
        Scaling::MinMax => ScalingKind::MinMax,
    }
}

/// The model's layers as the contract names them.
pub fn layer_shapes(model: &Model) -> Vec<LayerShape> {
    model
        .layers
        .iter()
        .map(|l| LayerShape {
            name: l.name.clone(),
            inputs: l.inputs,
            outputs: l.outputs,
            bias: l.bias,
        })
        .collect()
}

/// The model's initialisation rule.
pub fn init_rule(model: &Model) -> InitRule {
    InitRule {
        kind: match model.init {
            Init::Glorot => InitKind::Glorot,
            Init::Uniform { lo, hi } => InitKind::Uniform { lo, hi },
            Init::Constant(c) => InitKind::Constant(c),
        },
        seed: model.schedule.seed,
        momentum_state: matches!(model.optimizer, Optimizer::Nag { .. }),
    }
}

/// How the model's labels become targets.
pub fn label_encoding(model: &Model) -> LabelEncoding {
    if model.data.classes == 1 {
        LabelEncoding::Binary
    } else {
        LabelEncoding::OneHot {
            classes: model.data.classes,
        }
    }
}

/// Standardized features beyond this many standard deviations are refused even when the
/// activations' intervals are narrower. Rare features make large z-scores ordinary data (a pixel
/// lit in one digit of 1438 scores ≈ 27), and Samuelson's inequality bounds every training row's
/// |z| by (n − 1)/√n, so 64 is only reached by a single outlier among more than 4096 rows; CKKS
/// represents such values with room to spare (Δ = 2^40 under a 60-bit first prime).
pub const STANDARDIZED_FEATURE_BOUND: f64 = 64.0;

/// The largest |feature| after scaling that the plan's ranges assume: 1 for min-max scaling (the
/// training rows map into [0, 1]); the promised `feature_range` for unscaled features; otherwise
/// the widest activation interval (a feature beyond it drives pre-activations past every
/// polynomial's interval), at least 1, and at least [`STANDARDIZED_FEATURE_BOUND`] for
/// standardized features.
pub fn feature_bound(model: &Model) -> f64 {
    let widest = model
        .layers
        .iter()
        .filter_map(|l| match &l.activation {
            henn_sema::Activation::Polynomial(p) => {
                Some(p.interval.lo.abs().max(p.interval.hi.abs()))
            }
            _ => None,
        })
        .fold(1.0, f64::max);
    match (model.data.scaling, model.data.feature_range) {
        (Scaling::MinMax, _) => 1.0,
        (Scaling::None, Some(r)) => r.lo.abs().max(r.hi.abs()),
        (Scaling::None, None) => widest,
        (Scaling::Standardize, _) => widest.max(STANDARDIZED_FEATURE_BOUND),
    }
}

/// The owner contract of a job training `model` for `steps` steps.
pub fn owner_contract(model: &Model, steps: u64) -> OwnerContract {
    OwnerContract {
        model: model.name.clone(),
        features: model.data.features,
        labels: label_encoding(model),
        scaling: ScalingRule {
            kind: scaling_kind(model.data.scaling),
            fitted: None,
        },
        feature_bound: feature_bound(model),
        init: init_rule(model),
        layers: layer_shapes(model),
        batches: BatchRule {
            seed: model.schedule.seed,
            batch_size: model.schedule.batch_size,
            samples: model.data.samples,
            steps,
        },
        test: TestRule::OwnerEvaluatesInClear,
    }
}

/// The contract's state as tensor-IR state.
pub fn from_contract_state(state: State) -> BTreeMap<Slot, Tensor> {
    state
        .into_iter()
        .map(|(s, m)| {
            (
                Slot {
                    layer: LayerIdx(s.layer),
                    kind: s.kind,
                },
                Tensor {
                    rows: m.rows,
                    cols: m.cols,
                    data: m.data,
                },
            )
        })
        .collect()
}

/// Tensor-IR state as the contract's.
pub fn to_contract_state(state: &BTreeMap<Slot, Tensor>) -> State {
    state
        .iter()
        .map(|(s, t)| {
            (
                henn_contract::StateSlot {
                    layer: s.layer.0,
                    kind: s.kind,
                },
                Matrix {
                    rows: t.rows,
                    cols: t.cols,
                    data: t.data.clone(),
                },
            )
        })
        .collect()
}
