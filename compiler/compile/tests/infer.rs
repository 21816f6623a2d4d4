//! Inference plans: the forward pass alone against a training plan's parameters (encrypted
//! weights) or on its own ring (plaintext weights), the levels of the trained state, and the
//! validator's checks of the inference kind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;

use henn_compile::{
    CompileError, CompileOptions, InferOptions, InferWeights, compile, compile_for_inference,
    compile_inference, trained_state_level,
};
use henn_plan::HeOp;
use henn_plan::io::{content_hash, from_bytes, to_bytes};
use henn_plan::plan::{InputSource, PlanKind, ScoreKind, WeightSource};
use henn_plan::validate::validate_plan;
use henn_tir::interp::Tensor;
use henn_tir::{LayerIdx, Slot, SlotKind};

const TOY: &str = r#"
model toy {
  data { features = 6  classes = 3  samples = 8 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(4, activation = s)
    dense out(3, activation = s)
  }
  optimizer = sgd(lr = 0.5)
  train { batch = 8  iterations = 2  seed = 3 }
  encryption { security = insecure(ring = 2^12)  scale_bits = 40 }
}
"#;

fn model() -> henn_sema::Model {
    henn_sema::check_source("toy.henn", TOY).unwrap()
}

#[test]
fn a_training_plan_without_reserved_levels_has_none_left_for_inference() {
    let m = model();
    let train = compile(&m).unwrap().plan;
    assert_eq!(trained_state_level(&train), 0);
    let err = compile_inference(
        &m,
        &InferOptions {
            batch: 5,
            weights: InferWeights::Encrypted {
                train: &train,
                hash: content_hash(&train).unwrap(),
            },
            scores: ScoreKind::Logits,
            optimize: true,
        },
    )
    .unwrap_err();
    match err {
        CompileError::InferenceLevels {
            needed, available, ..
        } => {
            assert_eq!(available, 0);
            assert!(needed > 0);
        }
        e => panic!("{e}"),
    }
}

#[test]
fn the_inference_plan_shares_the_training_plans_ring_and_state_layout() {
    let m = model();
    let (train, infer) =
        compile_for_inference(&m, &CompileOptions::default(), 5, ScoreKind::Logits).unwrap();
    let (t, i) = (&train.plan, &infer.plan);
    assert_eq!(t.params, i.params);
    assert_eq!(t.data.stride, i.data.stride);
    let spec = i.infer().unwrap();
    assert_eq!(
        spec.weights,
        WeightSource::Encrypted {
            train_plan: content_hash(t).unwrap()
        }
    );
    assert_eq!(spec.input_level, trained_state_level(t));
    assert!(i.schedule.depth_per_step <= spec.input_level);
    assert!(i.schedule.depth_per_step > 0);
    // The forward pass only: no labels, no state written, one score ciphertext per block.
    assert!(i.data.outputs.is_empty());
    assert!(
        !i.data
            .inputs
            .iter()
            .any(|b| matches!(b.source, InputSource::Labels { .. }))
    );
    assert_eq!(i.data.predictions.len(), i.data.blocks.len());
    for b in i.data.inputs.iter().filter(|b| b.state_slot().is_some()) {
        let same = t.data.inputs.iter().find(|x| x.name == b.name).unwrap();
        assert_eq!(same.layout, b.layout);
    }
    // Round trip through the plan file.
    assert_eq!(&from_bytes("p", &to_bytes(i).unwrap()).unwrap(), i);
    // Logits save the last polynomial: fewer levels than activations.
    let (_, acts) =
        compile_for_inference(&m, &CompileOptions::default(), 5, ScoreKind::Activations).unwrap();
    assert!(acts.plan.schedule.depth_per_step > i.schedule.depth_per_step);
}

/// Weights and biases for every layer of `m`, `w(layer, index)` each.
fn state(m: &henn_sema::Model, w: impl Fn(usize, usize) -> f64) -> BTreeMap<Slot, Tensor> {
    let mut out = BTreeMap::new();
    for (l, layer) in m.layers.iter().enumerate() {
        let slot = |kind| Slot {
            layer: LayerIdx(l),
            kind,
        };
        let n = layer.outputs * layer.inputs;
        out.insert(
            slot(SlotKind::Weight),
            Tensor {
                rows: layer.outputs,
                cols: layer.inputs,
                data: (0..n).map(|i| w(l, i)).collect(),
            },
        );
        out.insert(
            slot(SlotKind::Bias),
            Tensor {
                rows: 1,
                cols: layer.outputs,
                data: (0..layer.outputs).map(|i| w(l, n + i)).collect(),
            },
        );
    }
    out
}

fn plaintext_plan(
    m: &henn_sema::Model,
    state: &BTreeMap<Slot, Tensor>,
    batch: usize,
) -> Result<henn_plan::Plan, CompileError> {
    compile_inference(
        m,
        &InferOptions {
            batch,
            weights: InferWeights::Plaintext {
                state,
                scaling: None,
            },
            scores: ScoreKind::Logits,
            optimize: false,
        },
    )
    .map(|c| c.plan)
}

#[test]
fn a_plaintext_weights_plan_has_its_own_chain_and_multiplies_by_plaintexts() {
    let m = model();
    let weights = state(&m, |l, i| 0.1 * ((l * 7 + i) % 5) as f64 - 0.2);
    let plan = plaintext_plan(&m, &weights, 20).unwrap();
    let spec = plan.infer().unwrap();
    assert_eq!(spec.weights, WeightSource::Plaintext);
    assert_eq!(spec.input_level, plan.params.levels());
    assert_eq!(plan.params.levels(), plan.schedule.depth_per_step);
    assert!(validate_plan(&plan).is_empty());
    // The weights are constants: no state input; ciphertext products only in the activation.
    assert!(plan.data.inputs.iter().all(|b| b.state_slot().is_none()));
    assert!(plan.data.state.is_empty());
    let ops = |p: &henn_plan::Plan, f: fn(&HeOp) -> bool| {
        p.program.instrs.iter().filter(|i| f(&i.op)).count()
    };
    let relin = |o: &HeOp| matches!(o, HeOp::Relin);
    assert!(ops(&plan, |o| matches!(o, HeOp::MulCP)) > 0);
    // One level per product, the hidden activation's two: 1 + 2 + 1.
    assert_eq!(plan.schedule.depth_per_step, 4);
    // Shallower than the same pass on encrypted weights (three levels per product).
    let (_, enc) =
        compile_for_inference(&m, &CompileOptions::default(), 20, ScoreKind::Logits).unwrap();
    assert!(enc.plan.schedule.depth_per_step >= plan.schedule.depth_per_step + 4);
    // The cubic's products (one block of 20 queries): the products of the weights add none.
    assert!(ops(&plan, relin) < ops(&enc.plan, relin));
    assert!(ops(&plan, relin) <= 2);
    // Round trip through the plan file.
    assert_eq!(&from_bytes("p", &to_bytes(&plan).unwrap()).unwrap(), &plan);
}

#[test]
fn the_plan_hash_binds_the_plaintext_weights_and_their_scaling() {
    let m = model();
    let weights = state(&m, |l, i| 0.05 * ((3 * l + i) % 7) as f64 - 0.1);
    let hash = |p: &henn_plan::Plan| content_hash(p).unwrap();
    let a = plaintext_plan(&m, &weights, 5).unwrap();
    // Deterministic: the same weights compile to the same plan.
    assert_eq!(hash(&a), hash(&plaintext_plan(&m, &weights, 5).unwrap()));
    // One weight changed, or one bias: another plan.
    for kind in [SlotKind::Weight, SlotKind::Bias] {
        let mut other = weights.clone();
        let slot = Slot {
            layer: LayerIdx(1),
            kind,
        };
        other.get_mut(&slot).unwrap().data[1] += 1e-3;
        assert_ne!(
            hash(&a),
            hash(&plaintext_plan(&m, &other, 5).unwrap()),
            "{kind:?}"
        );
    }
    // The scaling the weights were trained with is part of the plan.
    let scaler = henn_data::Scaler {
        kind: henn_data::ScalingKind::MinMax,
        offset: vec![0.5; 6],
        factor: vec![2.0; 6],
    };
    let scaled = compile_inference(
        &m,
        &InferOptions {
            batch: 5,
            weights: InferWeights::Plaintext {
                state: &weights,
                scaling: Some(&scaler),
            },
            scores: ScoreKind::Logits,
            optimize: false,
        },
    )
    .unwrap()
    .plan;
    assert_eq!(scaled.owner.scaling.fitted.as_ref(), Some(&scaler));
    assert_ne!(hash(&a), hash(&scaled));
}

#[test]
fn plaintext_weights_must_fit_the_model() {
    let m = model();
    let mut weights = state(&m, |_, _| 0.1);
    let w1 = Slot {
        layer: LayerIdx(0),
        kind: SlotKind::Weight,
    };
    weights.get_mut(&w1).unwrap().data.pop();
    assert!(matches!(
        plaintext_plan(&m, &weights, 5),
        Err(CompileError::InferenceMismatch(_))
    ));
    let mut weights = state(&m, |_, _| 0.1);
    weights.get_mut(&w1).unwrap().data[0] = f64::NAN;
    assert!(plaintext_plan(&m, &weights, 5).is_err());
    let mut weights = state(&m, |_, _| 0.1);
    weights.remove(&w1);
    assert!(plaintext_plan(&m, &weights, 5).is_err());
}

#[test]
fn the_validator_checks_the_inference_kind() {
    let m = model();
    let (train, infer) =
        compile_for_inference(&m, &CompileOptions::default(), 5, ScoreKind::Logits).unwrap();
    // An inference plan that claims more levels than the chain has.
    let mut bad = infer.plan.clone();
    if let PlanKind::Infer(spec) = &mut bad.kind {
        spec.input_level = bad.params.levels() + 1;
    }
    assert!(!validate_plan(&bad).is_empty());
    // A forward pass deeper than its input level.
    let mut bad = infer.plan.clone();
    if let PlanKind::Infer(spec) = &mut bad.kind {
        spec.input_level = bad.schedule.depth_per_step - 1;
    }
    assert!(!validate_plan(&bad).is_empty());
    // A training plan with predictions, an inference plan without them.
    let mut bad = train.plan.clone();
    bad.data.predictions = infer.plan.data.predictions.clone();
    assert!(!validate_plan(&bad).is_empty());
    let mut bad = infer.plan.clone();
    bad.data.predictions.clear();
    assert!(!validate_plan(&bad).is_empty());
    // A training plan relabelled as inference (it writes state, takes labels).
    let mut bad = train.plan.clone();
    bad.kind = infer.plan.kind.clone();
    assert!(!validate_plan(&bad).is_empty());
}
