//! The TF.js layers model of npm `nsfwjs` 4.3.0 (`dist/models/mobilenet_v2`), as unwrapped by
//! `scripts/setup-data.sh` into `model.json` (Keras 2.2.4 topology + weights manifest) and
//! `weights.bin` (the one weight shard: every tensor as uint8, dequantized as `min + scale·q`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::FeatureError;

/// SHA-256 of the unwrapped files (checked at every load) and of the npm tarball (checked by the
/// setup script).
pub const MODEL_JSON_SHA256: &str =
    "feffc6868d61e412a4e7a22657a3d07a8a48df6e11688a9e25b77c23cb7b45c9";
pub const WEIGHTS_BIN_SHA256: &str =
    "8e7dddbb16acacc1bf1601b1b8a761e730ff934b7f2d7771312b2f000e5f5f13";
pub const NSFWJS_TGZ_SHA256: &str =
    "4496790efc9bdc6f3e85a826a8e482c1fa1e9db4b3d18c095e98cc0c73cfb12f";
/// The directory under the cache (`henn_data::images::cache_dir`) that holds the two files.
pub const CACHE_SUBDIR: &str = "nsfwjs-4.3.0-mobilenet_v2";
/// How to install them.
pub const INSTALL: &str =
    "run `bash scripts/setup-data.sh nsfwjs` (npm package nsfwjs@4.3.0 into $HENN_CACHE)";

/// One Keras layer: class, name, configuration and the names of its inputs.
#[derive(Debug, Clone)]
pub struct Layer {
    pub class: String,
    pub name: String,
    pub config: serde_json::Value,
    pub inputs: Vec<String>,
}

/// A dequantized tensor: shape and row-major values.
#[derive(Debug, Clone)]
pub struct Weight {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The model: its layers in file (topological) order and its weights by name
/// (`Conv1/kernel`, `bn_Conv1/gamma`, …).
#[derive(Debug, Clone)]
pub struct KerasModel {
    pub layers: Vec<Layer>,
    pub weights: HashMap<String, Weight>,
}

#[derive(Deserialize)]
struct ModelFile {
    #[serde(rename = "modelTopology")]
    topology: Topology,
    #[serde(rename = "weightsManifest")]
    manifest: Vec<ManifestGroup>,
}

#[derive(Deserialize)]
struct Topology {
    model_config: ModelConfig,
}

#[derive(Deserialize)]
struct ModelConfig {
    config: GraphConfig,
}

#[derive(Deserialize)]
struct GraphConfig {
    layers: Vec<RawLayer>,
}

#[derive(Deserialize)]
struct RawLayer {
    class_name: String,
    name: String,
    config: serde_json::Value,
    /// `[[["input_name", 0, 0, {}], …]]`: one node, each input as (layer, node, tensor, kwargs).
    inbound_nodes: Vec<Vec<Vec<serde_json::Value>>>,
}

#[derive(Deserialize)]
struct ManifestGroup {
    weights: Vec<WeightSpec>,
}

#[derive(Deserialize)]
struct WeightSpec {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Quantization {
    min: f64,
    scale: f64,
    dtype: String,
}

/// The directory the setup script fills under `cache`.
pub fn model_dir(cache: &Path) -> PathBuf {
    cache.join(CACHE_SUBDIR)
}

/// Loads and checks `model.json` and `weights.bin` from `dir`.
pub fn load(dir: &Path) -> Result<KerasModel, FeatureError> {
    let json_path = dir.join("model.json");
    let bin_path = dir.join("weights.bin");
    if !json_path.is_file() || !bin_path.is_file() {
        return Err(FeatureError::Missing {
            dir: dir.to_path_buf(),
            install: INSTALL.to_owned(),
        });
    }
    let json = henn_data::images::read_verified(&json_path, MODEL_JSON_SHA256)?;
    let bin = henn_data::images::read_verified(&bin_path, WEIGHTS_BIN_SHA256)?;
    parse(&json_path, &json, &bin)
}

/// Parses the two files (already read); `path` names `model.json` in messages.
pub fn parse(path: &Path, json: &[u8], bin: &[u8]) -> Result<KerasModel, FeatureError> {
    let bad = |message: String| FeatureError::Format {
        path: path.to_path_buf(),
        message,
    };
    let file: ModelFile =
        serde_json::from_slice(json).map_err(|e| bad(format!("not a TF.js layers model: {e}")))?;
    let mut layers = Vec::new();
    for raw in file.topology.model_config.config.layers {
        let mut inputs = Vec::new();
        for node in raw.inbound_nodes.iter().take(1) {
            for input in node {
                let name = input
                    .first()
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| bad(format!("layer {}: unreadable inbound node", raw.name)))?;
                inputs.push(name.to_owned());
            }
        }
        layers.push(Layer {
            class: raw.class_name,
            name: raw.name,
            config: raw.config,
            inputs,
        });
    }
    let mut weights = HashMap::new();
    let mut offset = 0usize;
    for spec in file.manifest.iter().flat_map(|g| &g.weights) {
        let count: usize = spec.shape.iter().product();
        let q = match &spec.quantization {
            Some(q) if q.dtype == "uint8" && spec.dtype == "float32" => q,
            _ => {
                return Err(bad(format!(
                    "weight {}: only uint8-quantized float32 tensors are supported",
                    spec.name
                )));
            }
        };
        let bytes = bin.get(offset..offset + count).ok_or_else(|| {
            bad(format!(
                "weight {} needs bytes {offset}..{} of a {}-byte shard",
                spec.name,
                offset + count,
                bin.len()
            ))
        })?;
        // TF.js dequantizes in double precision and stores float32: the same here.
        let values = bytes
            .iter()
            .map(|&b| (f64::from(b) * q.scale + q.min) as f32)
            .collect();
        weights.insert(
            spec.name.clone(),
            Weight {
                shape: spec.shape.clone(),
                values,
            },
        );
        offset += count;
    }
    if offset != bin.len() {
        return Err(bad(format!(
            "the manifest covers {offset} bytes of a {}-byte shard",
            bin.len()
        )));
    }
    Ok(KerasModel { layers, weights })
}

impl KerasModel {
    /// The weight `layer/part`, with its expected element count checked.
    pub fn weight(&self, layer: &str, part: &str) -> Result<&Weight, FeatureError> {
        let name = format!("{layer}/{part}");
        self.weights
            .get(&name)
            .ok_or(FeatureError::Model(format!("weight {name} is missing")))
    }
}
