//! Bootstrap placement: the placed step stays within the level budget between refreshes, returns
//! its state at depth 0 (level-invariant loop), and computes exactly what the unplaced step does.
//! The cost-driven placement: on small steps no placement (brute force over every subset of the
//! values that may be refreshed) is cheaper under the same cost model; on the training step it
//! never loses to greedy and a looser budget never costs more.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeSet, HashMap};

use henn_he_ir::sim::simulate;
use henn_he_ir::sim::simulate_step;
use henn_he_ir::{HeGraph, HeOp, Layout, Limits, validate};
use henn_lower::lower::{LowerConfig, lower_step};
use henn_passes::bootstrap::{
    SlotNeed, SparseFill, place_bootstraps, place_refreshes, replicate_sparse_weights, slot_need,
};
use henn_passes::pack::pack_state_refreshes;
use henn_passes::placement::{
    Method, place_min_time, place_min_time_each, refresh_candidates, step_time,
};
use henn_plan::report::{ChainShape, CostModel, OpTimes};
use henn_tir::build_train_step;

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
    lowered_in(64)
}

fn lowered_in(slots: usize) -> HeGraph {
    let model = henn_sema::check_source("toy.henn", MODEL).unwrap();
    let step = build_train_step(&model, 12).unwrap();
    lower_step(
        &step,
        &LowerConfig {
            slots,
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

/// The report's cost model on a 2^16 ring whose values start with `base` limbs.
fn placement_times(base: usize) -> OpTimes {
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

fn bootstraps(g: &HeGraph) -> usize {
    g.graph
        .node_weights()
        .filter(|n| matches!(n.op, HeOp::Bootstrap))
        .count()
}

#[test]
fn placement_fits_the_budget_and_keeps_the_results() {
    let g = lowered();
    let depth = g.max_depth();
    let want = simulate_step(&g, &inputs(&g), 0.3).unwrap();
    for levels in [4u32, 6, 9] {
        assert!(depth > levels, "the test needs a step deeper than {levels}");
        let placed = place_bootstraps(&g, levels).unwrap();
        let errors = validate(
            &placed.graph,
            &Limits {
                levels: Some(levels),
                rotation_keys: None,
            },
        );
        assert!(errors.is_empty(), "{levels} levels: {errors:?}");
        assert_eq!(bootstraps(&placed.graph), placed.bootstraps);
        assert!(placed.bootstraps > 0);
        // Level-invariant: every output (the next step's state) leaves at depth 0.
        for n in placed.graph.graph.node_weights() {
            if matches!(n.op, HeOp::Output { .. }) {
                assert_eq!(
                    n.ty.depth.0, 0,
                    "{levels} levels: output at depth {}",
                    n.ty.depth.0
                );
            }
        }
        // The slot simulator treats a bootstrap as the identity: same values, bit for bit.
        let got = simulate_step(&placed.graph, &inputs(&g), 0.3).unwrap();
        assert_eq!(got.outputs, want.outputs, "{levels} levels");
    }
}

/// The cost-driven placement is monotone in the budget (the greedy one is not: 20 bootstraps at
/// 4 levels and 21 at 6 on this lowering): every placement that fits a budget fits a looser one,
/// so with one cost model for every budget the least time, and with it the bootstraps, can only
/// fall. (On this lowering the search is bounded, not exact, at some budgets: the placements of
/// the tighter budgets are carried up, `place_min_time_each`.)
#[test]
fn a_looser_budget_needs_no_more_bootstraps() {
    let g = lowered();
    // One chain for every budget (values start with 15 limbs), so the times compare.
    let times = placement_times(15);
    let placed: Vec<(usize, f64)> = place_min_time_each(&g, &[1, 4, 6, 9, 14], &times)
        .unwrap()
        .iter()
        .map(|p| (p.placed.bootstraps, p.est_time_s))
        .collect();
    eprintln!(
        "depth {}, (bootstraps, seconds) for 1/4/6/9/14 levels: {placed:?}",
        g.max_depth()
    );
    for w in placed.windows(2) {
        assert!(w[1].0 <= w[0].0, "bootstraps by budget: {placed:?}");
        assert!(
            w[1].1 <= w[0].1 * (1.0 + 1e-12),
            "time by budget: {placed:?}"
        );
    }
}

#[test]
fn a_budget_of_no_levels_is_refused_with_a_reason() {
    let g = lowered();
    let err = place_bootstraps(&g, 0)
        .map(|p| p.bootstraps)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bootstrap placement"), "{err}");
}

/// A graph read back from its serialized form (which does not carry the builder's indexes)
/// places the same way, and a graph rebuilt on its constant pool finds constants by name
/// instead of adding them again.
#[test]
fn placement_and_constant_pool_work_on_a_deserialized_graph() {
    let g = lowered();
    let text = serde_json::to_string(&g).unwrap();
    let read: HeGraph = serde_json::from_str(&text).unwrap();
    let a = place_bootstraps(&g, 4).unwrap();
    let b = place_bootstraps(&read, 4).unwrap();
    assert_eq!(a.bootstraps, b.bootstraps);
    assert_eq!(a.graph.len(), b.graph.len());
    assert_eq!(a.graph.consts.len(), g.consts.len());

    let first = read
        .consts
        .first()
        .expect("the lowering uses masks")
        .clone();
    let mut rebuilt = HeGraph::with_constants_of(&read);
    let v = rebuilt.constant(&first.name, first.layout.clone(), Vec::new());
    assert_eq!(rebuilt.consts.len(), read.consts.len());
    assert_eq!(
        rebuilt.pool_constant(henn_he_ir::op::ConstId(0)).unwrap(),
        v
    );
    assert!(
        rebuilt
            .pool_constant(henn_he_ir::op::ConstId(read.consts.len() as u32))
            .is_err()
    );
}

/// A graph that bootstraps the given inputs and outputs them.
fn refreshing(layouts: &[Layout]) -> HeGraph {
    let mut g = HeGraph::new();
    for (i, l) in layouts.iter().enumerate() {
        let x = g.input(&format!("x{i}"), l.clone());
        let b = g.op(HeOp::Bootstrap, &[x]).unwrap();
        g.output(&format!("y{i}"), b).unwrap();
    }
    g
}

#[test]
fn the_sparse_circuit_follows_the_refreshed_layouts() {
    // 64 slots, rows of stride 4: weights with 3 rows (period 4) span 16 slots, a 5-row sample
    // block 20 (→ 32).
    let w = Layout::weights(3, 2, 4, 64);
    let x = Layout::samples(5, 3, 4, 64);
    let full = Layout::samples(16, 3, 4, 64);
    let garbage = Layout::samples(5, 3, 4, 64).with_padding(henn_he_ir::Padding::Garbage);
    let flat = Layout {
        packing: henn_he_ir::Packing::Flat,
        ..x.clone()
    };
    let need = |ls: &[Layout]| slot_need(&refreshing(ls));
    // Weights alone come back whole from a periodic circuit over one period.
    assert_eq!(
        need(std::slice::from_ref(&w)),
        SlotNeed::Sparse {
            slots: 16,
            fill: SparseFill::Periodic
        }
    );
    // Sample rows need zeros beyond them, whatever their column padding says.
    for samples in [&x, &garbage] {
        assert_eq!(
            need(&[w.clone(), samples.clone()]),
            SlotNeed::Sparse {
                slots: 32,
                fill: SparseFill::Zeroed
            }
        );
    }
    assert_eq!(need(&[w.clone(), full]), SlotNeed::Full);
    assert_eq!(need(&[w.clone(), flat]), SlotNeed::Full);
    assert_eq!(need(&[]), SlotNeed::Full);
}

/// After a zeroed sparse bootstrap (the first `n` slots refreshed, zeros beyond), the inserted
/// rotations restore replicated weights over every slot, and leave sample rows alone.
#[test]
fn weights_are_replicated_again_after_a_zeroed_sparse_bootstrap() {
    let w = Layout::weights(3, 2, 4, 64);
    let x = Layout::samples(5, 3, 4, 64);
    let g = refreshing(&[w.clone(), x.clone()]);
    let (r, rotations) = replicate_sparse_weights(&g, 32).unwrap();
    assert_eq!(rotations, 1, "64 / 32 slots: one doubling");
    assert!(validate(&r, &Limits::default()).is_empty());
    // The simulator's bootstrap is the identity, so feed what the zeroed circuit returns.
    let weights: Vec<f64> = (0..64)
        .map(|s| {
            if s % 4 < 2 && (s / 4) % 4 < 3 {
                1.0 + (s % 16) as f64
            } else {
                0.0
            }
        })
        .collect();
    let samples: Vec<f64> = (0..64)
        .map(|s| if s < 20 && s % 4 < 3 { s as f64 } else { 0.0 })
        .collect();
    let zeroed =
        |v: &[f64]| -> Vec<f64> { (0..64).map(|s| if s < 32 { v[s] } else { 0.0 }).collect() };
    let inputs = HashMap::from([
        ("x0".to_owned(), zeroed(&weights)),
        ("x1".to_owned(), zeroed(&samples)),
    ]);
    let out = simulate(&r, &inputs).unwrap().outputs;
    assert_eq!(out["y0"], weights);
    assert_eq!(out["y1"], samples);
    // A circuit over all slots needs nothing.
    let (same, none) = replicate_sparse_weights(&g, 64).unwrap();
    assert_eq!((same.len(), none), (g.len(), 0));
}

/// On a lowered training step: the placed graph's sparse need follows the batch's span, and the
/// replicated graph still validates within the same level budget.
#[test]
fn a_placed_training_step_takes_a_sparse_circuit() {
    // 12 samples fill all of 64 slots (two blocks) and of 256 (the lowering's stride is 16
    // there: 192 slots), and 256 of 512.
    for slots in [64, 256] {
        let full = place_bootstraps(&lowered_in(slots), 6).unwrap();
        assert_eq!(slot_need(&full.graph), SlotNeed::Full, "{slots} slots");
    }
    let placed = place_bootstraps(&lowered_in(512), 6).unwrap();
    let SlotNeed::Sparse { slots, fill } = slot_need(&placed.graph) else {
        panic!("12 samples in 512 slots should not need every slot");
    };
    assert_eq!((slots, fill), (256, SparseFill::Zeroed));
    let graph = match fill {
        SparseFill::Zeroed => replicate_sparse_weights(&placed.graph, slots).unwrap().0,
        SparseFill::Periodic => placed.graph,
    };
    let errors = validate(
        &graph,
        &Limits {
            levels: Some(6),
            rotation_keys: None,
        },
    );
    assert!(errors.is_empty(), "{errors:?}");
}

/// On the toy training step the search never does worse than greedy, keeps the results bit for
/// bit (the simulator's bootstrap is the identity), and fits the budget.
#[test]
fn on_a_training_step_the_search_beats_or_ties_greedy_and_keeps_the_results() {
    let g = lowered();
    let want = simulate_step(&g, &inputs(&g), 0.3).unwrap();
    for levels in [2u32, 4, 6, 9] {
        let t = placement_times(levels as usize + 1);
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
    let p = place_min_time(&packed.graph, 6, &placement_times(7)).unwrap();
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
            1 => g.mul_plain(a, mask).unwrap(),
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
    let t = placement_times(8);
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
