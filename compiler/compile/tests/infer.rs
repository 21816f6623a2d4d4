//! Inference plans: the forward pass alone against a training plan's parameters (encrypted
//! weights) or on its own ring (plaintext weights), the levels of the trained state, and the
//! validator's checks of the inference kind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use henn_compile::{
    CompileError, CompileOptions, InferOptions, InferWeights, compile, compile_for_inference,
    compile_inference, trained_state_level,
};
use henn_plan::io::{content_hash, from_bytes, to_bytes};
use henn_plan::plan::{InputSource, PlanKind, ScoreKind, WeightSource};
use henn_plan::validate::validate_plan;

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

#[test]
fn a_plaintext_weights_plan_has_its_own_chain() {
    let m = model();
    let plan = compile_inference(
        &m,
        &InferOptions {
            batch: 20,
            weights: InferWeights::Plaintext,
            scores: ScoreKind::Logits,
            optimize: false,
        },
    )
    .unwrap()
    .plan;
    let spec = plan.infer().unwrap();
    assert_eq!(spec.weights, WeightSource::Plaintext);
    assert_eq!(spec.input_level, plan.params.levels());
    assert_eq!(plan.params.levels(), plan.schedule.depth_per_step);
    assert!(validate_plan(&plan).is_empty());
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
