//! The bundled datasets: checksums against the brief and the committed splits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

use henn_data::csv::{Expect, load_csv, to_csv_string};
use henn_data::split::stratified_split;
use sha2::{Digest, Sha256};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The canonical u8 export of the digits (pixels row-major, then labels) hashes to the SHA-256
/// recorded in the brief (datasets.md) for scikit-learn 1.9.1's `load_digits`.
#[test]
fn digits_fixture_matches_brief_checksum() {
    let d = load_csv(&data_dir().join("digits.csv"), Expect::default()).unwrap();
    assert_eq!((d.len(), d.features(), d.label_count()), (1797, 64, 10));
    let bytes = d.to_u8_export().unwrap();
    assert_eq!(bytes.len(), 116_805);
    assert_eq!(
        hex(&Sha256::digest(&bytes)),
        "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
    );
}

#[test]
fn breast_cancer_fixture_shape() {
    let d = load_csv(
        &data_dir().join("breast-cancer.csv"),
        Expect {
            features: Some(30),
            classes: Some(1),
        },
    )
    .unwrap();
    assert_eq!(d.len(), 569);
    let positives = d.labels().iter().filter(|&&l| l == 1).count();
    assert_eq!((d.len() - positives, positives), (212, 357));
}

/// The committed splits are exactly what `stratified_split(full, 0.2, 42)` produces.
#[test]
fn committed_splits_are_reproducible() {
    for stem in ["digits", "breast-cancer"] {
        let full = load_csv(&data_dir().join(format!("{stem}.csv")), Expect::default()).unwrap();
        let (train, test) = stratified_split(&full, 0.2, 42);
        for (part, data) in [("train", &train), ("test", &test)] {
            let path = data_dir().join(format!("{stem}-{part}.csv"));
            let committed = std::fs::read_to_string(&path).unwrap();
            assert!(
                committed == to_csv_string(data),
                "{} differs from the recomputed split; rerun `cargo run -p henn-data --example make_splits`",
                path.display()
            );
        }
        // Stratification: every class's test share is within one sample of 20 %.
        for c in 0..full.label_count() as u32 {
            let n = full.labels().iter().filter(|&&l| l == c).count() as f64;
            let t = test.labels().iter().filter(|&&l| l == c).count() as f64;
            assert!(
                (t - 0.2 * n).abs() <= 0.5 + 1e-9,
                "{stem} class {c}: {t} of {n}"
            );
        }
        assert_eq!(train.len() + test.len(), full.len());
    }
}
