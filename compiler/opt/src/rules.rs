//! The rewrite rules: rotations (the one concern so far; a file per concern as rules are added).
//!
//! Every rule keeps depth, scale and degree (rotations and additions change none of them), so an
//! e-class's depth and scale are those of the node the lowering built, and the rescales and level
//! drops the lowering placed stay valid whatever the extraction picks. Each rule searches the
//! whole e-graph (read-only), then adds what it found; a new node is added only when the type
//! rule accepts it ([`crate::lang::infer_node`]) and unioned only when its type is
//! [`crate::lang::compatible`] with the class's. `spec/rewrite-rules.md` states the conventions.

use std::collections::BTreeSet;

use egg::{EGraph, Id};

use crate::lang::{HeLang, Types, compatible, infer_node};

/// The rules, in the order they run in an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// `rot(rot(x, a), b) → rot(x, a + b)` when the step `a + b` already needs a key (no new
    /// key), and `→ x` when `a + b ≡ 0`.
    RotateCompose,
    /// `rot(x, k) ± rot(y, k) → rot(x ± y, k)`: one rotation instead of two.
    RotateFactor,
}

impl Rule {
    pub const ALL: [Rule; 2] = [Rule::RotateCompose, Rule::RotateFactor];

    pub fn name(self) -> &'static str {
        match self {
            Rule::RotateCompose => "rotate-compose",
            Rule::RotateFactor => "rotate-factor",
        }
    }
}

/// What a match asks for: add `node` (its operands exist) and union it with `class`, or union two
/// existing classes.
#[derive(Debug, Clone)]
pub enum Action {
    /// Add `inner` (when given: its result becomes the operand `Id::from(usize::MAX)` of `node`),
    /// then `node`, and union with `class`.
    Add {
        class: Id,
        inner: Option<HeLang>,
        node: HeLang,
    },
    Union(Id, Id),
}

/// Placeholder operand meaning "the node `inner` of the same action".
pub const INNER: usize = u32::MAX as usize;

/// Facts the rules' guards need.
#[derive(Debug, Clone)]
pub struct Guards {
    pub slots: i64,
    /// Rotation steps (normalized) the graph already needs keys for.
    pub keys: BTreeSet<usize>,
}

fn norm(k: i64, slots: i64) -> i64 {
    if slots == 0 { k } else { k.rem_euclid(slots) }
}

/// The matches of `rule` in `egraph` (deterministic order: classes and nodes as egg stores
/// them, which the `deterministic` feature fixes).
pub fn search(rule: Rule, egraph: &EGraph<HeLang, Types>, guards: &Guards) -> Vec<Action> {
    let mut out = Vec::new();
    for class in egraph.classes() {
        for node in &class.nodes {
            match (rule, node) {
                (Rule::RotateCompose, HeLang::Rot(b, [y])) => {
                    for inner in &egraph[*y].nodes {
                        if let HeLang::Rot(a, [x]) = inner {
                            let s = norm(a + b, guards.slots);
                            if s == 0 {
                                out.push(Action::Union(class.id, *x));
                            } else if guards.keys.contains(&(s as usize)) {
                                out.push(Action::Add {
                                    class: class.id,
                                    inner: None,
                                    node: HeLang::Rot(s, [*x]),
                                });
                            }
                        }
                    }
                }
                (Rule::RotateFactor, HeLang::Add([p, q]) | HeLang::Sub([p, q])) => {
                    let sub = matches!(node, HeLang::Sub(_));
                    for (k, x) in rotations(egraph, *p) {
                        for (k2, y) in rotations(egraph, *q) {
                            if norm(k, guards.slots) != norm(k2, guards.slots) {
                                continue;
                            }
                            let ops = [x, y];
                            let inner = if sub {
                                HeLang::Sub(ops)
                            } else {
                                HeLang::Add(ops)
                            };
                            out.push(Action::Add {
                                class: class.id,
                                inner: Some(inner),
                                node: HeLang::Rot(k, [Id::from(INNER)]),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn rotations(egraph: &EGraph<HeLang, Types>, class: Id) -> Vec<(i64, Id)> {
    egraph[class]
        .nodes
        .iter()
        .filter_map(|n| match n {
            HeLang::Rot(k, [x]) => Some((*k, *x)),
            _ => None,
        })
        .collect()
}

/// Apply one action after the legality checks; true when it changed the e-graph.
pub fn apply(egraph: &mut EGraph<HeLang, Types>, action: Action) -> bool {
    match action {
        Action::Union(a, b) => {
            let (Some(ta), Some(tb)) = (egraph[a].data.ty.clone(), egraph[b].data.ty.clone())
            else {
                return false;
            };
            compatible(&ta, &tb) && egraph.union(a, b)
        }
        Action::Add { class, inner, node } => {
            let Some(target) = egraph[class].data.ty.clone() else {
                return false;
            };
            let mut node = node;
            if let Some(inner) = inner {
                if infer_node(egraph, &inner).is_none() {
                    return false;
                }
                let id = egraph.add(inner);
                for c in node.children_mut_ref() {
                    if usize::from(*c) == INNER {
                        *c = id;
                    }
                }
            }
            match infer_node(egraph, &node) {
                Some(ty) if compatible(&ty, &target) => {
                    let id = egraph.add(node);
                    egraph.union(class, id)
                }
                _ => false,
            }
        }
    }
}

trait ChildrenMut {
    fn children_mut_ref(&mut self) -> &mut [Id];
}

impl ChildrenMut for HeLang {
    fn children_mut_ref(&mut self) -> &mut [Id] {
        egg::Language::children_mut(self)
    }
}
