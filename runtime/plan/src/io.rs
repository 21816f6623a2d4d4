//! Plan files: the postcard encoding of [`Plan`] inside `henn-ckks`'s envelope (the one header
//! format of every henn file: magic `HENN`, format version, type tag 37 = plan, parameter hash
//! (zeros: a plan carries its parameters), payload length, BLAKE3 checksum of header and payload),
//! size-limited loading, validation on load, and atomic writes.
//!
//! The plan's *content hash* (what key and ciphertext files are bound to) is the BLAKE3 of the
//! payload.

use std::io::Read;
use std::path::Path;

use crate::plan::{FORMAT_VERSION, Plan};
use crate::validate::{PlanError, validate_plan};

use henn_ckks::CkksError;
use henn_ckks::serial::{open_envelope, seal_envelope};

/// The envelope's type tag for plans (henn-ckks owns 1–31; the runtime's files use 32–36).
pub const PLAN_TAG: u16 = henn_ckks::serial::TypeTag::Plan as u16;
const NO_PARAMS: [u8; 32] = [0; 32];
/// Plans larger than this are refused before anything is allocated for them.
pub const MAX_PLAN_BYTES: u64 = 512 << 20;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanIoError {
    #[error("{path}")] // the reason is the source: `{:#}` prints "path: reason"
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a henn plan (bad magic bytes)")]
    NotAPlan { path: String },
    #[error(
        "{path}: plan format version {found} is not supported (this henn reads version {supported}); recompile the model with this version of henn (`henn compile`)"
    )]
    UnsupportedVersion {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error("{path}: the file is {size} bytes, more than the {limit}-byte limit for plans")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error(
        "{path}: truncated: the header promises {expected} payload bytes, the file has {found}"
    )]
    Truncated {
        path: String,
        expected: u64,
        found: u64,
    },
    #[error("{path}: checksum mismatch: the plan is corrupt")]
    Corrupt { path: String },
    #[error("{path}: the payload does not decode as a plan: {reason}")]
    Malformed { path: String, reason: String },
    #[error("{path}: the plan is invalid:\n  {}", join_errors(.errors))]
    Invalid {
        path: String,
        errors: Vec<PlanError>,
    },
    #[error("cannot encode the plan: {0}")]
    Encode(String),
}

/// The validator's findings, one per line.
fn join_errors(errors: &[PlanError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// The encoded payload and its BLAKE3 hash (the plan's content hash).
pub fn encode(plan: &Plan) -> Result<(Vec<u8>, [u8; 32]), PlanIoError> {
    let payload = postcard::to_allocvec(plan).map_err(|e| PlanIoError::Encode(e.to_string()))?;
    let hash = *blake3::hash(&payload).as_bytes();
    Ok((payload, hash))
}

/// The content hash that keys and ciphertext bundles are bound to.
pub fn content_hash(plan: &Plan) -> Result<[u8; 32], PlanIoError> {
    encode(plan).map(|(_, h)| h)
}

/// The file bytes of a plan.
pub fn to_bytes(plan: &Plan) -> Result<Vec<u8>, PlanIoError> {
    let (payload, _) = encode(plan)?;
    Ok(seal_envelope(PLAN_TAG, &NO_PARAMS, &payload))
}

/// Decode and validate plan bytes; `path` only names the source in errors.
pub fn from_bytes(path: &str, bytes: &[u8]) -> Result<Plan, PlanIoError> {
    let p = || path.to_owned();
    if bytes.len() < 4 || &bytes[..4] != b"HENN" {
        return Err(PlanIoError::NotAPlan { path: p() });
    }
    let payload = open_envelope(bytes, PLAN_TAG, None, MAX_PLAN_BYTES).map_err(|e| match e {
        CkksError::BadMagic | CkksError::WrongType { .. } => PlanIoError::NotAPlan { path: p() },
        CkksError::UnsupportedVersion { found, supported } => PlanIoError::UnsupportedVersion {
            path: p(),
            found: u32::from(found),
            supported: u32::from(supported),
        },
        CkksError::Truncated {
            needed, available, ..
        } => PlanIoError::Truncated {
            path: p(),
            expected: needed as u64,
            found: available as u64,
        },
        CkksError::ChecksumMismatch => PlanIoError::Corrupt { path: p() },
        CkksError::TooLarge { declared, limit } => PlanIoError::TooLarge {
            path: p(),
            size: declared,
            limit,
        },
        other => PlanIoError::Malformed {
            path: p(),
            reason: other.to_string(),
        },
    })?;
    // The plan's own format version is its first field: read it before decoding the rest, whose
    // layout may differ in another version.
    let (version, _) =
        postcard::take_from_bytes::<u32>(payload).map_err(|e| PlanIoError::Malformed {
            path: p(),
            reason: e.to_string(),
        })?;
    if version != FORMAT_VERSION {
        return Err(PlanIoError::UnsupportedVersion {
            path: p(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let plan: Plan = postcard::from_bytes(payload).map_err(|e| PlanIoError::Malformed {
        path: p(),
        reason: e.to_string(),
    })?;
    let errors = validate_plan(&plan);
    if !errors.is_empty() {
        return Err(PlanIoError::Invalid { path: p(), errors });
    }
    Ok(plan)
}

/// Load a plan file: size-limited, version-checked, checksummed and validated.
pub fn load(path: &Path) -> Result<Plan, PlanIoError> {
    let name = path.display().to_string();
    let io = |source| PlanIoError::Io {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_PLAN_BYTES {
        return Err(PlanIoError::TooLarge {
            path: name,
            size,
            limit: MAX_PLAN_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_PLAN_BYTES + 1024)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    from_bytes(&name, &bytes)
}

/// Write a plan atomically.
pub fn save(plan: &Plan, path: &Path) -> Result<(), PlanIoError> {
    let bytes = to_bytes(plan)?;
    write_atomic(path, &bytes).map_err(|source| PlanIoError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Atomic write of any output file (re-exported so plan users need no other crate).
pub use henn_data::write_file_atomic;

/// [`write_file_atomic`] for ordinary (non-secret) files.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_file_atomic(path, bytes, false)
}
