//! The e-graph language of the HE IR and its analysis.
//!
//! Rotations, additions and subtractions are first-class nodes (the rules rewrite them); every
//! other operation is an [`HeLang::Op`] naming an entry of the operation table the analysis keeps
//! (inputs and outputs are one entry per node, so two inputs are never merged; every other
//! operation is interned by its exact value, floats by their bits). The analysis carries each
//! e-class's [`ValueType`] (kind, depth, scale, degree, layout) and the stage and layer that made
//! it: a node is added only when the IR's one type rule ([`henn_he_ir::op::infer`]) accepts it,
//! and a union only when both sides agree on kind, depth, scale and degree.

use std::collections::HashMap;

use egg::{Analysis, DidMerge, EGraph, Id, Language};
use henn_he_ir::types::Origin;
use henn_he_ir::{HeOp, Padding, ValueType};

/// One e-node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeLang {
    /// Left rotation by the step (not normalized: steps are compared modulo the slot count by
    /// the rules).
    Rot(i64, [Id; 1]),
    Add([Id; 2]),
    Sub([Id; 2]),
    /// Any other operation: an index into [`Types::ops`] and its operands.
    Op(u32, Vec<Id>),
}

/// What [`Language::matches`] compares: the operation without its operands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Disc {
    Rot(i64),
    Add,
    Sub,
    Op(u32),
}

impl Language for HeLang {
    type Discriminant = Disc;

    fn discriminant(&self) -> Disc {
        match self {
            HeLang::Rot(k, _) => Disc::Rot(*k),
            HeLang::Add(_) => Disc::Add,
            HeLang::Sub(_) => Disc::Sub,
            HeLang::Op(i, _) => Disc::Op(*i),
        }
    }

    fn matches(&self, other: &Self) -> bool {
        self.discriminant() == other.discriminant()
            && self.children().len() == other.children().len()
    }

    fn children(&self) -> &[Id] {
        match self {
            HeLang::Rot(_, c) => c,
            HeLang::Add(c) | HeLang::Sub(c) => c,
            HeLang::Op(_, c) => c,
        }
    }

    fn children_mut(&mut self) -> &mut [Id] {
        match self {
            HeLang::Rot(_, c) => c,
            HeLang::Add(c) | HeLang::Sub(c) => c,
            HeLang::Op(_, c) => c,
        }
    }
}

/// The analysis: the operation table and the types of the translated graph's sources.
#[derive(Debug, Default)]
pub struct Types {
    /// Operations named by [`HeLang::Op`].
    pub ops: Vec<HeOp>,
    index: HashMap<String, u32>,
    /// Types of nodes the type rule does not derive (inputs and constants), by table index.
    pub source_types: HashMap<u32, ValueType>,
}

/// An e-class's facts.
#[derive(Debug, Clone)]
pub struct ClassData {
    /// `None` only for a node the type rule refuses, which the rules never add.
    pub ty: Option<ValueType>,
    /// Stage and layer of the first node in the class (reports only).
    pub origin: Origin,
}

impl Types {
    /// The table index of `op`; inputs and outputs (`unique`) get an entry of their own.
    pub fn intern(&mut self, op: &HeOp, unique: Option<usize>) -> u32 {
        let key = match unique {
            Some(node) => format!("#{node}"),
            None => format!("{op:?}"),
        };
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.ops.len() as u32;
        self.ops.push(op.clone());
        self.index.insert(key, i);
        i
    }

    /// The operation a node performs.
    pub fn op_of(&self, node: &HeLang) -> Option<HeOp> {
        Some(match node {
            HeLang::Rot(k, _) => HeOp::Rotate(henn_he_ir::Rotation(*k)),
            HeLang::Add(_) => HeOp::AddCC,
            HeLang::Sub(_) => HeOp::SubCC,
            HeLang::Op(i, _) => self.ops.get(*i as usize)?.clone(),
        })
    }
}

/// The type `node` would have in `egraph`, or `None` when the type rule refuses it.
pub fn infer_node(egraph: &EGraph<HeLang, Types>, node: &HeLang) -> Option<ValueType> {
    if let HeLang::Op(i, c) = node
        && c.is_empty()
    {
        return egraph.analysis.source_types.get(i).cloned();
    }
    let op = egraph.analysis.op_of(node)?;
    let tys: Vec<&ValueType> = node
        .children()
        .iter()
        .map(|&c| egraph[c].data.ty.as_ref())
        .collect::<Option<_>>()?;
    henn_he_ir::op::infer(&op, &tys).ok()
}

/// Whether two types may describe one e-class: same kind, depth, scale, degree and slot count.
pub fn compatible(a: &ValueType, b: &ValueType) -> bool {
    a.kind == b.kind
        && a.depth == b.depth
        && a.scale_pow == b.scale_pow
        && a.degree == b.degree
        && a.layout.slots == b.layout.slots
        && a.layout.stride == b.layout.stride
}

impl Analysis<HeLang> for Types {
    type Data = ClassData;

    fn make(egraph: &mut EGraph<HeLang, Self>, enode: &HeLang, _id: Id) -> ClassData {
        let origin = enode
            .children()
            .first()
            .map(|&c| egraph[c].data.origin)
            .unwrap_or_default();
        ClassData {
            ty: infer_node(egraph, enode),
            origin,
        }
    }

    /// Both sides compute the same slots, so each side's layout claim is true of the class: keep
    /// the more precise one (zero padding over garbage), else the existing one.
    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        match (&a.ty, b.ty) {
            (None, Some(t)) => {
                a.ty = Some(t);
                DidMerge(true, false)
            }
            (Some(ta), Some(tb))
                if ta.layout.padding == Padding::Garbage
                    && tb.layout.padding != Padding::Garbage =>
            {
                a.ty = Some(tb);
                DidMerge(true, true)
            }
            _ => DidMerge(false, true),
        }
    }
}
