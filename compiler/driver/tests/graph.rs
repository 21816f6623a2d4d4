//! `henn graph`: the plan as DOT with one cluster per part of the step (inputs, each stage and
//! layer, outputs) in pipeline order, every node in exactly one cluster, and a legend; `--json`
//! with per-cluster counts. `dot` may not be installed, so the text is checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{henn, ok, tiny, train_csv};

/// Cluster label → node ids, in the order the clusters appear, and every node id defined.
struct Dot {
    clusters: Vec<(String, Vec<String>)>,
    defined: Vec<String>,
}

fn parse_dot(text: &str) -> Dot {
    let mut clusters: Vec<(String, Vec<String>)> = Vec::new();
    let mut defined = Vec::new();
    let mut current: Option<usize> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("subgraph cluster_") {
            clusters.push((String::new(), Vec::new()));
            current = Some(clusters.len() - 1);
        } else if line == "}" {
            current = None;
        } else if let Some(label) = line.strip_prefix("label=\"") {
            let k = current.expect("a label outside a cluster");
            clusters[k].0 = label
                .split(" (")
                .next()
                .unwrap()
                .trim_end_matches("\";")
                .into();
        } else if line.contains(" [label=") && !line.contains("->") {
            let id = line.split(' ').next().unwrap().to_owned();
            if id.starts_with('n') {
                defined.push(id.clone());
            }
            if let Some(k) = current {
                clusters[k].1.push(id);
            }
        }
    }
    Dot { clusters, defined }
}

#[test]
fn graph_has_one_cluster_per_layer_and_stage_in_pipeline_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tiny.henn"), tiny(train_csv().to_str().unwrap())).unwrap();
    ok(&henn(dir, &["compile", "tiny.henn", "-o", "tiny.hplan"]));
    let out = henn(dir, &["graph", "tiny.hplan"]);
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with("digraph plan {"), "{text}");
    let dot = parse_dot(&text);

    // The legend is a cluster of its own, of legend nodes only.
    let (legend, parts): (Vec<_>, Vec<_>) = dot
        .clusters
        .iter()
        .partition(|(label, _)| label == "legend");
    assert_eq!(legend.len(), 1);
    assert!(legend[0].1.iter().all(|n| n.starts_with("legend_")));
    assert!(
        text.contains("key switch") && text.contains("bootstrap"),
        "legend"
    );

    // One cluster per part, named once each, in pipeline order.
    let names: Vec<&str> = parts.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        names,
        [
            "Inputs",
            "Forward · layer 1",
            "Forward · layer 2",
            "Backward · layer 2",
            "Backward · layer 1",
            "Update · layer 1",
            "Update · layer 2",
            "Outputs"
        ],
        "{text}"
    );

    // Every instruction node is in exactly one cluster.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, nodes) in &parts {
        for n in nodes {
            *seen.entry(n.as_str()).or_default() += 1;
        }
    }
    assert!(!dot.defined.is_empty());
    for n in &dot.defined {
        assert_eq!(seen.get(n.as_str()), Some(&1), "node {n}");
    }
    assert_eq!(seen.len(), dot.defined.len());

    // --json: one line per instruction, each naming its cluster, then the counts per cluster.
    let out = henn(dir, &["graph", "tiny.hplan", "--json"]);
    ok(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, instrs) = lines.split_last().unwrap();
    let summary = &summary["summary"];
    assert_eq!(summary["nodes"].as_u64().unwrap() as usize, instrs.len());
    assert_eq!(instrs.len(), dot.defined.len());
    let clusters = summary["clusters"].as_array().unwrap();
    let json_names: Vec<&str> = clusters
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(json_names, names);
    for c in clusters {
        let name = c["name"].as_str().unwrap();
        let members = instrs.iter().filter(|i| i["cluster"] == name).count();
        assert_eq!(c["nodes"].as_u64().unwrap() as usize, members, "{name}");
        let in_dot = parts.iter().find(|(l, _)| l == name).unwrap().1.len();
        assert_eq!(members, in_dot, "{name}");
    }
    let edges: u64 = clusters
        .iter()
        .map(|c| c["edges_within"].as_u64().unwrap() + c["edges_in"].as_u64().unwrap())
        .sum();
    assert_eq!(edges, summary["edges"].as_u64().unwrap());
    assert_eq!(
        edges as usize,
        text.lines()
            .filter(|l| l.contains(" -> n") && !l.contains("invis"))
            .count()
    );
    // Key switches happen in the products of every layer's forward pass.
    for c in clusters
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("Forward"))
    {
        assert!(c["key_switches"].as_u64().unwrap() > 0, "{c}");
    }

    // --no-consts leaves the constants out, and their cluster sizes shrink accordingly.
    let out = henn(dir, &["graph", "tiny.hplan", "--no-consts"]);
    ok(&out);
    let lean = parse_dot(&String::from_utf8_lossy(&out.stdout));
    let consts = instrs.iter().filter(|i| i["op"] == "const").count();
    assert!(consts > 0);
    assert_eq!(lean.defined.len(), dot.defined.len() - consts);
    let lean_names: BTreeSet<&str> = lean.clusters.iter().map(|(l, _)| l.as_str()).collect();
    assert!(lean_names.contains("Inputs") && lean_names.contains("Outputs"));
}
