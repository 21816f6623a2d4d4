//! Bootstrap placement: make one training step fit a bootstrappable chain and make it
//! *level-invariant*, so a loop of any length runs the same instruction stream.
//!
//! The lowering counts depth from the step's inputs and knows nothing of bootstrapping. This pass
//! rewrites its graph so that
//! 1. no value is deeper than `levels` (the levels the application may use between two
//!    bootstraps: a bootstrap's output level minus what the next bootstrap needs at its input), and
//! 2. every output (the loop-carried state: weights, biases, momentum) leaves the step at depth 0,
//!    the depth its input had, so step `t + 1` starts where step `t` started.
//!
//! The data ciphertexts are never bootstrapped: every step gets fresh ones from the owner at the
//! top of the usable chain.
//!
//! # Policy (greedy, one refresh at a time)
//! Replay the graph in topological order; at the first node that breaks a rule, pick **one**
//! ciphertext to refresh and replay again with it refreshed (all its consumers see the bootstrapped
//! value). The pick, on the path that makes the node too deep (following the deepest operand):
//! - only values "at rest" qualify (relinearized, at scale Δ: what a bootstrap accepts);
//! - prefer the candidate closest to the violation that fixes it *by itself* (so a polynomial's
//!   input is refreshed once rather than each of its powers), else the closest one;
//! - then move back over level-neutral unary operations (rotations, conjugation, negation, integer
//!   products, scalar additions) to their source: one bootstrap of a weight ciphertext serves all
//!   its rotated copies.
//!
//! Every refresh is of a value that reached the deepest point some path allows, so few levels are
//! wasted; the loop-carried state is refreshed once per step (where it is produced), which is the
//! least any level-invariant loop can do for a value the step changes. A cost-driven search over
//! placements is the rewrite stage's job (the e-graph issue); this pass is its baseline.

use std::collections::{BTreeSet, HashMap};

use petgraph::algo::toposort;
use petgraph::stable_graph::NodeIndex;

use crate::error::IrError;
use crate::graph::{HeGraph, ValueId};
use crate::op::HeOp;
use crate::types::{Kind, ValueType};

/// The placed graph and what the pass did.
#[derive(Debug, Clone)]
pub struct Placed {
    pub graph: HeGraph,
    /// Bootstrap operations per step.
    pub bootstraps: usize,
}

/// Why no placement exists.
fn unplaceable(reason: String) -> IrError {
    IrError::Layout {
        kernel: "bootstrap placement",
        reason,
    }
}

/// A ciphertext a bootstrap can take: relinearized and at scale Δ.
fn at_rest(ty: &ValueType) -> bool {
    ty.kind == Kind::Cipher && ty.degree == 1 && ty.scale_pow == 1
}

/// Operations that change neither depth nor scale and have one ciphertext operand: refreshing their
/// source refreshes them too.
fn level_neutral_unary(op: &HeOp) -> bool {
    matches!(
        op,
        HeOp::Rotate(_) | HeOp::Conjugate | HeOp::Neg | HeOp::MulInt(_) | HeOp::AddScalar(_)
    )
}

/// A replayed graph and the nodes in it that break a rule (too deep, or an output not at depth 0).
struct Replay {
    graph: HeGraph,
    violations: Vec<ValueId>,
    /// New node → the original it is the image of (for mapping a pick back).
    back: HashMap<NodeIndex, NodeIndex>,
    bootstraps: usize,
}

/// Insert bootstraps so that `graph` uses at most `levels` levels between refreshes and returns
/// its outputs at depth 0. `levels` must be at least 1 (one product between refreshes).
pub fn place_bootstraps(graph: &HeGraph, levels: u32) -> Result<Placed, IrError> {
    if levels == 0 {
        return Err(unplaceable(
            "no level between two bootstraps: not even one product fits".into(),
        ));
    }
    let order = toposort(&graph.graph, None).map_err(|_| IrError::Cycle)?;
    let mut refresh: BTreeSet<NodeIndex> = BTreeSet::new();
    // Each round adds one refresh of an original node, so the loop ends.
    for _ in 0..=graph.len() {
        let r = replay(graph, &order, &refresh, levels)?;
        if r.violations.is_empty() {
            return Ok(Placed {
                graph: r.graph,
                bootstraps: r.bootstraps,
            });
        }
        let pick = choose_refresh(&r.graph, &r.violations, levels)?;
        let original = r
            .back
            .get(&pick.0)
            .copied()
            .ok_or_else(|| unplaceable(format!("%{} has no source node", pick.0.index())))?;
        if !refresh.insert(original) {
            return Err(unplaceable(format!(
                "refreshing %{} again would not help: the chain from one refreshed value to \
                 the next needs more than {levels} levels",
                original.index()
            )));
        }
    }
    Err(unplaceable("no placement converged".into()))
}

/// Rebuild `src` with the values in `refresh` bootstrapped right after they are computed, and
/// collect the nodes that break a rule. Level drops are not copied: the builder re-aligns
/// operands, so a refreshed value is only dropped as far as its new partner requires.
fn replay(
    src: &HeGraph,
    order: &[NodeIndex],
    refresh: &BTreeSet<NodeIndex>,
    levels: u32,
) -> Result<Replay, IrError> {
    let mut g = HeGraph::new();
    let mut map: HashMap<NodeIndex, ValueId> = HashMap::new();
    let mut back: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut violations = Vec::new();
    let mut bootstraps = 0usize;
    for &idx in order {
        let v = ValueId(idx);
        let Some(node) = src.node(v) else { continue };
        g.origin = node.origin;
        let operands: Vec<ValueId> = src
            .operands(v)
            .iter()
            .map(|o| {
                map.get(&o.0)
                    .copied()
                    .ok_or(IrError::UnknownValue { node: o.0.index() })
            })
            .collect::<Result<_, _>>()?;
        let new = match &node.op {
            HeOp::Input { name } => g.input(name, node.ty.layout.clone()),
            HeOp::Const(id) => {
                let c = src
                    .consts
                    .get(id.0 as usize)
                    .ok_or(IrError::UnknownValue { node: idx.index() })?;
                g.constant(&c.name, c.layout.clone(), c.entries.clone())
            }
            HeOp::LevelDrop { .. } => operands[0],
            HeOp::AddCC | HeOp::SubCC | HeOp::MulCC => {
                let (a, b) = g.align(operands[0], operands[1])?;
                g.op(node.op.clone(), &[a, b])?
            }
            op => g.op(op.clone(), &operands)?,
        };
        if !matches!(node.op, HeOp::LevelDrop { .. }) {
            if g.ty(new)?.layout != node.ty.layout {
                g.declare_layout(new, node.ty.layout.clone())?;
            }
            back.entry(new.0).or_insert(idx);
        }
        let depth = g.ty(new)?.depth.0;
        let output = matches!(node.op, HeOp::Output { .. });
        if depth > levels || (output && depth > 0) {
            violations.push(new);
        }
        let image = if refresh.contains(&idx) {
            bootstraps += 1;
            let b = g.op(HeOp::Bootstrap, &[new])?;
            back.entry(b.0).or_insert(idx);
            b
        } else {
            new
        };
        map.insert(idx, image);
    }
    Ok(Replay {
        graph: g,
        violations,
        back,
        bootstraps,
    })
}

/// The depth a violating node may have: 0 for an output (the loop-carried state), else `levels`.
fn limit_of(g: &HeGraph, v: ValueId, levels: u32) -> u32 {
    match g.node(v).map(|n| &n.op) {
        Some(HeOp::Output { .. }) => 0,
        _ => levels,
    }
}

/// How many violations (the first in program order) contribute candidates; every violation
/// counts when candidates are scored.
const VIOLATIONS_CONSIDERED: usize = 16;

/// Which value to refresh (see the module docs): the candidate that fixes the most violations by
/// itself, ties broken by depth (the latest point wastes the fewest levels).
fn choose_refresh(g: &HeGraph, violations: &[ValueId], levels: u32) -> Result<ValueId, IrError> {
    let considered = &violations[..violations.len().min(VIOLATIONS_CONSIDERED)];
    let mut candidates: Vec<ValueId> = Vec::new();
    for &v in considered {
        for c in path_candidates(g, v)? {
            let c = source_of(g, c);
            // A value already too deep cannot be bootstrapped (the bootstrap needs its levels).
            if g.ty(c)?.depth.0 <= levels && !candidates.contains(&c) {
                candidates.push(c);
            }
        }
    }
    let order = toposort(&g.graph, None).map_err(|_| IrError::Cycle)?;
    let mut best: Option<(usize, u32, ValueId)> = None;
    for &c in &candidates {
        let depths = depths_if_refreshed(g, &order, c);
        let fixed = violations
            .iter()
            .filter(|&&v| depths.get(&v).is_some_and(|&d| d <= limit_of(g, v, levels)))
            .count();
        let depth = g.ty(c)?.depth.0;
        if best.is_none_or(|(f, d, _)| (fixed, depth) > (f, d)) {
            best = Some((fixed, depth, c));
        }
    }
    best.map(|(_, _, c)| c).ok_or_else(|| {
        let v = considered[0];
        unplaceable(format!(
            "%{} reaches depth {} and no value on its path can be bootstrapped",
            v.0.index(),
            g.ty(v).map(|t| t.depth.0).unwrap_or(0)
        ))
    })
}

/// The at-rest values on the path that makes `node` deep (following the deepest operand), closest
/// first.
fn path_candidates(g: &HeGraph, node: ValueId) -> Result<Vec<ValueId>, IrError> {
    let mut candidates = Vec::new();
    let mut cur = node;
    loop {
        let next = g
            .operands(cur)
            .into_iter()
            .filter(|&o| g.ty(o).map(|t| t.kind == Kind::Cipher).unwrap_or(false))
            // On a tie, the operand that really got this deep, not one dropped to match it.
            .max_by_key(|&o| {
                let dropped = matches!(g.node(o).map(|n| &n.op), Some(HeOp::LevelDrop { .. }));
                (g.ty(o).map(|t| t.depth.0).unwrap_or(0), !dropped)
            });
        let Some(next) = next else { break };
        let ty = g.ty(next)?;
        if ty.depth.0 == 0 {
            break;
        }
        let op = g.node(next).map(|n| &n.op);
        if at_rest(ty) && !matches!(op, Some(HeOp::Bootstrap | HeOp::LevelDrop { .. })) {
            candidates.push(next);
        }
        cur = next;
    }
    Ok(candidates)
}

/// Follow level-neutral unary operations back to their source (while it is at rest and as deep).
fn source_of(g: &HeGraph, mut v: ValueId) -> ValueId {
    loop {
        let Some(node) = g.node(v) else { return v };
        if !level_neutral_unary(&node.op) {
            return v;
        }
        let Some(&src) = g.operands(v).first() else {
            return v;
        };
        match g.ty(src) {
            Ok(t) if at_rest(t) && t.depth == node.ty.depth => v = src,
            _ => return v,
        }
    }
}

/// Every node's depth if `refreshed` were at depth 0 (level drops ignored: the replay re-aligns
/// them), in one pass in topological `order`.
fn depths_if_refreshed(
    g: &HeGraph,
    order: &[NodeIndex],
    refreshed: ValueId,
) -> HashMap<ValueId, u32> {
    let mut depth: HashMap<ValueId, u32> = HashMap::with_capacity(order.len());
    for &idx in order {
        let v = ValueId(idx);
        let Some(n) = g.node(v) else { continue };
        let from_operands = g
            .operands(v)
            .iter()
            .filter(|o| g.ty(**o).map(|t| t.kind == Kind::Cipher).unwrap_or(false))
            .map(|o| depth.get(o).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let d = match n.op {
            _ if v == refreshed => 0,
            HeOp::Input { .. } | HeOp::Const(_) | HeOp::Bootstrap => 0,
            HeOp::Rescale => from_operands + 1,
            _ => from_operands,
        };
        depth.insert(v, d);
    }
    depth
}
