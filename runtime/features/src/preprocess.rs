//! Grey images to the network's input: bilinear resize to `size × size`, grey repeated to three
//! channels, and the pixel scaling.
//!
//! The resize is TensorFlow 2's `tf.image.resize(…, "bilinear")` (TF.js:
//! `tf.image.resizeBilinear(x, size, alignCorners = false, halfPixelCenters = true)`): output
//! pixel `o` samples the input at `(o + ½)·in/out − ½`, clamped to the image, and interpolates
//! linearly between the two nearest input pixels in each direction. The reference script
//! (`scripts/features-reference.js`) resizes with TF.js itself, so this code is checked too.

use serde::Serialize;

/// How pixel bytes become network inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scaling {
    /// Keras' MobileNetV2 `preprocess_input` (mode "tf"): `p/127.5 − 1`, in [−1, 1]. The
    /// ImageNet weights were trained with it.
    Keras,
    /// `p/255`, in [0, 1]: what nsfwjs feeds its (fine-tuned) model.
    Unit,
}

impl std::str::FromStr for Scaling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keras" => Ok(Self::Keras),
            "unit" => Ok(Self::Unit),
            _ => Err(format!("unknown scaling `{s}` (keras, unit)")),
        }
    }
}

impl Scaling {
    fn apply(self, p: f32) -> f32 {
        match self {
            Self::Keras => p / 127.5 - 1.0,
            Self::Unit => p / 255.0,
        }
    }
}

/// Sample positions of one axis: for each output index, the two input indices and the weight of
/// the second.
fn axis(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let x = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let lo = (x.floor() as usize).min(input - 1);
            let hi = (lo + 1).min(input - 1);
            (lo, hi, x - lo as f32)
        })
        .collect()
}

/// Writes `images` (`rows × cols` bytes each, concatenated) as an NHWC float batch
/// `n × size × size × 3` into `out` (cleared first).
pub fn to_input(
    images: &[u8],
    rows: usize,
    cols: usize,
    size: usize,
    scaling: Scaling,
    out: &mut Vec<f32>,
) {
    out.clear();
    let per = rows * cols;
    if per == 0 {
        return;
    }
    let ys = axis(rows, size);
    let xs = axis(cols, size);
    out.reserve(images.len() / per * size * size * 3);
    for img in images.chunks_exact(per) {
        let px = |r: usize, c: usize| f32::from(img[r * cols + c]);
        for &(y0, y1, wy) in &ys {
            for &(x0, x1, wx) in &xs {
                let top = px(y0, x0) + (px(y0, x1) - px(y0, x0)) * wx;
                let bottom = px(y1, x0) + (px(y1, x1) - px(y1, x0)) * wx;
                let v = scaling.apply(top + (bottom - top) * wy);
                out.extend_from_slice(&[v, v, v]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn same_size_is_the_identity_and_constant_stays_constant() {
        let img: Vec<u8> = (0..16).map(|i| i as u8 * 16).collect();
        let mut out = Vec::new();
        to_input(&img, 4, 4, 4, Scaling::Unit, &mut out);
        let grey: Vec<f32> = out.chunks(3).map(|p| p[0] * 255.0).collect();
        for (a, b) in grey.iter().zip(&img) {
            assert!((a - f32::from(*b)).abs() < 1e-4);
        }
        to_input(&[255; 4], 2, 2, 7, Scaling::Keras, &mut out);
        assert_eq!(out.len(), 7 * 7 * 3);
        assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-6));
    }

    #[test]
    fn doubling_interpolates_between_pixels() {
        // 1×2 → 2×4: inputs at x = 0, 1; outputs sample x = −0.25 (clamped to 0), 0.25, 0.75, 1.25.
        let mut out = Vec::new();
        to_input(&[0, 100], 1, 2, 4, Scaling::Unit, &mut out);
        let row: Vec<f32> = out.chunks(3).take(4).map(|p| p[0] * 255.0).collect();
        let want = [0.0, 25.0, 75.0, 100.0];
        for (a, b) in row.iter().zip(want) {
            assert!((a - b).abs() < 1e-3, "{row:?}");
        }
    }
}
