//! The builder and the validator share one type rule: illegal operations are refused when built
//! (with a typed reason), a kernel's stated layout is fixed at creation and checked there, and the
//! validator re-applies the same rule to a graph edited afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use henn_he_ir::op::{InferError, OperandPos};
use henn_he_ir::{HeGraph, HeOp, IrError, Layout, Limits, Padding, validate};

#[test]
fn builder_rejects_product_of_unrelinearized_ciphertexts() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 4, 16));
    let sq = g.mul_lazy(a, a).unwrap();
    let err = g.mul_lazy(sq, a).unwrap_err();
    assert!(
        matches!(
            err,
            IrError::IllegalOp {
                op: "mul",
                reason: InferError::ProductNotRelinearized { left: 2, right: 1 },
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("relinearized"), "{err}");
}

#[test]
fn builder_names_the_offending_operand() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 4, 16));
    let pt = g.constant("one", Layout::samples(4, 4, 4, 16), vec![(0, 1.0)]);
    let err = g.op(HeOp::AddCC, &[a, pt]).unwrap_err();
    assert!(
        matches!(
            err,
            IrError::IllegalOp {
                reason: InferError::NotCiphertext {
                    operand: OperandPos::Right
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "illegal `add`: right operand must be a ciphertext"
    );
}

#[test]
fn a_stated_layout_is_the_nodes_type_from_creation() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 4, 16));
    let r = g.rotate(a, 1).unwrap();
    assert_eq!(g.ty(r).unwrap().layout.padding, Padding::Garbage);
    // A kernel that masked the garbage away states the zero padding when it builds the node.
    let clean = Layout::samples(4, 4, 4, 16);
    let s = g.add_as(a, r, Some(clean.clone())).unwrap();
    let ty = g.ty(s).unwrap();
    assert_eq!(ty.layout, clean);
    assert_eq!((ty.depth.0, ty.scale_pow, ty.degree), (0, 1, 1));
    assert!(validate(&g, &Limits::default()).is_empty());
}

#[test]
fn a_stated_layout_keeps_the_slot_count_and_stride() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 4, 16));
    let b = g.input("B", Layout::samples(4, 4, 4, 16));
    let err = g
        .add_as(a, b, Some(Layout::samples(4, 4, 4, 32)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            IrError::IllegalOp {
                reason: InferError::LayoutSlots {
                    stated: 32,
                    inferred: 16
                },
                ..
            }
        ),
        "{err:?}"
    );
    let err = g
        .add_as(a, b, Some(Layout::samples(2, 4, 8, 16)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            IrError::IllegalOp {
                reason: InferError::LayoutStride {
                    stated: 8,
                    inferred: 4
                },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn sharing_never_changes_an_existing_nodes_layout() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 4, 16));
    let b = g.input("B", Layout::samples(4, 4, 4, 16));
    let plain = g.add(a, b).unwrap();
    // The same request again is shared...
    assert_eq!(g.add(a, b).unwrap(), plain);
    assert_eq!(
        g.add_as(a, b, Some(Layout::samples(4, 4, 4, 16))).unwrap(),
        plain
    );
    // ...but one that states another layout gets its own node, and the first keeps its type.
    let restated = Layout::weights(4, 4, 4, 16);
    let other = g.add_as(a, b, Some(restated.clone())).unwrap();
    assert_ne!(other, plain);
    assert_eq!(g.ty(other).unwrap().layout, restated);
    assert_eq!(g.ty(plain).unwrap().layout, Layout::samples(4, 4, 4, 16));
}

#[test]
fn the_validator_applies_the_same_rule_to_an_edited_graph() {
    let mut g = HeGraph::new();
    let a = g.input("A", Layout::samples(4, 4, 4, 16));
    let b = g.input("B", Layout::samples(4, 4, 4, 16));
    let s = g.add(a, b).unwrap();
    // A rewrite that edits the raw graph behind the builder's back is caught.
    if let Some(n) = g.graph.node_weight_mut(s.0) {
        n.ty.layout.stride = 8;
    }
    let errors = validate(&g, &Limits::default());
    assert!(
        errors.iter().any(|e| matches!(
            e,
            IrError::IllTyped {
                reason: InferError::LayoutStride { .. },
                ..
            }
        )),
        "{errors:?}"
    );
}
