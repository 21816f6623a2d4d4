//! Reading what commands are given: models (diagnostics through the checker's renderer), data
//! files checked against a model, plans.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use henn_data::csv::Expect;
use henn_sema::{Code, Construct, Located, Model};

/// Loads the model; diagnostics render through the checker's renderer.
pub(crate) fn load_model(path: &Path) -> anyhow::Result<Model> {
    henn_sema::check_file(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Loads a data file for `model`, with its expected width and label range.
pub(crate) fn load_data(model: &Model, path: &Path) -> anyhow::Result<henn_data::Dataset> {
    let expect = Expect {
        features: Some(model.data.features),
        classes: Some(model.data.classes),
    };
    Ok(henn_data::load_spec(path, expect)?)
}

/// One rule for `check`, `compile` and `run`: a model trained for epochs that does not state its
/// sample count takes it from its training data (the bundled file, or `data` when given); a data
/// file with more rows than the model's `samples` is named. A model trained for a number of
/// iterations needs no count (it trains on all rows) and no readable data to compile. Returns the
/// notes to print.
pub(crate) fn fill_samples(model: &mut Model, data: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let Some(path) = data
        .map(Path::to_path_buf)
        .or_else(|| model.data.train.clone())
    else {
        return Ok(Vec::new());
    };
    match load_data(model, &path) {
        Ok(d) => Ok(fill_samples_from(model, &path, d.len())),
        Err(e) if needs_count(model) => Err(e),
        Err(_) => Ok(Vec::new()),
    }
}

/// Compiles a checked model as `check` and `compile` both do (one truth about a model): the
/// sample count filled in from its data ([`fill_samples`]), every failure a [`Located`] problem
/// of the file (its construct, code and help), rendered through sema's source map. Returns the
/// compiled plan and the notes to print.
pub(crate) fn compile_checked(
    model: &mut Model,
    options: &henn_compile::CompileOptions,
) -> Result<(henn_compile::Compiled, Vec<String>), Box<Located>> {
    let notes = fill_samples(model, None).map_err(|e| {
        let epochs = match model.schedule.length {
            henn_sema::TrainLength::Epochs(e) => e,
            henn_sema::TrainLength::Iterations(k) => k,
        };
        Box::new(
            Located::new(
                Code::SampleCountUnknown,
                format!(
                    "the model trains for {epochs} epochs but does not say how many samples it \
                     has, and its training data cannot be read to count them"
                ),
                Construct::TrainData,
                "cannot be read",
            )
            .related(Construct::Length, format!("{epochs} epochs"))
            .help("state `samples = N` in `data`, or fix the data path")
            .note(format!("{e:#}")),
        )
    })?;
    let compiled =
        henn_compile::compile_with(model, options).map_err(|e| Box::new(e.locate(model)))?;
    Ok((compiled, notes))
}

/// A model trained for epochs without a stated sample count needs one from its data.
fn needs_count(model: &Model) -> bool {
    model.data.samples.is_none()
        && matches!(model.schedule.length, henn_sema::TrainLength::Epochs(_))
}

/// [`fill_samples`] for training data already loaded from `path` (`rows` rows).
pub(crate) fn fill_samples_from(model: &mut Model, path: &Path, rows: usize) -> Vec<String> {
    let mut notes = Vec::new();
    match model.data.samples {
        None if needs_count(model) => {
            model.data.samples = Some(rows);
            notes.push(format!(
                "note: `samples` is not stated: {rows}, the rows of {}",
                path.display()
            ));
        }
        Some(n) if n < rows => notes.push(format!(
            "note: {} has {rows} rows; the model trains on the first {n} (`samples = {n}`)",
            path.display()
        )),
        _ => {}
    }
    notes
}

/// The model and its data files, for the commands that train or classify (`train`, `run`,
/// `predict`; flattened into each, which may reword a help text with `mut_arg`).
#[derive(Debug, Clone, clap::Args)]
pub struct ModelData {
    /// The .henn model (its bundled data is used unless --data/--test say otherwise).
    pub file: PathBuf,
    /// Training data (CSV `label,f1,…`, or `IMAGES,LABELS` IDX files); default: the model's.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test data, same formats; default: the model's.
    #[arg(long)]
    pub test: Option<PathBuf>,
}

impl ModelData {
    /// The training data: `--data`, else the model's; an error when there is neither.
    pub(crate) fn train_path(&self, model: &Model) -> anyhow::Result<PathBuf> {
        self.data
            .clone()
            .or_else(|| model.data.train.clone())
            .with_context(|| {
                format!(
                    "{} names no training data: pass --data",
                    self.file.display()
                )
            })
    }

    /// The test data: `--test`, else the model's, if any.
    pub(crate) fn test_path(&self, model: &Model) -> Option<PathBuf> {
        self.test.clone().or_else(|| model.data.test.clone())
    }

    /// The test set ([`Self::test_path`]) loaded for `model`, if there is one.
    pub(crate) fn load_test(&self, model: &Model) -> anyhow::Result<Option<henn_data::Dataset>> {
        self.test_path(model)
            .map(|p| load_data(model, &p))
            .transpose()
    }
}

/// The compiler's baselines, for `compile` and `run` alike (each flag turns one optimization off).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct CompilerChoices {
    /// Skip the optimizer (equality saturation): the lowering's baseline plan.
    #[arg(long)]
    pub no_opt: bool,
    /// Bootstrap each refreshed value on its own (the greedy baseline) instead of packing the
    /// state refreshes into as few bootstraps as the slots allow.
    #[arg(long)]
    pub no_pack: bool,
    /// Place bootstraps greedily (the baseline) instead of for the least estimated time.
    #[arg(long)]
    pub greedy_placement: bool,
}

impl CompilerChoices {
    pub(crate) fn options(&self) -> henn_compile::CompileOptions {
        henn_compile::CompileOptions {
            optimize: !self.no_opt,
            pack_refreshes: !self.no_pack,
            cost_placement: !self.greedy_placement,
            ..Default::default()
        }
    }
}
