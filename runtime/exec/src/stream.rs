//! Streams of envelopes: the format of evaluation-key files and ciphertext bundles.
//!
//! ```text
//! header  (file tag)       plan hash ‖ key set ‖ stream id ‖ file header (kind, record count)
//! record i (record tag)    plan hash ‖ key set ‖ stream id ‖ i ‖ record body      for i in 0..count
//! end     (StreamEnd, 39)  plan hash ‖ key set ‖ stream id ‖ count
//! EOF
//! ```
//!
//! Every envelope carries its own checksum. The stream id is random per file, so a record spliced
//! in from another file (even one of the same key set) is refused; the index refuses missing,
//! duplicate and reordered records; the end marker and the end of the file refuse extra records
//! and trailing bytes.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use henn_ckks::serial::{CHECKSUM_LEN, HEADER_LEN, Reader, TypeTag, Writer, seal_envelope};
use henn_ckks::{CkksError, Context};
use henn_data::{AtomicFile, Overwrite};

use crate::files::{Binding, FileError, KeySetId, open_bound, peek_header};

const TAG_END: u16 = TypeTag::StreamEnd as u16;

/// A file written as a stream of envelopes into a temporary file, moved into place by
/// [`StreamWriter::finish`]: a failed or killed run never leaves a half-written file behind the
/// final name (and a failed one removes its temporary file).
pub(crate) struct StreamWriter {
    pub(crate) ctx: Arc<Context>,
    pub(crate) path: PathBuf,
    out: AtomicFile,
    prefix: Vec<u8>,
    expected: u64,
    pub(crate) count: u64,
    bytes: u64,
}

impl StreamWriter {
    /// Create the temporary file and write the header envelope.
    pub(crate) fn create(
        ctx: &Arc<Context>,
        binding: &Binding,
        tag: u16,
        header: &[u8],
        count: u64,
        path: &Path,
    ) -> Result<Self, FileError> {
        let out = AtomicFile::create(path, false, Overwrite::NotSecret)
            .map_err(|source| FileError::io(path, source))?;
        let mut prefix = Writer::default();
        binding.write(&mut prefix);
        prefix.bytes(&random_bytes::<16>(path)?);
        let mut w = StreamWriter {
            ctx: ctx.clone(),
            path: path.into(),
            out,
            prefix: prefix.buf,
            expected: count,
            count: 0,
            bytes: 0,
        };
        let mut h = Writer::default();
        h.bytes(header);
        h.u64(count);
        w.envelope(tag, &h.buf)?;
        Ok(w)
    }

    fn envelope(&mut self, tag: u16, body: &[u8]) -> Result<(), FileError> {
        let mut w = Writer::default();
        w.bytes(&self.prefix);
        w.bytes(body);
        let bytes = seal_envelope(tag, self.ctx.hash(), &w.buf);
        self.bytes += bytes.len() as u64;
        self.out
            .write_all(&bytes)
            .map_err(|source| FileError::io(&self.path, source))
    }

    /// Append record number `count` of `tag` whose body is what `fill` writes.
    pub(crate) fn record(
        &mut self,
        tag: u16,
        fill: impl FnOnce(&mut Writer),
    ) -> Result<(), FileError> {
        if self.count >= self.expected {
            return Err(FileError::Count {
                path: self.path.clone(),
                expected: self.expected,
                found: self.count + 1,
            });
        }
        let mut w = Writer::default();
        w.u64(self.count);
        fill(&mut w);
        self.envelope(tag, &w.buf)?;
        self.count += 1;
        Ok(())
    }

    /// Write the end marker and sync, without moving the file into place (see [`Pending`]).
    pub(crate) fn close(mut self) -> Result<Pending, FileError> {
        if self.count != self.expected {
            return Err(FileError::Count {
                path: self.path.clone(),
                expected: self.expected,
                found: self.count,
            });
        }
        let mut w = Writer::default();
        w.u64(self.count);
        self.envelope(TAG_END, &w.buf)?;
        self.out
            .sync()
            .map_err(|source| FileError::io(&self.path, source))?;
        Ok(Pending {
            file: self.out,
            bytes: self.bytes,
        })
    }
}

/// A complete, synced output file not yet renamed into place: key generation prepares all its
/// files first, then renames them one after another (the key-set identity in each refuses a
/// mixture if the process dies between two renames).
#[derive(Debug)]
pub struct Pending {
    file: AtomicFile,
    bytes: u64,
}

impl Pending {
    pub(crate) fn new(file: AtomicFile, bytes: u64) -> Self {
        Self { file, bytes }
    }

    /// Rename into place; returns the file's size.
    pub fn commit(self) -> Result<u64, FileError> {
        let path = self.file.path().to_path_buf();
        self.file
            .commit()
            .map_err(|source| FileError::io(&path, source))?;
        Ok(self.bytes)
    }
}

/// Reads a stream written by [`StreamWriter`]: the header envelope on open, then records in order,
/// then the end marker and the end of the file.
pub(crate) struct StreamReader {
    pub(crate) ctx: Arc<Context>,
    pub(crate) path: PathBuf,
    input: BufReader<std::fs::File>,
    binding: Binding,
    pub(crate) key_set: KeySetId,
    stream_id: [u8; 16],
    pub(crate) total: u64,
    pub(crate) next: u64,
    ended: bool,
    /// The largest record payload accepted so far (an extra record after the last one is read
    /// whole, to say "extra record" rather than "too large").
    record_limit: u64,
}

impl StreamReader {
    /// Open `path`: its first eight bytes say what it is before anything else is read (a
    /// secret-key file is refused there); then the header envelope (`tag`, parameters, plan).
    /// Returns the reader and the file header (before the record count).
    pub(crate) fn open(
        ctx: &Arc<Context>,
        plan_hash: &[u8; 32],
        tag: u16,
        path: &Path,
    ) -> Result<(Self, Vec<u8>), FileError> {
        let file = peek_header(path, tag)?;
        let mut input = BufReader::new(file);
        let header = read_envelope(&mut input, 1024, path)?.ok_or_else(|| FileError::Empty {
            path: path.into(),
            expected: "stream header",
        })?;
        let (mut r, binding) = open_bound(&header, tag, ctx, plan_hash, 1024, path)?;
        let fmt = |source| FileError::Format {
            path: path.into(),
            source,
        };
        let mut stream_id = [0u8; 16];
        stream_id.copy_from_slice(r.take(16).map_err(fmt)?);
        let rest = r.rest();
        let split = rest.len().checked_sub(8).ok_or_else(|| {
            fmt(CkksError::Malformed {
                reason: "stream header without a record count".into(),
            })
        })?;
        let total = Reader::new(&rest[split..]).u64().map_err(fmt)?;
        let reader = StreamReader {
            ctx: ctx.clone(),
            path: path.into(),
            input,
            key_set: binding.keys,
            binding,
            stream_id,
            total,
            next: 0,
            ended: false,
            record_limit: 1024,
        };
        Ok((reader, rest[..split].to_vec()))
    }

    /// Check one envelope's prefix (plan, key set, stream id) and return the body after it.
    fn body(&self, bytes: &[u8], tag: u16, limit: u64) -> Result<Vec<u8>, FileError> {
        let plan = self.binding.plan;
        let (mut r, binding) = open_bound(bytes, tag, &self.ctx, &plan, limit, &self.path)?;
        let id = r.take(16).map_err(|e| self.format(e))?;
        if binding.keys != self.key_set || id != self.stream_id {
            return Err(FileError::Spliced {
                path: self.path.clone(),
                record: self.next,
            });
        }
        Ok(r.rest().to_vec())
    }

    /// The next record of `tag` (at most `limit` payload bytes), or `None` after the last one
    /// (once the end marker and the end of the file are checked).
    pub(crate) fn next(&mut self, tag: u16, limit: u64) -> Result<Option<Vec<u8>>, FileError> {
        self.record_limit = self.record_limit.max(limit);
        if self.next == self.total {
            self.end()?;
            return Ok(None);
        }
        let missing = || FileError::Count {
            path: self.path.clone(),
            expected: self.total,
            found: self.next,
        };
        let Some(bytes) = read_envelope(&mut self.input, limit, &self.path)? else {
            return Err(missing());
        };
        if envelope_tag(&bytes) == TAG_END {
            return Err(missing());
        }
        let body = self.body(&bytes, tag, limit)?;
        let mut r = Reader::new(&body);
        let index = r.u64().map_err(|e| self.format(e))?;
        if index != self.next {
            return Err(FileError::OutOfOrder {
                path: self.path.clone(),
                expected: self.next,
                found: index,
            });
        }
        self.next += 1;
        Ok(Some(r.rest().to_vec()))
    }

    /// The end marker, then nothing.
    fn end(&mut self) -> Result<(), FileError> {
        if self.ended {
            return Ok(());
        }
        let extra = || FileError::Count {
            path: self.path.clone(),
            expected: self.total,
            found: self.total + 1,
        };
        let Some(bytes) = read_envelope(&mut self.input, self.record_limit, &self.path)? else {
            return Err(FileError::NoEndMarker {
                path: self.path.clone(),
            });
        };
        if envelope_tag(&bytes) != TAG_END {
            return Err(extra());
        }
        let body = self.body(&bytes, TAG_END, 1024)?;
        let count = Reader::new(&body).u64().map_err(|e| self.format(e))?;
        if count != self.total {
            return Err(FileError::Count {
                path: self.path.clone(),
                expected: self.total,
                found: count,
            });
        }
        let mut probe = [0u8; 1];
        let n = self
            .input
            .read(&mut probe)
            .map_err(|source| FileError::io(&self.path, source))?;
        if n != 0 {
            return Err(FileError::TrailingData {
                path: self.path.clone(),
            });
        }
        self.ended = true;
        Ok(())
    }

    pub(crate) fn format(&self, source: CkksError) -> FileError {
        FileError::Format {
            path: self.path.clone(),
            source,
        }
    }
}

fn envelope_tag(bytes: &[u8]) -> u16 {
    bytes
        .get(6..8)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
}

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>(path: &Path) -> Result<[u8; N], FileError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)
        .map_err(|e| FileError::io(path, std::io::Error::other(e.to_string())))?;
    Ok(out)
}

/// Read one whole envelope (header, payload of at most `limit` bytes, checksum), or `None` at a
/// clean end of file. The declared length is checked against `limit` before allocating.
fn read_envelope(
    input: &mut impl Read,
    limit: u64,
    path: &Path,
) -> Result<Option<Vec<u8>>, FileError> {
    let mut head = vec![0u8; HEADER_LEN];
    let got = fill(input, &mut head, path)?;
    if got == 0 {
        return Ok(None);
    }
    let truncated = |offset, needed, available| FileError::Format {
        path: path.into(),
        source: CkksError::Truncated {
            offset,
            needed,
            available,
        },
    };
    if got < HEADER_LEN {
        return Err(truncated(0, HEADER_LEN, got));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&head[40..48]);
    let declared = u64::from_le_bytes(len);
    if declared > limit {
        return Err(FileError::Format {
            path: path.into(),
            source: CkksError::TooLarge { declared, limit },
        });
    }
    let mut rest = vec![0u8; declared as usize + CHECKSUM_LEN];
    let filled = fill(input, &mut rest, path)?;
    if filled < rest.len() {
        return Err(truncated(HEADER_LEN, rest.len(), filled));
    }
    head.extend_from_slice(&rest);
    Ok(Some(head))
}

/// Read until `buf` is full or the input ends; returns the bytes read.
fn fill(input: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize, FileError> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(FileError::io(path, source)),
        }
    }
    Ok(got)
}
