//! Least-squares polynomial fits of the logistic sigmoid.
//!
//! `sigmoid_fit(degree = d, interval = [a, b])` means the polynomial p of degree ≤ d that minimises
//! the continuous L2 error ∫ₐᵇ (σ(x) − p(x))² dx (uniform weight). It is computed in the Legendre
//! basis on the interval mapped to [−1, 1], where the normal equations are diagonal: the k-th
//! coefficient is (2k+1)/2 · ∫ σ(x(t)) Pₖ(t) dt, evaluated with 128-point Gauss–Legendre
//! quadrature (exact for polynomials of degree 255; σ is analytic, so the quadrature error is far
//! below f64 rounding for the supported intervals). The series is then converted to monomial
//! coefficients in x, which is what [`crate::Model`] stores. That conversion loses accuracy for
//! high degrees on wide intervals, so the result is verified against the Legendre form on a dense
//! grid and refused when they differ by more than [`MAX_CONVERSION_ERROR`].

/// Largest degree accepted by the language (a compile-time depth budget makes more useless).
pub const MAX_DEGREE: u32 = 31;

/// Largest allowed |monomial form − Legendre form| on the interval.
pub const MAX_CONVERSION_ERROR: f64 = 1e-9;

const QUADRATURE_POINTS: usize = 128;

/// Why a fit was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("degree {degree} is outside 1..={MAX_DEGREE}")]
    Degree { degree: u32 },
    #[error("interval [{lo}, {hi}] is empty or not finite")]
    Interval { lo: f64, hi: f64 },
    #[error(
        "the monomial form differs from the least-squares fit by {error:e} (limit {MAX_CONVERSION_ERROR:e}); \
         lower the degree or narrow the interval"
    )]
    IllConditioned { error: f64 },
}

/// The logistic sigmoid, evaluated without overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Gauss–Legendre nodes and weights on [−1, 1] (Newton's method on Pₙ from Chebyshev guesses).
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    let nf = n as f64;
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (p, d) = legendre_and_derivative(n, x);
            dp = d;
            let dx = p / d;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        let (_, d) = legendre_and_derivative(n, x);
        if d.is_finite() {
            dp = d;
        }
        out.push((x, 2.0 / ((1.0 - x * x) * dp * dp)));
    }
    out
}

/// Pₙ(x) and Pₙ′(x) by the three-term recurrence.
fn legendre_and_derivative(n: usize, x: f64) -> (f64, f64) {
    let mut p0 = 1.0;
    let mut p1 = x;
    if n == 0 {
        return (1.0, 0.0);
    }
    for k in 1..n {
        let kf = k as f64;
        let p2 = ((2.0 * kf + 1.0) * x * p1 - kf * p0) / (kf + 1.0);
        p0 = p1;
        p1 = p2;
    }
    let nf = n as f64;
    let d = nf * (x * p1 - p0) / (x * x - 1.0);
    (p1, d)
}

/// P₀..P_d evaluated at x.
fn legendre_values(d: usize, x: f64) -> Vec<f64> {
    let mut v = vec![1.0; d + 1];
    if d >= 1 {
        v[1] = x;
    }
    for k in 1..d {
        let kf = k as f64;
        v[k + 1] = ((2.0 * kf + 1.0) * x * v[k] - kf * v[k - 1]) / (kf + 1.0);
    }
    v
}

/// Monomial coefficients (lowest first) of P₀..P_d.
fn legendre_monomials(d: usize) -> Vec<Vec<f64>> {
    let mut polys: Vec<Vec<f64>> = vec![vec![0.0; d + 1]; d + 1];
    polys[0][0] = 1.0;
    if d >= 1 {
        polys[1][1] = 1.0;
    }
    for k in 1..d {
        let kf = k as f64;
        let mut next = vec![0.0; d + 1];
        for j in 0..d {
            next[j + 1] += (2.0 * kf + 1.0) * polys[k][j] / (kf + 1.0);
        }
        for j in 0..=d {
            next[j] -= kf * polys[k - 1][j] / (kf + 1.0);
        }
        polys[k + 1] = next;
    }
    polys
}

/// The least-squares sigmoid fit of `degree` on `[lo, hi]`, as monomial coefficients in x
/// (lowest degree first, `degree + 1` entries).
pub fn sigmoid_least_squares(degree: u32, lo: f64, hi: f64) -> Result<Vec<f64>, FitError> {
    if degree == 0 || degree > MAX_DEGREE {
        return Err(FitError::Degree { degree });
    }
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(FitError::Interval { lo, hi });
    }
    let d = degree as usize;
    let half = (hi - lo) / 2.0;
    let mid = (hi + lo) / 2.0;
    let to_x = |t: f64| mid + half * t;

    // Legendre coefficients of σ(x(t)).
    let mut a = vec![0.0; d + 1];
    for (t, w) in gauss_legendre(QUADRATURE_POINTS) {
        let s = sigmoid(to_x(t));
        for (k, pk) in legendre_values(d, t).into_iter().enumerate() {
            a[k] += w * s * pk;
        }
    }
    for (k, ak) in a.iter_mut().enumerate() {
        *ak *= (2.0 * k as f64 + 1.0) / 2.0;
    }
    if mid == 0.0 {
        // σ(x) − ½ is odd, so on a symmetric interval the even terms beyond the constant vanish
        // exactly; remove the quadrature's rounding noise so the model states that fact.
        a[0] = 0.5;
        for k in (2..=d).step_by(2) {
            a[k] = 0.0;
        }
    }

    // Monomials in t, then substitute t = (x − mid) / half.
    let basis = legendre_monomials(d);
    let mut in_t = vec![0.0; d + 1];
    for (k, ak) in a.iter().enumerate() {
        for j in 0..=d {
            in_t[j] += ak * basis[k][j];
        }
    }
    let alpha = 1.0 / half;
    let beta = -mid / half;
    // (αx + β)^j expanded with binomial coefficients.
    let mut coeffs = vec![0.0; d + 1];
    for (j, bj) in in_t.iter().enumerate() {
        let mut binom = 1.0;
        for (i, ci) in coeffs.iter_mut().enumerate().take(j + 1) {
            // term: C(j, i) α^i β^(j−i) x^i
            *ci += bj * binom * alpha.powi(i as i32) * beta.powi((j - i) as i32);
            binom = binom * (j - i) as f64 / (i + 1) as f64;
        }
    }

    // Verify the conversion on a dense grid.
    let mut worst = 0.0f64;
    for i in 0..=512 {
        let t = -1.0 + 2.0 * i as f64 / 512.0;
        let legendre: f64 = legendre_values(d, t)
            .iter()
            .zip(&a)
            .map(|(p, c)| p * c)
            .sum();
        let mono = coeffs.iter().rev().fold(0.0, |acc, &c| acc * to_x(t) + c);
        worst = worst.max((legendre - mono).abs());
    }
    // NaN (from overflow) must be refused too.
    if worst.is_nan() || worst > MAX_CONVERSION_ERROR {
        return Err(FitError::IllConditioned { error: worst });
    }
    Ok(coeffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(c: &[f64], x: f64) -> f64 {
        c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
    }

    /// Trapezoid rule on a fine grid: an independent check of the normal equations.
    fn inner(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
        let n = 200_000;
        let h = (hi - lo) / n as f64;
        (0..=n)
            .map(|i| {
                let x = lo + h * i as f64;
                let w = if i == 0 || i == n { 0.5 } else { 1.0 };
                w * f(x)
            })
            .sum::<f64>()
            * h
    }

    #[test]
    fn quadrature_integrates_polynomials_exactly() {
        let nodes = gauss_legendre(QUADRATURE_POINTS);
        let total: f64 = nodes.iter().map(|(_, w)| w).sum();
        assert!((total - 2.0).abs() < 1e-13, "weights sum to {total}");
        // ∫ t^10 dt over [−1, 1] = 2/11.
        let i10: f64 = nodes.iter().map(|(t, w)| w * t.powi(10)).sum();
        assert!((i10 - 2.0 / 11.0).abs() < 1e-14);
    }

    #[test]
    fn cubic_on_minus8_8_matches_published_least_squares_fit() {
        // Brief datasets.md §5.3: deg 3 on [−8, 8] = 0.5 + 0.150094 x − 0.0015920 x³. That fit
        // was made on a sample grid (a discrete objective), ours is the continuous L2 fit, so
        // they agree to about 3 significant digits; `residual_is_orthogonal_to_every_monomial`
        // is the precise check of our objective.
        let c = sigmoid_least_squares(3, -8.0, 8.0).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], 0.5);
        assert_eq!(c[2], 0.0);
        assert!((c[1] / 0.150094 - 1.0).abs() < 5e-4, "slope {}", c[1]);
        assert!((c[3] / -0.0015920 - 1.0).abs() < 5e-3, "cubic {}", c[3]);
    }

    #[test]
    fn residual_is_orthogonal_to_every_monomial() {
        for &(deg, lo, hi) in &[(3u32, -8.0, 8.0), (7, -16.0, 16.0), (5, -2.0, 6.0)] {
            let c = sigmoid_least_squares(deg, lo, hi).unwrap();
            for j in 0..=deg as i32 {
                // Scale the monomial to O(1) on the interval so the tolerance is meaningful.
                let m = lo.abs().max(hi.abs());
                let r = inner(|x| (sigmoid(x) - eval(&c, x)) * (x / m).powi(j), lo, hi);
                assert!(r.abs() < 1e-6, "deg {deg} [{lo},{hi}] x^{j}: {r}");
            }
        }
    }

    #[test]
    fn fit_error_shrinks_with_degree() {
        let err = |d| {
            let c = sigmoid_least_squares(d, -16.0, 16.0).unwrap();
            inner(|x| (sigmoid(x) - eval(&c, x)).powi(2), -16.0, 16.0)
        };
        let (e3, e7, e11) = (err(3), err(7), err(11));
        assert!(e7 < e3 && e11 < e7, "{e3} {e7} {e11}");
    }

    #[test]
    fn rejects_bad_inputs() {
        assert_eq!(
            sigmoid_least_squares(0, -1.0, 1.0),
            Err(FitError::Degree { degree: 0 })
        );
        assert!(matches!(
            sigmoid_least_squares(3, 1.0, 1.0),
            Err(FitError::Interval { .. })
        ));
        assert!(matches!(
            sigmoid_least_squares(31, -1000.0, 1000.0),
            Err(FitError::IllConditioned { .. })
        ));
    }
}
