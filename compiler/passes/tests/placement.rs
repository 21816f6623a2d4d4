//! Cost-driven placement: on small steps no placement (brute force over every subset of the
//! values that may be refreshed) is cheaper under the same cost model; a looser budget never
//! costs more; packed refreshes count once each; the placed step computes what the unplaced one
//! does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeSet, HashMap};

use henn_he_ir::sim::simulate_step;
use henn_he_ir::{HeGraph, HeOp, Layout, Limits, validate};
use henn_lower::lower::{LowerConfig, lower_step};
use henn_passes::bootstrap::{place_bootstraps, place_refreshes};
use henn_passes::pack::pack_state_refreshes;
use henn_passes::placement::{Method, place_min_time, refresh_candidates, step_time};
use henn_plan::report::{ChainShape, CostModel, OpTimes};
use henn_tir::build_train_step;

/// The cost model on a 2^16 ring whose values start with `base` limbs (one chain for every
/// budget, so times compare across budgets).
fn times(base: usize) -> OpTimes {
    OpTimes::new(
        &CostModel::default(),
        &ChainShape {
            log_n: 16,
            q_limbs: base + 14,
            p_limbs: 4,
            dnum: 3,
            base_limbs: base,
            bootstrap_log_slots: None,
        },
    )
}

/// A deterministic small step: two data inputs and a state input, `ops` operations drawn from
/// products, masked products, sums and rotations of earlier values, and the state output
/// (which must leave at depth 0) computed from the last value.
fn small_step(seed: u64, ops: usize) -> HeGraph {
    let mut rng = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |n: usize| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((rng >> 33) as usize) % n
    };
    let layout = Layout::samples(4, 2, 4, 16);
    let mut g = HeGraph::new();
    let mut values = vec![
        g.input("x0", layout.clone()),
        g.input("x1", layout.clone()),
        g.input("w", layout.clone()),
    ];
    let mask = g.constant(
        "mask",
        layout.clone(),
        (0..16).map(|s| (s as u32, 0.5)).collect(),
    );
    for _ in 0..ops {
        let a = values[values.len() - 1 - next(values.len().min(4))];
        let b = values[next(values.len())];
        let v = match next(4) {
            0 => g.mul(a, b).unwrap(),
            1 => {
                let m = g.mul_plain(a, mask).unwrap();
                g.op(HeOp::Rescale, &[m]).unwrap()
            }
            2 => g.add(a, b).unwrap(),
            _ => g.rotate(a, 1 + next(3) as i64).unwrap(),
        };
        values.push(v);
    }
    let last = *values.last().unwrap();
    let w = values[2];
    let out = g.add(last, w).unwrap();
    g.output("w'", out).unwrap();
    g
}

/// The cheapest placement by trying every subset of the candidates (the placed graph built and
/// timed as the plan would be), or `None` when none is valid.
fn brute_force(g: &HeGraph, levels: u32, t: &OpTimes) -> Option<(f64, usize)> {
    let cands = refresh_candidates(g, levels, t).unwrap();
    assert!(
        cands.len() <= 16,
        "{} candidates: too many to enumerate",
        cands.len()
    );
    let mut best: Option<(f64, usize)> = None;
    for mask in 0u32..(1 << cands.len()) {
        let set: BTreeSet<_> = cands
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, v)| v.0)
            .collect();
        if let Ok(p) = place_refreshes(g, levels, &set) {
            let time = step_time(&p.graph, t);
            if best.is_none_or(|(b, _)| time < b) {
                best = Some((time, p.bootstraps));
            }
        }
    }
    best
}

#[test]
fn the_chosen_placement_is_the_cheapest_on_small_steps() {
    let t = times(8);
    let mut compared = 0;
    for seed in 0..40u64 {
        let g = small_step(seed, 9);
        for levels in [1u32, 2, 3] {
            let want = brute_force(&g, levels, &t);
            let got = place_min_time(&g, levels, &t);
            match (want, got) {
                (None, Err(_)) => {}
                (Some((best, _)), Ok(p)) => {
                    compared += 1;
                    assert!(
                        (p.est_time_s - best).abs() <= 1e-9 * best,
                        "seed {seed}, {levels} levels: chose {} s ({} bootstraps, {:?}), the best is {best} s",
                        p.est_time_s,
                        p.placed.bootstraps,
                        p.method
                    );
                    assert_ne!(
                        p.method,
                        Method::Bounded,
                        "a small step is searched exactly"
                    );
                    let limits = Limits {
                        levels: Some(levels),
                        rotation_keys: None,
                    };
                    assert!(validate(&p.placed.graph, &limits).is_empty());
                    if let Some((_, greedy)) = p.greedy {
                        assert!(p.est_time_s <= greedy);
                    }
                }
                (want, got) => panic!(
                    "seed {seed}, {levels} levels: brute force {want:?}, search {:?}",
                    got.map(|p| p.est_time_s)
                ),
            }
        }
    }
    assert!(compared >= 60, "only {compared} steps had a placement");
}

const MODEL: &str = r#"
model toy {
  data { features = 6  classes = 3 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(4, activation = s)
    dense out(3, activation = s)
  }
  optimizer = nag(lr = 0.5, momentum = nesterov)
  train { batch = 12  iterations = 1  seed = 3 }
  encryption { security = insecure(ring = 2^10)  scale_bits = 40 }
}
"#;

fn lowered() -> HeGraph {
    let model = henn_sema::check_source("toy.henn", MODEL).unwrap();
    let step = build_train_step(&model, 12).unwrap();
    lower_step(
        &step,
        &LowerConfig {
            slots: 64,
            stride: None,
        },
    )
    .unwrap()
    .graph
}

fn inputs(g: &HeGraph) -> HashMap<String, Vec<f64>> {
    let mut out = HashMap::new();
    for (i, n) in g.graph.node_weights().enumerate() {
        if let HeOp::Input { name } = &n.op {
            let v = (0..n.ty.layout.slots)
                .map(|s| (((s * 31 + i * 17) % 29) as f64 / 14.0 - 1.0) * 0.5)
                .collect();
            out.insert(name.clone(), v);
        }
    }
    out
}

/// On the toy training step the search never does worse than greedy, keeps the results bit for
/// bit (the simulator's bootstrap is the identity), and fits the budget.
#[test]
fn on_a_training_step_the_search_beats_or_ties_greedy_and_keeps_the_results() {
    let g = lowered();
    let want = simulate_step(&g, &inputs(&g), 0.3).unwrap();
    for levels in [2u32, 4, 6, 9] {
        let t = times(levels as usize + 1);
        let p = place_min_time(&g, levels, &t).unwrap();
        let greedy = place_bootstraps(&g, levels).unwrap();
        assert!(
            p.placed.bootstraps <= greedy.bootstraps || p.est_time_s < step_time(&greedy.graph, &t)
        );
        assert!(p.est_time_s <= step_time(&greedy.graph, &t));
        let limits = Limits {
            levels: Some(levels),
            rotation_keys: None,
        };
        assert!(validate(&p.placed.graph, &limits).is_empty());
        let got = simulate_step(&p.placed.graph, &inputs(&g), 0.3).unwrap();
        assert_eq!(got.outputs, want.outputs, "{levels} levels");
    }
}

/// Packed state refreshes are bootstraps already in the step: the placement keeps them, counts
/// each once, and adds only what the rest of the step needs.
#[test]
fn packed_refreshes_count_once_each() {
    let g = lowered();
    let packed = pack_state_refreshes(&g)
        .unwrap()
        .expect("the toy's state packs");
    let groups = packed.groups.len();
    let p = place_min_time(&packed.graph, 6, &times(7)).unwrap();
    let in_graph = p
        .placed
        .graph
        .graph
        .node_weights()
        .filter(|n| matches!(n.op, HeOp::Bootstrap))
        .count();
    assert_eq!(p.placed.bootstraps, in_graph);
    assert!(p.placed.bootstraps >= groups);
    for n in p.placed.graph.graph.node_weights() {
        if matches!(n.op, HeOp::Output { .. }) {
            assert_eq!(n.ty.depth.0, 0);
        }
    }
}
