//! The search: a dynamic program over the step in program order whose state is the depth of
//! every live value (computed, with a reader still to come).
//!
//! A node's depth depends only on its operands' depths, and its time only on its own depth, so
//! the program-order cut between two nodes separates the past from the future: two partial
//! placements with the same live depths have the same best completion, and the cheaper one is
//! kept (exact merging). At a node that may be refreshed, every state branches (refreshed or
//! not); a state that breaks a rule is dropped. Two prunings keep the optimum:
//!
//! - **bound:** a state whose time so far plus the least time the rest can take (every later
//!   node at the deepest level) exceeds a known placement's time cannot lead to a better one;
//! - **dominance:** a state at least as shallow as another everywhere can make every later
//!   choice the other makes and end no deeper anywhere, so it ends at most `spread` slower,
//!   where `spread` is what the rest costs at depth 0 minus at the deepest level; a state cheaper
//!   than the other by at least `spread` makes the other useless.
//!
//! The states kept at a cut are bounded (at most [`MAX_STATES`], fewer on a large step so the
//! search stays within [`WORK`] state visits, about a second): past the bound the most promising
//! are kept (cheapest so far, charged for how deep their deepest live value is) and the result is
//! reported as not proven optimal (`exact == false`). Small steps (the brute-force tests, the
//! 4 → 8 → 3 toy and breast cancer at most budgets) are searched exactly; the seed and digits
//! steps are not, and there the search still finds fewer bootstraps than greedy at most budgets.

use std::collections::HashMap;

use super::flat::{Flat, Start};

/// States kept at any cut on a small step. Each costs `live` bytes and is touched once per node,
/// so a larger step keeps fewer: [`WORK`] state visits in all (about a second of search).
pub(crate) const MAX_STATES: usize = 2048;
/// The search's budget in state visits (nodes × states kept).
const WORK: usize = 1 << 21;
/// The least states kept on a large step.
const MIN_STATES: usize = 32;
/// Dominance is checked (quadratic) only between these many states: below, merging is enough;
/// above, the check costs more than it saves.
const DOMINANCE_STATES: std::ops::RangeInclusive<usize> = 64..=1024;

/// What the search found: which nodes to refresh, the estimated time, whether it is proven
/// optimal.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub refreshed: Vec<bool>,
    pub time: f64,
    pub exact: bool,
}

#[derive(Debug, Clone)]
struct State {
    depths: Vec<u8>,
    time: f64,
    /// Head of this state's refresh list in the trail (`u32::MAX`: none).
    trail: u32,
}

const NONE: u32 = u32::MAX;

/// Registers for live values: each node that is read later gets a slot until its last read.
fn slots(flat: &Flat) -> (Vec<Option<usize>>, usize) {
    let mut free: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut slot = vec![None; flat.nodes.len()];
    for (i, n) in flat.nodes.iter().enumerate() {
        for &o in &n.operands {
            if flat.nodes[o].last_use == Some(i)
                && let Some(s) = slot[o]
                && !free.contains(&s)
            {
                free.push(s);
            }
        }
        if n.last_use.is_some() && n.start != Start::Fresh {
            slot[i] = Some(free.pop().unwrap_or_else(|| {
                next += 1;
                next - 1
            }));
        }
    }
    (slot, next)
}

/// The least time of the placement of `flat` with `bootstrap` seconds per refresh, searched
/// below `bound` (the time of a known placement: nothing slower is kept). `None` when no
/// placement within the bound exists.
pub(crate) fn search(flat: &Flat, bootstrap: f64, bound: f64) -> Option<Found> {
    let n = flat.nodes.len();
    let (slot, width) = slots(flat);
    // least[i]: the least time nodes i.. can take; spread[i]: how much more they can take.
    let mut least = vec![0.0; n + 1];
    let mut spread = vec![0.0; n + 1];
    for i in (0..n).rev() {
        let t = &flat.nodes[i].time;
        let lo = t.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = t.iter().copied().fold(0.0, f64::max);
        least[i] = least[i + 1] + lo;
        spread[i] = spread[i + 1] + (hi - lo);
    }
    let slack = 1e-9 * bound.abs().max(1.0);
    let mut trail: Vec<(u32, u32)> = Vec::new();
    let mut states = vec![State {
        depths: vec![0; width],
        time: flat.fixed_time,
        trail: NONE,
    }];
    let mut exact = true;
    let levels = flat.levels;
    let cap = (WORK / n.max(1)).clamp(MIN_STATES, MAX_STATES);
    for (i, node) in flat.nodes.iter().enumerate() {
        let mut next: Vec<State> = Vec::with_capacity(states.len() * 2);
        for mut s in states {
            let d = match node.start {
                Start::Fresh => 0,
                Start::Follows { step } => {
                    node.operands
                        .iter()
                        .map(|&o| slot[o].map_or(0, |k| u32::from(s.depths[k])))
                        .max()
                        .unwrap_or(0)
                        + step
                }
            };
            if d > levels || (node.output && d > 0) {
                continue;
            }
            s.time += node.time[d as usize];
            if s.time + least[i + 1] > bound + slack {
                continue;
            }
            for &o in &node.operands {
                if flat.nodes[o].last_use == Some(i)
                    && let Some(k) = slot[o]
                {
                    s.depths[k] = 0;
                }
            }
            let Some(k) = slot[i] else {
                next.push(s);
                continue;
            };
            s.depths[k] = d as u8;
            if node.candidate && d > 0 {
                let refreshed_time = s.time + bootstrap;
                if refreshed_time + least[i + 1] <= bound + slack {
                    let mut r = s.clone();
                    r.depths[k] = 0;
                    r.time = refreshed_time;
                    trail.push((r.trail, i as u32));
                    r.trail = (trail.len() - 1) as u32;
                    next.push(r);
                }
            }
            next.push(s);
        }
        if node.candidate || next.len() > cap {
            next = merge(next, spread[i + 1]);
            if next.len() > cap {
                // Keep the most promising: the cheapest so far, charged for how close its
                // deepest live value is to needing a refresh.
                let key = |s: &State| {
                    s.time + bootstrap * f64::from(max_depth(s)) / f64::from(levels + 1)
                };
                next.sort_by(|a, b| key(a).total_cmp(&key(b)));
                next.truncate(cap);
                exact = false;
            }
        }
        if next.is_empty() {
            return None;
        }
        states = next;
    }
    let best = states
        .into_iter()
        .min_by(|a, b| a.time.total_cmp(&b.time))?;
    let mut refreshed = vec![false; n];
    let mut t = best.trail;
    while t != NONE {
        let (parent, node) = trail[t as usize];
        refreshed[node as usize] = true;
        t = parent;
    }
    Some(Found {
        refreshed,
        time: best.time,
        exact,
    })
}

fn max_depth(s: &State) -> u32 {
    s.depths.iter().copied().max().map_or(0, u32::from)
}

/// Keep the cheapest state per depth vector; when many remain (but few enough to compare
/// pairwise), drop the states another dominates (see the module docs; `spread` is what
/// the rest of the step can cost beyond its least).
fn merge(states: Vec<State>, spread: f64) -> Vec<State> {
    let mut index: HashMap<Vec<u8>, usize> = HashMap::with_capacity(states.len());
    let mut kept: Vec<State> = Vec::with_capacity(states.len());
    for s in states {
        match index.get(&s.depths) {
            Some(&j) => {
                if s.time < kept[j].time {
                    kept[j] = s;
                }
            }
            None => {
                index.insert(s.depths.clone(), kept.len());
                kept.push(s);
            }
        }
    }
    if !DOMINANCE_STATES.contains(&kept.len()) {
        return kept;
    }
    kept.sort_by(|a, b| a.time.total_cmp(&b.time));
    // Quadratic in the states: only a cheaper state can dominate, so compare with those kept.
    let mut out: Vec<State> = Vec::with_capacity(kept.len());
    for s in kept {
        let dominated = out.iter().any(|a| {
            a.time + spread <= s.time && a.depths.iter().zip(&s.depths).all(|(x, y)| x <= y)
        });
        if !dominated {
            out.push(s);
        }
    }
    out
}
