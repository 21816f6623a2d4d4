//! `henn evaluate FILE --weights W`: accuracy of saved (or decrypted) weights on a test set,
//! using the model's polynomial activations and the scaling statistics stored with the weights.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use henn_tir::train::{evaluate_with_ranges, violations};
use henn_tir::weights::WeightsFile;
use serde_json::json;

use crate::inputs::{load_data, load_model};

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// The .henn model the weights belong to.
    pub file: PathBuf,
    /// The weights file (`henn train -o`; JSON, or CSV when the name ends in `.csv`).
    #[arg(long)]
    pub weights: PathBuf,
    /// Test data (CSV, or `IMAGES,LABELS` IDX files); default: the model's.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let model = load_model(&args.file)?;
    let weights = WeightsFile::load(&args.weights)?;
    let state = henn_tir::weights::model_state(&weights, &model, &args.weights)?;
    if weights.model != model.name {
        eprintln!(
            "warning: {} was trained for model `{}`, evaluating with `{}`",
            args.weights.display(),
            weights.model,
            model.name
        );
    }
    let test_path = args
        .test
        .clone()
        .or_else(|| model.data.test.clone())
        .ok_or(henn_tir::TrainError::NoData { what: "test" })?;
    let test = load_data(&model, &test_path)?;
    let (eval, ranges) = evaluate_with_ranges(&model, &state, &weights.scaling, &test)?;
    let out_of_range = violations(&model, &ranges);
    for v in &out_of_range {
        eprintln!("warning: {v}");
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let abs = crate::ui::per_layer_json(&model, &eval.max_abs_preactivation);
        writeln!(
            out,
            "{}",
            json!({
                "model": model.name,
                "samples": test.len(),
                "test_accuracy": eval.accuracy,
                "test_loss": eval.loss,
                "max_abs_preactivation": abs,
                "out_of_range_layers": out_of_range.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
            })
        )?;
    } else {
        writeln!(
            out,
            "{}: accuracy {:.2}% ({} samples), loss {:.4}",
            test_path.display(),
            100.0 * eval.accuracy,
            test.len(),
            eval.loss
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
