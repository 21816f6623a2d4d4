//! The decoding map of the canonical embedding factored into sparse butterfly stages, and
//! CoeffToSlots / SlotToCoeff as products of level-collapsed groups of those stages.
//!
//! With `m = N/2` slots and the folding `w_k = a_k + i·a_{k+m}` of the real coefficients (see
//! [`crate::encoding`]), the slots are `z = V·w` with `V[j][k] = ζ^{5^j·k}`, `ζ = e^{iπ/N}`:
//! a *complex-linear* map, so neither transform needs a conjugation. `V` factors as
//!
//! `V = S_L ⋯ S_2 · S_1 · R`,  `L = log2 m`,
//!
//! where `R` is the bit-reversal permutation and `S_t` (butterfly length `2^t`) has only the
//! three diagonals `0, ±2^{t−1}`: inside each block of `len = 2^t`,
//! `(u, v) ↦ (u + ω_j v, u − ω_j v)` with `ω_j = ζ^{(5^j mod 4·len)·(2N / 4·len)}`.
//!
//! Bootstrapping never applies `R`: after **CoeffToSlots** `= S_1^{-1} ⋯ S_L^{-1}` the slots
//! hold `R·w` (the folded coefficients in bit-reversed order), EvalMod acts slot-wise so the
//! order is irrelevant, and **SlotToCoeff** `= S_L ⋯ S_1` brings them back. Grouping `L` stages
//! into `k` consecutive products trades depth (one level per group) for rotations (a group of
//! `s` stages has up to `2^{s+1} − 1` diagonals).

use std::sync::Arc;

use num_complex::Complex64;

use super::linear::{DiagMatrix, LinearTransform, bsgs_rotations};
use crate::ciphertext::Ciphertext;
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;
use crate::keys::EvaluationKeys;

/// The `L = log2(slots)` butterfly stages `S_1 … S_L` of the decoding map for ring degree `n`
/// (full slots, `slots = n/2`), as diagonal matrices.
pub fn decoding_stages(n: usize) -> Result<Vec<DiagMatrix>> {
    butterfly_stages(n, None, false)
}

/// The inverse stages `S_1^{-1} … S_L^{-1}` (same order as [`decoding_stages`]):
/// `(x, y) ↦ ((x + y)/2, (x − y)/(2ω_j))`.
pub fn encoding_stages(n: usize) -> Result<Vec<DiagMatrix>> {
    butterfly_stages(n, None, true)
}

/// The first `count` (default all) butterfly stages, or their inverses. Stage `t` only
/// depends on its length `2^t` (its twiddles are `4·2^t`-th roots of unity), never on `n`:
/// the first `log2(s)` stages are the decoding map of `s` slots (a ring of degree `2s`),
/// repeated on every aligned block of `s` slots.
fn butterfly_stages(n: usize, count: Option<usize>, inverse: bool) -> Result<Vec<DiagMatrix>> {
    if n < 4 || !n.is_power_of_two() {
        return Err(CkksError::InvalidParams {
            reason: format!("ring degree {n} is not a power of two ≥ 4"),
        });
    }
    let m = n / 2;
    let two_n = 2 * n;
    let count = count.unwrap_or(usize::MAX);
    // 5^j mod 2N for the first m/2 exponents (the largest stage uses j < m/2).
    let mut rot_group = Vec::with_capacity(m);
    let mut g = 1usize;
    for _ in 0..m {
        rot_group.push(g);
        g = (g * 5) % two_n;
    }
    let mut stages = Vec::new();
    let mut len = 2;
    while len <= m && stages.len() < count {
        let half = len / 2;
        let lenq = 4 * len;
        let mut s = DiagMatrix::zero(m)?;
        for start in (0..m).step_by(len) {
            for (j, &r) in rot_group.iter().enumerate().take(half) {
                let e = (r % lenq) * (two_n / lenq);
                let w = Complex64::from_polar(1.0, std::f64::consts::PI * e as f64 / n as f64);
                let (u, v) = (start + j, start + j + half);
                if inverse {
                    let winv = w.conj() * 0.5;
                    s.add_entry(u, u, Complex64::new(0.5, 0.0));
                    s.add_entry(u, v, Complex64::new(0.5, 0.0));
                    s.add_entry(v, u, winv);
                    s.add_entry(v, v, -winv);
                } else {
                    s.add_entry(u, u, Complex64::new(1.0, 0.0));
                    s.add_entry(u, v, w);
                    s.add_entry(v, u, Complex64::new(1.0, 0.0));
                    s.add_entry(v, v, -w);
                }
            }
        }
        stages.push(s);
        len <<= 1;
    }
    Ok(stages)
}

/// Which slots a transform serves (the sparse-slot bootstrap, [`super::spec`]): the first
/// `slots` (a power of two, `2..=N/2`). The transform is the `slots`-slot one, repeated on
/// every aligned block of `slots` slots (the first `log2(slots)` butterfly stages only: fewer
/// diagonals, fewer rotations); `zero_rest` also zeroes every output slot `≥ slots` (the 0/1
/// mask folded into the last group's diagonals: same rotations, no extra level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotWindow {
    pub slots: usize,
    pub zero_rest: bool,
}

impl SlotWindow {
    /// All `n/2` slots of a ring of degree `n` (no mask).
    pub fn full(n: usize) -> Self {
        Self {
            slots: n / 2,
            zero_rest: false,
        }
    }

    fn check(&self, n: usize) -> Result<usize> {
        if !(self.slots >= 2 && self.slots <= n / 2 && self.slots.is_power_of_two()) {
            return Err(CkksError::InvalidParams {
                reason: format!(
                    "{} slots is not a power of two in 2..={} (ring degree {n})",
                    self.slots,
                    n / 2
                ),
            });
        }
        Ok(self.slots.trailing_zeros() as usize)
    }
}

/// How many level groups the `slots`-slot transform uses when `levels` levels are budgeted
/// for it on a ring with `total` slots: `levels`, or the transform's stage count
/// `log2(slots)` when that is smaller (a sparse transform may have fewer stages than the
/// full one's level budget). The levels left over are dropped before the transform (free),
/// so the bootstrap keeps the full variant's level accounting.
///
/// Merging a sparse transform's stages into fewer, larger groups than the budget allows
/// (to skip levels' fixed costs) was measured slower and less precise at N = 2^14
/// (1024 slots in 2 groups of 5 stages instead of 3: 1.50 s vs 1.36 s, 26.1 vs 26.5 bits).
pub fn dft_groups(total: usize, slots: usize, levels: usize) -> usize {
    if slots >= total {
        return levels;
    }
    levels.min(slots.trailing_zeros() as usize)
}

/// Splits `0..count` into `groups` consecutive ranges whose sizes differ by at most one.
fn split(count: usize, groups: usize) -> Vec<std::ops::Range<usize>> {
    let base = count / groups;
    let extra = count % groups;
    let mut out = Vec::with_capacity(groups);
    let mut lo = 0;
    for g in 0..groups {
        let size = base + usize::from(g < extra);
        out.push(lo..lo + size);
        lo += size;
    }
    out
}

/// Which direction a [`HomomorphicDft`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DftKind {
    /// Slots `z = V·w` → slots `R·w` (the folded coefficients, bit-reversed).
    CoeffToSlots,
    /// Slots `R·w` → slots `V·w`.
    SlotToCoeff,
}

/// The level-collapsed plain matrices of one transform, in application order, with `factor`
/// (e.g. EvalMod's input normalization) spread evenly over them.
pub fn collapsed_matrices(
    n: usize,
    kind: DftKind,
    levels: usize,
    factor: Complex64,
) -> Result<Vec<DiagMatrix>> {
    collapsed_matrices_for(n, kind, levels, factor, SlotWindow::full(n))
}

/// [`collapsed_matrices`] for the slots of `window` (`log2(window.slots)` butterfly stages
/// grouped into `levels` matrices; the mask, if any, folded into the last one).
pub fn collapsed_matrices_for(
    n: usize,
    kind: DftKind,
    levels: usize,
    factor: Complex64,
    window: SlotWindow,
) -> Result<Vec<DiagMatrix>> {
    let count = window.check(n)?;
    let stages = match kind {
        DftKind::SlotToCoeff => butterfly_stages(n, Some(count), false)?,
        // CoeffToSlots applies S_L^{-1} first.
        DftKind::CoeffToSlots => {
            let mut s = butterfly_stages(n, Some(count), true)?;
            s.reverse();
            s
        }
    };
    if levels == 0 || levels > stages.len() {
        return Err(CkksError::InvalidParams {
            reason: format!(
                "a transform of {} butterfly stages cannot use {levels} levels",
                stages.len()
            ),
        });
    }
    let mut ranges = split(stages.len(), levels);
    if kind == DftKind::CoeffToSlots && window.slots < n / 2 {
        // Sparse: CoeffToSlots' groups are the inverses of SlotToCoeff's (sizes mirrored),
        // so that with as many levels both use the same offsets and share their rotation
        // keys. (The full transforms keep their grouping: stored key manifests rely on it.)
        let mut lo = 0;
        ranges = ranges
            .iter()
            .rev()
            .map(|r| {
                let g = lo..lo + r.len();
                lo = g.end;
                g
            })
            .collect();
    }
    let mut out = Vec::with_capacity(levels);
    for r in ranges {
        // stages[r] applied in order: product = stages[last] ⋯ stages[first]
        let mut prod = stages[r.start].clone();
        for s in &stages[r.start + 1..r.end] {
            prod = s.compose(&prod)?;
        }
        out.push(prod);
    }
    // Spread the factor evenly (a k-th root per group): a tiny factor folded into one group
    // would be encoded with few significant bits at the plaintext scale.
    let root = Complex64::from_polar(
        factor.norm().powf(1.0 / levels as f64),
        factor.arg() / levels as f64,
    );
    for m in &mut out {
        m.scale(root);
    }
    if window.zero_rest
        && let Some(last) = out.last_mut()
    {
        last.keep_rows(window.slots);
    }
    Ok(out)
}

/// The rotations [`HomomorphicDft::new`] with these arguments would use, each with the level
/// of the transform that uses it (`start_level − group`), computed without encoding: a key
/// for step `s` is needed up to the highest level listed for `s`.
pub fn dft_rotation_levels(
    n: usize,
    kind: DftKind,
    levels: usize,
    start_level: usize,
) -> Result<Vec<(i64, usize)>> {
    dft_rotation_levels_for(n, kind, levels, start_level, SlotWindow::full(n))
}

/// [`dft_rotation_levels`] of [`HomomorphicDft::for_window`] (same matrices, no encoding).
pub fn dft_rotation_levels_for(
    n: usize,
    kind: DftKind,
    levels: usize,
    start_level: usize,
    window: SlotWindow,
) -> Result<Vec<(i64, usize)>> {
    if start_level < levels {
        return Err(CkksError::LevelOutOfRange {
            level: start_level,
            max: levels,
        });
    }
    let mats = collapsed_matrices_for(n, kind, levels, Complex64::new(1.0, 0.0), window)?;
    Ok(mats
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            bsgs_rotations(m, None)
                .into_iter()
                .map(move |s| (s, start_level - i))
        })
        .collect())
}

/// CoeffToSlots or SlotToCoeff encoded for homomorphic use: `levels` linear transforms at
/// consecutive levels `start_level, start_level − 1, …`, each consuming one level.
#[derive(Debug, Clone)]
pub struct HomomorphicDft {
    kind: DftKind,
    transforms: Vec<LinearTransform>,
}

impl HomomorphicDft {
    /// Encodes the transform for an input at `start_level` (≥ `levels`); the scale is kept.
    pub fn new(
        ctx: &Arc<Context>,
        kind: DftKind,
        levels: usize,
        start_level: usize,
        factor: Complex64,
    ) -> Result<Self> {
        Self::with_scale_ratio(ctx, kind, levels, start_level, factor, 1.0)
    }

    /// [`Self::new`] multiplying the ciphertext's scale by `scale_ratio` over the transform
    /// (a `levels`-th root per level), e.g. from EvalMod's large scale down to Δ.
    pub fn with_scale_ratio(
        ctx: &Arc<Context>,
        kind: DftKind,
        levels: usize,
        start_level: usize,
        factor: Complex64,
        scale_ratio: f64,
    ) -> Result<Self> {
        Self::for_window(
            ctx,
            kind,
            levels,
            start_level,
            (factor, scale_ratio),
            SlotWindow::full(ctx.n()),
        )
    }

    /// [`Self::with_scale_ratio`] (`(factor, scale_ratio)`) for the slots of `window`.
    pub fn for_window(
        ctx: &Arc<Context>,
        kind: DftKind,
        levels: usize,
        start_level: usize,
        (factor, scale_ratio): (Complex64, f64),
        window: SlotWindow,
    ) -> Result<Self> {
        if start_level < levels || start_level > ctx.max_level() {
            return Err(CkksError::LevelOutOfRange {
                level: start_level,
                max: ctx.max_level(),
            });
        }
        let mats = collapsed_matrices_for(ctx.n(), kind, levels, factor, window)?;
        let per_level = scale_ratio.powf(1.0 / levels as f64);
        let transforms = mats
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if scale_ratio == 1.0 {
                    LinearTransform::encode(ctx, m, start_level - i, None)
                } else {
                    LinearTransform::encode_scaled(ctx, m, start_level - i, None, per_level)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { kind, transforms })
    }

    pub fn kind(&self) -> DftKind {
        self.kind
    }

    /// Levels consumed.
    pub fn depth(&self) -> usize {
        self.transforms.len()
    }

    /// Bytes of the encoded diagonals held in memory.
    pub fn byte_size(&self) -> usize {
        self.transforms.iter().map(LinearTransform::byte_size).sum()
    }

    /// Every rotation step needed, ascending, without 0.
    pub fn rotations(&self) -> Vec<i64> {
        let mut r: Vec<i64> = self
            .transforms
            .iter()
            .flat_map(LinearTransform::rotations)
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    }

    /// [`Self::apply`] through [`LinearTransform::apply_with_keys`] when `keys` (the keys
    /// `ev` holds) are given: the baby rotations and giant sums stay in the extended basis.
    pub fn apply_keys(
        &self,
        ev: &Evaluator<'_>,
        keys: Option<&EvaluationKeys>,
        ct: &Ciphertext,
    ) -> Result<Ciphertext> {
        let Some(keys) = keys else {
            return self.apply(ev, ct);
        };
        let mut cur = ct.clone();
        for t in &self.transforms {
            cur = t.apply_with_keys(ev.context(), keys, &cur)?;
        }
        Ok(cur)
    }

    /// [`Self::apply_keys`] with `between` applied to the ciphertext before the last level
    /// group (the sparse bootstrap's trace: it commutes with every group but the masked
    /// last one, and costs least at the lowest level it may run at).
    pub fn apply_keys_with(
        &self,
        ev: &Evaluator<'_>,
        keys: Option<&EvaluationKeys>,
        ct: &Ciphertext,
        between: impl FnOnce(Ciphertext) -> Result<Ciphertext>,
    ) -> Result<Ciphertext> {
        let Some((last, head)) = self.transforms.split_last() else {
            return between(ct.clone());
        };
        let mut cur = ct.clone();
        for t in head {
            cur = match keys {
                Some(k) => t.apply_with_keys(ev.context(), k, &cur)?,
                None => t.apply(ev, &cur)?,
            };
        }
        // `between` runs at the last group's level (the input may be above it).
        if cur.level() > last.level() {
            cur = ev.drop_to_level(&cur, last.level())?;
        }
        let cur = between(cur)?;
        match keys {
            Some(k) => last.apply_with_keys(ev.context(), k, &cur),
            None => last.apply(ev, &cur),
        }
    }

    /// Applies the transform (the input may be above the start level; it is dropped to it).
    pub fn apply(&self, ev: &Evaluator<'_>, ct: &Ciphertext) -> Result<Ciphertext> {
        let mut cur = ct.clone();
        for t in &self.transforms {
            cur = t.apply(ev, &cur)?;
        }
        Ok(cur)
    }
}
