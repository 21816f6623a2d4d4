//! ModRaise and the assembled CtS-first bootstrap for full complex slots.
//!
//! Value bookkeeping (content = value × tracked scale):
//!
//! 1. Input: level 0, scale `Δ_in`, decrypting to `Δ_in·a` (mod q_0), `a` = the message
//!    polynomial.
//! 2. **ModRaise** lifts the centered residues to the whole chain: it decrypts to
//!    `t = Δ_in·a + q_0·I` with a small integer polynomial `I` (`‖I‖_∞ ≲ 6·sqrt(h/12)` for a
//!    secret of Hamming weight h; the [`BootstrapConfig::k_bound`] must exceed it).
//!    The tracked scale is set to `Δ_e`, the first prime EvalMod drops (EvalMod runs at the
//!    scale of its own primes, so its squarings keep the scale stable).
//! 3. **CoeffToSlots** with the factor `Δ_e/(2·q_0·K)` spread over its levels: the slots hold
//!    `u/2` with `u = fold(t)/(q_0·K)` (bit-reversed). Conjugation splits it into
//!    `Re u = x + x̄` and `Im u = −i·(x − x̄)` (multiplication by `i` is the free monomial
//!    product by `X^{N/2}`).
//! 4. **EvalMod** on both halves: `sin(2π·K·u) ≈ 2π·(y − round(y))`, `y = t/q_0`.
//! 5. Recombine `Re + i·Im`, **SlotToCoeff** with the factor `q_0/(2π·Δ_in)`, its plaintexts
//!    encoded so that the scale moves from `≈ Δ_e` to `≈ Δ` (the parameters' default scale;
//!    tracked exactly, not equal to Δ when the segments' primes differ): the slots hold
//!    `V·fold(a) = z`.
//!
//! Depth: `k_CtS + EvalMod depth + k_StC`.

use std::sync::Arc;

use num_complex::Complex64;
use serde::{Deserialize, Serialize};

use super::dft::{DftKind, HomomorphicDft, SlotWindow, dft_groups};
use super::encapsulation::EncapsulationKeys;
use super::evalmod::EvalModPoly;
use crate::ciphertext::Ciphertext;
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;
use crate::keys::EvaluationKeys;
use crate::ring::poly::RnsPoly;

/// Lifts a level-0 ciphertext to the top level by centering its residues modulo `q_0`: it
/// then decrypts to `t = m + q_0·I` with a small integer polynomial `I`.
pub fn mod_raise(ctx: &Arc<Context>, ct: &Ciphertext) -> Result<Ciphertext> {
    if ct.level() != 0 {
        return Err(CkksError::LevelMismatch {
            left: ct.level(),
            right: 0,
        });
    }
    let q0 = ctx.params().q()[0];
    let half = q0 / 2;
    let polys = ct
        .polys
        .iter()
        .map(|p| {
            let mut c = p.clone();
            ctx.to_coeff(&mut c);
            let signed: Vec<i64> = c
                .limb(0)
                .iter()
                .map(|&v| {
                    if v > half {
                        v as i64 - q0 as i64
                    } else {
                        v as i64
                    }
                })
                .collect();
            let mut out = ctx.poly_from_signed(&signed, ctx.max_level(), 0);
            ctx.to_ntt(&mut out);
            out
        })
        .collect();
    Ok(Ciphertext {
        polys,
        scale: ct.scale,
    })
}

/// Multiplies every slot by `i`: the product by the monomial `X^{N/2}` (exact, no level),
/// since `ζ^{5^j·N/2} = i^{5^j} = i`.
pub fn mul_by_i(ctx: &Arc<Context>, ct: &Ciphertext) -> Ciphertext {
    let n = ctx.n();
    let half = n / 2;
    let polys = ct
        .polys
        .iter()
        .map(|p| {
            let mut c = p.clone();
            ctx.to_coeff(&mut c);
            let mut out = RnsPoly::zero(n, c.level, c.special, false);
            let idx = ctx.prime_indices(c.level, c.special);
            for ((o, src), &i) in out.limbs_mut().zip(c.limbs()).zip(&idx) {
                let m = &ctx.moduli()[i];
                for j in 0..half {
                    o[j + half] = src[j];
                    o[j] = m.neg(src[j + half]);
                }
            }
            ctx.to_ntt(&mut out);
            out
        })
        .collect();
    Ciphertext {
        polys,
        scale: ct.scale,
    }
}

/// Shape of a bootstrap.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapConfig {
    /// Levels (level-collapsed FFT groups) of CoeffToSlots.
    pub cts_levels: usize,
    /// Levels of SlotToCoeff.
    pub stc_levels: usize,
    /// Bound `K` on `‖I‖_∞ + 1` after ModRaise (set by the secret's Hamming weight).
    pub k_bound: f64,
    /// Chebyshev degree of the scaled cosine.
    pub degree: usize,
    /// Double-angle steps.
    pub double_angles: u32,
    /// The scale `Δ_in` the input ciphertexts carry (others are accepted; the output scale
    /// then differs from `Δ_b` by the ratio).
    pub message_scale: f64,
}

/// Encoded transforms and the EvalMod approximation for one parameter set.
#[derive(Debug, Clone)]
pub struct Bootstrapper {
    ctx: Arc<Context>,
    config: BootstrapConfig,
    /// Scale of the output for an input at exactly `config.message_scale`.
    output_scale: f64,
    cts: HomomorphicDft,
    stc: HomomorphicDft,
    evalmod: EvalModPoly,
}

impl Bootstrapper {
    pub fn new(ctx: &Arc<Context>, config: BootstrapConfig) -> Result<Self> {
        let evalmod = EvalModPoly::new(config.k_bound, config.degree, config.double_angles)?;
        let top = ctx.max_level();
        let depth = config.cts_levels + evalmod.depth() + config.stc_levels;
        if depth > top {
            return Err(CkksError::InvalidParams {
                reason: format!("bootstrap depth {depth} does not fit the {top} levels above q_0"),
            });
        }
        if !(config.message_scale.is_finite() && config.message_scale >= 1.0) {
            return Err(CkksError::UnencodableValue {
                value: config.message_scale,
            });
        }
        let q0 = ctx.params().q()[0] as f64;
        // EvalMod runs at the scale of its own primes so that squarings keep it stable.
        let delta_e = Self::evalmod_scale(ctx, config.cts_levels)?;
        let cts_factor = Complex64::new(delta_e / (2.0 * q0 * config.k_bound), 0.0);
        let cts = HomomorphicDft::new(
            ctx,
            DftKind::CoeffToSlots,
            config.cts_levels,
            top,
            cts_factor,
        )?;
        let stc_level = top - config.cts_levels - evalmod.depth();
        let stc_factor = Complex64::new(q0 / (std::f64::consts::TAU * config.message_scale), 0.0);
        // SlotToCoeff brings the scale from ≈ Δ_e down to the application's Δ.
        let output_scale = ctx.params().default_scale();
        let stc = HomomorphicDft::with_scale_ratio(
            ctx,
            DftKind::SlotToCoeff,
            config.stc_levels,
            stc_level,
            stc_factor,
            output_scale / delta_e,
        )?;
        Ok(Self {
            ctx: ctx.clone(),
            config,
            output_scale,
            cts,
            stc,
            evalmod,
        })
    }

    /// The first prime EvalMod's rescales drop (the scale it runs at).
    fn evalmod_scale(ctx: &Arc<Context>, cts_levels: usize) -> Result<f64> {
        let top = ctx.max_level();
        top.checked_sub(cts_levels)
            .and_then(|l| ctx.params().q().get(l))
            .map(|&q| q as f64)
            .ok_or(CkksError::LevelOutOfRange {
                level: cts_levels,
                max: top,
            })
    }

    /// Levels the bootstrap consumes; the output sits at `max_level − depth`.
    pub fn depth(&self) -> usize {
        self.cts.depth() + self.evalmod.depth() + self.stc.depth()
    }

    /// Rotation steps whose Galois keys the bootstrap needs (plus conjugation).
    pub fn rotations(&self) -> Vec<i64> {
        let mut r = self.cts.rotations();
        r.extend(self.stc.rotations());
        r.sort_unstable();
        r.dedup();
        r
    }

    pub fn config(&self) -> &BootstrapConfig {
        &self.config
    }

    /// Bytes of the encoded DFT plaintexts.
    pub fn byte_size(&self) -> usize {
        self.cts.byte_size() + self.stc.byte_size()
    }

    /// Output scale for an input at the configured `message_scale` (the parameters' default
    /// scale); an input at another scale `s` comes out at `output_scale·s/message_scale`.
    pub fn output_scale(&self) -> f64 {
        self.output_scale
    }

    /// Refreshes a level-0 ciphertext to level `max_level − depth` (dense secret: the
    /// configured `K` must cover ModRaise's overflow for it).
    pub fn bootstrap(&self, ev: &Evaluator<'_>, ct: &Ciphertext) -> Result<Ciphertext> {
        let raised = mod_raise(&self.ctx, ct)?;
        self.finish(ev, None, raised, ct.scale)
    }

    /// [`Self::bootstrap`] with sparse-secret encapsulation: switch to the ephemeral sparse
    /// secret at level 0, ModRaise, switch back. `K` can then be
    /// [`EncapsulationKeys::failure_free_k_bound`].
    pub fn bootstrap_encapsulated(
        &self,
        ev: &Evaluator<'_>,
        ct: &Ciphertext,
        keys: &EncapsulationKeys,
    ) -> Result<Ciphertext> {
        // The level-0 check is the callee's.
        self.bootstrap_encapsulated_keys(ev, None, ct, keys)
    }

    /// [`Self::bootstrap_encapsulated`] with the evaluation keys `ev` holds passed again,
    /// for the faster linear transforms ([`HomomorphicDft::apply_keys`]).
    pub fn bootstrap_encapsulated_keys(
        &self,
        ev: &Evaluator<'_>,
        eval_keys: Option<&EvaluationKeys>,
        ct: &Ciphertext,
        keys: &EncapsulationKeys,
    ) -> Result<Ciphertext> {
        if ct.level() != 0 {
            return Err(CkksError::LevelMismatch {
                left: ct.level(),
                right: 0,
            });
        }
        let sparse = keys.switch_to_sparse(&self.ctx, ct)?;
        let raised = mod_raise(&self.ctx, &sparse)?;
        let dense = keys.switch_to_dense(&self.ctx, &raised)?;
        self.finish(ev, eval_keys, dense, ct.scale)
    }

    /// CoeffToSlots, EvalMod, SlotToCoeff on a raised ciphertext (scale of the input `in_scale`).
    fn finish(
        &self,
        ev: &Evaluator<'_>,
        eval_keys: Option<&EvaluationKeys>,
        mut raised: Ciphertext,
        in_scale: f64,
    ) -> Result<Ciphertext> {
        let ctx = &self.ctx;
        raised.scale = Self::evalmod_scale(ctx, self.config.cts_levels)?;
        let x = self.cts.apply_keys(ev, eval_keys, &raised)?;
        let xc = ev.conjugate(&x)?;
        let re = ev.add(&x, &xc)?;
        let im = ev.negate(&mul_by_i(ctx, &ev.sub(&x, &xc)?));
        let (sin_re, sin_im) = (
            self.evalmod.evaluate(ev, &re)?,
            self.evalmod.evaluate(ev, &im)?,
        );
        let combined = ev.add(&sin_re, &mul_by_i(ctx, &sin_im))?;
        let mut out = self.stc.apply_keys(ev, eval_keys, &combined)?;
        // Exact: the per-level ratios multiply to output_scale/Δ_e up to f64 rounding.
        out.scale = self.output_scale * (in_scale / self.config.message_scale);
        Ok(out)
    }
}

/// `q_0/Δ` the StC-first bootstrap lifts its input's message to before ModRaise.
pub const MESSAGE_RATIO: f64 = 16384.0;

/// The **StC-first** bootstrap for real slots (one EvalMod instead of two): SlotToCoeff runs
/// first, on the input at level `k_StC` (its "reserved" levels), so that the input polynomial's
/// coefficients *are* the slot values (bit-reversed); then ModRaise, CoeffToSlots, and a
/// single EvalMod on the real part give the slots back directly. The final `q_0/(2π·Δ_in)`
/// is folded into EvalMod's scale management (see [`EvalModPoly::evaluate_to_scale`]): the
/// output carries exactly [`Self::output_scale`] (default: the parameters' `2^scale_bits`)
/// whatever the input's scale, at no extra level. Imaginary parts of the input are discarded.
#[derive(Debug, Clone)]
pub struct RealBootstrapper {
    ctx: Arc<Context>,
    config: BootstrapConfig,
    output_scale: f64,
    /// Bound on `|m|` of the inputs; the message is lifted to `q_0/(2^14·bound)`.
    message_bound: f64,
    /// Slots refreshed (a power of two ≤ N/2).
    slots: usize,
    /// Rotate-and-add steps `slots, 2·slots, …, N/4` (empty for all slots): the period
    /// replication after SlotToCoeff and the trace after ModRaise.
    trace_steps: Vec<i64>,
    stc: HomomorphicDft,
    cts: HomomorphicDft,
    evalmod: EvalModPoly,
}

/// The rotate-and-add steps `slots, 2·slots, …, total/2` that sum the `total/slots`
/// rotations of a slot vector by multiples of `slots` (empty when `slots = total`).
pub fn replication_steps(total: usize, slots: usize) -> Vec<i64> {
    let mut steps = Vec::new();
    let mut s = slots.max(1);
    while s < total {
        steps.push(s as i64);
        s *= 2;
    }
    steps
}

/// `Σ_k rot_{k·slots}(ct)` by rotate-and-add over `steps` (no level).
fn rotate_and_add(ev: &Evaluator<'_>, ct: &Ciphertext, steps: &[i64]) -> Result<Ciphertext> {
    let mut acc = ct.clone();
    for &s in steps {
        let r = ev.rotate(&acc, s)?;
        ev.add_assign(&mut acc, &r)?;
    }
    Ok(acc)
}

/// What a sparse-slot bootstrap leaves outside the `n` slots it refreshes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SparseOutput {
    /// Zeros (up to the bootstrap's error): for values padded with zeros.
    #[default]
    Zeroed,
    /// The refreshed `n` slots repeated with period `n` over all `N/2` slots: for values that
    /// are periodic already (weights replicated with period `n`), which then come back whole.
    Periodic,
}

impl RealBootstrapper {
    /// The bootstrap of all `N/2` slots.
    pub fn new(ctx: &Arc<Context>, config: BootstrapConfig) -> Result<Self> {
        Self::with_slots(ctx, config, ctx.slots())
    }

    /// The sparse-slot bootstrap of the first `slots` slots (a power of two, `2..=N/2`;
    /// `N/2` is [`Self::new`]): the input's values in the first `slots` slots are refreshed,
    /// its other slots are ignored, and the output's other slots are ≈ 0 (see
    /// [`super::spec`] for the contract).
    ///
    /// Both DFTs are the `slots`-slot transforms (`log2(slots)` butterfly stages instead of
    /// `log2(N/2)`). Between them: after SlotToCoeff (level 0) the slots are replicated with
    /// period `slots` (rotate-and-add by `slots, 2·slots, …, N/4`), which makes the message a
    /// polynomial in `X^{N/(2·slots)}`; after ModRaise the same rotate-and-add (run before
    /// CoeffToSlots' last group, the only one it does not commute with) is the trace onto
    /// that subring: it removes ModRaise's overflow `q_0·I` outside the subring and
    /// multiplies the rest by `N/(2·slots)` (folded into CoeffToSlots' factor).
    /// SlotToCoeff's last group zeroes the slots `≥ slots` (the transforms are block-diagonal,
    /// so that also drops the input there, noise included, which the replication would sum
    /// in) and so does CoeffToSlots' (EvalMod then maps them to ≈ 0): no level is spent on
    /// masking.
    pub fn with_slots(ctx: &Arc<Context>, config: BootstrapConfig, slots: usize) -> Result<Self> {
        Self::with_slots_output(ctx, config, slots, SparseOutput::Zeroed)
    }

    /// [`Self::with_slots`] with the choice of what the output holds outside the first
    /// `slots` slots: zeros, or ([`SparseOutput::Periodic`]) the refreshed block repeated with
    /// period `slots` — CoeffToSlots without its mask (the transform is block-diagonal and the
    /// trace makes every block's input equal), for values packed periodically (replicated
    /// weights). Same keys, levels and cost either way.
    pub fn with_slots_output(
        ctx: &Arc<Context>,
        config: BootstrapConfig,
        slots: usize,
        output: SparseOutput,
    ) -> Result<Self> {
        let evalmod = EvalModPoly::new(config.k_bound, config.degree, config.double_angles)?;
        let top = ctx.max_level();
        let raised_depth = config.cts_levels + evalmod.depth();
        if raised_depth > top || config.stc_levels > top {
            return Err(CkksError::InvalidParams {
                reason: format!(
                    "CtS + EvalMod depth {raised_depth} or StC depth {} does not fit the {top} \
                     levels above q_0",
                    config.stc_levels
                ),
            });
        }
        if !(slots >= 2 && slots <= ctx.slots() && slots.is_power_of_two()) {
            return Err(CkksError::InvalidParams {
                reason: format!("{slots} slots is not a power of two in 2..={}", ctx.slots()),
            });
        }
        let sparse = slots < ctx.slots();
        // Both transforms are block-diagonal (they commute with the 0/1 mask of the first
        // block), so SlotToCoeff's mask also drops the input's noise in the other slots.
        let stc_window = SlotWindow {
            slots,
            zero_rest: sparse,
        };
        let cts_window = SlotWindow {
            slots,
            zero_rest: sparse && output == SparseOutput::Zeroed,
        };
        let q0 = ctx.params().q()[0] as f64;
        let delta_e = Bootstrapper::evalmod_scale(ctx, config.cts_levels)?;
        let one = Complex64::new(1.0, 0.0);
        // A sparse transform with fewer stages than its level budget uses one group per
        // stage; the spare levels are dropped first (the input's, and after ModRaise), so
        // the levels stay the full variant's (same output level, same EvalMod scale).
        let stc_groups = dft_groups(ctx.slots(), slots, config.stc_levels);
        let cts_groups = dft_groups(ctx.slots(), slots, config.cts_levels);
        let stc = HomomorphicDft::for_window(
            ctx,
            DftKind::SlotToCoeff,
            stc_groups,
            stc_groups,
            (one, 1.0),
            stc_window,
        )?;
        let trace_steps = replication_steps(ctx.slots(), slots);
        // Only the real part is kept (x + x̄), so the 1/2 is folded in here; so is the
        // trace's factor N/(2·slots).
        let gap = (ctx.slots() / slots) as f64;
        let cts_factor = Complex64::new(delta_e / (2.0 * q0 * config.k_bound * gap), 0.0);
        let cts = HomomorphicDft::for_window(
            ctx,
            DftKind::CoeffToSlots,
            cts_groups,
            top - (config.cts_levels - cts_groups),
            (cts_factor, 1.0),
            cts_window,
        )?;
        Ok(Self {
            ctx: ctx.clone(),
            config,
            output_scale: ctx.params().default_scale(),
            message_bound: 1.0,
            slots,
            trace_steps,
            stc,
            cts,
            evalmod,
        })
    }

    /// The slots refreshed (the first `slots`; all `N/2` for the full bootstrap).
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Sets the exact scale of every output (≥ 1; within a few bits of the EvalMod primes'
    /// size times `2π·Δ_in/q_0` keeps full precision, e.g. any scale near the inputs' own).
    pub fn with_output_scale(mut self, scale: f64) -> Result<Self> {
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(CkksError::UnencodableValue { value: scale });
        }
        self.output_scale = scale;
        Ok(self)
    }

    /// Bytes of the encoded DFT plaintexts.
    pub fn byte_size(&self) -> usize {
        self.cts.byte_size() + self.stc.byte_size()
    }

    /// The exact scale of every output.
    pub fn output_scale(&self) -> f64 {
        self.output_scale
    }

    /// Declares `|m| ≤ bound` for the input slots (default 1). The message is lifted to
    /// `q_0/(2^14·bound)` before ModRaise, so the sine's model error, `6.6·|m|³·ρ²` absolute
    /// with `ρ = Δ·lift/q_0`, stays `≤ 2^-25.3·bound` for every `|m| ≤ bound`; values beyond
    /// the bound lose precision cubically (and ModRaise breaks beyond `≈ 2^13·bound`).
    pub fn with_message_bound(mut self, bound: f64) -> Result<Self> {
        if !(bound.is_finite() && bound > 0.0) {
            return Err(CkksError::UnencodableValue { value: bound });
        }
        self.message_bound = bound;
        Ok(self)
    }

    pub fn message_bound(&self) -> f64 {
        self.message_bound
    }

    pub fn config(&self) -> &BootstrapConfig {
        &self.config
    }

    /// Levels the input must have (SlotToCoeff runs on them first).
    pub fn input_level(&self) -> usize {
        self.config.stc_levels
    }

    /// Levels consumed from the top after ModRaise; the output sits at `max_level − this`.
    pub fn raised_depth(&self) -> usize {
        self.config.cts_levels + self.evalmod.depth()
    }

    pub fn rotations(&self) -> Vec<i64> {
        let mut r = self.cts.rotations();
        r.extend(self.stc.rotations());
        r.extend(&self.trace_steps);
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Refreshes a ciphertext at level ≥ [`Self::input_level`] (higher levels are dropped),
    /// with sparse-secret encapsulation if `keys` is given.
    pub fn bootstrap(
        &self,
        ev: &Evaluator<'_>,
        ct: &Ciphertext,
        keys: Option<&EncapsulationKeys>,
    ) -> Result<Ciphertext> {
        self.bootstrap_keys(ev, None, ct, keys)
    }

    /// [`Self::bootstrap`] with the evaluation keys `ev` holds passed again, for the faster
    /// linear transforms ([`HomomorphicDft::apply_keys`]).
    pub fn bootstrap_keys(
        &self,
        ev: &Evaluator<'_>,
        eval_keys: Option<&EvaluationKeys>,
        ct: &Ciphertext,
        keys: Option<&EncapsulationKeys>,
    ) -> Result<Ciphertext> {
        let ctx = &self.ctx;
        let coeffs = self.stc.apply_keys(ev, eval_keys, ct)?;
        // Sparse: replicate with period `slots`, making the message a polynomial in
        // X^{N/(2·slots)} with the slot values as coefficients. SlotToCoeff's last matrix
        // zeroed the other slots (their input noise included: it would be summed in here).
        let coeffs = rotate_and_add(ev, &coeffs, &self.trace_steps)?;
        // Message ratio: lift the message to ≈ q_0/2^14 by an exact integer product (no
        // level). Every error added after ModRaise (CoeffToSlots' rescale and key-switch noise,
        // ≈ 2^-46 of the EvalMod scale in the slots at N = 2^16) reaches the output multiplied
        // by q_0/Δ_in, so a smaller ratio is worth bits; 2^14 keeps the sine's model error
        // (2π·ε)²/6 relative, ε ≤ 2^-14, at 2^-25.3.
        let q0 = ctx.params().q()[0] as f64;
        let lift = (q0 / (coeffs.scale * MESSAGE_RATIO * self.message_bound)).floor();
        let coeffs = if lift >= 2.0 {
            let mut c = ev.mul_int(&coeffs, lift as i64);
            c.scale = coeffs.scale * lift;
            c
        } else {
            coeffs
        };
        let in_scale = coeffs.scale;
        let raised = match keys {
            Some(k) => {
                let sparse = k.switch_to_sparse(ctx, &coeffs)?;
                k.switch_to_dense(ctx, &mod_raise(ctx, &sparse)?)?
            }
            None => mod_raise(ctx, &coeffs)?,
        };
        // Sparse: the trace onto the subring drops q_0·I outside it (×N/(2·slots), undone
        // by CoeffToSlots' factor). It commutes with CoeffToSlots' block-diagonal groups, so
        // it runs before the last (masked) one, where a rotation is cheapest.
        let mut raised = raised;
        raised.scale = Bootstrapper::evalmod_scale(ctx, self.config.cts_levels)?;
        let x = if self.trace_steps.is_empty() {
            self.cts.apply_keys(ev, eval_keys, &raised)?
        } else {
            self.cts.apply_keys_with(ev, eval_keys, &raised, |c| {
                rotate_and_add(ev, &c, &self.trace_steps)
            })?
        };
        let re = ev.add(&x, &ev.conjugate(&x)?)?;
        // EvalMod returns sin(2π·ε) ≈ 2π·Δ_in·m/q_0 at its output scale s, i.e. m at scale
        // s·2π·Δ_in/q_0: choosing s = target·q_0/(2π·Δ_in) puts m at exactly `target`.
        let em_scale = self.output_scale * q0 / (std::f64::consts::TAU * in_scale);
        let mut out = self.evalmod.evaluate_to_scale(ev, &re, em_scale)?;
        out.set_scale(self.output_scale);
        Ok(out)
    }
}
