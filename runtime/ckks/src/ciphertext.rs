//! Plaintexts and ciphertexts: RNS polynomials in NTT form at a level, with an exact scale.

use crate::ring::poly::RnsPoly;

/// An encoded message: one NTT-form polynomial modulo `q_0·…·q_level`, and the scale Δ by
/// which the slot values were multiplied.
#[derive(Debug, Clone, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly,
    pub(crate) scale: f64,
}

impl Plaintext {
    pub fn level(&self) -> usize {
        self.poly.level
    }
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

/// A ciphertext `(c_0, c_1[, c_2])` with `c_0 + c_1·s (+ c_2·s²) ≈ Δ·m`. Degree 2 (three
/// polynomials) only between a tensor product and relinearization. The scale is tracked
/// exactly: multiplied on products, divided by the dropped prime on rescale.
#[derive(Debug, Clone, PartialEq)]
pub struct Ciphertext {
    pub(crate) polys: Vec<RnsPoly>,
    pub(crate) scale: f64,
}

impl Ciphertext {
    pub fn level(&self) -> usize {
        self.polys[0].level
    }
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Degree of the ciphertext as a polynomial in `s` (1 normally, 2 after a tensor product).
    pub fn degree(&self) -> usize {
        self.polys.len() - 1
    }
    /// Overrides the tracked scale (for callers that know better, e.g. after a constant
    /// multiplication whose factor they fold elsewhere).
    pub fn set_scale(&mut self, scale: f64) {
        self.scale = scale;
    }
    /// The `i`-th polynomial (`c_0`, `c_1`, …), NTT form.
    pub fn poly(&self, i: usize) -> Option<&RnsPoly> {
        self.polys.get(i)
    }
    /// `c_1` (every ciphertext has it).
    pub fn c1(&self) -> &RnsPoly {
        &self.polys[1]
    }
    /// Size in bytes of the coefficient data.
    pub fn byte_size(&self) -> usize {
        self.polys.iter().map(|p| p.data.len() * 8).sum()
    }
}
