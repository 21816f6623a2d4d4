#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::collapsible_if
)] // test code: a survey printed with --ignored --nocapture
use henn_he_ir::{HeGraph, HeOp, ValueId};
use henn_lower::lower::{LowerConfig, lower_step};
use std::collections::BTreeMap;

fn survey(g: &HeGraph) {
    let mut c: BTreeMap<String, usize> = BTreeMap::new();
    let users = |v: ValueId| {
        g.graph
            .neighbors_directed(v.0, petgraph::Direction::Outgoing)
            .count()
    };
    for idx in g.graph.node_indices() {
        let v = ValueId(idx);
        let n = g.node(v).unwrap();
        let ops = g.operands(v);
        let opn = |i: usize| g.node(ops[i]).unwrap().op.clone();
        match &n.op {
            HeOp::Rotate(r) => {
                let inner = opn(0);
                *c.entry(format!("rot of {}", inner.mnemonic())).or_default() += 1;
                if let HeOp::Rotate(_) = inner {
                    *c.entry(format!("rot(rot) inner users {}", users(ops[0])))
                        .or_default() += 1;
                }
                let _ = r;
            }
            HeOp::AddCC | HeOp::SubCC => {
                let rk = |x: ValueId| match g.node(x).unwrap().op {
                    HeOp::Rotate(r) => Some(r.0),
                    _ => None,
                };
                for (i, j) in [(0usize, 1usize), (1, 0)] {
                    if let Some(k) = rk(ops[j]) {
                        if matches!(g.node(ops[i]).unwrap().op, HeOp::AddCC) {
                            let inner = g.operands(ops[i]);
                            if inner.iter().any(|&z| rk(z) == Some(k)) {
                                *c.entry(format!(
                                    "add(add(rot k,_),rot k) inner users {}",
                                    users(ops[i])
                                ))
                                .or_default() += 1;
                            }
                        }
                    }
                }
                if let (HeOp::Rotate(a), HeOp::Rotate(b)) = (opn(0), opn(1)) {
                    *c.entry(format!("add(rot,rot) same k {}", a == b))
                        .or_default() += 1;
                }
            }
            HeOp::Rescale => {
                let inner = opn(0);
                *c.entry(format!("rescale of {}", inner.mnemonic()))
                    .or_default() += 1;
                if let HeOp::MulScalar(_) | HeOp::MulCP = inner {
                    let x = g.operands(ops[0])[0];
                    let xi = g.node(x).unwrap().op.mnemonic();
                    *c.entry(format!("rescale({}({xi}))", inner.mnemonic()))
                        .or_default() += 1;
                }
            }
            op => {
                *c.entry(op.mnemonic().to_string()).or_default() += 1;
            }
        }
    }
    for (k, v) in c {
        println!("{k:40} {v}");
    }
    println!("key switches {}", g.key_switches());
    assert!(g.key_switches() > 0, "the surveyed graph is empty");
}

/// A measurement, not a check of behaviour: counts the rewrite patterns in the bundled examples'
/// lowered graphs (why the local rules find nothing to gain there; BENCHMARKS.md).
/// `cargo test --release -p henn-opt --test survey -- --ignored --nocapture survey_examples`
#[test]
#[ignore = "survey of the bundled examples' graphs (prints pattern counts); see its doc comment"]
fn survey_examples() {
    for (file, log_n) in [
        ("seed.henn", 16u32),
        ("seed.henn", 15),
        ("digits-bootstrapped.henn", 16),
    ] {
        let src = std::fs::read_to_string(format!(
            "{}/../../examples/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let model = henn_sema::check_source(file, &src).unwrap();
        let step = henn_tir::build_train_step(&model, model.schedule.batch_size).unwrap();
        let l = lower_step(
            &step,
            &LowerConfig {
                slots: 1 << (log_n - 1),
                stride: None,
            },
        )
        .unwrap();
        println!("== {file} N=2^{log_n}: nodes {}", l.graph.len());
        survey(&l.graph);
        let t = std::time::Instant::now();
        let o = henn_opt::optimize(&l.graph, &henn_opt::OptConfig::default()).unwrap();
        println!("{:?} in {:?}", o.report, t.elapsed());
        survey(&o.graph);
    }
}
