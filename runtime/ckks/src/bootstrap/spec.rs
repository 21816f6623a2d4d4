//! The bootstrap as the compiler and the runtime see it: a serializable [`BootstrapSpec`]
//! (what to build), [`bootstrappable_params`] (a chain it fits), the key requirements it
//! implies, and [`BootstrapCircuit`] (the encoded circuit that refreshes ciphertexts).
//!
//! # Levels and scales (the contract)
//!
//! * Input: a ciphertext at level ≥ [`BootstrapCircuit::input_level`] (StC-first: the
//!   SlotToCoeff levels, which run before ModRaise; CtS-first: 0). Levels above it are dropped.
//!   Any scale the application uses (≈ `2^scale_bits`); the scale is read from the ciphertext.
//! * Output: level [`BootstrapCircuit::output_level`] (`max_level − CtS − EvalMod` for
//!   StC-first, `− StC` more for CtS-first) at **exactly** [`BootstrapCircuit::output_scale`]
//!   (default `2^scale_bits`) for StC-first; CtS-first scales the output by
//!   `input scale / spec input scale` (≈ 1 when the input is at the spec's scale).
//! * [`BootstrapCircuit::usable_levels`] = output − input level: the rescales the application
//!   may spend between two bootstraps.
//!
//! # Sparse slots ([`BootstrapSpec::log_slots`] = `Some(k)`, `n = 2^k < N/2`; StC-first only)
//!
//! * Input: the values in slots `0..n`; **slots `n..N/2` are ignored** (zeros in the
//!   compiler's layout, but anything is fine: SlotToCoeff's last matrix zeroes them, with the
//!   input's noise there, before the circuit replicates the first `n` slots itself). Same
//!   input level as the full-slot spec (`stc_levels`), same scale rules.
//! * Output: **slots `0..n` hold the refreshed values and slots `n..N/2` are ≈ 0** (within the
//!   bootstrap's own error: EvalMod maps their exact zeros to its model error, measured
//!   ≤ 2^-21.3 at N = 2^16, ≤ 2^-25 on toy rings), at the **same output level and exact scale**
//!   as the full-slot spec with the same `cts_levels`/`stc_levels`: the zeroing is folded into
//!   CoeffToSlots' last matrix and costs no level. `raised_depth`, `output_level`,
//!   `usable_levels` are therefore those of the full-slot spec, so a sparse spec can replace
//!   a full one without moving any level.
//! * Shape: both DFTs have `k` butterfly stages instead of `log2(N/2)`, in `cts_levels` /
//!   `stc_levels` groups, or `k` when that is fewer ([`super::dft_groups`]; the levels of the
//!   budget left over are dropped before the transform, free), so the level accounting is
//!   the full variant's. The rotate-and-add by `n, 2n, …, N/4` (replication at
//!   level 0 after SlotToCoeff, trace onto the subring `Z[X^{N/2n}]` before CoeffToSlots'
//!   last group) adds `log2(N/2n)` rotation keys at level `max_level − cts_levels + 1`; all
//!   keys are in [`BootstrapSpec::rotations`] / [`BootstrapSpec::galois_key_levels`] (the
//!   masks are folded into plaintext diagonals: no rotation, no level).
//! * Periodic output ([`BootstrapSpec::sparse_output`] = [`SparseOutput::Periodic`]): slots
//!   `n..N/2` hold the refreshed block repeated with period `n` instead of zeros
//!   (CoeffToSlots keeps its last matrix unmasked; same keys, levels, scale and cost). For
//!   values packed periodically, e.g. weights replicated with period `n`: they come back whole.
//! * Serialization: `log_slots` (and the periodic output) is folded into the variant's tag on the wire (see
//!   [`BootstrapSpec`]), so specs serialized before it existed read back as `None` (all
//!   slots), in postcard plans and JSON alike.
//!
//! # Keys
//!
//! Ordinary keys: the relinearization key (EvalMod's products, at levels ≤ `max_level − CtS`)
//! and the Galois keys of [`BootstrapSpec::galois_elements`] (rotations of both DFTs and the
//! conjugation). [`BootstrapSpec::galois_key_levels`] says how high each must reach (the
//! SlotToCoeff of the StC-first variant only needs keys up to `stc_levels`: tiny keys).
//! Beyond them: the [`EncapsulationKeys`] (dense→sparse at level 0, sparse→dense), from
//! [`BootstrapSpec::gen_encapsulation_keys`], serialized by `serial` like every key
//! (tag [`crate::serial::TypeTag::EncapsulationKeys`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::dft::{DftKind, SlotWindow, dft_groups, dft_rotation_levels, dft_rotation_levels_for};
use super::encapsulation::EncapsulationKeys;
use super::evalmod::EvalModPoly;
use super::pipeline::{
    BootstrapConfig, Bootstrapper, RealBootstrapper, SparseOutput, replication_steps,
};
use crate::ciphertext::Ciphertext;
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;
use crate::keys::{
    EvaluationKeys, KeyGenerator, SecretKey, galois_element_conjugate, galois_element_for_step,
};
use crate::params::{MAX_PRIME_BITS, Params, SecurityLevel, max_log2_qp};
use crate::ring::primes::{primes_below, primes_near};

/// Which bootstrap circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootstrapVariant {
    /// SlotToCoeff first, real slots only (imaginary parts are dropped): one EvalMod, the
    /// faster and more precise choice for real data. The input keeps `stc_levels` levels.
    StcFirstReal,
    /// ModRaise first, full complex slots: two EvalMods (real and imaginary parts). The
    /// input may be at level 0.
    CtsFirstComplex,
}

/// A serializable description of one bootstrap (the compiler stores it in the plan).
///
/// Serialized through a private wire form (`wire::SpecWire`): the layout from before
/// [`Self::log_slots`] existed (plans are postcard, which has no optional fields: a
/// `#[serde(default)]` field would not make old plans readable), with the slot count folded
/// into the variant's tag for sparse specs only, so every spec serialized before reads back
/// unchanged as a full-slot spec and full-slot specs still encode to the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "wire::SpecWire", into = "wire::SpecWire")]
pub struct BootstrapSpec {
    pub variant: BootstrapVariant,
    /// Levels (level-collapsed FFT groups) of CoeffToSlots, 1..=log2(N/2).
    pub cts_levels: usize,
    /// Levels of SlotToCoeff, 1..=log2(N/2).
    pub stc_levels: usize,
    /// EvalMod interval bound `K` (ModRaise's overflow `|I| < K`).
    pub k_bound: f64,
    /// Chebyshev degree of EvalMod's scaled cosine.
    pub degree: usize,
    /// EvalMod's double-angle steps.
    pub double_angles: u32,
    /// Hamming weight of the ephemeral sparse secret of the encapsulation.
    pub hamming_weight: usize,
    /// Scale the inputs carry (CtS-first folds it into a constant; StC-first reads the
    /// ciphertext's scale and only checks this one). `None`: `2^scale_bits`.
    pub input_scale: Option<f64>,
    /// Exact scale of the outputs. `None`: `2^scale_bits`.
    pub output_scale: Option<f64>,
    /// log2 of the slots refreshed (the sparse-slot bootstrap, StC-first only): the first
    /// `2^log_slots` slots, `2 ≤ log_slots ≤ log2(N/2)` (2 slots would leave CoeffToSlots a
    /// single matrix for its small factor: ≈ 2 bits less precise). `None`: all `N/2` slots.
    /// See the module docs for the input and output contract.
    pub log_slots: Option<u32>,
    /// What a sparse spec leaves outside its slots (zeros, or the block repeated); ignored
    /// when all slots are refreshed (and then not serialized).
    pub sparse_output: SparseOutput,
}

impl BootstrapSpec {
    /// The default StC-first real bootstrap: CtS 4 levels at N ≥ 2^15 (fewer rotation keys
    /// and plaintexts than 3; memory) and 3 below, StC 3, h = 32 encapsulation with the
    /// failure-free `K = 17`, a degree-40 cosine and 3 double angles.
    pub fn default_real(log_n: u32) -> Self {
        let hamming_weight: usize = 32;
        Self {
            variant: BootstrapVariant::StcFirstReal,
            cts_levels: if log_n >= 15 { 4 } else { 3 },
            stc_levels: 3,
            k_bound: hamming_weight.div_ceil(2) as f64 + 1.0,
            degree: 40,
            double_angles: 3,
            hamming_weight,
            input_scale: None,
            output_scale: None,
            log_slots: None,
            sparse_output: SparseOutput::Zeroed,
        }
    }

    /// The same bootstrap for the first `2^log_slots` slots only (`None`: all of them). The
    /// levels are unchanged (same input and output level as the full-slot spec on the same
    /// chain), so a sparse spec can replace a full one anywhere.
    pub fn with_log_slots(mut self, log_slots: Option<u32>) -> Self {
        self.log_slots = log_slots;
        self
    }

    /// The same sparse bootstrap with this output outside its slots (see [`SparseOutput`]).
    pub fn with_sparse_output(mut self, output: SparseOutput) -> Self {
        self.sparse_output = output;
        self
    }

    /// The number of slots refreshed for ring degree `n`: `2^log_slots`, or `n/2`.
    pub fn slots_for(&self, n: usize) -> Result<usize> {
        let full = n / 2;
        match self.log_slots {
            None => Ok(full),
            Some(l) if (2..usize::BITS).contains(&l) && (1usize << l) <= full => Ok(1 << l),
            Some(l) => Err(CkksError::InvalidParams {
                reason: format!(
                    "log_slots = {l} outside 2..={} (ring degree {n})",
                    full.trailing_zeros()
                ),
            }),
        }
    }

    /// The number of slots refreshed on `ctx`'s ring.
    pub fn slots(&self, ctx: &Context) -> Result<usize> {
        self.slots_for(ctx.n())
    }

    fn evalmod(&self) -> Result<EvalModPoly> {
        EvalModPoly::new(self.k_bound, self.degree, self.double_angles)
    }

    /// Levels EvalMod consumes.
    pub fn evalmod_depth(&self) -> Result<usize> {
        Ok(self.evalmod()?.depth())
    }

    /// Levels consumed above the output: CtS + EvalMod (+ StC for CtS-first).
    pub fn raised_depth(&self) -> Result<usize> {
        let base = self.cts_levels + self.evalmod_depth()?;
        Ok(match self.variant {
            BootstrapVariant::StcFirstReal => base,
            BootstrapVariant::CtsFirstComplex => base + self.stc_levels,
        })
    }

    /// The level the input must have at least.
    pub fn input_level(&self) -> usize {
        match self.variant {
            BootstrapVariant::StcFirstReal => self.stc_levels,
            BootstrapVariant::CtsFirstComplex => 0,
        }
    }

    /// The level of every output for parameters with `max_level` levels.
    pub fn output_level(&self, max_level: usize) -> Result<usize> {
        let d = self.raised_depth()?;
        max_level
            .checked_sub(d)
            .filter(|&o| o >= self.input_level())
            .ok_or(CkksError::InvalidParams {
                reason: format!(
                    "a bootstrap consuming {d} levels (input level {}) does not fit {max_level} levels",
                    self.input_level()
                ),
            })
    }

    /// Levels the application can use between two bootstraps.
    pub fn usable_levels(&self, max_level: usize) -> Result<usize> {
        Ok(self.output_level(max_level)? - self.input_level())
    }

    /// Checks the shape against a ring and chain.
    pub fn validate(&self, ctx: &Context) -> Result<()> {
        let slots = self.slots(ctx)?;
        if slots < ctx.slots() && self.variant != BootstrapVariant::StcFirstReal {
            return Err(CkksError::InvalidParams {
                reason: "the sparse-slot bootstrap (log_slots) is StC-first only".into(),
            });
        }
        // Level budgets as for the full transforms (a sparse one uses at most as many groups
        // as it has stages, see `dft_groups`, and drops the rest).
        let stages = ctx.slots().trailing_zeros() as usize;
        for (name, l) in [
            ("CoeffToSlots", self.cts_levels),
            ("SlotToCoeff", self.stc_levels),
        ] {
            if l == 0 || l > stages {
                return Err(CkksError::InvalidParams {
                    reason: format!("{name} levels {l} outside 1..={stages}"),
                });
            }
        }
        if self.hamming_weight == 0 || self.hamming_weight > ctx.n() {
            return Err(CkksError::InvalidParams {
                reason: format!(
                    "Hamming weight {} outside 1..={}",
                    self.hamming_weight,
                    ctx.n()
                ),
            });
        }
        for s in [self.input_scale, self.output_scale].into_iter().flatten() {
            if !(s.is_finite() && s >= 1.0) {
                return Err(CkksError::UnencodableValue { value: s });
            }
        }
        self.output_level(ctx.max_level())?;
        Ok(())
    }

    /// Every rotation step with the level it runs at, and the conjugation's level (the
    /// circuit's exact key use: same matrices as [`BootstrapCircuit::new`] encodes).
    fn step_levels(&self, ctx: &Context) -> Result<(Vec<(i64, usize)>, usize)> {
        self.validate(ctx)?;
        let top = ctx.max_level();
        let n = ctx.n();
        let slots = self.slots(ctx)?;
        Ok(match self.variant {
            BootstrapVariant::StcFirstReal => {
                let sparse = slots < ctx.slots();
                let stc_groups = dft_groups(ctx.slots(), slots, self.stc_levels);
                let cts_groups = dft_groups(ctx.slots(), slots, self.cts_levels);
                let mut s = dft_rotation_levels_for(
                    n,
                    DftKind::SlotToCoeff,
                    stc_groups,
                    stc_groups,
                    SlotWindow {
                        slots,
                        zero_rest: sparse,
                    },
                )?;
                s.extend(dft_rotation_levels_for(
                    n,
                    DftKind::CoeffToSlots,
                    cts_groups,
                    top - (self.cts_levels - cts_groups),
                    SlotWindow {
                        slots,
                        zero_rest: sparse && self.sparse_output == SparseOutput::Zeroed,
                    },
                )?);
                // Sparse: the replication (level 0) and the trace (before CoeffToSlots' last
                // group) share their steps.
                let trace_level = top + 1 - self.cts_levels;
                s.extend(
                    replication_steps(ctx.slots(), slots)
                        .into_iter()
                        .map(|step| (step, trace_level)),
                );
                (s, top - self.cts_levels)
            }
            BootstrapVariant::CtsFirstComplex => {
                let mut s = dft_rotation_levels(n, DftKind::CoeffToSlots, self.cts_levels, top)?;
                let stc_start = top - self.cts_levels - self.evalmod_depth()?;
                s.extend(dft_rotation_levels(
                    n,
                    DftKind::SlotToCoeff,
                    self.stc_levels,
                    stc_start,
                )?);
                (s, top - self.cts_levels)
            }
        })
    }

    /// Every Galois element the bootstrap uses with the highest level a key for it must
    /// reach (ascending by element). Generate each key at that level (or higher).
    pub fn galois_key_levels(&self, ctx: &Context) -> Result<Vec<(usize, usize)>> {
        let (mut steps, conj_level) = self.step_levels(ctx)?;
        let mut need: BTreeMap<usize, usize> = BTreeMap::new();
        for (step, level) in steps.drain(..) {
            let g = galois_element_for_step(ctx, step);
            if g == 1 {
                continue;
            }
            let e = need.entry(g).or_insert(level);
            *e = (*e).max(level);
        }
        let c = need
            .entry(galois_element_conjugate(ctx))
            .or_insert(conj_level);
        *c = (*c).max(conj_level);
        Ok(need.into_iter().collect())
    }

    /// Every Galois element the bootstrap uses (rotations and the conjugation), ascending.
    pub fn galois_elements(&self, ctx: &Context) -> Result<Vec<usize>> {
        Ok(self
            .galois_key_levels(ctx)?
            .into_iter()
            .map(|(g, _)| g)
            .collect())
    }

    /// Every rotation step (left rotations; negative = right) the bootstrap uses, ascending,
    /// without the conjugation (which [`Self::galois_elements`] includes).
    pub fn rotations(&self, ctx: &Context) -> Result<Vec<i64>> {
        let mut s: Vec<i64> = self
            .step_levels(ctx)?
            .0
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        s.sort_unstable();
        s.dedup();
        Ok(s)
    }

    /// Adds to `keys` every Galois key the bootstrap needs that it does not hold yet, each at
    /// the level of [`Self::galois_key_levels`] (smaller keys than top-level ones). Keys
    /// already present are kept if they reach that level, else regenerated higher.
    pub fn gen_galois_keys(
        &self,
        kg: &mut KeyGenerator,
        sk: &SecretKey,
        keys: &mut EvaluationKeys,
    ) -> Result<()> {
        let ctx = kg.context().clone();
        for (g, level) in self.galois_key_levels(&ctx)? {
            if keys.galois_key(g).is_some_and(|k| k.key.level() >= level) {
                continue;
            }
            keys.insert_galois(kg.gen_galois_key(sk, g, Some(level))?);
        }
        Ok(())
    }

    /// The keys a bootstrap needs beyond relinearization and Galois keys: the sparse-secret
    /// encapsulation's two switching keys (an ephemeral secret of weight `hamming_weight`).
    pub fn gen_encapsulation_keys(
        &self,
        kg: &mut KeyGenerator,
        sk: &SecretKey,
    ) -> Result<EncapsulationKeys> {
        EncapsulationKeys::generate(kg, sk, self.hamming_weight)
    }
}

/// The encoded bootstrap for one parameter set (built once, applied to many ciphertexts).
#[derive(Debug, Clone)]
pub struct BootstrapCircuit {
    spec: BootstrapSpec,
    inner: Inner,
    slots: usize,
    input_level: usize,
    output_level: usize,
}

#[derive(Debug, Clone)]
enum Inner {
    Real(RealBootstrapper),
    Complex(Bootstrapper),
}

impl BootstrapCircuit {
    /// Encodes both DFTs (their plaintext diagonals) and fixes EvalMod's approximation.
    pub fn new(ctx: &Arc<Context>, spec: &BootstrapSpec) -> Result<Self> {
        spec.validate(ctx)?;
        let default = ctx.params().default_scale();
        let config = BootstrapConfig {
            cts_levels: spec.cts_levels,
            stc_levels: spec.stc_levels,
            k_bound: spec.k_bound,
            degree: spec.degree,
            double_angles: spec.double_angles,
            message_scale: spec.input_scale.unwrap_or(default),
        };
        let output_scale = spec.output_scale.unwrap_or(default);
        let inner = match spec.variant {
            BootstrapVariant::StcFirstReal => Inner::Real(
                RealBootstrapper::with_slots_output(
                    ctx,
                    config,
                    spec.slots(ctx)?,
                    spec.sparse_output,
                )?
                .with_output_scale(output_scale)?,
            ),
            BootstrapVariant::CtsFirstComplex => {
                if spec.output_scale.is_some_and(|s| s != default) {
                    return Err(CkksError::InvalidParams {
                        reason: "the CtS-first bootstrap outputs at 2^scale_bits only".into(),
                    });
                }
                Inner::Complex(Bootstrapper::new(ctx, config)?)
            }
        };
        Ok(Self {
            spec: spec.clone(),
            inner,
            slots: spec.slots(ctx)?,
            input_level: spec.input_level(),
            output_level: spec.output_level(ctx.max_level())?,
        })
    }

    pub fn spec(&self) -> &BootstrapSpec {
        &self.spec
    }

    /// The slots refreshed: the first `slots()` (all `N/2` unless the spec is sparse).
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Bytes of the encoded plaintexts (the DFT diagonals) held in memory.
    pub fn byte_size(&self) -> usize {
        match &self.inner {
            Inner::Real(b) => b.byte_size(),
            Inner::Complex(b) => b.byte_size(),
        }
    }

    /// The lowest level an input may have.
    pub fn input_level(&self) -> usize {
        self.input_level
    }

    /// The level of every output.
    pub fn output_level(&self) -> usize {
        self.output_level
    }

    /// Rescales the application can do between two bootstraps.
    pub fn usable_levels(&self) -> usize {
        self.output_level - self.input_level
    }

    /// Declares `|m| ≤ bound` for every input slot (default 1; StC-first only, the CtS-first
    /// variant ignores it). Full precision is promised for inputs within the bound: the error
    /// of the sine's model is `≤ 2^-25.3·bound` there and grows as `|m|³` beyond it.
    pub fn with_message_bound(mut self, bound: f64) -> Result<Self> {
        if let Inner::Real(b) = self.inner {
            self.inner = Inner::Real(b.with_message_bound(bound)?);
        } else if !(bound.is_finite() && bound > 0.0) {
            return Err(CkksError::UnencodableValue { value: bound });
        }
        Ok(self)
    }

    /// The output scale (exact for StC-first; CtS-first: for an input at the spec's scale).
    pub fn output_scale(&self) -> f64 {
        match &self.inner {
            Inner::Real(b) => b.output_scale(),
            Inner::Complex(b) => b.output_scale(),
        }
    }

    /// Refreshes `ct` (level ≥ [`Self::input_level`], degree 1) to [`Self::output_level`].
    /// `ev` must hold the relinearization key and the Galois keys of
    /// [`BootstrapSpec::galois_key_levels`].
    pub fn bootstrap(
        &self,
        ev: &Evaluator<'_>,
        ct: &Ciphertext,
        keys: &EncapsulationKeys,
    ) -> Result<Ciphertext> {
        self.run(ev, None, ct, keys)
    }

    /// [`Self::bootstrap`] from the evaluation keys themselves (the Evaluator is built
    /// inside): the linear transforms then keep their baby rotations and giant sums in the
    /// extended basis ([`super::LinearTransform::apply_with_keys`]): ≈ 10% faster at
    /// N = 2^16 and ≈ 0.3 bit more precise. Same keys, same output level and scale.
    pub fn bootstrap_with_keys(
        &self,
        ctx: &Arc<Context>,
        eval_keys: &EvaluationKeys,
        ct: &Ciphertext,
        keys: &EncapsulationKeys,
    ) -> Result<Ciphertext> {
        let ev = Evaluator::new(ctx, eval_keys);
        self.run(&ev, Some(eval_keys), ct, keys)
    }

    fn run(
        &self,
        ev: &Evaluator<'_>,
        eval_keys: Option<&EvaluationKeys>,
        ct: &Ciphertext,
        keys: &EncapsulationKeys,
    ) -> Result<Ciphertext> {
        if ct.level() < self.input_level {
            return Err(CkksError::LevelMismatch {
                left: ct.level(),
                right: self.input_level,
            });
        }
        if keys.hamming_weight != self.spec.hamming_weight {
            return Err(CkksError::InvalidParams {
                reason: format!(
                    "encapsulation keys of weight {} for a bootstrap of weight {}",
                    keys.hamming_weight, self.spec.hamming_weight
                ),
            });
        }
        match &self.inner {
            Inner::Real(b) => b.bootstrap_keys(ev, eval_keys, ct, Some(keys)),
            Inner::Complex(b) => {
                let low = ev.drop_to_level(ct, 0)?;
                b.bootstrap_encapsulated_keys(ev, eval_keys, &low, keys)
            }
        }
    }
}

/// A bootstrappable parameter set and the matching [`BootstrapSpec::default_real`] spec.
///
/// Chain, from `q_0` up: `q_0` of `min(scale_bits + 20, 60)` bits (the `q_0/Δ = 2^20` gap
/// keeps EvalMod's sine model error below 2^−24), then `usable_levels + stc_levels` primes
/// near `2^scale_bits` (alternating around it: everything the application rescales by,
/// including the StC-first segment it shares, stays ≈ Δ), EvalMod's primes (60 bits: it runs
/// at their scale), CoeffToSlots' (56 bits), and α special primes of 61 bits. `dnum` is the
/// smallest ≥ 3 whose log2(QP) passes `security` (3 for `InsecureUnchecked`, for toy rings).
///
/// At N = 2^16, 40-bit scale, 9 usable levels: 27 Q primes, dnum 5, log2 QP ≈ 1730 ≤ 1747.
pub fn bootstrappable_params(
    log_n: u32,
    usable_levels: usize,
    scale_bits: u32,
    security: SecurityLevel,
) -> Result<(Params, BootstrapSpec)> {
    let spec = BootstrapSpec::default_real(log_n);
    let params = bootstrappable_params_for(&spec, log_n, usable_levels, scale_bits, security)?;
    Ok((params, spec))
}

/// [`bootstrappable_params`] for any StC-first `spec`: the same chain layout with the spec's
/// own CoeffToSlots, SlotToCoeff and EvalMod level counts. A sparse spec whose transforms
/// have fewer butterfly stages can use fewer levels than the full-slot default (e.g. 16 slots:
/// 4 stages, CoeffToSlots and SlotToCoeff in 2 levels each) and so a shorter chain for the
/// same usable levels, at the price of its own parameter set.
pub fn bootstrappable_params_for(
    spec: &BootstrapSpec,
    log_n: u32,
    usable_levels: usize,
    scale_bits: u32,
    security: SecurityLevel,
) -> Result<Params> {
    if spec.variant != BootstrapVariant::StcFirstReal {
        return Err(CkksError::InvalidParams {
            reason: "bootstrappable chains are laid out for the StC-first variant".into(),
        });
    }
    if !(10..=17).contains(&log_n) {
        return Err(CkksError::InvalidParams {
            reason: format!("log_n = {log_n} is outside 10..=17"),
        });
    }
    spec.slots_for(1usize << log_n)?;
    let stages = log_n as usize - 1;
    for (name, l) in [
        ("CoeffToSlots", spec.cts_levels),
        ("SlotToCoeff", spec.stc_levels),
    ] {
        if l == 0 || l > stages {
            return Err(CkksError::InvalidParams {
                reason: format!("{name} levels {l} outside 1..={stages}"),
            });
        }
    }
    let min_bits = (log_n + 2).max(20);
    if !(min_bits..=60).contains(&scale_bits) {
        return Err(CkksError::InvalidParams {
            reason: format!("scale bits {scale_bits} outside {min_bits}..=60"),
        });
    }
    let two_n = 2u64 << log_n;
    let fail = |bits: u32, wanted: usize| CkksError::PrimeSearchFailed {
        bits,
        log_n,
        wanted,
    };
    let first_bits = (scale_bits + 20).min(60);
    let mut q: Vec<u64> = primes_below(first_bits, two_n, 1, &[]).ok_or(fail(first_bits, 1))?;
    let residual = usable_levels + spec.stc_levels;
    let max = (1u64 << (scale_bits + 1).min(MAX_PRIME_BITS)) - 1;
    q.extend(primes_near(scale_bits, two_n, residual, &q, max).ok_or(fail(scale_bits, residual))?);
    for (count, bits) in [(spec.evalmod_depth()?, 60), (spec.cts_levels, 56)] {
        let seg = primes_below(bits, two_n, count, &q).ok_or(fail(bits, count))?;
        q.extend(seg);
    }
    let mut last_err = None;
    // The special primes are 61-bit (each > 2^60): a digit count whose α of them cannot fit the
    // security bound is skipped before any prime search (the compiler scans many chains).
    let log2_q: f64 = q.iter().map(|&x| (x as f64).log2()).sum();
    let bound = max_log2_qp(log_n, security);
    for dnum in 3..=q.len() {
        let alpha = q.len().div_ceil(dnum);
        if let Some(max) = bound
            && log2_q + 60.0 * alpha as f64 > f64::from(max)
        {
            last_err = Some(CkksError::InsecureParams {
                log_n,
                log2_qp: log2_q + 60.0 * alpha as f64,
                max_log2_qp: max,
                level: security.bits().unwrap_or(0),
            });
            continue;
        }
        let p = primes_below(61, two_n, alpha, &q).ok_or(fail(61, alpha))?;
        match Params::from_primes(log_n, q.clone(), p, dnum, scale_bits, security) {
            Ok(params) => return Ok(params),
            Err(e @ CkksError::InsecureParams { .. }) => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or(CkksError::InvalidParams {
        reason: "no digit count fits".into(),
    }))
}

/// The serialized form of [`BootstrapSpec`]. Field for field the layout of the spec before
/// the slot count existed; the slot count of a sparse spec rides on two variant tags
/// appended after the old ones (postcard writes a variant as its index, JSON by name), so old
/// plans decode unchanged and full-slot specs still encode to the same bytes.
mod wire {
    use serde::{Deserialize, Serialize};

    use super::{BootstrapSpec, BootstrapVariant, SparseOutput};

    #[derive(Serialize, Deserialize)]
    #[serde(rename = "BootstrapVariant")]
    enum VariantWire {
        StcFirstReal,
        CtsFirstComplex,
        StcFirstRealSparse { log_slots: u32 },
        CtsFirstComplexSparse { log_slots: u32 },
        StcFirstRealSparsePeriodic { log_slots: u32 },
        CtsFirstComplexSparsePeriodic { log_slots: u32 },
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename = "BootstrapSpec")]
    pub(super) struct SpecWire {
        variant: VariantWire,
        cts_levels: usize,
        stc_levels: usize,
        k_bound: f64,
        degree: usize,
        double_angles: u32,
        hamming_weight: usize,
        input_scale: Option<f64>,
        output_scale: Option<f64>,
    }

    impl From<BootstrapSpec> for SpecWire {
        fn from(s: BootstrapSpec) -> Self {
            let periodic = s.sparse_output == SparseOutput::Periodic;
            let variant = match (s.variant, s.log_slots, periodic) {
                (BootstrapVariant::StcFirstReal, None, _) => VariantWire::StcFirstReal,
                (BootstrapVariant::CtsFirstComplex, None, _) => VariantWire::CtsFirstComplex,
                (BootstrapVariant::StcFirstReal, Some(log_slots), false) => {
                    VariantWire::StcFirstRealSparse { log_slots }
                }
                (BootstrapVariant::CtsFirstComplex, Some(log_slots), false) => {
                    VariantWire::CtsFirstComplexSparse { log_slots }
                }
                (BootstrapVariant::StcFirstReal, Some(log_slots), true) => {
                    VariantWire::StcFirstRealSparsePeriodic { log_slots }
                }
                (BootstrapVariant::CtsFirstComplex, Some(log_slots), true) => {
                    VariantWire::CtsFirstComplexSparsePeriodic { log_slots }
                }
            };
            Self {
                variant,
                cts_levels: s.cts_levels,
                stc_levels: s.stc_levels,
                k_bound: s.k_bound,
                degree: s.degree,
                double_angles: s.double_angles,
                hamming_weight: s.hamming_weight,
                input_scale: s.input_scale,
                output_scale: s.output_scale,
            }
        }
    }

    impl From<SpecWire> for BootstrapSpec {
        fn from(w: SpecWire) -> Self {
            let (variant, log_slots, sparse_output) = match w.variant {
                VariantWire::StcFirstReal => {
                    (BootstrapVariant::StcFirstReal, None, SparseOutput::Zeroed)
                }
                VariantWire::CtsFirstComplex => (
                    BootstrapVariant::CtsFirstComplex,
                    None,
                    SparseOutput::Zeroed,
                ),
                VariantWire::StcFirstRealSparse { log_slots } => (
                    BootstrapVariant::StcFirstReal,
                    Some(log_slots),
                    SparseOutput::Zeroed,
                ),
                VariantWire::CtsFirstComplexSparse { log_slots } => (
                    BootstrapVariant::CtsFirstComplex,
                    Some(log_slots),
                    SparseOutput::Zeroed,
                ),
                VariantWire::StcFirstRealSparsePeriodic { log_slots } => (
                    BootstrapVariant::StcFirstReal,
                    Some(log_slots),
                    SparseOutput::Periodic,
                ),
                VariantWire::CtsFirstComplexSparsePeriodic { log_slots } => (
                    BootstrapVariant::CtsFirstComplex,
                    Some(log_slots),
                    SparseOutput::Periodic,
                ),
            };
            Self {
                variant,
                cts_levels: w.cts_levels,
                stc_levels: w.stc_levels,
                k_bound: w.k_bound,
                degree: w.degree,
                double_angles: w.double_angles,
                hamming_weight: w.hamming_weight,
                input_scale: w.input_scale,
                output_scale: w.output_scale,
                log_slots,
                sparse_output,
            }
        }
    }
}
