//! The step graph: validation, printing (snapshots) and the validator's error collection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod common;

use henn_sema::{Derivative, Loss, Momentum, Optimizer};
use henn_tir::*;

/// The examples' step graphs, built from the `.henn` files through the checker.
#[test]
fn example_graphs_validate_and_print() {
    for name in ["digits", "binary", "seed"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../examples/{name}.henn"));
        let model = henn_sema::check_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let step = build_train_step(&model, model.schedule.batch_size).unwrap();
        step.graph.validate().unwrap();
        insta::assert_snapshot!(format!("{name}_train_step"), step.graph.to_text());
    }
}

/// The Rust-built mirror of the digits model (paper cubic), independent of the front end.
#[test]
fn rust_built_digits_graph_prints() {
    let step = build_train_step(&common::digits_model(), 32).unwrap();
    step.graph.validate().unwrap();
    insta::assert_snapshot!("mirror_digits_train_step", step.graph.to_text());
}

#[test]
fn mse_and_from_output_variants_validate() {
    let act = common::poly(vec![0.5, 0.2, 0.0, -0.002], 6.0, Derivative::FromOutput);
    let mut m = common::mlp(
        "v",
        &[5, 4, 3, 2],
        &act,
        Optimizer::Nag {
            lr: 0.1,
            momentum: Momentum::Constant(0.9),
        },
        8,
        1,
    );
    m.loss = Loss::Mse;
    m.layers[1].bias = false;
    m.layers[1].activation = henn_sema::Activation::Identity;
    let step = build_train_step(&m, 8).unwrap();
    step.graph.validate().unwrap();
    insta::assert_snapshot!("variants_train_step", step.graph.to_text());
}

#[test]
fn every_matmul_form_appears_with_the_right_shapes() {
    let step = build_train_step(&common::digits_model(), 32).unwrap();
    let g = &step.graph;
    let mut forms = std::collections::BTreeMap::new();
    for v in g.values() {
        if let Op::MatMul(f) = g.node(v).unwrap().op {
            forms
                .entry(format!("{f:?}"))
                .or_insert_with(Vec::new)
                .push(g.shape(v).unwrap());
        }
    }
    assert_eq!(forms["ABt"], vec![Shape::new(32, 64), Shape::new(32, 10)]);
    assert_eq!(forms["AtB"], vec![Shape::new(10, 64), Shape::new(64, 64)]);
    assert_eq!(forms["AB"], vec![Shape::new(32, 64)]);
}

#[test]
fn builder_rejects_bad_shapes() {
    let mut g = Graph::new("t");
    let a = g.input(InputKind::Features, Shape::new(4, 3));
    let w = g.load(
        Slot {
            layer: LayerIdx(0),
            kind: SlotKind::Weight,
        },
        Shape::new(5, 2),
    );
    let err = g.apply(Op::MatMul(MatMulForm::ABt), &[a, w]).unwrap_err();
    assert!(matches!(err, TirError::Shape { .. }), "{err}");
    assert!(g.apply(Op::MatMul(MatMulForm::AtB), &[a, w]).is_err());
    let b = g.load(
        Slot {
            layer: LayerIdx(0),
            kind: SlotKind::Bias,
        },
        Shape::new(1, 4),
    );
    assert!(g.apply(Op::AddRow, &[a, b]).is_err());
    assert!(g.apply(Op::Add, &[a, b]).is_err());
}

/// A graph broken in four independent ways reports all four.
#[test]
fn validator_collects_all_errors() {
    let mut g = Graph::new("broken");
    let x = g.input(InputKind::Features, Shape::new(4, 3));
    let w = g.load(
        Slot {
            layer: LayerIdx(0),
            kind: SlotKind::Weight,
        },
        Shape::new(2, 3),
    );
    // 1: wrong declared shape (A·Wᵀ is 4x2).
    let z = g.add_raw(
        Node {
            op: Op::MatMul(MatMulForm::ABt),
            shape: Shape::new(4, 3),
            name: None,
        },
        &[(Role::Lhs, x), (Role::Rhs, w)],
    );
    // 2: missing operand role.
    g.add_raw(
        Node {
            op: Op::Sub,
            shape: Shape::new(4, 3),
            name: None,
        },
        &[(Role::Lhs, z)],
    );
    // 3: a slot stored twice; 4: with a shape different from its load.
    let ok = g.apply(Op::Scale(Factor::Const(2.0)), &[w]).unwrap();
    g.store(
        Slot {
            layer: LayerIdx(0),
            kind: SlotKind::Weight,
        },
        ok,
    )
    .unwrap();
    g.store(
        Slot {
            layer: LayerIdx(0),
            kind: SlotKind::Weight,
        },
        x,
    )
    .unwrap();
    let errs = g.validate().unwrap_err().0;
    assert!(
        errs.iter()
            .any(|e| matches!(e, TirError::Shape { node, .. } if *node == z.index())),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| matches!(e, TirError::Operands { .. })),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| matches!(e, TirError::DuplicateStore { count: 2, .. })),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| matches!(e, TirError::SlotShape { .. })),
        "{errs:?}"
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
}

#[test]
fn cycle_is_reported() {
    let mut g = Graph::new("cyclic");
    let x = g.input(InputKind::Features, Shape::new(2, 2));
    let p = g.add_raw(
        Node {
            op: Op::Offset(1.0),
            shape: Shape::new(2, 2),
            name: None,
        },
        &[],
    );
    let q = g.apply(Op::Add, &[x, p]).unwrap();
    g.add_operand_raw(q, p, Role::Arg);
    let errs = g.validate().unwrap_err().0;
    assert!(
        errs.iter().any(|e| matches!(e, TirError::Cycle { .. })),
        "{errs:?}"
    );
}

/// The interpreter refuses an invalid graph instead of indexing out of bounds.
#[test]
fn interpreter_rejects_invalid_graph() {
    let mut g = Graph::new("bad");
    let x = g.input(InputKind::Features, Shape::new(2, 3));
    let w = g.load(
        Slot {
            layer: LayerIdx(0),
            kind: SlotKind::Weight,
        },
        Shape::new(4, 5),
    );
    g.add_raw(
        Node {
            op: Op::MatMul(MatMulForm::ABt),
            shape: Shape::new(2, 4),
            name: None,
        },
        &[(Role::Lhs, x), (Role::Rhs, w)],
    );
    let mut env = henn_tir::interp::Env {
        features: Some(henn_tir::interp::Tensor::zeros(2, 3)),
        ..Default::default()
    };
    let w0 = Slot {
        layer: LayerIdx(0),
        kind: SlotKind::Weight,
    };
    env.state.insert(w0, henn_tir::interp::Tensor::zeros(4, 5));
    assert!(matches!(
        henn_tir::interp::run(&g, &env),
        Err(TirError::Invalid(_))
    ));
    // A valid graph with an environment tensor of the wrong shape is an error too.
    let mut ok = Graph::new("ok");
    let x = ok.input(InputKind::Features, Shape::new(2, 3));
    ok.apply(Op::Offset(1.0), &[x]).unwrap();
    env.features = Some(henn_tir::interp::Tensor::zeros(3, 2));
    assert!(matches!(
        henn_tir::interp::run(&ok, &env),
        Err(TirError::Shape { .. })
    ));
}
