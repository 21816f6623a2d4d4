//! The exact-sigmoid float model (`henn_tir::exact`): the twin's network, initialisation, batch
//! order, optimizer and loss with σ in place of the sigmoid fits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::path::Path;

use henn_data::Dataset;
use henn_data::csv::{Expect, load_csv};
use henn_sema::Model;
use henn_tir::TrainError;
use henn_tir::exact::ActivationMode;
use henn_tir::train::Trainer;

fn data(model: &Model, name: &str) -> Dataset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data")
        .join(name);
    let e = Expect {
        features: Some(model.data.features),
        classes: Some(model.data.classes),
    };
    load_csv(&path, e).unwrap()
}

/// A digits model (64 → 32 → 10) with activation `act`, `epochs` epochs of SGD.
fn digits(act: &str, lr: f64, epochs: u32) -> Model {
    let src = format!(
        r#"
model tiny {{
  data {{ features = 64  classes = 10  scaling = minmax }}
  activation s = {act}
  network {{
    dense hidden(32, activation = s)
    dense output(10, activation = s)
  }}
  loss = bce
  optimizer = sgd(lr = {lr})
  train {{ batch = 32  epochs = {epochs}  seed = 3 }}
}}
"#
    );
    henn_sema::check_source("tiny.henn", &src).unwrap_or_else(|e| panic!("{e}"))
}

/// Trains to the end; the trainer and its test accuracy.
fn train(model: &Model, mode: ActivationMode) -> (Trainer, f64) {
    let (train, test) = (
        data(model, "digits-train.csv"),
        data(model, "digits-test.csv"),
    );
    let mut t = Trainer::with_activation(model, &train, mode).unwrap();
    while !t.done() {
        t.run_epoch(|_| {}).unwrap();
    }
    let acc = t.evaluate(&test).unwrap().accuracy;
    (t, acc)
}

fn max_weight_difference(a: &Trainer, b: &Trainer) -> f64 {
    let mut d = 0.0f64;
    for (slot, t) in a.state() {
        for (x, y) in t.data.iter().zip(&b.state()[slot].data) {
            d = d.max((x - y).abs());
        }
    }
    d
}

/// The shipped digits example: the exact sigmoid trains a different model (the degree-13 fit on
/// [−40, 40] is far from σ: its error is about 0.02) that still learns, to ≥ 90 % test accuracy.
#[test]
fn exact_sigmoid_differs_from_the_polynomial_and_learns_digits() {
    let model = henn_sema::check_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits.henn"),
    )
    .unwrap();
    let (poly, poly_acc) = train(&model, ActivationMode::Polynomial);
    let (exact, exact_acc) = train(&model, ActivationMode::ExactSigmoid);
    assert_eq!(exact.activation_mode(), ActivationMode::ExactSigmoid);
    assert_eq!(exact.replaced().len(), 3, "{:?}", exact.replaced());
    assert!(exact.replaced().iter().all(|r| r.max_fit_error > 1e-3));
    assert!(poly.replaced().is_empty());
    assert!(
        max_weight_difference(&poly, &exact) > 1e-2,
        "the exact sigmoid changed nothing"
    );
    assert!(exact_acc >= 0.90, "exact-sigmoid test accuracy {exact_acc}");
    assert!(poly_acc >= 0.90, "polynomial test accuracy {poly_acc}");
}

/// Where the fit is near-exact on every pre-activation the run meets, the two runs agree: same
/// test accuracy and weights within 1e-3 after a full epoch.
#[test]
fn near_exact_fit_agrees_with_the_exact_sigmoid() {
    let model = digits(
        "sigmoid_fit(degree = 15, interval = [-4, 4], derivative = polynomial)",
        0.5,
        1,
    );
    let (poly, poly_acc) = train(&model, ActivationMode::Polynomial);
    let (exact, exact_acc) = train(&model, ActivationMode::ExactSigmoid);
    let fit_error = exact.replaced()[0].max_fit_error;
    assert!(fit_error < 1e-4, "the fit is not near-exact: {fit_error}");
    assert_eq!(poly.range_violations(), vec![], "left the fit's interval");
    let d = max_weight_difference(&poly, &exact);
    assert!(d > 0.0, "the exact sigmoid was not used");
    assert!(d < 1e-3, "weights differ by {d}");
    assert!(
        (poly_acc - exact_acc).abs() < 0.01,
        "{poly_acc} vs {exact_acc}"
    );
}

/// `poly([...])` is not a sigmoid fit: `ExactSigmoid` refuses it naming the layer;
/// `ExactSigmoidAll` replaces it, and the exact layers report no interval violations though the
/// cubic's pre-activations leave [−8, 8] on digits.
#[test]
fn explicit_polynomials_are_refused_unless_all_are_replaced() {
    let cubic = "poly([0.5, 0.106795345, 0.0, -0.000385032598], interval = [-8, 8])";
    let model = digits(cubic, 2.0, 2);
    let train_set = data(&model, "digits-train.csv");
    match Trainer::with_activation(&model, &train_set, ActivationMode::ExactSigmoid) {
        Err(e @ TrainError::NotASigmoidFit { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("`hidden`") && msg.contains("exact-all"),
                "{msg}"
            );
        }
        other => panic!("expected NotASigmoidFit, got {other:?}"),
    }
    let (poly, _) = train(&model, ActivationMode::Polynomial);
    assert!(
        !poly.range_violations().is_empty(),
        "the cubic stayed in range"
    );
    let (all, acc) = train(&model, ActivationMode::ExactSigmoidAll);
    assert_eq!(all.replaced().len(), 2);
    assert!(all.replaced()[0].replaced.starts_with("poly(degree 3"));
    assert_eq!(all.range_violations(), vec![]);
    assert!(acc >= 0.85, "exact-sigmoid accuracy {acc}");
}
