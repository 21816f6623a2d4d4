//! henn-owner: the data owner's role. Everything here may touch the secret key; nothing the
//! server runs depends on this crate.
//!
//! * [`keys`]: key generation for exactly the plan's manifest (OS-seeded CSPRNG), streamed one
//!   evaluation key at a time;
//! * [`secret`]: the secret-key file (mode 0600, bound to the plan);
//! * [`record`]: the owner record `henn encrypt` writes beside the secret key (the feature
//!   scaling fitted on the owner's rows, which the plan must not carry) for `henn decrypt`;
//! * [`pack`]: slot vectors of data and state per the plan's data contract, and back;
//! * [`job`]: the owner's part of a training job as the plan's owner contract states it: which
//!   rows, how scaled, which batches in which order, the initial state; encrypting it into a
//!   bundle and decrypting the trained state into a weights file;
//! * [`infer`]: the owner's part of an inference job: queries encrypted per the inference plan,
//!   plaintext-mode weights encrypted under the public key, class scores decrypted.
//!
//! **Architecture invariants:** depends on runtime crates only (never on the compiler); reads the
//! model only through `Plan::owner` (the owner contract), whose rules live in `henn-contract`
//! beside the plaintext trainer's use of them.

pub mod infer;
pub mod job;
pub mod keys;
pub mod pack;
pub mod record;
pub mod secret;

pub use henn_runtime::context::{context_for, input_level, next_state_inputs};
pub use job::{OwnerError, Prepared};
pub use keys::{
    OwnerKeys, eval_key_count, eval_keys_for_secret, keygen, keygen_streaming, keygen_with_progress,
};
pub use pack::{Batch, State, pack_batch, pack_state, unpack_state};
