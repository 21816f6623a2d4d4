//! The loss the autodiff's BCE rule is exactly the gradient of.
//!
//! With the true sigmoid, BCE per output is `softplus(z) − y·z` and its derivative in `z` is
//! `σ(z) − y`: that is why the output error is `A − Y`. With a polynomial σ̃ the rule
//! `E = σ̃(Z) − Y` is no longer the gradient of BCE evaluated on σ̃'s outputs (that would be
//! `(a − y)·σ̃′(z) / (a(1 − a))`). It *is* the exact gradient of the surrogate
//!
//! ```text
//! L̃(Z) = (1/B) · Σ_i Σ_k [ P(z_ik) − y_ik · z_ik ],   P(z) = ∫₀ᶻ σ̃(t) dt,
//! ```
//!
//! the "polynomial softplus" loss: replacing σ̃ by σ turns `P` into `softplus − ln 2` and `L̃` into
//! BCE (up to a constant). So the plaintext trainer, the encrypted run and the gradient check all
//! agree on one precisely defined objective; the monitored BCE number is reported beside it.

/// Coefficients of `P(z) = ∫₀ᶻ p(t) dt` for `p` given lowest degree first.
pub fn antiderivative(coeffs: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0];
    out.extend(coeffs.iter().enumerate().map(|(k, c)| c / (k as f64 + 1.0)));
    out
}

/// `L̃` for output pre-activations `z` and targets `y` (row-major, `batch` rows).
pub fn surrogate_bce(coeffs: &[f64], z: &[f64], y: &[f64], batch: usize) -> f64 {
    let p = antiderivative(coeffs);
    let total: f64 = z
        .iter()
        .zip(y)
        .map(|(&z, &y)| crate::interp::horner(&p, z) - y * z)
        .sum();
    total / batch.max(1) as f64
}
