//! DAG-aware greedy extraction: a class's cost is the cost of the *set* of classes its best
//! node needs (each counted once), not egg's tree cost, which counts a shared ciphertext once
//! per use. A fixed point over the e-graph in the style of extraction-gym's greedy DAG
//! extractor: a node's cost set is the union of its operands' sets plus its own class; a node
//! whose operands' sets contain its own class would close a cycle and is skipped.

use std::collections::HashMap;

use egg::{EGraph, Id, Language};

use crate::lang::{HeLang, Types};

/// The cost of one node in the plan's currency (estimated seconds at a reference chain).
pub type NodeCost = dyn Fn(&EGraph<HeLang, Types>, &HeLang) -> f64;

/// A chosen node per reachable class.
#[derive(Debug, Clone)]
pub struct Extraction {
    pub choice: HashMap<Id, HeLang>,
    /// The DAG cost of everything reachable from the roots.
    pub cost: f64,
}

struct Best {
    node: HeLang,
    set: Vec<u64>,
    cost: f64,
}

fn set_cost(set: &[u64], own: &[f64]) -> f64 {
    let mut total = 0.0;
    for (w, &word) in set.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            total += own.get(w * 64 + b).copied().unwrap_or(0.0);
            bits &= bits - 1;
        }
    }
    total
}

/// Extract from `roots`; `None` when some root has no acyclic choice (cannot happen for an
/// e-graph that holds the original graph).
pub fn extract(
    egraph: &EGraph<HeLang, Types>,
    roots: &[Id],
    cost: &NodeCost,
) -> Option<Extraction> {
    let classes: Vec<Id> = egraph.classes().map(|c| c.id).collect();
    let index: HashMap<Id, usize> = classes.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let words = classes.len().div_ceil(64);
    let mut best: Vec<Option<Best>> = (0..classes.len()).map(|_| None).collect();
    // The cost each class's current best node adds by itself.
    let mut own = vec![0.0; classes.len()];
    let mut changed = true;
    let mut passes = 0;
    while changed && passes < 64 {
        changed = false;
        passes += 1;
        for (ci, &cid) in classes.iter().enumerate() {
            for node in &egraph[cid].nodes {
                let mut set = vec![0u64; words];
                let mut ready = true;
                for &child in node.children() {
                    let Some(Best { set: cs, .. }) = index
                        .get(&egraph.find(child))
                        .and_then(|&i| best[i].as_ref())
                    else {
                        ready = false;
                        break;
                    };
                    for (a, b) in set.iter_mut().zip(cs) {
                        *a |= b;
                    }
                }
                if !ready || set[ci / 64] & (1 << (ci % 64)) != 0 {
                    continue;
                }
                let mine = cost(egraph, node);
                let total = set_cost(&set, &own) + mine;
                set[ci / 64] |= 1 << (ci % 64);
                let better = match &best[ci] {
                    None => true,
                    Some(b) => total < b.cost - 1e-12,
                };
                if better {
                    own[ci] = mine;
                    best[ci] = Some(Best {
                        node: node.clone(),
                        set,
                        cost: total,
                    });
                    changed = true;
                }
            }
        }
    }
    let mut choice = HashMap::new();
    let mut stack: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
    let mut all = vec![0u64; words];
    while let Some(c) = stack.pop() {
        if choice.contains_key(&c) {
            continue;
        }
        let b = best[*index.get(&c)?].as_ref()?;
        for (a, s) in all.iter_mut().zip(&b.set) {
            *a |= s;
        }
        stack.extend(b.node.children().iter().map(|&x| egraph.find(x)));
        choice.insert(c, b.node.clone());
    }
    Some(Extraction {
        cost: set_cost(&all, &own),
        choice,
    })
}
