//! `henn train FILE --backend plain`: the plaintext reference run.
//!
//! Trains with exactly the arithmetic an encrypted run uses (the model's polynomial, update rule,
//! initialisation and batch order from its seed) by interpreting the tensor IR, prints per-epoch
//! loss and accuracy (a progress bar on a terminal, or one JSON object per epoch with `--json`),
//! and warns when a layer's pre-activations leave its activation's fitted interval (`--strict`
//! turns that into exit 1, without writing weights). `--plot DIR` draws accuracy and loss after
//! every step (through `crate::plot::step_charts`, as `henn run --plot` does).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use henn_sema::Model;

use henn_data::Dataset;
use henn_tir::exact::{ActivationMode, Replacement};
use henn_tir::train::{EpochStats, Evaluation, RangeViolation, Trainer};
use serde_json::json;

use crate::inputs::{load_data, load_model};
use crate::plot::{Series, StepPoint};
use crate::ui::{per_layer, per_layer_json};

/// Which activation function the plaintext run evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ActivationArg {
    /// The model's polynomials, exactly as an encrypted run evaluates them (the twin).
    #[default]
    Polynomial,
    /// The exact sigmoid 1/(1+e^-z) and its derivative σ(1−σ) in place of every `sigmoid_fit`
    /// (a float model to compare the twin with); refuses explicit `poly([...])` activations.
    Exact,
    /// As `exact`, and also in place of explicit `poly([...])` activations (for polynomials the
    /// file says stand for σ, such as the seed's cubic).
    ExactAll,
}

impl ActivationArg {
    fn mode(self) -> ActivationMode {
        match self {
            ActivationArg::Polynomial => ActivationMode::Polynomial,
            ActivationArg::Exact => ActivationMode::ExactSigmoid,
            ActivationArg::ExactAll => ActivationMode::ExactSigmoidAll,
        }
    }
}

/// Where training runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Plain `f64` arithmetic (the reference for encrypted runs).
    Plain,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub input: crate::inputs::ModelData,
    /// The backend to train on: `plain` runs the plaintext reference on a .henn model.
    #[arg(long, value_enum, required_unless_present = "eval_keys")]
    pub backend: Option<Backend>,
    /// Deprecated alias of `henn serve FILE --eval-keys K --data D -o OUT` (the server role).
    #[arg(long, conflicts_with_all = ["backend", "strict", "test"])]
    pub eval_keys: Option<PathBuf>,
    /// One JSON object per epoch and a final one on stdout.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when pre-activations leave an activation's fitted interval.
    #[arg(long)]
    pub strict: bool,
    /// Write the trained weights here (JSON; CSV when the name ends in `.csv`).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Write SVG charts here: accuracy and loss after every step (on the test set, or the
    /// training set when there is none); the numbers in `curves.json`, a Markdown report in
    /// `report.md`.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// `exact`: train the exact-sigmoid float model instead of the twin (same network, init,
    /// batch order, optimizer and loss; σ and σ(1−σ) in place of every `sigmoid_fit`).
    /// `exact-all` also replaces explicit `poly([...])` activations.
    #[arg(long, value_enum, default_value_t = ActivationArg::Polynomial)]
    pub activation: ActivationArg,
}

fn violation_json(v: &RangeViolation) -> serde_json::Value {
    json!({"layer": v.name, "seen": [v.seen.0, v.seen.1], "interval": [v.interval.0, v.interval.1]})
}

fn replacement_json(r: &Replacement) -> serde_json::Value {
    json!({"layer": r.name, "replaced": r.replaced, "max_fit_error": r.max_fit_error})
}

/// The human line saying what the exact sigmoid replaced.
fn replacement_line(mode: ActivationMode, replaced: &[Replacement]) -> String {
    if mode == ActivationMode::Polynomial {
        return "activation: the model's polynomials (as encrypted)".to_owned();
    }
    if replaced.is_empty() {
        return "activation: exact sigmoid requested, but no layer has a polynomial activation"
            .to_owned();
    }
    let layers: Vec<String> = replaced
        .iter()
        .map(|r| {
            format!(
                "`{}` ({}, max |p - σ| {:.2e})",
                r.name, r.replaced, r.max_fit_error
            )
        })
        .collect();
    format!(
        "activation: exact sigmoid 1/(1+e^-z), σ' = σ(1-σ), in place of the polynomial of {}",
        layers.join(", ")
    )
}

/// Test accuracy and loss after every step, for `--plot` (on the test set, or the training set
/// when there is none, as `henn run` measures its curves).
struct StepCurve<'a> {
    on: &'a Dataset,
    points: Vec<StepPoint>,
    /// The first evaluation that failed (reported after the epoch).
    error: Option<henn_tir::TrainError>,
}

impl<'a> StepCurve<'a> {
    /// The curve's first point: the weights before training.
    fn new(on: &'a Dataset, trainer: &Trainer) -> anyhow::Result<Self> {
        let e = trainer.evaluate(on)?;
        Ok(Self {
            on,
            points: vec![(0.0, e.accuracy, e.loss)],
            error: None,
        })
    }

    fn record(&mut self, trainer: &Trainer) {
        match trainer.evaluate(self.on) {
            Ok(e) => self
                .points
                .push((trainer.steps() as f64, e.accuracy, e.loss)),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }
}

/// Where the per-epoch lines go: stdout, or above the progress bar on a terminal.
struct Printer {
    json: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Printer {
    fn new(json: bool, total_steps: u64) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total_steps);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps {msg}")
            {
                bar.set_style(style);
            }
            bar
        });
        Self { json, bar }
    }

    fn set_position(&self, steps: u64) {
        if let Some(b) = &self.bar {
            b.set_position(steps);
        }
    }

    fn clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    /// A line of the run's text on stdout.
    fn line(&self, out: &mut impl Write, line: String) -> std::io::Result<()> {
        match &self.bar {
            Some(b) => {
                b.println(line);
                Ok(())
            }
            None => writeln!(out, "{line}"),
        }
    }

    /// A warning on stderr.
    fn warn(&self, msg: String) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }
}

/// One epoch's line: a JSON object, or the text line with loss, accuracies and ranges.
fn print_epoch(
    out: &mut impl Write,
    printer: &Printer,
    model: &Model,
    stats: &EpochStats,
    eval: Option<&Evaluation>,
    total_epochs: u64,
    secs: f64,
) -> std::io::Result<()> {
    let test_accuracy = eval.map(|e| e.accuracy);
    if printer.json {
        let v = json!({
            "event": "epoch",
            "epoch": stats.epoch,
            "steps": stats.steps,
            "train_loss": stats.train_loss,
            "train_accuracy": stats.train_accuracy,
            "test_accuracy": test_accuracy,
            "test_loss": eval.map(|e| e.loss),
            "max_abs_preactivation": per_layer_json(model, &stats.max_abs_preactivation),
            "seconds": secs,
        });
        return writeln!(out, "{v}");
    }
    let ranges: Vec<String> = per_layer(model, &stats.max_abs_preactivation)
        .map(|(name, v)| format!("{name} {v:.2}"))
        .collect();
    let line = format!(
        "epoch {:>3}/{total_epochs}  loss {:.4}  train acc {:5.1}%  test acc {}  max|z|: {}",
        stats.epoch,
        stats.train_loss,
        100.0 * stats.train_accuracy,
        test_accuracy.map_or("  n/a".to_owned(), |a| format!("{:5.1}%", 100.0 * a)),
        ranges.join(", ")
    );
    printer.line(out, line)
}

/// What the epochs left: for the final line.
struct Outcome {
    last_loss: f64,
    test_accuracy: Option<f64>,
    overall_abs: BTreeMap<usize, f64>,
    failed_strict: bool,
}

/// Runs the epochs until the schedule is done (or `--strict` meets a range violation), printing
/// a line per epoch and each new range violation once; `curve` records every step.
fn epochs(
    args: &TrainArgs,
    model: &Model,
    trainer: &mut Trainer,
    test: Option<&Dataset>,
    out: &mut impl Write,
    mut curve: Option<&mut StepCurve<'_>>,
) -> anyhow::Result<Outcome> {
    let total_epochs = trainer
        .total_steps()
        .div_ceil(trainer.steps_per_epoch().max(1));
    let printer = Printer::new(args.json, trainer.total_steps());
    let mut warned = std::collections::BTreeSet::new();
    let mut outcome = Outcome {
        last_loss: f64::NAN,
        test_accuracy: None,
        overall_abs: BTreeMap::new(),
        failed_strict: false,
    };
    while !trainer.done() {
        let t0 = Instant::now();
        let stats = match trainer.run_epoch(|t| {
            printer.set_position(t.steps());
            if let Some(c) = curve.as_mut() {
                c.record(t);
            }
        }) {
            Ok(stats) => stats,
            Err(err) => {
                printer.clear();
                if args.json {
                    let v = json!({"event": "error", "steps": trainer.steps(), "message": err.to_string()});
                    writeln!(out, "{v}")?;
                }
                return Err(err.into());
            }
        };
        if let Some(e) = curve.as_mut().and_then(|c| c.error.take()) {
            printer.clear();
            return Err(e.into());
        }
        let secs = t0.elapsed().as_secs_f64();
        outcome.last_loss = stats.train_loss;
        for (l, v) in &stats.max_abs_preactivation {
            let e = outcome.overall_abs.entry(*l).or_insert(0.0);
            *e = e.max(*v);
        }
        let eval = test.map(|t| trainer.evaluate(t)).transpose()?;
        outcome.test_accuracy = eval.as_ref().map(|e| e.accuracy);
        let violations = trainer.range_violations();
        print_epoch(
            out,
            &printer,
            model,
            &stats,
            eval.as_ref(),
            total_epochs,
            secs,
        )?;
        for v in &violations {
            if warned.insert(v.layer) {
                printer.warn(format!(
                    "{}: {v}",
                    if args.strict { "error" } else { "warning" }
                ));
            }
        }
        if args.strict && !violations.is_empty() {
            outcome.failed_strict = true;
            break;
        }
    }
    printer.clear();
    Ok(outcome)
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let Some(Backend::Plain) = args.backend else {
        anyhow::bail!("pass --backend plain (`henn serve` trains on ciphertexts)");
    };
    let model = load_model(&args.input.file)?;
    let train = load_data(&model, &args.input.train_path(&model)?)?;
    let test = args.input.load_test(&model)?;
    if let Some(dir) = &args.plot {
        // Before any work: a --plot path that cannot be a directory fails here, not after a run.
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--plot {}: cannot create the directory", dir.display()))?;
    }

    let mode = args.activation.mode();
    let mut trainer = Trainer::with_activation(&model, &train, mode)?;
    let total_steps = trainer.total_steps();
    let per_epoch = trainer.steps_per_epoch().max(1);
    let mut out = std::io::stdout().lock();
    if !args.json {
        writeln!(
            out,
            "training `{}` on {} samples ({} steps of batch {}, {} epoch(s)), plain backend",
            model.name,
            trainer.samples(),
            total_steps,
            model.schedule.batch_size,
            total_steps.div_ceil(per_epoch)
        )?;
        writeln!(out, "{}", replacement_line(mode, trainer.replaced()))?;
    }
    let before = test.as_ref().map(|t| trainer.evaluate(t)).transpose()?;
    let mut curve = match &args.plot {
        Some(_) => Some(StepCurve::new(test.as_ref().unwrap_or(&train), &trainer)?),
        None => None,
    };
    let started = Instant::now();
    let outcome = epochs(
        &args,
        &model,
        &mut trainer,
        test.as_ref(),
        &mut out,
        curve.as_mut(),
    )?;
    let violations = trainer.range_violations();
    let summary = json!({
        "event": "final",
        "model": model.name,
        "activation": mode.name(),
        "replaced": trainer.replaced().iter().map(replacement_json).collect::<Vec<_>>(),
        "steps": trainer.steps(),
        "batch": model.schedule.batch_size,
        "samples": trainer.samples(),
        "train_loss": outcome.last_loss,
        "chance_accuracy": test.as_ref().map(crate::plot::chance),
        "accuracy_before": before.map(|e| e.accuracy),
        "test_accuracy": outcome.test_accuracy,
        "max_abs_preactivation": per_layer_json(&model, &outcome.overall_abs),
        "range_violations": violations.iter().map(violation_json).collect::<Vec<_>>(),
        "seconds": started.elapsed().as_secs_f64(),
        "strict_failure": outcome.failed_strict,
    });
    if args.json {
        writeln!(out, "{summary}")?;
    } else {
        writeln!(
            out,
            "done{}: {} steps in {:.2} s, train loss {:.4}, test accuracy {}",
            if mode == ActivationMode::Polynomial {
                ""
            } else {
                " (exact-sigmoid float model)"
            },
            trainer.steps(),
            started.elapsed().as_secs_f64(),
            outcome.last_loss,
            outcome
                .test_accuracy
                .map_or("n/a".to_owned(), |a| format!("{:.2}%", 100.0 * a))
        )?;
    }
    if let (Some(dir), Some(curve)) = (&args.plot, &curve) {
        let on = if test.is_some() { "test" } else { "training" };
        let series = [if mode == ActivationMode::Polynomial {
            Series {
                label: "plaintext",
                key: "plaintext",
                points: &curve.points,
            }
        } else {
            Series {
                label: "exact sigmoid (float)",
                key: "exact_sigmoid",
                points: &curve.points,
            }
        }];
        crate::plot::step_charts(dir, on, &series, &[], &summary)?;
    }
    if outcome.failed_strict {
        eprintln!("error: --strict: pre-activations left the fitted interval; no weights written");
        return Ok(ExitCode::FAILURE);
    }
    if let Some(path) = &args.output {
        trainer
            .weights()
            .save(path)
            .with_context(|| format!("writing weights to {}", path.display()))?;
        if !args.json {
            writeln!(out, "weights written to {}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const MODEL: &str = r#"
model tiny {
  data { features = 64  classes = 10  scaling = minmax }
  activation s = ACT
  network {
    dense hidden(16, activation = s)
    dense output(10, activation = s)
  }
  loss = bce
  optimizer = sgd(lr = 2)
  train { batch = 16  epochs = 2  seed = 1 }
}
"#;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/data")
            .join(name)
    }

    /// A scratch directory unique to this test process and test name.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("henn-train-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn args(dir: &Path, act: &str, strict: bool) -> TrainArgs {
        let file = dir.join("tiny.henn");
        std::fs::write(&file, MODEL.replace("ACT", act)).unwrap();
        TrainArgs {
            input: crate::inputs::ModelData {
                file,
                data: Some(data("digits-train.csv")),
                test: Some(data("digits-test.csv")),
            },
            backend: Some(Backend::Plain),
            eval_keys: None,
            json: true,
            strict,
            output: Some(dir.join("w.json")),
            plot: None,
            activation: ActivationArg::Polynomial,
        }
    }

    #[test]
    fn trains_writes_weights_and_evaluates() {
        let dir = scratch("ok");
        let act = "sigmoid_fit(degree = 13, interval = [-40, 40])";
        let code = run(args(&dir, act, true)).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let weights = dir.join("w.json");
        assert!(weights.exists());
        let eval = crate::cmd::evaluate::EvaluateArgs {
            file: dir.join("tiny.henn"),
            weights: weights.clone(),
            test: Some(data("digits-test.csv")),
            json: true,
        };
        assert_eq!(crate::cmd::evaluate::run(eval).unwrap(), ExitCode::SUCCESS);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The paper's cubic leaves [−8, 8] on digits: `--strict` exits 1 and writes no weights.
    #[test]
    fn strict_fails_without_writing_weights() {
        let dir = scratch("strict");
        let act = "poly([0.5, 0.106795345, 0.0, -0.000385032598], interval = [-8, 8])";
        let mut a = args(&dir, act, true);
        a.input.data = Some(data("digits-train.csv"));
        let code = run(a).unwrap();
        assert_eq!(code, ExitCode::FAILURE);
        assert!(!dir.join("w.json").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `--activation exact` trains a different model (σ in place of the degree-5 fit) that
    /// still learns digits; its report names the mode and the replaced layers. A `poly([...])`
    /// activation is refused, naming `exact-all`.
    #[test]
    fn exact_sigmoid_differs_from_the_fit_and_reports_itself() {
        let dir = scratch("exact");
        let act = "sigmoid_fit(degree = 5, interval = [-8, 8])";
        let curve = |activation: ActivationArg, name: &str| {
            let mut a = args(&dir, act, false);
            a.activation = activation;
            a.plot = Some(dir.join(name));
            assert_eq!(run(a).unwrap(), ExitCode::SUCCESS);
            let text = std::fs::read_to_string(dir.join(name).join("curves.json")).unwrap();
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            let report = std::fs::read_to_string(dir.join(name).join("report.md")).unwrap();
            (json, report)
        };
        let (poly, poly_md) = curve(ActivationArg::Polynomial, "poly");
        let (exact, exact_md) = curve(ActivationArg::Exact, "exact");
        let last = |v: &serde_json::Value, key: &str| {
            let points = v[key].as_array().unwrap();
            assert_eq!(points.len(), 181, "before training and after 2 × 90 steps");
            points[180].clone()
        };
        let (p, e) = (last(&poly, "plaintext"), last(&exact, "exact_sigmoid"));
        let loss_gap = (p["loss"].as_f64().unwrap() - e["loss"].as_f64().unwrap()).abs();
        assert!(
            loss_gap > 1e-3,
            "the exact sigmoid changed nothing: {p} vs {e}"
        );
        assert!(e["accuracy"].as_f64().unwrap() > 0.6, "{e}");
        assert!(poly_md.contains("| activation | polynomial |"), "{poly_md}");
        assert!(
            exact_md.contains("| activation | exact_sigmoid |"),
            "{exact_md}"
        );
        assert!(exact_md.contains("σ in place of `hidden` | sigmoid_fit(degree = 5"));
        assert!(exact_md.contains("![accuracy](accuracy.svg)"));

        let mut a = args(&dir, "poly([0.5, 0.25], interval = [-2, 2])", false);
        a.activation = ActivationArg::Exact;
        let err = run(a).unwrap_err().to_string();
        assert!(
            err.contains("`hidden`") && err.contains("exact-all"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_width_data_is_an_error_naming_the_file() {
        let dir = scratch("width");
        let mut a = args(&dir, "sigmoid_fit(degree = 5, interval = [-8, 8])", false);
        a.input.data = Some(data("breast-cancer-train.csv"));
        let err = run(a).unwrap_err().to_string();
        assert!(
            err.contains("breast-cancer-train.csv:2") && err.contains("expects 64"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
