//! The optimizer: equality saturation over the HE IR with [`egg`], the only crate that names it.
//!
//! [`optimize`] translates a lowered [`HeGraph`] (before bootstrap placement) into an e-graph
//! ([`lang`]: rotations, additions and subtractions as first-class nodes, every other operation
//! opaque; the analysis carries each class's type), runs the rule groups of [`rules`] under the
//! limits of one [`OptConfig`] (iterations, e-nodes, time; the report says why it stopped and how
//! often each rule fired), extracts one node per class with the DAG-aware extractor of
//! [`extract`] (a shared ciphertext counted once) in the currency of
//! [`henn_plan::report::CostModel`], and rebuilds the graph through the typed builder
//! ([`HeGraph::op_as`], stating every class's layout), so every node is type-checked again.
//!
//! **Levels and scales.** Every rule so far keeps depth, scale and degree (rotations and sums),
//! and a union is refused unless both sides agree on them, so the lowering's rescales and level
//! drops stay valid whatever the extraction picks and the optimized graph is never deeper. Rules
//! that change depth (fusing masks) need a level-free form and re-derived rescales: not yet.
//!
//! **Determinism.** egg's `deterministic` feature, rules searched in a fixed order, and no
//! decision depends on the clock unless the time limit is hit (the report says so): the same
//! graph gives the same plan byte for byte.

pub mod extract;
pub mod lang;
pub mod rules;
mod translate;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use henn_he_ir::HeGraph;
use henn_plan::report::CostModel;

pub use translate::OptError;

/// Limits of one saturation run.
#[derive(Debug, Clone)]
pub struct OptConfig {
    pub max_iterations: usize,
    /// Stop adding once the e-graph holds this many e-nodes.
    pub max_nodes: usize,
    pub time_limit: Duration,
    pub cost: CostModel,
}

impl Default for OptConfig {
    fn default() -> Self {
        OptConfig {
            max_iterations: 8,
            max_nodes: 400_000,
            time_limit: Duration::from_secs(20),
            cost: CostModel::default(),
        }
    }
}

/// Why saturation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// No rule changed the e-graph: every equivalent form the rules know is in it.
    Saturated,
    IterationLimit,
    NodeLimit,
    TimeLimit,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Saturated => "saturated",
            StopReason::IterationLimit => "iteration limit",
            StopReason::NodeLimit => "node limit",
            StopReason::TimeLimit => "time limit",
        }
    }
}

/// What the optimizer did.
#[derive(Debug, Clone)]
pub struct OptReport {
    pub stop: StopReason,
    pub iterations: usize,
    pub enodes: usize,
    pub eclasses: usize,
    /// Successful applications per rule (name → count).
    pub fired: BTreeMap<&'static str, usize>,
    pub key_switches_before: usize,
    pub key_switches_after: usize,
    pub rotations_before: usize,
    pub rotations_after: usize,
    pub depth_before: u32,
    pub depth_after: u32,
    pub elapsed: Duration,
}

/// The optimized graph and the report.
#[derive(Debug, Clone)]
pub struct Optimized {
    pub graph: HeGraph,
    pub report: OptReport,
}

fn rotations(g: &HeGraph) -> usize {
    g.op_counts().get("rotate").copied().unwrap_or(0)
}

/// Optimize a lowered graph (no bootstraps yet). The result computes the same outputs, is no
/// deeper, and replaces the input only when it needs fewer key switches.
pub fn optimize(graph: &HeGraph, cfg: &OptConfig) -> Result<Optimized, OptError> {
    let start = Instant::now();
    let (mut egraph, roots) = translate::to_egraph(graph)?;
    let guards = rules::Guards {
        slots: translate::slots(graph) as i64,
        keys: graph.rotation_steps(),
    };
    let mut fired: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut stop = StopReason::IterationLimit;
    let mut iterations = 0;
    'outer: for _ in 0..cfg.max_iterations {
        iterations += 1;
        let mut changed = false;
        for rule in rules::Rule::ALL {
            for action in rules::search(rule, &egraph, &guards) {
                if egraph.total_size() >= cfg.max_nodes {
                    stop = StopReason::NodeLimit;
                    egraph.rebuild();
                    break 'outer;
                }
                if rules::apply(&mut egraph, action) {
                    *fired.entry(rule.name()).or_insert(0) += 1;
                    changed = true;
                }
            }
            egraph.rebuild();
            if start.elapsed() > cfg.time_limit {
                stop = StopReason::TimeLimit;
                break 'outer;
            }
        }
        if !changed {
            stop = StopReason::Saturated;
            break;
        }
    }
    let cost = translate::node_cost(&cfg.cost);
    let extraction = extract::extract(&egraph, &roots, &cost).ok_or(OptError::Extraction)?;
    let out = translate::from_egraph(graph, &egraph, &roots, &extraction)?;
    let (before, after) = (graph.key_switches(), out.key_switches());
    // Only a strictly cheaper graph replaces the input: with nothing gained the plan stays the
    // lowering's byte for byte.
    let (graph_out, after) = if after < before && out.max_depth() <= graph.max_depth() {
        (out, after)
    } else {
        (graph.clone(), before)
    };
    let report = OptReport {
        stop,
        iterations,
        enodes: egraph.total_size(),
        eclasses: egraph.number_of_classes(),
        fired,
        key_switches_before: before,
        key_switches_after: after,
        rotations_before: rotations(graph),
        rotations_after: rotations(&graph_out),
        depth_before: graph.max_depth(),
        depth_after: graph_out.max_depth(),
        elapsed: start.elapsed(),
    };
    Ok(Optimized {
        graph: graph_out,
        report,
    })
}
