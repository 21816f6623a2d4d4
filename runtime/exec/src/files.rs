//! The files the owner and the server exchange, each bound to one plan.
//!
//! Every file reuses `henn-ckks`'s envelope (magic, format version, type tag, parameter hash,
//! length, BLAKE3 checksum) and starts its payload with the plan's content hash, so a key bundle
//! made for another plan, or for other parameters, is refused before anything is used.
//!
//! Tags come from the one registry, `henn_ckks::serial::TypeTag`.
//!
//! | file | tag | holds | who may read it |
//! |---|---|---|---|
//! | secret key | 32 | secret key + public key | the owner only (created with mode 0600; written and read by `henn-owner`) |
//! | evaluation keys | 33 (header) + 38 (records) | relinearization, Galois and named switching keys of the manifest | the server |
//! | public key | 36 | public key | anyone who encrypts |
//! | ciphertext bundle | 34 (header) + 35 (records) | named ciphertexts per step | both |
//!
//! A ciphertext bundle and an evaluation-key file are *streams*: a header envelope (plan hash,
//! kind, record count) followed by one envelope per record (ciphertext or key), each with its own
//! checksum and size limit. They are written and read one record at a time, so a large training
//! set never sits in memory at once, key generation holds one key at a time (at N = 2^17 the whole
//! key set is many GiB), and a truncated or bit-flipped record is found where it is.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use henn_ckks::serial::{
    self, CHECKSUM_LEN, HEADER_LEN, Reader, TypeTag, Writer, open_envelope, seal_envelope,
};
use henn_ckks::{Ciphertext, Context, PublicKey};

pub use crate::keys::{EvalKey, ServerKeys};

/// The owner's secret-key file: the server refuses it by this tag (written by `henn-owner`).
pub const TAG_SECRET: u16 = TypeTag::SecretKeyFile as u16;
const TAG_EVAL_KEYS: u16 = TypeTag::EvalKeyFile as u16;
const TAG_BUNDLE: u16 = TypeTag::Bundle as u16;
const TAG_RECORD: u16 = TypeTag::BundleRecord as u16;
const TAG_PUBLIC: u16 = TypeTag::PublicKeyFile as u16;
const TAG_KEY_RECORD: u16 = TypeTag::KeyRecord as u16;

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
    #[error("{path}: truncated: the file promises {expected} records, it holds {found}")]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
}

fn kind_name(tag: u16) -> &'static str {
    TypeTag::from_u16(tag).map_or("file of unknown type", TypeTag::name)
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

/// Read a whole file, at most `limit` payload bytes (more is refused when the envelope opens).
pub fn read_all(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
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

/// Read one length-prefixed object of henn-ckks from a payload.
pub fn nested<T: serial::Serializable>(
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

/// Write one length-prefixed object of henn-ckks into a payload.
pub fn put_nested<T: serial::Serializable>(ctx: &Context, w: &mut Writer, obj: &T) {
    let bytes = serial::to_bytes(ctx, obj);
    w.u64(bytes.len() as u64);
    w.bytes(&bytes);
}

/// Open an envelope of `tag` bound to `ctx` and `plan_hash`; returns the payload after the hash.
pub fn open_bound<'a>(
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

/// A file written as a stream of envelopes into a temporary file, moved into place by
/// [`StreamWriter::finish`]: a failed or killed run never leaves a half-written file behind the
/// final name. Shared by ciphertext bundles and evaluation-key files.
struct StreamWriter {
    ctx: Arc<Context>,
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<std::fs::File>,
    plan_hash: [u8; 32],
    bytes: u64,
}

impl StreamWriter {
    /// Create the temporary file and write the header envelope: plan hash, then `header`.
    fn create(
        ctx: &Arc<Context>,
        plan_hash: &[u8; 32],
        tag: u16,
        header: &[u8],
        path: &Path,
    ) -> Result<Self, FileError> {
        let tmp = henn_data::temp_path_for(path);
        let file = std::fs::File::create(&tmp).map_err(|source| FileError::Io {
            path: path.into(),
            source,
        })?;
        let mut w = StreamWriter {
            ctx: ctx.clone(),
            path: path.into(),
            tmp,
            out: BufWriter::new(file),
            plan_hash: *plan_hash,
            bytes: 0,
        };
        w.record(tag, |w| w.bytes(header))?;
        Ok(w)
    }

    /// Append one envelope of `tag` whose payload is the plan hash followed by what `fill` writes.
    fn record(&mut self, tag: u16, fill: impl FnOnce(&mut Writer)) -> Result<(), FileError> {
        let mut w = Writer::default();
        w.bytes(&self.plan_hash);
        fill(&mut w);
        let bytes = seal_envelope(tag, self.ctx.hash(), &w.buf);
        self.bytes += bytes.len() as u64;
        self.out.write_all(&bytes).map_err(|source| FileError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Flush, sync and move the file into place; returns its size in bytes.
    fn finish(self) -> Result<u64, FileError> {
        let io = |source| FileError::Io {
            path: self.path.clone(),
            source,
        };
        let file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&self.tmp, &self.path).map_err(io)?;
        Ok(self.bytes)
    }
}

/// Reads a stream written by [`StreamWriter`]: the header envelope on open, then records.
struct StreamReader {
    ctx: Arc<Context>,
    path: PathBuf,
    input: BufReader<std::fs::File>,
    plan_hash: [u8; 32],
}

impl StreamReader {
    /// Open `path`, check its header envelope (`tag`, parameters, plan) and return the header's
    /// payload after the plan hash.
    fn open(
        ctx: &Arc<Context>,
        plan_hash: &[u8; 32],
        tag: u16,
        path: &Path,
    ) -> Result<(Self, Vec<u8>), FileError> {
        let file = std::fs::File::open(path).map_err(|source| FileError::Io {
            path: path.into(),
            source,
        })?;
        let mut input = BufReader::new(file);
        let header = read_envelope(&mut input, 1024, path)?.ok_or_else(|| FileError::Format {
            path: path.into(),
            source: henn_ckks::CkksError::Truncated {
                offset: 0,
                needed: HEADER_LEN,
                available: 0,
            },
        })?;
        let mut r = open_bound(&header, tag, ctx, plan_hash, 1024, path)?;
        let rest = r.rest().to_vec();
        let reader = StreamReader {
            ctx: ctx.clone(),
            path: path.into(),
            input,
            plan_hash: *plan_hash,
        };
        Ok((reader, rest))
    }

    /// The next record of `tag` (at most `limit` payload bytes), or `None` at the end of the file.
    fn next(&mut self, tag: u16, limit: u64) -> Result<Option<Vec<u8>>, FileError> {
        let Some(bytes) = read_envelope(&mut self.input, limit, &self.path)? else {
            return Ok(None);
        };
        let mut r = open_bound(&bytes, tag, &self.ctx, &self.plan_hash, limit, &self.path)?;
        Ok(Some(r.rest().to_vec()))
    }

    fn format(&self, source: henn_ckks::CkksError) -> FileError {
        FileError::Format {
            path: self.path.clone(),
            source,
        }
    }
}

/// Writes an evaluation-key file one key at a time (the owner's `henn_owner::keygen_streaming` feeds it).
pub struct EvalKeyWriter {
    stream: StreamWriter,
    expected: u64,
    count: u64,
}

impl std::fmt::Debug for EvalKeyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalKeyWriter")
            .field("path", &self.stream.path)
            .field("count", &self.count)
            .finish()
    }
}

impl EvalKeyWriter {
    /// Start a file of `count` keys.
    pub fn create(
        ctx: &Arc<Context>,
        plan_hash: &[u8; 32],
        count: u64,
        path: &Path,
    ) -> Result<Self, FileError> {
        let mut header = Writer::default();
        header.u64(count);
        let stream = StreamWriter::create(ctx, plan_hash, TAG_EVAL_KEYS, &header.buf, path)?;
        Ok(EvalKeyWriter {
            stream,
            expected: count,
            count: 0,
        })
    }

    /// Append one key.
    pub fn push(&mut self, key: &EvalKey) -> Result<(), FileError> {
        let ctx = self.stream.ctx.clone();
        self.stream.record(TAG_KEY_RECORD, |w| match key {
            EvalKey::Relin(k) => {
                w.u8(1);
                put_nested(&ctx, w, k);
            }
            EvalKey::Galois(k) => {
                w.u8(2);
                put_nested(&ctx, w, k);
            }
            EvalKey::Named(name, k) => {
                w.u8(3);
                w.u64(name.len() as u64);
                w.bytes(name.as_bytes());
                put_nested(&ctx, w, k);
            }
            EvalKey::Encapsulation(k) => {
                w.u8(4);
                put_nested(&ctx, w, k);
            }
        })?;
        self.count += 1;
        Ok(())
    }

    /// Move the file into place (refused if fewer or more keys were pushed than announced).
    pub fn finish(self) -> Result<u64, FileError> {
        if self.count != self.expected {
            return Err(FileError::Truncated {
                path: self.stream.path.clone(),
                expected: self.expected,
                found: self.count,
            });
        }
        self.stream.finish()
    }
}

/// Write in-memory evaluation keys (and named switching keys) as one file; returns its size.
pub fn save_eval_keys(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    keys: &ServerKeys,
    path: &Path,
) -> Result<u64, FileError> {
    let galois: Vec<_> = keys
        .eval
        .galois_elements()
        .filter_map(|g| keys.eval.galois_key(g))
        .collect();
    let count = galois.len()
        + keys.eval.relin().iter().len()
        + keys.named.len()
        + keys.encapsulation.iter().len();
    let mut w = EvalKeyWriter::create(ctx, plan_hash, count as u64, path)?;
    if let Some(r) = keys.eval.relin() {
        w.push(&EvalKey::Relin(r.clone()))?;
    }
    for g in galois {
        w.push(&EvalKey::Galois(g.clone()))?;
    }
    for (name, k) in &keys.named {
        w.push(&EvalKey::Named(name.clone(), k.clone()))?;
    }
    if let Some(k) = &keys.encapsulation {
        w.push(&EvalKey::Encapsulation(k.clone()))?;
    }
    w.finish()
}

/// Load evaluation keys for the server, one record at a time. A secret-key file is refused by its
/// header, before its contents are read.
pub fn load_eval_keys(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    path: &Path,
) -> Result<ServerKeys, FileError> {
    if peek_tag(path)? == TAG_SECRET {
        return Err(FileError::SecretKeyMaterial { path: path.into() });
    }
    let (mut stream, header) = StreamReader::open(ctx, plan_hash, TAG_EVAL_KEYS, path)?;
    let total = Reader::new(&header).u64().map_err(|e| stream.format(e))?;
    let limit = serial::max_payload(ctx, serial::TypeTag::SwitchingKey)
        .max(serial::max_payload(ctx, serial::TypeTag::EncapsulationKeys))
        .saturating_add(1024);
    let mut keys = ServerKeys::default();
    for found in 0..total {
        let Some(bytes) = stream.next(TAG_KEY_RECORD, limit)? else {
            return Err(FileError::Truncated {
                path: path.into(),
                expected: total,
                found,
            });
        };
        let mut r = Reader::new(&bytes);
        match r.u8().map_err(|e| stream.format(e))? {
            1 => keys.eval.set_relin(nested(ctx, &mut r, path)?),
            2 => keys.eval.insert_galois(nested(ctx, &mut r, path)?),
            3 => {
                let name = read_name(&mut r).map_err(|e| stream.format(e))?;
                keys.named.insert(name, nested(ctx, &mut r, path)?);
            }
            4 => keys.encapsulation = Some(nested(ctx, &mut r, path)?),
            x => {
                return Err(stream.format(henn_ckks::CkksError::Malformed {
                    reason: format!("key record kind {x}"),
                }));
            }
        }
    }
    Ok(keys)
}

/// A length-prefixed UTF-8 name of at most 256 bytes.
fn read_name(r: &mut Reader<'_>) -> Result<String, henn_ckks::CkksError> {
    let len = r.u64()?;
    if len > 256 {
        return Err(henn_ckks::CkksError::Malformed {
            reason: format!("name length {len}"),
        });
    }
    Ok(String::from_utf8_lossy(r.take(len as usize)?).into_owned())
}

/// Bundle records with this step number hold the initial state (the owner's upload).
pub const INITIAL_STATE_STEP: u64 = u64::MAX;

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
    stream: StreamWriter,
}

impl std::fmt::Debug for BundleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("path", &self.stream.path)
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
        let mut header = Writer::default();
        header.u8(match kind {
            BundleKind::TrainingData => 1,
            BundleKind::TrainedState => 2,
        });
        header.u64(count);
        let stream = StreamWriter::create(ctx, plan_hash, TAG_BUNDLE, &header.buf, path)?;
        Ok(BundleWriter { stream })
    }

    /// Append the ciphertext `name` of step `step`.
    pub fn push(&mut self, step: u64, name: &str, ct: &Ciphertext) -> Result<(), FileError> {
        let ctx = self.stream.ctx.clone();
        self.stream.record(TAG_RECORD, |w| {
            w.u64(step);
            w.u64(name.len() as u64);
            w.bytes(name.as_bytes());
            put_nested(&ctx, w, ct);
        })
    }

    /// Flush, sync and move the bundle into place.
    pub fn finish(self) -> Result<(), FileError> {
        self.stream.finish().map(|_| ())
    }
}

/// Reads a bundle record by record.
pub struct BundleReader {
    stream: StreamReader,
    remaining: u64,
    total: u64,
    pub kind: BundleKind,
}

impl std::fmt::Debug for BundleReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleReader")
            .field("path", &self.stream.path)
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
        let (stream, header) = StreamReader::open(ctx, plan_hash, TAG_BUNDLE, path)?;
        let mut r = Reader::new(&header);
        let kind = match r.u8().map_err(|e| stream.format(e))? {
            1 => BundleKind::TrainingData,
            2 => BundleKind::TrainedState,
            x => {
                return Err(stream.format(henn_ckks::CkksError::Malformed {
                    reason: format!("bundle kind {x}"),
                }));
            }
        };
        let total = r.u64().map_err(|e| stream.format(e))?;
        Ok(BundleReader {
            stream,
            remaining: total,
            total,
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
        let limit = serial::max_payload(&self.stream.ctx, serial::TypeTag::Ciphertext) + 1024;
        let Some(bytes) = self.stream.next(TAG_RECORD, limit)? else {
            return Err(FileError::Truncated {
                path: self.stream.path.clone(),
                expected: self.total,
                found: self.total - self.remaining,
            });
        };
        let mut r = Reader::new(&bytes);
        let fmt = |e| self.stream.format(e);
        let step = r.u64().map_err(fmt)?;
        let name = read_name(&mut r).map_err(fmt)?;
        let ct = nested(&self.stream.ctx, &mut r, &self.stream.path)?;
        self.remaining -= 1;
        Ok(Some((step, name, ct)))
    }
}
