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
