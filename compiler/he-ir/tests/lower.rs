//! Differential test of the lowering: one training step lowered to the HE IR and run on the slot
//! simulator must reproduce the tensor-IR interpreter's updated state, weight by weight.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeMap, HashMap};

use henn_he_ir::lower::{LowerConfig, lower_step, state_slot};
use henn_he_ir::sim::simulate_step;
use henn_he_ir::{Limits, validate};
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

    let lowered = lower_step(
        &step,
        &LowerConfig {
            slots,
            stride: None,
        },
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
                b.layout.pack(&state[slot].data)
            }
        };
        inputs.insert(b.name.clone(), packed);
    }
    let got = simulate_step(&lowered.graph, &inputs, 0.3).unwrap();
    assert!(!lowered.outputs.is_empty());
    for o in &lowered.outputs {
        let name = &o.name;
        let slot = state.keys().find(|k| state_slot(**k) == o.slot).unwrap();
        let out = lowered
            .graph
            .graph
            .node_weights()
            .find(|n| matches!(&n.op, henn_he_ir::HeOp::Output { name: o } if o == name))
            .unwrap();
        let values = out.ty.layout.unpack(&got.outputs[name]);
        let expect = &want.stored[slot];
        assert_eq!(values.len(), expect.data.len(), "{name}");
        for (i, (a, b)) in values.iter().zip(&expect.data).enumerate() {
            assert!((a - b).abs() < 1e-9, "{name}[{i}]: HE sim {a} vs TIR {b}");
        }
    }
    lowered.graph.max_depth()
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
