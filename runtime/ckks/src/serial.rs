//! Versioned, checksummed binary serialization with a generic envelope.
//!
//! Every file is `header ‖ payload ‖ checksum`:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `HENN` |
//! | 2 | format version (little-endian) |
//! | 2 | type tag ([`TypeTag`]: the one registry of every henn file kind's tag) |
//! | 32 | parameter hash (BLAKE3 of [`Params::canonical_bytes`], zeros if none) |
//! | 8 | payload length |
//! | n | payload |
//! | 32 | BLAKE3 of header and payload |
//!
//! [`open_envelope`] checks, in order: enough bytes for a header, magic, tag, version (per tag: [`TypeTag::format_version`]), the
//! declared length against the caller's limit (before anything is allocated), the total
//! length, the checksum, and finally the parameter hash. So a flipped bit anywhere is a
//! [`CkksError::ChecksumMismatch`] and an intact file for other parameters a
//! [`CkksError::ParamsMismatch`]. Payload readers bound every count by the bytes that remain
//! and validate every residue against its prime.

use std::sync::Arc;

use crate::ciphertext::{Ciphertext, Plaintext};
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::keys::{EvaluationKeys, GaloisKey, PublicKey, SecretKey, SwitchingKey};
use crate::params::{Params, SecurityLevel};
use crate::ring::poly::RnsPoly;

pub const MAGIC: [u8; 4] = *b"HENN";
pub const FORMAT_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 4 + 2 + 2 + 32 + 8;
pub const CHECKSUM_LEN: usize = 32;

/// Every kind of object or file henn writes in an envelope, each named once: values 1–31 are
/// henn-ckks's own objects, 32 and up the files of the runtime and the plan. A new file kind takes
/// the next free value here; nothing else in henn assigns tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
#[non_exhaustive]
pub enum TypeTag {
    Params = 1,
    Plaintext = 2,
    Ciphertext = 3,
    PublicKey = 4,
    SecretKey = 5,
    SwitchingKey = 6,
    GaloisKey = 7,
    EvaluationKeys = 8,
    /// The two switching keys of bootstrapping's sparse-secret encapsulation.
    EncapsulationKeys = 9,
    /// The owner's secret-key file (secret key + public key; `henn-owner`).
    SecretKeyFile = 32,
    /// The header of an evaluation-key stream (`henn-runtime::files`).
    EvalKeyFile = 33,
    /// The header of a ciphertext bundle (`henn-runtime::files`).
    Bundle = 34,
    /// One ciphertext record of a bundle.
    BundleRecord = 35,
    /// A public-key file.
    PublicKeyFile = 36,
    /// A compiled plan (`henn-plan::io`).
    Plan = 37,
    /// One key record of an evaluation-key stream.
    KeyRecord = 38,
    /// The end marker of a stream (evaluation keys, ciphertext bundle): its record count.
    StreamEnd = 39,
    /// The owner's record of an encryption (`henn-owner::record`): the feature scaling fitted on
    /// the training rows and what was encrypted; stays with the owner, never sent to the server.
    OwnerRecord = 40,
}

impl TypeTag {
    /// Every tag, in value order.
    pub const ALL: [TypeTag; 18] = [
        TypeTag::Params,
        TypeTag::Plaintext,
        TypeTag::Ciphertext,
        TypeTag::PublicKey,
        TypeTag::SecretKey,
        TypeTag::SwitchingKey,
        TypeTag::GaloisKey,
        TypeTag::EvaluationKeys,
        TypeTag::EncapsulationKeys,
        TypeTag::SecretKeyFile,
        TypeTag::EvalKeyFile,
        TypeTag::Bundle,
        TypeTag::BundleRecord,
        TypeTag::PublicKeyFile,
        TypeTag::Plan,
        TypeTag::KeyRecord,
        TypeTag::StreamEnd,
        TypeTag::OwnerRecord,
    ];

    /// The tag with this value, if henn assigns it.
    pub fn from_u16(value: u16) -> Option<TypeTag> {
        Self::ALL.into_iter().find(|t| *t as u16 == value)
    }

    /// What a person calls an object of this kind (for error messages).
    pub fn name(self) -> &'static str {
        match self {
            TypeTag::Params => "parameter set",
            TypeTag::Plaintext => "plaintext",
            TypeTag::Ciphertext => "ciphertext",
            TypeTag::PublicKey => "public key",
            TypeTag::SecretKey => "secret key",
            TypeTag::SwitchingKey => "switching key",
            TypeTag::GaloisKey => "Galois key",
            TypeTag::EvaluationKeys => "evaluation-key set",
            TypeTag::EncapsulationKeys => "encapsulation-key pair",
            TypeTag::SecretKeyFile => "secret-key file",
            TypeTag::EvalKeyFile => "evaluation-key file",
            TypeTag::Bundle => "ciphertext bundle",
            TypeTag::BundleRecord => "ciphertext record",
            TypeTag::PublicKeyFile => "public-key file",
            TypeTag::Plan => "plan",
            TypeTag::KeyRecord => "key record",
            TypeTag::StreamEnd => "stream end marker",
            TypeTag::OwnerRecord => "owner record",
        }
    }

    /// The format version written for (and the only one accepted from) an envelope of this tag.
    /// The files the owner and the server exchange are at version 2 (key-set identity, record
    /// indices, end marker); henn-ckks's own objects and plans (which carry their own version) at 1.
    pub fn format_version(tag: u16) -> u16 {
        match TypeTag::from_u16(tag) {
            Some(
                TypeTag::SecretKeyFile
                | TypeTag::EvalKeyFile
                | TypeTag::Bundle
                | TypeTag::BundleRecord
                | TypeTag::PublicKeyFile
                | TypeTag::KeyRecord
                | TypeTag::StreamEnd
                | TypeTag::OwnerRecord,
            ) => 2,
            _ => FORMAT_VERSION,
        }
    }
}

/// Wraps a payload in the envelope.
pub fn seal_envelope(tag: u16, params_hash: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&TypeTag::format_version(tag).to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(params_hash);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// Validates the envelope and returns the payload (see the module docs for the order).
pub fn open_envelope<'a>(
    bytes: &'a [u8],
    tag: u16,
    params_hash: Option<&[u8; 32]>,
    limit: u64,
) -> Result<&'a [u8]> {
    if bytes.len() < HEADER_LEN {
        return Err(CkksError::Truncated {
            offset: 0,
            needed: HEADER_LEN,
            available: bytes.len(),
        });
    }
    if bytes[0..4] != MAGIC {
        return Err(CkksError::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    let found = u16::from_le_bytes([bytes[6], bytes[7]]);
    if found != tag {
        return Err(CkksError::WrongType {
            expected: tag,
            found,
        });
    }
    let supported = TypeTag::format_version(tag);
    if version != supported {
        return Err(CkksError::UnsupportedVersion {
            found: version,
            supported,
        });
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&bytes[40..48]);
    let declared = u64::from_le_bytes(len_bytes);
    if declared > limit {
        return Err(CkksError::TooLarge { declared, limit });
    }
    let total = HEADER_LEN + declared as usize + CHECKSUM_LEN;
    if bytes.len() < total {
        return Err(CkksError::Truncated {
            offset: HEADER_LEN,
            needed: declared as usize + CHECKSUM_LEN,
            available: bytes.len() - HEADER_LEN,
        });
    }
    if bytes.len() > total {
        return Err(CkksError::Malformed {
            reason: format!("{} trailing bytes after the checksum", bytes.len() - total),
        });
    }
    let body = &bytes[..total - CHECKSUM_LEN];
    if blake3::hash(body).as_bytes()[..] != bytes[total - CHECKSUM_LEN..] {
        return Err(CkksError::ChecksumMismatch);
    }
    if let Some(h) = params_hash
        && bytes[8..40] != h[..]
    {
        return Err(CkksError::ParamsMismatch);
    }
    Ok(&bytes[HEADER_LEN..total - CHECKSUM_LEN])
}

/// Little-endian payload writer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub fn u64s(&mut self, v: &[u64]) {
        self.buf.reserve(v.len() * 8);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// Bounds-checked payload reader: every read past the end is a [`CkksError::Truncated`].
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub fn take(&mut self, k: usize) -> Result<&'a [u8]> {
        let available = self.buf.len() - self.pos;
        if k > available {
            return Err(CkksError::Truncated {
                offset: HEADER_LEN + self.pos,
                needed: k,
                available,
            });
        }
        let s = &self.buf[self.pos..self.pos + k];
        self.pos += k;
        Ok(s)
    }
    /// How many bytes are not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    pub fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    pub fn array32(&mut self) -> Result<[u8; 32]> {
        let mut b = [0u8; 32];
        b.copy_from_slice(self.take(32)?);
        Ok(b)
    }
    /// Reads `count` words, refusing counts larger than what remains *before* allocating.
    pub fn u64s(&mut self, count: usize) -> Result<Vec<u64>> {
        let bytes = count.checked_mul(8).ok_or(CkksError::Malformed {
            reason: "element count overflows".into(),
        })?;
        let raw = self.take(bytes)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }
    /// A count that must be at most `max`.
    pub fn count(&mut self, what: &str, max: usize) -> Result<usize> {
        let v = self.u32()? as usize;
        if v > max {
            return Err(CkksError::Malformed {
                reason: format!("{what} = {v} exceeds {max}"),
            });
        }
        Ok(v)
    }
    pub fn finish(&self) -> Result<()> {
        if self.pos != self.buf.len() {
            return Err(CkksError::Malformed {
                reason: format!("{} unread payload bytes", self.buf.len() - self.pos),
            });
        }
        Ok(())
    }
}

/// An object that can be stored in the envelope for a given context.
pub trait Serializable: Sized {
    const TAG: TypeTag;
    fn write_payload(&self, ctx: &Context, w: &mut Writer);
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self>;
}

/// Upper bound on any payload for this context: a key set with one key per Galois element
/// would be larger, so evaluation keys get their own bound (see [`max_payload`]).
pub fn max_payload(ctx: &Context, tag: TypeTag) -> u64 {
    let n = ctx.n() as u64;
    let limbs = (ctx.max_level() + 1 + ctx.num_special()) as u64;
    let poly = n * limbs * 8 + 64;
    let digits = ctx.num_digits(ctx.max_level()) as u64;
    let key = digits * poly + 128;
    match tag {
        TypeTag::Params => 1 << 16,
        TypeTag::Plaintext => poly + 64,
        TypeTag::Ciphertext => 3 * poly + 64,
        TypeTag::PublicKey => poly + 64,
        TypeTag::SecretKey => n + 64,
        TypeTag::SwitchingKey | TypeTag::GaloisKey => key + 64,
        // relin + every Galois element (N of them at most).
        TypeTag::EvaluationKeys => key.saturating_mul(n + 1),
        TypeTag::EncapsulationKeys => 2 * key + 64,
        // Files of the later layers: their readers apply their own, tighter limits; this is the
        // bound of the largest object they can hold.
        TypeTag::SecretKeyFile
        | TypeTag::EvalKeyFile
        | TypeTag::Bundle
        | TypeTag::BundleRecord
        | TypeTag::PublicKeyFile
        | TypeTag::Plan
        | TypeTag::KeyRecord => key.saturating_mul(n + 1),
        TypeTag::StreamEnd => 1024,
        TypeTag::OwnerRecord => 1 << 26,
    }
}

/// Serializes an object for `ctx`.
pub fn to_bytes<T: Serializable>(ctx: &Context, obj: &T) -> Vec<u8> {
    let mut w = Writer::default();
    obj.write_payload(ctx, &mut w);
    seal_envelope(T::TAG as u16, ctx.hash(), &w.buf)
}

/// Deserializes an object made for `ctx`.
pub fn from_bytes<T: Serializable>(ctx: &Arc<Context>, bytes: &[u8]) -> Result<T> {
    let payload = open_envelope(
        bytes,
        T::TAG as u16,
        Some(ctx.hash()),
        max_payload(ctx, T::TAG),
    )?;
    let mut r = Reader::new(payload);
    let obj = T::read_payload(ctx, &mut r)?;
    r.finish()?;
    Ok(obj)
}

// ------------------------------------------------------------------------------- params

impl Params {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.log_n);
        w.u32(self.q.len() as u32);
        w.u64s(&self.q);
        w.u32(self.p.len() as u32);
        w.u64s(&self.p);
        w.u32(self.dnum as u32);
        w.u32(self.scale_bits);
        w.u8(match self.security {
            SecurityLevel::Classic128 => 1,
            SecurityLevel::Classic192 => 2,
            SecurityLevel::Classic256 => 3,
            SecurityLevel::InsecureUnchecked => 0,
        });
        seal_envelope(TypeTag::Params as u16, &self.hash(), &w.buf)
    }

    /// Loads and re-validates parameters (structure and, unless stored as unchecked, security).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let payload = open_envelope(bytes, TypeTag::Params as u16, None, 1 << 16)?;
        let mut r = Reader::new(payload);
        let log_n = r.u32()?;
        let nq = r.count("number of Q primes", 256)?;
        let q = r.u64s(nq)?;
        let np = r.count("number of special primes", 256)?;
        let p = r.u64s(np)?;
        let dnum = r.count("dnum", 256)?;
        let scale_bits = r.u32()?;
        let security = match r.u8()? {
            0 => SecurityLevel::InsecureUnchecked,
            1 => SecurityLevel::Classic128,
            2 => SecurityLevel::Classic192,
            3 => SecurityLevel::Classic256,
            x => {
                return Err(CkksError::Malformed {
                    reason: format!("security tag {x}"),
                });
            }
        };
        r.finish()?;
        let params = Params::from_primes(log_n, q, p, dnum, scale_bits, security)?;
        if bytes[8..40] != params.hash()[..] {
            return Err(CkksError::ParamsMismatch);
        }
        Ok(params)
    }
}

// -------------------------------------------------------------------------------- polys

pub(crate) fn write_poly(p: &RnsPoly, w: &mut Writer) {
    w.u32(p.level as u32);
    w.u32(p.special as u32);
    w.u8(p.ntt as u8);
    w.u64s(&p.data);
}

/// Reads a polynomial and checks its shape and that every residue is below its prime.
pub(crate) fn read_poly(
    ctx: &Context,
    r: &mut Reader<'_>,
    special_expected: Option<usize>,
) -> Result<RnsPoly> {
    let level = r.count("level", ctx.max_level())?;
    let special = r.count("special limbs", ctx.num_special())?;
    if let Some(s) = special_expected
        && s != special
    {
        return Err(CkksError::Malformed {
            reason: format!("{special} special limbs, expected {s}"),
        });
    }
    let ntt = match r.u8()? {
        0 => false,
        1 => true,
        x => {
            return Err(CkksError::Malformed {
                reason: format!("NTT flag {x}"),
            });
        }
    };
    let n = ctx.n();
    let data = r.u64s(n * (level + 1 + special))?;
    for (limb, &i) in data.chunks_exact(n).zip(&ctx.prime_indices(level, special)) {
        let q = ctx.moduli()[i].value();
        if let Some(&bad) = limb.iter().find(|&&x| x >= q) {
            return Err(CkksError::Malformed {
                reason: format!("residue {bad} ≥ prime {q}"),
            });
        }
    }
    Ok(RnsPoly {
        n,
        level,
        special,
        ntt,
        data,
    })
}

fn read_scale(r: &mut Reader<'_>) -> Result<f64> {
    let s = r.f64()?;
    if !(s.is_finite() && s > 0.0) {
        return Err(CkksError::Malformed {
            reason: format!("scale {s}"),
        });
    }
    Ok(s)
}

impl Serializable for Plaintext {
    const TAG: TypeTag = TypeTag::Plaintext;
    fn write_payload(&self, _ctx: &Context, w: &mut Writer) {
        w.f64(self.scale);
        write_poly(&self.poly, w);
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let scale = read_scale(r)?;
        let poly = read_poly(ctx, r, Some(0))?;
        Ok(Self { poly, scale })
    }
}

impl Serializable for Ciphertext {
    const TAG: TypeTag = TypeTag::Ciphertext;
    fn write_payload(&self, _ctx: &Context, w: &mut Writer) {
        w.f64(self.scale);
        w.u32(self.polys.len() as u32);
        for p in &self.polys {
            write_poly(p, w);
        }
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let scale = read_scale(r)?;
        let k = r.count("ciphertext polynomials", 3)?;
        if k < 2 {
            return Err(CkksError::Malformed {
                reason: format!("{k} ciphertext polynomials"),
            });
        }
        let polys = (0..k)
            .map(|_| read_poly(ctx, r, Some(0)))
            .collect::<Result<Vec<_>>>()?;
        if polys.iter().any(|p| p.level != polys[0].level || !p.ntt) {
            return Err(CkksError::Malformed {
                reason: "inconsistent ciphertext polynomials".into(),
            });
        }
        Ok(Self { polys, scale })
    }
}

impl Serializable for PublicKey {
    const TAG: TypeTag = TypeTag::PublicKey;
    /// Stores `b` and the seed of `a` (half the size).
    fn write_payload(&self, _ctx: &Context, w: &mut Writer) {
        w.bytes(&self.seed);
        write_poly(&self.b, w);
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let seed = r.array32()?;
        let b = read_poly(ctx, r, Some(ctx.num_special()))?;
        if b.level != ctx.max_level() || !b.ntt {
            return Err(CkksError::Malformed {
                reason: "public key not at the top level".into(),
            });
        }
        let a = crate::sampling::uniform_from_seed(ctx, &seed, 0, b.level, b.special);
        Ok(Self { b, a, seed })
    }
}

impl Serializable for SwitchingKey {
    const TAG: TypeTag = TypeTag::SwitchingKey;
    /// Stores the `b_j` and one seed for all `a_j` (half the size).
    fn write_payload(&self, _ctx: &Context, w: &mut Writer) {
        w.u32(self.level as u32);
        w.bytes(&self.seed);
        w.u32(self.digits.len() as u32);
        for (b, _) in &self.digits {
            write_poly(b, w);
        }
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let level = r.count("key level", ctx.max_level())?;
        let seed = r.array32()?;
        let expected = (level + 1).div_ceil(ctx.params().alpha());
        let nd = r.count("key digits", expected)?;
        if nd != expected {
            return Err(CkksError::Malformed {
                reason: format!("{nd} digits, expected {expected}"),
            });
        }
        let k = ctx.num_special();
        let mut digits = Vec::with_capacity(nd);
        for j in 0..nd {
            let b = read_poly(ctx, r, Some(k))?;
            if b.level != level || !b.ntt {
                return Err(CkksError::Malformed {
                    reason: "key digit shape".into(),
                });
            }
            digits.push((
                b,
                crate::sampling::uniform_from_seed(ctx, &seed, j as u64, level, k),
            ));
        }
        Ok(Self {
            level,
            digits,
            seed,
        })
    }
}

impl Serializable for GaloisKey {
    const TAG: TypeTag = TypeTag::GaloisKey;
    fn write_payload(&self, ctx: &Context, w: &mut Writer) {
        w.u64(self.galois as u64);
        self.key.write_payload(ctx, w);
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let g = r.u64()? as usize;
        if g.is_multiple_of(2) || g >= 2 * ctx.n() {
            return Err(CkksError::Malformed {
                reason: format!("Galois element {g}"),
            });
        }
        let key = SwitchingKey::read_payload(ctx, r)?;
        Ok(Self {
            galois: g,
            key,
            perm: Arc::new(ctx.order().galois_permutation(g)),
        })
    }
}

impl Serializable for EvaluationKeys {
    const TAG: TypeTag = TypeTag::EvaluationKeys;
    fn write_payload(&self, ctx: &Context, w: &mut Writer) {
        match &self.relin {
            Some(k) => {
                w.u8(1);
                k.write_payload(ctx, w);
            }
            None => w.u8(0),
        }
        w.u32(self.galois.len() as u32);
        for k in self.galois.values() {
            k.write_payload(ctx, w);
        }
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let mut keys = EvaluationKeys::default();
        match r.u8()? {
            0 => {}
            1 => keys.relin = Some(SwitchingKey::read_payload(ctx, r)?),
            x => {
                return Err(CkksError::Malformed {
                    reason: format!("relin flag {x}"),
                });
            }
        }
        let count = r.count("Galois keys", ctx.n())?;
        for _ in 0..count {
            let k = GaloisKey::read_payload(ctx, r)?;
            if keys.galois.contains_key(&k.galois) {
                return Err(CkksError::Malformed {
                    reason: format!("duplicate Galois element {}", k.galois),
                });
            }
            keys.insert_galois(k);
        }
        Ok(keys)
    }
}

impl Serializable for SecretKey {
    const TAG: TypeTag = TypeTag::SecretKey;
    /// One byte per ternary coefficient (0, 1, 2 for −1, 0, 1).
    fn write_payload(&self, _ctx: &Context, w: &mut Writer) {
        for &c in &self.coeffs {
            w.u8((c + 1) as u8);
        }
    }
    fn read_payload(ctx: &Arc<Context>, r: &mut Reader<'_>) -> Result<Self> {
        let raw = r.take(ctx.n())?;
        let mut coeffs = Vec::with_capacity(ctx.n());
        for &b in raw {
            if b > 2 {
                return Err(CkksError::Malformed {
                    reason: format!("secret coefficient byte {b}"),
                });
            }
            coeffs.push(b as i64 - 1);
        }
        let mut ntt = ctx.poly_from_signed(&coeffs, ctx.max_level(), ctx.num_special());
        ctx.to_ntt(&mut ntt);
        Ok(SecretKey { coeffs, ntt })
    }
}

#[cfg(test)]
mod tag_registry_tests {
    use super::TypeTag;

    #[test]
    fn every_tag_is_named_once_and_round_trips() {
        let mut values: Vec<u16> = TypeTag::ALL.iter().map(|t| *t as u16).collect();
        let n = values.len();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), n, "two kinds share a tag");
        for t in TypeTag::ALL {
            assert_eq!(TypeTag::from_u16(t as u16), Some(t));
        }
        assert_eq!(TypeTag::from_u16(0), None);
        assert_eq!(TypeTag::Plan as u16, 37);
        assert_eq!(TypeTag::SecretKeyFile as u16, 32);
    }
}
