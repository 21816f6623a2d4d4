//! The Volley Revolver kernels against plain matrix products on the slot simulator, the brief's
//! worked examples, and each kernel's cost formula against the graph it builds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_he_ir::sim::simulate;
use henn_he_ir::{HeGraph, Layout, Limits, Padding, validate};
use henn_lower::kernels::{self, KernelCost};
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
    assert_eq!(
        KernelCost::counted(&g),
        kernels::vr_forward_cost(stride, period)
    );
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
        KernelCost::counted(&g),
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
        KernelCost::counted(&g),
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
fn polynomials_are_exact_and_depth_optimal() {
    use henn_lower::poly::{poly_depth, poly_eval};
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

// ----- Double Volley Revolver: weight matrices cut into row blocks -----

/// Pack a whole matrix into the weight-row blocks `weight_blocking` prescribes.
fn weight_block_layouts(rows: usize, cols: usize, stride: usize, slots: usize) -> Vec<Layout> {
    let (period, blocks) = kernels::weight_blocking(rows, slots / stride);
    (0..blocks)
        .map(|j| Layout::weight_block(rows, j, period, cols, stride, slots))
        .collect()
}

fn run_forward_blocked(m: usize, n: usize, h: usize, stride: usize, slots: usize, a_cts: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64((m * 31 + n * 7 + h) as u64);
    let b = random_matrix(&mut rng, h, n);
    let layouts = weight_block_layouts(h, n, stride, slots);
    assert!(layouts.len() > 1, "the case must need blocking");
    let mut g = HeGraph::new();
    let mut inputs = HashMap::new();
    let mut blocks = Vec::new();
    for (j, l) in layouts.iter().enumerate() {
        blocks.push(g.input(&format!("B{j}"), l.clone()));
        inputs.insert(format!("B{j}"), l.pack_block(&b).unwrap());
    }
    let mut want = Vec::new();
    for t in 0..a_cts {
        let a = random_matrix(&mut rng, m, n);
        let la = Layout::samples(m, n, stride, slots).at_row(t * m);
        let va = g.input(&format!("A{t}"), la.clone());
        inputs.insert(format!("A{t}"), la.pack(&a));
        let c = kernels::dvr_forward(&mut g, va, &blocks, 1.0).unwrap();
        g.output(&format!("C{t}"), c).unwrap();
        want.push((c, matmul_abt(&a, &b, m, n, h)));
    }
    assert!(validate(&g, &Limits::default()).is_empty());
    let out = simulate(&g, &inputs).unwrap();
    for (t, (c, want)) in want.iter().enumerate() {
        let lc = g.ty(*c).unwrap().layout.clone();
        assert_eq!((lc.rows, lc.cols, lc.first_row), (m, h, t * m));
        let got = &out.outputs[&format!("C{t}")];
        // Block j's outputs land in columns j·p′ … of the activation: the next layer's A.
        assert_close(&lc.unpack(got), want);
        assert_zero_padding(&lc, got);
    }
    let period = layouts[0].rows_per_ct().min(h.next_power_of_two());
    assert_eq!(
        KernelCost::counted(&g),
        kernels::dvr_forward_cost(stride, period, layouts.len(), a_cts)
    );
}

#[test]
fn forward_with_weight_row_blocks() {
    // 4 rows per ciphertext, 10 output units: blocks of 4, 4 and 2 rows.
    run_forward_blocked(4, 5, 10, 16, 64, 1);
    // 8 rows per ciphertext, 64 hidden units: 8 blocks, two sample blocks sharing the row shifts.
    run_forward_blocked(8, 6, 64, 64, 512, 2);
    // A partial last sample block.
    run_forward_blocked(3, 7, 16, 16, 64, 1);
}

fn run_gradient_blocked(m: usize, c: usize, n: usize, stride: usize, slots: usize, cts: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64((m * 13 + c * 5 + n) as u64);
    let mut g = HeGraph::new();
    let mut inputs = HashMap::new();
    let mut pairs = Vec::new();
    let mut want = vec![0.0; c * n];
    let mut garbage = false;
    for t in 0..cts {
        let d = random_matrix(&mut rng, m, c);
        let x = random_matrix(&mut rng, m, n);
        // Alternate clean and garbage-padded D to cover both.
        let dirty = t % 2 == 1;
        garbage |= dirty;
        let ld = Layout::samples(m, c, stride, slots).at_row(t * m);
        let mut packed = ld.pack(&d);
        if dirty {
            for (s, v) in packed.iter_mut().enumerate() {
                if s % stride >= c || s / stride >= m {
                    *v = 0.5;
                }
            }
        }
        let ld = if dirty {
            ld.with_padding(Padding::Garbage)
        } else {
            ld
        };
        let lx = Layout::samples(m, n, stride, slots).at_row(t * m);
        let vd = g.input(&format!("D{t}"), ld);
        let vx = g.input(&format!("X{t}"), lx.clone());
        inputs.insert(format!("D{t}"), packed);
        inputs.insert(format!("X{t}"), lx.pack(&x));
        pairs.push((vd, vx));
        for (acc, v) in want.iter_mut().zip(matmul_atb(&d, &x, m, c, n)) {
            *acc += v;
        }
    }
    let grads = kernels::dvr_weight_gradient(&mut g, &pairs, 1.0).unwrap();
    let expect_layouts = weight_block_layouts(c, n, stride, slots);
    assert!(grads.len() > 1, "the case must need blocking");
    assert_eq!(grads.len(), expect_layouts.len());
    for (j, &gj) in grads.iter().enumerate() {
        g.output(&format!("G{j}"), gj).unwrap();
    }
    assert!(validate(&g, &Limits::default()).is_empty());
    let out = simulate(&g, &inputs).unwrap();
    for (j, (&gj, lj)) in grads.iter().zip(&expect_layouts).enumerate() {
        // Block j of the gradient has exactly the layout of block j of the weights.
        let lg = g.ty(gj).unwrap().layout.clone();
        assert_eq!(&lg, lj);
        let got = &out.outputs[&format!("G{j}")];
        let rows = &want[lg.first_row * n..(lg.first_row + lg.rows) * n];
        assert_close(&lg.unpack(got), rows);
        assert_zero_padding(&lg, got);
    }
    let period = expect_layouts[0].rows_per_ct().min(c.next_power_of_two());
    assert_eq!(
        KernelCost::counted(&g),
        kernels::dvr_weight_gradient_cost(
            stride,
            slots / stride,
            period,
            grads.len(),
            cts,
            garbage
        )
    );
}

#[test]
fn gradient_into_weight_row_blocks() {
    // 64 error columns at 8 rows per ciphertext: 8 gradient blocks, one data ciphertext.
    run_gradient_blocked(8, 64, 6, 64, 512, 1);
    // 10 columns in blocks of 4 (4, 4, 2), three data ciphertexts, some with garbage padding.
    run_gradient_blocked(4, 10, 5, 16, 64, 3);
}

fn run_backprop_blocked(m: usize, c: usize, h: usize, stride: usize, slots: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64((m * 17 + c * 3 + h) as u64);
    let e = random_matrix(&mut rng, m, c);
    let w = random_matrix(&mut rng, c, h);
    let layouts = weight_block_layouts(c, h, stride, slots);
    assert!(layouts.len() > 1, "the case must need blocking");
    let le = Layout::samples(m, c, stride, slots).with_padding(Padding::Garbage);
    let mut g = HeGraph::new();
    let ve = g.input("E", le.clone());
    let mut inputs = HashMap::new();
    let mut blocks = Vec::new();
    for (j, l) in layouts.iter().enumerate() {
        blocks.push(g.input(&format!("W{j}"), l.clone()));
        inputs.insert(format!("W{j}"), l.pack_block(&w).unwrap());
    }
    let p = kernels::dvr_backprop(&mut g, ve, &blocks, 1.0).unwrap();
    g.output("P", p).unwrap();
    assert!(validate(&g, &Limits::default()).is_empty());
    let mut packed_e = le.pack(&e);
    for (s, v) in packed_e.iter_mut().enumerate() {
        if s % stride >= c || s / stride >= m {
            *v = 0.5;
        }
    }
    inputs.insert("E".to_owned(), packed_e);
    let out = simulate(&g, &inputs).unwrap();
    let lp = g.ty(p).unwrap().layout.clone();
    assert_close(&lp.unpack(&out.outputs["P"]), &matmul_ab(&e, &w, m, c, h));
    assert_zero_padding(&lp, &out.outputs["P"]);
    let period = layouts[0].rows_per_ct().min(c.next_power_of_two());
    assert_eq!(
        KernelCost::counted(&g),
        kernels::dvr_backprop_cost(c, h, period, 1)
    );
}

#[test]
fn backprop_through_weight_row_blocks() {
    run_backprop_blocked(8, 64, 6, 64, 512);
    run_backprop_blocked(4, 10, 3, 16, 64);
}

#[test]
fn blocks_must_continue_each_other() {
    // Block 1 claims to start at row 0: the kernels refuse it instead of misplacing outputs.
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 16, 64));
    let b0 = g.input("B0", Layout::weight_block(8, 0, 4, 4, 16, 64));
    let b1 = g.input("B1", Layout::weight_block(8, 0, 4, 4, 16, 64));
    let err = kernels::dvr_forward(&mut g, a, &[b0, b1], 1.0).unwrap_err();
    assert!(err.to_string().contains("does not continue"), "{err}");
}

#[test]
fn weight_blocking_rule() {
    // Fits: one block, period next_pow2(rows). Does not: blocks of rows_per_ct rows.
    assert_eq!(kernels::weight_blocking(10, 16), (16, 1));
    assert_eq!(kernels::weight_blocking(10, 4), (4, 3));
    assert_eq!(kernels::weight_blocking(64, 8), (8, 8));
    assert_eq!(kernels::weight_blocking(1, 8), (1, 1));
}

// ----- the kernel registry -----

mod registry {
    use super::*;
    use henn_he_ir::HeOp;
    use henn_he_ir::ValueId;
    use henn_lower::kernels::registry::{KernelRegistry, ProductKernel, Signature, VrForward};
    use henn_tir::MatMulForm;

    /// A stand-in for another kernel family: Volley Revolver underneath, but it claims to be free
    /// and marks its graph so the test can see it ran.
    #[derive(Debug)]
    struct Cheap;

    impl ProductKernel for Cheap {
        fn name(&self) -> &'static str {
            "cheap"
        }
        fn family(&self) -> &'static str {
            "test"
        }
        fn signature(&self) -> Signature {
            VrForward.signature()
        }
        fn cost(
            &self,
            g: &HeGraph,
            lhs: &[ValueId],
            rhs: &[ValueId],
        ) -> Result<KernelCost, henn_he_ir::IrError> {
            VrForward.cost(g, lhs, rhs)?;
            Ok(KernelCost::default())
        }
        fn lower(
            &self,
            g: &mut HeGraph,
            lhs: &[ValueId],
            rhs: &[ValueId],
            scale: f64,
        ) -> Result<Vec<ValueId>, henn_he_ir::IrError> {
            let out = VrForward.lower(g, lhs, rhs, scale)?;
            out.into_iter().map(|v| g.op(HeOp::Neg, &[v])).collect()
        }
    }

    fn operands() -> (HeGraph, ValueId, Vec<ValueId>) {
        let mut g = HeGraph::new();
        let a = g.input("A", Layout::samples(4, 4, 16, 64));
        let b: Vec<_> = weight_block_layouts(8, 4, 16, 64)
            .into_iter()
            .enumerate()
            .map(|(j, l)| g.input(&format!("B{j}"), l))
            .collect();
        (g, a, b)
    }

    #[test]
    fn baseline_chooses_volley_revolver_with_its_cost() {
        let (g, a, b) = operands();
        let reg = KernelRegistry::volley_revolver();
        let choice = reg.choose(MatMulForm::ABt, &g, &[a], &b).unwrap();
        assert_eq!(choice.kernel.name(), "vr_forward");
        assert_eq!(choice.cost, kernels::dvr_forward_cost(16, 4, 2, 1));
        // Operands in the wrong orientation match no signature.
        let err = reg.choose(MatMulForm::ABt, &g, &b, &[a]).unwrap_err();
        assert!(err.to_string().contains("no registered kernel"), "{err}");
    }

    #[test]
    fn a_cheaper_registered_kernel_wins_and_is_used() {
        let (mut g, a, b) = operands();
        let mut reg = KernelRegistry::volley_revolver();
        reg.register(Box::new(Cheap));
        let choice = reg.choose(MatMulForm::ABt, &g, &[a], &b).unwrap();
        assert_eq!(choice.kernel.name(), "cheap");
        let out = choice.kernel.lower(&mut g, &[a], &b, 1.0).unwrap();
        assert!(matches!(g.node(out[0]).unwrap().op, HeOp::Neg));
    }

    #[test]
    fn refusals_are_reported() {
        // The gradient needs w ≥ n + p′ − 1: 4 + 4 − 1 > 4.
        let mut g = HeGraph::new();
        let d = g.input("D", Layout::samples(4, 4, 4, 16));
        let x = g.input("X", Layout::samples(4, 4, 4, 16));
        let reg = KernelRegistry::volley_revolver();
        let err = reg.choose(MatMulForm::AtB, &g, &[d], &[x]).unwrap_err();
        assert!(
            err.to_string().contains("vr_weight_gradient: ")
                && err.to_string().contains("stride 4"),
            "{err}"
        );
        assert!(
            KernelRegistry::empty()
                .choose(MatMulForm::AtB, &g, &[d], &[x])
                .is_err()
        );
    }
}

// ----- the diagonal back-propagation -----

fn run_diagonal_backprop(m: usize, c: usize, h: usize, stride: usize, slots: usize, dirty: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64((m * 19 + c * 11 + h) as u64);
    let e = random_matrix(&mut rng, m, c);
    let w = random_matrix(&mut rng, c, h);
    let layouts = weight_block_layouts(c, h, stride, slots);
    let le = Layout::samples(m, c, stride, slots);
    let le = if dirty {
        le.with_padding(Padding::Garbage)
    } else {
        le
    };
    let mut g = HeGraph::new();
    let ve = g.input("E", le.clone());
    let mut inputs = HashMap::new();
    let mut blocks = Vec::new();
    for (j, l) in layouts.iter().enumerate() {
        blocks.push(g.input(&format!("W{j}"), l.clone()));
        inputs.insert(format!("W{j}"), l.pack_block(&w).unwrap());
    }
    let p = kernels::diagonal_backprop(&mut g, ve, &blocks, 0.5).unwrap();
    g.output("P", p).unwrap();
    assert!(validate(&g, &Limits::default()).is_empty());
    let mut packed_e = le.pack(&e);
    if dirty {
        for (s, v) in packed_e.iter_mut().enumerate() {
            if s % stride >= c || s / stride >= m {
                *v = 0.5;
            }
        }
    }
    inputs.insert("E".to_owned(), packed_e);
    let out = simulate(&g, &inputs).unwrap();
    let lp = g.ty(p).unwrap().layout.clone();
    let want: Vec<f64> = matmul_ab(&e, &w, m, c, h).iter().map(|x| 0.5 * x).collect();
    assert_close(&lp.unpack(&out.outputs["P"]), &want);
    assert_zero_padding(&lp, &out.outputs["P"]);
    let period = layouts[0].rows_per_ct().min(c.next_power_of_two());
    assert_eq!(
        KernelCost::counted(&g),
        kernels::diagonal_backprop_cost(stride, period, layouts.len(), 1, dirty)
    );
}

#[test]
fn diagonal_backprop_matches_the_product() {
    // One block (W replicated with period 4), clean and garbage-padded E.
    run_diagonal_backprop(4, 3, 5, 8, 32, false);
    run_diagonal_backprop(8, 10, 16, 32, 512, true);
    // Weight-row blocks: 64 rows of W at 8 rows per ciphertext.
    run_diagonal_backprop(8, 64, 6, 128, 1024, true);
    run_diagonal_backprop(4, 10, 3, 16, 64, true);
}

#[test]
fn diagonal_backprop_refuses_a_too_narrow_stride() {
    // h + p′ − 1 = 4 + 4 − 1 > 4: the shifted copy would read into the next row.
    let mut g = HeGraph::new();
    let e = g.input("E", Layout::samples(4, 4, 4, 16));
    let w = g.input("W", Layout::weights(4, 4, 4, 16));
    let err = kernels::diagonal_backprop(&mut g, e, &[w], 1.0).unwrap_err();
    assert!(err.to_string().contains("h + p′ − 1 = 7"), "{err}");
    // The registry then falls back to the broadcast method for the same operands.
    let reg = henn_lower::kernels::registry::KernelRegistry::standard();
    let choice = reg
        .choose(henn_tir::MatMulForm::AB, &g, &[e], &[w])
        .unwrap();
    assert_eq!(choice.kernel.name(), "broadcast_backprop");
}

#[test]
fn diagonal_backprop_shares_only_the_period_copy_with_the_gradient() {
    // E·W and Eᵀ·X on the same E: the masked period-p′ copy of E is built once; the shifted
    // copies are not shared (the gradient shifts upwards by +1, the diagonal downwards from p′−1),
    // so neither kernel keeps p′ shifted copies alive for the other.
    let (m, c, h, n, stride, slots) = (8, 10, 16, 12, 32, 512);
    let mut g = HeGraph::new();
    let e = g.input(
        "E",
        Layout::samples(m, c, stride, slots).with_padding(Padding::Garbage),
    );
    let x = g.input("X", Layout::samples(m, n, stride, slots));
    let w = g.input("W", Layout::weights(c, h, stride, slots));
    kernels::dvr_weight_gradient(&mut g, &[(e, x)], 1.0).unwrap();
    let alone = KernelCost::counted(&g);
    kernels::diagonal_backprop(&mut g, e, &[w], 1.0).unwrap();
    let period = c.next_power_of_two();
    let standalone = kernels::diagonal_backprop_cost(stride, period, 1, 1, true);
    let shared_copy = (stride / period).trailing_zeros() as usize;
    assert_eq!(
        KernelCost::counted(&g).rotations - alone.rotations,
        standalone.rotations - shared_copy
    );
    // The mask of E is shared too.
    assert_eq!(
        KernelCost::counted(&g).pt_mults - alone.pt_mults,
        standalone.pt_mults - 1
    );
}

#[test]
fn diagonal_backprop_over_several_sample_blocks() {
    // Two E blocks through one call: each matches its product, the diagonals of W are built once.
    let (m, c, h, stride, slots) = (4, 6, 5, 16, 128);
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let w = random_matrix(&mut rng, c, h);
    let lw = Layout::weights(c, h, stride, slots);
    let mut g = HeGraph::new();
    let vw = g.input("W", lw.clone());
    let mut inputs = HashMap::from([("W".to_owned(), lw.pack(&w))]);
    let mut es = Vec::new();
    let mut wants = Vec::new();
    for t in 0..2 {
        let e = random_matrix(&mut rng, m, c);
        let le = Layout::samples(m, c, stride, slots).at_row(t * m);
        es.push(g.input(&format!("E{t}"), le.clone()));
        inputs.insert(format!("E{t}"), le.pack(&e));
        wants.push(matmul_ab(&e, &w, m, c, h));
    }
    let ps = kernels::diagonal_backprop_blocks(&mut g, &es, &[vw], 1.0).unwrap();
    for (t, &p) in ps.iter().enumerate() {
        g.output(&format!("P{t}"), p).unwrap();
    }
    let out = simulate(&g, &inputs).unwrap();
    for (t, (&p, want)) in ps.iter().zip(&wants).enumerate() {
        let lp = g.ty(p).unwrap().layout.clone();
        assert_eq!(lp.first_row, t * m);
        assert_close(&lp.unpack(&out.outputs[&format!("P{t}")]), want);
    }
    assert_eq!(
        KernelCost::counted(&g),
        kernels::diagonal_backprop_cost(stride, c.next_power_of_two(), 1, 2, false)
    );
}
