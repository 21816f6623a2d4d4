//! `report.md` of `--plot DIR`: the run's numbers as Markdown tables, with the SVG charts of the
//! same directory embedded by relative path. One renderer for `henn train` and `henn run`: it
//! reads the command's `"event": "final"` JSON summary (only the keys it knows, in a fixed order,
//! skipping absent and null ones) and the step curves.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Series, StepPoint};

/// How a summary value is shown.
#[derive(Clone, Copy)]
enum Fmt {
    Text,
    Count,
    Percent,
    Loss,
    Sci,
    Seconds,
    MiB,
}

/// The summary rows, in order: (JSON key, label, format).
const ROWS: &[(&str, &str, Fmt)] = &[
    ("model", "model", Fmt::Text),
    ("backend", "backend", Fmt::Text),
    ("activation", "activation", Fmt::Text),
    ("log_n", "ring degree log2 N", Fmt::Count),
    ("security", "security (bits)", Fmt::Count),
    ("steps", "steps", Fmt::Count),
    ("batch", "batch", Fmt::Count),
    ("samples", "training samples", Fmt::Count),
    (
        "chance_accuracy",
        "chance (most frequent class)",
        Fmt::Percent,
    ),
    ("accuracy_before", "accuracy before training", Fmt::Percent),
    ("encrypted_accuracy", "encrypted accuracy", Fmt::Percent),
    (
        "plaintext_accuracy",
        "plaintext twin accuracy",
        Fmt::Percent,
    ),
    ("test_accuracy", "accuracy after training", Fmt::Percent),
    (
        "exact_sigmoid_accuracy",
        "exact-sigmoid float model accuracy",
        Fmt::Percent,
    ),
    (
        "max_weight_error",
        "largest weight difference (encrypted vs twin)",
        Fmt::Sci,
    ),
    ("train_loss", "last training loss", Fmt::Loss),
    ("bootstraps", "bootstraps", Fmt::Count),
    ("seconds", "time", Fmt::Seconds),
    ("peak_rss_bytes", "peak memory (RSS)", Fmt::MiB),
    ("upload_bytes", "uploaded", Fmt::MiB),
    ("key_bytes", "evaluation keys", Fmt::MiB),
];

/// At most this many rows in the per-step table (every k-th step, the last always).
const MAX_STEP_ROWS: usize = 40;

fn show(v: &Value, fmt: Fmt) -> Option<String> {
    if let (Fmt::Text, Value::String(s)) = (fmt, v) {
        return Some(s.clone());
    }
    let x = v.as_f64()?;
    Some(match fmt {
        Fmt::Text | Fmt::Count => format!("{x}"),
        Fmt::Percent => format!("{:.2} %", 100.0 * x),
        Fmt::Loss => format!("{x:.4}"),
        Fmt::Sci => format!("{x:.3e}"),
        Fmt::Seconds => format!("{x:.2} s"),
        Fmt::MiB => format!("{:.1} MiB", x / 1048576.0),
    })
}

/// The summary table's rows: the known keys of `summary`, then the time per stage.
fn summary_rows(summary: &Value, seconds: &[(&'static str, f64)]) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for &(key, label, fmt) in ROWS {
        match summary.get(key) {
            // `henn run` reports seconds per stage as an object: shown from `seconds` below.
            Some(Value::Object(_)) | Some(Value::Null) | None => {}
            Some(v) => {
                if let Some(text) = show(v, fmt) {
                    rows.push((label.to_owned(), text));
                }
            }
        }
    }
    if let Some(Value::Array(replaced)) = summary.get("replaced") {
        for r in replaced {
            let (Some(layer), Some(what)) = (r["layer"].as_str(), r["replaced"].as_str()) else {
                continue;
            };
            let err = r["max_fit_error"].as_f64().unwrap_or(f64::NAN);
            rows.push((
                format!("σ in place of `{layer}`"),
                format!("{what}, max \\|p − σ\\| {err:.2e}"),
            ));
        }
    }
    for (stage, s) in seconds {
        rows.push((format!("time: {stage}"), format!("{s:.2} s")));
    }
    if !seconds.is_empty() {
        let total: f64 = seconds.iter().map(|s| s.1).sum();
        rows.push(("time: all stages".to_owned(), format!("{total:.2} s")));
    }
    rows
}

/// The steps shown: every k-th of the union of all series' steps, and the last.
fn shown_steps(series: &[Series<'_>]) -> Vec<f64> {
    let mut steps: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    steps.sort_by(f64::total_cmp);
    steps.dedup();
    let every = steps.len().div_ceil(MAX_STEP_ROWS).max(1);
    let last = steps.last().copied();
    let mut shown: Vec<f64> = steps.iter().copied().step_by(every).collect();
    if let Some(l) = last
        && shown.last() != Some(&l)
    {
        shown.push(l);
    }
    shown
}

fn point_at(points: &[StepPoint], step: f64) -> Option<&StepPoint> {
    points.iter().find(|p| p.0 == step)
}

/// The Markdown of `report.md`. `charts` are the SVG files written beside it.
pub(crate) fn render(
    on: &str,
    series: &[Series<'_>],
    seconds: &[(&'static str, f64)],
    summary: &Value,
    charts: &[&str],
) -> String {
    let mut md = String::new();
    let model = summary.get("model").and_then(Value::as_str).unwrap_or("?");
    let _ = writeln!(md, "# Training report: `{model}`\n");
    let _ = writeln!(md, "## Summary\n\n| | |\n|---|---|");
    for (label, value) in summary_rows(summary, seconds) {
        let _ = writeln!(md, "| {label} | {value} |");
    }
    let _ = writeln!(md, "\n## Per step ({on} set)\n");
    let mut header = "| step |".to_owned();
    let mut rule = "|---:|".to_owned();
    for s in series {
        let _ = write!(header, " {0} accuracy | {0} loss |", s.label);
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for step in shown_steps(series) {
        let _ = write!(md, "| {step} |");
        for s in series {
            match point_at(s.points, step) {
                Some(p) => {
                    let _ = write!(md, " {:.2} % | {:.4} |", 100.0 * p.1, p.2);
                }
                None => md.push_str(" | |"),
            }
        }
        md.push('\n');
    }
    let _ = writeln!(md, "\nStep 0 is before training.\n\n## Charts\n");
    for chart in charts {
        let name = chart.trim_end_matches(".svg");
        let _ = writeln!(md, "![{name}]({chart})\n");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_the_numbers_and_skip_what_is_absent() {
        let enc: Vec<StepPoint> = (0..=100)
            .map(|k| (k as f64, 0.1 + 0.005 * k as f64, 2.0))
            .collect();
        let twin: Vec<StepPoint> = vec![(0.0, 0.1, 2.3), (100.0, 0.6, 1.2)];
        let series = [
            Series {
                label: "encrypted",
                key: "encrypted",
                points: &enc,
            },
            Series {
                label: "plaintext twin",
                key: "plaintext_twin",
                points: &twin,
            },
        ];
        let summary = serde_json::json!({
            "model": "m", "encrypted_accuracy": 0.605, "plaintext_accuracy": 0.6,
            "exact_sigmoid_accuracy": null, "seconds": {"compile": 1.0}, "bootstraps": 64,
        });
        let md = render(
            "test",
            &series,
            &[("compile", 1.0), ("train", 3.5)],
            &summary,
            &["accuracy.svg"],
        );
        assert!(md.contains("| encrypted accuracy | 60.50 % |"), "{md}");
        assert!(md.contains("| plaintext twin accuracy | 60.00 % |"), "{md}");
        assert!(md.contains("| bootstraps | 64 |"), "{md}");
        assert!(md.contains("| time: all stages | 4.50 s |"), "{md}");
        assert!(
            !md.contains("exact-sigmoid"),
            "a null value is skipped: {md}"
        );
        assert!(md.contains("![accuracy](accuracy.svg)"), "{md}");
        // 101 steps: every 3rd (0, 3, …, 99) and the last, 100.
        let rows = md
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains(" % | "))
            .count();
        assert_eq!(rows, 35, "{md}");
        assert!(
            md.contains("| 100 | 60.00 % | 2.0000 | 60.00 % | 1.2000 |"),
            "{md}"
        );
        assert!(md.contains("| 3 | 11.50 % | 2.0000 | | |"), "{md}");
    }
}
