//! The Volley Revolver kernels against plain matrix products on the slot simulator, the brief's
//! worked examples, and each kernel's cost formula against the graph it builds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_he_ir::kernels::{self, KernelCost};
use henn_he_ir::sim::simulate;
use henn_he_ir::{HeGraph, Layout, Limits, Padding, validate};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

fn random_matrix(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> Vec<f64> {
    (0..rows * cols)
        .map(|_| (rng.next_u32() as f64 / u32::MAX as f64) * 2.0 - 1.0)
        .collect()
}

/// C = A·Bᵀ for row-major A (m×n), B (p×n).
fn matmul_abt(a: &[f64], b: &[f64], m: usize, n: usize, p: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * p];
    for i in 0..m {
        for j in 0..p {
            c[i * p + j] = (0..n).map(|k| a[i * n + k] * b[j * n + k]).sum();
        }
    }
    c
}

/// G = Dᵀ·X for D (m×c), X (m×n).
fn matmul_atb(d: &[f64], x: &[f64], m: usize, c: usize, n: usize) -> Vec<f64> {
    let mut g = vec![0.0; c * n];
    for i in 0..c {
        for j in 0..n {
            g[i * n + j] = (0..m).map(|r| d[r * c + i] * x[r * n + j]).sum();
        }
    }
    g
}

/// P = E·W for E (m×c), W (c×h).
fn matmul_ab(e: &[f64], w: &[f64], m: usize, c: usize, h: usize) -> Vec<f64> {
    let mut p = vec![0.0; m * h];
    for i in 0..m {
        for j in 0..h {
            p[i * h + j] = (0..c).map(|r| e[i * c + r] * w[r * h + j]).sum();
        }
    }
    p
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-9, "element {i}: got {g}, want {w}");
    }
}

/// Every slot outside the declared logical matrix (all copies) must be exactly zero.
fn assert_zero_padding(layout: &Layout, slots: &[f64]) {
    let mut inside = vec![false; layout.slots];
    for r in 0..layout.rows {
        for c in 0..layout.cols {
            for s in layout.slots_of(r, c) {
                inside[s] = true;
            }
        }
    }
    for (s, (&x, &keep)) in slots.iter().zip(&inside).enumerate() {
        assert!(keep || x == 0.0, "slot {s} outside the matrix holds {x}");
    }
}

fn counts(g: &HeGraph) -> KernelCost {
    let c = g.op_counts();
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    KernelCost {
        rotations: get("rotate"),
        ct_mults: get("mul"),
        pt_mults: get("mul_plain"),
        relins: get("relin"),
        depth: g.max_depth(),
    }
}

fn run_forward(m: usize, n: usize, p: usize, stride: usize, slots: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = random_matrix(&mut rng, m, n);
    let b = random_matrix(&mut rng, p, n);
    let la = Layout::samples(m, n, stride, slots);
    let lb = Layout::weights(p, n, stride, slots);
    let mut g = HeGraph::new();
    let xa = g.input("A", la.clone());
    let xb = g.input("B", lb.clone());
    let c = kernels::vr_forward(&mut g, xa, xb).unwrap();
    g.output("C", c).unwrap();
    assert!(validate(&g, &Limits::default()).is_empty());
    let inputs = HashMap::from([("A".to_owned(), la.pack(&a)), ("B".to_owned(), lb.pack(&b))]);
    let out = simulate(&g, &inputs).unwrap();
    let lc = g.ty(c).unwrap().layout.clone();
    assert_eq!((lc.rows, lc.cols), (m, p));
    assert_close(&lc.unpack(&out.outputs["C"]), &matmul_abt(&a, &b, m, n, p));
    assert_zero_padding(&lc, &out.outputs["C"]);
    let period = p.next_power_of_two();
    assert_eq!(counts(&g), kernels::vr_forward_cost(stride, period));
}

#[test]
fn forward_worked_example_4x4_in_16_slots() {
    // The brief's example 1: m = n = p = 4, w = 4, 16 slots.
    run_forward(4, 4, 4, 4, 16, 1);
}

#[test]
fn forward_worked_example_p2() {
    // Example 1 with B 4×2 (p = 2): B̄ rows = (col0, col1, col0, col1).
    run_forward(4, 4, 2, 4, 16, 2);
}

#[test]
fn forward_random_shapes() {
    for (i, &(m, n, p, w, slots)) in [
        (8, 5, 3, 8, 64),
        (16, 13, 10, 16, 256),
        (3, 7, 8, 8, 64),
        (32, 64, 10, 64, 2048),
    ]
    .iter()
    .enumerate()
    {
        run_forward(m, n, p, w, slots, 10 + i as u64);
    }
}

fn run_gradient(
    m: usize,
    c: usize,
    n: usize,
    stride: usize,
    slots: usize,
    cts: usize,
    garbage: bool,
) {
    let mut rng = ChaCha8Rng::seed_from_u64((m * 1000 + c * 100 + n) as u64);
    let mut g = HeGraph::new();
    let mut inputs = HashMap::new();
    let mut pairs = Vec::new();
    let mut want = vec![0.0; c * n];
    for t in 0..cts {
        let d = random_matrix(&mut rng, m, c);
        let x = random_matrix(&mut rng, m, n);
        let ld = Layout::samples(m, c, stride, slots);
        let lx = Layout::samples(m, n, stride, slots);
        let mut packed_d = ld.pack(&d);
        let ld = if garbage {
            // Simulate σ(0) = 0.5 in every slot outside the matrix, as after an activation.
            let inside: Vec<usize> = (0..m)
                .flat_map(|r| (0..c).map(move |col| r * stride + col))
                .collect();
            for (s, v) in packed_d.iter_mut().enumerate() {
                if !inside.contains(&s) {
                    *v = 0.5;
                }
            }
            ld.with_padding(Padding::Garbage)
        } else {
            ld
        };
        let vd = g.input(&format!("D{t}"), ld);
        let vx = g.input(&format!("X{t}"), lx.clone());
        inputs.insert(format!("D{t}"), packed_d);
        inputs.insert(format!("X{t}"), lx.pack(&x));
        pairs.push((vd, vx));
        for (acc, v) in want.iter_mut().zip(matmul_atb(&d, &x, m, c, n)) {
            *acc += v;
        }
    }
    let grad = kernels::vr_weight_gradient(&mut g, &pairs).unwrap();
    g.output("G", grad).unwrap();
    assert!(validate(&g, &Limits::default()).is_empty());
    let out = simulate(&g, &inputs).unwrap();
    let lg = g.ty(grad).unwrap().layout.clone();
    assert_eq!((lg.rows, lg.cols), (c, n));
    assert_close(&lg.unpack(&out.outputs["G"]), &want);
    // Every replica of every weight row holds the gradient row, so it can update W directly.
    for r in 0..c {
        for col in 0..n {
            for s in lg.slots_of(r, col) {
                assert!((out.outputs["G"][s] - want[r * n + col]).abs() < 1e-9);
            }
        }
    }
    assert_zero_padding(&lg, &out.outputs["G"]);
    let rows_per_ct = slots / stride;
    assert_eq!(
        counts(&g),
        kernels::vr_weight_gradient_cost(stride, rows_per_ct, c.next_power_of_two(), cts, garbage)
    );
}

#[test]
fn gradient_worked_example_d4x2_x4x3() {
    // The brief's example 2: D (4×2), X (4×3), 16 slots, w = 4.
    run_gradient(4, 2, 3, 4, 16, 1, false);
}

#[test]
fn gradient_random_shapes_and_ciphertexts() {
    run_gradient(8, 3, 5, 8, 64, 1, true);
    run_gradient(16, 10, 40, 64, 1024, 3, true);
    run_gradient(5, 4, 9, 16, 128, 2, false);
}

#[test]
fn gradient_rejects_too_narrow_stride() {
    let mut g = HeGraph::new();
    let d = g.input("D", Layout::samples(4, 4, 4, 16));
    let x = g.input("X", Layout::samples(4, 4, 4, 16));
    let err = kernels::vr_weight_gradient(&mut g, &[(d, x)]).unwrap_err();
    assert!(
        err.to_string().contains("stride 4 < n + p′ − 1 = 7"),
        "{err}"
    );
}

fn run_backprop(m: usize, c: usize, h: usize, stride: usize, slots: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64((m * 7 + c * 3 + h) as u64);
    let e = random_matrix(&mut rng, m, c);
    let w = random_matrix(&mut rng, c, h);
    let le = Layout::samples(m, c, stride, slots).with_padding(Padding::Garbage);
    let lw = Layout::weights(c, h, stride, slots);
    let mut g = HeGraph::new();
    let ve = g.input("E", le.clone());
    let vw = g.input("W", lw.clone());
    let p = kernels::broadcast_backprop(&mut g, ve, vw).unwrap();
    g.output("P", p).unwrap();
    assert!(validate(&g, &Limits::default()).is_empty());
    let mut packed_e = le.pack(&e);
    for (s, v) in packed_e.iter_mut().enumerate() {
        if s % stride >= c || s / stride >= m {
            *v = 0.5; // garbage outside the matrix must not leak into the result
        }
    }
    let inputs = HashMap::from([("E".to_owned(), packed_e), ("W".to_owned(), lw.pack(&w))]);
    let out = simulate(&g, &inputs).unwrap();
    let lp = g.ty(p).unwrap().layout.clone();
    assert_close(&lp.unpack(&out.outputs["P"]), &matmul_ab(&e, &w, m, c, h));
    assert_zero_padding(&lp, &out.outputs["P"]);
    assert_eq!(
        counts(&g),
        kernels::broadcast_backprop_cost(c, h, c.next_power_of_two())
    );
}

#[test]
fn backprop_random_shapes() {
    run_backprop(4, 2, 3, 4, 16);
    run_backprop(8, 10, 16, 16, 256);
    run_backprop(16, 3, 12, 16, 512);
}

#[test]
fn validator_reports_missing_keys_and_depth() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 4, 16));
    let b = g.input("B", Layout::weights(4, 4, 4, 16));
    let c = kernels::vr_forward(&mut g, a, b).unwrap();
    g.output("C", c).unwrap();
    let limits = Limits {
        levels: Some(2),
        rotation_keys: Some([1usize, 2].into_iter().collect()),
    };
    let errors = validate(&g, &limits);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, henn_he_ir::IrError::DepthExceeded { depth: 3, .. }))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, henn_he_ir::IrError::MissingRotationKey { step: 4, .. }))
    );
}

#[test]
fn builder_rejects_product_of_unrelinearized_ciphertexts() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 4, 16));
    let sq = g.mul_lazy(a, a).unwrap();
    let err = g.mul_lazy(sq, a).unwrap_err();
    assert!(err.to_string().contains("relinearized"), "{err}");
}

#[test]
fn polynomials_are_exact_and_depth_optimal() {
    use henn_he_ir::poly::{poly_depth, poly_eval};
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let slots = 64;
    let xs: Vec<f64> = (0..slots)
        .map(|i| -1.5 + 3.0 * i as f64 / slots as f64)
        .collect();
    for degree in 0..=15usize {
        let mut coeffs = random_matrix(&mut rng, 1, degree + 1);
        if degree == 6 {
            coeffs[3] = 0.0; // sparse polynomials too
        }
        let mut g = HeGraph::new();
        let x = g.input("x", Layout::samples(1, slots, slots, slots));
        let y = poly_eval(&mut g, x, &coeffs).unwrap();
        g.output("y", y).unwrap();
        assert!(validate(&g, &Limits::default()).is_empty());
        let out = simulate(&g, &HashMap::from([("x".to_owned(), xs.clone())])).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            let want = coeffs.iter().rev().fold(0.0, |acc, c| acc * x + c);
            assert!(
                (out.outputs["y"][i] - want).abs() < 1e-9,
                "degree {degree} at x={x}"
            );
        }
        assert_eq!(g.max_depth(), poly_depth(degree), "degree {degree}");
    }
    // The seed's cubic: 2 levels.
    assert_eq!(poly_depth(3), 2);
}

#[test]
fn printed_ir_of_the_worked_gradient_example() {
    // The brief's example 2 (D 4×2, X 4×3, 16 slots): the printed HE IR is the reviewable form of
    // what the kernel emits (ops, depths, scales, layouts).
    let mut g = HeGraph::new();
    let d = g.input(
        "D",
        Layout::samples(4, 2, 4, 16).with_padding(Padding::Garbage),
    );
    let x = g.input("X", Layout::samples(4, 3, 4, 16));
    let grad = kernels::vr_weight_gradient(&mut g, &[(d, x)]).unwrap();
    g.output("G", grad).unwrap();
    insta::assert_snapshot!(henn_he_ir::print::print(&g));
}
