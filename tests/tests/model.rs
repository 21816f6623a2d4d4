//! The checked `Model` of the examples, the public API's contracts (paths, errors, limits), and
//! the spec staying in sync with the code.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::path::{Path, PathBuf};

use henn_sema::*;
use henn_syntax::Code;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn seed_example_model() {
    let m = check_file(&root().join("examples/seed.henn")).unwrap();
    assert_eq!(m.name, "seed");
    assert_eq!(
        (m.data.features, m.data.classes, m.data.samples),
        (400, 10, Some(128))
    );
    assert_eq!(m.data.scaling, Scaling::MinMax);
    let widths: Vec<(usize, usize)> = m.layers.iter().map(|l| (l.inputs, l.outputs)).collect();
    assert_eq!(widths, vec![(400, 64), (64, 64), (64, 10)]);
    let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, vec!["hidden1", "hidden2", "output"]);
    for layer in &m.layers {
        assert!(layer.bias);
        let Activation::Polynomial(p) = &layer.activation else {
            panic!("identity")
        };
        assert_eq!(p.coeffs, vec![0.5, 0.106795345, 0.0, -0.000385032598]);
        assert_eq!(p.interval, Interval { lo: -8.0, hi: 8.0 });
        assert_eq!(p.origin, PolyOrigin::Explicit);
        assert_eq!(p.derivative, Derivative::Polynomial);
        // σ̃′ = 0.106795345 − 3·0.000385032598·x², zero near |x| ≈ 9.6 (brief method.md §1.4).
        assert!(p.eval_derivative(9.5) > 0.0 && p.eval_derivative(9.7) < 0.0);
    }
    assert_eq!(m.loss, Loss::Bce);
    assert_eq!(
        m.optimizer,
        Optimizer::Nag {
            lr: 0.1,
            momentum: Momentum::Nesterov
        }
    );
    assert_eq!(
        m.schedule,
        Schedule {
            batch_size: 128,
            length: TrainLength::Iterations(2),
            seed: 7
        }
    );
    assert_eq!(m.init, Init::Glorot);
    assert_eq!(m.encryption.security, Security::Bits128);
    assert_eq!(m.encryption.ring, RingDegree::Auto);
    assert_eq!(m.encryption.scale_bits, 40);
    assert_eq!(m.encryption.bootstrapping, Bootstrapping::Auto);
    assert_eq!(m.encryption.layout, LayoutHint::Auto);
    assert_eq!(m.data.train, None);
}

#[test]
fn digits_example_resolves_data_paths_next_to_the_file() {
    let path = root().join("examples/digits.henn");
    let m = check_file(&path).unwrap();
    assert_eq!(m.data.features, 64);
    assert_eq!(m.layers.last().unwrap().outputs, 10);
    assert_eq!(
        m.data.train,
        Some(root().join("examples").join("data/digits-train.csv"))
    );
    assert_eq!(
        m.data.test,
        Some(root().join("examples").join("data/digits-test.csv"))
    );
    let Activation::Polynomial(p) = &m.layers[0].activation else {
        panic!()
    };
    let PolyOrigin::LeastSquares { degree } = p.origin else {
        panic!("not a fit")
    };
    assert_eq!(p.coeffs.len(), degree as usize + 1);
    // A least-squares sigmoid fit is close to σ in the middle of its interval.
    let mid = (p.interval.lo + p.interval.hi) / 2.0;
    assert!((p.eval(mid) - 0.5).abs() < 0.05);
    assert_eq!(m.encryption.key_memory_cap, Some(8 << 30));
}

#[test]
fn binary_example_has_one_output() {
    let m = check_file(&root().join("examples/binary.henn")).unwrap();
    assert_eq!(m.data.classes, 1);
    assert_eq!(m.layers.last().unwrap().outputs, 1);
    assert_eq!(m.data.features, 30);
    assert!(
        m.data
            .train
            .as_ref()
            .unwrap()
            .ends_with("data/breast-cancer-train.csv")
    );
}

#[test]
fn check_source_resolves_paths_against_the_name() {
    let src = std::fs::read_to_string(root().join("tests/pass/insecure-toy.henn")).unwrap();
    let m = check_source("some/dir/x.henn", &src).unwrap();
    assert_eq!(m.data.train, Some(PathBuf::from("some/dir/toy/train.csv")));
    assert_eq!(m.source_name, "some/dir/x.henn");
    assert_eq!(m.encryption.security, Security::Insecure);
    assert_eq!(m.encryption.ring, RingDegree::Fixed { log_n: 12 });
    assert_eq!(m.encryption.key_memory_cap, Some(512 << 20));
    assert_eq!(m.init, Init::Constant(0.0128));
    assert_eq!(m.schedule.length, TrainLength::Epochs(3));
    assert_eq!(
        m.schedule.batch_size, 16,
        "batch defaults to the sample count"
    );
    assert_eq!(
        m.optimizer,
        Optimizer::Nag {
            lr: 0.01,
            momentum: Momentum::Constant(0.5)
        }
    );
}

#[test]
fn deep_pass_file_fills_layer_defaults() {
    let m = check_file(&root().join("tests/pass/deep-network.henn")).unwrap();
    let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, vec!["dense1", "dense2", "dense3", "dense4", "out"]);
    let bias: Vec<bool> = m.layers.iter().map(|l| l.bias).collect();
    assert_eq!(bias, vec![false, true, false, false, false]);
    assert_eq!(m.layers[2].activation, Activation::Identity);
    assert_eq!(m.loss, Loss::Mse);
    assert_eq!(m.init, Init::Uniform { lo: -0.1, hi: 0.1 });
    assert_eq!(m.encryption.ring, RingDegree::Fixed { log_n: 16 });
    assert_eq!(m.encryption.layout, LayoutHint::Dvr);
    assert_eq!(m.encryption.bootstrapping, Bootstrapping::Off);
    assert_eq!(m.data.feature_range, Some(Interval { lo: 0.0, hi: 255.0 }));
    let Activation::Polynomial(p) = &m.layers[0].activation else {
        panic!()
    };
    assert_eq!(p.derivative, Derivative::FromOutput);
    assert_eq!(p.origin, PolyOrigin::LeastSquares { degree: 5 });
}

#[test]
fn check_error_display_is_plain_rustc_style() {
    let src = std::fs::read_to_string(root().join("tests/fail/class-mismatch.henn")).unwrap();
    let err = check_source("m.henn", &src).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("error[E0112]: the output layer has 2 units"),
        "{text}"
    );
    assert!(text.contains("┌─ m.henn:8:15"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour in Display");
    assert_eq!(err.diagnostics().len(), 1);
    assert_eq!(err.diagnostics()[0].code, Code::ClassMismatch);
}

#[test]
fn unreadable_file_is_an_io_error() {
    let err = check_file(Path::new("/nonexistent/henn/x.henn")).unwrap_err();
    assert!(matches!(err, CheckError::Io { .. }));
    assert!(err.diagnostics().is_empty());
    assert!(err.to_string().contains("/nonexistent/henn/x.henn"));
}

#[test]
fn oversized_and_binary_files_are_diagnostics() {
    let dir = std::env::temp_dir().join(format!("henn-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.henn");
    std::fs::write(&big, vec![b'#'; MAX_SOURCE_BYTES + 10]).unwrap();
    let err = check_file(&big).unwrap_err();
    assert_eq!(err.diagnostics()[0].code, Code::FileTooLarge);
    let bin = dir.join("bin.henn");
    std::fs::write(&bin, [0u8, 159, 146, 150, 0xff, 0xfe, 10, 0]).unwrap();
    let err = check_file(&bin).unwrap_err();
    assert_eq!(err.diagnostics()[0].code, Code::InvalidUtf8);
    let _ = err.to_string();
    let empty = dir.join("empty.henn");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(
        check_file(&empty).unwrap_err().diagnostics()[0].code,
        Code::MissingModel
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn summary_line_format() {
    let m = check_file(&root().join("examples/seed.henn")).unwrap();
    assert_eq!(summary(&m), "400 → 64 → 64 → 10, bce, nag, 128-bit");
}

#[test]
fn model_round_trips_through_json() {
    let m = check_file(&root().join("tests/pass/deep-network.henn")).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    let back: Model = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
}

/// The spec's code table lists every code with the code's own description, and nothing else.
#[test]
fn spec_lists_every_diagnostic_code() {
    let spec = std::fs::read_to_string(root().join("spec/language.md")).unwrap();
    let rows: Vec<(String, String)> = spec
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            match cells.as_slice() {
                [code, desc]
                    if code.len() == 5 && (code.starts_with('E') || code.starts_with('W')) =>
                {
                    Some(((*code).to_owned(), (*desc).to_owned()))
                }
                _ => None,
            }
        })
        .collect();
    let expected: Vec<(String, String)> = Code::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.description().to_owned()))
        .collect();
    assert_eq!(rows, expected);
}

/// The ```henn blocks of `spec/language.md`, in order (templates are ```text blocks).
fn spec_henn_blocks(spec: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = spec;
    while let Some(at) = rest.find("```henn\n") {
        let start = at + "```henn\n".len();
        let len = rest[start..].find("```").unwrap();
        blocks.push(&rest[start..start + len]);
        rest = &rest[start + len + 3..];
    }
    blocks
}

/// Every example in the spec is true: each ```henn block checks (as a file in `examples/`, so
/// relative data paths resolve there) and names only data files that exist; the first is the
/// annotated seed model; every example file the spec names exists and checks.
#[test]
fn spec_examples_check() {
    let spec = std::fs::read_to_string(root().join("spec/language.md")).unwrap();
    let blocks = spec_henn_blocks(&spec);
    assert!(!blocks.is_empty(), "no ```henn block in the spec");
    for (i, block) in blocks.iter().enumerate() {
        let name = root().join(format!("examples/spec-{i}.henn"));
        let m = check_source(name.to_str().unwrap(), block)
            .unwrap_or_else(|e| panic!("spec block {i} does not check:\n{e}\n{block}"));
        for path in [&m.data.train, &m.data.test].into_iter().flatten() {
            assert!(path.exists(), "spec block {i} names {}", path.display());
        }
        if i == 0 {
            assert_eq!(summary(&m), "400 → 64 → 64 → 10, bce, nag, 128-bit");
        }
    }
    let named: std::collections::BTreeSet<&str> = spec
        .split('`')
        .filter(|w| w.starts_with("examples/") && w.ends_with(".henn"))
        .collect();
    assert!(named.contains("examples/seed.henn"), "{named:?}");
    for file in named {
        check_file(&root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn summary_of_a_deep_network_stays_short() {
    let layers: String = (0..40)
        .map(|i| {
            format!(
                "dense(8, activation = s, inputs = {})\n",
                if i == 0 { 4 } else { 8 }
            )
        })
        .collect();
    let src = format!(
        "model d {{ data {{ features = 4 classes = 8 samples = 2 }}\n\
         activation s = poly([0.5, 0.2], interval = [-1, 1])\n\
         network {{ {layers} }} optimizer = sgd(lr = 1) train {{ iterations = 1 }} }}"
    );
    let m = check_source("d.henn", &src).unwrap();
    assert_eq!(m.layers.len(), 40);
    assert_eq!(
        summary(&m),
        "4 → 8 → 8 → … (40 layers) → 8 → 8, bce, sgd, 128-bit"
    );
}
