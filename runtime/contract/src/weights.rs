//! Trained weights on disk: JSON (or CSV, chosen by the `.csv` extension) with every shape and the
//! feature-scaling statistics, so a decrypted result can be evaluated later exactly like a
//! plaintext one.
//!
//! The CSV form is one record per line, first field = record kind:
//!
//! ```text
//! format,henn-weights,1
//! model,digits
//! steps,1800
//! scaling,min-max,64            (kind, feature count)
//! offset,<j>,<value>            (one per feature)
//! factor,<j>,<value>
//! layer,<l>,<name>,<outputs>,<inputs>,<bias: 0|1>
//! w,<l>,<row>,<col>,<value>     (row-major, every entry)
//! b,<l>,<j>,<value>
//! ```
//!
//! Values use Rust's shortest round-trip formatting, so a CSV round trip is exact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use henn_data::{Scaler, ScalingKind};
use serde::{Deserialize, Serialize};

use crate::LayerShape;
use crate::rules::{Matrix, State, StateKind, StateSlot};

/// Why a weights file cannot be read, written or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    #[error("{path}: {error}", path = .path.display())]
    Io { path: PathBuf, error: String },
    #[error("{path}: {reason}", path = .path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Data(#[from] henn_data::DataError),
}

/// The format tag in every weights file.
pub const FORMAT: &str = "henn-weights";
/// The current format version.
pub const VERSION: u32 = 1;

/// One layer's parameters; `weight` is `outputs × inputs`, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerWeights {
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f64>,
    pub bias: Option<Vec<f64>>,
}

/// A weights file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsFile {
    pub format: String,
    pub version: u32,
    /// The model's name (a mismatch is reported when evaluating).
    pub model: String,
    /// Training steps taken.
    pub steps: u64,
    /// Scaling fitted on the training split; apply it to anything evaluated.
    pub scaling: Scaler,
    pub layers: Vec<LayerWeights>,
}

impl WeightsFile {
    /// Collects the weight and bias slots of a trained state of the layers `layers`.
    pub fn from_state(
        model: &str,
        layers: &[LayerShape],
        state: &State,
        scaling: Scaler,
        steps: u64,
    ) -> Self {
        let layers = layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let get = |kind| state.get(&StateSlot { layer: l, kind });
                LayerWeights {
                    name: layer.name.clone(),
                    inputs: layer.inputs,
                    outputs: layer.outputs,
                    weight: get(StateKind::Weight)
                        .map(|t| t.data.clone())
                        .unwrap_or_default(),
                    bias: get(StateKind::Bias).map(|t| t.data.clone()),
                }
            })
            .collect();
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            model: model.to_owned(),
            steps,
            scaling,
            layers,
        }
    }

    /// Checks that the file fits `layers` (over `features` inputs) layer by layer and turns it
    /// into state slots.
    pub fn to_state(
        &self,
        layers: &[LayerShape],
        features: usize,
        path: &Path,
    ) -> Result<State, WeightsError> {
        let bad = |reason: String| WeightsError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if self.format != FORMAT || self.version != VERSION {
            return Err(bad(format!(
                "format `{}` version {} is not `{FORMAT}` version {VERSION}",
                self.format, self.version
            )));
        }
        if self.layers.len() != layers.len() {
            return Err(bad(format!(
                "{} layers, the model has {}",
                self.layers.len(),
                layers.len()
            )));
        }
        if self.scaling.features() != features || self.scaling.factor.len() != features {
            return Err(bad(format!(
                "scaling statistics for {} features, the model has {features}",
                self.scaling.features(),
            )));
        }
        let mut state = BTreeMap::new();
        for (l, (w, layer)) in self.layers.iter().zip(layers).enumerate() {
            if w.inputs != layer.inputs
                || w.outputs != layer.outputs
                || w.weight.len() != layer.inputs * layer.outputs
            {
                return Err(bad(format!(
                    "layer {} (`{}`): {} weights for {}x{}, the model's `{}` is {}x{}",
                    l + 1,
                    w.name,
                    w.weight.len(),
                    w.outputs,
                    w.inputs,
                    layer.name,
                    layer.outputs,
                    layer.inputs
                )));
            }
            if w.weight.iter().any(|v| !v.is_finite()) {
                return Err(bad(format!("layer {} has a non-finite weight", l + 1)));
            }
            let slot = |kind| StateSlot { layer: l, kind };
            state.insert(
                slot(StateKind::Weight),
                Matrix {
                    rows: layer.outputs,
                    cols: layer.inputs,
                    data: w.weight.clone(),
                },
            );
            match (&w.bias, layer.bias) {
                (Some(b), true) if b.len() == layer.outputs => {
                    state.insert(
                        slot(StateKind::Bias),
                        Matrix {
                            rows: 1,
                            cols: layer.outputs,
                            data: b.clone(),
                        },
                    );
                }
                (None, false) => {}
                _ => {
                    return Err(bad(format!(
                        "layer {} bias does not match the model (bias {})",
                        l + 1,
                        if layer.bias { "on" } else { "off" }
                    )));
                }
            }
        }
        Ok(state)
    }

    /// Writes the file atomically: CSV when the name ends in `.csv`, pretty JSON otherwise.
    pub fn save(&self, path: &Path) -> Result<(), WeightsError> {
        let text = if is_csv(path) {
            self.to_csv()
        } else {
            serde_json::to_string_pretty(self).map_err(|e| WeightsError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
        };
        henn_data::write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// Reads a weights file (CSV when the name ends in `.csv`, JSON otherwise).
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let bytes = std::fs::read(path).map_err(|error| WeightsError::Io {
            path: path.to_path_buf(),
            error: error.to_string(),
        })?;
        if is_csv(path) {
            let text = String::from_utf8_lossy(&bytes);
            return Self::from_csv(&text).map_err(|(line, reason)| WeightsError::Invalid {
                path: path.to_path_buf(),
                reason: format!("line {line}: {reason}"),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| WeightsError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The CSV form (see the module docs).
    pub fn to_csv(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let kind = match self.scaling.kind {
            ScalingKind::None => "none",
            ScalingKind::Standardize => "standardize",
            ScalingKind::MinMax => "min-max",
        };
        let _ = writeln!(out, "format,{},{}", self.format, self.version);
        let _ = writeln!(out, "model,{}", self.model);
        let _ = writeln!(out, "steps,{}", self.steps);
        let _ = writeln!(out, "scaling,{kind},{}", self.scaling.offset.len());
        for (j, v) in self.scaling.offset.iter().enumerate() {
            let _ = writeln!(out, "offset,{j},{v}");
        }
        for (j, v) in self.scaling.factor.iter().enumerate() {
            let _ = writeln!(out, "factor,{j},{v}");
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let _ = writeln!(
                out,
                "layer,{l},{},{},{},{}",
                layer.name,
                layer.outputs,
                layer.inputs,
                u8::from(layer.bias.is_some())
            );
            let cols = layer.inputs.max(1);
            for (k, v) in layer.weight.iter().enumerate() {
                let _ = writeln!(out, "w,{l},{},{},{v}", k / cols, k % cols);
            }
            for (j, v) in layer.bias.iter().flatten().enumerate() {
                let _ = writeln!(out, "b,{l},{j},{v}");
            }
        }
        out
    }

    /// Parses the CSV form; an error carries the 1-based line and the reason.
    pub fn from_csv(text: &str) -> Result<Self, (usize, String)> {
        let mut file = WeightsFile {
            format: String::new(),
            version: 0,
            model: String::new(),
            steps: 0,
            scaling: Scaler {
                kind: ScalingKind::None,
                offset: Vec::new(),
                factor: Vec::new(),
            },
            layers: Vec::new(),
        };
        for (idx, line) in text.lines().enumerate() {
            let n = idx + 1;
            let f: Vec<&str> = line.trim().split(',').collect();
            let num = |i: usize| -> Result<f64, (usize, String)> {
                f.get(i)
                    .and_then(|s| s.parse::<f64>().ok())
                    .ok_or((n, format!("field {} is not a number", i + 1)))
            };
            let int = |i: usize| -> Result<usize, (usize, String)> {
                f.get(i)
                    .and_then(|s| s.parse::<usize>().ok())
                    .ok_or((n, format!("field {} is not a non-negative integer", i + 1)))
            };
            let fields = |want: usize| {
                if f.len() == want {
                    Ok(())
                } else {
                    Err((n, format!("expected {want} fields, found {}", f.len())))
                }
            };
            match f[0] {
                "" => {}
                "format" => {
                    fields(3)?;
                    file.format = f[1].to_owned();
                    file.version = u32::try_from(int(2)?).map_err(|e| (n, e.to_string()))?;
                }
                "model" => {
                    fields(2)?;
                    file.model = f[1].to_owned();
                }
                "steps" => {
                    fields(2)?;
                    file.steps = int(1)? as u64;
                }
                "scaling" => {
                    fields(3)?;
                    file.scaling.kind = match f[1] {
                        "none" => ScalingKind::None,
                        "standardize" => ScalingKind::Standardize,
                        "min-max" => ScalingKind::MinMax,
                        other => return Err((n, format!("unknown scaling `{other}`"))),
                    };
                    let d = int(2)?;
                    file.scaling.offset = vec![0.0; d];
                    file.scaling.factor = vec![1.0; d];
                }
                kind @ ("offset" | "factor") => {
                    fields(3)?;
                    let (j, v) = (int(1)?, num(2)?);
                    let target = if kind == "offset" {
                        &mut file.scaling.offset
                    } else {
                        &mut file.scaling.factor
                    };
                    *target
                        .get_mut(j)
                        .ok_or((n, format!("feature {j} is beyond the scaling width")))? = v;
                }
                "layer" => {
                    fields(6)?;
                    let l = int(1)?;
                    if l != file.layers.len() {
                        return Err((n, format!("layer {l} out of order")));
                    }
                    let (outputs, inputs) = (int(3)?, int(4)?);
                    let size = outputs
                        .checked_mul(inputs)
                        .filter(|&s| s <= MAX_CSV_LAYER)
                        .ok_or((n, format!("layer of {outputs}x{inputs} is too large")))?;
                    file.layers.push(LayerWeights {
                        name: f[2].to_owned(),
                        inputs,
                        outputs,
                        weight: vec![0.0; size],
                        bias: (int(5)? == 1).then(|| vec![0.0; outputs]),
                    });
                }
                "w" => {
                    fields(5)?;
                    let (l, r, c, v) = (int(1)?, int(2)?, int(3)?, num(4)?);
                    let layer = file
                        .layers
                        .get_mut(l)
                        .ok_or((n, format!("layer {l} is not declared")))?;
                    if r >= layer.outputs || c >= layer.inputs {
                        let shape = format!("{}x{}", layer.outputs, layer.inputs);
                        return Err((n, format!("({r}, {c}) is outside {shape}")));
                    }
                    layer.weight[r * layer.inputs + c] = v;
                }
                "b" => {
                    fields(4)?;
                    let (l, j, v) = (int(1)?, int(2)?, num(3)?);
                    let layer = file
                        .layers
                        .get_mut(l)
                        .ok_or((n, format!("layer {l} is not declared")))?;
                    let bias = layer
                        .bias
                        .as_mut()
                        .ok_or((n, format!("layer {l} has no bias")))?;
                    *bias
                        .get_mut(j)
                        .ok_or((n, format!("bias index {j} is out of range")))? = v;
                }
                other => return Err((n, format!("unknown record `{other}`"))),
            }
        }
        Ok(file)
    }
}

/// Largest layer a CSV weights file may declare (guards the allocation against a corrupt file).
const MAX_CSV_LAYER: usize = 1 << 26;

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}
