//! Plan files: a versioned, checksummed binary envelope around the postcard encoding, a readable
//! JSON dump, size-limited loading, and atomic writes.
//!
//! Layout of a `.hplan` file (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `HENNPLAN` |
//! | 4 | format version |
//! | 8 | payload length |
//! | 32 | BLAKE3 of the payload (also the plan's content hash) |
//! | … | payload: the postcard encoding of [`Plan`] |

use std::io::Read;
use std::path::Path;

use crate::plan::{FORMAT_VERSION, Plan};
use crate::validate::validate_plan;

const MAGIC: &[u8; 8] = b"HENNPLAN";
const HEADER: usize = 8 + 4 + 8 + 32;
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
        "{path}: plan format version {found} is not supported (this henn reads version {supported})"
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
    #[error("{path}: the plan is invalid:\n  {}", .errors.join("\n  "))]
    Invalid { path: String, errors: Vec<String> },
    #[error("cannot encode the plan: {0}")]
    Encode(String),
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
    let (payload, hash) = encode(plan)?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&hash);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decode and validate plan bytes; `path` only names the source in errors.
pub fn from_bytes(path: &str, bytes: &[u8]) -> Result<Plan, PlanIoError> {
    let p = || path.to_owned();
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(PlanIoError::NotAPlan { path: p() });
    }
    if bytes.len() < HEADER {
        return Err(PlanIoError::Truncated {
            path: p(),
            expected: HEADER as u64,
            found: bytes.len() as u64,
        });
    }
    let word = |range: std::ops::Range<usize>| -> Vec<u8> { bytes[range].to_vec() };
    let version = u32::from_le_bytes(word(8..12).try_into().unwrap_or([0; 4]));
    if version != FORMAT_VERSION {
        return Err(PlanIoError::UnsupportedVersion {
            path: p(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u64::from_le_bytes(word(12..20).try_into().unwrap_or([0; 8]));
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != len {
        return Err(PlanIoError::Truncated {
            path: p(),
            expected: len,
            found: payload.len() as u64,
        });
    }
    if blake3::hash(payload).as_bytes() != &bytes[20..52] {
        return Err(PlanIoError::Corrupt { path: p() });
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
    file.take(MAX_PLAN_BYTES + 1)
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
