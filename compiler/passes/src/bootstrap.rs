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

use std::collections::BTreeSet;

use petgraph::Direction;
use petgraph::algo::toposort;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::NodeIndexable;

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::op::HeOp;
use henn_he_ir::types::{Kind, Packing, ValueType};

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
pub(crate) fn at_rest(ty: &ValueType) -> bool {
    ty.kind == Kind::Cipher && ty.degree == 1 && ty.scale_pow == 1
}

/// Operations that change neither depth nor scale and have one ciphertext operand: refreshing their
/// source refreshes them too.
pub(crate) fn level_neutral_unary(op: &HeOp) -> bool {
    matches!(
        op,
        HeOp::Rotate(_) | HeOp::Conjugate | HeOp::Neg | HeOp::MulInt(_) | HeOp::AddScalar(_)
    )
}

/// A map keyed by node index, dense over the graph's index range (node indices are small and
/// dense; hashing them dominated the placement's time).
#[derive(Debug, Clone)]
pub(crate) struct NodeMap<T>(Vec<Option<T>>);

impl<T: Copy> NodeMap<T> {
    pub(crate) fn with_capacity(bound: usize) -> NodeMap<T> {
        NodeMap(vec![None; bound])
    }

    pub(crate) fn get(&self, n: NodeIndex) -> Option<T> {
        self.0.get(n.index()).copied().flatten()
    }

    pub(crate) fn insert(&mut self, n: NodeIndex, value: T) {
        let i = n.index();
        if i >= self.0.len() {
            self.0.resize(i + 1, None);
        }
        self.0[i] = Some(value);
    }

    /// Insert unless the key already has a value.
    fn insert_first(&mut self, n: NodeIndex, value: T) {
        if self.get(n).is_none() {
            self.insert(n, value);
        }
    }
}

impl NodeMap<usize> {
    /// Each node's position in `order`.
    fn positions(g: &HeGraph, order: &[NodeIndex]) -> NodeMap<usize> {
        let mut m = NodeMap::with_capacity(g.graph.node_bound());
        for (i, &n) in order.iter().enumerate() {
            m.insert(n, i);
        }
        m
    }
}

/// A replayed graph and the nodes in it that break a rule (too deep, or an output not at depth 0).
struct Replay {
    graph: HeGraph,
    violations: Vec<ValueId>,
    /// New node → the original it is the image of (for mapping a pick back).
    back: NodeMap<NodeIndex>,
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
    let order = program_order(graph)?;
    // Operand lists do not change between rounds: read them from the graph once.
    let operands: Vec<Vec<ValueId>> = order.iter().map(|&n| graph.operands(ValueId(n))).collect();
    let mut refresh: BTreeSet<NodeIndex> = BTreeSet::new();
    // Each round adds one refresh of an original node, so the loop ends.
    for _ in 0..=graph.len() {
        let r = replay(graph, &order, &operands, &refresh, levels)?;
        if r.violations.is_empty() {
            return Ok(Placed {
                graph: r.graph,
                bootstraps: r.bootstraps,
            });
        }
        let picks = choose_refreshes(&r.graph, &r.violations, levels)?;
        let mut added = false;
        for pick in picks {
            let original = r
                .back
                .get(pick.0)
                .ok_or_else(|| unplaceable(format!("%{} has no source node", pick.0.index())))?;
            added |= refresh.insert(original);
        }
        if !added {
            return Err(unplaceable(format!(
                "refreshing again would not help: the chain from one refreshed value to the \
                 next needs more than {levels} levels"
            )));
        }
    }
    Err(unplaceable("no placement converged".into()))
}

/// `graph` with exactly the values in `refresh` (original node indices) bootstrapped right after
/// they are computed; fails if that breaks a rule (a value deeper than `levels`, an output not
/// at depth 0). For placements chosen elsewhere ([`crate::placement`]) and for tests.
pub fn place_refreshes(
    graph: &HeGraph,
    levels: u32,
    refresh: &BTreeSet<NodeIndex>,
) -> Result<Placed, IrError> {
    let order = program_order(graph)?;
    let operands: Vec<Vec<ValueId>> = order.iter().map(|&n| graph.operands(ValueId(n))).collect();
    let r = replay(graph, &order, &operands, refresh, levels)?;
    if let Some(v) = r.violations.first() {
        return Err(unplaceable(format!(
            "the chosen refreshes leave %{} at depth {} ({} levels allowed; outputs at 0)",
            v.0.index(),
            r.graph.ty(*v).map(|t| t.depth.0).unwrap_or(0),
            levels
        )));
    }
    Ok(Placed {
        graph: r.graph,
        bootstraps: r.bootstraps,
    })
}

/// Rebuild `src` with the values in `refresh` bootstrapped right after they are computed, and
/// collect the nodes that break a rule. Level drops are not copied: the builder re-aligns
/// operands, so a refreshed value is only dropped as far as its new partner requires.
fn replay(
    src: &HeGraph,
    order: &[NodeIndex],
    operands_of: &[Vec<ValueId>],
    refresh: &BTreeSet<NodeIndex>,
    levels: u32,
) -> Result<Replay, IrError> {
    let mut g = HeGraph::with_constants_of(src);
    g.reserve_like(src);
    let mut map: NodeMap<ValueId> = NodeMap::with_capacity(src.graph.node_bound());
    let mut back: NodeMap<NodeIndex> = NodeMap::with_capacity(src.graph.node_bound());
    let mut violations = Vec::new();
    let mut bootstraps = 0usize;
    // One operand buffer for the whole replay (a fresh vector per node was a visible share of
    // the placement's time).
    let mut operands: Vec<ValueId> = Vec::with_capacity(4);
    for (&idx, src_operands) in order.iter().zip(operands_of) {
        let v = ValueId(idx);
        let Some(node) = src.node(v) else { continue };
        g.origin = node.origin;
        operands.clear();
        for o in src_operands {
            operands.push(
                map.get(o.0)
                    .ok_or(IrError::UnknownValue { node: o.0.index() })?,
            );
        }
        // Every node keeps the layout the source recorded (a kernel may have stated it).
        let stated = Some(node.ty.layout.clone());
        let new = match &node.op {
            HeOp::Input { name } => g.input(name, node.ty.layout.clone()),
            HeOp::Const(id) => g.pool_constant(*id)?,
            HeOp::LevelDrop { .. } => operands[0],
            HeOp::AddCC | HeOp::SubCC | HeOp::MulCC => {
                let (a, b) = g.align(operands[0], operands[1])?;
                g.op_as(node.op.clone(), &[a, b], stated)?
            }
            op => g.op_as(op.clone(), &operands, stated)?,
        };
        if !matches!(node.op, HeOp::LevelDrop { .. }) {
            back.insert_first(new.0, idx);
        }
        // A bootstrap already in the source (a packed refresh) counts like an inserted one.
        if matches!(node.op, HeOp::Bootstrap) {
            bootstraps += 1;
        }
        let depth = g.ty(new)?.depth.0;
        let output = matches!(node.op, HeOp::Output { .. });
        if depth > levels || (output && depth > 0) {
            violations.push(new);
        }
        let image = if refresh.contains(&idx) {
            bootstraps += 1;
            let b = g.op(HeOp::Bootstrap, &[new])?;
            back.insert_first(b.0, idx);
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

/// The insertion order of the builder when it is topological (it follows the lowering's loop
/// nest, which keeps few values live), else a topological sort.
pub(crate) fn program_order(g: &HeGraph) -> Result<Vec<NodeIndex>, IrError> {
    let order: Vec<NodeIndex> = g.graph.node_indices().collect();
    let position = NodeMap::positions(g, &order);
    let topological = order.iter().enumerate().all(|(i, &n)| {
        g.graph
            .neighbors_directed(n, Direction::Incoming)
            .all(|o| position.get(o).is_some_and(|p| p < i))
    });
    if topological {
        Ok(order)
    } else {
        toposort(&g.graph, None).map_err(|_| IrError::Cycle)
    }
}

/// The graph as flat arrays for the depth passes of [`choose_refreshes`]: per node (in program
/// order) its ciphertext operands' positions and how many levels it adds.
struct Flat {
    order: Vec<NodeIndex>,
    position: NodeMap<usize>,
    /// Node `i`'s ciphertext operands are `operands[operand_start[i]..operand_start[i + 1]]`
    /// (positions, in no particular order: only their depths' maximum matters).
    operand_start: Vec<usize>,
    operands: Vec<usize>,
    /// 1 for a rescale, 0 otherwise; `None` for nodes that start at depth 0 (inputs, constants,
    /// bootstraps).
    step: Vec<Option<u32>>,
}

impl Flat {
    fn new(g: &HeGraph) -> Result<Flat, IrError> {
        let order = program_order(g)?;
        let position = NodeMap::positions(g, &order);
        let mut operand_start = Vec::with_capacity(order.len() + 1);
        let mut operands = Vec::with_capacity(2 * order.len());
        let mut step = Vec::with_capacity(order.len());
        for &n in &order {
            let v = ValueId(n);
            operand_start.push(operands.len());
            operands.extend(
                g.graph
                    .neighbors_directed(n, Direction::Incoming)
                    .filter(|&o| g.ty(ValueId(o)).is_ok_and(|t| t.kind == Kind::Cipher))
                    .filter_map(|o| position.get(o)),
            );
            step.push(match g.node(v).map(|n| &n.op) {
                Some(HeOp::Input { .. } | HeOp::Const(_) | HeOp::Bootstrap) | None => None,
                Some(HeOp::Rescale) => Some(1),
                Some(_) => Some(0),
            });
        }
        operand_start.push(operands.len());
        Ok(Flat {
            order,
            position,
            operand_start,
            operands,
            step,
        })
    }

    /// Every node's depth with the node at position `refreshed` (if any) at depth 0; level
    /// drops are ignored (the replay re-aligns them). `base` holds the depths without a refresh:
    /// nodes before `refreshed` keep them, so only the rest of the program is recomputed.
    fn depths(&self, refreshed: Option<usize>, base: &[u32], out: &mut Vec<u32>) {
        let start = refreshed.unwrap_or(0).min(base.len());
        out.clear();
        out.extend_from_slice(&base[..start]);
        out.resize(self.order.len(), 0);
        for i in start..self.order.len() {
            let d = match self.step[i] {
                None => 0,
                Some(step) => {
                    let end = self
                        .operand_start
                        .get(i + 1)
                        .copied()
                        .unwrap_or(self.operands.len());
                    self.operands[self.operand_start[i]..end]
                        .iter()
                        .map(|&o| out[o])
                        .max()
                        .unwrap_or(0)
                        + step
                }
            };
            out[i] = if refreshed == Some(i) { 0 } else { d };
        }
    }
}

/// Which values to refresh this round (see the module docs): greedily, the candidate that fixes
/// the most remaining violations by itself (ties: the deepest, which wastes the fewest levels),
/// until no candidate fixes any of the rest. The next replay checks the combined effect.
fn choose_refreshes(
    g: &HeGraph,
    violations: &[ValueId],
    levels: u32,
) -> Result<Vec<ValueId>, IrError> {
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
    let flat = Flat::new(g)?;
    let targets: Vec<(usize, u32)> = violations
        .iter()
        .filter_map(|&v| flat.position.get(v.0).map(|p| (p, limit_of(g, v, levels))))
        .collect();
    // Which violations each candidate fixes by itself.
    let mut base = Vec::new();
    flat.depths(None, &[], &mut base);
    let mut depths = Vec::new();
    let mut fixes: Vec<(ValueId, u32, Vec<usize>)> = Vec::new();
    for &c in &candidates {
        let Some(pos) = flat.position.get(c.0) else {
            continue;
        };
        flat.depths(Some(pos), &base, &mut depths);
        let fixed: Vec<usize> = targets
            .iter()
            .enumerate()
            .filter(|(_, (p, limit))| depths[*p] <= *limit)
            .map(|(i, _)| i)
            .collect();
        if !fixed.is_empty() {
            fixes.push((c, g.ty(c)?.depth.0, fixed));
        }
    }
    let mut open = vec![true; targets.len()];
    let mut picks = Vec::new();
    loop {
        let best = fixes
            .iter()
            .map(|(c, depth, fixed)| (fixed.iter().filter(|&&i| open[i]).count(), *depth, *c))
            .filter(|(n, _, _)| *n > 0)
            .max_by_key(|&(n, depth, c)| (n, depth, std::cmp::Reverse(c)));
        let Some((_, _, c)) = best else { break };
        if let Some((_, _, fixed)) = fixes.iter().find(|(x, _, _)| *x == c) {
            for &i in fixed {
                open[i] = false;
            }
        }
        picks.push(c);
    }
    if picks.is_empty() {
        // Nothing fixes a violation alone: refresh the closest candidate and look again.
        let first = candidates.first().copied().ok_or_else(|| {
            let v = considered[0];
            unplaceable(format!(
                "%{} reaches depth {} and no value on its path can be bootstrapped",
                v.0.index(),
                g.ty(v).map(|t| t.depth.0).unwrap_or(0)
            ))
        })?;
        picks.push(first);
    }
    Ok(picks)
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

/// What a sparse-slot bootstrap leaves in the slots beyond the `n` it refreshes (the backend's
/// `SparseOutput`; the IR does not depend on the backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparseFill {
    /// Zeros beyond the first `n` slots.
    Zeroed,
    /// The first `n` slots repeated with period `n` over all slots.
    Periodic,
}

/// What the bootstraps of a placed graph need from the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotNeed {
    /// Every slot (a value spans the whole ciphertext, or has no row structure).
    Full,
    /// Every refreshed value lives in the first `slots` slots (a power of two below the
    /// ciphertext's slot count) when it is read with the right `fill` beyond them.
    Sparse { slots: usize, fill: SparseFill },
}

/// The slots a refreshed value of layout `l` occupies (see [`slot_need`]): one period of
/// replicated weights, the sample rows rounded up to a power of two; `None` for a value without
/// row structure (it needs every slot).
pub fn refresh_span(l: &henn_he_ir::types::Layout) -> Option<usize> {
    match l.packing {
        Packing::Weights { period } => Some(period.saturating_mul(l.stride)),
        // The rows past `rows` up to the power of two are the input's (zero).
        Packing::Samples => Some(l.rows.saturating_mul(l.stride).next_power_of_two()),
        Packing::Flat => None,
    }
}

/// The slots the bootstraps of `g` need, from their values' layouts.
///
/// - A `Samples` value spans `rows · stride` slots (rounded up to a power of two). Beyond them it needs **zeros**: its
///   `Padding` describes the columns only, and the backward kernels sum such values over all
///   rows with cyclic rotations, relying on the rows past `rows` being zero. A zeroed output
///   is right for zero and garbage padding alike.
/// - A `Weights { period }` value spans one period (`period · stride` slots) and needs it
///   **repeated** over the whole ciphertext: every sample row reads its weight row.
/// - A `Flat` value, or a span that is the whole ciphertext or not a power of two: all slots.
///
/// Weights alone take a periodic circuit; samples alone, or both, a zeroed one (the weights
/// are then re-replicated by [`replicate_sparse_weights`]: rotations and additions, no level).
pub fn slot_need(g: &HeGraph) -> SlotNeed {
    let (mut span, mut samples, mut any) = (0usize, false, false);
    let mut slots = 0usize;
    for n in g.graph.node_weights() {
        if !matches!(n.op, HeOp::Bootstrap) {
            continue;
        }
        let l = &n.ty.layout;
        samples |= l.packing == Packing::Samples;
        let Some(s) = refresh_span(l) else {
            return SlotNeed::Full;
        };
        if !s.is_power_of_two() || (any && l.slots != slots) {
            return SlotNeed::Full;
        }
        any = true;
        slots = l.slots;
        span = span.max(s);
    }
    if !any || span >= slots {
        return SlotNeed::Full;
    }
    SlotNeed::Sparse {
        // The backend's smallest sparse transform has 2 slots; 4 keeps a margin of one stage.
        slots: span.max(4),
        fill: if samples {
            SparseFill::Zeroed
        } else {
            SparseFill::Periodic
        },
    }
}

/// `g` with every bootstrapped `Weights` value re-replicated after a zeroed `slots`-slot
/// bootstrap: `log2(total / slots)` rotate-and-add doublings copy the refreshed block over the
/// whole ciphertext (no level, no scale change), and every consumer reads the copy. Other nodes
/// are copied as they are. Returns the new graph and the rotations it added per step.
pub fn replicate_sparse_weights(g: &HeGraph, slots: usize) -> Result<(HeGraph, usize), IrError> {
    let order = program_order(g)?;
    let mut out = HeGraph::with_constants_of(g);
    let mut map: NodeMap<ValueId> = NodeMap::with_capacity(g.graph.node_bound());
    let mut rotations = 0usize;
    for &idx in &order {
        let v = ValueId(idx);
        let Some(node) = g.node(v) else { continue };
        out.origin = node.origin;
        let operands: Vec<ValueId> = g
            .operands(v)
            .iter()
            .map(|o| {
                map.get(o.0)
                    .ok_or(IrError::UnknownValue { node: o.0.index() })
            })
            .collect::<Result<_, _>>()?;
        let mut new = match &node.op {
            HeOp::Input { name } => out.input(name, node.ty.layout.clone()),
            HeOp::Const(id) => out.pool_constant(*id)?,
            op => out.op_as(op.clone(), &operands, Some(node.ty.layout.clone()))?,
        };
        let layout = &node.ty.layout;
        if matches!(node.op, HeOp::Bootstrap)
            && matches!(layout.packing, Packing::Weights { .. })
            && slots < layout.slots
        {
            let copies = layout.slots / slots;
            // The sum is the weights again, whole (rotation marks its padding garbage; the
            // copies land exactly on the period, so the padding is the bootstrap's).
            new = out.rotate_and_sum_as(new, slots as i64, copies, Some(layout.clone()))?;
            rotations += copies.trailing_zeros() as usize;
        }
        map.insert(idx, new);
    }
    Ok((out, rotations))
}
