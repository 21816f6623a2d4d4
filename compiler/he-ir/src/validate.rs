//! The validator: re-infers every node's type from its operands and checks the graph against the
//! parameters it will run with. It collects every problem instead of stopping at the first, and runs
//! after lowering, after rewriting, and when a plan is loaded.

use std::collections::BTreeSet;

use petgraph::algo::toposort;

use crate::error::IrError;
use crate::graph::{HeGraph, ValueId, infer};
use crate::op::{HeOp, check_stated};

/// What the graph is checked against. `None` skips that check (e.g. before parameters are chosen).
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Levels available above the last prime (the deepest legal depth).
    pub levels: Option<u32>,
    /// Rotation steps (normalized into `0..slots`) that have Galois keys.
    pub rotation_keys: Option<BTreeSet<usize>>,
}

/// Every problem in the graph; empty when it is valid.
pub fn validate(graph: &HeGraph, limits: &Limits) -> Vec<IrError> {
    let mut errors = Vec::new();
    if toposort(&graph.graph, None).is_err() {
        errors.push(IrError::Cycle);
        return errors;
    }
    for idx in graph.graph.node_indices() {
        let v = ValueId(idx);
        let Some(node) = graph.node(v) else { continue };
        let node_no = idx.index();
        let operands = graph.operands(v);
        if !matches!(node.op, HeOp::Input { .. } | HeOp::Const(_)) {
            let tys: Result<Vec<_>, _> = operands.iter().map(|&o| graph.ty(o)).collect();
            match tys {
                Err(e) => errors.push(e),
                Ok(tys) => match infer(&node.op, &tys) {
                    Err(reason) => errors.push(IrError::IllTyped {
                        node: node_no,
                        op: node.op.mnemonic(),
                        reason,
                    }),
                    Ok(ty) => {
                        let stored = &node.ty;
                        if ty.depth != stored.depth
                            || ty.scale_pow != stored.scale_pow
                            || ty.degree != stored.degree
                            || ty.kind != stored.kind
                        {
                            errors.push(IrError::Invalid {
                                node: node_no,
                                op: node.op.mnemonic(),
                                reason: format!(
                                    "recorded type (depth {}, Δ^{}, degree {}) disagrees with its operands (depth {}, Δ^{}, degree {})",
                                    stored.depth.0, stored.scale_pow, stored.degree, ty.depth.0, ty.scale_pow, ty.degree
                                ),
                            });
                        }
                        if let Err(reason) = check_stated(&ty.layout, &stored.layout) {
                            errors.push(IrError::IllTyped {
                                node: node_no,
                                op: node.op.mnemonic(),
                                reason,
                            });
                        }
                    }
                },
            }
        } else if !operands.is_empty() {
            errors.push(IrError::Invalid {
                node: node_no,
                op: node.op.mnemonic(),
                reason: "takes no operands".into(),
            });
        }
        if let Some(levels) = limits.levels
            && node.ty.depth.0 > levels
        {
            errors.push(IrError::DepthExceeded {
                node: node_no,
                depth: node.ty.depth.0,
                levels,
            });
        }
        if let (Some(keys), HeOp::Rotate(r)) = (&limits.rotation_keys, &node.op) {
            let step = r.normalized(node.ty.layout.slots);
            if !keys.contains(&step) {
                errors.push(IrError::MissingRotationKey {
                    node: node_no,
                    step,
                });
            }
        }
    }
    errors
}
