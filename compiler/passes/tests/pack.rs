//! Packed state refreshes: the packed step computes exactly what the unpacked one does, the
//! packed ciphertext is zero outside its span (so the zeroed sparse circuit returns it whole),
//! the state it hands to the next step (one period valid, the other packed values beyond) is
//! restored exactly by the next step's scatter, and the placement needs fewer bootstraps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_he_ir::sim::simulate_step;
use henn_he_ir::{HeGraph, HeOp, Limits, validate};
use henn_lower::lower::{LowerConfig, lower_step};
use henn_passes::bootstrap::place_bootstraps;
use henn_passes::pack::pack_state_refreshes;
use henn_tir::build_train_step;

const MODEL: &str = r#"
model toy {
  data { features = 4  classes = 3 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(8, activation = s)
    dense out(3, activation = s)
  }
  optimizer = nag(lr = 0.5, momentum = nesterov)
  train { batch = 8  iterations = 1  seed = 3 }
  encryption { security = insecure(ring = 2^10)  scale_bits = 40 }
}
"#;

fn lowered() -> HeGraph {
    let model = henn_sema::check_source("toy.henn", MODEL).unwrap();
    let step = build_train_step(&model, 8).unwrap();
    lower_step(
        &step,
        &LowerConfig {
            slots: 1024,
            stride: None,
        },
    )
    .unwrap()
    .graph
}

/// Every input packed as its layout says (replicated weights, zero padding), varied values.
fn inputs(g: &HeGraph) -> HashMap<String, Vec<f64>> {
    let mut out = HashMap::new();
    for (i, n) in g.graph.node_weights().enumerate() {
        if let HeOp::Input { name } = &n.op {
            let l = &n.ty.layout;
            let m: Vec<f64> = (0..l.rows * l.cols)
                .map(|k| (((k * 31 + i * 17) % 29) as f64 / 14.0 - 1.0) * 0.5)
                .collect();
            out.insert(name.clone(), l.pack(&m));
        }
    }
    out
}

/// The output's logical matrix (rows of the first period), which is what the owner reads.
fn logical(
    g: &HeGraph,
    outputs: &std::collections::BTreeMap<String, Vec<f64>>,
) -> Vec<(String, Vec<f64>)> {
    g.graph
        .node_weights()
        .filter_map(|n| match &n.op {
            HeOp::Output { name } => Some((name.clone(), n.ty.layout.unpack(&outputs[name]))),
            _ => None,
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect()
}

#[test]
fn a_packed_refresh_restores_every_state_value_exactly() {
    let g = lowered();
    let packed = pack_state_refreshes(&g)
        .unwrap()
        .expect("the toy's state packs");
    // Two weight matrices, two biases and their momentum: one group of eight.
    assert_eq!(packed.groups.len(), 1);
    assert_eq!(packed.packed_values(), 8);
    let span = packed.groups[0].span;
    assert!(
        span < 1024,
        "the packed state fits a sparse circuit: {span}"
    );
    assert!(validate(&packed.graph, &Limits::default()).is_empty());

    let x = inputs(&g);
    let want = simulate_step(&g, &x, 0.3).unwrap();
    let got = simulate_step(&packed.graph, &x, 0.3).unwrap();
    // Bit for bit: the masks multiply by one and the doublings add zeros.
    assert_eq!(logical(&g, &got.outputs), logical(&g, &want.outputs));

    // The packed ciphertext is zero past its span: a zeroed sparse bootstrap of `span` slots
    // returns it unchanged, so the identity bootstrap of the simulator is exact here.
    for n in packed.graph.graph.node_indices() {
        if matches!(packed.graph.graph[n].op, HeOp::Bootstrap) {
            let src = packed.graph.operands(henn_he_ir::ValueId(n))[0];
            let p = &got.values[&src];
            assert!(p[span..].iter().all(|&v| v == 0.0), "nonzero past the span");
        }
    }

    // Step two: the packed step's outputs (garbage beyond the first period) as its inputs give
    // exactly what the unpacked step gives on its own (clean, replicated) outputs.
    let next = |prev: &std::collections::BTreeMap<String, Vec<f64>>| {
        let mut x2 = x.clone();
        for (name, v) in prev {
            x2.insert(name.replacen('\'', "", 1), v.clone());
        }
        x2
    };
    let garbage =
        got.outputs.values().any(|v| v.iter().any(|&s| s != 0.0)) && got.outputs != want.outputs;
    assert!(
        garbage,
        "the packed outputs differ beyond their first period"
    );
    let want2 = simulate_step(&g, &next(&want.outputs), 0.3).unwrap();
    let got2 = simulate_step(&packed.graph, &next(&got.outputs), 0.3).unwrap();
    // Not bit for bit: the unpacked step's replicas of a value come from different rotations
    // and may differ in the last bit, the packed one copies the first period everywhere.
    for ((name, a), (_, b)) in logical(&g, &got2.outputs)
        .iter()
        .zip(&logical(&g, &want2.outputs))
    {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-12, "{name}: step two differs by {diff:e}");
    }
}

#[test]
fn packing_needs_fewer_bootstraps_and_fits_the_budget() {
    let g = lowered();
    let packed = pack_state_refreshes(&g).unwrap().unwrap();
    for levels in [5u32, 7, 9] {
        let base = place_bootstraps(&g, levels).unwrap();
        let placed = place_bootstraps(&packed.graph, levels).unwrap();
        let errors = validate(
            &placed.graph,
            &Limits {
                levels: Some(levels),
                rotation_keys: None,
            },
        );
        assert!(errors.is_empty(), "{levels} levels: {errors:?}");
        for n in placed.graph.graph.node_weights() {
            if matches!(n.op, HeOp::Output { .. }) {
                assert_eq!(
                    n.ty.depth.0, 0,
                    "{levels} levels: an output is not at depth 0"
                );
            }
        }
        assert!(
            placed.bootstraps + 4 <= base.bootstraps,
            "{levels} levels: {} packed vs {} unpacked",
            placed.bootstraps,
            base.bootstraps
        );
    }
}

/// A single state value (one layer without bias, SGD) saves nothing: packing is refused.
#[test]
fn a_lone_state_value_is_not_packed() {
    let src = MODEL
        .replace(
            "    dense hidden(8, activation = s)\n",
            "    bias = false\n",
        )
        .replace("nag(lr = 0.5, momentum = nesterov)", "sgd(lr = 0.5)");
    let model = henn_sema::check_source("toy.henn", &src).unwrap();
    let step = build_train_step(&model, 8).unwrap();
    let g = lower_step(
        &step,
        &LowerConfig {
            slots: 512,
            stride: None,
        },
    )
    .unwrap()
    .graph;
    assert!(pack_state_refreshes(&g).unwrap().is_none());
}
