//! The bootstrap section of a plan: how a plan that bootstraps refreshes its ciphertexts.
//!
//! A plan without it is *leveled*: each step consumes levels and the chain holds all steps. A plan
//! with it is *level-invariant*: every step starts with its inputs at [`BootstrapPlan::input_level`]
//! (fresh data from the owner, state refreshed by the step before), uses at most
//! [`BootstrapPlan::usable_levels`] levels between refreshes, and ends with its state refreshed to
//! that level again, so one instruction stream serves any number of steps.

use henn_ckks::bootstrap::BootstrapSpec;
use serde::{Deserialize, Serialize};

/// How and how often the plan bootstraps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapPlan {
    /// The backend's description of the bootstrap circuit (variant, DFT levels, EvalMod, the
    /// encapsulation secret's Hamming weight).
    pub spec: BootstrapSpec,
    /// The level every step's inputs are encrypted at and every bootstrap returns to.
    pub input_level: u32,
    /// Levels the program may use between two bootstraps: its depth budget.
    pub usable_levels: u32,
    /// Bootstrap operations per step.
    pub per_step: u32,
    /// Rotation steps (normalized into `0..slots`) of the bootstrap's linear transforms; with
    /// conjugation and the encapsulation keys, the keys the bootstrap needs beyond the program's.
    pub rotations: Vec<usize>,
    /// The precision one bootstrap is expected to keep (bits, relative to `message_bound`): the
    /// simulator's noise model and the predicted error of a run use it.
    pub precision_bits: f64,
    /// The largest magnitude a bootstrapped slot may hold (the compiler's range bound: the widest
    /// activation interval, at least 1). The circuit is tuned for it: inside it the error is
    /// `2^-precision_bits · message_bound`, outside it grows with the cube of the excess.
    #[serde(default = "one")]
    pub message_bound: f64,
    /// One entry per bootstrap of a step, in program order: what it refreshes (reports only;
    /// the loader checks there is one per bootstrap instruction).
    pub sites: Vec<BootstrapSite>,
    /// How the bootstraps were placed, beside the greedy baseline (reports only).
    pub placement: PlacementSummary,
}

/// One bootstrap of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapSite {
    /// What it refreshes: the state outputs a packed refresh carries (by name), or one in-step
    /// value described by where it is computed and its shape.
    pub refreshes: Vec<String>,
    /// Slots the refreshed values span (a packed group's span; a value's rows times the row
    /// stride, rounded up to a power of two; all slots for a value without row structure).
    pub slots: usize,
}

/// How the placement was chosen, and what the greedy baseline would have placed, both estimated
/// with the same cost model on the same chain (so they compare like for like).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementSummary {
    /// `optimal` (the search proved no placement cheaper), `bounded search` (cheaper than greedy,
    /// not proven optimal) or `greedy`.
    pub method: String,
    /// Bootstraps per step and estimated seconds per step of the chosen placement.
    pub bootstraps: u32,
    pub est_step_s: f64,
    /// The same for the greedy placement (`None`: the greedy pass found none).
    pub greedy: Option<(u32, f64)>,
}

fn one() -> f64 {
    1.0
}

impl BootstrapPlan {
    /// Standard deviation of the error one bootstrap adds to a slot, in message units.
    pub fn error_sigma(&self) -> f64 {
        self.message_bound * 2f64.powf(-self.precision_bits)
    }
}
