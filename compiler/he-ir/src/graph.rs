//! The HE IR graph: a `petgraph::StableGraph` of [`Node`]s (operation + inferred type) with operand
//! edges, a pool of plaintext constants, and a builder API that infers every type as it goes.
//!
//! Type inference lives in one rule, [`infer`] (with [`infer_stated`] for a result whose layout its
//! kernel states), used both by the builder (so an illegal node is never added) and by the validator
//! (so a graph edited by a later rewrite stage is re-checked the same way). A node's type, layout
//! included, is fixed when it is created: there is no way to change it afterwards. The builder
//! hash-conses nodes: asking twice for the same operation on the same operands returns the first
//! node, so a rotation shared by two kernels is computed once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use crate::error::IrError;
use crate::op::{ConstId, HeOp, Operand};
use crate::types::{Depth, Kind, Layout, Origin, Rotation, ValueType};
pub use henn_plan::op::{infer, infer_stated};

/// Handle of a value (a node) in an [`HeGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ValueId(pub NodeIndex);

/// An operation and the type of the value it produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub op: HeOp,
    pub ty: ValueType,
    /// Stage and layer of the computation that created the node (reports only).
    pub origin: Origin,
}

/// A plaintext constant: sparse slot values (zero elsewhere), plus the layout it is meant for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constant {
    pub name: String,
    pub layout: Layout,
    /// `(slot, value)` pairs in increasing slot order.
    pub entries: Vec<(u32, f64)>,
}

impl Constant {
    /// The dense slot vector.
    pub fn dense(&self) -> Vec<f64> {
        let mut v = vec![0.0; self.layout.slots];
        for &(s, x) in &self.entries {
            if let Some(slot) = v.get_mut(s as usize) {
                *slot = x;
            }
        }
        v
    }
}

/// What makes two requests "the same node" for hash-consing: the operation (floats compared by
/// their bits, so two scalars that differ in the last bit stay apart) and its operands. A typed
/// key rather than a printed one: the bootstrap placement replays whole graphs many times, and
/// formatting every request dominated the compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CseKey {
    Const(ConstId),
    Op {
        kind: std::mem::Discriminant<HeOp>,
        payload: u64,
        operands: [Option<ValueId>; 2],
    },
}

impl CseKey {
    /// The key of `op` on `operands`; `None` for nodes never shared (inputs and outputs are
    /// named, and more than two operands does not occur).
    fn of(op: &HeOp, operands: &[ValueId]) -> Option<CseKey> {
        let payload = match op {
            HeOp::Input { .. } | HeOp::Output { .. } => return None,
            HeOp::Const(id) => u64::from(id.0),
            HeOp::AddScalar(x) | HeOp::MulScalar(x) => x.to_bits(),
            HeOp::MulInt(n) => *n as u64,
            HeOp::LevelDrop { to } => u64::from(*to),
            HeOp::Rotate(r) => r.0 as u64,
            _ => 0,
        };
        let (a, b) = match operands {
            [] => (None, None),
            [a] => (Some(*a), None),
            [a, b] => (Some(*a), Some(*b)),
            _ => return None,
        };
        Some(CseKey::Op {
            kind: std::mem::discriminant(op),
            payload,
            operands: [a, b],
        })
    }
}

/// A multiply-rotate hasher for [`CseKey`]s (small integers: node indices, discriminants,
/// float bits). The standard SipHash resists collision flooding by untrusted keys, which node
/// indices are not, and it was a fifth of the compile time.
#[derive(Debug, Clone, Copy, Default)]
struct NodeHasher(u64);

impl NodeHasher {
    fn mix(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for NodeHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, x: u8) {
        self.mix(u64::from(x));
    }

    fn write_u32(&mut self, x: u32) {
        self.mix(u64::from(x));
    }

    fn write_u64(&mut self, x: u64) {
        self.mix(x);
    }

    fn write_usize(&mut self, x: usize) {
        self.mix(x as u64);
    }

    fn write_isize(&mut self, x: isize) {
        self.mix(x as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The HE IR of a computation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeGraph {
    pub graph: StableGraph<Node, Operand>,
    /// The constant pool, shared between a graph and the graphs passes rebuild from it (the
    /// bootstrap placement replays the step once per round; copying the masks each time cost
    /// more than the replay). Copied on write.
    pub consts: Arc<Vec<Constant>>,
    #[serde(skip)]
    const_by_name: HashMap<String, ConstId>,
    #[serde(skip)]
    cse: HashMap<CseKey, ValueId, BuildHasherDefault<NodeHasher>>,
    /// The origin given to nodes created from now on (set by the lowering).
    #[serde(skip)]
    pub origin: Origin,
}

impl HeGraph {
    pub fn new() -> HeGraph {
        HeGraph::default()
    }

    pub fn node(&self, v: ValueId) -> Option<&Node> {
        self.graph.node_weight(v.0)
    }

    /// The type of a value. Every `ValueId` handed out by the builder is valid.
    pub fn ty(&self, v: ValueId) -> Result<&ValueType, IrError> {
        self.node(v)
            .map(|n| &n.ty)
            .ok_or(IrError::UnknownValue { node: v.0.index() })
    }

    /// Operands of a node, in operand order.
    pub fn operands(&self, v: ValueId) -> Vec<ValueId> {
        let mut edges: Vec<(Operand, NodeIndex)> = self
            .graph
            .edges_directed(v.0, Direction::Incoming)
            .map(|e| (*e.weight(), e.source()))
            .collect();
        edges.sort();
        edges.into_iter().map(|(_, n)| ValueId(n)).collect()
    }

    /// A fresh ciphertext supplied by the data owner.
    pub fn input(&mut self, name: &str, layout: Layout) -> ValueId {
        let ty = ValueType {
            kind: Kind::Cipher,
            depth: Depth(0),
            scale_pow: 1,
            degree: 1,
            layout,
        };
        let id = self.graph.add_node(Node {
            op: HeOp::Input {
                name: name.to_owned(),
            },
            ty,
            origin: self.origin,
        });
        ValueId(id)
    }

    /// An empty graph that shares `other`'s constant pool (same ids): for passes that rebuild a
    /// graph, so the masks are copied once rather than one by one. The name index is rebuilt
    /// from the pool (a deserialized graph does not carry it).
    pub fn with_constants_of(other: &HeGraph) -> HeGraph {
        let const_by_name = other
            .consts
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), ConstId(i as u32)))
            .collect();
        HeGraph {
            consts: Arc::clone(&other.consts),
            const_by_name,
            ..HeGraph::default()
        }
    }

    /// Room for a graph the size of `other` (a pass that rebuilds `other` then neither
    /// regrows its node and edge lists nor rehashes its sharing index).
    pub fn reserve_like(&mut self, other: &HeGraph) {
        self.graph.reserve_nodes(other.graph.node_count());
        self.graph.reserve_edges(other.graph.edge_count());
        self.cse.reserve(other.graph.node_count());
    }

    /// The node of a constant already in the pool (shared like [`HeGraph::constant`]).
    pub fn pool_constant(&mut self, id: ConstId) -> Result<ValueId, IrError> {
        if id.0 as usize >= self.consts.len() {
            return Err(IrError::UnknownValue {
                node: id.0 as usize,
            });
        }
        Ok(self.const_node(id))
    }

    /// A plaintext constant, deduplicated by name (the same mask requested twice is one constant).
    pub fn constant(&mut self, name: &str, layout: Layout, entries: Vec<(u32, f64)>) -> ValueId {
        let id = match self.const_by_name.get(name) {
            Some(&id) => id,
            None => {
                let id = ConstId(self.consts.len() as u32);
                Arc::make_mut(&mut self.consts).push(Constant {
                    name: name.to_owned(),
                    layout,
                    entries,
                });
                self.const_by_name.insert(name.to_owned(), id);
                id
            }
        };
        self.const_node(id)
    }

    /// The (shared) node reading pool constant `id`, which exists.
    fn const_node(&mut self, id: ConstId) -> ValueId {
        let key = CseKey::Const(id);
        if let Some(&v) = self.cse.get(&key) {
            return v;
        }
        let layout = self.consts[id.0 as usize].layout.clone();
        let ty = ValueType {
            kind: Kind::Plain,
            depth: Depth(0),
            scale_pow: 1,
            degree: 1,
            layout,
        };
        let v = ValueId(self.graph.add_node(Node {
            op: HeOp::Const(id),
            ty,
            origin: self.origin,
        }));
        self.cse.insert(key, v);
        v
    }

    /// Add an operation after inferring (and so checking) its type. Identical requests are shared.
    pub fn op(&mut self, op: HeOp, operands: &[ValueId]) -> Result<ValueId, IrError> {
        self.op_as(op, operands, None)
    }

    /// Add an operation whose result has the layout `stated` (when given) rather than the inferred
    /// one: for a kernel that knows better than the inference what its result holds (a masked sum
    /// is zero-padded, a column sum is a weight row; the kernel's tests prove the claim on the slot
    /// simulator). The stated layout is checked against the inferred one ([`infer_stated`]: same
    /// slot count and row stride). Identical requests are shared when their layouts agree; a
    /// request that states another layout than the existing node gets a node of its own.
    pub fn op_as(
        &mut self,
        op: HeOp,
        operands: &[ValueId],
        stated: Option<Layout>,
    ) -> Result<ValueId, IrError> {
        let mut key = CseKey::of(&op, operands);
        if let Some(k) = &key
            && let Some(&v) = self.cse.get(k)
        {
            match &stated {
                Some(layout) if self.ty(v)?.layout != *layout => key = None,
                _ => return Ok(v),
            }
        }
        let tys: Vec<&ValueType> = operands
            .iter()
            .map(|&v| self.ty(v))
            .collect::<Result<_, _>>()?;
        let ty = match &stated {
            None => infer(&op, &tys),
            Some(layout) => infer_stated(&op, &tys, layout),
        }
        .map_err(|reason| IrError::IllegalOp {
            op: op.mnemonic(),
            reason,
        })?;
        let id = self.graph.add_node(Node {
            op,
            ty,
            origin: self.origin,
        });
        for (i, v) in operands.iter().enumerate() {
            self.graph.add_edge(v.0, id, Operand(i as u8));
        }
        let v = ValueId(id);
        if let Some(key) = key {
            self.cse.insert(key, v);
        }
        Ok(v)
    }

    // ----- convenience builders (the baseline policy: eager rescale, relinearize before rescale) ---

    /// Bring two ciphertexts to the same depth by dropping levels on the shallower one.
    pub fn align(&mut self, a: ValueId, b: ValueId) -> Result<(ValueId, ValueId), IrError> {
        let (da, db) = (self.ty(a)?.depth, self.ty(b)?.depth);
        Ok(match da.cmp(&db) {
            std::cmp::Ordering::Less => (self.op(HeOp::LevelDrop { to: db.0 }, &[a])?, b),
            std::cmp::Ordering::Greater => (a, self.op(HeOp::LevelDrop { to: da.0 }, &[b])?),
            std::cmp::Ordering::Equal => (a, b),
        })
    }

    /// a + b, aligning depths first.
    pub fn add(&mut self, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
        self.add_as(a, b, None)
    }

    /// a + b with the stated layout (see [`HeGraph::op_as`]), aligning depths first.
    pub fn add_as(
        &mut self,
        a: ValueId,
        b: ValueId,
        stated: Option<Layout>,
    ) -> Result<ValueId, IrError> {
        let (a, b) = self.align(a, b)?;
        self.op_as(HeOp::AddCC, &[a, b], stated)
    }

    /// a − b, aligning depths first.
    pub fn sub(&mut self, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
        let (a, b) = self.align(a, b)?;
        self.op(HeOp::SubCC, &[a, b])
    }

    /// a ⊙ b as a degree-2 ciphertext (for lazy relinearization of sums of products).
    pub fn mul_lazy(&mut self, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
        let (a, b) = self.align(a, b)?;
        self.op(HeOp::MulCC, &[a, b])
    }

    /// Relinearize and rescale a product.
    pub fn relin_rescale(&mut self, v: ValueId) -> Result<ValueId, IrError> {
        self.relin_rescale_as(v, None)
    }

    /// Relinearize and rescale a product; the result has the stated layout (see
    /// [`HeGraph::op_as`]).
    pub fn relin_rescale_as(
        &mut self,
        v: ValueId,
        stated: Option<Layout>,
    ) -> Result<ValueId, IrError> {
        let r = self.op(HeOp::Relin, &[v])?;
        self.op_as(HeOp::Rescale, &[r], stated)
    }

    /// a ⊙ b, relinearized and rescaled (one level).
    pub fn mul(&mut self, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
        let p = self.mul_lazy(a, b)?;
        self.relin_rescale(p)
    }

    /// ct ⊙ pt, rescaled (one level).
    pub fn mul_plain(&mut self, a: ValueId, pt: ValueId) -> Result<ValueId, IrError> {
        self.mul_plain_as(a, pt, None)
    }

    /// ct ⊙ pt, rescaled (one level); the result has the stated layout (see [`HeGraph::op_as`]).
    pub fn mul_plain_as(
        &mut self,
        a: ValueId,
        pt: ValueId,
        stated: Option<Layout>,
    ) -> Result<ValueId, IrError> {
        let p = self.op(HeOp::MulCP, &[a, pt])?;
        self.op_as(HeOp::Rescale, &[p], stated)
    }

    /// ct · c for a real constant, rescaled (one level). Integers should use [`HeOp::MulInt`].
    pub fn mul_scalar(&mut self, a: ValueId, c: f64) -> Result<ValueId, IrError> {
        if c.fract() == 0.0 && c.abs() < 2f64.powi(31) {
            return self.op(HeOp::MulInt(c as i64), &[a]);
        }
        let p = self.op(HeOp::MulScalar(c), &[a])?;
        self.op(HeOp::Rescale, &[p])
    }

    /// Rotate left by `k` slots (identity for k ≡ 0).
    pub fn rotate(&mut self, a: ValueId, k: i64) -> Result<ValueId, IrError> {
        let slots = self.ty(a)?.layout.slots as i64;
        if slots == 0 || k.rem_euclid(slots) == 0 {
            return Ok(a);
        }
        self.op(HeOp::Rotate(Rotation(k)), &[a])
    }

    /// `a + rot(a, step) + rot(a, 2·step) + …` over `count` (a power of two) terms, by log2(count)
    /// rotate-and-add doublings.
    pub fn rotate_and_sum(
        &mut self,
        a: ValueId,
        step: i64,
        count: usize,
    ) -> Result<ValueId, IrError> {
        self.rotate_and_sum_as(a, step, count, None)
    }

    /// [`HeGraph::rotate_and_sum`] whose last addition has the stated layout (see
    /// [`HeGraph::op_as`]). With fewer than two terms nothing is added, so `a` must already have
    /// that layout.
    pub fn rotate_and_sum_as(
        &mut self,
        a: ValueId,
        step: i64,
        count: usize,
        stated: Option<Layout>,
    ) -> Result<ValueId, IrError> {
        let mut acc = a;
        let mut shift = 1usize;
        while shift < count {
            let r = self.rotate(acc, step * shift as i64)?;
            let last = shift * 2 >= count;
            acc = self.add_as(acc, r, if last { stated.clone() } else { None })?;
            shift *= 2;
        }
        if count < 2
            && let Some(layout) = &stated
            && self.ty(a)?.layout != *layout
        {
            return Err(IrError::Invalid {
                node: a.0.index(),
                op: "rotate_and_sum",
                reason: "a single term cannot take another layout".into(),
            });
        }
        Ok(acc)
    }

    /// A named result.
    pub fn output(&mut self, name: &str, v: ValueId) -> Result<ValueId, IrError> {
        self.op(
            HeOp::Output {
                name: name.to_owned(),
            },
            &[v],
        )
    }

    // ----- queries used by reports and the plan -----

    /// Live node count.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// How many operations of each kind the graph performs.
    pub fn op_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for n in self.graph.node_weights() {
            *counts.entry(n.op.mnemonic()).or_insert(0) += 1;
        }
        counts
    }

    /// The rotation steps (normalized into `0..slots`) the graph needs Galois keys for.
    pub fn rotation_steps(&self) -> BTreeSet<usize> {
        self.graph
            .node_weights()
            .filter_map(|n| match n.op {
                HeOp::Rotate(r) => Some(r.normalized(n.ty.layout.slots)),
                _ => None,
            })
            .collect()
    }

    /// The greatest depth any value reaches: the levels the computation consumes.
    pub fn max_depth(&self) -> u32 {
        self.graph
            .node_weights()
            .map(|n| n.ty.depth.0)
            .max()
            .unwrap_or(0)
    }

    /// Number of key switches (relinearizations, rotations, conjugations).
    pub fn key_switches(&self) -> usize {
        self.graph
            .node_weights()
            .filter(|n| n.op.is_key_switch())
            .count()
    }
}
