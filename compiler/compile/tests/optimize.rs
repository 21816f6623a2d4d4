//! The optimizing compile (issue 15): a plan built with the e-graph stage and with the
//! window-packed forward kernel runs on the slot simulator like the `--no-opt` plan and like the
//! plaintext twin, and compiling twice gives the same plan byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_compile::{CompileOptions, compile_with};
use henn_lower::lower::state_slot;
use henn_owner::{self as owner, Batch, State};
use henn_plan::Plan;
use henn_plan::io::to_bytes;
use henn_runtime::executor::run_step;
use henn_runtime::sim::SlotSim;
use henn_tir::interp::{Env, Tensor, run};
use henn_tir::{LayerIdx, Slot, SlotKind, build_train_step};

/// 6 → 16 → 3: hidden rows narrow enough for the packed forward kernel.
const NARROW: &str = r#"
model narrow {
  data { features = 6  classes = 3  samples = 8 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(16, activation = s)
    dense out(3, activation = s)
  }
  optimizer = sgd(lr = 0.5)
  train { batch = 8  iterations = 1  seed = 3 }
  encryption { security = insecure(ring = 2^12)  scale_bits = 40 }
}
"#;

const B: usize = 8;
const F: usize = 6;
const C: usize = 3;

fn plan(model: &henn_sema::Model, optimize: bool) -> Plan {
    let options = CompileOptions {
        optimize,
        ..CompileOptions::default()
    };
    compile_with(model, &options).unwrap().plan
}

fn data() -> (Vec<f64>, Vec<f64>) {
    let features = (0..B * F)
        .map(|i| ((i * 37 + 11) % 17) as f64 / 16.0)
        .collect();
    let mut labels = vec![0.0; B * C];
    for r in 0..B {
        labels[r * C + (r * 5 + 1) % C] = 1.0;
    }
    (features, labels)
}

fn initial_state(model: &henn_sema::Model) -> std::collections::BTreeMap<Slot, Tensor> {
    let mut state = std::collections::BTreeMap::new();
    for (l, layer) in model.layers.iter().enumerate() {
        let w = (0..layer.outputs * layer.inputs)
            .map(|i| (((i * 29 + l * 7) % 23) as f64 / 11.0 - 1.0) * 0.6)
            .collect();
        let bias = (0..layer.outputs).map(|i| (i as f64 - 1.5) * 0.1).collect();
        for (kind, v, rows, cols) in [
            (SlotKind::Weight, w, layer.outputs, layer.inputs),
            (SlotKind::Bias, bias, 1, layer.outputs),
        ] {
            if !layer.bias && kind == SlotKind::Bias {
                continue;
            }
            let slot = Slot {
                layer: LayerIdx(l),
                kind,
            };
            state.insert(slot, Tensor::from_vec(rows, cols, v).unwrap());
        }
    }
    state
}

/// One step of `plan` on the slot simulator.
fn sim_step(plan: &Plan, state: &State) -> State {
    let (features, labels) = data();
    let sim = SlotSim::new(plan.params.slots());
    let batch = Batch {
        features: &features,
        labels: &labels,
    };
    let level = plan.params.levels() as usize;
    let mut inputs = HashMap::new();
    for (name, v) in owner::pack_batch(plan, &batch).unwrap() {
        inputs.insert(name, sim.encrypt(&v, level));
    }
    for (name, v) in owner::pack_state(plan, state).unwrap() {
        inputs.insert(name, sim.encrypt(&v, level));
    }
    let out = run_step(plan, &sim, &inputs, 0, |_, _| {}).unwrap();
    let slots: HashMap<String, Vec<f64>> = out.into_iter().map(|(k, v)| (k, v.values)).collect();
    owner::unpack_state(plan, &slots).unwrap()
}

#[test]
fn optimized_and_baseline_plans_compute_the_same_step() {
    let model = henn_sema::check_source("narrow.henn", NARROW).unwrap();
    let state0 = initial_state(&model);
    let packed: State = state0
        .iter()
        .map(|(k, v)| (state_slot(*k), v.data.clone()))
        .collect();
    let (opt, base) = (plan(&model, true), plan(&model, false));
    for p in [&opt, &base] {
        assert!(henn_plan::validate::validate_plan(p).is_empty());
    }
    // The lowering at the plan's ring packs the forward products.
    let lowered = henn_lower::lower::lower_step(
        &build_train_step(&model, B).unwrap(),
        &henn_lower::lower::LowerConfig {
            slots: opt.params.slots(),
            stride: None,
        },
    )
    .unwrap();
    let kernels: Vec<&str> = lowered.products.iter().map(|p| p.kernel).collect();
    assert!(kernels.contains(&"packed_forward"), "{kernels:?}");
    let (got, want) = (sim_step(&opt, &packed), sim_step(&base, &packed));
    // The plaintext twin, one step.
    let (features, labels) = data();
    let step = build_train_step(&model, B).unwrap();
    let env = Env {
        features: Some(Tensor::from_vec(B, F, features).unwrap()),
        labels: Some(Tensor::from_vec(B, C, labels).unwrap()),
        state: state0,
        momentum: 0.0,
    };
    let twin = run(&step.graph, &env).unwrap().stored;
    assert!(!twin.is_empty());
    for (slot, t) in &twin {
        let s = state_slot(*slot);
        for (i, ((a, b), c)) in got[&s].iter().zip(&want[&s]).zip(&t.data).enumerate() {
            assert!(
                (a - b).abs() < 1e-9,
                "{s}[{i}]: optimized {a} vs baseline {b}"
            );
            assert!((a - c).abs() < 1e-9, "{s}[{i}]: optimized {a} vs twin {c}");
        }
    }
}

#[test]
fn compiling_twice_gives_the_same_plan_bytes() {
    let narrow = henn_sema::check_source("narrow.henn", NARROW).unwrap();
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/digits-bootstrapped.henn"
    ))
    .unwrap();
    let digits = henn_sema::check_source("digits-bootstrapped.henn", &src).unwrap();
    for model in [&narrow, &digits] {
        let a = to_bytes(&plan(model, true)).unwrap();
        let b = to_bytes(&plan(model, true)).unwrap();
        assert!(a == b, "{}: two compiles differ", model.name);
    }
}
