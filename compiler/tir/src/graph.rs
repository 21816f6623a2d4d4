//! The graph itself: typed nodes on a `petgraph` [`StableGraph`], operand-role edges, and a
//! builder that infers and checks every shape as nodes are added.

use std::fmt;

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use crate::error::TirError;

/// A 2-D shape `rows × cols`. Every value in the IR is a matrix; a bias is `1 × n`, a scalar
/// `1 × 1`. Samples are always rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    pub rows: usize,
    pub cols: usize,
}

impl Shape {
    pub const fn new(rows: usize, cols: usize) -> Self {
        Self { rows, cols }
    }

    /// Number of elements.
    pub const fn len(self) -> usize {
        self.rows * self.cols
    }

    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
    }
}

/// Handle of a value (= the node that produces it). A newtype so that raw petgraph indices of
/// other graphs cannot be passed by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ValueId(pub NodeIndex<u32>);

impl ValueId {
    /// The index used by the printer (`%n`).
    pub fn index(self) -> usize {
        self.0.index()
    }
}

/// A layer index, 0-based in the model's layer order (printed 1-based as in the maths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LayerIdx(pub usize);

/// Persistent training state the step reads at its start ([`Op::Load`]) and replaces at its end
/// ([`Op::Store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Slot {
    pub layer: LayerIdx,
    pub kind: SlotKind,
}

/// The kind of a state slot: `W_ℓ` (`outputs × inputs`, row i = neuron i's weights), `b_ℓ`
/// (`1 × outputs`), and for NAG `U_ℓ` / `u_ℓ`, the previous plain gradient steps. The owner
/// contract's type, so the trainer and the owner name state the same way.
pub use henn_contract::StateKind as SlotKind;

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.layer.0 + 1;
        match self.kind {
            SlotKind::Weight => write!(f, "W{n}"),
            SlotKind::Bias => write!(f, "b{n}"),
            SlotKind::WeightPrev => write!(f, "U{n}"),
            SlotKind::BiasPrev => write!(f, "u{n}"),
        }
    }
}

/// Per-step data fed into the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InputKind {
    /// `X`: the scaled features of the batch (`batch × features`).
    Features,
    /// `Y`: the targets (`batch × classes`), one-hot or a single 0/1 column.
    Labels,
}

/// The three matrix-product shapes of a training step (they need different HE encodings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatMulForm {
    /// `A·Bᵀ` (forward: `Z = A_prev · Wᵀ`).
    ABt,
    /// `Aᵀ·B` (weight gradient: `G = Eᵀ · A_prev`).
    AtB,
    /// `A·B` (error back-propagation: `E · W`).
    AB,
}

/// What a polynomial node computes, so that range checks and the HE lowering know its purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolyRole {
    /// σ̃(Z) of a layer: its input is range-checked against the fitted interval.
    Activation,
    /// σ̃′(Z): the derivative polynomial on the pre-activation.
    Derivative,
}

/// A scalar factor of [`Op::Scale`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Factor {
    Const(f64),
    /// The NAG momentum coefficient `γ_t` of the current step (constant, or Nesterov's
    /// sequence); the runner supplies it per step, a plan bakes it in per iteration.
    Momentum,
}

/// The loss as monitored in plaintext. Not on the update path: under encryption it is never
/// computed (BCE needs a logarithm), only the error `A − Y` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LossKind {
    /// Mean over the batch of `−Σ_k [y ln a + (1−y) ln(1−a)]`, with `a` clamped to
    /// `[1e-7, 1 − 1e-7]` because a polynomial σ̃ can leave `(0, 1)`.
    Bce,
    /// Mean over the batch of `½ Σ_k (a − y)²`.
    Mse,
}

/// One operation. Operands arrive on incoming edges labelled with a [`Role`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Input(InputKind),
    Load(Slot),
    /// Writes the operand (`Arg`) into the slot as the state after this step. Produces nothing
    /// used by other nodes; its shape is the slot's.
    Store(Slot),
    /// `Lhs`, `Rhs` → the product in the given form.
    MatMul(MatMulForm),
    /// Elementwise `Lhs + Rhs` (same shapes).
    Add,
    /// Elementwise `Lhs − Rhs`.
    Sub,
    /// Elementwise (Hadamard) `Lhs ⊙ Rhs`.
    Mul,
    /// `Lhs (n×m) + Rhs (1×m)` added to every row (a bias).
    AddRow,
    /// `factor · Arg`.
    Scale(Factor),
    /// `Arg + c` elementwise.
    Offset(f64),
    /// `p(Arg)` elementwise; coefficients lowest degree first. `interval` is where `p` is
    /// trusted (activation nodes are range-checked against it).
    Poly {
        coeffs: Vec<f64>,
        role: PolyRole,
        layer: LayerIdx,
        interval: (f64, f64),
    },
    /// Column sums of `Arg` (`n×m → 1×m`): the bias gradient.
    ColSum,
    /// The monitored loss of `Lhs` = outputs `A`, `Rhs` = targets `Y` (`→ 1×1`).
    Loss(LossKind),
}

impl Op {
    /// The operand roles this op takes, in order.
    pub fn roles(&self) -> &'static [Role] {
        match self {
            Op::Input(_) | Op::Load(_) => &[],
            Op::Store(_) | Op::Scale(_) | Op::Offset(_) | Op::Poly { .. } | Op::ColSum => {
                &[Role::Arg]
            }
            Op::MatMul(_) | Op::Add | Op::Sub | Op::Mul | Op::AddRow | Op::Loss(_) => {
                &[Role::Lhs, Role::Rhs]
            }
        }
    }
}

/// The role of an operand edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Arg,
    Lhs,
    Rhs,
}

/// A node: the op, the shape of its result and an optional human name (`Z1`, `E2`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub op: Op,
    pub shape: Shape,
    pub name: Option<String>,
}

/// A tensor-IR graph of one training step (or of inference).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Graph {
    /// A label for the printer (the model name and batch size).
    pub label: String,
    pub(crate) g: StableGraph<Node, Role>,
}

impl Graph {
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            g: StableGraph::new(),
        }
    }

    /// The node behind a handle.
    pub fn node(&self, v: ValueId) -> Option<&Node> {
        self.g.node_weight(v.0)
    }

    /// Shape of a value (panic-free: unknown handles have no shape).
    pub fn shape(&self, v: ValueId) -> Option<Shape> {
        self.node(v).map(|n| n.shape)
    }

    /// All node handles in insertion order (which the builder keeps topological).
    pub fn values(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.g.node_indices().map(ValueId)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// Operands of `v` sorted by role (`Arg`, `Lhs`, `Rhs`).
    pub fn operands(&self, v: ValueId) -> Vec<(Role, ValueId)> {
        let mut ops: Vec<(Role, ValueId)> = self
            .g
            .edges_directed(v.0, Direction::Incoming)
            .map(|e| (*e.weight(), ValueId(e.source())))
            .collect();
        ops.sort();
        ops
    }

    /// The first node with this name.
    pub fn find(&self, name: &str) -> Option<ValueId> {
        self.values()
            .find(|&v| self.node(v).and_then(|n| n.name.as_deref()) == Some(name))
    }

    /// Adds a node without any checks (the validator is the safety net). Used by the builder
    /// methods below and by tests that construct broken graphs on purpose.
    pub fn add_raw(&mut self, node: Node, operands: &[(Role, ValueId)]) -> ValueId {
        let id = self.g.add_node(node);
        for &(role, src) in operands {
            self.g.add_edge(src.0, id, role);
        }
        ValueId(id)
    }

    /// Adds one operand edge `from → to` without checks (tests use it to build broken graphs).
    pub fn add_operand_raw(&mut self, from: ValueId, to: ValueId, role: Role) {
        self.g.add_edge(from.0, to.0, role);
    }

    fn shape_of(&self, v: ValueId) -> Result<Shape, TirError> {
        self.shape(v)
            .ok_or(TirError::UnknownValue { value: v.index() })
    }

    fn push(&mut self, op: Op, shape: Shape, operands: &[(Role, ValueId)]) -> ValueId {
        self.add_raw(
            Node {
                op,
                shape,
                name: None,
            },
            operands,
        )
    }

    /// Gives a value a name for the printer and for lookups.
    pub fn set_name(&mut self, v: ValueId, name: impl Into<String>) {
        if let Some(n) = self.g.node_weight_mut(v.0) {
            n.name = Some(name.into());
        }
    }

    pub fn input(&mut self, kind: InputKind, shape: Shape) -> ValueId {
        self.push(Op::Input(kind), shape, &[])
    }

    pub fn load(&mut self, slot: Slot, shape: Shape) -> ValueId {
        self.push(Op::Load(slot), shape, &[])
    }

    pub fn store(&mut self, slot: Slot, value: ValueId) -> Result<ValueId, TirError> {
        let s = self.shape_of(value)?;
        Ok(self.push(Op::Store(slot), s, &[(Role::Arg, value)]))
    }

    /// The result shape of `op` applied to operands of the given shapes, or why it is invalid.
    pub fn infer(op: &Op, shapes: &[Shape]) -> Result<Shape, String> {
        let need = op.roles().len();
        if shapes.len() != need {
            return Err(format!("takes {need} operands, has {}", shapes.len()));
        }
        let same = |a: Shape, b: Shape| {
            if a == b {
                Ok(a)
            } else {
                Err(format!("operand shapes {a} and {b} differ"))
            }
        };
        match op {
            Op::Input(_) | Op::Load(_) => Err("a leaf has no inferred shape".to_owned()),
            Op::Store(_) | Op::Scale(_) | Op::Offset(_) | Op::Poly { .. } => Ok(shapes[0]),
            Op::ColSum => Ok(Shape::new(1, shapes[0].cols)),
            Op::Add | Op::Sub | Op::Mul => same(shapes[0], shapes[1]),
            Op::Loss(_) => same(shapes[0], shapes[1]).map(|_| Shape::new(1, 1)),
            Op::AddRow => {
                let (a, b) = (shapes[0], shapes[1]);
                if b.rows == 1 && b.cols == a.cols {
                    Ok(a)
                } else {
                    Err(format!("row vector {b} does not fit {a}"))
                }
            }
            Op::MatMul(form) => {
                let (a, b) = (shapes[0], shapes[1]);
                let (inner_a, inner_b, out) = match form {
                    MatMulForm::ABt => (a.cols, b.cols, Shape::new(a.rows, b.rows)),
                    MatMulForm::AtB => (a.rows, b.rows, Shape::new(a.cols, b.cols)),
                    MatMulForm::AB => (a.cols, b.rows, Shape::new(a.rows, b.cols)),
                };
                if inner_a == inner_b {
                    Ok(out)
                } else {
                    Err(format!(
                        "{form:?} of {a} and {b}: inner sizes {inner_a} and {inner_b}"
                    ))
                }
            }
        }
    }

    /// Adds `op` on `operands` (given in the order of [`Op::roles`]) after inferring its shape.
    pub fn apply(&mut self, op: Op, operands: &[ValueId]) -> Result<ValueId, TirError> {
        let shapes = operands
            .iter()
            .map(|&v| self.shape_of(v))
            .collect::<Result<Vec<_>, _>>()?;
        let shape = Self::infer(&op, &shapes).map_err(|reason| TirError::Shape {
            node: self.g.node_count(),
            op: format!("{op:?}"),
            reason,
        })?;
        let roles: Vec<(Role, ValueId)> = op
            .roles()
            .iter()
            .copied()
            .zip(operands.iter().copied())
            .collect();
        Ok(self.push(op, shape, &roles))
    }

    /// [`Graph::apply`] followed by [`Graph::set_name`].
    pub fn named(&mut self, name: &str, op: Op, operands: &[ValueId]) -> Result<ValueId, TirError> {
        let v = self.apply(op, operands)?;
        self.set_name(v, name);
        Ok(v)
    }
}
