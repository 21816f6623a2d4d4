//! The owner's secret-key file (secret key + public key, mode 0600 from its creation, bound to the
//! plan and to its key generation), and writing a whole key set so that a failure leaves the old
//! set in place. Only this crate writes or reads the secret-key file; the server's loaders refuse
//! it by its tag before reading its body.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use henn_ckks::serial::Writer;
use henn_ckks::{Context, PublicKey, SecretKey};
use henn_data::Overwrite;
use henn_plan::Plan;
use henn_runtime::files::{
    Binding, EvalKeyWriter, FileError, KeySetId, Pending, TAG_SECRET, end_of_payload, nested,
    open_bound, prepare_public_key, prepare_single, put_nested, read_all,
};

use crate::job::OwnerError;

/// A loaded secret-key file.
#[derive(Debug)]
pub struct OwnerSecret {
    pub secret: SecretKey,
    pub public: PublicKey,
    /// The key generation every file used with this key must come from.
    pub key_set: KeySetId,
    /// Where it was read from (named in key-set mismatch messages).
    pub path: PathBuf,
}

/// The secret-key file, written to a temporary file (created exclusively, mode 0600 from the
/// start, never through a symlink) and not yet renamed into place.
pub fn prepare_secret_key(
    ctx: &Context,
    binding: &Binding,
    sk: &SecretKey,
    pk: &PublicKey,
    path: &Path,
    overwrite: Overwrite,
) -> Result<Pending, FileError> {
    let mut w = Writer::default();
    binding.write(&mut w);
    put_nested(ctx, &mut w, sk);
    put_nested(ctx, &mut w, pk);
    prepare_single(ctx, TAG_SECRET, &w.buf, path, true, overwrite)
}

/// Write the owner's secret key (and public key) with owner-only permissions, atomically. An
/// existing secret-key file at `path` is replaced only with [`Overwrite::Secret`].
pub fn save_secret_key(
    ctx: &Context,
    binding: &Binding,
    sk: &SecretKey,
    pk: &PublicKey,
    path: &Path,
    overwrite: Overwrite,
) -> Result<(), FileError> {
    prepare_secret_key(ctx, binding, sk, pk, path, overwrite)?
        .commit()
        .map(|_| ())
}

pub fn load_secret_key(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    path: &Path,
) -> Result<OwnerSecret, FileError> {
    let bytes = read_all(path, TAG_SECRET, 1 << 30)?;
    let (mut r, binding) = open_bound(&bytes, TAG_SECRET, ctx, plan_hash, 1 << 30, path)?;
    let secret = nested(ctx, &mut r, path)?;
    let public = nested(ctx, &mut r, path)?;
    end_of_payload(&r, path)?;
    Ok(OwnerSecret {
        secret,
        public,
        key_set: binding.keys,
        path: path.into(),
    })
}

/// Where `henn keygen` writes a key set.
#[derive(Debug, Clone, Copy)]
pub struct KeyPaths<'a> {
    pub secret: &'a Path,
    pub eval: &'a Path,
    pub public: Option<&'a Path>,
    /// Replace an existing secret-key file (`--force`).
    pub force: bool,
}

/// Generates a fresh key set for `plan` under a new [`KeySetId`] and writes it: every file goes
/// to a temporary sibling first (evaluation keys one key at a time), and only when all are
/// complete and synced are they renamed into place, evaluation keys, then public key, then the
/// secret key. A failure before that leaves the old set untouched (and removes the temporary
/// files); a kill between two renames leaves files whose key-set identities differ, which every
/// loader refuses by name. Returns the evaluation-key file's size.
pub fn write_key_set(
    ctx: &Arc<Context>,
    plan: &Plan,
    plan_hash: &[u8; 32],
    paths: KeyPaths<'_>,
    progress: impl FnMut(usize, usize),
) -> Result<u64, OwnerError> {
    henn_data::check_secret_output(paths.secret, paths.force)?;
    let overwrite = if paths.force {
        Overwrite::Secret
    } else {
        Overwrite::NotSecret
    };
    let binding = Binding::new(plan_hash, KeySetId::random(paths.secret)?);
    let count = crate::eval_key_count(ctx, plan)? as u64;
    let mut writer = EvalKeyWriter::create(ctx, &binding, count, paths.eval)?;
    let mut failed = None;
    let generated = crate::keygen_streaming(
        ctx,
        plan,
        |key| match writer.push(&key) {
            Ok(()) => Ok(()),
            Err(e) => {
                let reason = e.to_string();
                failed = Some(e);
                Err(henn_runtime::ExecError::Backend(reason))
            }
        },
        progress,
    );
    if let Some(e) = failed {
        return Err(e.into());
    }
    let (secret, public) = generated?;
    let eval = writer.close()?;
    let public_file = match paths.public {
        Some(p) => Some(prepare_public_key(ctx, &binding, &public, p)?),
        None => None,
    };
    let secret_file = prepare_secret_key(ctx, &binding, &secret, &public, paths.secret, overwrite)?;
    let bytes = eval.commit()?;
    if let Some(p) = public_file {
        p.commit()?;
    }
    secret_file.commit()?;
    Ok(bytes)
}
