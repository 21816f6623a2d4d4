//! `henn graph PLAN`: the plan's instruction stream as Graphviz DOT (one node per instruction,
//! edges from each value to its users).

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
}

pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let plan = henn_plan::io::load(&args.plan)?;
    let mut dot =
        String::from("digraph plan {\n  rankdir=TB;\n  node [shape=box, fontname=monospace];\n");
    let mut def: HashMap<u32, usize> = HashMap::new();
    for (i, ins) in plan.program.instrs.iter().enumerate() {
        let is_const = matches!(ins.op, HeOp::Const(_));
        if !(is_const && args.no_consts) {
            let label = match &ins.op {
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
            };
            let _ = writeln!(
                dot,
                "  n{i} [label=\"{} (d{})\"];",
                label.replace('"', "'"),
                ins.ty.depth.0
            );
            for a in &ins.args {
                if let Some(&src) = def.get(&a.0) {
                    let src_const = matches!(
                        plan.program.instrs.get(src).map(|s| &s.op),
                        Some(HeOp::Const(_))
                    );
                    if !(src_const && args.no_consts) {
                        let _ = writeln!(dot, "  n{src} -> n{i};");
                    }
                }
            }
        }
        def.insert(ins.dst.0, i);
    }
    dot.push_str("}\n");
    match &args.output {
        Some(path) => henn_plan::io::write_atomic(path, dot.as_bytes())?,
        None => out!("{dot}"),
    }
    Ok(ExitCode::SUCCESS)
}
