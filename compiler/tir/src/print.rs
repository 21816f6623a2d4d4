//! The text form of the IR, one node per line in insertion (topological) order:
//!
//! ```text
//! %5 = matmul.abt %0, %3 : 32x64  ; Z1
//! ```
//!
//! Operands are listed in role order (`Lhs`, `Rhs` for binary ops). The format is stable and
//! snapshot-tested; change it only together with the snapshots.

use std::fmt::{self, Write as _};

use crate::graph::{Factor, Graph, InputKind, LossKind, MatMulForm, Op, PolyRole};

fn coef(c: f64) -> String {
    // Shortest round-trip form keeps the printout exact and stable.
    format!("{c:?}")
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Input(InputKind::Features) => f.write_str("input features"),
            Op::Input(InputKind::Labels) => f.write_str("input labels"),
            Op::Load(slot) => write!(f, "load {slot}"),
            Op::Store(slot) => write!(f, "store {slot}"),
            Op::MatMul(MatMulForm::ABt) => f.write_str("matmul.abt"),
            Op::MatMul(MatMulForm::AtB) => f.write_str("matmul.atb"),
            Op::MatMul(MatMulForm::AB) => f.write_str("matmul.ab"),
            Op::Add => f.write_str("add"),
            Op::Sub => f.write_str("sub"),
            Op::Mul => f.write_str("mul"),
            Op::AddRow => f.write_str("add.row"),
            Op::Scale(Factor::Const(c)) => write!(f, "scale {}", coef(*c)),
            Op::Scale(Factor::Momentum) => f.write_str("scale momentum"),
            Op::Offset(c) => write!(f, "offset {}", coef(*c)),
            Op::Poly {
                coeffs,
                role,
                layer,
                interval,
            } => {
                let r = match role {
                    PolyRole::Activation => "act",
                    PolyRole::Derivative => "deriv",
                };
                let cs: Vec<String> = coeffs.iter().map(|&c| coef(c)).collect();
                write!(
                    f,
                    "poly.{r}[layer {}, on [{}, {}]] ({})",
                    layer.0 + 1,
                    coef(interval.0),
                    coef(interval.1),
                    cs.join(", ")
                )
            }
            Op::ColSum => f.write_str("colsum"),
            Op::Loss(LossKind::Bce) => f.write_str("loss.bce"),
            Op::Loss(LossKind::Mse) => f.write_str("loss.mse"),
        }
    }
}

impl Graph {
    /// Renders the graph as text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "graph {} ({} nodes)", self.label, self.len());
        for v in self.values() {
            let Some(node) = self.node(v) else { continue };
            let _ = write!(out, "  %{} = {}", v.index(), node.op);
            let ops = self.operands(v);
            let ordered: Vec<String> = node
                .op
                .roles()
                .iter()
                .filter_map(|role| ops.iter().find(|(r, _)| r == role))
                .map(|(_, src)| format!("%{}", src.index()))
                .collect();
            if !ordered.is_empty() {
                let _ = write!(out, " {}", ordered.join(", "));
            }
            let _ = write!(out, " : {}", node.shape);
            if let Some(name) = &node.name {
                let _ = write!(out, "  ; {name}");
            }
            out.push('\n');
        }
        out
    }
}
