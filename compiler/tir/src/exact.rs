//! The exact-sigmoid float model: the same network, initialisation, batch order, optimizer and
//! loss as the plaintext twin, with the logistic sigmoid σ(z) = 1/(1 + e^−z) and its exact
//! derivative σ(z)(1 − σ(z)) in place of the polynomial of every replaced layer.
//!
//! It answers one question: is the polynomial activation what limits the encrypted model's
//! accuracy? Which layers are replaced is a [`ActivationMode`]:
//!
//! * [`ActivationMode::Polynomial`]: none (the twin, the arithmetic of an encrypted run);
//! * [`ActivationMode::ExactSigmoid`]: every `sigmoid_fit(...)` activation (a least-squares fit
//!   of σ, so σ is what it stands for). A layer with explicit coefficients (`poly([...])`) is an
//!   error ([`TrainError::NotASigmoidFit`]): such a polynomial need not approximate σ at all;
//! * [`ActivationMode::ExactSigmoidAll`]: every polynomial activation, explicit ones included (for
//!   a `poly([...])` the file says approximates σ, such as the seed's cubic).
//!
//! Each replacement is reported with the polynomial's largest distance from σ on its interval.
//! With σ exact, the BCE output rule `A − Y` is the exact gradient of BCE (no surrogate loss), and
//! both derivative rules (`polynomial` on `Z`, `output` as `A ⊙ (1 − A)`) give σ′ exactly.

use std::collections::BTreeSet;

use henn_sema::{Activation, Model, PolyOrigin};

use crate::error::TrainError;
use crate::graph::LayerIdx;
use crate::interp::horner;

/// Which activations a plaintext run evaluates as the exact sigmoid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivationMode {
    /// The model's polynomials, exactly as an encrypted run evaluates them.
    #[default]
    Polynomial,
    /// σ in place of every `sigmoid_fit`; explicit `poly([...])` activations are refused.
    ExactSigmoid,
    /// σ in place of every polynomial activation, explicit ones included.
    ExactSigmoidAll,
}

impl ActivationMode {
    /// The mode's name in reports (`polynomial`, `exact_sigmoid`, `exact_sigmoid_all`).
    pub fn name(self) -> &'static str {
        match self {
            ActivationMode::Polynomial => "polynomial",
            ActivationMode::ExactSigmoid => "exact_sigmoid",
            ActivationMode::ExactSigmoidAll => "exact_sigmoid_all",
        }
    }
}

/// One layer whose polynomial the exact sigmoid replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Replacement {
    pub layer: usize,
    pub name: String,
    /// The polynomial replaced, as the language writes it (`sigmoid_fit(degree = 7, interval =
    /// [-18, 18])` or `poly(degree 3, interval = [-8, 8])`).
    pub replaced: String,
    /// `max |p(z) − σ(z)|` over the polynomial's interval.
    pub max_fit_error: f64,
}

/// The layers evaluated with σ, and what was replaced in each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExactLayers {
    pub layers: BTreeSet<LayerIdx>,
    pub replaced: Vec<Replacement>,
}

/// The logistic sigmoid, without overflow for large |z| (the function the fits approximate).
pub use henn_sema::fit::sigmoid;

/// σ′(z) = σ(z)(1 − σ(z)).
pub fn sigmoid_derivative(z: f64) -> f64 {
    let s = sigmoid(z);
    s * (1.0 - s)
}

/// `max |p(z) − σ(z)|` on `[lo, hi]`, on a grid of 4001 points (the fits are smooth; the grid's
/// step is at most 1/4000 of the interval).
pub fn max_fit_error(coeffs: &[f64], lo: f64, hi: f64) -> f64 {
    const POINTS: usize = 4001;
    (0..POINTS)
        .map(|i| {
            let z = lo + (hi - lo) * i as f64 / (POINTS - 1) as f64;
            (horner(coeffs, z) - sigmoid(z)).abs()
        })
        .fold(0.0, f64::max)
}

/// The layers of `model` that `mode` evaluates with σ. `ExactSigmoid` refuses a layer with
/// explicit coefficients, naming it.
pub fn exact_layers(model: &Model, mode: ActivationMode) -> Result<ExactLayers, TrainError> {
    let mut out = ExactLayers::default();
    if mode == ActivationMode::Polynomial {
        return Ok(out);
    }
    for (l, layer) in model.layers.iter().enumerate() {
        let Activation::Polynomial(p) = &layer.activation else {
            continue;
        };
        let (lo, hi) = (p.interval.lo, p.interval.hi);
        let replaced = match p.origin {
            PolyOrigin::LeastSquares { degree } => {
                format!("sigmoid_fit(degree = {degree}, interval = [{lo}, {hi}])")
            }
            PolyOrigin::Explicit if mode == ActivationMode::ExactSigmoidAll => format!(
                "poly(degree {}, interval = [{lo}, {hi}])",
                p.coeffs.len().saturating_sub(1)
            ),
            PolyOrigin::Explicit => {
                return Err(TrainError::NotASigmoidFit {
                    layer: layer.name.clone(),
                    max_fit_error: max_fit_error(&p.coeffs, lo, hi),
                });
            }
        };
        out.layers.insert(LayerIdx(l));
        out.replaced.push(Replacement {
            layer: l,
            name: layer.name.clone(),
            replaced,
            max_fit_error: max_fit_error(&p.coeffs, lo, hi),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_and_symmetric() {
        assert_eq!(sigmoid(0.0), 0.5);
        for z in [0.3, 2.0, 17.0, 800.0] {
            let (a, b) = (sigmoid(z), sigmoid(-z));
            assert!(a.is_finite() && b.is_finite());
            assert!((a + b - 1.0).abs() < 1e-12, "{z}: {a} + {b}");
        }
        assert!((sigmoid_derivative(0.0) - 0.25).abs() < 1e-15);
        // σ′ against a central difference.
        let h = 1e-5;
        let fd = (sigmoid(1.3 + h) - sigmoid(1.3 - h)) / (2.0 * h);
        assert!((sigmoid_derivative(1.3) - fd).abs() < 1e-9);
    }

    #[test]
    fn fit_error_of_the_seed_cubic_and_a_line() {
        // The predecessor's cubic is far from σ at the ends of [-8, 8]: p(8) ≈ 1.157.
        let cubic = [0.5, 0.106795345, 0.0, -0.000385032598];
        let e = max_fit_error(&cubic, -8.0, 8.0);
        assert!((0.1..0.2).contains(&e), "{e}");
        // The tangent at 0 is within 1e-3 of σ only very near 0.
        assert!(max_fit_error(&[0.5, 0.25], -0.1, 0.1) < 1e-4);
        assert!(max_fit_error(&[0.5, 0.25], -4.0, 4.0) > 0.1);
    }
}
