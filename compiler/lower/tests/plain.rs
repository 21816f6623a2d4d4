//! The ciphertext × plaintext forward product (plaintext weights) against a plain matrix product
//! on the slot simulator, its cost formula against the graph it builds, and its comparison with
//! the Volley Revolver kernel on encrypted weights.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_he_ir::sim::simulate;
use henn_he_ir::{HeGraph, Layout, Limits, Padding, validate};
use henn_lower::kernels::plain::{
    PlainMatrix, plain_add_row, plain_forward, plain_forward_cost, plain_forward_shape,
};
use henn_lower::kernels::{self, KernelCost};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u32() as f64 / u32::MAX as f64) * 2.0 - 1.0
}

/// `scale·(A·Wᵀ + b)` for `a_cts` sample blocks of `m` rows (garbage in A's padding when
/// `garbage`), checked slot by slot on the simulator, zero outside C; returns the graph's counts
/// before the bias.
fn run(
    (m, n, p): (usize, usize, usize),
    (stride, slots): (usize, usize),
    a_cts: usize,
    garbage: bool,
    seed: u64,
) -> KernelCost {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = PlainMatrix {
        name: "W1".into(),
        rows: p,
        cols: n,
        data: (0..p * n).map(|_| uniform(&mut rng)).collect(),
    };
    let b = PlainMatrix {
        name: "b1".into(),
        rows: 1,
        cols: p,
        data: (0..p).map(|_| uniform(&mut rng)).collect(),
    };
    let scale = 0.5;
    let mut g = HeGraph::new();
    let mut inputs = HashMap::new();
    let mut products = Vec::new();
    let mut want = Vec::new();
    for t in 0..a_cts {
        let a: Vec<f64> = (0..m * n).map(|_| uniform(&mut rng)).collect();
        let mut la = Layout::samples(m, n, stride, slots).at_row(t * m);
        let mut packed = la.pack(&a);
        if garbage {
            la = la.with_padding(Padding::Garbage);
            for (s, x) in packed.iter_mut().enumerate() {
                if s / stride >= m || s % stride >= n {
                    *x = 3.0 + uniform(&mut rng);
                }
            }
        }
        let va = g.input(&format!("A{t}"), la);
        inputs.insert(format!("A{t}"), packed);
        products.push(plain_forward(&mut g, va, &w, scale).unwrap());
        let mut c = vec![0.0; m * p];
        for i in 0..m {
            for o in 0..p {
                let dot: f64 = (0..n).map(|k| a[i * n + k] * w.data[o * n + k]).sum();
                c[i * p + o] = scale * dot + b.data[o];
            }
        }
        want.push(c);
    }
    let cost = KernelCost::counted(&g);
    for (t, &c) in products.iter().enumerate() {
        let z = plain_add_row(&mut g, c, &b).unwrap();
        g.output(&format!("C{t}"), z).unwrap();
    }
    assert!(validate(&g, &Limits::default()).is_empty());
    let out = simulate(&g, &inputs).unwrap();
    for (t, want) in want.iter().enumerate() {
        let got = &out.outputs[&format!("C{t}")];
        let lc = Layout::samples(m, p, stride, slots).at_row(t * m);
        for (i, (x, y)) in lc.unpack(got).iter().zip(want).enumerate() {
            assert!((x - y).abs() < 1e-9, "block {t} element {i}: {x} vs {y}");
        }
        for (s, &x) in got.iter().enumerate() {
            let inside = s / stride < m && s % stride < p;
            assert!(inside || x == 0.0, "slot {s} outside C holds {x}");
        }
    }
    cost
}

#[test]
fn plain_forward_matches_the_product_and_its_cost() {
    // (m, n, p), (stride, slots), sample blocks, garbage in A.
    for (i, &(shape, grid, a_cts, garbage)) in [
        ((8usize, 5usize, 3usize), (16usize, 128usize), 1usize, false),
        ((4, 4, 4), (16, 64), 2, true),
        ((16, 10, 10), (16, 256), 2, true),
        ((8, 3, 8), (32, 256), 1, false),
        ((3, 64, 10), (64, 256), 2, true),
        ((2, 30, 16), (32, 64), 1, true),
        ((5, 1, 1), (1, 8), 1, false),
        ((1, 16, 16), (16, 16), 1, true),
    ]
    .iter()
    .enumerate()
    {
        let got = run(shape, grid, a_cts, garbage, 7 + i as u64);
        let (_, n, p) = shape;
        assert_eq!(got, plain_forward_cost(n, p, grid.1, a_cts), "case {i}");
        assert_eq!((got.depth, got.relins, got.ct_mults), (1, 0, 0));
    }
}

#[test]
fn the_diagonal_split_is_baby_step_giant_step() {
    // 64 inputs, 10 outputs: 73 diagonals, B = next_pow2(⌈√73⌉) = 16 baby steps, 5 groups.
    assert_eq!(plain_forward_shape(64, 10), (73, 16, 5));
    assert_eq!(plain_forward_shape(1, 1), (1, 1, 1));
    assert_eq!(plain_forward_shape(30, 16), (45, 8, 6));
    // The rotations of one block: B baby steps (one of them the identity) and G − 1 giant steps.
    assert_eq!(plain_forward_cost(64, 10, 4096, 1).rotations, 15 + 4);
}

#[test]
fn plain_weights_beat_the_volley_revolver_on_encrypted_weights() {
    // The digits layer (64 → 10) on 4096 slots, rows of 64: three blocks of queries.
    let (stride, slots, blocks) = (64usize, 4096usize, 3usize);
    let plain = plain_forward_cost(64, 10, slots, blocks);
    let vr = kernels::dvr_forward_cost(stride, 16, 1, blocks);
    assert!(plain.depth < vr.depth);
    assert_eq!(plain.relins, 0);
    assert!(
        plain.rotations < vr.rotations,
        "plain {plain:?} vs VR {vr:?}"
    );
}

#[test]
fn plain_forward_refuses_mismatched_shapes() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 8, 16, 64));
    let w = PlainMatrix {
        name: "W".into(),
        rows: 3,
        cols: 7,
        data: vec![0.0; 21],
    };
    assert!(plain_forward(&mut g, a, &w, 1.0).is_err());
    // Wider than a row.
    let a = g.input("A2", Layout::samples(4, 8, 8, 64));
    let w = PlainMatrix {
        name: "W2".into(),
        rows: 9,
        cols: 8,
        data: vec![0.0; 72],
    };
    assert!(plain_forward(&mut g, a, &w, 1.0).is_err());
    // Values that do not fill the matrix.
    let w = PlainMatrix {
        name: "W3".into(),
        rows: 2,
        cols: 8,
        data: vec![0.0; 15],
    };
    assert!(plain_forward(&mut g, a, &w, 1.0).is_err());
    let b = PlainMatrix {
        name: "b".into(),
        rows: 1,
        cols: 3,
        data: vec![0.0; 3],
    };
    assert!(plain_add_row(&mut g, a, &b).is_err());
}
