//! Scheduling: an HE IR graph becomes the plan's linear instruction stream.
//!
//! Nodes run in a deterministic topological order (petgraph's, from insertion order). Each value
//! gets a register; a register is freed after its last use and reused by the next value, so the
//! program's `peak_live` is the number of buffers the runtime needs at once. The key manifest lists
//! exactly the rotation steps the program uses, each with the shallowest depth it is used at.

use std::collections::{BTreeMap, HashMap};

use henn_plan::bootstrap::BootstrapSite;
use henn_plan::plan::{Instr, KeyManifest, PlanConst, Program, Reg, RotationKey};
use petgraph::algo::toposort;

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::op::HeOp;
use henn_he_ir::types::Packing;

use crate::bootstrap::refresh_span;

/// The order the program runs the graph's nodes in. The builder's insertion order is topological
/// and follows the lowering's loop nest, which keeps few values live; a topological sort if a
/// rewrite broke that order.
fn run_order(graph: &HeGraph) -> Result<Vec<ValueId>, IrError> {
    let order: Vec<ValueId> = graph.graph.node_indices().map(ValueId).collect();
    let in_order = order
        .iter()
        .all(|&v| graph.operands(v).iter().all(|o| o.0 < v.0));
    if in_order {
        return Ok(order);
    }
    Ok(toposort(&graph.graph, None)
        .map_err(|_| IrError::Cycle)?
        .into_iter()
        .map(ValueId)
        .collect())
}

/// What each bootstrap of `graph` refreshes, in program order (the plan's bootstrap `sites`):
/// the state outputs it feeds through level-neutral operations (a packed refresh feeds several),
/// else the value it refreshes, by stage, layer, operation and shape.
pub fn bootstrap_sites(graph: &HeGraph) -> Result<Vec<BootstrapSite>, IrError> {
    let mut sites = Vec::new();
    for v in run_order(graph)? {
        let Some(node) = graph.node(v) else { continue };
        if !matches!(node.op, HeOp::Bootstrap) {
            continue;
        }
        let mut names = fed_outputs(graph, v);
        if names.is_empty()
            && let Some(&src) = graph.operands(v).first()
            && let Some(n) = graph.node(src)
        {
            let l = &n.ty.layout;
            let shape = match l.packing {
                Packing::Samples => format!("samples {}×{}", l.rows, l.cols),
                Packing::Weights { .. } => format!("weights {}×{}", l.rows, l.cols),
                Packing::Flat => "flat".to_owned(),
            };
            let layer = n
                .origin
                .layer
                .map(|l| format!(" layer {}", l + 1))
                .unwrap_or_default();
            names.push(format!(
                "{}{layer} {} ({shape})",
                format!("{:?}", n.origin.stage).to_lowercase(),
                n.op.mnemonic()
            ));
        }
        let layout = &node.ty.layout;
        sites.push(BootstrapSite {
            refreshes: names,
            slots: refresh_span(layout).map_or(layout.slots, |s| s.min(layout.slots)),
        });
    }
    Ok(sites)
}

/// The outputs `v` reaches through operations that keep it at depth 0 (rotations, copies, the
/// re-replication after a sparse bootstrap), in name order.
fn fed_outputs(graph: &HeGraph, v: ValueId) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![v];
    let mut seen = std::collections::HashSet::new();
    while let Some(u) = stack.pop() {
        if !seen.insert(u) {
            continue;
        }
        for w in graph
            .graph
            .neighbors_directed(u.0, petgraph::Direction::Outgoing)
        {
            let Some(n) = graph.node(ValueId(w)) else {
                continue;
            };
            match &n.op {
                HeOp::Output { name } => {
                    names.insert(name.clone());
                }
                HeOp::Rotate(_)
                | HeOp::AddScalar(_)
                | HeOp::Neg
                | HeOp::MulInt(_)
                | HeOp::Conjugate
                | HeOp::AddCC
                    if n.ty.depth.0 == 0 =>
                {
                    stack.push(ValueId(w));
                }
                _ => {}
            }
        }
    }
    names.into_iter().collect()
}

/// Linearize the graph into a program.
pub fn to_program(graph: &HeGraph) -> Result<Program, IrError> {
    let order = run_order(graph)?;
    // Last use of every value (outputs stay live to the end: the runtime reads them after the run).
    let mut last_use: HashMap<ValueId, usize> = HashMap::new();
    for (i, &v) in order.iter().enumerate() {
        for o in graph.operands(v) {
            last_use.insert(o, i);
        }
    }
    let mut free_regs: Vec<u32> = Vec::new();
    let mut next_reg = 0u32;
    let mut reg_of: HashMap<ValueId, Reg> = HashMap::new();
    let mut instrs = Vec::with_capacity(order.len());
    let (mut live, mut peak) = (0u32, 0u32);
    for (i, &v) in order.iter().enumerate() {
        let node = graph
            .node(v)
            .ok_or(IrError::UnknownValue { node: v.0.index() })?;
        let args: Vec<Reg> = graph
            .operands(v)
            .iter()
            .map(|o| {
                reg_of
                    .get(o)
                    .copied()
                    .ok_or(IrError::UnknownValue { node: o.0.index() })
            })
            .collect::<Result<_, _>>()?;
        // Free operands whose last use is here (before allocating, so dst may reuse one).
        let mut free = Vec::new();
        for o in graph.operands(v) {
            if last_use.get(&o) == Some(&i)
                && !matches!(graph.node(o).map(|n| &n.op), Some(HeOp::Output { .. }))
                && let Some(r) = reg_of.get(&o).copied()
                && !free.contains(&r)
            {
                free.push(r);
            }
        }
        for r in &free {
            free_regs.push(r.0);
        }
        live -= graph
            .operands(v)
            .iter()
            .filter(|o| last_use.get(o) == Some(&i) && is_ciphertext(graph, **o))
            .collect::<std::collections::HashSet<_>>()
            .len() as u32;
        let dst = match free_regs.pop() {
            Some(r) => Reg(r),
            None => {
                next_reg += 1;
                Reg(next_reg - 1)
            }
        };
        // Plaintext constants are encoded on demand from their sparse values: not counted as live
        // ciphertext buffers.
        let ct = is_ciphertext(graph, v);
        if ct {
            live += 1;
            peak = peak.max(live);
        }
        reg_of.insert(v, dst);
        instrs.push(Instr {
            op: node.op.clone(),
            args,
            dst,
            ty: node.ty.clone(),
            free,
            origin: node.origin,
        });
        // A value nobody reads (other than outputs) is dead right away.
        if !last_use.contains_key(&v) && !matches!(node.op, HeOp::Output { .. }) {
            free_regs.push(dst.0);
            if ct {
                live -= 1;
            }
        }
    }
    let consts = graph
        .consts
        .iter()
        .map(|c| PlanConst {
            name: c.name.clone(),
            slots: c.layout.slots,
            entries: c.entries.clone(),
        })
        .collect();
    Ok(Program {
        consts,
        instrs,
        registers: next_reg,
        peak_live: peak,
    })
}

/// Exactly the keys the graph needs.
pub fn key_manifest(graph: &HeGraph) -> KeyManifest {
    let mut rotations: BTreeMap<usize, u32> = BTreeMap::new();
    let (mut relin, mut conjugation, mut bootstrap) = (false, false, false);
    for n in graph.graph.node_weights() {
        match n.op {
            HeOp::Rotate(r) => {
                let step = r.normalized(n.ty.layout.slots);
                let d = rotations.entry(step).or_insert(n.ty.depth.0);
                *d = (*d).min(n.ty.depth.0);
            }
            HeOp::Relin => relin = true,
            HeOp::Conjugate => conjugation = true,
            HeOp::Bootstrap => bootstrap = true,
            _ => {}
        }
    }
    KeyManifest {
        relin,
        conjugation,
        bootstrap,
        rotations: rotations
            .into_iter()
            .map(|(step, min_depth)| RotationKey { step, min_depth })
            .collect(),
    }
}

fn is_ciphertext(graph: &HeGraph, v: ValueId) -> bool {
    graph
        .node(v)
        .is_some_and(|n| n.ty.kind == henn_he_ir::types::Kind::Cipher)
}
