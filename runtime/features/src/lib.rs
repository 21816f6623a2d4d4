//! The data owner's frozen feature extractor, run once in the clear before encryption.
//!
//! henn's method trains a small head under CKKS on features from a frozen ImageNet-pretrained
//! network. The paper uses torchvision's RegNetX-400MF; no package registry henn can reach ships
//! those weights, so henn uses the **ImageNet MobileNetV2** (Keras, alpha 1.0) trunk that npm
//! `nsfwjs` 4.3.0 bundles: nsfwjs fine-tuned only the blocks after `block_10`, so the layers up
//! to `block_10` keep the Keras ImageNet weights (uint8-quantized). See `README.md` here.
//!
//! * [`weights`]: loading and checking the TF.js model files the setup script unwraps.
//! * [`graph`]: the layers up to the tap as a tract model (tract runs it; no hand-written
//!   convolution loops).
//! * [`preprocess`]: grey `rows × cols` bytes → resized three-channel network input.
//! * [`Extractor`]: batched, multi-threaded extraction of globally average-pooled features.
//! * [`output`]: streaming CSV (`label,f1,…`, what henn-data's CSV loader reads) and NPY writers.

pub mod graph;
pub mod output;
pub mod preprocess;
pub mod weights;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use tract_core::prelude::*;

pub use preprocess::Scaling;

/// The layer whose pooled output henn uses by default: 384 features.
pub const DEFAULT_TAP: &str = "block_10_expand_relu";
/// The narrower alternative: 96 features.
pub const NARROW_TAP: &str = "block_10_project_BN";
/// The last layer whose weights nsfwjs kept frozen (ImageNet).
pub const LAST_FROZEN: &str = "block_10_project_BN";

/// Everything that can go wrong loading or running the extractor.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("the MobileNetV2 weights are not installed in {dir}; to install them, {install}", dir = dir.display())]
    Missing { dir: PathBuf, install: String },
    #[error(transparent)]
    Data(#[from] henn_data::DataError),
    #[error("{path}: {message}", path = path.display())]
    Format { path: PathBuf, message: String },
    #[error("the network: {0}")]
    Model(String),
    #[error("{0}")]
    Config(String),
    #[error("{path}: {error}", path = path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// What to extract and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The layer to pool (a layer of the frozen trunk, at or before [`LAST_FROZEN`]).
    pub tap: String,
    /// Input resolution: images are resized to `resolution × resolution` (32 ..= 224).
    pub resolution: usize,
    pub scaling: Scaling,
    /// Images per network run.
    pub batch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tap: DEFAULT_TAP.to_owned(),
            resolution: 96,
            scaling: Scaling::Keras,
            batch: 16,
        }
    }
}

/// The loaded, optimized network for one [`Config`].
#[derive(Debug, Clone)]
pub struct Extractor {
    config: Config,
    plan: Arc<TypedRunnableModel>,
    features: usize,
}

impl Extractor {
    /// Loads the weights from `cache` (see `henn_data::images::cache_dir`) and builds the network.
    pub fn load(cache: &Path, config: Config) -> Result<Self, FeatureError> {
        let model = weights::load(&weights::model_dir(cache))?;
        Self::from_model(&model, config)
    }

    /// Builds the network from already loaded weights.
    pub fn from_model(model: &weights::KerasModel, config: Config) -> Result<Self, FeatureError> {
        if !(32..=224).contains(&config.resolution) {
            return Err(FeatureError::Config(format!(
                "resolution {} is outside 32..=224",
                config.resolution
            )));
        }
        if config.batch == 0 {
            return Err(FeatureError::Config("batch size 0".to_owned()));
        }
        let tap_at = model.layers.iter().position(|l| l.name == config.tap);
        let frozen_at = model.layers.iter().position(|l| l.name == LAST_FROZEN);
        match (tap_at, frozen_at) {
            (Some(t), Some(f)) if t <= f => {}
            (Some(_), _) => {
                return Err(FeatureError::Config(format!(
                    "layer {} comes after {LAST_FROZEN}, where nsfwjs fine-tuned the network \
                     for its own task; tap the frozen ImageNet trunk",
                    config.tap
                )));
            }
            (None, _) => {
                return Err(FeatureError::Config(format!(
                    "the network has no layer {} (try {DEFAULT_TAP} or {NARROW_TAP})",
                    config.tap
                )));
            }
        }
        let (g, features) = graph::build(model, &config.tap, config.batch, config.resolution)?;
        let plan = g
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| FeatureError::Model(format!("optimizing: {e:#}")))?;
        Ok(Self {
            config,
            plan,
            features,
        })
    }

    /// Features per image.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Features of `images` (`rows × cols` bytes each, concatenated), `n × features()` row-major.
    /// Batches run in parallel on rayon's pool; the last one is padded with blank images.
    pub fn extract(
        &self,
        images: &[u8],
        rows: usize,
        cols: usize,
    ) -> Result<Vec<f32>, FeatureError> {
        let per = rows * cols;
        if per == 0 || !images.len().is_multiple_of(per) {
            return Err(FeatureError::Config(format!(
                "{} bytes are not whole {rows}×{cols} images",
                images.len()
            )));
        }
        let n = images.len() / per;
        let b = self.config.batch;
        let parts: Vec<Vec<f32>> = images
            .par_chunks(b * per)
            .map(|chunk| self.run_batch(chunk, rows, cols))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(n * self.features);
        for p in parts {
            out.extend_from_slice(&p);
        }
        Ok(out)
    }

    /// One network run on up to `batch` images.
    fn run_batch(&self, images: &[u8], rows: usize, cols: usize) -> Result<Vec<f32>, FeatureError> {
        let c = &self.config;
        let n = images.len() / (rows * cols);
        let mut input = Vec::new();
        preprocess::to_input(images, rows, cols, c.resolution, c.scaling, &mut input);
        input.resize(c.batch * c.resolution * c.resolution * 3, 0.0);
        let tensor = Tensor::from_shape(&[c.batch, c.resolution, c.resolution, 3], &input)
            .map_err(|e| FeatureError::Model(format!("input: {e:#}")))?;
        let result = self
            .plan
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| FeatureError::Model(format!("running: {e:#}")))?;
        let out = result
            .first()
            .ok_or_else(|| FeatureError::Model("no output".to_owned()))?
            .to_plain_array_view::<f32>()
            .map_err(|e| FeatureError::Model(format!("output: {e:#}")))?;
        Ok(out.iter().take(n * self.features).copied().collect())
    }
}
