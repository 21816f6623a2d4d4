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
//!   the rotations without encoding (for key manifests).
//! * [`evalmod`] + [`polyeval`]: Chebyshev interpolation of `cos(2π(y − 1/4)/2^r)` on
//!   `[−K, K]`, evaluated by baby-step/giant-step (Paterson–Stockmeyer in the Chebyshev
//!   basis, `≈ 2√d` products, depth `⌈log2(d + 1)⌉`), then `r` double angles → `sin(2πy)`.
//!   Scales are exact throughout; [`EvalModPoly::evaluate_to_scale`] solves them backwards so
//!   the result lands on any requested scale at no extra level. **Depth 6 + 3** for d = 40.
//! * [`pipeline`]: [`mod_raise`], [`Bootstrapper`] (CtS-first), [`RealBootstrapper`]
//!   (StC-first: StC on the input's levels → lift the message to `q_0/2^14` by an exact
//!   integer product → encapsulated ModRaise → CtS → one EvalMod, output at exactly the target
//!   scale).
//! * [`encapsulation`]: [`SmallSwitchingKey`] (dense → sparse over `q_0·p_0`), the sparse →
//!   dense hybrid key, the failure-probability argument.
//! * [`spec`]: [`BootstrapSpec`], [`BootstrapCircuit`], [`bootstrappable_params`].
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
//! # Known limits
//!
//! * Full slots only (no sparse-slot variant); no arcsine correction (the q_0/Δ = 2^14
//!   lift makes the model error 2^-25.3, below the noise at N = 2^16).
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
    DftKind, HomomorphicDft, collapsed_matrices, decoding_stages, dft_rotation_levels,
    encoding_stages,
};
pub use encapsulation::{EncapsulationKeys, SmallSwitchingKey, switch_key};
pub use evalmod::{ChebyshevSeries, EvalModPoly};
pub use linear::{DiagMatrix, LinearTransform, bsgs_rotations};
pub use pipeline::{BootstrapConfig, Bootstrapper, RealBootstrapper, mod_raise, mul_by_i};
pub use spec::{BootstrapCircuit, BootstrapSpec, BootstrapVariant, bootstrappable_params};
