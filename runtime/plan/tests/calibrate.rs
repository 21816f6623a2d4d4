//! Calibrating the report's cost model from `henn bench ops` output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use henn_plan::report::{CalibrationError, CostModel};

fn line(lib: &str, op: &str, logn: u32, limbs: usize, ms: f64) -> String {
    format!(
        r#"{{"lib": "{lib}", "version": "x", "logn": {logn}, "limbs": {limbs}, "dnum": 3, "scale_bits": 50, "op": "{op}", "median_ms": {ms}, "min_ms": {ms}, "max_ms": {ms}, "reps": 5, "threads": 1}}"#
    )
}

#[test]
fn measured_ops_set_the_constants() {
    let text = [
        line("openfhe", "rescale", 16, 21, 1000.0), // other libraries are ignored
        line("henn", "rescale", 16, 21, 42.0),
        line("henn", "add", 16, 21, 4.2),
        line("henn", "rotate", 16, 21, 120.0),
        line("henn", "bootstrap", 16, 21, 20000.0),
    ]
    .join("\n");
    let (m, changed) = CostModel::calibrated(&text).unwrap();
    // A rescale at 21 limbs is 42 NTTs: 1 ms each.
    assert!((m.ntt_2_16_s - 1e-3).abs() < 1e-12, "{}", m.ntt_2_16_s);
    // An addition passes over 2 × 21 limbs.
    assert!((m.limb_pass_2_16_s - 1e-4).abs() < 1e-12);
    // The bootstrap line's chain (21 limbs) is shorter than the reference chain: the constant
    // is scaled up to it (a bootstrap costs more on a longer chain).
    let at_reference = 20.0 / henn_plan::report::bootstrap_chain_factor(21);
    assert!(at_reference > 20.0);
    assert!((m.bootstrap_2_16_s - at_reference).abs() < 1e-9);
    // The key-switch overhead reproduces the measured rotation: 120 ms over its NTT count.
    assert!(m.key_switch_overhead > 0.5 && m.key_switch_overhead < 5.0);
    assert_eq!(changed.len(), 4);
    // CPU time wins over wall time (a loaded machine inflates the latter).
    let loaded = line("henn", "rescale", 16, 21, 84.0)
        .replace("\"reps\"", "\"cpu_median_ms\": 42.0, \"reps\"");
    let (m2, _) = CostModel::calibrated(&loaded).unwrap();
    assert!((m2.ntt_2_16_s - 1e-3).abs() < 1e-12, "{}", m2.ntt_2_16_s);
    // The same rescale measured at N = 2^14 means a 4.57× faster NTT per limb at 2^16 scale.
    let (small, _) = CostModel::calibrated(&line("henn", "rescale", 14, 21, 42.0)).unwrap();
    let expect = 1e-3 / ((16384.0 * 14.0) / (65536.0 * 16.0));
    assert!((small.ntt_2_16_s - expect).abs() < 1e-12);
}

#[test]
fn unusable_bench_output_is_refused_with_a_reason() {
    let no_rescale = line("henn", "add", 16, 21, 4.2);
    assert!(matches!(
        CostModel::calibrated(&no_rescale),
        Err(CalibrationError::Missing("rescale"))
    ));
    let garbage = format!("{}\nnot json", line("henn", "rescale", 16, 21, 42.0));
    assert!(matches!(
        CostModel::calibrated(&garbage),
        Err(CalibrationError::BadLine { line: 2, .. })
    ));
}
