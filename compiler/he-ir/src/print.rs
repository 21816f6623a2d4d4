//! The text form of an HE IR graph: one line per node in topological order, with its type.
//!
//! ```text
//! %3 = mul %0, %2            : ct d0 Δ^2 deg2 samples 4x4/w4
//! ```

use std::fmt::Write;

use petgraph::algo::toposort;

use crate::graph::{HeGraph, ValueId};
use crate::op::HeOp;
use crate::types::{Kind, Packing, Padding};

/// Render the graph (nodes in a deterministic topological order).
pub fn print(graph: &HeGraph) -> String {
    let mut out = String::new();
    // Insertion order when it is topological (as the builder leaves it: it follows the kernels'
    // loops and matches the schedule), else a topological sort.
    let mut order: Vec<_> = graph.graph.node_indices().collect();
    if !order
        .iter()
        .all(|&v| graph.operands(ValueId(v)).iter().all(|o| o.0 < v))
    {
        order = match toposort(&graph.graph, None) {
            Ok(order) => order,
            Err(_) => return "<cyclic graph>\n".to_owned(),
        };
    }
    for idx in order {
        let v = ValueId(idx);
        let Some(node) = graph.node(v) else { continue };
        let args: Vec<String> = graph
            .operands(v)
            .iter()
            .map(|o| format!("%{}", o.0.index()))
            .collect();
        let op = match &node.op {
            HeOp::Input { name } => format!("input \"{name}\""),
            HeOp::Output { name } => format!("output \"{name}\""),
            HeOp::Const(id) => {
                let name = graph
                    .consts
                    .get(id.0 as usize)
                    .map_or("?", |c| c.name.as_str());
                format!("const \"{name}\"")
            }
            HeOp::AddScalar(c) | HeOp::MulScalar(c) => format!("{} {c}", node.op.mnemonic()),
            HeOp::MulInt(n) => format!("mul_int {n}"),
            HeOp::LevelDrop { to } => format!("level_drop to d{to}"),
            HeOp::Rotate(r) => format!("rotate {}", r.0),
            other => other.mnemonic().to_owned(),
        };
        let lhs = if args.is_empty() {
            op
        } else {
            format!("{op} {}", args.join(", "))
        };
        let t = &node.ty;
        let kind = if t.kind == Kind::Cipher { "ct" } else { "pt" };
        let packing = match t.layout.packing {
            Packing::Samples => "samples".to_owned(),
            Packing::Weights { period } => format!("weights/{period}"),
            Packing::Flat => "flat".to_owned(),
        };
        let pad = if t.layout.padding == Padding::Garbage {
            " +garbage"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "%{:<4} = {lhs:<40} : {kind} d{} Δ^{} deg{} {packing} {}x{}/w{}{pad}",
            idx.index(),
            t.depth.0,
            t.scale_pow,
            t.degree,
            t.layout.rows,
            t.layout.cols,
            t.layout.stride
        );
    }
    out
}
