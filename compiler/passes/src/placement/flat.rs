//! The step as the placement search sees it: its ciphertext nodes in program order, each with
//! the positions of its ciphertext operands, whether it adds a level, whether a bootstrap may
//! follow it, and its time at every depth the budget allows.
//!
//! Level drops are not nodes here (the replay that builds the placed graph re-aligns operands, as
//! [`crate::bootstrap::place_bootstraps`] does), so a node's depth is the deepest operand's plus
//! one for a rescale: the depth the placed graph will give it.

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::op::HeOp;
use henn_he_ir::types::Kind;
use henn_plan::report::OpTimes;
use petgraph::visit::NodeIndexable;

use crate::bootstrap::{NodeMap, at_rest, level_neutral_unary, program_order};

/// How a node's depth is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Depth 0 whatever comes before (inputs, bootstraps already in the graph).
    Fresh,
    /// The deepest operand's depth plus `step` (1 for a rescale, else 0).
    Follows { step: u32 },
}

/// One ciphertext node of the step.
#[derive(Debug, Clone)]
pub(crate) struct FlatNode {
    pub id: ValueId,
    pub start: Start,
    /// Positions (in [`Flat::nodes`]) of its ciphertext operands, deduplicated.
    pub operands: Vec<usize>,
    /// A state output: must leave at depth 0 (the loop body is level-invariant).
    pub output: bool,
    /// A bootstrap may refresh it (a ciphertext at rest that is not a level-neutral copy of
    /// one: refreshing the source serves every copy, see [`crate::bootstrap`]).
    pub candidate: bool,
    /// Seconds at depth `d`, for `d` in `0..=levels`.
    pub time: Vec<f64>,
    /// Position of its last reader (`None`: nobody reads it).
    pub last_use: Option<usize>,
}

/// The flattened step (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Flat {
    pub nodes: Vec<FlatNode>,
    /// Seconds that no placement changes (plaintext constants).
    pub fixed_time: f64,
    pub levels: u32,
}

impl Flat {
    pub fn new(g: &HeGraph, levels: u32, times: &OpTimes) -> Result<Flat, IrError> {
        let order = program_order(g)?;
        let mut pos: NodeMap<usize> = NodeMap::with_capacity(g.graph.node_bound());
        let mut nodes: Vec<FlatNode> = Vec::with_capacity(order.len());
        let mut fixed_time = 0.0;
        for &idx in &order {
            let v = ValueId(idx);
            let Some(node) = g.node(v) else { continue };
            if node.ty.kind != Kind::Cipher {
                fixed_time += times.op(&node.op, node.ty.depth.0);
                continue;
            }
            let cipher_operands = || {
                g.operands(v)
                    .into_iter()
                    .filter_map(|o| pos.get(o.0))
                    .collect::<Vec<usize>>()
            };
            if matches!(node.op, HeOp::LevelDrop { .. }) {
                // An alias of its operand: the replay does not copy level drops.
                if let Some(&p) = cipher_operands().first() {
                    pos.insert(idx, p);
                }
                continue;
            }
            let start = match node.op {
                HeOp::Input { .. } | HeOp::Bootstrap => Start::Fresh,
                HeOp::Rescale => Start::Follows { step: 1 },
                _ => Start::Follows { step: 0 },
            };
            let mut operands = cipher_operands();
            operands.sort_unstable();
            operands.dedup();
            let source_at_rest = level_neutral_unary(&node.op)
                && g.operands(v)
                    .first()
                    .and_then(|&s| g.ty(s).ok())
                    .is_some_and(at_rest);
            let candidate = at_rest(&node.ty)
                && !source_at_rest
                && !matches!(
                    node.op,
                    HeOp::Input { .. } | HeOp::Bootstrap | HeOp::Output { .. }
                );
            let time = (0..=levels).map(|d| times.op(&node.op, d)).collect();
            pos.insert(idx, nodes.len());
            nodes.push(FlatNode {
                id: v,
                start,
                operands,
                output: matches!(node.op, HeOp::Output { .. }),
                candidate,
                time,
                last_use: None,
            });
        }
        let reads: Vec<(usize, usize)> = nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.operands.iter().map(move |&o| (o, i)))
            .collect();
        for (o, i) in reads {
            nodes[o].last_use = Some(i);
        }
        Ok(Flat {
            nodes,
            fixed_time,
            levels,
        })
    }
}
