//! henn's extractor against TensorFlow.js: the stored features of four Fashion-MNIST images
//! (`tests/data/reference.json`, made by `scripts/features-reference.js` with TF.js 4.22.0's CPU
//! backend from the same nsfwjs files, TF.js doing its own resize and scaling) must match to
//! 1e-4. Skipped, with a message, when the weights are not installed (`bash
//! scripts/setup-data.sh nsfwjs`): CI has no setup step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;

use henn_data::images::{cache_dir, load_csv_images};
use henn_features::weights::{self, KerasModel};
use henn_features::{Config, Extractor, FeatureError};

#[derive(serde::Deserialize)]
struct Reference {
    labels: Vec<u32>,
    results: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    tap: String,
    resolution: usize,
    scaling: String,
    features: Vec<Vec<f32>>,
}

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn installed() -> Option<KerasModel> {
    match weights::load(&weights::model_dir(&cache_dir())) {
        Ok(m) => Some(m),
        Err(FeatureError::Missing { dir, .. }) => {
            eprintln!(
                "skipped: no MobileNetV2 weights in {} (bash scripts/setup-data.sh nsfwjs)",
                dir.display()
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn features_match_tensorflow_js() {
    let Some(model) = installed() else { return };
    let images = load_csv_images(&data("fashion-t10k-first4.csv"), 255.0).unwrap();
    let reference: Reference =
        serde_json::from_slice(&std::fs::read(data("reference.json")).unwrap()).unwrap();
    assert_eq!(images.labels(), reference.labels.as_slice());
    let mut worst = 0f32;
    for case in &reference.results {
        let config = Config {
            tap: case.tap.clone(),
            resolution: case.resolution,
            scaling: case.scaling.parse().unwrap(),
            batch: 3, // not a divisor of 4: the padded last batch is exercised too
        };
        let ex = Extractor::from_model(&model, config).unwrap();
        let got = ex
            .extract(images.images(0..images.len()), images.rows, images.cols)
            .unwrap();
        assert_eq!(got.len(), case.features.len() * ex.features());
        let mut diff = 0f32;
        for (row, want) in got.chunks(ex.features()).zip(&case.features) {
            assert_eq!(row.len(), want.len());
            for (a, b) in row.iter().zip(want) {
                diff = diff.max((a - b).abs());
            }
        }
        eprintln!(
            "{} at {}x{} ({}): max |henn - tfjs| = {diff:.2e}",
            case.tap, case.resolution, case.resolution, case.scaling
        );
        worst = worst.max(diff);
    }
    assert!(worst <= 1e-4, "max difference {worst:e} > 1e-4");
}

#[test]
fn taps_after_the_frozen_trunk_and_unknown_taps_are_refused() {
    let Some(model) = installed() else { return };
    for tap in ["block_11_expand_relu", "out_relu", "no_such_layer"] {
        let config = Config {
            tap: tap.to_owned(),
            ..Config::default()
        };
        assert!(matches!(
            Extractor::from_model(&model, config),
            Err(FeatureError::Config(_))
        ));
    }
}

#[test]
fn missing_weights_say_how_to_install_them() {
    let dir = tempfile::tempdir().unwrap();
    let err = Extractor::load(dir.path(), Config::default()).unwrap_err();
    assert!(matches!(err, FeatureError::Missing { .. }));
    assert!(
        err.to_string().contains("scripts/setup-data.sh nsfwjs"),
        "{err}"
    );
}
