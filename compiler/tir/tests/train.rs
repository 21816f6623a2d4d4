//! The plaintext trainer end to end on the bundled data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod common;

use std::path::Path;

use henn_data::csv::{Expect, load_csv};
use henn_sema::{Model, Momentum, Optimizer, Scaling, TrainLength};
use henn_tir::train::{Trainer, evaluate};
use henn_tir::weights::WeightsFile;
use henn_tir::{LayerIdx, Slot, SlotKind, TrainError};

fn example(name: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    henn_sema::check_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn load(model: &Model) -> (henn_data::Dataset, henn_data::Dataset) {
    let e = Expect {
        features: Some(model.data.features),
        classes: Some(model.data.classes),
    };
    (
        load_csv(model.data.train.as_deref().unwrap(), e).unwrap(),
        load_csv(model.data.test.as_deref().unwrap(), e).unwrap(),
    )
}

fn run_all(t: &mut Trainer) {
    while !t.done() {
        t.run_epoch(|_| {}).unwrap();
    }
}

/// The shipped `examples/digits.henn` reaches ≥ 95 % test accuracy within its 20 epochs and never
/// leaves the activation's interval (≈ 0.15 s in release).
#[test]
fn digits_example_reaches_target_in_range() {
    let model = example("digits.henn");
    assert!(matches!(model.schedule.length, TrainLength::Epochs(e) if e <= 20));
    let (train, test) = load(&model);
    let mut t = Trainer::new(&model, &train).unwrap();
    run_all(&mut t);
    let ev = t.evaluate(&test).unwrap();
    assert!(ev.accuracy >= 0.95, "test accuracy {}", ev.accuracy);
    assert_eq!(t.range_violations(), vec![]);
}

#[test]
fn same_seed_same_weights_other_seed_differs() {
    let mut model = common::digits_model();
    model.schedule.length = TrainLength::Epochs(1);
    let (train, _) = load(&model);
    let w = |m: &Model| {
        let mut t = Trainer::new(m, &train).unwrap();
        run_all(&mut t);
        t.weights()
    };
    let a = w(&model);
    assert!(a == w(&model), "same seed gave different weights");
    model.schedule.seed += 1;
    assert!(
        a.layers != w(&model).layers,
        "another seed gave the same weights"
    );
}

#[test]
fn weights_roundtrip_and_evaluate_identically() {
    let mut model = common::digits_model();
    model.schedule.length = TrainLength::Epochs(2);
    let (train, test) = load(&model);
    let mut t = Trainer::new(&model, &train).unwrap();
    run_all(&mut t);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.json");
    t.weights().save(&path).unwrap();
    let back = WeightsFile::load(&path).unwrap();
    assert!(
        back == t.weights(),
        "weights changed in the JSON round trip"
    );
    let csv = dir.path().join("w.csv");
    t.weights().save(&csv).unwrap();
    assert!(
        WeightsFile::load(&csv).unwrap() == t.weights(),
        "weights changed in the CSV round trip"
    );
    std::fs::write(
        &csv,
        "format,henn-weights,1\nlayer,0,h,2,2,1\nw,0,2,0,1.5\n",
    )
    .unwrap();
    let err = WeightsFile::load(&csv).unwrap_err().to_string();
    assert!(
        err.contains("line 3") && err.contains("outside 2x2"),
        "{err}"
    );
    let state = henn_tir::weights::model_state(&back, &model, &path).unwrap();
    assert_eq!(
        evaluate(&model, &state, &back.scaling, &test).unwrap(),
        t.evaluate(&test).unwrap()
    );
    // A model with another width is rejected with the layer named.
    let mut other = model.clone();
    other.layers[0].outputs = 32;
    other.layers[1].inputs = 32;
    let err = henn_tir::weights::model_state(&back, &other, &path).unwrap_err();
    assert!(
        matches!(err, TrainError::Weights { .. }) && err.to_string().contains("layer 1"),
        "{err}"
    );
}

/// The paper's cubic on standardized digits: pre-activations leave [−8, 8] in the first epoch,
/// and the violation names the layer.
#[test]
fn range_violation_is_reported_with_layer() {
    let mut model = common::digits_model();
    model.layers[0].name = "hidden1".to_owned();
    model.data.scaling = Scaling::Standardize;
    model.schedule.length = TrainLength::Epochs(1);
    let (train, _) = load(&model);
    let mut t = Trainer::new(&model, &train).unwrap();
    let result = t.run_epoch(|_| {});
    let v = t.range_violations();
    assert!(!v.is_empty(), "{result:?}");
    assert!(
        v.iter()
            .any(|v| v.name == "hidden1" && (v.seen.0 < -8.0 || v.seen.1 > 8.0)),
        "{v:?}"
    );
    assert!(
        v[0].to_string()
            .contains("outside the activation's fitted interval")
    );
}

#[test]
fn divergence_is_a_typed_error() {
    let mut model = common::digits_model();
    model.optimizer = Optimizer::Sgd { lr: 1e6 };
    let (train, _) = load(&model);
    let mut t = Trainer::new(&model, &train).unwrap();
    let mut err = None;
    for _ in 0..20 {
        if let Err(e) = t.run_epoch(|_| {}) {
            err = Some(e);
            break;
        }
    }
    assert!(matches!(err, Some(TrainError::Diverged { .. })), "{err:?}");
}

/// The seed's regime (128 samples, one full batch, 2 NAG iterations with Nesterov's sequence)
/// takes exactly 2 steps on the first 128 rows; the Nesterov γ₁ = 0, so step 1 is plain SGD.
#[test]
fn seed_regime_takes_two_full_batch_steps() {
    let mut model = common::seed_model();
    model.data.features = 64;
    model.layers[0].inputs = 64;
    let (train, test) = load(&common::digits_model());
    let mut t = Trainer::new(&model, &train).unwrap();
    assert_eq!((t.samples(), t.total_steps()), (128, 2));
    let before = t.state().clone();
    let first = t.run_epoch(|_| {}).unwrap();
    assert_eq!(first.steps, 1, "one full batch per epoch");
    let second = t.run_epoch(|_| {}).unwrap();
    assert_eq!(second.steps, 2);
    assert!(t.done());
    let w = Slot {
        layer: LayerIdx(0),
        kind: SlotKind::Weight,
    };
    assert_ne!(before[&w], t.state()[&w]);
    assert!(t.evaluate(&test).unwrap().accuracy.is_finite());
    // Asking for more samples than exist is an error, not a silent truncation.
    model.data.samples = Some(train.len() + 1);
    assert!(matches!(
        Trainer::new(&model, &train),
        Err(TrainError::NotEnoughSamples { .. })
    ));
}

/// A single-output binary model on breast cancer (settings from the sweep) reaches > 93 %.
#[test]
fn binary_breast_cancer_trains() {
    let mut model = common::binary_model();
    let fit = henn_sema::fit::sigmoid_least_squares(5, -16.0, 16.0).unwrap();
    for layer in &mut model.layers {
        layer.activation = henn_sema::Activation::Polynomial(common::poly(
            fit.clone(),
            16.0,
            henn_sema::Derivative::Polynomial,
        ));
    }
    model.data.scaling = Scaling::MinMax;
    model.optimizer = Optimizer::Nag {
        lr: 0.2,
        momentum: Momentum::Constant(0.9),
    };
    model.schedule.length = TrainLength::Epochs(10);
    let (train, test) = load(&model);
    let mut t = Trainer::new(&model, &train).unwrap();
    run_all(&mut t);
    let ev = t.evaluate(&test).unwrap();
    assert!(ev.accuracy > 0.93, "{}", ev.accuracy);
    assert_eq!(t.range_violations(), vec![]);
}

/// A batch size that does not divide the set: the smaller last batch is trained on, not dropped.
#[test]
fn partial_last_batch_is_used() {
    let mut model = common::digits_model();
    model.schedule.batch_size = 1000;
    model.schedule.length = TrainLength::Epochs(1);
    let (train, _) = load(&model);
    let mut t = Trainer::new(&model, &train).unwrap();
    assert_eq!(t.steps_per_epoch(), 2);
    assert_eq!(t.run_epoch(|_| {}).unwrap().steps, 2);
}
