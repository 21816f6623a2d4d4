//! CKKS bootstrapping (issue 7): a StC-first real bootstrap (the default) and a CtS-first
//! complex one, with sparse-secret encapsulation, behind a serializable [`BootstrapSpec`] for
//! the compiler and a [`BootstrapCircuit`] for the runtime ([`spec`] documents the contract:
//! input/output levels, exact output scale, key manifest).
//!
//! # Pipeline
//!
//! A ciphertext at level 0 encrypts `m` modulo `q_0`. *ModRaise* reads it modulo the full `Q`,
//! where it encrypts `t = m + q_0·I` with a small integer polynomial `I` (`‖I‖_∞ < K`).
//! *CoeffToSlots* moves the coefficients of `t` into the slots, *EvalMod* computes
//! `t mod q_0` slot-wise by a scaled cosine and double angles, *SlotToCoeff* moves the result
//! back. The StC-first variant decodes first (real data: one EvalMod instead of two; the
//! input keeps `stc_levels` levels). Sparse-secret encapsulation switches to an ephemeral
//! h = 32 key inside the 121-bit modulus `q_0·p_0` so that `K = 17` can never fail.
//!
//! The *sparse-slot* StC-first variant ([`BootstrapSpec::log_slots`]) refreshes only the
//! first `n = 2^k` slots (the others are ignored, and ≈ 0 on output): both DFTs are the
//! `n`-slot transforms (the first `k` butterfly stages, repeated on every block of `n`
//! slots) whose last matrices also zero the slots `≥ n`; a rotate-and-add by
//! `n, 2n, …, N/4` replicates the message after SlotToCoeff (it becomes a polynomial in
//! `X^{N/2n}`) and, after ModRaise, is the trace onto that subring (it removes the overflow
//! `q_0·I` outside it). The output is at the full variant's output level ([`spec`] has the
//! contract).
//! A transform with fewer stages than its level budget uses one group per stage
//! ([`dft_groups`]); the spare levels are dropped, not spent.
//!
//! # Pieces
//!
//! * [`linear`]: [`DiagMatrix`] and [`LinearTransform`] (BSGS diagonal method): the baby
//!   rotations share one decomposition and serve every giant group, whose plaintext products
//!   accumulate lazily in u128. [`LinearTransform::apply_with_keys`] keeps babies and giant
//!   sums in the extended basis Q·P (fewest ModDowns); [`LinearTransform::apply`] does the
//!   same through the public `Evaluator` API. Baby-step count:
//!   `stride·2^round(log2 sqrt(3·span/stride))` (FFT offsets are multiples of a stride; a
//!   giant step costs ≈ 3 baby steps). **Depth 1.**
//! * [`dft`]: the decoding map factored into `log2(N/2)` butterfly stages, grouped into `k`
//!   level-collapsed matrices ([`HomomorphicDft`], depth `k`); [`dft_rotation_levels`] lists
//!   the rotations without encoding (for key manifests). [`SlotWindow`] selects the `n`-slot
//!   transforms (stage `t` only depends on `2^t`, so the first `log2(n)` stages *are* the
//!   `n`-slot decoding map on every block) and the output mask; the `_for` functions take it.
//! * [`evalmod`] + [`polyeval`]: Chebyshev interpolation of `cos(2π(y − 1/4)/2^r)` on
//!   `[−K, K]`, evaluated by baby-step/giant-step (Paterson–Stockmeyer in the Chebyshev
//!   basis, `≈ 2√d` products, depth `⌈log2(d + 1)⌉`), then `r` double angles → `sin(2πy)`.
//!   Scales are exact throughout; [`EvalModPoly::evaluate_to_scale`] solves them backwards so
//!   the result lands on any requested scale at no extra level. **Depth 6 + 3** for d = 40.
//! * [`pipeline`]: [`mod_raise`], [`Bootstrapper`] (CtS-first), [`RealBootstrapper`]
//!   (StC-first: StC on the input's levels → lift the message to `q_0/2^14` by an exact
//!   integer product → encapsulated ModRaise → CtS → one EvalMod, output at exactly the target
//!   scale; [`RealBootstrapper::with_slots`] for the sparse variant, whose trace runs before
//!   CtS' last group: it commutes with the others, and rotations are cheaper lower down).
//! * [`encapsulation`]: [`SmallSwitchingKey`] (dense → sparse over `q_0·p_0`), the sparse →
//!   dense hybrid key, the failure-probability argument.
//! * [`spec`]: [`BootstrapSpec`], [`BootstrapCircuit`], [`bootstrappable_params`]
//!   ([`bootstrappable_params_for`]: the chain for any StC-first spec, e.g. a sparse one with
//!   fewer DFT levels).
//! * [`chain`]: [`BootChainSpec`] (the brief's B1 layout, kept for reference).
//!
//! # Measured
//!
//! N = 2^16, 2^15 real slots, 128-bit dense main key (log2 QP = 1731, dnum 4), 9 usable
//! levels of 40 bits, CtS 4 / StC 3 levels, single thread, `henn bench ops --ops bootstrap
//! --logn 16` (benches/bootstrap_vs_openfhe.sh for the side-by-side run): **6.95 s CPU** per
//! bootstrap (8.3–10.3 s wall on a busy machine), **25.6 / 21.5 bits** mean / max precision
//! over all slots, 5.4 GB keys + 2.4 GB plaintexts, 8.9 GB peak RSS. OpenFHE 1.6.1 in the
//! same job (dense, StC-first, budget 3/3, 4 levels left): 14.4 s CPU, 13.5 / 7.9 bits. Toy
//! ring (N = 2^10, Δ = 2^40): 25.3 / 27.3 bits (max = the sine's model error).
//!
//! Sparse slots: same chain (the 128-bit one above), same level budget and output level as
//! the full variant, measured in the same run (`bash benches/bootstrap_sparse.sh`: N = 2^16,
//! 2 reps + 1 warm-up, single thread; peak RSS from one process per slot count):
//!
//! | slots | CPU ms | vs full | mean / max bits | other slots | keys (Galois) | plaintexts | peak RSS |
//! |------:|-------:|--------:|----------------:|------------:|--------------:|-----------:|---------:|
//! | 2^10  | 5910   | 0.90    | 25.6 / 21.6     | ≤ 2^-21.6   | 4.23 GB (38)  | 1.05 GB    | 6.18 GB  |
//! | 2^12  | 6080   | 0.92    | 25.6 / 22.1     | ≤ 2^-21.3   | 5.09 GB (46)  | 1.48 GB    | 7.68 GB  |
//! | 2^15 (full) | 6581 | 1  | 25.6 / 21.6     |             | 5.40 GB (61)  | 2.38 GB    | 8.93 GB  |
//!
//! The gain is modest: EvalMod (≈ 40%) runs on the whole ring whatever the slot count, each
//! DFT level has fixed costs (decomposition, ModDowns, plaintext products over Q·P) that
//! fewer stages do not remove, and the trace adds `log2(N/2n)` rotations near the top
//! (≈ 9% of the sparse bootstrap at N = 2^15, 2^10 slots).
//!
//! # Known limits
//!
//! * No arcsine correction (the q_0/Δ = 2^14 lift makes the model error 2^-25.3, below the
//!   noise at N = 2^16).
//! * Sparse slots: StC-first only, `n ≥ 4`; the levels are the full variant's unless the
//!   spec asks for fewer and gets its own chain ([`bootstrappable_params_for`], e.g. 16 slots
//!   with 2 + 2 DFT levels: 2 levels fewer for the same usable levels; not benchmarked).
//!   Merging the stages into fewer, larger groups to skip levels' fixed costs was measured
//!   slower and less precise ([`dft_groups`]). A subring ephemeral secret would make the
//!   trace free of key switches, but the dense→sparse key would then be an RLWE instance of
//!   dimension `2n` modulo `q_0·p_0`: not secure for small `n`, so not done. The trace's
//!   rotations are sequential (rotate-and-add); a hoisted radix-4/8 trace might save a third
//!   of them. The compiler picks the sparse circuit from the refreshed values' layouts
//!   (`henn_passes::bootstrap::slot_need`): weights alone take [`SparseOutput::Periodic`];
//!   sample rows take [`SparseOutput::Zeroed`], and weights refreshed by it are replicated
//!   again with `log2(N/2n)` rotations (one circuit per plan, no extra keys).
//! * The Evaluator does not expose its keys, so [`BootstrapCircuit::bootstrap`] (from an
//!   `&Evaluator`) cannot keep the baby rotations in the extended basis: ≈ 10% slower at
//!   N = 2^16 (7.9 s vs 7.0 s CPU) and ≈ 0.3 bit less precise than
//!   [`BootstrapCircuit::bootstrap_with_keys`].

pub mod chain;
pub mod dft;
pub mod encapsulation;
pub mod evalmod;
pub mod linear;
pub mod pipeline;
pub mod polyeval;
pub mod spec;

pub use chain::BootChainSpec;
pub use dft::{
    DftKind, HomomorphicDft, SlotWindow, collapsed_matrices, collapsed_matrices_for,
    decoding_stages, dft_groups, dft_rotation_levels, dft_rotation_levels_for, encoding_stages,
};
pub use encapsulation::{EncapsulationKeys, SmallSwitchingKey, switch_key};
pub use evalmod::{ChebyshevSeries, EvalModPoly};
pub use linear::{DiagMatrix, LinearTransform, bsgs_rotations};
pub use pipeline::{
    BootstrapConfig, Bootstrapper, RealBootstrapper, SparseOutput, mod_raise, mul_by_i,
    replication_steps,
};
pub use spec::{
    BootstrapCircuit, BootstrapSpec, BootstrapVariant, bootstrappable_params,
    bootstrappable_params_for,
};
