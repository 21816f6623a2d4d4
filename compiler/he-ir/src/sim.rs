//! The slot simulator: runs an HE IR graph on plain `f64` slot vectors.
//!
//! Every operation does to the vector what CKKS does to the encrypted slots (rotation is a cyclic
//! left shift; rescale, relinearize and level drop leave the values alone). It is the slow, obvious
//! reference the kernels are tested against, and later the differential twin of the CKKS backend.

use std::collections::{BTreeMap, HashMap};

use petgraph::algo::toposort;

use crate::error::IrError;
use crate::graph::{HeGraph, ValueId};
use crate::op::HeOp;

/// Run the graph. `inputs` maps every `Input` name to its slot vector; the result maps every
/// `Output` name to its slot vector. `values` of all nodes are returned too, for debugging kernels.
pub fn simulate(graph: &HeGraph, inputs: &HashMap<String, Vec<f64>>) -> Result<SimResult, IrError> {
    simulate_step(graph, inputs, 0.0)
}

/// [`simulate`] for a step whose momentum coefficient γ_t is `momentum`.
pub fn simulate_step(
    graph: &HeGraph,
    inputs: &HashMap<String, Vec<f64>>,
    momentum: f64,
) -> Result<SimResult, IrError> {
    let order = toposort(&graph.graph, None).map_err(|_| IrError::Cycle)?;
    let mut values: HashMap<ValueId, Vec<f64>> = HashMap::with_capacity(order.len());
    let mut outputs = BTreeMap::new();
    for idx in order {
        let v = ValueId(idx);
        let node = graph
            .node(v)
            .ok_or(IrError::UnknownValue { node: idx.index() })?;
        let slots = node.ty.layout.slots;
        let ops = graph.operands(v);
        let arg = |i: usize| -> Result<&Vec<f64>, IrError> {
            ops.get(i)
                .and_then(|o| values.get(o))
                .ok_or(IrError::UnknownValue { node: idx.index() })
        };
        let out: Vec<f64> = match &node.op {
            HeOp::Input { name } => {
                let x = inputs
                    .get(name)
                    .ok_or(IrError::MissingInput { name: name.clone() })?;
                if x.len() != slots {
                    return Err(IrError::InputLength {
                        name: name.clone(),
                        got: x.len(),
                        expected: slots,
                    });
                }
                x.clone()
            }
            HeOp::Const(id) => graph
                .consts
                .get(id.0 as usize)
                .map(|c| c.dense())
                .ok_or(IrError::UnknownValue { node: idx.index() })?,
            HeOp::AddCC | HeOp::AddCP => zip(arg(0)?, arg(1)?, |a, b| a + b),
            HeOp::SubCC | HeOp::SubCP => zip(arg(0)?, arg(1)?, |a, b| a - b),
            HeOp::MulCC | HeOp::MulCP => zip(arg(0)?, arg(1)?, |a, b| a * b),
            HeOp::Neg => arg(0)?.iter().map(|a| -a).collect(),
            HeOp::AddScalar(c) => arg(0)?.iter().map(|a| a + c).collect(),
            HeOp::MulInt(n) => arg(0)?.iter().map(|a| a * *n as f64).collect(),
            HeOp::MulScalar(c) => arg(0)?.iter().map(|a| a * c).collect(),
            HeOp::MulMomentum => arg(0)?.iter().map(|a| a * momentum).collect(),
            HeOp::Relin
            | HeOp::Rescale
            | HeOp::LevelDrop { .. }
            | HeOp::Conjugate
            | HeOp::Bootstrap => arg(0)?.clone(),
            HeOp::Rotate(r) => {
                let a = arg(0)?;
                let k = r.normalized(a.len());
                let mut out = a[k..].to_vec();
                out.extend_from_slice(&a[..k]);
                out
            }
            HeOp::Output { name } => {
                let a = arg(0)?.clone();
                outputs.insert(name.clone(), a.clone());
                a
            }
        };
        values.insert(v, out);
    }
    Ok(SimResult { outputs, values })
}

/// What [`simulate`] computed.
#[derive(Debug, Clone)]
pub struct SimResult {
    pub outputs: BTreeMap<String, Vec<f64>>,
    pub values: HashMap<ValueId, Vec<f64>>,
}

fn zip(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
}
