//! Homomorphic linear transforms on the slot vector by the diagonal method with
//! baby-step/giant-step (BSGS) and double hoisting.
//!
//! A slot-space matrix `M` (`n × n`, `n` = the number of slots) is stored by its generalized
//! diagonals `d_k[j] = M[j][(j + k) mod n]`, so that `M·z = Σ_k d_k ⊙ rot_k(z)` (rotation to
//! the left: slot `j` receives slot `j + k`). Writing each offset as `k = g + b` with a baby step
//! `b ∈ [0, n1)` and a giant step `g` (a multiple of `n1`, signed so that short negative offsets
//! stay short),
//!
//! `M·z = Σ_g rot_g( Σ_b rot_{−g}(d_{g+b}) ⊙ rot_b(z) )`.
//!
//! The inner sums share one decomposition of `z` and one ModDown each
//! ([`Evaluator::rotate_sum`]); each non-zero giant step costs one more key switch. The
//! plaintext diagonals are encoded at the scale of the prime the final rescale drops, so a
//! transform consumes exactly one level and leaves the scale unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use num_complex::Complex64;

use crate::ciphertext::{Ciphertext, Plaintext};
use crate::context::Context;
use crate::encoder::Encoder;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;

/// A plaintext `n × n` complex matrix held by its non-zero generalized diagonals.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagMatrix {
    dim: usize,
    diags: BTreeMap<usize, Vec<Complex64>>,
}

impl DiagMatrix {
    /// The zero matrix of dimension `dim` (≥ 1).
    pub fn zero(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(CkksError::InvalidParams {
                reason: "a diagonal matrix needs dimension ≥ 1".into(),
            });
        }
        Ok(Self {
            dim,
            diags: BTreeMap::new(),
        })
    }

    /// The identity matrix.
    pub fn identity(dim: usize) -> Result<Self> {
        let mut m = Self::zero(dim)?;
        m.diags.insert(0, vec![Complex64::new(1.0, 0.0); dim]);
        Ok(m)
    }

    /// From dense rows (`rows[j][l]` = entry at row `j`, column `l`); all-zero diagonals are
    /// not stored.
    pub fn from_dense(rows: &[Vec<Complex64>]) -> Result<Self> {
        let mut m = Self::zero(rows.len())?;
        for (j, row) in rows.iter().enumerate() {
            if row.len() != m.dim {
                return Err(CkksError::InvalidParams {
                    reason: format!("row {j} has {} entries, expected {}", row.len(), m.dim),
                });
            }
            for (l, &v) in row.iter().enumerate() {
                if v != Complex64::new(0.0, 0.0) {
                    m.add_entry(j, l, v);
                }
            }
        }
        Ok(m)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of stored diagonals (the rotations a homomorphic product needs, before BSGS).
    pub fn num_diagonals(&self) -> usize {
        self.diags.len()
    }

    /// Stored diagonal offsets `k ∈ [0, dim)`, ascending.
    pub fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        self.diags.keys().copied()
    }

    /// Diagonal `k` (`d_k[j] = M[j][(j + k) mod n]`), if stored.
    pub fn diagonal(&self, k: usize) -> Option<&[Complex64]> {
        self.diags.get(&k).map(Vec::as_slice)
    }

    /// `M[row][col] += v` (indices taken modulo the dimension).
    pub fn add_entry(&mut self, row: usize, col: usize, v: Complex64) {
        let n = self.dim;
        let (row, col) = (row % n, col % n);
        let k = (col + n - row) % n;
        self.diags
            .entry(k)
            .or_insert_with(|| vec![Complex64::new(0.0, 0.0); n])[row] += v;
    }

    /// Multiplies every entry by `c`.
    pub fn scale(&mut self, c: Complex64) {
        for d in self.diags.values_mut() {
            for v in d.iter_mut() {
                *v *= c;
            }
        }
    }

    /// The plain matrix–vector product `M·z` (reference for the homomorphic one).
    pub fn apply(&self, z: &[Complex64]) -> Result<Vec<Complex64>> {
        let n = self.dim;
        if z.len() != n {
            return Err(CkksError::TooManyValues {
                given: z.len(),
                slots: n,
            });
        }
        let mut out = vec![Complex64::new(0.0, 0.0); n];
        for (&k, d) in &self.diags {
            for (j, o) in out.iter_mut().enumerate() {
                *o += d[j] * z[(j + k) % n];
            }
        }
        Ok(out)
    }

    /// The product `self · rhs` (apply `rhs` first). Diagonals multiply offset-wise:
    /// `(A·B)_{a+b}[j] += A_a[j]·B_b[j + a]`.
    pub fn compose(&self, rhs: &DiagMatrix) -> Result<DiagMatrix> {
        if self.dim != rhs.dim {
            return Err(CkksError::InvalidParams {
                reason: format!(
                    "cannot compose matrices of dimensions {} and {}",
                    self.dim, rhs.dim
                ),
            });
        }
        let n = self.dim;
        let mut out = Self::zero(n)?;
        for (&a, da) in &self.diags {
            for (&b, db) in &rhs.diags {
                let d = out
                    .diags
                    .entry((a + b) % n)
                    .or_insert_with(|| vec![Complex64::new(0.0, 0.0); n]);
                for (j, o) in d.iter_mut().enumerate() {
                    *o += da[j] * db[(j + a) % n];
                }
            }
        }
        out.diags.retain(|_, d| d.iter().any(|v| v.norm() != 0.0));
        Ok(out)
    }
}

/// Signed representative of a rotation offset in `(−n/2, n/2]`.
fn signed_offset(k: usize, n: usize) -> i64 {
    if k > n / 2 {
        k as i64 - n as i64
    } else {
        k as i64
    }
}

/// The default baby-step count: the power of two nearest `sqrt(span)` of the offsets, which
/// balances baby rotations (cheap, hoisted) against giant rotations (one key switch each).
fn default_baby(m: &DiagMatrix) -> usize {
    let n = m.dim;
    let (lo, hi) = m
        .offsets()
        .map(|k| signed_offset(k, n))
        .fold((0i64, 0i64), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let span = (hi - lo + 1).max(1) as f64;
    let b = span.sqrt().log2().round().max(0.0).exp2() as usize;
    b.clamp(1, n)
}

/// The BSGS split of `m`'s offsets: giant step → [(baby step, diagonal offset)].
fn bsgs_groups(m: &DiagMatrix, baby: usize) -> BTreeMap<i64, Vec<(i64, usize)>> {
    let n = m.dim;
    let mut grouped: BTreeMap<i64, Vec<(i64, usize)>> = BTreeMap::new();
    for k in m.offsets() {
        let s = signed_offset(k, n);
        let b = s.rem_euclid(baby.max(1) as i64);
        grouped.entry(s - b).or_default().push((b, k));
    }
    grouped
}

/// The rotation steps [`LinearTransform::encode`] of `m` with the same `baby` would use
/// (ascending, without 0), computed without encoding anything: what key manifests need.
pub fn bsgs_rotations(m: &DiagMatrix, baby: Option<usize>) -> Vec<i64> {
    let baby = baby.unwrap_or_else(|| default_baby(m)).clamp(1, m.dim);
    let mut steps: Vec<i64> = bsgs_groups(m, baby)
        .into_iter()
        .flat_map(|(g, t)| std::iter::once(g).chain(t.into_iter().map(|(b, _)| b)))
        .filter(|&s| s != 0)
        .collect();
    steps.sort_unstable();
    steps.dedup();
    steps
}

/// A [`DiagMatrix`] encoded for one homomorphic application at a fixed level.
#[derive(Debug, Clone)]
pub struct LinearTransform {
    level: usize,
    baby: usize,
    /// Scale of the encoded diagonals; `q_level` keeps the ciphertext's scale unchanged.
    pt_scale: f64,
    q_level: f64,
    /// (giant step, [(baby step, rot_{−g}(d_{g+b}) encoded over Q_level·P)])
    groups: Vec<(i64, Vec<(i64, Plaintext)>)>,
}

impl LinearTransform {
    /// Encodes `m` (dimension = the number of slots) for ciphertexts at `level` (≥ 1: the
    /// application rescales once). `baby` is the baby-step count `n1` (default ≈ sqrt of the
    /// offset span, a power of two).
    pub fn encode(
        ctx: &Arc<Context>,
        m: &DiagMatrix,
        level: usize,
        baby: Option<usize>,
    ) -> Result<Self> {
        Self::encode_scaled(ctx, m, level, baby, 1.0)
    }

    /// [`Self::encode`] with the diagonals encoded at `q_level·scale_ratio`: the application
    /// then multiplies the ciphertext's scale by `scale_ratio` (used to move between the
    /// scales of chain segments with different prime sizes).
    pub fn encode_scaled(
        ctx: &Arc<Context>,
        m: &DiagMatrix,
        level: usize,
        baby: Option<usize>,
        scale_ratio: f64,
    ) -> Result<Self> {
        let enc = Encoder::new(ctx);
        let n = enc.slots();
        if m.dim != n {
            return Err(CkksError::InvalidParams {
                reason: format!("matrix dimension {} ≠ slot count {n}", m.dim),
            });
        }
        if level == 0 {
            return Err(CkksError::NoLevelLeft);
        }
        let baby = baby.unwrap_or_else(|| default_baby(m));
        if baby == 0 || baby > n {
            return Err(CkksError::InvalidParams {
                reason: format!("baby-step count {baby} outside 1..={n}"),
            });
        }
        let q_level = ctx
            .params()
            .q()
            .get(level)
            .copied()
            .ok_or(CkksError::LevelOutOfRange {
                level,
                max: ctx.max_level(),
            })? as f64;
        let pt_scale = q_level * scale_ratio;
        if !(pt_scale.is_finite() && pt_scale >= 1.0) {
            return Err(CkksError::UnencodableValue { value: pt_scale });
        }
        let grouped = bsgs_groups(m, baby);
        let mut groups = Vec::with_capacity(grouped.len());
        for (g, members) in grouped {
            let mut terms = Vec::with_capacity(members.len());
            for (b, k) in members {
                let d = &m.diags[&k];
                // rot_{−g}(d)[j] = d[(j − g) mod n]
                let shift = (-g).rem_euclid(n as i64) as usize;
                let rotated: Vec<Complex64> = (0..n).map(|j| d[(j + shift) % n]).collect();
                terms.push((b, enc.encode_extended(&rotated, level, pt_scale)?));
            }
            groups.push((g, terms));
        }
        Ok(Self {
            level,
            baby,
            pt_scale,
            q_level,
            groups,
        })
    }

    pub fn level(&self) -> usize {
        self.level
    }

    pub fn baby_steps(&self) -> usize {
        self.baby
    }

    /// Bytes of the encoded diagonals held in memory.
    pub fn byte_size(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|(_, t)| t.iter())
            .map(|(_, p)| p.poly.data.len() * 8)
            .sum()
    }

    /// Every rotation step the application uses (keys to generate), ascending, without 0.
    pub fn rotations(&self) -> Vec<i64> {
        let mut steps: Vec<i64> = self
            .groups
            .iter()
            .flat_map(|(g, t)| std::iter::once(*g).chain(t.iter().map(|(b, _)| *b)))
            .filter(|&s| s != 0)
            .collect();
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// `M·z` for the encrypted slot vector `z`: one level consumed, scale unchanged.
    /// A ciphertext above the transform's level is first dropped to it.
    pub fn apply(&self, ev: &Evaluator<'_>, ct: &Ciphertext) -> Result<Ciphertext> {
        let ct = match ct.level().cmp(&self.level) {
            std::cmp::Ordering::Less => {
                return Err(CkksError::LevelMismatch {
                    left: ct.level(),
                    right: self.level,
                });
            }
            std::cmp::Ordering::Equal => ct.clone(),
            std::cmp::Ordering::Greater => ev.drop_to_level(ct, self.level)?,
        };
        let h = ev.hoist(&ct)?;
        let mut acc: Option<Ciphertext> = None;
        for (g, terms) in &self.groups {
            let refs: Vec<(i64, &Plaintext)> = terms.iter().map(|(b, p)| (*b, p)).collect();
            let inner = ev.rotate_sum(&h, &refs)?;
            let part = if *g == 0 {
                inner
            } else {
                ev.rotate(&inner, *g)?
            };
            match acc.as_mut() {
                None => acc = Some(part),
                Some(a) => ev.add_assign(a, &part)?,
            }
        }
        let acc = acc.ok_or(CkksError::InvalidParams {
            reason: "linear transform of the zero matrix".into(),
        })?;
        let mut out = ev.rescale(&acc)?;
        if self.pt_scale == self.q_level {
            // Multiplying by q_level and dividing by it again may differ from the input scale
            // in the last f64 bit only; restore the exact value so later additions line up.
            out.scale = ct.scale;
        }
        Ok(out)
    }
}
