//! The plaintext interpreter: evaluates a [`Graph`] in `f64`, node by node, exactly as the ops
//! are written (no fusion), so it is the reference an encrypted run is compared with.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::algo::toposort;

use crate::error::TirError;
use crate::exact::{sigmoid, sigmoid_derivative};
use crate::graph::{
    Factor, Graph, InputKind, LayerIdx, LossKind, MatMulForm, Op, PolyRole, Slot, ValueId,
};

/// A dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Tensor {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn from_vec(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, TirError> {
        if data.len() != rows * cols {
            return Err(TirError::Shape {
                node: 0,
                op: "tensor".to_owned(),
                reason: format!("{} values for {rows}x{cols}", data.len()),
            });
        }
        Ok(Self { rows, cols, data })
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    fn map(&self, f: impl Fn(f64) -> f64) -> Tensor {
        Tensor {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }

    fn zip(&self, other: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
        Tensor {
            rows: self.rows,
            cols: self.cols,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(&a, &b)| f(a, b))
                .collect(),
        }
    }

    /// The product in one of the three forms.
    pub fn matmul(form: MatMulForm, a: &Tensor, b: &Tensor) -> Tensor {
        match form {
            MatMulForm::ABt => {
                let mut c = Tensor::zeros(a.rows, b.rows);
                for i in 0..a.rows {
                    let ar = a.row(i);
                    for j in 0..b.rows {
                        c.data[i * b.rows + j] = ar.iter().zip(b.row(j)).map(|(x, y)| x * y).sum();
                    }
                }
                c
            }
            MatMulForm::AtB => {
                let mut c = Tensor::zeros(a.cols, b.cols);
                for r in 0..a.rows {
                    let (ar, br) = (a.row(r), b.row(r));
                    for (i, &av) in ar.iter().enumerate() {
                        if av == 0.0 {
                            continue;
                        }
                        let out = &mut c.data[i * b.cols..(i + 1) * b.cols];
                        for (o, &bv) in out.iter_mut().zip(br) {
                            *o += av * bv;
                        }
                    }
                }
                c
            }
            MatMulForm::AB => {
                let mut c = Tensor::zeros(a.rows, b.cols);
                for i in 0..a.rows {
                    let out = &mut c.data[i * b.cols..(i + 1) * b.cols];
                    for (k, &av) in a.row(i).iter().enumerate() {
                        for (o, &bv) in out.iter_mut().zip(b.row(k)) {
                            *o += av * bv;
                        }
                    }
                }
                c
            }
        }
    }
}

/// Horner evaluation, lowest-degree coefficient first.
pub fn horner(coeffs: &[f64], x: f64) -> f64 {
    coeffs.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

/// The per-step environment: the batch, the state slots and the momentum coefficient.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub features: Option<Tensor>,
    pub labels: Option<Tensor>,
    pub state: BTreeMap<Slot, Tensor>,
    /// `γ_t` for [`Factor::Momentum`].
    pub momentum: f64,
}

/// Everything one run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    values: Vec<Option<Tensor>>,
    /// The slots written by `Store` nodes.
    pub stored: BTreeMap<Slot, Tensor>,
    /// Per layer with a polynomial activation: the smallest and largest pre-activation seen.
    pub preactivation_range: BTreeMap<LayerIdx, (f64, f64)>,
}

impl Outcome {
    /// The value a node computed.
    pub fn value(&self, v: ValueId) -> Option<&Tensor> {
        self.values.get(v.index()).and_then(Option::as_ref)
    }
}

/// Evaluates `graph` in `env`. The graph is validated first, and every computed value (inputs and
/// loaded slots included) is checked against its node's declared shape, so a malformed graph or
/// environment is an error, never a panic.
pub fn run(graph: &Graph, env: &Env) -> Result<Outcome, TirError> {
    run_with(graph, env, &BTreeSet::new())
}

/// [`run`], with the polynomial activation of every layer in `exact` (and its derivative
/// polynomial) evaluated as the exact sigmoid σ (and σ(1 − σ)): the exact-sigmoid float model
/// ([`crate::exact`]). Pre-activation ranges are recorded as for the polynomial.
pub fn run_with(graph: &Graph, env: &Env, exact: &BTreeSet<LayerIdx>) -> Result<Outcome, TirError> {
    graph
        .validate()
        .map_err(|e| TirError::Invalid(Box::new(e)))?;
    let order = toposort(&graph.g, None).map_err(|c| TirError::Cycle {
        node: c.node_id().index(),
    })?;
    let bound = graph
        .g
        .node_indices()
        .map(|i| i.index() + 1)
        .max()
        .unwrap_or(0);
    let mut values: Vec<Option<Tensor>> = vec![None; bound];
    let mut stored = BTreeMap::new();
    let mut ranges: BTreeMap<LayerIdx, (f64, f64)> = BTreeMap::new();
    for idx in order {
        let v = ValueId(idx);
        let Some(node) = graph.node(v) else { continue };
        let missing = |what: String| TirError::Shape {
            node: v.index(),
            op: node.op.to_string(),
            reason: what,
        };
        let ops = graph.operands(v);
        let get = |role| -> Result<&Tensor, TirError> {
            ops.iter()
                .find(|(r, _)| *r == role)
                .and_then(|(_, s)| values.get(s.index()).and_then(Option::as_ref))
                .ok_or_else(|| missing(format!("operand {role:?} has no value")))
        };
        use crate::graph::Role::{Arg, Lhs, Rhs};
        let out = match &node.op {
            Op::Input(kind) => {
                let t = match kind {
                    InputKind::Features => env.features.as_ref(),
                    InputKind::Labels => env.labels.as_ref(),
                };
                t.cloned()
                    .ok_or_else(|| missing(format!("no {kind:?} given")))?
            }
            Op::Load(slot) => env
                .state
                .get(slot)
                .cloned()
                .ok_or_else(|| missing(format!("slot {slot} is not set")))?,
            Op::Store(slot) => {
                let t = get(Arg)?.clone();
                stored.insert(*slot, t.clone());
                t
            }
            Op::MatMul(form) => Tensor::matmul(*form, get(Lhs)?, get(Rhs)?),
            Op::Add => get(Lhs)?.zip(get(Rhs)?, |a, b| a + b),
            Op::Sub => get(Lhs)?.zip(get(Rhs)?, |a, b| a - b),
            Op::Mul => get(Lhs)?.zip(get(Rhs)?, |a, b| a * b),
            Op::AddRow => {
                let (a, b) = (get(Lhs)?, get(Rhs)?);
                let mut t = a.clone();
                for row in t.data.chunks_mut(a.cols) {
                    for (x, y) in row.iter_mut().zip(&b.data) {
                        *x += y;
                    }
                }
                t
            }
            Op::Scale(f) => {
                let k = match f {
                    Factor::Const(c) => *c,
                    Factor::Momentum => env.momentum,
                };
                get(Arg)?.map(|x| k * x)
            }
            Op::Offset(c) => get(Arg)?.map(|x| x + c),
            Op::Poly {
                coeffs,
                role,
                layer,
                ..
            } => {
                let arg = get(Arg)?;
                if *role == PolyRole::Activation {
                    let (lo, hi) = arg
                        .data
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                            (l.min(x), h.max(x))
                        });
                    let e = ranges.entry(*layer).or_insert((lo, hi));
                    *e = (e.0.min(lo), e.1.max(hi));
                }
                match (exact.contains(layer), role) {
                    (false, _) => arg.map(|x| horner(coeffs, x)),
                    (true, PolyRole::Activation) => arg.map(sigmoid),
                    (true, PolyRole::Derivative) => arg.map(sigmoid_derivative),
                }
            }
            Op::ColSum => {
                let a = get(Arg)?;
                let mut t = Tensor::zeros(1, a.cols);
                for row in a.data.chunks(a.cols) {
                    for (s, x) in t.data.iter_mut().zip(row) {
                        *s += x;
                    }
                }
                t
            }
            Op::Loss(kind) => {
                let (a, y) = (get(Lhs)?, get(Rhs)?);
                let total: f64 = match kind {
                    LossKind::Bce => a
                        .data
                        .iter()
                        .zip(&y.data)
                        .map(|(&p, &t)| {
                            let p = p.clamp(1e-7, 1.0 - 1e-7);
                            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
                        })
                        .sum(),
                    LossKind::Mse => a
                        .data
                        .iter()
                        .zip(&y.data)
                        .map(|(p, t)| 0.5 * (p - t) * (p - t))
                        .sum(),
                };
                Tensor {
                    rows: 1,
                    cols: 1,
                    data: vec![total / a.rows.max(1) as f64],
                }
            }
        };
        if out.rows != node.shape.rows || out.cols != node.shape.cols {
            return Err(missing(format!(
                "computed {}x{} but the node declares {}",
                out.rows, out.cols, node.shape
            )));
        }
        values[v.index()] = Some(out);
    }
    Ok(Outcome {
        values,
        stored,
        preactivation_range: ranges,
    })
}
