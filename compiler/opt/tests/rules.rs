//! Soundness of every rule on the slot simulator: a small graph where the rule fires, optimized
//! or not, computes the same outputs on random inputs; and the optimizer is deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;

use henn_he_ir::sim::simulate;
use henn_he_ir::{HeGraph, Layout, Packing, Padding};
use henn_opt::{OptConfig, optimize};
use proptest::prelude::*;

const SLOTS: usize = 16;

fn layout() -> Layout {
    Layout {
        packing: Packing::Flat,
        rows: 1,
        first_row: 0,
        cols: SLOTS,
        stride: SLOTS,
        slots: SLOTS,
        padding: Padding::Zero,
    }
}

/// `rot(rot(x, a), b)` next to `rot(x, a + b)` (so the composed key exists), and
/// `rot(x, k) + rot(y, k)`, `rot(x, k) - rot(y, k)`, and `rot(rot(x, a), -a)`.
fn graph(a: i64, b: i64, k: i64) -> HeGraph {
    let mut g = HeGraph::new();
    let x = g.input("x", layout());
    let y = g.input("y", layout());
    let ra = g.rotate(x, a).unwrap();
    let rab = g.rotate(ra, b).unwrap();
    let direct = g.rotate(x, a + b).unwrap();
    let back = g.rotate(ra, -a).unwrap();
    let rx = g.rotate(x, k).unwrap();
    let ry = g.rotate(y, k).unwrap();
    let sum = g.add(rx, ry).unwrap();
    let diff = g.sub(rx, ry).unwrap();
    g.output("compose", rab).unwrap();
    g.output("direct", direct).unwrap();
    g.output("back", back).unwrap();
    g.output("sum", sum).unwrap();
    g.output("diff", diff).unwrap();
    g
}

fn run(g: &HeGraph, x: &[f64], y: &[f64]) -> std::collections::BTreeMap<String, Vec<f64>> {
    let inputs = HashMap::from([("x".to_owned(), x.to_vec()), ("y".to_owned(), y.to_vec())]);
    simulate(g, &inputs).unwrap().outputs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn rotation_rules_keep_the_slots(
        a in 1i64..16, b in 1i64..16, k in 1i64..16,
        x in prop::collection::vec(-10.0f64..10.0, SLOTS),
        y in prop::collection::vec(-10.0f64..10.0, SLOTS),
    ) {
        prop_assume!((a + b) % 16 != 0);
        let g = graph(a, b, k);
        let o = optimize(&g, &OptConfig::default()).unwrap();
        prop_assert_eq!(run(&g, &x, &y), run(&o.graph, &x, &y));
        prop_assert!(o.report.depth_after <= o.report.depth_before);
        // compose saves the outer rotation, back cancels, factor saves one of each pair.
        prop_assert!(o.report.key_switches_after < o.report.key_switches_before, "{:?}", o.report);
        prop_assert!(o.report.fired.get("rotate-compose").copied().unwrap_or(0) > 0);
        prop_assert!(o.report.fired.get("rotate-factor").copied().unwrap_or(0) > 0);
        prop_assert!(henn_he_ir::validate(&o.graph, &henn_he_ir::Limits::default()).is_empty());
    }
}

#[test]
fn the_optimizer_is_deterministic() {
    let g = graph(3, 5, 7);
    let a = optimize(&g, &OptConfig::default()).unwrap().graph;
    let b = optimize(&g, &OptConfig::default()).unwrap().graph;
    assert_eq!(henn_he_ir::print::print(&a), henn_he_ir::print::print(&b));
}

#[test]
fn the_expected_savings_on_the_small_graph() {
    let g = graph(3, 5, 7);
    let o = optimize(&g, &OptConfig::default()).unwrap();
    // Before: rot a, rot b, rot a+b, rot -a, rot k (x), rot k (y) = 6. After: rot a (shared by
    // nothing else once composed? no: `back` cancels to x, `compose` is rot a+b) = rot a+b,
    // rot k (x+y), rot k (x-y) = 3.
    assert_eq!(o.report.key_switches_before, 6);
    assert_eq!(o.report.key_switches_after, 3, "{:?}", o.report);
}
