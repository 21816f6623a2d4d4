//! The files the owner and the server exchange, each bound to one plan and one key generation.
//!
//! Every file reuses `henn-ckks`'s envelope (magic, format version, type tag, parameter hash,
//! length, BLAKE3 checksum) and starts its payload with a [`Binding`]: the plan's content hash and
//! the [`KeySetId`] of the key generation it belongs to. So a key bundle made for another plan, for
//! other parameters, or by another run of `henn keygen` for the same plan, is refused before
//! anything is used, with a message naming both files.
//!
//! Tags come from the one registry, `henn_ckks::serial::TypeTag`; these files are at format
//! version 2 (`TypeTag::format_version`); version-1 files are refused with "regenerate".
//!
//! | file | tag | holds | who may read it |
//! |---|---|---|---|
//! | secret key | 32 | secret key + public key | the owner only (created with mode 0600; written and read by `henn-owner`) |
//! | evaluation keys | 33 (header) + 38 (records) + 39 (end) | relinearization, Galois and named switching keys of the manifest | the server |
//! | public key | 36 | public key | anyone who encrypts |
//! | ciphertext bundle | 34 (header) + 35 (records) + 39 (end) | named ciphertexts per step (a trained state's records carry the steps it completed) | both |
//! | owner record | 40 | the feature scaling fitted on the owner's rows (`henn-owner::record`) | the owner only (mode 0600) |
//!
//! A ciphertext bundle and an evaluation-key file are *streams* (see [`crate::stream`]): a header
//! envelope, one envelope per record with its index, an end marker with the count, then nothing.
//! They are written and read one record at a time, so a large training set never sits in memory at
//! once and key generation holds one key at a time; a truncated, bit-flipped, missing, extra,
//! duplicated, reordered or spliced record is found where it is.
//!
//! Every loader reads the first eight bytes of a file (magic, version, tag) before anything else:
//! a secret-key file handed to a server-side loader is refused there, its body never read.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use henn_ckks::serial::{
    self, CHECKSUM_LEN, HEADER_LEN, Reader, TypeTag, Writer, open_envelope, seal_envelope,
};
use henn_ckks::{Ciphertext, CkksError, Context, PublicKey};
use henn_data::{AtomicFile, Overwrite};

pub use crate::keys::{EvalKey, ServerKeys};
pub use crate::stream::Pending;
use crate::stream::{StreamReader, StreamWriter, random_bytes};

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
    #[error("{path}", path = .path.display())]
    // the reason is the source: `{:#}` prints "path: reason"
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}", path = .path.display())] // the reason is the source
    Format { path: PathBuf, source: CkksError },
    #[error("{path}: made for another plan (plan hash {found}, expected {expected})", path = .path.display())]
    WrongPlan {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{path}: holds secret-key material; refused from its header, nothing else was read (the server role never accepts it)", path = .path.display())]
    SecretKeyMaterial { path: PathBuf },
    #[error("{path}: is a {found}, expected a {expected}", path = .path.display())]
    WrongKind {
        path: PathBuf,
        found: &'static str,
        expected: &'static str,
    },
    #[error("{path}: is empty, expected a {expected}", path = .path.display())]
    Empty {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("{path}: is not a henn file ({reason})", path = .path.display())]
    NotHenn { path: PathBuf, reason: String },
    #[error("{path}: written by another version of henn ({what} format {found}; this henn reads format {supported}); regenerate it with this henn (`henn keygen`, `henn encrypt`, `henn serve`)", path = .path.display())]
    OldFormat {
        path: PathBuf,
        what: &'static str,
        found: u16,
        supported: u16,
    },
    #[error("{path}: the file promises {expected} records, it holds {found}", path = .path.display())]
    Count {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: record {found} where record {expected} belongs (records missing, duplicated or reordered)", path = .path.display())]
    OutOfOrder {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: record {record} comes from another file", path = .path.display())]
    Spliced { path: PathBuf, record: u64 },
    #[error("{path}: truncated: no end marker after the last record", path = .path.display())]
    NoEndMarker { path: PathBuf },
    #[error("{path}: trailing bytes after the end marker", path = .path.display())]
    TrailingData { path: PathBuf },
    #[error("{a} and {b} come from different key generations (key set {a_id} vs {b_id}): use the files of one `henn keygen` run, and data encrypted under its keys", a = .a.display(), b = .b.display())]
    KeySetMismatch {
        a: PathBuf,
        a_id: String,
        b: PathBuf,
        b_id: String,
    },
    #[error("{path}: {reason}", path = .path.display())]
    Content { path: PathBuf, reason: String },
}

impl FileError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        FileError::Io {
            path: path.into(),
            source,
        }
    }
}

fn kind_name(tag: u16) -> &'static str {
    TypeTag::from_u16(tag).map_or("file of unknown type", TypeTag::name)
}

fn hex(h: &[u8]) -> String {
    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The identity of one key generation: 32 bytes from the operating system's CSPRNG, drawn by
/// `henn keygen` and written into every file derived from that generation (secret key, public key,
/// evaluation keys, bundles encrypted under it, the trained state).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeySetId(pub [u8; 32]);

impl KeySetId {
    /// A fresh identity from the OS CSPRNG (`path` names the file in the unlikely error).
    pub fn random(path: &Path) -> Result<Self, FileError> {
        random_bytes::<32>(path).map(KeySetId)
    }

    /// The first 8 bytes in hex, for messages.
    pub fn short(&self) -> String {
        hex(&self.0)
    }
}

impl std::fmt::Debug for KeySetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySetId({})", self.short())
    }
}

/// Refuses two files of different key generations, naming both.
pub fn same_key_set(a: (&Path, KeySetId), b: (&Path, KeySetId)) -> Result<(), FileError> {
    if a.1 == b.1 {
        return Ok(());
    }
    Err(FileError::KeySetMismatch {
        a: a.0.into(),
        a_id: a.1.short(),
        b: b.0.into(),
        b_id: b.1.short(),
    })
}

/// What every file's payload starts with: the plan it was made for and its key generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub plan: [u8; 32],
    pub keys: KeySetId,
}

impl Binding {
    pub fn new(plan: &[u8; 32], keys: KeySetId) -> Self {
        Self { plan: *plan, keys }
    }

    pub fn write(&self, w: &mut Writer) {
        w.bytes(&self.plan);
        w.bytes(&self.keys.0);
    }
}

/// Open `path` and read its first eight bytes (magic, version, type tag) before anything else:
/// an empty or foreign file, a secret-key file where `tag` is not one, another kind of henn file,
/// or a file of another format version is refused there. Returns the file rewound to its start.
pub fn peek_header(path: &Path, tag: u16) -> Result<std::fs::File, FileError> {
    let mut f = std::fs::File::open(path).map_err(|source| FileError::io(path, source))?;
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(FileError::io(path, source)),
        }
    }
    let expected = kind_name(tag);
    if got == 0 {
        return Err(FileError::Empty {
            path: path.into(),
            expected,
        });
    }
    if got < 4 || head[..4] != serial::MAGIC {
        return Err(FileError::NotHenn {
            path: path.into(),
            reason: format!("no `HENN` magic bytes; expected a {expected}"),
        });
    }
    if got < 8 {
        return Err(FileError::NotHenn {
            path: path.into(),
            reason: format!("only {got} bytes; expected a {expected}"),
        });
    }
    let found = u16::from_le_bytes([head[6], head[7]]);
    if found == TAG_SECRET && tag != TAG_SECRET {
        return Err(FileError::SecretKeyMaterial { path: path.into() });
    }
    if found != tag {
        return Err(FileError::WrongKind {
            path: path.into(),
            found: kind_name(found),
            expected,
        });
    }
    let version = u16::from_le_bytes([head[4], head[5]]);
    let supported = TypeTag::format_version(tag);
    if version != supported {
        return Err(FileError::OldFormat {
            path: path.into(),
            what: expected,
            found: version,
            supported,
        });
    }
    f.rewind().map_err(|source| FileError::io(path, source))?;
    Ok(f)
}

/// The type tag of a henn file, from its first eight bytes only.
pub fn peek_tag(path: &Path) -> Result<u16, FileError> {
    match peek_header(path, 0) {
        Err(FileError::WrongKind { .. }) | Ok(_) => {}
        Err(FileError::SecretKeyMaterial { .. }) => return Ok(TAG_SECRET),
        Err(e) => return Err(e),
    }
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path).map_err(|source| FileError::io(path, source))?;
    f.read_exact(&mut head)
        .map_err(|source| FileError::io(path, source))?;
    Ok(u16::from_le_bytes([head[6], head[7]]))
}

/// Read a whole file of kind `tag` (checked from its header first), at most `limit` payload bytes.
pub fn read_all(path: &Path, tag: u16, limit: u64) -> Result<Vec<u8>, FileError> {
    let f = peek_header(path, tag)?;
    let mut bytes = Vec::new();
    f.take(limit + (HEADER_LEN + CHECKSUM_LEN) as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::io(path, source))?;
    Ok(bytes)
}

/// Read one length-prefixed object of henn-ckks from a payload.
pub fn nested<T: serial::Serializable>(
    ctx: &Arc<Context>,
    r: &mut Reader<'_>,
    path: &Path,
) -> Result<T, FileError> {
    let fmt = |source| FileError::Format {
        path: path.into(),
        source,
    };
    let len = r.u64().map_err(fmt)?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let bytes = r.take(len).map_err(fmt)?;
    serial::from_bytes(ctx, bytes).map_err(fmt)
}

/// Write one length-prefixed object of henn-ckks into a payload.
pub fn put_nested<T: serial::Serializable>(ctx: &Context, w: &mut Writer, obj: &T) {
    let bytes = serial::to_bytes(ctx, obj);
    w.u64(bytes.len() as u64);
    w.bytes(&bytes);
}

/// Open an envelope of `tag` bound to `ctx` and `plan_hash`; returns the payload after the
/// binding, and the binding (whose key set the caller compares with its other files).
pub fn open_bound<'a>(
    bytes: &'a [u8],
    tag: u16,
    ctx: &Context,
    plan_hash: &[u8; 32],
    limit: u64,
    path: &Path,
) -> Result<(Reader<'a>, Binding), FileError> {
    let payload = open_envelope(bytes, tag, Some(ctx.hash()), limit).map_err(|e| match e {
        CkksError::WrongType { found, .. } => FileError::WrongKind {
            path: path.into(),
            found: kind_name(found),
            expected: kind_name(tag),
        },
        CkksError::UnsupportedVersion { found, supported } => FileError::OldFormat {
            path: path.into(),
            what: kind_name(tag),
            found,
            supported,
        },
        source => FileError::Format {
            path: path.into(),
            source,
        },
    })?;
    let mut r = Reader::new(payload);
    let fmt = |source| FileError::Format {
        path: path.into(),
        source,
    };
    let plan = r.array32().map_err(fmt)?;
    let keys = KeySetId(r.array32().map_err(fmt)?);
    if &plan != plan_hash {
        return Err(FileError::WrongPlan {
            path: path.into(),
            found: hex(&plan),
            expected: hex(plan_hash),
        });
    }
    Ok((r, Binding { plan, keys }))
}

/// Seal a single-envelope file (secret key, public key) and prepare it for an atomic rename.
pub fn prepare_single(
    ctx: &Context,
    tag: u16,
    payload: &[u8],
    path: &Path,
    private: bool,
    overwrite: Overwrite,
) -> Result<Pending, FileError> {
    use std::io::Write;
    let bytes = seal_envelope(tag, ctx.hash(), payload);
    let io = |source| FileError::io(path, source);
    let mut f = AtomicFile::create(path, private, overwrite).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync().map_err(io)?;
    Ok(Pending::new(f, bytes.len() as u64))
}

/// The public-key file, ready to be renamed into place.
pub fn prepare_public_key(
    ctx: &Context,
    binding: &Binding,
    pk: &PublicKey,
    path: &Path,
) -> Result<Pending, FileError> {
    let mut w = Writer::default();
    binding.write(&mut w);
    put_nested(ctx, &mut w, pk);
    prepare_single(ctx, TAG_PUBLIC, &w.buf, path, false, Overwrite::NotSecret)
}

pub fn save_public_key(
    ctx: &Context,
    binding: &Binding,
    pk: &PublicKey,
    path: &Path,
) -> Result<(), FileError> {
    prepare_public_key(ctx, binding, pk, path)?
        .commit()
        .map(|_| ())
}

/// A public key and the key generation it belongs to.
pub fn load_public_key(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    path: &Path,
) -> Result<(PublicKey, KeySetId), FileError> {
    let bytes = read_all(path, TAG_PUBLIC, 1 << 30)?;
    let (mut r, binding) = open_bound(&bytes, TAG_PUBLIC, ctx, plan_hash, 1 << 30, path)?;
    let pk = nested(ctx, &mut r, path)?;
    end_of_payload(&r, path)?;
    Ok((pk, binding.keys))
}

/// Nothing may follow the last field of a payload.
pub fn end_of_payload(r: &Reader<'_>, path: &Path) -> Result<(), FileError> {
    if r.remaining() != 0 {
        return Err(FileError::Format {
            path: path.into(),
            source: CkksError::Malformed {
                reason: format!("{} bytes after the last field", r.remaining()),
            },
        });
    }
    Ok(())
}

/// Writes an evaluation-key file one key at a time (the owner's `henn_owner::keygen_streaming` feeds it).
pub struct EvalKeyWriter {
    stream: StreamWriter,
}

impl std::fmt::Debug for EvalKeyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalKeyWriter")
            .field("path", &self.stream.path)
            .field("count", &self.stream.count)
            .finish()
    }
}

impl EvalKeyWriter {
    /// Start a file of `count` keys of the key generation `binding.keys`.
    pub fn create(
        ctx: &Arc<Context>,
        binding: &Binding,
        count: u64,
        path: &Path,
    ) -> Result<Self, FileError> {
        let stream = StreamWriter::create(ctx, binding, TAG_EVAL_KEYS, &[], count, path)?;
        Ok(EvalKeyWriter { stream })
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
        })
    }

    /// Write the end marker and sync, leaving the rename to the caller (refused if fewer keys were
    /// pushed than announced).
    pub fn close(self) -> Result<Pending, FileError> {
        self.stream.close()
    }

    /// [`EvalKeyWriter::close`] and move the file into place; returns its size.
    pub fn finish(self) -> Result<u64, FileError> {
        self.close()?.commit()
    }
}

/// Write in-memory evaluation keys (and named switching keys) as one file; returns its size.
pub fn save_eval_keys(
    ctx: &Arc<Context>,
    binding: &Binding,
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
    let mut w = EvalKeyWriter::create(ctx, binding, count as u64, path)?;
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

/// Load evaluation keys for the server, one record at a time, with their key generation. A
/// secret-key file is refused by its header, before its contents are read; a key present twice is
/// refused.
pub fn load_eval_keys(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    path: &Path,
) -> Result<(ServerKeys, KeySetId), FileError> {
    let (mut stream, _) = StreamReader::open(ctx, plan_hash, TAG_EVAL_KEYS, path)?;
    let limit = serial::max_payload(ctx, serial::TypeTag::SwitchingKey)
        .max(serial::max_payload(ctx, serial::TypeTag::EncapsulationKeys))
        .saturating_add(1024);
    let mut keys = ServerKeys::default();
    let dup = |what: String| FileError::Content {
        path: path.into(),
        reason: format!("holds the {what} twice"),
    };
    while let Some(bytes) = stream.next(TAG_KEY_RECORD, limit)? {
        let mut r = Reader::new(&bytes);
        match r.u8().map_err(|e| stream.format(e))? {
            1 => {
                if keys.eval.relin().is_some() {
                    return Err(dup("relinearization key".into()));
                }
                keys.eval.set_relin(nested(ctx, &mut r, path)?);
            }
            2 => {
                let k: henn_ckks::GaloisKey = nested(ctx, &mut r, path)?;
                if keys.eval.galois_key(k.galois()).is_some() {
                    return Err(dup(format!("Galois key {}", k.galois())));
                }
                keys.eval.insert_galois(k);
            }
            3 => {
                let name = read_name(&mut r).map_err(|e| stream.format(e))?;
                let k = nested(ctx, &mut r, path)?;
                if keys.named.insert(name.clone(), k).is_some() {
                    return Err(dup(format!("key `{name}`")));
                }
            }
            4 => {
                if keys.encapsulation.is_some() {
                    return Err(dup("encapsulation keys".into()));
                }
                keys.encapsulation = Some(nested(ctx, &mut r, path)?);
            }
            x => {
                return Err(stream.format(CkksError::Malformed {
                    reason: format!("key record kind {x}"),
                }));
            }
        }
        end_of_payload(&r, path)?;
    }
    Ok((keys, stream.key_set))
}

/// A length-prefixed UTF-8 name of at most 256 bytes.
fn read_name(r: &mut Reader<'_>) -> Result<String, CkksError> {
    let len = r.u64()?;
    if len > 256 {
        return Err(CkksError::Malformed {
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
    /// An inference job's queries: one record per feature input of every batch (the record's
    /// step is the batch's index), bound to the inference plan.
    Queries,
    /// An inference job's result: the class scores of every batch, bound to the inference plan.
    Predictions,
    /// Plaintext-mode weights encrypted under the key set's public key, bound to the inference
    /// plan (step [`INITIAL_STATE_STEP`]).
    Weights,
}

impl BundleKind {
    fn code(self) -> u8 {
        match self {
            BundleKind::TrainingData => 1,
            BundleKind::TrainedState => 2,
            BundleKind::Queries => 3,
            BundleKind::Predictions => 4,
            BundleKind::Weights => 5,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        [
            BundleKind::TrainingData,
            BundleKind::TrainedState,
            BundleKind::Queries,
            BundleKind::Predictions,
            BundleKind::Weights,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
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
    /// Start a bundle of `count` ciphertexts encrypted under the key generation `binding.keys`.
    pub fn create(
        ctx: &Arc<Context>,
        binding: &Binding,
        kind: BundleKind,
        count: u64,
        path: &Path,
    ) -> Result<Self, FileError> {
        let kind = [kind.code()];
        let stream = StreamWriter::create(ctx, binding, TAG_BUNDLE, &kind, count, path)?;
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

    /// Write the end marker, sync and move the bundle into place (refused if fewer ciphertexts
    /// were pushed than announced).
    pub fn finish(self) -> Result<(), FileError> {
        self.stream.close()?.commit().map(|_| ())
    }
}

/// Reads a bundle record by record.
pub struct BundleReader {
    stream: StreamReader,
    pub kind: BundleKind,
}

impl std::fmt::Debug for BundleReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleReader")
            .field("path", &self.stream.path)
            .field("next", &self.stream.next)
            .finish()
    }
}

impl BundleReader {
    pub fn open(ctx: &Arc<Context>, plan_hash: &[u8; 32], path: &Path) -> Result<Self, FileError> {
        let (stream, header) = StreamReader::open(ctx, plan_hash, TAG_BUNDLE, path)?;
        let kind = match header.as_slice() {
            [code] => BundleKind::from_code(*code),
            _ => None,
        };
        let Some(kind) = kind else {
            return Err(stream.format(CkksError::Malformed {
                reason: format!("bundle kind {header:?}"),
            }));
        };
        Ok(BundleReader { stream, kind })
    }

    /// How many ciphertexts the bundle declares.
    pub fn len(&self) -> u64 {
        self.stream.total
    }

    pub fn is_empty(&self) -> bool {
        self.stream.total == 0
    }

    /// The key generation the bundle's ciphertexts are encrypted under.
    pub fn key_set(&self) -> KeySetId {
        self.stream.key_set
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.stream.path
    }

    /// The next `(step, name, ciphertext)`, or `None` after the last one (once the end marker and
    /// the end of the file are checked).
    pub fn next_record(&mut self) -> Result<Option<(u64, String, Ciphertext)>, FileError> {
        let limit = serial::max_payload(&self.stream.ctx, serial::TypeTag::Ciphertext) + 1024;
        let Some(bytes) = self.stream.next(TAG_RECORD, limit)? else {
            return Ok(None);
        };
        let mut r = Reader::new(&bytes);
        let fmt = |e| self.stream.format(e);
        let step = r.u64().map_err(fmt)?;
        let name = read_name(&mut r).map_err(fmt)?;
        let ct = nested(&self.stream.ctx, &mut r, &self.stream.path)?;
        end_of_payload(&r, &self.stream.path)?;
        Ok(Some((step, name, ct)))
    }
}
