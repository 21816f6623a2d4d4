//! Trained weights on disk: the owner contract's [`WeightsFile`] (JSON, or CSV by the `.csv`
//! extension; the format is documented in `henn_contract::weights`), read into tensor-IR state for
//! a checked model.

use std::collections::BTreeMap;
use std::path::Path;

use henn_sema::Model;

pub use henn_contract::weights::{FORMAT, LayerWeights, VERSION, WeightsError, WeightsFile};

use crate::contract::{from_contract_state, layer_shapes};
use crate::error::TrainError;
use crate::graph::Slot;
use crate::interp::Tensor;

/// Checks that `file` fits `model` layer by layer and turns it into state slots.
pub fn model_state(
    file: &WeightsFile,
    model: &Model,
    path: &Path,
) -> Result<BTreeMap<Slot, Tensor>, TrainError> {
    let state = file.to_state(&layer_shapes(model), model.data.features, path)?;
    Ok(from_contract_state(state))
}
