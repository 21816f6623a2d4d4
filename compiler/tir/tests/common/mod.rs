//! Rust-built models mirroring the example `.henn` files, for tests that must not depend on the
//! language front end.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use henn_sema::*;

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data")
}

/// The paper's degree-3 sigmoid (λ-weighted fit on [−8, 8]).
pub fn paper_cubic() -> PolyActivation {
    PolyActivation {
        coeffs: vec![0.5, 0.10679534503216294, 0.0, -0.00038503259805075],
        interval: Interval { lo: -8.0, hi: 8.0 },
        origin: PolyOrigin::Explicit,
        derivative: Derivative::Polynomial,
    }
}

pub fn poly(coeffs: Vec<f64>, bound: f64, derivative: Derivative) -> PolyActivation {
    PolyActivation {
        coeffs,
        interval: Interval {
            lo: -bound,
            hi: bound,
        },
        origin: PolyOrigin::Explicit,
        derivative,
    }
}

pub fn dense(name: &str, inputs: usize, outputs: usize, act: &PolyActivation) -> DenseLayer {
    DenseLayer {
        name: name.to_owned(),
        inputs,
        outputs,
        bias: true,
        activation: Activation::Polynomial(act.clone()),
    }
}

pub fn encryption() -> EncryptionSpec {
    EncryptionSpec {
        security: Security::Bits128,
        ring: RingDegree::Auto,
        scale_bits: 40,
        bootstrapping: Bootstrapping::Auto,
        key_memory_cap: None,
        layout: LayoutHint::Auto,
    }
}

/// `widths = [features, hidden.., classes]`.
pub fn mlp(
    name: &str,
    widths: &[usize],
    act: &PolyActivation,
    optimizer: Optimizer,
    batch: usize,
    epochs: u64,
) -> Model {
    let layers = widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| dense(&format!("dense{}", i + 1), w[0], w[1], act))
        .collect();
    Model {
        name: name.to_owned(),
        source_name: format!("{name}.henn"),
        data: DataSpec {
            features: widths[0],
            classes: widths[widths.len() - 1],
            samples: None,
            feature_range: None,
            scaling: Scaling::Standardize,
            train: None,
            test: None,
        },
        layers,
        loss: Loss::Bce,
        optimizer,
        schedule: Schedule {
            batch_size: batch,
            length: TrainLength::Epochs(epochs),
            seed: 7,
        },
        init: Init::Glorot,
        encryption: encryption(),
    }
}

/// Mirrors `examples/digits.henn`: 64 → 64 → 10.
pub fn digits_model() -> Model {
    let mut m = mlp(
        "digits",
        &[64, 64, 10],
        &paper_cubic(),
        Optimizer::Sgd { lr: 1.0 },
        32,
        20,
    );
    m.data.train = Some(data_dir().join("digits-train.csv"));
    m.data.test = Some(data_dir().join("digits-test.csv"));
    m
}

/// Mirrors `examples/binary.henn`: 30 → 16 → 1.
pub fn binary_model() -> Model {
    let mut m = mlp(
        "binary",
        &[30, 16, 1],
        &paper_cubic(),
        Optimizer::Sgd { lr: 0.5 },
        32,
        10,
    );
    m.data.train = Some(data_dir().join("breast-cancer-train.csv"));
    m.data.test = Some(data_dir().join("breast-cancer-test.csv"));
    m
}

/// Mirrors `examples/seed.henn`: 400 → 64 → 64 → 10, NAG, 128 samples, full batch, 2 iterations.
pub fn seed_model() -> Model {
    let mut m = mlp(
        "seed",
        &[400, 64, 64, 10],
        &paper_cubic(),
        Optimizer::Nag {
            lr: 1.0,
            momentum: Momentum::Nesterov,
        },
        128,
        0,
    );
    m.schedule.length = TrainLength::Iterations(2);
    m.data.samples = Some(128);
    m
}
