//! The Keras layers, up to the feature tap, as a tract `TypedModel`: NHWC, batch fixed, every
//! batch normalization folded into the convolution before it, ReLU6 as `min(max(x, 0), 6)`, and a
//! global average pool over height and width after the tap. tract then optimizes the graph
//! (im2col/packed matrix products for the convolutions, its depthwise kernel for the
//! depthwise ones) and runs it.

use std::collections::HashMap;

use tract_core::internal::tvec;
use tract_core::ops::array::{Pad, PadMode};
use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::math;
use tract_core::ops::nn::{DataFormat, Reduce, Reducer};
use tract_core::prelude::*;

use crate::FeatureError;
use crate::weights::{KerasModel, Layer};

fn tract_err(context: &str) -> impl Fn(TractError) -> FeatureError + '_ {
    move |e| FeatureError::Model(format!("{context}: {e:#}"))
}

fn cfg_usize2(layer: &Layer, key: &str) -> Result<[usize; 2], FeatureError> {
    let v = layer.config.get(key).and_then(|v| v.as_array());
    match v.map(|a| a.iter().map(|x| x.as_u64()).collect::<Vec<_>>()) {
        Some(a) if a.len() == 2 && a.iter().all(Option::is_some) => {
            Ok([a[0].unwrap_or(0) as usize, a[1].unwrap_or(0) as usize])
        }
        _ => Err(FeatureError::Model(format!(
            "layer {}: `{key}` is not a pair of integers",
            layer.name
        ))),
    }
}

fn cfg_str<'a>(layer: &'a Layer, key: &str) -> Result<&'a str, FeatureError> {
    layer
        .config
        .get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| FeatureError::Model(format!("layer {}: no `{key}`", layer.name)))
}

/// The folded batch normalization after a convolution: per output channel,
/// `y = x·scale + shift` with `scale = γ/√(σ²+ε)`, `shift = β − μ·scale` (in f64, stored f32).
fn bn_fold(
    model: &KerasModel,
    bn: &Layer,
    channels: usize,
) -> Result<(Vec<f64>, Vec<f32>), FeatureError> {
    let eps = bn
        .config
        .get("epsilon")
        .and_then(|v| v.as_f64())
        .unwrap_or(1e-3);
    let part = |p: &str| -> Result<&[f32], FeatureError> {
        let w = model.weight(&bn.name, p)?;
        if w.values.len() != channels {
            return Err(FeatureError::Model(format!(
                "{}/{p} has {} values for {channels} channels",
                bn.name,
                w.values.len()
            )));
        }
        Ok(&w.values)
    };
    let (g, b, m, v) = (
        part("gamma")?,
        part("beta")?,
        part("moving_mean")?,
        part("moving_variance")?,
    );
    let scale: Vec<f64> = (0..channels)
        .map(|c| f64::from(g[c]) / (f64::from(v[c]) + eps).sqrt())
        .collect();
    let shift = (0..channels)
        .map(|c| (f64::from(b[c]) - f64::from(m[c]) * scale[c]) as f32)
        .collect();
    Ok((scale, shift))
}

/// Builds the graph for `batch` images of `size × size × 3`, ending at the global average pool
/// of layer `tap`. Returns the model and the tap's channel count.
pub fn build(
    model: &KerasModel,
    tap: &str,
    batch: usize,
    size: usize,
) -> Result<(TypedModel, usize), FeatureError> {
    let mut g = TypedModel::default();
    let mut outs: HashMap<&str, (OutletId, usize)> = HashMap::new();
    let input = g
        .add_source("input", f32::fact([batch, size, size, 3]))
        .map_err(tract_err("input"))?;
    let zero = g
        .add_const(
            "zero",
            Tensor::from_shape(&[1, 1, 1, 1], &[0f32]).map_err(tract_err("zero"))?,
        )
        .map_err(tract_err("zero"))?;
    let six = g
        .add_const(
            "six",
            Tensor::from_shape(&[1, 1, 1, 1], &[6f32]).map_err(tract_err("six"))?,
        )
        .map_err(tract_err("six"))?;
    let layers = &model.layers;
    let mut i = 0;
    while i < layers.len() {
        let layer = &layers[i];
        let ins: Vec<(OutletId, usize)> = layer
            .inputs
            .iter()
            .map(|n| {
                outs.get(n.as_str()).copied().ok_or_else(|| {
                    FeatureError::Model(format!("layer {}: input {n} is not built", layer.name))
                })
            })
            .collect::<Result<_, _>>()?;
        let first = ins.first().copied();
        let name = layer.name.as_str();
        let wired: (OutletId, usize) = match (layer.class.as_str(), first) {
            ("InputLayer", _) => (input, 3),
            ("ZeroPadding2D", Some((x, c))) => {
                let p = layer.config.get("padding").and_then(|v| v.as_array());
                let pair = |k: usize| -> Option<(usize, usize)> {
                    let a = p?.get(k)?.as_array()?;
                    Some((a.first()?.as_u64()? as usize, a.get(1)?.as_u64()? as usize))
                };
                let (Some(h), Some(w)) = (pair(0), pair(1)) else {
                    return Err(FeatureError::Model(format!("layer {name}: bad padding")));
                };
                let pad = Pad {
                    pads: vec![(0, 0), h, w, (0, 0)],
                    mode: PadMode::Constant(Arc::new(Tensor::from(0f32))),
                };
                let y = g.wire_node(name, pad, &[x]).map_err(tract_err(name))?[0];
                (y, c)
            }
            ("Conv2D" | "DepthwiseConv2D", Some((x, c))) => {
                // Every convolution of the trunk is followed by its batch normalization.
                let bn = layers
                    .get(i + 1)
                    .filter(|l| l.class == "BatchNormalization" && l.inputs == [name]);
                let (y, out_c) = wire_conv(&mut g, model, layer, bn, (x, c))?;
                if let Some(bn) = bn {
                    if name == tap {
                        return Err(FeatureError::Model(format!(
                            "tap {name} is a convolution whose batch normalization is folded \
                             into it: tap {} instead",
                            bn.name
                        )));
                    }
                    outs.insert(name, (y, out_c));
                    i += 1;
                    if bn.name == tap {
                        return finish(g, (y, out_c));
                    }
                    outs.insert(bn.name.as_str(), (y, out_c));
                    i += 1;
                    continue;
                }
                (y, out_c)
            }
            ("ReLU", Some((x, c))) => {
                let y = g
                    .wire_node(format!("{name}.max"), math::max(), &[x, zero])
                    .map_err(tract_err(name))?[0];
                let y = match layer.config.get("max_value").and_then(|v| v.as_f64()) {
                    Some(m) if (m - 6.0).abs() < f64::EPSILON => g
                        .wire_node(name, math::min(), &[y, six])
                        .map_err(tract_err(name))?[0],
                    None => y,
                    Some(m) => {
                        return Err(FeatureError::Model(format!(
                            "layer {name}: ReLU max_value {m} is not supported"
                        )));
                    }
                };
                (y, c)
            }
            ("Add", Some((x, c))) if ins.len() == 2 => {
                let y = g
                    .wire_node(name, math::add(), &[x, ins[1].0])
                    .map_err(tract_err(name))?[0];
                (y, c)
            }
            (class, _) => {
                return Err(FeatureError::Model(format!(
                    "layer {name}: {class} is not supported before the tap"
                )));
            }
        };
        if name == tap {
            return finish(g, wired);
        }
        outs.insert(name, wired);
        i += 1;
    }
    Err(FeatureError::Model(format!("no layer named {tap}")))
}

/// Wires convolution `layer` on `x` (`c` channels) with batch normalization `bn` folded in.
fn wire_conv(
    g: &mut TypedModel,
    model: &KerasModel,
    layer: &Layer,
    bn: Option<&Layer>,
    (x, c): (OutletId, usize),
) -> Result<(OutletId, usize), FeatureError> {
    let name = layer.name.as_str();
    let depthwise = layer.class == "DepthwiseConv2D";
    let kernel = model.weight(
        name,
        if depthwise {
            "depthwise_kernel"
        } else {
            "kernel"
        },
    )?;
    let [kh, kw] = cfg_usize2(layer, "kernel_size")?;
    let strides = cfg_usize2(layer, "strides")?;
    let out_c = if depthwise {
        c
    } else {
        kernel.shape.last().copied().unwrap_or(0)
    };
    if kernel.values.len() != kh * kw * c * if depthwise { 1 } else { out_c } {
        return Err(FeatureError::Model(format!(
            "layer {name}: kernel shape {:?} does not fit {c} input channels",
            kernel.shape
        )));
    }
    let (scale, shift) = match bn {
        Some(bn) => bn_fold(model, bn, out_c)?,
        None => (vec![1.0; out_c], vec![0.0; out_c]),
    };
    // HWIO, output channel innermost: Keras' layout. For a grouped convolution tract
    // reads HWIO as [h, w, all input channels, outputs per group], which is Keras'
    // depthwise layout [h, w, C, 1] as it is.
    let folded: Vec<f32> = kernel
        .values
        .iter()
        .enumerate()
        .map(|(k, &v)| (f64::from(v) * scale[k % out_c]) as f32)
        .collect();
    let k_shape = if depthwise {
        [kh, kw, c, 1]
    } else {
        [kh, kw, c, out_c]
    };
    let k_t = Tensor::from_shape(&k_shape, &folded).map_err(tract_err(name))?;
    let b_t = Tensor::from_shape(&[out_c], &shift).map_err(tract_err(name))?;
    let k_o = g
        .add_const(format!("{name}.kernel"), k_t)
        .map_err(tract_err(name))?;
    let b_o = g
        .add_const(format!("{name}.bias"), b_t)
        .map_err(tract_err(name))?;
    let padding = match cfg_str(layer, "padding")? {
        "valid" => PaddingSpec::Valid,
        "same" => PaddingSpec::SameUpper,
        other => {
            return Err(FeatureError::Model(format!(
                "layer {name}: padding `{other}` is not supported"
            )));
        }
    };
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NHWC,
            kernel_shape: tvec![kh, kw],
            padding,
            dilations: None,
            strides: Some(tvec![strides[0], strides[1]]),
            input_channels: c,
            output_channels: out_c,
        },
        kernel_fmt: KernelFormat::HWIO,
        group: if depthwise { c } else { 1 },
        q_params: None,
    };
    let y = g
        .wire_node(name, conv, &[x, k_o, b_o])
        .map_err(tract_err(name))?[0];
    Ok((y, out_c))
}

/// Adds the global average pool after `tap` and makes it the output.
fn finish(
    mut g: TypedModel,
    (tap, channels): (OutletId, usize),
) -> Result<(TypedModel, usize), FeatureError> {
    let pooled = g
        .wire_node(
            "global_average_pool",
            Reduce::new(tvec![1, 2], Reducer::Mean),
            &[tap],
        )
        .map_err(tract_err("pool"))?[0];
    g.select_output_outlets(&[pooled])
        .map_err(tract_err("output"))?;
    Ok((g, channels))
}
