//! SVG charts for `--plot DIR` (plotters' SVG backend only: no font or bitmap system libraries).
//! Each chart is drawn into memory and written atomically, so a failed command never leaves a
//! half-written picture. `report.md` beside them (the [`report`] module) puts the numbers in
//! Markdown tables.

mod report;

use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;

/// One named series of (x, y) points.
#[derive(Debug, Clone)]
pub(crate) struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const SIZE: (u32, u32) = (720, 420);
const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn save(path: &Path, svg: &str) -> anyhow::Result<()> {
    henn_data::write_file_atomic(path, svg.as_bytes(), false)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The range of `values` with a margin, never empty.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad, hi + pad)
}

fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the chart: {e:?}")
}

/// A line chart of `curves` (markers on every point) written to `path`.
pub(crate) fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
) -> anyhow::Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let xs = span(curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)));
        let ys = span(curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(draw_err)?;
        for (i, c) in curves.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    c.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(c.name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour));
            chart
                .draw_series(c.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(draw_err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    save(path, &svg)
}

/// A bar chart of named values (seconds per stage) written to `path`.
pub(crate) fn bar_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    bars: &[(&str, f64)],
) -> anyhow::Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let top = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1e-3) * 1.1;
        let names: Vec<String> = bars.iter().map(|b| b.0.to_owned()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((0usize..bars.len().max(1)).into_segmented(), 0.0..top)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len().max(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_desc(y_label)
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let mut r = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), *v),
                    ],
                    COLOURS[0].filled(),
                );
                r.set_margin(0, 0, 12, 12);
                r
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    save(path, &svg)
}

/// Accuracy and loss measured after every step: (step, accuracy, loss), step 0 before training.
pub(crate) type StepPoint = (f64, f64, f64);

/// One training run's curve: its name in the charts' legends, its key in `curves.json`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Series<'a> {
    pub label: &'static str,
    pub key: &'static str,
    pub points: &'a [StepPoint],
}

/// The accuracy of always answering the most frequent class of `data`.
pub(crate) fn chance(data: &henn_data::Dataset) -> f64 {
    let mut counts: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for &l in data.labels() {
        *counts.entry(l).or_default() += 1;
    }
    counts.values().copied().max().unwrap_or(0) as f64 / data.len().max(1) as f64
}

/// `--plot DIR` of `henn train` and `henn run`: `accuracy.svg` and `loss.svg` (one line per
/// series, after every step; `on` names the data set they are measured on), `stages.svg`
/// (seconds per stage, when there are stages), `curves.json` (the numbers) and `report.md`
/// (the command's final JSON `summary` and the curves as Markdown tables, the charts embedded).
pub(crate) fn step_charts(
    dir: &Path,
    on: &str,
    series: &[Series<'_>],
    seconds: &[(&'static str, f64)],
    summary: &serde_json::Value,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let curves = |pick: fn(&StepPoint) -> f64| -> Vec<Curve> {
        series
            .iter()
            .map(|s| Curve {
                name: s.label.to_owned(),
                points: s.points.iter().map(|p| (p.0, pick(p))).collect(),
            })
            .collect()
    };
    line_chart(
        &dir.join("accuracy.svg"),
        &format!("{on} accuracy after each step"),
        "step",
        "accuracy",
        &curves(|p| p.1),
    )?;
    line_chart(
        &dir.join("loss.svg"),
        &format!("{on} loss after each step"),
        "step",
        "loss",
        &curves(|p| p.2),
    )?;
    if !seconds.is_empty() {
        bar_chart(
            &dir.join("stages.svg"),
            "time per stage",
            "seconds",
            seconds,
        )?;
    }
    let mut json = serde_json::Map::new();
    json.insert("measured_on".to_owned(), on.into());
    for s in series {
        let rows = s
            .points
            .iter()
            .map(|p| serde_json::json!({"step": p.0, "accuracy": p.1, "loss": p.2}))
            .collect::<Vec<_>>();
        json.insert(s.key.to_owned(), rows.into());
    }
    if !seconds.is_empty() {
        let stages = seconds
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect::<serde_json::Map<_, _>>();
        json.insert("seconds".to_owned(), stages.into());
    }
    save(
        &dir.join("curves.json"),
        &format!("{}\n", serde_json::Value::Object(json)),
    )?;
    let charts: &[&str] = if seconds.is_empty() {
        &["accuracy.svg", "loss.svg"]
    } else {
        &["accuracy.svg", "loss.svg", "stages.svg"]
    };
    save(
        &dir.join("report.md"),
        &report::render(on, series, seconds, summary, charts),
    )
}
