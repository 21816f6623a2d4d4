//! Feature scaling fitted on the training split only and stored with the weights.
//!
//! A [`Scaler`] maps feature `j` to `(x − offset[j]) · factor[j]`. Fitting on the training split
//! alone keeps test statistics out of training; the same scaler is then applied to the test split
//! and to anything evaluated later with the saved weights.

use serde::{Deserialize, Serialize};

use crate::Dataset;

/// How features are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScalingKind {
    /// Leave features as they are.
    None,
    /// Zero mean, unit (population) variance per feature.
    Standardize,
    /// Each feature mapped to `[0, 1]` on the training split.
    MinMax,
}

/// Per-feature affine scaling statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub kind: ScalingKind,
    /// Subtracted first.
    pub offset: Vec<f64>,
    /// Multiplied after the subtraction.
    pub factor: Vec<f64>,
}

impl Scaler {
    /// Fits the statistics on `train`. A constant feature gets factor 1 (it maps to 0), so no
    /// division by zero can occur.
    pub fn fit(kind: ScalingKind, train: &Dataset) -> Self {
        let d = train.features();
        let n = train.len().max(1) as f64;
        let (offset, factor) = match kind {
            ScalingKind::None => (vec![0.0; d], vec![1.0; d]),
            ScalingKind::Standardize => {
                let mut mean = vec![0.0; d];
                for i in 0..train.len() {
                    for (m, v) in mean.iter_mut().zip(train.row(i)) {
                        *m += v;
                    }
                }
                mean.iter_mut().for_each(|m| *m /= n);
                let mut var = vec![0.0; d];
                for i in 0..train.len() {
                    for ((s, v), m) in var.iter_mut().zip(train.row(i)).zip(&mean) {
                        *s += (v - m) * (v - m);
                    }
                }
                let factor = var
                    .iter()
                    .map(|s| {
                        let sd = (s / n).sqrt();
                        if sd > 1e-12 { 1.0 / sd } else { 1.0 }
                    })
                    .collect();
                (mean, factor)
            }
            ScalingKind::MinMax => {
                let mut lo = vec![f64::INFINITY; d];
                let mut hi = vec![f64::NEG_INFINITY; d];
                for i in 0..train.len() {
                    for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(train.row(i)) {
                        *l = l.min(v);
                        *h = h.max(v);
                    }
                }
                let factor = lo
                    .iter()
                    .zip(&hi)
                    .map(|(l, h)| if h - l > 1e-12 { 1.0 / (h - l) } else { 1.0 })
                    .collect();
                let offset = lo
                    .into_iter()
                    .map(|l| if l.is_finite() { l } else { 0.0 })
                    .collect();
                (offset, factor)
            }
        };
        Self {
            kind,
            offset,
            factor,
        }
    }

    /// Number of features the scaler was fitted on.
    pub fn features(&self) -> usize {
        self.offset.len()
    }

    /// Scales one row in place.
    pub fn apply_row(&self, row: &mut [f64]) {
        for ((v, o), f) in row.iter_mut().zip(&self.offset).zip(&self.factor) {
            *v = (*v - o) * f;
        }
    }

    /// Returns the scaled features of `data`, row-major.
    pub fn transform(&self, data: &Dataset) -> Vec<f64> {
        let mut x = data.x().to_vec();
        for row in x.chunks_mut(data.features()) {
            self.apply_row(row);
        }
        x
    }
}
