//! HeGraph ⇄ e-graph, and the per-node cost.

use std::collections::HashMap;

use egg::{EGraph, Id, Language};
use henn_he_ir::{HeGraph, HeOp, IrError, ValueId};
use henn_plan::report::CostModel;
use petgraph::Direction;
use petgraph::algo::toposort;

use crate::extract::Extraction;
use crate::lang::{HeLang, Types};

/// Why the optimizer could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptError {
    #[error("the graph has a cycle")]
    Cycle,
    #[error("no acyclic extraction")]
    Extraction,
    #[error("rebuilding the graph: {0}")]
    Rebuild(#[from] IrError),
}

/// Slot count of the graph's values (0 for an empty graph).
pub fn slots(graph: &HeGraph) -> usize {
    graph
        .graph
        .node_weights()
        .next()
        .map(|n| n.ty.layout.slots)
        .unwrap_or(0)
}

/// The e-graph of `graph` and its roots (outputs and other sinks, in node order).
pub fn to_egraph(graph: &HeGraph) -> Result<(EGraph<HeLang, Types>, Vec<Id>), OptError> {
    let order = toposort(&graph.graph, None).map_err(|_| OptError::Cycle)?;
    let mut egraph = EGraph::new(Types::default());
    let mut ids: HashMap<ValueId, Id> = HashMap::with_capacity(order.len());
    let mut roots = Vec::new();
    for idx in order {
        let v = ValueId(idx);
        let Some(node) = graph.node(v) else { continue };
        let children: Vec<Id> = graph
            .operands(v)
            .iter()
            .filter_map(|o| ids.get(o).copied())
            .collect();
        let enode = match (&node.op, children.as_slice()) {
            (HeOp::Rotate(r), [c]) => HeLang::Rot(r.0, [*c]),
            (HeOp::AddCC, [a, b]) => HeLang::Add([*a, *b]),
            (HeOp::SubCC, [a, b]) => HeLang::Sub([*a, *b]),
            (op, _) => {
                let unique = matches!(op, HeOp::Input { .. } | HeOp::Output { .. });
                let i = egraph.analysis.intern(op, unique.then_some(idx.index()));
                if children.is_empty() {
                    egraph.analysis.source_types.insert(i, node.ty.clone());
                }
                HeLang::Op(i, children)
            }
        };
        let before = egraph.lookup(enode.clone());
        let id = egraph.add(enode);
        if before.is_none() {
            let data = &mut egraph[id].data;
            data.ty = Some(node.ty.clone());
            data.origin = node.origin;
        }
        ids.insert(v, id);
        if graph
            .graph
            .neighbors_directed(idx, Direction::Outgoing)
            .next()
            .is_none()
        {
            roots.push((idx.index(), id));
        }
    }
    roots.sort_by_key(|r| r.0);
    Ok((egraph, roots.into_iter().map(|r| r.1).collect()))
}

/// The graph the extraction chose, built through the typed builder (every class's layout
/// stated), sharing `original`'s constant pool.
pub fn from_egraph(
    original: &HeGraph,
    egraph: &EGraph<HeLang, Types>,
    roots: &[Id],
    extraction: &Extraction,
) -> Result<HeGraph, OptError> {
    let mut g = HeGraph::with_constants_of(original);
    g.reserve_like(original);
    let mut built: HashMap<Id, ValueId> = HashMap::new();
    let mut on_path: HashMap<Id, bool> = HashMap::new();
    for &root in roots {
        // Iterative post-order: (class, operands pushed?).
        let mut stack = vec![(egraph.find(root), false)];
        while let Some((c, expanded)) = stack.pop() {
            if built.contains_key(&c) {
                continue;
            }
            let node = extraction.choice.get(&c).ok_or(OptError::Extraction)?;
            if !expanded {
                if on_path.insert(c, true).is_some() {
                    return Err(OptError::Extraction);
                }
                stack.push((c, true));
                for &ch in node.children().iter().rev() {
                    let ch = egraph.find(ch);
                    if !built.contains_key(&ch) {
                        stack.push((ch, false));
                    }
                }
                continue;
            }
            let operands: Vec<ValueId> = node
                .children()
                .iter()
                .map(|&ch| built.get(&egraph.find(ch)).copied())
                .collect::<Option<_>>()
                .ok_or(OptError::Extraction)?;
            let data = &egraph[c].data;
            let ty = data.ty.clone().ok_or(OptError::Extraction)?;
            g.origin = data.origin;
            let op = egraph.analysis.op_of(node).ok_or(OptError::Extraction)?;
            let v = match op {
                HeOp::Input { name } => g.input(&name, ty.layout),
                HeOp::Const(id) => g.pool_constant(id)?,
                op => g.op_as(op, &operands, Some(ty.layout))?,
            };
            built.insert(c, v);
        }
    }
    Ok(g)
}

/// Reference chain for the per-node costs: 20 limbs at N = 2^16 (the cost model's calibration
/// point). Only ratios matter to the extraction.
const REF_LIMBS: f64 = 20.0;

/// The cost of one node in seconds at the reference chain: key switches at the cost model's
/// NTT time and overhead (about four NTT passes over the chain each), rescales two passes of
/// NTTs, everything else one pass over the limbs; sources are free.
pub fn node_cost(cost: &CostModel) -> impl Fn(&EGraph<HeLang, Types>, &HeLang) -> f64 + use<> {
    let ntt = cost.ntt_2_16_s;
    let pass = cost.limb_pass_2_16_s;
    let ks = 4.0 * REF_LIMBS * ntt * cost.key_switch_overhead;
    move |egraph, node| match egraph.analysis.op_of(node) {
        Some(op) if op.is_key_switch() => ks,
        Some(HeOp::Rescale) => 2.0 * REF_LIMBS * ntt,
        Some(HeOp::Input { .. } | HeOp::Const(_) | HeOp::Output { .. }) => 0.0,
        Some(_) => REF_LIMBS * pass,
        None => f64::INFINITY,
    }
}
