//! The plaintext trainer: interprets the step graph batch by batch with the model's seed.
//!
//! Determinism contract (what an encrypted run must reproduce to be comparable):
//!
//! * initialisation: a ChaCha20 stream seeded with `seed_from_u64(schedule.seed)` (stream 0),
//!   drawn layer by layer, row-major over `W_ℓ` (`outputs × inputs`); uniform values are
//!   `lo + (hi − lo)·u` with `u = (next_u64 >> 11)·2⁻⁵³`. Biases start at 0, except under
//!   `Init::Constant(c)` where every parameter is `c` (the predecessor's 0.0128 start);
//! * batch order: the same seed on ChaCha20 stream 1; every epoch is a Fisher–Yates shuffle of
//!   the training indices (uniform indices by rejection, no modulo bias), cut into batches of
//!   `batch_size`; a smaller last batch is kept and runs through a graph built for its size;
//! * `data.samples = n` restricts training to the first `n` rows of the training split;
//! * NAG: `U` starts equal to `W`; `γ_t` is the constant momentum or Nesterov's sequence.
//!
//! These seeds make public-data experiments repeatable; nothing here is key material.

use std::collections::{BTreeMap, BTreeSet};

use henn_contract::BatchOrder;
use henn_data::{Dataset, Scaler};
use henn_sema::{Activation, Model, Momentum, Optimizer, TrainLength};

use crate::build::{StepGraph, build_inference, build_train_step};
pub use crate::contract::scaling_kind;
use crate::contract::{
    from_contract_state, init_rule, label_encoding, layer_shapes, owner_contract, to_contract_state,
};
use crate::error::TrainError;
use crate::exact::{ActivationMode, ExactLayers, Replacement, exact_layers};
use crate::graph::{LayerIdx, Slot};
use crate::interp::{Env, Tensor, run_with};
use crate::weights::WeightsFile;

/// Statistics of one epoch (or of the steps run by one call of [`Trainer::run_epoch`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochStats {
    pub epoch: u64,
    pub steps: u64,
    /// Mean monitored loss over the samples seen (per sample, BCE or MSE).
    pub train_loss: f64,
    /// Accuracy of the forward passes made during training (weights change within the epoch).
    pub train_accuracy: f64,
    /// Per layer: largest |pre-activation| seen this epoch (layers with a polynomial only).
    pub max_abs_preactivation: BTreeMap<usize, f64>,
}

/// An evaluation of fixed weights on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub accuracy: f64,
    pub loss: f64,
    pub max_abs_preactivation: BTreeMap<usize, f64>,
}

/// A layer whose pre-activations left the polynomial's fitted interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeViolation {
    pub layer: usize,
    pub name: String,
    pub seen: (f64, f64),
    pub interval: (f64, f64),
}

impl std::fmt::Display for RangeViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "layer {} (`{}`): pre-activations reached [{:.3}, {:.3}], outside the activation's fitted interval [{}, {}]",
            self.layer + 1,
            self.name,
            self.seen.0,
            self.seen.1,
            self.interval.0,
            self.interval.1
        )
    }
}

/// The initial state of every slot, from the model's init rule and seed (the contract's rule).
pub fn initial_state(model: &Model) -> BTreeMap<Slot, Tensor> {
    from_contract_state(henn_contract::initial_state(
        &init_rule(model),
        &layer_shapes(model),
    ))
}

/// Targets as a matrix (the contract's label encoding).
fn targets(labels: &[u32], model: &Model) -> Tensor {
    let m = henn_contract::targets(labels, label_encoding(model));
    Tensor {
        rows: m.rows,
        cols: m.cols,
        data: m.data,
    }
}

/// The predicted class of one output row: argmax, or `a > 0.5` for a single output.
pub fn predict(row: &[f64]) -> u32 {
    if row.len() == 1 {
        return u32::from(row[0] > 0.5);
    }
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best as u32
}

fn merge_abs(into: &mut BTreeMap<usize, f64>, ranges: &BTreeMap<LayerIdx, (f64, f64)>) {
    for (l, &(lo, hi)) in ranges {
        let e = into.entry(l.0).or_insert(0.0);
        *e = e.max(lo.abs()).max(hi.abs());
    }
}

/// What one training step saw.
#[derive(Debug, Clone)]
pub struct StepStats {
    /// The monitored loss (batch mean).
    pub loss: f64,
    /// Correct predictions in the batch (before the update).
    pub correct: usize,
    pub samples: usize,
    pub preactivation_range: BTreeMap<LayerIdx, (f64, f64)>,
}

/// Drives training of one model on one training split.
#[derive(Debug)]
pub struct Trainer {
    model: Model,
    scaler: Scaler,
    x: Vec<f64>,
    labels: Vec<u32>,
    graphs: BTreeMap<usize, StepGraph>,
    state: BTreeMap<Slot, Tensor>,
    order: BatchOrder,
    steps: u64,
    epochs: u64,
    /// Nesterov's αₜ (only used with `Momentum::Nesterov`).
    alpha: f64,
    /// Per layer, the overall pre-activation range seen during training.
    ranges: BTreeMap<LayerIdx, (f64, f64)>,
    /// Which activations run as the exact sigmoid (none for the twin).
    mode: ActivationMode,
    exact: ExactLayers,
}

impl Trainer {
    /// Prepares training: checks the data against the model, fits the scaler on `train`,
    /// builds the step graph and initialises the parameters.
    pub fn new(model: &Model, train: &Dataset) -> Result<Self, TrainError> {
        Self::with_activation(model, train, ActivationMode::Polynomial)
    }

    /// [`Trainer::new`] with the activations `mode` names evaluated as the exact sigmoid (the
    /// exact-sigmoid float model, [`crate::exact`]): everything else (initialisation, batch
    /// order, optimizer, loss, scaling) is the twin's. Errors on an explicit polynomial under
    /// [`ActivationMode::ExactSigmoid`].
    pub fn with_activation(
        model: &Model,
        train: &Dataset,
        mode: ActivationMode,
    ) -> Result<Self, TrainError> {
        let exact = exact_layers(model, mode)?;
        train.check_shape(model.data.features, model.data.classes)?;
        let contract = owner_contract(model, 0);
        let train = contract.training_rows(train)?;
        let scaler = contract.scaler(&train);
        let x = scaler.transform(&train);
        let order = BatchOrder::new(contract.batches.seed, train.len());
        let mut t = Self {
            model: model.clone(),
            scaler,
            x,
            labels: train.labels().to_vec(),
            graphs: BTreeMap::new(),
            state: initial_state(model),
            order,
            steps: 0,
            epochs: 0,
            alpha: 1.0,
            ranges: BTreeMap::new(),
            mode,
            exact,
        };
        let b = t.model.schedule.batch_size.min(t.labels.len());
        t.graph_for(b)?;
        Ok(t)
    }

    fn graph_for(&mut self, batch: usize) -> Result<&StepGraph, TrainError> {
        if !self.graphs.contains_key(&batch) {
            let g = build_train_step(&self.model, batch)?;
            g.graph.validate()?;
            self.graphs.insert(batch, g);
        }
        self.graphs
            .get(&batch)
            .ok_or(TrainError::Ir(crate::error::TirError::Model(
                "graph cache".to_owned(),
            )))
    }

    /// The model being trained.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Which activations run as the exact sigmoid.
    pub fn activation_mode(&self) -> ActivationMode {
        self.mode
    }

    /// The layers whose polynomial the exact sigmoid replaced (empty for the twin).
    pub fn replaced(&self) -> &[Replacement] {
        &self.exact.replaced
    }

    /// The step graph for the configured batch size.
    pub fn step_graph(&mut self) -> Result<&StepGraph, TrainError> {
        let b = self.model.schedule.batch_size.min(self.labels.len());
        self.graph_for(b)
    }

    /// Number of training samples used.
    pub fn samples(&self) -> usize {
        self.labels.len()
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Steps per full epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        self.labels.len().div_ceil(self.model.schedule.batch_size) as u64
    }

    /// Total steps the schedule asks for.
    pub fn total_steps(&self) -> u64 {
        match self.model.schedule.length {
            TrainLength::Epochs(e) => e * self.steps_per_epoch(),
            TrainLength::Iterations(n) => n,
        }
    }

    /// True once the schedule is complete.
    pub fn done(&self) -> bool {
        self.steps >= self.total_steps()
    }

    /// The current parameters and NAG state.
    pub fn state(&self) -> &BTreeMap<Slot, Tensor> {
        &self.state
    }

    /// The fitted scaler.
    pub fn scaler(&self) -> &Scaler {
        &self.scaler
    }

    fn momentum(&mut self) -> f64 {
        match self.model.optimizer {
            Optimizer::Sgd { .. } => 0.0,
            Optimizer::Nag {
                momentum: Momentum::Constant(m),
                ..
            } => m,
            Optimizer::Nag {
                momentum: Momentum::Nesterov,
                ..
            } => {
                let a = self.alpha;
                let next = (1.0 + (1.0 + 4.0 * a * a).sqrt()) / 2.0;
                self.alpha = next;
                (a - 1.0) / next
            }
        }
    }

    /// Draws the next epoch's sample order from the model's seed (the order every run of this
    /// model uses, encrypted or not).
    pub fn shuffle_epoch(&mut self) -> Vec<usize> {
        self.order.next_epoch()
    }

    /// The scaled features (row-major) and the target matrix of the samples `chunk`, exactly as a
    /// training step sees them.
    pub fn batch(&self, chunk: &[usize]) -> (Vec<f64>, Tensor) {
        let d = self.model.data.features;
        let mut xb = Vec::with_capacity(chunk.len() * d);
        for &i in chunk {
            xb.extend_from_slice(&self.x[i * d..(i + 1) * d]);
        }
        let labels: Vec<u32> = chunk.iter().map(|&i| self.labels[i]).collect();
        (xb, targets(&labels, &self.model))
    }

    /// One training step on the samples `chunk`.
    pub fn train_step(&mut self, chunk: &[usize]) -> Result<StepStats, TrainError> {
        let labels: Vec<u32> = chunk.iter().map(|&i| self.labels[i]).collect();
        let (xb, y) = self.batch(chunk);
        let d = self.model.data.features;
        let momentum = self.momentum();
        self.graph_for(chunk.len())?;
        let Some(step) = self.graphs.get(&chunk.len()) else {
            return Err(TrainError::Ir(crate::error::TirError::Model(
                "graph cache".to_owned(),
            )));
        };
        let (loss_id, out_id) = (step.loss, step.a[step.a.len() - 1]);
        let env = Env {
            features: Some(Tensor {
                rows: chunk.len(),
                cols: d,
                data: xb,
            }),
            labels: Some(y),
            state: std::mem::take(&mut self.state),
            momentum,
        };
        let outcome = run_with(&step.graph, &env, &self.exact.layers);
        self.state = env.state;
        let outcome = outcome?;
        self.steps += 1;
        let loss = loss_id
            .and_then(|l| outcome.value(l))
            .map_or(f64::NAN, |t| t.data[0]);
        let correct = outcome.value(out_id).map_or(0, |out| {
            (0..out.rows)
                .filter(|&r| predict(out.row(r)) == labels[r])
                .count()
        });
        for (l, &(lo, hi)) in &outcome.preactivation_range {
            let e = self.ranges.entry(*l).or_insert((lo, hi));
            *e = (e.0.min(lo), e.1.max(hi));
        }
        for (slot, t) in outcome.stored {
            if t.data.iter().any(|v| !v.is_finite()) {
                return Err(TrainError::Diverged {
                    what: "a parameter",
                    step: self.steps,
                    layer: self.model.layers[slot.layer.0].name.clone(),
                });
            }
            self.state.insert(slot, t);
        }
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                what: "the loss",
                step: self.steps,
                layer: self.model.layers[self.model.layers.len() - 1].name.clone(),
            });
        }
        Ok(StepStats {
            loss,
            correct,
            samples: chunk.len(),
            preactivation_range: outcome.preactivation_range,
        })
    }

    /// Runs one epoch (a fresh shuffle), stopping early when the schedule's step count is
    /// reached. `on_step` is called with the trainer after every step (for progress bars, or to
    /// evaluate the weights step by step).
    pub fn run_epoch(
        &mut self,
        mut on_step: impl FnMut(&Trainer),
    ) -> Result<EpochStats, TrainError> {
        let order = self.shuffle_epoch();
        let bs = self.model.schedule.batch_size;
        let total = self.total_steps();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut epoch_abs = BTreeMap::new();
        for chunk in order.chunks(bs) {
            if self.steps >= total {
                break;
            }
            let stats = self.train_step(chunk)?;
            merge_abs(&mut epoch_abs, &stats.preactivation_range);
            correct += stats.correct;
            loss_sum += stats.loss * chunk.len() as f64;
            seen += chunk.len();
            on_step(self);
        }
        self.epochs += 1;
        Ok(EpochStats {
            epoch: self.epochs,
            steps: self.steps,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            max_abs_preactivation: epoch_abs,
        })
    }

    /// Layers whose pre-activations left their fitted interval so far in training (a layer run
    /// as the exact sigmoid has no interval to leave).
    pub fn range_violations(&self) -> Vec<RangeViolation> {
        let mut v = violations(&self.model, &self.ranges);
        v.retain(|v| !self.exact.layers.contains(&LayerIdx(v.layer)));
        v
    }

    /// Evaluates the current weights on `data` (scaled with the training statistics), with the
    /// trainer's activations.
    pub fn evaluate(&self, data: &Dataset) -> Result<Evaluation, TrainError> {
        forward_eval(
            &self.model,
            &self.state,
            &self.scaler,
            data,
            &self.exact.layers,
        )
        .map(|(e, _)| e)
    }

    /// The weights file of the current state.
    pub fn weights(&self) -> WeightsFile {
        WeightsFile::from_state(
            &self.model.name,
            &layer_shapes(&self.model),
            &to_contract_state(&self.state),
            self.scaler.clone(),
            self.steps,
        )
    }
}

/// Per layer, the smallest and largest pre-activation seen.
pub type Ranges = BTreeMap<LayerIdx, (f64, f64)>;

/// Layers of `model` whose recorded range leaves the activation's interval.
pub fn violations(model: &Model, ranges: &BTreeMap<LayerIdx, (f64, f64)>) -> Vec<RangeViolation> {
    let mut out = Vec::new();
    for (l, &(lo, hi)) in ranges {
        let Some(layer) = model.layers.get(l.0) else {
            continue;
        };
        if let Activation::Polynomial(p) = &layer.activation
            && (lo < p.interval.lo || hi > p.interval.hi)
        {
            out.push(RangeViolation {
                layer: l.0,
                name: layer.name.clone(),
                seen: (lo, hi),
                interval: (p.interval.lo, p.interval.hi),
            });
        }
    }
    out
}

/// Forward pass of `state` on `data`: accuracy, monitored loss and ranges. Also returns the raw
/// range map for [`violations`].
pub fn evaluate_with_ranges(
    model: &Model,
    state: &BTreeMap<Slot, Tensor>,
    scaler: &Scaler,
    data: &Dataset,
) -> Result<(Evaluation, Ranges), TrainError> {
    forward_eval(model, state, scaler, data, &BTreeSet::new())
}

/// [`evaluate_with_ranges`] with the layers in `exact` evaluated as the exact sigmoid.
fn forward_eval(
    model: &Model,
    state: &BTreeMap<Slot, Tensor>,
    scaler: &Scaler,
    data: &Dataset,
    exact: &BTreeSet<LayerIdx>,
) -> Result<(Evaluation, Ranges), TrainError> {
    data.check_shape(model.data.features, model.data.classes)?;
    if data.is_empty() {
        return Err(TrainError::Data(henn_data::DataError::Empty {
            path: data.source.clone().into(),
        }));
    }
    let step = build_inference(model, data.len())?;
    step.graph.validate()?;
    let env = Env {
        features: Some(Tensor {
            rows: data.len(),
            cols: data.features(),
            data: scaler.transform(data),
        }),
        labels: None,
        state: state.clone(),
        momentum: 0.0,
    };
    let outcome = run_with(&step.graph, &env, exact)?;
    let out = outcome
        .value(step.a[step.a.len() - 1])
        .ok_or(TrainError::Ir(crate::error::TirError::Model(
            "no output".to_owned(),
        )))?;
    let y = targets(data.labels(), model);
    let correct = (0..out.rows)
        .filter(|&r| predict(out.row(r)) == data.labels()[r])
        .count();
    let loss = out
        .data
        .iter()
        .zip(&y.data)
        .map(|(&p, &t)| match model.loss {
            henn_sema::Loss::Bce => {
                let p = p.clamp(1e-7, 1.0 - 1e-7);
                -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
            }
            henn_sema::Loss::Mse => 0.5 * (p - t) * (p - t),
        })
        .sum::<f64>()
        / data.len() as f64;
    let mut abs = BTreeMap::new();
    merge_abs(&mut abs, &outcome.preactivation_range);
    Ok((
        Evaluation {
            accuracy: correct as f64 / data.len() as f64,
            loss,
            max_abs_preactivation: abs,
        },
        outcome.preactivation_range,
    ))
}

/// [`evaluate_with_ranges`] without the raw ranges.
pub fn evaluate(
    model: &Model,
    state: &BTreeMap<Slot, Tensor>,
    scaler: &Scaler,
    data: &Dataset,
) -> Result<Evaluation, TrainError> {
    evaluate_with_ranges(model, state, scaler, data).map(|(e, _)| e)
}
