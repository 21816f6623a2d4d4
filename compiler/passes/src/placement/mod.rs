//! Cost-driven bootstrap placement (issue 16): the refreshes of one training step chosen for the
//! least estimated time, with the greedy pass ([`crate::bootstrap::place_bootstraps`]) as the
//! baseline it must beat.
//!
//! **What is chosen.** Which ciphertexts at rest are bootstrapped right after they are computed
//! (all their readers then see the refreshed value, at depth 0), as in the greedy pass; the
//! step's depths follow from that choice exactly as the placed graph will have them (a node is
//! as deep as its deepest operand, one more after a rescale).
//!
//! **Rules.** Every node within `levels`; every output (the loop-carried state) at depth 0, so
//! the loop body is level-invariant. Bootstraps already in the graph (packed state refreshes,
//! [`crate::pack`]) stay and count like the others.
//!
//! **Cost.** The report's cost model ([`henn_plan::report::OpTimes`]) on the chain the plan will
//! use: one bootstrap's time per refresh, plus every operation's time at its depth (a value
//! closer to a refresh has more limbs, so a refresh also makes the operations after it dearer).
//! The minimum is searched by [`dp`] over the program order; its result replaces the greedy
//! placement only when strictly cheaper, so the chosen placement is never worse than the
//! baseline.

mod dp;
mod flat;

use std::collections::BTreeSet;

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_plan::report::OpTimes;

use crate::bootstrap::{Placed, place_bootstraps, place_refreshes};

/// How the chosen placement was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The search finished within its state bound: no placement is cheaper under the cost model.
    Optimal,
    /// The search hit its state bound and kept the cheapest partial placements; cheaper than
    /// the greedy one, not proven optimal.
    Bounded,
    /// The greedy placement (the search found nothing cheaper).
    Greedy,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Optimal => "optimal",
            Method::Bounded => "bounded search",
            Method::Greedy => "greedy",
        }
    }
}

/// A placement and its baseline.
#[derive(Debug, Clone)]
pub struct Placement {
    pub placed: Placed,
    /// Estimated seconds of the placed step ([`step_time`]).
    pub est_time_s: f64,
    pub method: Method,
    /// The greedy placement and its estimated seconds (`None` when it failed).
    pub greedy: Option<(Placed, f64)>,
}

/// Estimated seconds of one run of `g` (every node at its depth): what the report sums over the
/// program the graph becomes.
pub fn step_time(g: &HeGraph, times: &OpTimes) -> f64 {
    g.graph
        .node_weights()
        .map(|n| times.op(&n.op, n.ty.depth.0))
        .sum()
}

/// The values a placement may refresh: ciphertexts at rest that are not level-neutral copies of
/// another (their source serves every copy), in program order.
pub fn refresh_candidates(
    g: &HeGraph,
    levels: u32,
    times: &OpTimes,
) -> Result<Vec<ValueId>, IrError> {
    let flat = flat::Flat::new(g, levels, times)?;
    Ok(flat
        .nodes
        .iter()
        .filter(|n| n.candidate)
        .map(|n| n.id)
        .collect())
}

/// Place bootstraps in `g` for the least estimated time with `levels` levels between refreshes
/// (see the module docs). Fails only when no placement exists.
pub fn place_min_time(g: &HeGraph, levels: u32, times: &OpTimes) -> Result<Placement, IrError> {
    let greedy = place_bootstraps(g, levels);
    let greedy_time = greedy.as_ref().ok().map(|p| step_time(&p.graph, times));
    let flat = flat::Flat::new(g, levels, times)?;
    let bound = greedy_time.unwrap_or(f64::INFINITY);
    let found = dp::search(&flat, times.bootstrap(), bound);
    let searched = match found {
        Some(f) if greedy_time.is_none_or(|t| f.time < t) => {
            let refresh: BTreeSet<_> = flat
                .nodes
                .iter()
                .zip(&f.refreshed)
                .filter(|(_, r)| **r)
                .map(|(n, _)| n.id.0)
                .collect();
            let placed = place_refreshes(g, levels, &refresh)?;
            let t = step_time(&placed.graph, times);
            let method = if f.exact {
                Method::Optimal
            } else {
                Method::Bounded
            };
            Some((placed, t, method))
        }
        _ => None,
    };
    match (searched, greedy) {
        (Some((placed, t, method)), greedy) if greedy_time.is_none_or(|g| t < g) => Ok(Placement {
            placed,
            est_time_s: t,
            method,
            greedy: greedy.ok().zip(greedy_time),
        }),
        (_, Ok(placed)) => {
            let t = greedy_time.unwrap_or(0.0);
            Ok(Placement {
                greedy: Some((placed.clone(), t)),
                est_time_s: t,
                placed,
                method: Method::Greedy,
            })
        }
        (_, Err(e)) => Err(e),
    }
}

/// [`place_min_time`] for each budget of `budgets` (in increasing order), each also offered the
/// placement kept for the budgets below it: a placement within a budget is within every looser
/// one and costs the same under one cost model, so the time (and, bootstraps dominating it, the
/// bootstraps) can only fall as the budget grows, also where the search is bounded rather than
/// exact (an exact search is monotone by itself).
pub fn place_min_time_each(
    g: &HeGraph,
    budgets: &[u32],
    times: &OpTimes,
) -> Result<Vec<Placement>, IrError> {
    let mut sorted = budgets.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<Placement> = Vec::with_capacity(sorted.len());
    for levels in sorted {
        let p = place_min_time(g, levels, times)?;
        let kept = match out.last() {
            Some(tighter) if tighter.est_time_s < p.est_time_s => tighter.clone(),
            _ => p,
        };
        out.push(kept);
    }
    Ok(out)
}
