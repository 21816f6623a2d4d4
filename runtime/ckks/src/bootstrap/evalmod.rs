//! EvalMod: the scaled cosine interpolated in the Chebyshev basis, followed by double-angle
//! steps — as a plain f64 model ([`EvalModPoly::eval`], which fixes the approximation and its
//! error) and homomorphically ([`EvalModPoly::evaluate`], the same steps on ciphertexts).
//!
//! After ModRaise and CoeffToSlots a slot holds `y = I + ε` with an integer `|I| < K` and a
//! small `ε = m/q_0`. EvalMod must return `ε = y − round(y)`. It computes
//!
//! 1. `c_0 = p(y) ≈ cos(2π(y − 1/4)/2^r)` with `p` the Chebyshev interpolant of degree `d` on
//!    `[−K, K]` (depth `⌈log2 d⌉ + 1` here, see [`super::polyeval`]),
//! 2. `c_{i+1} = 2c_i² − 1` `r` times (depth `r`), which gives `cos(2π(y − 1/4)) = sin(2πy)`,
//! 3. `sin(2πy)/2π` (the constant is folded into the next linear transform).
//!
//! `sin(2πε)/2π = ε − (2π)²ε³/6 + …`: the *model error* `≈ 6.6·|ε|³` is why the message must be
//! small relative to `q_0` (the q_0/Δ gap). The interpolation error `η` of step 1 grows by about
//! `4^r` through the double angles (each step doubles the angle and the derivative of `2c² − 1`
//! is `4c`), so the degree is chosen for `η·4^r` below the target precision.

use crate::ciphertext::Ciphertext;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;

use super::polyeval::{double_product, evaluate_chebyshev};

/// A Chebyshev series `Σ_k c_k T_k(u)` on `[a, b]`, `u = (2x − a − b)/(b − a)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChebyshevSeries {
    a: f64,
    b: f64,
    coeffs: Vec<f64>,
}

impl ChebyshevSeries {
    /// The degree-`degree` interpolant of `f` at the Chebyshev nodes of the first kind on
    /// `[a, b]` (near-minimax; its error is at most a few times the best uniform error).
    pub fn interpolate(f: impl Fn(f64) -> f64, a: f64, b: f64, degree: usize) -> Result<Self> {
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(CkksError::InvalidParams {
                reason: format!("interpolation interval [{a}, {b}] is empty or not finite"),
            });
        }
        let nodes = degree + 1;
        let pi = std::f64::consts::PI;
        let values: Vec<f64> = (0..nodes)
            .map(|j| {
                let u = (pi * (j as f64 + 0.5) / nodes as f64).cos();
                f(0.5 * (b - a) * u + 0.5 * (a + b))
            })
            .collect();
        let coeffs = (0..nodes)
            .map(|k| {
                let s: f64 = values
                    .iter()
                    .enumerate()
                    .map(|(j, v)| v * (pi * k as f64 * (j as f64 + 0.5) / nodes as f64).cos())
                    .sum();
                let c = 2.0 * s / nodes as f64;
                if k == 0 { c / 2.0 } else { c }
            })
            .collect();
        Ok(Self { a, b, coeffs })
    }

    pub fn degree(&self) -> usize {
        self.coeffs.len().saturating_sub(1)
    }

    pub fn coeffs(&self) -> &[f64] {
        &self.coeffs
    }

    pub fn interval(&self) -> (f64, f64) {
        (self.a, self.b)
    }

    /// Evaluates the series at `x` (Clenshaw's recurrence).
    pub fn eval(&self, x: f64) -> f64 {
        let u = (2.0 * x - self.a - self.b) / (self.b - self.a);
        let (mut b1, mut b2) = (0.0, 0.0);
        for &c in self.coeffs.iter().skip(1).rev() {
            let t = 2.0 * u * b1 - b2 + c;
            b2 = b1;
            b1 = t;
        }
        u * b1 - b2 + self.coeffs.first().copied().unwrap_or(0.0)
    }

    /// Multiplicative depth of [`super::polyeval::evaluate_chebyshev`] (BSGS):
    /// `⌈log2(d + 1)⌉` for a dense series (the affine change of variable folded into the
    /// previous step).
    pub fn depth(&self) -> usize {
        super::polyeval::chebyshev_depth(self)
    }
}

/// The EvalMod approximation: interval bound `K`, Chebyshev degree, double-angle count `r`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalModPoly {
    k_bound: f64,
    double_angles: u32,
    cosine: ChebyshevSeries,
}

impl EvalModPoly {
    /// Interpolates `cos(2π(y − 1/4)/2^r)` on `[−K, K]` at the given degree.
    pub fn new(k_bound: f64, degree: usize, double_angles: u32) -> Result<Self> {
        if !(k_bound.is_finite() && k_bound >= 1.0) {
            return Err(CkksError::InvalidParams {
                reason: format!("EvalMod interval bound K = {k_bound} must be ≥ 1"),
            });
        }
        if double_angles > 16 {
            return Err(CkksError::InvalidParams {
                reason: format!("{double_angles} double-angle steps (at most 16)"),
            });
        }
        let scale = std::f64::consts::TAU / f64::from(1u32 << double_angles);
        let cosine = ChebyshevSeries::interpolate(
            |y| (scale * (y - 0.25)).cos(),
            -k_bound,
            k_bound,
            degree,
        )?;
        Ok(Self {
            k_bound,
            double_angles,
            cosine,
        })
    }

    pub fn k_bound(&self) -> f64 {
        self.k_bound
    }

    pub fn double_angles(&self) -> u32 {
        self.double_angles
    }

    pub fn cosine(&self) -> &ChebyshevSeries {
        &self.cosine
    }

    /// Levels a homomorphic EvalMod with this approximation consumes (polynomial + double
    /// angles; the final 1/2π is folded into SlotToCoeff).
    pub fn depth(&self) -> usize {
        self.cosine.depth() + self.double_angles as usize
    }

    /// The factor mapping `y` to the series variable `u = y/K ∈ [−1, 1]`; fold it into the
    /// preceding CoeffToSlots.
    pub fn input_factor(&self) -> f64 {
        1.0 / self.k_bound
    }

    /// The factor `1/2π` turning the output `sin(2πy)` into `y − round(y)`; fold it into the
    /// following SlotToCoeff.
    pub fn output_factor(&self) -> f64 {
        1.0 / std::f64::consts::TAU
    }

    /// Homomorphic EvalMod on **real** slots holding `u = y/K`: returns `≈ sin(2πy)` (times
    /// [`Self::output_factor`] this is `y − round(y)`) at the input's scale, [`Self::depth`]
    /// levels lower. Complex slots must be split into real and imaginary parts first (the
    /// double-angle squaring is not complex-linear).
    pub fn evaluate(&self, ev: &Evaluator<'_>, u: &Ciphertext) -> Result<Ciphertext> {
        let mut c = evaluate_chebyshev(ev, u, &self.cosine, u.scale())?;
        for _ in 0..self.double_angles {
            c = ev.sub_const(&double_product(ev, &c, &c)?, 1.0)?;
        }
        Ok(c)
    }

    /// [`Self::evaluate`] with the output landing at exactly `out_scale`, at no extra level.
    ///
    /// Each double angle maps a scale `s` to `s²/q` (`q` the prime its rescale drops), so
    /// the scales are solved backwards from `out_scale` (`s_i = sqrt(s_{i+1}·q)`) and the
    /// Chebyshev sum is encoded for `s_0`: its constants absorb any scale at no cost. The
    /// backward map contracts towards the primes, so any `out_scale` within a few bits of
    /// them keeps every intermediate scale near its prime (full precision).
    pub fn evaluate_to_scale(
        &self,
        ev: &Evaluator<'_>,
        u: &Ciphertext,
        out_scale: f64,
    ) -> Result<Ciphertext> {
        if !(out_scale.is_finite() && out_scale >= 1.0) {
            return Err(CkksError::UnencodableValue { value: out_scale });
        }
        let depth = self.depth();
        if u.level() < depth {
            return Err(CkksError::NoLevelLeft);
        }
        let q = ev.context().params().q();
        // Level of the Chebyshev output; double angle i rescales by q[cheb_level − i].
        let cheb_level = u.level() - self.cosine.depth();
        let mut s = out_scale;
        for i in (0..self.double_angles as usize).rev() {
            s = (s * q[cheb_level - i] as f64).sqrt();
        }
        let mut c = evaluate_chebyshev(ev, u, &self.cosine, s)?;
        if c.level() != cheb_level {
            return Err(CkksError::LevelMismatch {
                left: c.level(),
                right: cheb_level,
            });
        }
        for _ in 0..self.double_angles {
            c = ev.sub_const(&double_product(ev, &c, &c)?, 1.0)?;
        }
        // Equal up to the last f64 bits of the square roots above.
        c.set_scale(out_scale);
        Ok(c)
    }

    /// The plain reference of the homomorphic pipeline: `≈ y − round(y)` for `y` near an
    /// integer of magnitude below `K`.
    pub fn eval(&self, y: f64) -> f64 {
        let mut c = self.cosine.eval(y);
        for _ in 0..self.double_angles {
            c = 2.0 * c * c - 1.0;
        }
        c / std::f64::consts::TAU
    }
}
