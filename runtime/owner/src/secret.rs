//! The owner's secret-key file: secret key + public key, mode 0600, bound to the plan. Only this
//! crate writes or reads it; the server's loaders refuse it by its tag.

use std::path::Path;
use std::sync::Arc;

use henn_ckks::serial::{Writer, seal_envelope};
use henn_ckks::{Context, PublicKey, SecretKey};
use henn_runtime::files::{FileError, TAG_SECRET, nested, open_bound, put_nested, read_all};

/// Write the owner's secret key (and public key) with owner-only permissions, atomically.
pub fn save_secret_key(
    ctx: &Context,
    plan_hash: &[u8; 32],
    sk: &SecretKey,
    pk: &PublicKey,
    path: &Path,
) -> Result<(), FileError> {
    let mut w = Writer::default();
    w.bytes(plan_hash);
    put_nested(ctx, &mut w, sk);
    put_nested(ctx, &mut w, pk);
    let bytes = seal_envelope(TAG_SECRET, ctx.hash(), &w.buf);
    henn_data::write_file_atomic(path, &bytes, true).map_err(|source| FileError::Io {
        path: path.into(),
        source,
    })
}

pub fn load_secret_key(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    path: &Path,
) -> Result<(SecretKey, PublicKey), FileError> {
    let bytes = read_all(path, 1 << 30)?;
    let mut r = open_bound(&bytes, TAG_SECRET, ctx, plan_hash, 1 << 30, path)?;
    let sk = nested(ctx, &mut r, path)?;
    let pk = nested(ctx, &mut r, path)?;
    Ok((sk, pk))
}
