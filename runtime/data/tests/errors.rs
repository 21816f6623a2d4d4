//! Bad input gets a typed error naming the file, line and field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write;
use std::path::Path;

use henn_data::DataError;
use henn_data::csv::{Expect, load_csv, parse_csv};
use henn_data::idx::{load_idx, parse_idx};
use henn_data::{Scaler, ScalingKind, stratified_split};

fn parse(text: &str, expect: Expect) -> Result<henn_data::Dataset, DataError> {
    parse_csv(Path::new("t.csv"), text, expect)
}

#[test]
fn header_is_optional_and_values_parse() {
    let a = parse("label,a,b\n1,2,3\n0,4.5,-6\n", Expect::default()).unwrap();
    let b = parse("1,2,3\n\n0,4.5,-6\n", Expect::default()).unwrap();
    assert_eq!(a.x(), b.x());
    assert_eq!(a.x(), &[2.0, 3.0, 4.5, -6.0]);
    assert_eq!(a.labels(), &[1, 0]);
}

#[test]
fn ragged_row_names_line() {
    match parse("1,2,3\n0,4\n", Expect::default()) {
        Err(DataError::Ragged {
            line: 2,
            expected: 3,
            found: 2,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_numeric_field_names_line_and_field() {
    let err = parse("label,a,b\n1,2,3\n0,4,x7\n", Expect::default()).unwrap_err();
    match &err {
        DataError::NotNumeric {
            line: 3,
            field: 3,
            text,
            ..
        } if text == "x7" => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "t.csv:3: field 3 is not a number: `x7`");
    // A first line mixing words and numbers is not a header.
    assert!(matches!(
        parse("1,a,3\n", Expect::default()),
        Err(DataError::NotNumeric {
            line: 1,
            field: 2,
            ..
        })
    ));
}

#[test]
fn nan_and_inf_are_rejected() {
    assert!(matches!(
        parse("1,2,3\n0,NaN,1\n", Expect::default()),
        Err(DataError::NonFinite {
            line: 2,
            field: 2,
            ..
        })
    ));
    assert!(matches!(
        parse("1,2,inf\n", Expect::default()),
        Err(DataError::NonFinite {
            line: 1,
            field: 3,
            ..
        })
    ));
}

#[test]
fn labels_out_of_range() {
    let ten = Expect {
        features: None,
        classes: Some(10),
    };
    assert!(matches!(
        parse("9,1\n10,1\n", ten),
        Err(DataError::LabelOutOfRange {
            line: 2,
            allowed: 10,
            ..
        })
    ));
    let binary = Expect {
        features: None,
        classes: Some(1),
    };
    assert!(parse("0,1\n1,1\n", binary).is_ok());
    assert!(matches!(
        parse("0,1\n2,1\n", binary),
        Err(DataError::LabelOutOfRange {
            line: 2,
            allowed: 2,
            ..
        })
    ));
    assert!(matches!(
        parse("-1,1\n", Expect::default()),
        Err(DataError::LabelOutOfRange { line: 1, .. })
    ));
    assert!(matches!(
        parse("1.5,1\n", Expect::default()),
        Err(DataError::LabelOutOfRange { line: 1, .. })
    ));
}

#[test]
fn empty_files() {
    assert!(matches!(
        parse("", Expect::default()),
        Err(DataError::Empty { .. })
    ));
    assert!(matches!(
        parse("label,a\n\n", Expect::default()),
        Err(DataError::Empty { .. })
    ));
}

#[test]
fn wrong_width_for_model() {
    let e = Expect {
        features: Some(3),
        classes: None,
    };
    match parse("1,2,3\n", e) {
        Err(DataError::WrongWidth {
            line: 1,
            expected: 3,
            found: 2,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let d = parse("1,2,3\n", Expect::default()).unwrap();
    assert!(matches!(
        d.check_shape(4, 2),
        Err(DataError::WrongWidth {
            expected: 4,
            found: 2,
            ..
        })
    ));
    assert!(matches!(d.check_shape(2, 1), Ok(())));
}

#[test]
fn missing_file_is_io_error_with_path() {
    let err = load_csv(Path::new("/nonexistent/x.csv"), Expect::default()).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }));
    assert!(err.to_string().starts_with("/nonexistent/x.csv:"));
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

#[test]
fn idx_raw_and_gz_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let img = idx_bytes(&[3, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    let lab = idx_bytes(&[3], &[7, 0, 9]);
    let img_path = dir.path().join("img.idx.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&img).unwrap();
    std::fs::write(&img_path, gz.finish().unwrap()).unwrap();
    let lab_path = dir.path().join("lab.idx");
    std::fs::write(&lab_path, &lab).unwrap();
    let d = load_idx(&img_path, &lab_path).unwrap();
    assert_eq!((d.len(), d.features()), (3, 4));
    assert_eq!(d.row(2), &[8.0, 9.0, 10.0, 255.0]);
    assert_eq!(d.labels(), &[7, 0, 9]);
}

#[test]
fn load_spec_reads_csv_and_idx_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let (i, l) = (dir.path().join("i.idx"), dir.path().join("l.idx"));
    std::fs::write(&i, idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
    std::fs::write(&l, idx_bytes(&[2], &[1, 0])).unwrap();
    let spec = format!("{},{}", i.display(), l.display());
    let e = Expect {
        features: Some(3),
        classes: Some(2),
    };
    let d = henn_data::load_spec(Path::new(&spec), e).unwrap();
    assert_eq!((d.len(), d.labels()), (2, &[1, 0][..]));
    let wrong = Expect {
        features: Some(4),
        classes: Some(2),
    };
    assert!(matches!(
        henn_data::load_spec(Path::new(&spec), wrong),
        Err(DataError::WrongWidth { .. })
    ));
    let csv = dir.path().join("d.csv");
    std::fs::write(&csv, "1,2,3,4\n").unwrap();
    assert_eq!(henn_data::load_spec(&csv, e).unwrap().x(), &[2.0, 3.0, 4.0]);
}

#[test]
fn idx_errors() {
    let p = Path::new("x.idx");
    assert!(matches!(
        parse_idx(p, &[1, 2, 3, 4]),
        Err(DataError::Idx { .. })
    ));
    assert!(matches!(
        parse_idx(p, &[0, 0, 0x0d, 1, 0, 0, 0, 1, 0]),
        Err(DataError::Idx { .. })
    ));
    let short = idx_bytes(&[2, 2], &[1, 2, 3]);
    let err = parse_idx(p, &short).unwrap_err();
    assert!(err.to_string().contains("need 4 bytes"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let (i, l) = (dir.path().join("i"), dir.path().join("l"));
    std::fs::write(&i, idx_bytes(&[2, 1], &[1, 2])).unwrap();
    std::fs::write(&l, idx_bytes(&[3], &[1, 2, 3])).unwrap();
    assert!(matches!(load_idx(&i, &l), Err(DataError::Idx { .. })));
}

#[test]
fn scaling_fits_on_train_only() {
    let train = parse("0,0,5\n1,2,5\n0,4,5\n", Expect::default()).unwrap();
    let s = Scaler::fit(ScalingKind::Standardize, &train);
    let x = s.transform(&train);
    let col0: Vec<f64> = x.chunks(2).map(|r| r[0]).collect();
    let mean = col0.iter().sum::<f64>() / 3.0;
    let var = col0.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
    assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
    // Constant column maps to zero, not NaN.
    assert!(x.chunks(2).all(|r| r[1] == 0.0));
    let m = Scaler::fit(ScalingKind::MinMax, &train);
    let test = parse("0,8,5\n", Expect::default()).unwrap();
    // Test values outside the training range stay outside [0, 1]: statistics are not refitted.
    assert_eq!(m.transform(&test), vec![2.0, 0.0]);
}

#[test]
fn split_is_deterministic_and_seed_dependent() {
    let text: String = (0..100).map(|i| format!("{},{i}\n", i % 3)).collect();
    let d = parse(&text, Expect::default()).unwrap();
    let (a_tr, a_te) = stratified_split(&d, 0.2, 7);
    let (b_tr, b_te) = stratified_split(&d, 0.2, 7);
    let (_, c_te) = stratified_split(&d, 0.2, 8);
    assert_eq!((a_tr.x(), a_te.x()), (b_tr.x(), b_te.x()));
    assert_ne!(a_te.x(), c_te.x());
    assert_eq!(a_te.len(), 7 + 7 + 7);
}

#[test]
fn write_atomic_replaces_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.json");
    henn_data::write_atomic(&p, b"one").unwrap();
    henn_data::write_atomic(&p, b"two").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
