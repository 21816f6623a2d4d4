//! The files the owner and the server exchange, each bound to one plan.
//!
//! Every file reuses `henn-ckks`'s envelope (magic, format version, type tag, parameter hash,
//! length, BLAKE3 checksum) and starts its payload with the plan's content hash, so a key bundle
//! made for another plan, or for other parameters, is refused before anything is used.
//!
//! | file | tag | holds | who may read it |
//! |---|---|---|---|
//! | secret key | 32 | secret key + public key | the owner only (created with mode 0600) |
//! | evaluation keys | 33 | relinearization + Galois keys of the manifest | the server |
//! | public key | 36 | public key | anyone who encrypts |
//! | ciphertext bundle | 34 (header) + 35 (records) | named ciphertexts per step | both |
//!
//! A ciphertext bundle is a header envelope (plan hash, kind, record count) followed by one
//! envelope per ciphertext, so it is written and read as a stream: a large training set never has
//! to sit in memory at once, and a truncated or bit-flipped record is found where it is.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use henn_ckks::serial::{
    self, CHECKSUM_LEN, HEADER_LEN, Reader, Writer, open_envelope, seal_envelope,
};
use henn_ckks::{Ciphertext, Context, EvaluationKeys, PublicKey, SecretKey};

const TAG_SECRET: u16 = 32;
const TAG_EVAL_KEYS: u16 = 33;
const TAG_BUNDLE: u16 = 34;
const TAG_RECORD: u16 = 35;
const TAG_PUBLIC: u16 = 36;

/// What a file error names: the file and the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    #[error("{path}")] // the reason is the source: `{:#}` prints "path: reason"
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}")] // the reason is the source: `{:#}` prints "path: reason"
    Format {
        path: PathBuf,
        source: henn_ckks::CkksError,
    },
    #[error("{path}: made for another plan (plan hash {found}, expected {expected})")]
    WrongPlan {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{path}: holds secret-key material; the server role never accepts it")]
    SecretKeyMaterial { path: PathBuf },
    #[error("{path}: is a {found}, expected a {expected}")]
    WrongKind {
        path: PathBuf,
        found: &'static str,
        expected: &'static str,
    },
    #[error(
        "{path}: truncated: the bundle promises {expected} ciphertexts, the file holds {found}"
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
}

fn kind_name(tag: u16) -> &'static str {
    match tag {
        TAG_SECRET => "secret-key file",
        TAG_EVAL_KEYS => "evaluation-key file",
        TAG_BUNDLE => "ciphertext bundle",
        TAG_PUBLIC => "public-key file",
        TAG_RECORD => "ciphertext record",
        _ => "file of unknown type",
    }
}

fn hex(h: &[u8; 32]) -> String {
    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The type tag of a henn file, read from its header without trusting anything else.
pub fn peek_tag(path: &Path) -> Result<u16, FileError> {
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path).map_err(|source| FileError::Io {
        path: path.into(),
        source,
    })?;
    f.read_exact(&mut head).map_err(|source| FileError::Io {
        path: path.into(),
        source,
    })?;
    Ok(u16::from_le_bytes([head[6], head[7]]))
}

fn read_all(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let io = |source| FileError::Io {
        path: path.into(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    f.take(limit + (HEADER_LEN + CHECKSUM_LEN) as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

fn nested<T: serial::Serializable>(
    ctx: &Arc<Context>,
    r: &mut Reader<'_>,
    path: &Path,
) -> Result<T, FileError> {
    let len = r.u64().map_err(|source| FileError::Format {
        path: path.into(),
        source,
    })?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let bytes = r.take(len).map_err(|source| FileError::Format {
        path: path.into(),
        source,
    })?;
    serial::from_bytes(ctx, bytes).map_err(|source| FileError::Format {
        path: path.into(),
        source,
    })
}

fn put_nested<T: serial::Serializable>(ctx: &Context, w: &mut Writer, obj: &T) {
    let bytes = serial::to_bytes(ctx, obj);
    w.u64(bytes.len() as u64);
    w.bytes(&bytes);
}

/// Open an envelope of `tag` bound to `ctx` and `plan_hash`; returns the payload after the hash.
fn open_bound<'a>(
    bytes: &'a [u8],
    tag: u16,
    ctx: &Context,
    plan_hash: &[u8; 32],
    limit: u64,
    path: &Path,
) -> Result<Reader<'a>, FileError> {
    if bytes.len() >= 8 {
        let found = u16::from_le_bytes([bytes[6], bytes[7]]);
        if found != tag && &bytes[..4] == b"HENN" {
            return Err(FileError::WrongKind {
                path: path.into(),
                found: kind_name(found),
                expected: kind_name(tag),
            });
        }
    }
    let payload =
        open_envelope(bytes, tag, Some(ctx.hash()), limit).map_err(|source| FileError::Format {
            path: path.into(),
            source,
        })?;
    let mut r = Reader::new(payload);
    let found = r.array32().map_err(|source| FileError::Format {
        path: path.into(),
        source,
    })?;
    if &found != plan_hash {
        return Err(FileError::WrongPlan {
            path: path.into(),
            found: hex(&found),
            expected: hex(plan_hash),
        });
    }
    Ok(r)
}

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

pub fn save_public_key(
    ctx: &Context,
    plan_hash: &[u8; 32],
    pk: &PublicKey,
    path: &Path,
) -> Result<(), FileError> {
    let mut w = Writer::default();
    w.bytes(plan_hash);
    put_nested(ctx, &mut w, pk);
    let bytes = seal_envelope(TAG_PUBLIC, ctx.hash(), &w.buf);
    henn_plan::io::write_atomic(path, &bytes).map_err(|source| FileError::Io {
        path: path.into(),
        source,
    })
}

pub fn load_public_key(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    path: &Path,
) -> Result<PublicKey, FileError> {
    let bytes = read_all(path, 1 << 30)?;
    let mut r = open_bound(&bytes, TAG_PUBLIC, ctx, plan_hash, 1 << 30, path)?;
    nested(ctx, &mut r, path)
}

pub fn save_eval_keys(
    ctx: &Context,
    plan_hash: &[u8; 32],
    keys: &EvaluationKeys,
    path: &Path,
) -> Result<u64, FileError> {
    let mut w = Writer::default();
    w.bytes(plan_hash);
    put_nested(ctx, &mut w, keys);
    let bytes = seal_envelope(TAG_EVAL_KEYS, ctx.hash(), &w.buf);
    henn_plan::io::write_atomic(path, &bytes).map_err(|source| FileError::Io {
        path: path.into(),
        source,
    })?;
    Ok(bytes.len() as u64)
}

/// Load evaluation keys for the server. A secret-key file is refused by its header, before its
/// contents are read.
pub fn load_eval_keys(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    path: &Path,
) -> Result<EvaluationKeys, FileError> {
    if peek_tag(path)? == TAG_SECRET {
        return Err(FileError::SecretKeyMaterial { path: path.into() });
    }
    let limit = serial::max_payload(ctx, serial::TypeTag::EvaluationKeys).saturating_add(1 << 20);
    let bytes = read_all(path, limit)?;
    let mut r = open_bound(&bytes, TAG_EVAL_KEYS, ctx, plan_hash, limit, path)?;
    nested(ctx, &mut r, path)
}

/// What a ciphertext bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// The owner's upload: training data per step and the initial state.
    TrainingData,
    /// The server's result: the trained state.
    TrainedState,
}

/// Streams named ciphertexts into a bundle; the file appears (atomically) on [`BundleWriter::finish`].
pub struct BundleWriter {
    ctx: Arc<Context>,
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<std::fs::File>,
    count: u64,
    plan_hash: [u8; 32],
    kind: BundleKind,
}

impl std::fmt::Debug for BundleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("path", &self.path)
            .field("count", &self.count)
            .finish()
    }
}

impl BundleWriter {
    /// Start a bundle of `count` ciphertexts (the header is written first, so the count is known).
    pub fn create(
        ctx: &Arc<Context>,
        plan_hash: &[u8; 32],
        kind: BundleKind,
        count: u64,
        path: &Path,
    ) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.into(),
            source,
        };
        let tmp = henn_data::temp_path_for(path);
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = Writer::default();
        w.bytes(plan_hash);
        w.u8(match kind {
            BundleKind::TrainingData => 1,
            BundleKind::TrainedState => 2,
        });
        w.u64(count);
        let mut out = BufWriter::new(file);
        out.write_all(&seal_envelope(TAG_BUNDLE, ctx.hash(), &w.buf))
            .map_err(io)?;
        Ok(BundleWriter {
            ctx: ctx.clone(),
            path: path.into(),
            tmp,
            out,
            count: 0,
            plan_hash: *plan_hash,
            kind,
        })
    }

    /// Append the ciphertext `name` of step `step`.
    pub fn push(&mut self, step: u64, name: &str, ct: &Ciphertext) -> Result<(), FileError> {
        let mut w = Writer::default();
        w.bytes(&self.plan_hash);
        w.u64(step);
        w.u64(name.len() as u64);
        w.bytes(name.as_bytes());
        put_nested(&self.ctx, &mut w, ct);
        let bytes = seal_envelope(TAG_RECORD, self.ctx.hash(), &w.buf);
        self.out.write_all(&bytes).map_err(|source| FileError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.count += 1;
        Ok(())
    }

    /// Flush, sync and move the bundle into place.
    pub fn finish(self) -> Result<(), FileError> {
        let io = |source| FileError::Io {
            path: self.path.clone(),
            source,
        };
        let _ = self.kind;
        let file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&self.tmp, &self.path).map_err(io)
    }
}

/// Reads a bundle record by record.
pub struct BundleReader {
    ctx: Arc<Context>,
    path: PathBuf,
    input: BufReader<std::fs::File>,
    remaining: u64,
    total: u64,
    plan_hash: [u8; 32],
    pub kind: BundleKind,
}

impl std::fmt::Debug for BundleReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleReader")
            .field("path", &self.path)
            .field("remaining", &self.remaining)
            .finish()
    }
}

fn read_envelope(
    input: &mut impl Read,
    limit: u64,
    path: &Path,
) -> Result<Option<Vec<u8>>, FileError> {
    let mut head = vec![0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = input
            .read(&mut head[got..])
            .map_err(|source| FileError::Io {
                path: path.into(),
                source,
            })?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_LEN {
        return Err(FileError::Format {
            path: path.into(),
            source: henn_ckks::CkksError::Truncated {
                offset: 0,
                needed: HEADER_LEN,
                available: got,
            },
        });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&head[40..48]);
    let declared = u64::from_le_bytes(len);
    if declared > limit {
        return Err(FileError::Format {
            path: path.into(),
            source: henn_ckks::CkksError::TooLarge { declared, limit },
        });
    }
    let mut rest = vec![0u8; declared as usize + CHECKSUM_LEN];
    let mut filled = 0;
    while filled < rest.len() {
        let n = input
            .read(&mut rest[filled..])
            .map_err(|source| FileError::Io {
                path: path.into(),
                source,
            })?;
        if n == 0 {
            return Err(FileError::Format {
                path: path.into(),
                source: henn_ckks::CkksError::Truncated {
                    offset: HEADER_LEN,
                    needed: rest.len(),
                    available: filled,
                },
            });
        }
        filled += n;
    }
    head.extend_from_slice(&rest);
    Ok(Some(head))
}

impl BundleReader {
    pub fn open(ctx: &Arc<Context>, plan_hash: &[u8; 32], path: &Path) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.into(),
            source,
        };
        let mut input = BufReader::new(std::fs::File::open(path).map_err(io)?);
        let header = read_envelope(&mut input, 1024, path)?.ok_or_else(|| FileError::Format {
            path: path.into(),
            source: henn_ckks::CkksError::Truncated {
                offset: 0,
                needed: HEADER_LEN,
                available: 0,
            },
        })?;
        let mut r = open_bound(&header, TAG_BUNDLE, ctx, plan_hash, 1024, path)?;
        let fmt = |source| FileError::Format {
            path: path.into(),
            source,
        };
        let kind = match r.u8().map_err(fmt)? {
            1 => BundleKind::TrainingData,
            2 => BundleKind::TrainedState,
            x => {
                return Err(fmt(henn_ckks::CkksError::Malformed {
                    reason: format!("bundle kind {x}"),
                }));
            }
        };
        let total = r.u64().map_err(fmt)?;
        Ok(BundleReader {
            ctx: ctx.clone(),
            path: path.into(),
            input,
            remaining: total,
            total,
            plan_hash: *plan_hash,
            kind,
        })
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The next `(step, name, ciphertext)`, or `None` after the last one.
    pub fn next_record(&mut self) -> Result<Option<(u64, String, Ciphertext)>, FileError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let limit = serial::max_payload(&self.ctx, serial::TypeTag::Ciphertext) + 1024;
        let Some(bytes) = read_envelope(&mut self.input, limit, &self.path)? else {
            return Err(FileError::Truncated {
                path: self.path.clone(),
                expected: self.total,
                found: self.total - self.remaining,
            });
        };
        let mut r = open_bound(
            &bytes,
            TAG_RECORD,
            &self.ctx,
            &self.plan_hash,
            limit,
            &self.path,
        )?;
        let fmt = |source| FileError::Format {
            path: self.path.clone(),
            source,
        };
        let step = r.u64().map_err(fmt)?;
        let name_len = r.u64().map_err(fmt)?;
        if name_len > 256 {
            return Err(fmt(henn_ckks::CkksError::Malformed {
                reason: format!("name length {name_len}"),
            }));
        }
        let name_len = name_len as usize;
        let name = String::from_utf8_lossy(r.take(name_len).map_err(fmt)?).into_owned();
        let ct = nested(&self.ctx, &mut r, &self.path)?;
        self.remaining -= 1;
        Ok(Some((step, name, ct)))
    }
}
