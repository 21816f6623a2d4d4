//! Bootstrap placement: the placed step stays within the level budget between refreshes, returns
//! its state at depth 0 (level-invariant loop), and computes exactly what the unplaced step does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_he_ir::sim::simulate;
use henn_he_ir::sim::simulate_step;
use henn_he_ir::{HeGraph, HeOp, Layout, Limits, validate};
use henn_lower::lower::{LowerConfig, lower_step};
use henn_passes::bootstrap::{
    SlotNeed, SparseFill, place_bootstraps, replicate_sparse_weights, slot_need,
};
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
/// fall.
#[test]
fn a_looser_budget_needs_no_more_bootstraps() {
    let g = lowered();
    // One chain for every budget (values start with 15 limbs), so the times compare.
    let times = henn_plan::report::OpTimes::new(
        &henn_plan::report::CostModel::default(),
        &henn_plan::report::ChainShape {
            log_n: 16,
            q_limbs: 29,
            p_limbs: 4,
            dnum: 3,
            base_limbs: 15,
            bootstrap_log_slots: None,
        },
    );
    let placed: Vec<(usize, f64)> = [1u32, 4, 6, 9, 14]
        .iter()
        .map(|&l| {
            let p = henn_passes::placement::place_min_time(&g, l, &times).unwrap();
            (p.placed.bootstraps, p.est_time_s)
        })
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
