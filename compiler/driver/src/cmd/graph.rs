//! `henn graph PLAN`: the plan's instruction stream as Graphviz DOT (one node per instruction,
//! edges from each value to its users), one cluster per part of the step (the inputs; each
//! stage and layer; the bootstrap refreshes of each; the outputs) ranked top to bottom in
//! pipeline order (forward by layer, backward from the last layer, which holds the output error,
//! to the first, update by layer), key switches and bootstraps coloured, with a legend. `--json`
//! writes one object per instruction, then one summary object with the counts per cluster.
//!
//! The parts come from the stage and layer the compiler records per instruction
//! (`Instr::origin`); inputs, outputs and bootstraps by their operation; a plaintext constant
//! sits with its first user.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use henn_plan::HeOp;
use henn_plan::plan::{Instr, Plan};
use henn_plan::types::Stage;

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
    /// One JSON object per instruction (index, op, label, depth, stage, layer, cluster,
    /// operands), then `{"summary": …}` with the nodes and edges of each cluster.
    #[arg(long)]
    pub json: bool,
}

/// One cluster of the graph; the derived order is the pipeline order (top to bottom).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Part {
    Inputs,
    /// A stage's work on one layer (`None`: not tied to a layer), or with `refresh` the
    /// bootstraps refreshing its values, right after it. The key orders backward layers from the
    /// last to the first.
    Step {
        stage: Stage,
        key: i64,
        refresh: bool,
        layer: Option<u32>,
    },
    Outputs,
}

impl Part {
    fn of(ins: &Instr) -> Part {
        let (stage, layer) = (ins.origin.stage, ins.origin.layer);
        let key = match (stage, layer) {
            (_, None) => -1,
            (Stage::Backward, Some(l)) => -i64::from(l),
            (_, Some(l)) => i64::from(l),
        };
        match ins.op {
            HeOp::Input { .. } => Part::Inputs,
            HeOp::Output { .. } => Part::Outputs,
            _ => Part::Step {
                stage,
                key,
                refresh: matches!(ins.op, HeOp::Bootstrap),
                layer,
            },
        }
    }

    fn name(self) -> String {
        let step = |stage: Stage, layer: Option<u32>| {
            let stage = stage_name(stage);
            match layer {
                Some(l) => format!("{stage} · layer {}", l + 1),
                None => stage.to_owned(),
            }
        };
        match self {
            Part::Inputs => "Inputs".to_owned(),
            Part::Outputs => "Outputs".to_owned(),
            Part::Step {
                stage,
                layer,
                refresh: false,
                ..
            } => step(stage, layer),
            Part::Step { stage, layer, .. } => {
                format!("Bootstrap refresh · {}", step(stage, layer))
            }
        }
    }

    /// The cluster's background.
    fn fill(self) -> &'static str {
        match self {
            Part::Inputs | Part::Outputs => "#eeeeee",
            Part::Step { refresh: true, .. } => REFRESH_FILL,
            Part::Step { stage, .. } => stage_fill(stage),
        }
    }
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Forward => "Forward",
        Stage::Backward => "Backward",
        Stage::Update => "Update",
    }
}

fn stage_fill(s: Stage) -> &'static str {
    match s {
        Stage::Forward => "#e3f2fd",
        Stage::Backward => "#fce4ec",
        Stage::Update => "#e8f5e9",
    }
}

const KEY_SWITCH_FILL: &str = "#a8dadc";
const BOOTSTRAP_FILL: &str = "#f4a261";
const REFRESH_FILL: &str = "#fde2c8";

fn label(plan: &Plan, op: &HeOp) -> String {
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

/// The graph of a plan: each instruction's operands (instruction indices) and part.
struct Graph {
    operands: Vec<Vec<usize>>,
    parts: Vec<Part>,
}

impl Graph {
    fn of(plan: &Plan) -> Graph {
        let instrs = &plan.program.instrs;
        let mut def: HashMap<u32, usize> = HashMap::new();
        let mut operands: Vec<Vec<usize>> = Vec::with_capacity(instrs.len());
        for (i, ins) in instrs.iter().enumerate() {
            operands.push(
                ins.args
                    .iter()
                    .filter_map(|a| def.get(&a.0).copied())
                    .collect(),
            );
            def.insert(ins.dst.0, i);
        }
        let mut parts: Vec<Part> = instrs.iter().map(Part::of).collect();
        // A constant sits with its first user (the layer whose mask it is).
        let mut placed = vec![false; instrs.len()];
        for (i, ops) in operands.iter().enumerate() {
            for &src in ops {
                if matches!(instrs[src].op, HeOp::Const(_)) && !placed[src] {
                    placed[src] = true;
                    parts[src] = parts[i];
                }
            }
        }
        Graph { operands, parts }
    }
}

/// Nodes and edges of one cluster (edges counted at their target).
#[derive(Default)]
struct Counts {
    nodes: usize,
    key_switches: usize,
    bootstraps: usize,
    edges_within: usize,
    edges_in: usize,
}

pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let plan = henn_plan::io::load(&args.plan)?;
    let graph = Graph::of(&plan);
    let instrs = &plan.program.instrs;
    let shown = |i: usize| !(args.no_consts && matches!(instrs[i].op, HeOp::Const(_)));
    let mut clusters: BTreeMap<Part, (Vec<usize>, Counts)> = BTreeMap::new();
    let mut edges = Vec::new();
    for (i, ins) in instrs.iter().enumerate().filter(|(i, _)| shown(*i)) {
        let part = graph.parts[i];
        let (nodes, counts) = clusters.entry(part).or_default();
        nodes.push(i);
        counts.nodes += 1;
        counts.key_switches += usize::from(ins.op.is_key_switch());
        counts.bootstraps += usize::from(matches!(ins.op, HeOp::Bootstrap));
        for &src in graph.operands[i].iter().filter(|&&s| shown(s)) {
            edges.push((src, i));
            if graph.parts[src] == part {
                counts.edges_within += 1;
            } else {
                counts.edges_in += 1;
            }
        }
    }
    let text = if args.json {
        json(&plan, &graph, &clusters, edges.len())
    } else {
        dot(&plan, &clusters, &edges)
    };
    match &args.output {
        Some(path) => henn_plan::io::write_atomic(path, text.as_bytes())?,
        None => out!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn json(
    plan: &Plan,
    graph: &Graph,
    clusters: &BTreeMap<Part, (Vec<usize>, Counts)>,
    edges: usize,
) -> String {
    let mut out = String::new();
    let mut shown: Vec<usize> = clusters
        .values()
        .flat_map(|(n, _)| n.iter().copied())
        .collect();
    shown.sort_unstable();
    for i in shown {
        let ins = &plan.program.instrs[i];
        let v = serde_json::json!({
            "index": i,
            "op": ins.op.mnemonic(),
            "label": label(plan, &ins.op),
            "depth": ins.ty.depth.0,
            "stage": format!("{:?}", ins.origin.stage),
            "layer": ins.origin.layer.map(|l| l + 1),
            "cluster": graph.parts[i].name(),
            "key_switch": ins.op.is_key_switch(),
            "operands": graph.operands[i],
        });
        let _ = writeln!(out, "{v}");
    }
    let per_cluster: Vec<serde_json::Value> = clusters
        .iter()
        .map(|(part, (_, c))| {
            serde_json::json!({
                "name": part.name(),
                "nodes": c.nodes,
                "key_switches": c.key_switches,
                "bootstraps": c.bootstraps,
                "edges_within": c.edges_within,
                "edges_in": c.edges_in,
            })
        })
        .collect();
    let v = serde_json::json!({ "summary": {
        "nodes": clusters.values().map(|(_, c)| c.nodes).sum::<usize>(),
        "edges": edges,
        "clusters": per_cluster,
    }});
    let _ = writeln!(out, "{v}");
    out
}

fn dot(
    plan: &Plan,
    clusters: &BTreeMap<Part, (Vec<usize>, Counts)>,
    edges: &[(usize, usize)],
) -> String {
    let mut dot = String::from(
        "digraph plan {\n  rankdir=TB;\n  newrank=true;\n  node [shape=box, fontname=monospace];\n",
    );
    for (k, (part, (nodes, c))) in clusters.iter().enumerate() {
        let _ = writeln!(
            dot,
            "  subgraph cluster_{k} {{\n    label=\"{} ({} ops, {} key switches)\";\n    \
             style=filled;\n    fillcolor=\"{}\";",
            part.name(),
            c.nodes,
            c.key_switches,
            part.fill()
        );
        for &i in nodes {
            let ins = &plan.program.instrs[i];
            let style = match &ins.op {
                HeOp::Bootstrap => format!(", style=filled, fillcolor=\"{BOOTSTRAP_FILL}\""),
                op if op.is_key_switch() => {
                    format!(", style=filled, fillcolor=\"{KEY_SWITCH_FILL}\"")
                }
                HeOp::Const(_) => ", shape=note".to_owned(),
                _ => ", style=filled, fillcolor=white".to_owned(),
            };
            let _ = writeln!(
                dot,
                "    n{i} [label=\"{} (d{})\"{style}];",
                label(plan, &ins.op).replace('"', "'"),
                ins.ty.depth.0
            );
        }
        dot.push_str("  }\n");
    }
    for (src, dst) in edges {
        let _ = writeln!(dot, "  n{src} -> n{dst};");
    }
    // Pipeline order, top to bottom: each cluster's first node below the previous cluster's.
    let firsts: Vec<usize> = clusters
        .values()
        .filter_map(|(n, _)| n.first().copied())
        .collect();
    for w in firsts.windows(2) {
        let _ = writeln!(dot, "  n{} -> n{} [style=invis, weight=10];", w[0], w[1]);
    }
    dot.push_str(&legend());
    dot.push_str("}\n");
    dot
}

/// The legend: what the node colours and the cluster backgrounds mean.
fn legend() -> String {
    let mut s =
        String::from("  subgraph cluster_legend {\n    label=\"legend\";\n    node [shape=box];\n");
    let mut entries: Vec<(String, String)> = vec![
        (
            "key switch (rotate, relinearize)".into(),
            KEY_SWITCH_FILL.into(),
        ),
        ("bootstrap".into(), BOOTSTRAP_FILL.into()),
        ("other operation (dN: depth)".into(), "white".into()),
    ];
    for stage in [Stage::Forward, Stage::Backward, Stage::Update] {
        entries.push((
            format!("{} cluster", stage_name(stage)),
            stage_fill(stage).into(),
        ));
    }
    entries.push(("bootstrap refresh cluster".into(), REFRESH_FILL.into()));
    for (k, (text, fill)) in entries.iter().enumerate() {
        let _ = writeln!(
            s,
            "    legend_{k} [label=\"{text}\", style=filled, fillcolor=\"{fill}\"];"
        );
    }
    s.push_str("    legend_c [label=\"plaintext constant\", shape=note];\n");
    for k in 0..entries.len() {
        let next = if k + 1 < entries.len() {
            format!("legend_{}", k + 1)
        } else {
            "legend_c".to_owned()
        };
        let _ = writeln!(s, "    legend_{k} -> {next} [style=invis];");
    }
    s.push_str("  }\n");
    s
}
