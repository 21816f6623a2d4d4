//! The owner record: what `henn decrypt` needs beyond the plan, the secret key and the trained
//! state, written by `henn encrypt` beside the secret key.
//!
//! The feature scaling is fitted on the owner's training rows (`OwnerContract::scaler`), so its
//! statistics (per-feature minimum and range, or mean and deviation) are derived from private data:
//! they must not go into the plan, which the server reads. They go into this file instead, which
//! stays with the owner like the secret key (mode 0600 from its creation, bound to the plan and
//! to the key generation like every other file). `henn decrypt` reads it to write a weights file
//! that `henn evaluate` can apply to new data.
//!
//! Envelope tag 40 (`TypeTag::OwnerRecord`, format version 2); the payload is the [`Binding`]
//! (plan hash, key set) followed by a length-prefixed JSON object (at most 64 MiB), then nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use henn_ckks::Context;
use henn_ckks::serial::{TypeTag, Writer};
use henn_contract::Scaler;
use henn_data::Overwrite;
use henn_runtime::files::{
    Binding, FileError, KeySetId, end_of_payload, open_bound, prepare_single, read_all,
};
use serde::{Deserialize, Serialize};

const TAG: u16 = TypeTag::OwnerRecord as u16;
/// The largest payload a loader accepts (a scaler of a million features is ~40 MiB of JSON).
const LIMIT: u64 = 1 << 26;

/// What one `henn encrypt` did that only the owner may know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerRecord {
    /// The feature scaling the data was encrypted with (fitted on the training rows unless the
    /// plan carries fitted statistics).
    pub scaler: Scaler,
    /// Training rows the job uses.
    pub samples: usize,
    /// Steps whose batches were encrypted.
    pub steps: u64,
    /// The training data file, as it was named (for messages only).
    pub data: String,
}

impl OwnerRecord {
    /// Refuses a record whose scaler does not fit the plan's features.
    pub fn check(&self, features: usize, path: &Path) -> Result<(), FileError> {
        let (o, f) = (self.scaler.offset.len(), self.scaler.factor.len());
        if o != features || f != features {
            return Err(FileError::Content {
                path: path.into(),
                reason: format!(
                    "its scaling has {o} offsets and {f} factors; the plan has {features} features"
                ),
            });
        }
        Ok(())
    }
}

/// The default place of the owner record: beside the secret key, `sk.hkey` → `sk.owner`.
pub fn default_path(secret_key: &Path) -> PathBuf {
    secret_key.with_extension("owner")
}

/// Writes the owner record atomically, mode 0600 (never over a secret-key file).
pub fn save(
    ctx: &Context,
    binding: &Binding,
    record: &OwnerRecord,
    path: &Path,
) -> Result<u64, FileError> {
    let json = serde_json::to_vec(record).map_err(|e| FileError::Content {
        path: path.into(),
        reason: format!("cannot encode the owner record: {e}"),
    })?;
    let mut w = Writer::default();
    binding.write(&mut w);
    w.u64(json.len() as u64);
    w.bytes(&json);
    prepare_single(ctx, TAG, &w.buf, path, true, Overwrite::NotSecret)?.commit()
}

/// Reads an owner record made for `plan_hash`, with its key generation (compare it with the
/// secret key's and the state's).
pub fn load(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    path: &Path,
) -> Result<(OwnerRecord, KeySetId), FileError> {
    let bytes = read_all(path, TAG, LIMIT)?;
    let (mut r, binding) = open_bound(&bytes, TAG, ctx, plan_hash, LIMIT, path)?;
    let fmt = |source| FileError::Format {
        path: path.into(),
        source,
    };
    let len = r.u64().map_err(fmt)?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let json = r.take(len).map_err(fmt)?;
    end_of_payload(&r, path)?;
    let record: OwnerRecord = serde_json::from_slice(json).map_err(|e| FileError::Content {
        path: path.into(),
        reason: format!("not a valid owner record: {e}"),
    })?;
    Ok((record, binding.keys))
}
