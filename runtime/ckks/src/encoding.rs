//! Canonical-embedding encoder (the "special FFT").
//!
//! Slot `j` (0 ≤ j < N/2) is the value of the message polynomial at `ζ^(5^j)`, `ζ = e^{iπ/N}`.
//! Because every `5^j ≡ 1 (mod 4)`, folding the real coefficients as
//! `w_k = a_k + i·a_{k+N/2}` turns the N-point evaluation into
//! `z_j = Σ_{k<N/2} w_k ζ^k ω^{t_j k}` with `ω = ζ^4` and `t_j = (5^j mod 2N − 1)/4`:
//! a twisted complex DFT of size N/2 followed by the slot permutation `t_j`. Encoding runs it
//! backwards. Rotation by `r` slots is then the automorphism `X → X^(5^r)`, conjugation
//! `X → X^(2N−1)`.

use num_complex::Complex64;

/// Precomputed tables for one ring degree.
#[derive(Debug, Clone)]
pub struct SpecialFft {
    n: usize,
    /// t_j for each slot j.
    slot_pos: Vec<usize>,
    /// ζ^k for k < N/2.
    twist: Vec<Complex64>,
    /// Twiddles e^{2πi k/(N/2)} for k < N/4.
    roots: Vec<Complex64>,
}

impl SpecialFft {
    pub fn new(n: usize) -> Self {
        let m = n / 2;
        let two_n = 2 * n;
        let mut slot_pos = Vec::with_capacity(m);
        let mut g = 1usize;
        for _ in 0..m {
            slot_pos.push((g - 1) / 4);
            g = (g * 5) % two_n;
        }
        let twist = (0..m)
            .map(|k| Complex64::from_polar(1.0, std::f64::consts::PI * k as f64 / n as f64))
            .collect();
        let roots = (0..m / 2)
            .map(|k| Complex64::from_polar(1.0, 2.0 * std::f64::consts::PI * k as f64 / m as f64))
            .collect();
        Self {
            n,
            slot_pos,
            twist,
            roots,
        }
    }

    pub fn slots(&self) -> usize {
        self.n / 2
    }

    /// In-place radix-2 DFT of size N/2: `out_t = Σ_k x_k e^{±2πi tk/(N/2)}` (`inverse` picks
    /// the minus sign; no 1/size factor).
    fn dft(&self, x: &mut [Complex64], inverse: bool) {
        let m = x.len();
        if m <= 1 {
            return;
        }
        let bits = m.trailing_zeros();
        for i in 0..m {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if i < j {
                x.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= m {
            let step = m / len;
            for start in (0..m).step_by(len) {
                for k in 0..len / 2 {
                    let w = self.roots[k * step];
                    let w = if inverse { w.conj() } else { w };
                    let u = x[start + k];
                    let v = x[start + k + len / 2] * w;
                    x[start + k] = u + v;
                    x[start + k + len / 2] = u - v;
                }
            }
            len <<= 1;
        }
    }

    /// Slots → real coefficients (unscaled): the inverse canonical embedding.
    pub fn slots_to_coeffs(&self, z: &[Complex64]) -> Vec<f64> {
        let m = self.n / 2;
        let mut w = vec![Complex64::new(0.0, 0.0); m];
        for (j, &v) in z.iter().enumerate().take(m) {
            w[self.slot_pos[j]] = v;
        }
        self.dft(&mut w, true);
        let inv_m = 1.0 / m as f64;
        let mut a = vec![0.0; self.n];
        for k in 0..m {
            let c = w[k] * self.twist[k].conj() * inv_m;
            a[k] = c.re;
            a[k + m] = c.im;
        }
        a
    }

    /// Real coefficients → slots: the canonical embedding.
    pub fn coeffs_to_slots(&self, a: &[f64]) -> Vec<Complex64> {
        let m = self.n / 2;
        let mut w: Vec<Complex64> = (0..m)
            .map(|k| Complex64::new(a[k], a[k + m]) * self.twist[k])
            .collect();
        self.dft(&mut w, false);
        self.slot_pos.iter().map(|&t| w[t]).collect()
    }
}

/// Reference: direct evaluation of the canonical embedding, O(N²).
pub fn coeffs_to_slots_naive(a: &[f64]) -> Vec<Complex64> {
    let n = a.len();
    let two_n = 2 * n;
    let mut g = 1usize;
    let mut out = Vec::with_capacity(n / 2);
    for _ in 0..n / 2 {
        let mut s = Complex64::new(0.0, 0.0);
        for (k, &c) in a.iter().enumerate() {
            let e = (g * k) % two_n;
            s += c * Complex64::from_polar(1.0, std::f64::consts::PI * e as f64 / n as f64);
        }
        out.push(s);
        g = (g * 5) % two_n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_embedding_matches_naive_and_inverts() {
        let n = 64;
        let fft = SpecialFft::new(n);
        let a: Vec<f64> = (0..n).map(|k| ((k * 37 % 11) as f64 - 5.0) / 3.0).collect();
        let fast = fft.coeffs_to_slots(&a);
        let slow = coeffs_to_slots_naive(&a);
        for (x, y) in fast.iter().zip(&slow) {
            assert!((x - y).norm() < 1e-9);
        }
        let back = fft.slots_to_coeffs(&fast);
        for (x, y) in back.iter().zip(&a) {
            assert!((x - y).abs() < 1e-9);
        }
    }
}
