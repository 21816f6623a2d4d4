//! Differential test of the lowering: one training step lowered to the HE IR and run on the slot
//! simulator must reproduce the tensor-IR interpreter's updated state, weight by weight.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeMap, HashMap};

use henn_he_ir::sim::simulate_step;
use henn_he_ir::{Limits, validate};
use henn_lower::kernels::registry::KernelRegistry;
use henn_lower::lower::{LowerConfig, lower_step, lower_step_with, state_slot};
use henn_plan::plan::InputSource;
use henn_sema::*;
use henn_tir::interp::{Env, Tensor, run};
use henn_tir::{LayerIdx, Slot, SlotKind, build_train_step};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

fn model(
    widths: &[usize],
    bias: bool,
    optimizer: Optimizer,
    derivative: Derivative,
    loss: Loss,
) -> Model {
    let act = Activation::Polynomial(PolyActivation {
        coeffs: vec![0.5, 0.106795345, 0.0, -0.000385032598],
        interval: Interval { lo: -8.0, hi: 8.0 },
        origin: PolyOrigin::Explicit,
        derivative,
    });
    let layers = widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| DenseLayer {
            name: format!("dense{i}"),
            inputs: w[0],
            outputs: w[1],
            bias,
            activation: act.clone(),
        })
        .collect();
    Model {
        name: "t".into(),
        source_name: "test".into(),
        data: DataSpec {
            features: widths[0],
            classes: widths[widths.len() - 1],
            samples: None,
            feature_range: None,
            scaling: Scaling::None,
            train: None,
            test: None,
        },
        layers,
        loss,
        optimizer,
        schedule: Schedule {
            batch_size: 8,
            length: TrainLength::Iterations(1),
            seed: 1,
        },
        init: Init::Glorot,
        encryption: EncryptionSpec {
            security: Security::Bits128,
            ring: RingDegree::Auto,
            scale_bits: 40,
            bootstrapping: Bootstrapping::Off,
            key_memory_cap: None,
            layout: LayoutHint::Auto,
        },
    }
}

fn random(rng: &mut ChaCha8Rng, rows: usize, cols: usize, scale: f64) -> Tensor {
    let data = (0..rows * cols)
        .map(|_| ((rng.next_u32() as f64 / u32::MAX as f64) * 2.0 - 1.0) * scale)
        .collect();
    Tensor::from_vec(rows, cols, data).unwrap()
}

fn check_step(m: &Model, batch: usize, slots: usize) -> u32 {
    check_lowered(m, batch, slots).graph.max_depth()
}

/// Lower one step, run it on the slot simulator and compare every stored state tensor (block by
/// block) with the tensor-IR interpreter.
fn check_lowered(m: &Model, batch: usize, slots: usize) -> henn_lower::lower::Lowered {
    check_lowered_with(m, batch, slots, &KernelRegistry::standard())
}

fn check_lowered_with(
    m: &Model,
    batch: usize,
    slots: usize,
    kernels: &KernelRegistry,
) -> henn_lower::lower::Lowered {
    let step = build_train_step(m, batch).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x = random(&mut rng, batch, m.data.features, 1.0);
    let mut y = Tensor::zeros(batch, m.data.classes);
    for r in 0..batch {
        let k = (rng.next_u32() as usize) % m.data.classes;
        y.data[r * m.data.classes + k] = 1.0;
    }
    let mut state = BTreeMap::new();
    for (l, layer) in m.layers.iter().enumerate() {
        let w = random(&mut rng, layer.outputs, layer.inputs, 0.5);
        let b = random(&mut rng, 1, layer.outputs, 0.5);
        state.insert(
            Slot {
                layer: LayerIdx(l),
                kind: SlotKind::Weight,
            },
            w.clone(),
        );
        state.insert(
            Slot {
                layer: LayerIdx(l),
                kind: SlotKind::WeightPrev,
            },
            w,
        );
        if layer.bias {
            state.insert(
                Slot {
                    layer: LayerIdx(l),
                    kind: SlotKind::Bias,
                },
                b.clone(),
            );
            state.insert(
                Slot {
                    layer: LayerIdx(l),
                    kind: SlotKind::BiasPrev,
                },
                b,
            );
        }
    }
    let env = Env {
        features: Some(x.clone()),
        labels: Some(y.clone()),
        state: state.clone(),
        momentum: 0.3,
    };
    let want = run(&step.graph, &env).unwrap();

    let lowered = lower_step_with(
        &step,
        &LowerConfig {
            slots,
            stride: None,
        },
        kernels,
    )
    .unwrap();
    assert!(validate(&lowered.graph, &Limits::default()).is_empty());
    let mut inputs = HashMap::new();
    for b in &lowered.inputs {
        let packed = match &b.source {
            InputSource::Features {
                first_row, rows, ..
            } => b
                .layout
                .pack(&x.data[first_row * x.cols..(first_row + rows) * x.cols]),
            InputSource::Labels {
                first_row, rows, ..
            } => b
                .layout
                .pack(&y.data[first_row * y.cols..(first_row + rows) * y.cols]),
            InputSource::State(s) => {
                let slot = state.keys().find(|k| state_slot(**k) == *s).unwrap();
                b.layout.pack_block(&state[slot].data).unwrap()
            }
        };
        inputs.insert(b.name.clone(), packed);
    }
    let got = simulate_step(&lowered.graph, &inputs, 0.3).unwrap();
    assert!(!lowered.outputs.is_empty());
    let mut covered: HashMap<henn_plan::plan::StateSlot, usize> = HashMap::new();
    for o in &lowered.outputs {
        let name = &o.name;
        let slot = state.keys().find(|k| state_slot(**k) == o.slot).unwrap();
        let out = lowered
            .graph
            .graph
            .node_weights()
            .find(|n| matches!(&n.op, henn_he_ir::HeOp::Output { name: o } if o == name))
            .unwrap();
        assert_eq!(out.ty.layout.first_row, o.layout.first_row, "{name}");
        let values = o.layout.unpack(&got.outputs[name]);
        let expect = &want.stored[slot];
        let start = o.layout.first_row * expect.cols;
        let expect = &expect.data[start..start + values.len()];
        for (i, (a, b)) in values.iter().zip(expect).enumerate() {
            assert!((a - b).abs() < 1e-9, "{name}[{i}]: HE sim {a} vs TIR {b}");
        }
        *covered.entry(o.slot).or_default() += values.len();
    }
    // The blocks of every stored tensor cover it exactly.
    for (slot, n) in covered {
        let tir = state.keys().find(|k| state_slot(**k) == slot).unwrap();
        assert_eq!(n, want.stored[tir].data.len(), "{slot}");
    }
    lowered
}

#[test]
fn sgd_step_with_bias_matches_the_interpreter() {
    let m = model(
        &[5, 8, 3],
        true,
        Optimizer::Sgd { lr: 0.5 },
        Derivative::Polynomial,
        Loss::Bce,
    );
    // 12 samples over blocks of 8 rows (stride 16 in 128 slots): two sample ciphertexts.
    check_step(&m, 12, 128);
}

#[test]
fn nag_mse_three_layers_from_output_derivative() {
    let m = model(
        &[6, 4, 4, 2],
        true,
        Optimizer::Nag {
            lr: 0.1,
            momentum: Momentum::Nesterov,
        },
        Derivative::FromOutput,
        Loss::Mse,
    );
    check_step(&m, 20, 256);
}

#[test]
fn no_bias_single_ciphertext_depth() {
    let m = model(
        &[4, 4, 2],
        false,
        Optimizer::Sgd { lr: 1.0 },
        Derivative::Polynomial,
        Loss::Bce,
    );
    let depth = check_step(&m, 4, 64);
    // forward 2×(3 + 2), backprop 2 + σ̃′ product 1, gradient 3, lr·G 1 → about 17.
    assert!((15..=20).contains(&depth), "depth {depth}");
}

/// Names of the ciphertexts that carry state `W{layer}` (1-based).
fn weight_inputs(l: &henn_lower::lower::Lowered, layer: usize) -> Vec<String> {
    l.inputs
        .iter()
        .filter(|b| {
            matches!(b.source, InputSource::State(s)
                if s.layer + 1 == layer && s.kind == henn_plan::plan::StateKind::Weight)
        })
        .map(|b| b.name.clone())
        .collect()
}

/// The product kernels the lowering chose, by name.
fn chosen(l: &henn_lower::lower::Lowered) -> Vec<&'static str> {
    l.products.iter().map(|p| p.kernel).collect()
}

#[test]
fn hidden_layers_wider_than_a_ciphertext_are_split_into_row_blocks() {
    // 4 rows per ciphertext (stride 32 in 128 slots): W1 (16 rows) is 4 row blocks and W2 (8 rows)
    // 2, with their momentum, gradients and updates; the back-propagation through W2 walks its
    // blocks; 12 samples are 3 sample blocks. Both back-propagation kernels are checked.
    let m = model(
        &[5, 16, 8, 3],
        true,
        Optimizer::Nag {
            lr: 0.2,
            momentum: Momentum::Nesterov,
        },
        Derivative::Polynomial,
        Loss::Bce,
    );
    for (kernels, backprop) in [
        (KernelRegistry::standard(), "diagonal_backprop"),
        (KernelRegistry::volley_revolver(), "broadcast_backprop"),
    ] {
        let lowered = check_lowered_with(&m, 12, 128, &kernels);
        assert_eq!((lowered.stride, lowered.rows_per_ct), (32, 4));
        assert_eq!(weight_inputs(&lowered, 1), ["W1.0", "W1.1", "W1.2", "W1.3"]);
        assert_eq!(weight_inputs(&lowered, 2), ["W2.0", "W2.1"]);
        assert_eq!(weight_inputs(&lowered, 3), ["W3"]);
        assert_eq!(lowered.blocks, [4, 4, 4]);
        assert_eq!(
            chosen(&lowered).iter().filter(|k| **k == backprop).count(),
            2,
            "{:?}",
            chosen(&lowered)
        );
    }
}

#[test]
fn hidden_width_64_at_eight_rows_per_ciphertext() {
    // The brief's case: a 64-wide hidden layer where a ciphertext holds 8 rows (stride 128 in
    // 1024 slots), SGD, no bias, σ̃′ from the output.
    let m = model(
        &[6, 64, 3],
        false,
        Optimizer::Sgd { lr: 0.5 },
        Derivative::FromOutput,
        Loss::Bce,
    );
    for kernels in [
        KernelRegistry::standard(),
        KernelRegistry::volley_revolver(),
    ] {
        let lowered = check_lowered_with(&m, 12, 1024, &kernels);
        assert_eq!(lowered.rows_per_ct, 8);
        assert_eq!(weight_inputs(&lowered, 1).len(), 8);
        let kernels = chosen(&lowered);
        // The forward products are Volley Revolver, plain or window-packed.
        assert!(
            (kernels.contains(&"vr_forward") || kernels.contains(&"packed_forward"))
                && kernels.contains(&"vr_weight_gradient")
        );
    }
}

#[test]
fn kernel_costs_add_up_to_the_lowered_graph() {
    let m = model(
        &[5, 16, 3],
        false,
        Optimizer::Sgd { lr: 0.5 },
        Derivative::Polynomial,
        Loss::Bce,
    );
    let step = build_train_step(&m, 12).unwrap();
    let cfg = LowerConfig {
        slots: 128,
        stride: None,
    };
    let rotations = |l: &henn_lower::lower::Lowered| l.graph.op_counts()["rotate"];
    let predicted = |l: &henn_lower::lower::Lowered| -> usize {
        l.products.iter().map(|p| p.cost.rotations).sum()
    };
    // Volley Revolver only, no biases: every rotation of the step belongs to exactly one product,
    // so the registry's predicted costs add up to the graph's rotation count.
    let vr = lower_step_with(&step, &cfg, &KernelRegistry::volley_revolver()).unwrap();
    assert_eq!(vr.products.len(), 5, "{:?}", vr.products); // Z1, Z2, E2·W2, G2, G1
    assert_eq!(rotations(&vr), predicted(&vr));
    let relins: usize = vr.products.iter().map(|p| p.cost.relins).sum();
    // The cubic activations add relinearizations of their own.
    assert!(vr.graph.op_counts()["relin"] > relins);
    // The default registry picks the diagonal back-propagation, which is cheaper on its own and
    // shares its copies of E2 with the gradient G2: fewer rotations than predicted standalone.
    let std = lower_step(&step, &cfg).unwrap();
    assert!(chosen(&std).contains(&"diagonal_backprop"));
    assert!(predicted(&std) < predicted(&vr));
    assert!(rotations(&std) < predicted(&std));
    assert!(rotations(&std) < rotations(&vr));
}

#[test]
fn the_seed_step_with_packed_forward_products_matches_the_interpreter() {
    // examples/seed.henn at N = 2^16: X·W1ᵀ packs sums (401 columns), the hidden layers pack
    // products; the step must still reproduce the interpreter, and cost fewer key switches than
    // the Volley Revolver registry's step (issue 15; BENCHMARKS.md).
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed.henn"
    ))
    .unwrap();
    let m = henn_sema::check_source("seed.henn", &src).unwrap();
    let batch = m.schedule.batch_size;
    let packed = check_lowered(&m, batch, 1 << 15);
    let forward = chosen(&packed);
    assert_eq!(
        forward.iter().filter(|k| **k == "packed_forward").count(),
        3,
        "{forward:?}"
    );
    let mut plain = KernelRegistry::volley_revolver();
    plain.register(Box::new(henn_lower::kernels::registry::DiagonalBackprop));
    let baseline = check_lowered_with(&m, batch, 1 << 15, &plain);
    assert_eq!(packed.graph.max_depth(), baseline.graph.max_depth());
    let (ks, ks0) = (packed.graph.key_switches(), baseline.graph.key_switches());
    assert!(ks * 10 < ks0 * 7, "{ks} vs {ks0} key switches");
}
