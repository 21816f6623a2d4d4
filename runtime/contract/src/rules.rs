//! The deterministic rules of a training job, shared by the plaintext trainer and the data owner:
//! initialisation, batch order, label encoding.
//!
//! * initialisation: a ChaCha20 stream seeded with `seed_from_u64(seed)` (stream 0), drawn layer
//!   by layer, row-major over `W_ℓ` (`outputs × inputs`); uniform values are `lo + (hi − lo)·u`
//!   with `u = (next_u64 >> 11)·2⁻⁵³`. Biases start at 0, except under `Constant(c)` where every
//!   parameter is `c`; with momentum state, `U` and `u` start equal to `W` and `b`;
//! * batch order: the same seed on ChaCha20 stream 1; every epoch is a Fisher–Yates shuffle of
//!   the training indices (uniform indices by rejection, no modulo bias), cut into batches;
//! * labels: one-hot rows, or one 0/1 column for a single output.
//!
//! These seeds make public-data experiments repeatable; nothing here is key material.

use std::collections::BTreeMap;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{ContractError, InitKind, InitRule, LabelEncoding, LayerShape};

/// A piece of training state: layer index (0-based) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StateSlot {
    pub layer: usize,
    pub kind: StateKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StateKind {
    Weight,
    Bias,
    /// NAG: the previous plain step of the weights.
    WeightPrev,
    /// NAG: the previous plain step of the bias.
    BiasPrev,
}

impl std::fmt::Display for StateSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.layer + 1;
        match self.kind {
            StateKind::Weight => write!(f, "W{n}"),
            StateKind::Bias => write!(f, "b{n}"),
            StateKind::WeightPrev => write!(f, "U{n}"),
            StateKind::BiasPrev => write!(f, "u{n}"),
        }
    }
}

/// A row-major matrix of state (a bias is `1 × outputs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

/// The training state by slot.
pub type State = BTreeMap<StateSlot, Matrix>;

fn unit(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let r = rng.next_u64();
        if r < zone {
            return r % n;
        }
    }
}

/// The initial state of every slot of `layers`, from the rule and its seed.
pub fn initial_state(rule: &InitRule, layers: &[LayerShape]) -> State {
    let mut rng = ChaCha20Rng::seed_from_u64(rule.seed);
    rng.set_stream(0);
    let mut state = BTreeMap::new();
    for (l, layer) in layers.iter().enumerate() {
        let (rows, cols) = (layer.outputs, layer.inputs);
        let (w, b) = match rule.kind {
            InitKind::Glorot => {
                let r = (6.0 / (rows + cols) as f64).sqrt();
                let w = (0..rows * cols)
                    .map(|_| -r + 2.0 * r * unit(&mut rng))
                    .collect();
                (w, 0.0)
            }
            InitKind::Uniform { lo, hi } => {
                let w = (0..rows * cols)
                    .map(|_| lo + (hi - lo) * unit(&mut rng))
                    .collect();
                (w, 0.0)
            }
            InitKind::Constant(c) => (vec![c; rows * cols], c),
        };
        let slot = |kind| StateSlot { layer: l, kind };
        let w = Matrix {
            rows,
            cols,
            data: w,
        };
        let b = Matrix {
            rows: 1,
            cols: rows,
            data: vec![b; rows],
        };
        if rule.momentum_state {
            state.insert(slot(StateKind::WeightPrev), w.clone());
            if layer.bias {
                state.insert(slot(StateKind::BiasPrev), b.clone());
            }
        }
        state.insert(slot(StateKind::Weight), w);
        if layer.bias {
            state.insert(slot(StateKind::Bias), b);
        }
    }
    state
}

/// Targets of `labels` as a row-major `labels.len() × columns` matrix.
pub fn targets(labels: &[u32], encoding: LabelEncoding) -> Matrix {
    let cols = encoding.columns();
    let mut data = vec![0.0; labels.len() * cols];
    for (i, &l) in labels.iter().enumerate() {
        match encoding {
            LabelEncoding::Binary => data[i] = f64::from(l.min(1)),
            LabelEncoding::OneHot { classes } => {
                if (l as usize) < classes {
                    data[i * cols + l as usize] = 1.0;
                }
            }
        }
    }
    Matrix {
        rows: labels.len(),
        cols,
        data,
    }
}

/// The sample order of a job: one shuffle per epoch from the batch seed.
#[derive(Debug, Clone)]
pub struct BatchOrder {
    rng: ChaCha20Rng,
    samples: usize,
}

impl BatchOrder {
    /// The order of a job over `samples` training rows.
    pub fn new(seed: u64, samples: usize) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        rng.set_stream(1);
        Self { rng, samples }
    }

    /// The next epoch's order of the row indices.
    pub fn next_epoch(&mut self) -> Vec<usize> {
        let n = self.samples;
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = below(&mut self.rng, i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order
    }

    /// The batches of `steps` steps of `batch` samples, full batches only (an epoch's short tail
    /// is skipped): what every step of an encrypted run and its twin takes.
    pub fn full_batches(
        &mut self,
        batch: usize,
        steps: usize,
    ) -> Result<Vec<Vec<usize>>, ContractError> {
        if batch == 0 || batch > self.samples {
            return Err(ContractError::BatchTooLarge {
                batch,
                samples: self.samples,
            });
        }
        if steps as u64 > crate::MAX_STEPS {
            return Err(ContractError::TooManySteps {
                steps: steps as u64,
                max: crate::MAX_STEPS,
            });
        }
        let mut chunks: Vec<Vec<usize>> = Vec::with_capacity(steps);
        while chunks.len() < steps {
            let order = self.next_epoch();
            for c in order.chunks_exact(batch) {
                if chunks.len() < steps {
                    chunks.push(c.to_vec());
                }
            }
        }
        Ok(chunks)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn layers() -> Vec<LayerShape> {
        vec![
            LayerShape {
                name: "h".into(),
                inputs: 3,
                outputs: 2,
                bias: true,
            },
            LayerShape {
                name: "o".into(),
                inputs: 2,
                outputs: 1,
                bias: false,
            },
        ]
    }

    #[test]
    fn initialisation_is_a_function_of_the_seed() {
        let rule = InitRule {
            kind: InitKind::Uniform { lo: -1.0, hi: 1.0 },
            seed: 7,
            momentum_state: true,
        };
        let a = initial_state(&rule, &layers());
        assert_eq!(a, initial_state(&rule, &layers()));
        let other = initial_state(&InitRule { seed: 8, ..rule }, &layers());
        assert_ne!(a, other);
        // W, b, U, u for layer 0; W, U for layer 1.
        assert_eq!(a.len(), 6);
        let w = &a[&StateSlot {
            layer: 0,
            kind: StateKind::Weight,
        }];
        assert_eq!((w.rows, w.cols), (2, 3));
        assert!(w.data.iter().all(|v| (-1.0..1.0).contains(v)));
        assert_eq!(
            w,
            &a[&StateSlot {
                layer: 0,
                kind: StateKind::WeightPrev
            }]
        );
    }

    #[test]
    fn full_batches_skip_the_short_tail_and_cover_each_epoch_once() {
        let mut order = BatchOrder::new(3, 10);
        let batches = order.full_batches(4, 4).unwrap();
        assert_eq!(batches.len(), 4);
        // Two batches per epoch of 10 (the tail of 2 is skipped); no index twice in an epoch.
        for epoch in batches.chunks(2) {
            let mut seen: Vec<usize> = epoch.concat();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 8);
        }
        assert!(BatchOrder::new(3, 10).full_batches(11, 1).is_err());
    }

    #[test]
    fn labels_encode_one_hot_or_binary() {
        let t = targets(&[2, 0], LabelEncoding::OneHot { classes: 3 });
        assert_eq!(t.data, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        let t = targets(&[0, 5], LabelEncoding::Binary);
        assert_eq!(t.data, vec![0.0, 1.0]);
    }
}
