//! Bootstrap placement: the placed step stays within the level budget between refreshes, returns
//! its state at depth 0 (level-invariant loop), and computes exactly what the unplaced step does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_he_ir::bootstrap::place_bootstraps;
use henn_he_ir::lower::{LowerConfig, lower_step};
use henn_he_ir::sim::simulate_step;
use henn_he_ir::{HeGraph, HeOp, Limits, validate};
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

#[test]
fn a_looser_budget_needs_no_more_bootstraps() {
    let g = lowered();
    let counts: Vec<usize> = [1u32, 4, 6, 9, 14]
        .iter()
        .map(|&l| place_bootstraps(&g, l).unwrap().bootstraps)
        .collect();
    eprintln!(
        "depth {}, bootstraps for 1/4/6/9/14 levels: {counts:?}",
        g.max_depth()
    );
    for w in counts.windows(2) {
        assert!(w[1] <= w[0], "bootstraps by budget: {counts:?}");
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
