//! Reading what commands are given: models (diagnostics through the checker's renderer), data
//! files checked against a model, plans.

use std::path::Path;

use henn_data::csv::Expect;
use henn_sema::Model;

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
    let needed = model.data.samples.is_none()
        && matches!(model.schedule.length, henn_sema::TrainLength::Epochs(_));
    let rows = match load_data(model, &path) {
        Ok(d) => d.len(),
        Err(e) if needed => return Err(e),
        Err(_) => return Ok(Vec::new()),
    };
    let mut notes = Vec::new();
    match model.data.samples {
        None if needed => {
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
    Ok(notes)
}
