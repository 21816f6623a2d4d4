//! `henn graph PLAN`: the plan's instruction stream as Graphviz DOT (one node per instruction,
//! edges from each value to its users), grouped in clusters by stage and layer, key switches and
//! bootstraps coloured; `--json` writes one object per instruction instead.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use henn_plan::HeOp;

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// A plan written by `henn compile`.
    pub plan: PathBuf,
    /// Write the DOT text here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Leave out plaintext constants (masks), which clutter large graphs.
    #[arg(long)]
    pub no_consts: bool,
    /// One JSON object per instruction (index, op, label, depth, stage, layer, operands).
    #[arg(long)]
    pub json: bool,
}

fn label(plan: &henn_plan::Plan, op: &HeOp) -> String {
    match op {
        HeOp::Input { name } => format!("input {name}"),
        HeOp::Output { name } => format!("output {name}"),
        HeOp::Rotate(r) => format!("rotate {}", r.0),
        HeOp::Const(id) => {
            let name = plan
                .program
                .consts
                .get(id.0 as usize)
                .map_or("?", |c| c.name.as_str());
            format!("const {name}")
        }
        op => op.mnemonic().to_owned(),
    }
}

/// The cluster an instruction belongs to: its stage and layer.
fn cluster(ins: &henn_plan::plan::Instr) -> String {
    match ins.origin.layer {
        Some(l) => format!("{:?} layer {}", ins.origin.stage, l + 1),
        None => format!("{:?}", ins.origin.stage),
    }
}

pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let plan = henn_plan::io::load(&args.plan)?;
    let mut def: HashMap<u32, usize> = HashMap::new();
    let mut clusters: Vec<(String, Vec<String>)> = Vec::new();
    let mut edges = String::new();
    let mut json = String::new();
    for (i, ins) in plan.program.instrs.iter().enumerate() {
        let is_const = matches!(ins.op, HeOp::Const(_));
        let operands: Vec<usize> = ins
            .args
            .iter()
            .filter_map(|a| def.get(&a.0).copied())
            .collect();
        if args.json {
            let v = serde_json::json!({
                "index": i,
                "op": ins.op.mnemonic(),
                "label": label(&plan, &ins.op),
                "depth": ins.ty.depth.0,
                "stage": format!("{:?}", ins.origin.stage),
                "layer": ins.origin.layer.map(|l| l + 1),
                "key_switch": ins.op.is_key_switch(),
                "operands": operands,
            });
            let _ = writeln!(json, "{v}");
        } else if !(is_const && args.no_consts) {
            let colour = match &ins.op {
                HeOp::Bootstrap => ", style=filled, fillcolor=\"#f4a261\"",
                op if op.is_key_switch() => ", style=filled, fillcolor=\"#a8dadc\"",
                _ => "",
            };
            let node = format!(
                "n{i} [label=\"{} (d{})\"{colour}];",
                label(&plan, &ins.op).replace('"', "'"),
                ins.ty.depth.0
            );
            let name = cluster(ins);
            match clusters.last_mut() {
                Some((c, nodes)) if *c == name => nodes.push(node),
                _ => clusters.push((name, vec![node])),
            }
            for src in operands {
                let src_const = matches!(
                    plan.program.instrs.get(src).map(|s| &s.op),
                    Some(HeOp::Const(_))
                );
                if !(src_const && args.no_consts) {
                    let _ = writeln!(edges, "  n{src} -> n{i};");
                }
            }
        }
        def.insert(ins.dst.0, i);
    }
    let text = if args.json {
        json
    } else {
        let mut dot = String::from(
            "digraph plan {\n  rankdir=TB;\n  node [shape=box, fontname=monospace];\n",
        );
        for (k, (name, nodes)) in clusters.iter().enumerate() {
            let _ = writeln!(dot, "  subgraph cluster_{k} {{\n    label=\"{name}\";");
            for n in nodes {
                let _ = writeln!(dot, "    {n}");
            }
            dot.push_str("  }\n");
        }
        dot.push_str(&edges);
        dot.push_str("}\n");
        dot
    };
    match &args.output {
        Some(path) => henn_plan::io::write_atomic(path, text.as_bytes())?,
        None => out!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
