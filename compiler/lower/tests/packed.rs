//! The window-packed forward product against the plain Volley Revolver kernel and a plain matrix
//! product on the slot simulator, its cost formula against the graph it builds, and the registry's
//! choice between the two.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_he_ir::sim::simulate;
use henn_he_ir::{HeGraph, Layout, Limits, Padding, validate};
use henn_lower::kernels::packed::{packed_forward, packed_forward_cost, packed_windows};
use henn_lower::kernels::registry::KernelRegistry;
use henn_lower::kernels::{self, KernelCost};
use henn_tir::MatMulForm;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u32() as f64 / u32::MAX as f64) * 2.0 - 1.0
}

fn abt(a: &[f64], b: &[f64], m: usize, n: usize, p: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * p];
    for i in 0..m {
        for j in 0..p {
            c[i * p + j] = (0..n).map(|k| a[i * n + k] * b[j * n + k]).sum();
        }
    }
    c
}

/// Builds C = A·Bᵀ for `a_cts` sample blocks with the packed kernel (or the plain one), checks it
/// on the simulator against the plain product (garbage in A's padding when `garbage_a`), checks
/// zero padding of the result, and returns the graph's counts.
fn run(
    (m, n, p): (usize, usize, usize),
    stride: usize,
    slots: usize,
    a_cts: usize,
    garbage_a: bool,
    packed: bool,
    seed: u64,
) -> KernelCost {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let b: Vec<f64> = (0..p * n).map(|_| uniform(&mut rng)).collect();
    let lb = Layout::weights(p, n, stride, slots);
    let mut g = HeGraph::new();
    let vb = g.input("B", lb.clone());
    let mut inputs = HashMap::from([("B".to_owned(), lb.pack(&b))]);
    let mut want = Vec::new();
    for t in 0..a_cts {
        let a: Vec<f64> = (0..m * n).map(|_| uniform(&mut rng)).collect();
        let mut la = Layout::samples(m, n, stride, slots).at_row(t * m);
        let mut packed_a = la.pack(&a);
        if garbage_a {
            la = la.with_padding(Padding::Garbage);
            let mut inside = vec![false; slots];
            for r in 0..m {
                for c in 0..n {
                    for s in la.slots_of(r, c) {
                        inside[s] = true;
                    }
                }
            }
            for (s, x) in packed_a.iter_mut().enumerate() {
                if !inside[s] {
                    *x = 0.5 + uniform(&mut rng);
                }
            }
        }
        let va = g.input(&format!("A{t}"), la);
        inputs.insert(format!("A{t}"), packed_a);
        let c = if packed {
            packed_forward(&mut g, va, &[vb], 0.5).unwrap()
        } else {
            kernels::dvr_forward(&mut g, va, &[vb], 0.5).unwrap()
        };
        g.output(&format!("C{t}"), c).unwrap();
        let mut w = abt(&a, &b, m, n, p);
        w.iter_mut().for_each(|x| *x *= 0.5);
        want.push((c, w));
    }
    assert!(validate(&g, &Limits::default()).is_empty());
    let out = simulate(&g, &inputs).unwrap();
    for (t, (c, want)) in want.iter().enumerate() {
        let lc = g.ty(*c).unwrap().layout.clone();
        assert_eq!(
            (lc.rows, lc.cols, lc.first_row, lc.padding),
            (m, p, t * m, Padding::Zero)
        );
        let got = &out.outputs[&format!("C{t}")];
        for (i, (x, y)) in lc.unpack(got).iter().zip(want).enumerate() {
            assert!((x - y).abs() < 1e-9, "block {t} element {i}: {x} vs {y}");
        }
        let mut inside = vec![false; slots];
        for r in 0..m {
            for col in 0..p {
                for s in lc.slots_of(r, col) {
                    inside[s] = true;
                }
            }
        }
        for (s, (&x, &keep)) in got.iter().zip(&inside).enumerate() {
            assert!(keep || x == 0.0, "slot {s} outside C holds {x}");
        }
    }
    KernelCost::counted(&g)
}

#[test]
fn packed_forward_matches_the_product_and_its_cost() {
    // (m, n, p), stride, slots, sample blocks, garbage in A.
    for (i, (shape, w, slots, a_cts, garbage)) in [
        (8usize, 5usize, 3usize, 16usize, 128usize, 1usize, false),
        (4, 4, 4, 16, 64, 2, true),
        (16, 10, 10, 64, 1024, 2, true),
        (8, 3, 8, 32, 256, 1, false),
        (32, 64, 64, 512, 32768, 2, true),
        (64, 64, 10, 512, 32768, 1, true),
        // Packed sums: inner dimensions too wide for two windows.
        (8, 17, 8, 32, 256, 2, false),
        (16, 60, 16, 64, 1024, 1, true),
        (64, 401, 64, 512, 32768, 2, false),
    ]
    .iter()
    .map(|&(m, n, p, w, s, a, gb)| ((m, n, p), w, s, a, gb))
    .enumerate()
    {
        let (_, n, p) = shape;
        let period = p.next_power_of_two();
        let win = packed_windows(n, period, w).unwrap();
        let got = run(shape, w, slots, a_cts, garbage, true, 40 + i as u64);
        assert_eq!(got, packed_forward_cost(w, period, win, a_cts), "case {i}");
        // Same depth as the plain kernel, fewer key switches.
        let plain = run(shape, w, slots, a_cts, garbage, false, 40 + i as u64);
        assert_eq!(got.depth, plain.depth);
        assert!(
            got.rotations + got.relins < plain.rotations + plain.relins,
            "case {i}: {got:?} vs {plain:?}"
        );
    }
}

#[test]
fn packed_forward_windows() {
    use henn_lower::kernels::packed::{Packing, Windows};
    let w = |packing, width, used| Windows {
        packing,
        width,
        used,
    };
    // 8 inner columns, period 4, rows of 16: two windows of 8 hold products.
    assert_eq!(
        packed_windows(8, 4, 16).unwrap(),
        w(Packing::Products, 8, 2)
    );
    // 9 inner columns: products do not fit two windows; the sums do (windows of 4).
    assert_eq!(packed_windows(9, 4, 16).unwrap(), w(Packing::Sums, 4, 4));
    // The seed's layers: X·W1ᵀ (401 columns) packs sums, the hidden layers pack products.
    assert_eq!(
        packed_windows(401, 64, 512).unwrap(),
        w(Packing::Sums, 64, 8)
    );
    assert_eq!(
        packed_windows(64, 64, 512).unwrap(),
        w(Packing::Products, 64, 8)
    );
    assert_eq!(
        packed_windows(64, 16, 512).unwrap(),
        w(Packing::Products, 64, 8)
    );
    // Nothing to share: one window (period 16 in rows of 16), or period 1.
    assert!(packed_windows(3, 16, 16).is_err());
    assert!(packed_windows(3, 1, 16).is_err());
}

#[test]
fn the_registry_packs_when_it_pays() {
    let mut g = HeGraph::new();
    let narrow = g.input("A", Layout::samples(64, 64, 512, 32768));
    let wide = g.input("X", Layout::samples(64, 401, 512, 32768));
    let b_narrow = g.input("W2", Layout::weights(64, 64, 512, 32768));
    let b_wide = g.input("W1", Layout::weights(64, 401, 512, 32768));
    let reg = KernelRegistry::standard();
    let c = reg
        .choose(MatMulForm::ABt, &g, &[narrow, narrow], &[b_narrow])
        .unwrap();
    assert_eq!(c.kernel.name(), "packed_forward");
    let plain = kernels::dvr_forward_cost(512, 64, 1, 2);
    assert!(c.cost.rotations + c.cost.relins < (plain.rotations + plain.relins) / 4);
    // Wide: packed sums still save the copies (64 shifts, 8 windows).
    let c = reg.choose(MatMulForm::ABt, &g, &[wide], &[b_wide]).unwrap();
    assert_eq!(c.kernel.name(), "packed_forward");
    // Period 2: nothing worth sharing, the plain kernel stays.
    let b_two = g.input("W3", Layout::weights(2, 401, 512, 32768));
    let c = reg.choose(MatMulForm::ABt, &g, &[wide], &[b_two]).unwrap();
    assert_eq!(c.kernel.name(), "vr_forward");
}
