//! Owner/server files: round trips, and every mismatch or corruption rejected with its reason.
//! A deterministic corrupt-file suite (the stable counterpart of the cargo-fuzz targets in
//! `fuzz/`): truncation at every record boundary and inside every record, bit flips, swaps between
//! two key sets, crafted checksummed records (wrong index, duplicates, extra records, bad end
//! marker), trailing bytes, old format versions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::sync::Arc;

use henn_ckks::serial::{TypeTag, seal_envelope};
use henn_ckks::{Context, Encoder, Encryptor, KeyGenerator, Params, PublicKey, SecretKey};
use henn_data::Overwrite;
use henn_owner::secret::{load_secret_key, save_secret_key};
use henn_runtime::files::*;

const PLAN: [u8; 32] = [7u8; 32];

fn setup() -> (Arc<Context>, KeyGenerator) {
    let params = Params::insecure_toy_for_tests(11, 50, 40, 3, 2).unwrap();
    let ctx = Context::new(params).unwrap();
    let kg = KeyGenerator::new(&ctx).unwrap();
    (ctx, kg)
}

/// One key generation's files in `dir` under `tag`.
struct KeySet {
    binding: Binding,
    sk: SecretKey,
    pk: PublicKey,
    secret: PathBuf,
    eval: PathBuf,
    public: PathBuf,
}

fn key_set(ctx: &Arc<Context>, kg: &mut KeyGenerator, dir: &Path, tag: &str) -> KeySet {
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let ek = ServerKeys {
        eval: kg.gen_evaluation_keys(&sk, &[1, 4], false, None).unwrap(),
        ..ServerKeys::default()
    };
    let secret = dir.join(format!("sk-{tag}.hkey"));
    let eval = dir.join(format!("keys-{tag}.hkeys"));
    let public = dir.join(format!("pk-{tag}.hpub"));
    let binding = Binding::new(&PLAN, KeySetId::random(&secret).unwrap());
    save_secret_key(ctx, &binding, &sk, &pk, &secret, Overwrite::NotSecret).unwrap();
    save_eval_keys(ctx, &binding, &ek, &eval).unwrap();
    save_public_key(ctx, &binding, &pk, &public).unwrap();
    KeySet {
        binding,
        sk,
        pk,
        secret,
        eval,
        public,
    }
}

/// A training-data bundle of `n` ciphertexts under `keys`.
fn bundle(ctx: &Arc<Context>, keys: &KeySet, n: u64, path: &Path) {
    let enc = Encoder::new(ctx);
    let mut encryptor = Encryptor::new(ctx, keys.pk.clone()).unwrap();
    let mut w =
        BundleWriter::create(ctx, &keys.binding, BundleKind::TrainingData, n, path).unwrap();
    for i in 0..n {
        let pt = enc
            .encode_real(&[i as f64; 4], ctx.max_level(), 2f64.powi(40))
            .unwrap();
        w.push(i, &format!("X.{i}"), &encryptor.encrypt(&pt))
            .unwrap();
    }
    w.finish().unwrap();
}

/// The byte offsets where each envelope of a stream file starts, and the file's length.
fn boundaries(bytes: &[u8]) -> Vec<usize> {
    let mut at = 0;
    let mut out = vec![0];
    while at < bytes.len() {
        let len = u64::from_le_bytes(bytes[at + 40..at + 48].try_into().unwrap()) as usize;
        at += 48 + len + 32;
        out.push(at);
    }
    out
}

fn read_bundle(ctx: &Arc<Context>, path: &Path) -> Result<u64, FileError> {
    let mut r = BundleReader::open(ctx, &PLAN, path)?;
    let mut n = 0;
    while r.next_record()?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn keys_round_trip_and_bind_to_their_plan_and_key_set() {
    let (ctx, mut kg) = setup();
    let dir = tempfile::tempdir().unwrap();
    let a = key_set(&ctx, &mut kg, dir.path(), "a");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&a.secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret key file must be owner-only");
    }
    let owner = load_secret_key(&ctx, &PLAN, &a.secret).unwrap();
    assert_eq!(owner.key_set, a.binding.keys);
    let (loaded, id) = load_eval_keys(&ctx, &PLAN, &a.eval).unwrap();
    assert_eq!(id, a.binding.keys);
    assert_eq!(loaded.eval.galois_elements().count(), 2);
    assert!(loaded.eval.relin().is_some());
    assert_eq!(load_public_key(&ctx, &PLAN, &a.public).unwrap().1, id);
    // Another plan's keys.
    assert!(matches!(
        load_eval_keys(&ctx, &[2u8; 32], &a.eval),
        Err(FileError::WrongPlan { .. })
    ));
    // The server is handed the secret key by mistake.
    assert!(matches!(
        load_eval_keys(&ctx, &PLAN, &a.secret),
        Err(FileError::SecretKeyMaterial { .. })
    ));
    // A public-key loader handed evaluation keys.
    assert!(matches!(
        load_public_key(&ctx, &PLAN, &a.eval),
        Err(FileError::WrongKind { .. })
    ));
    // Other parameters.
    let other = Context::new(Params::insecure_toy_for_tests(11, 50, 40, 4, 2).unwrap()).unwrap();
    assert!(matches!(
        load_eval_keys(&other, &PLAN, &a.eval),
        Err(FileError::Format { .. })
    ));
    // A secret key is never overwritten by accident.
    let again = save_secret_key(
        &ctx,
        &a.binding,
        &a.sk,
        &a.pk,
        &a.secret,
        Overwrite::NotSecret,
    );
    assert!(again.is_err());
    save_secret_key(&ctx, &a.binding, &a.sk, &a.pk, &a.secret, Overwrite::Secret).unwrap();
}

#[test]
fn a_secret_key_header_is_refused_before_its_body_is_read() {
    let (ctx, _) = setup();
    let dir = tempfile::tempdir().unwrap();
    // Only the eight bytes of a secret-key file's header: a loader that read on would say
    // "truncated"; every server-side loader says what the file is.
    let mut head = b"HENN".to_vec();
    head.extend_from_slice(&2u16.to_le_bytes());
    head.extend_from_slice(&(TypeTag::SecretKeyFile as u16).to_le_bytes());
    let p = write(dir.path(), "sk", &head);
    assert!(matches!(
        load_eval_keys(&ctx, &PLAN, &p),
        Err(FileError::SecretKeyMaterial { .. })
    ));
    assert!(matches!(
        BundleReader::open(&ctx, &PLAN, &p),
        Err(FileError::SecretKeyMaterial { .. })
    ));
    assert!(matches!(
        load_public_key(&ctx, &PLAN, &p),
        Err(FileError::SecretKeyMaterial { .. })
    ));
    // Empty and foreign files say so.
    let empty = write(dir.path(), "empty", b"");
    let e = load_eval_keys(&ctx, &PLAN, &empty).unwrap_err();
    assert!(e.to_string().contains("is empty"), "{e}");
    let text = write(dir.path(), "text", b"label,f1\n");
    let e = load_eval_keys(&ctx, &PLAN, &text).unwrap_err();
    assert!(e.to_string().contains("not a henn file"), "{e}");
}

#[test]
fn files_of_two_key_generations_never_mix() {
    let (ctx, mut kg) = setup();
    let dir = tempfile::tempdir().unwrap();
    let a = key_set(&ctx, &mut kg, dir.path(), "a");
    let b = key_set(&ctx, &mut kg, dir.path(), "b");
    let data_a = dir.path().join("a.hct");
    bundle(&ctx, &a, 3, &data_a);
    let r = BundleReader::open(&ctx, &PLAN, &data_a).unwrap();
    let (_, keys_b) = load_eval_keys(&ctx, &PLAN, &b.eval).unwrap();
    let err = same_key_set((&b.eval, keys_b), (&data_a, r.key_set())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("keys-b.hkeys") && msg.contains("a.hct") && msg.contains("key generations"),
        "{msg}"
    );
    // A record of key set B spliced into A's bundle (same plan, same position): refused.
    let data_b = dir.path().join("b.hct");
    bundle(&ctx, &b, 3, &data_b);
    let (ba, bb) = (
        std::fs::read(&data_a).unwrap(),
        std::fs::read(&data_b).unwrap(),
    );
    let (ca, cb) = (boundaries(&ba), boundaries(&bb));
    for rec in 1..=3 {
        let mut mixed = ba[..ca[rec]].to_vec();
        mixed.extend_from_slice(&bb[cb[rec]..cb[rec + 1]]);
        mixed.extend_from_slice(&ba[ca[rec + 1]..]);
        let p = write(dir.path(), "mixed.hct", &mixed);
        assert!(
            matches!(read_bundle(&ctx, &p), Err(FileError::Spliced { .. })),
            "record {rec}"
        );
    }
    // Two bundles of one key set do not mix either (each stream has its own id).
    let data_a2 = dir.path().join("a2.hct");
    bundle(&ctx, &a, 3, &data_a2);
    let b2 = std::fs::read(&data_a2).unwrap();
    let mut mixed = ba[..ca[2]].to_vec();
    mixed.extend_from_slice(&b2[ca[2]..]);
    let p = write(dir.path(), "mixed2.hct", &mixed);
    assert!(matches!(
        read_bundle(&ctx, &p),
        Err(FileError::Spliced { .. })
    ));
}

#[test]
fn truncation_at_every_boundary_and_inside_every_record_is_refused() {
    let (ctx, mut kg) = setup();
    let dir = tempfile::tempdir().unwrap();
    let a = key_set(&ctx, &mut kg, dir.path(), "a");
    let data = dir.path().join("a.hct");
    bundle(&ctx, &a, 3, &data);
    assert_eq!(read_bundle(&ctx, &data).unwrap(), 3);
    for path in [&data, &a.eval] {
        let bytes = std::fs::read(path).unwrap();
        let cuts = boundaries(&bytes);
        assert_eq!(*cuts.last().unwrap(), bytes.len());
        for w in cuts.windows(2) {
            for cut in [w[0], w[0] + 1, w[0] + 47, (w[0] + w[1]) / 2, w[1] - 1] {
                let p = write(dir.path(), "cut", &bytes[..cut]);
                let result = if path == &data {
                    read_bundle(&ctx, &p).map(|_| ())
                } else {
                    load_eval_keys(&ctx, &PLAN, &p).map(|_| ())
                };
                assert!(result.is_err(), "{}: cut at {cut} accepted", path.display());
            }
        }
    }
}

#[test]
fn bit_flips_and_trailing_bytes_are_refused() {
    let (ctx, mut kg) = setup();
    let dir = tempfile::tempdir().unwrap();
    let a = key_set(&ctx, &mut kg, dir.path(), "a");
    let data = dir.path().join("a.hct");
    bundle(&ctx, &a, 2, &data);
    for path in [&data, &a.eval, &a.public, &a.secret] {
        let bytes = std::fs::read(path).unwrap();
        let load = |p: &Path| -> Result<(), FileError> {
            if path == &data {
                read_bundle(&ctx, p).map(|_| ())
            } else if path == &a.eval {
                load_eval_keys(&ctx, &PLAN, p).map(|_| ())
            } else if path == &a.public {
                load_public_key(&ctx, &PLAN, p).map(|_| ())
            } else {
                load_secret_key(&ctx, &PLAN, p).map(|_| ())
            }
        };
        // A flipped bit in 150 bytes spread over the file, and in every header byte of the
        // first envelope.
        let positions = (0..bytes.len()).step_by(bytes.len() / 150 + 1).chain(0..48);
        for at in positions {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1 << (at % 8);
            let p = write(dir.path(), "flip", &flipped);
            assert!(
                load(&p).is_err(),
                "{}: flip at {at} accepted",
                path.display()
            );
        }
        for extra in [&b"\0"[..], b"HENN", &bytes[..64]] {
            let mut longer = bytes.clone();
            longer.extend_from_slice(extra);
            let p = write(dir.path(), "long", &longer);
            assert!(
                load(&p).is_err(),
                "{}: trailing bytes accepted",
                path.display()
            );
        }
    }
}

/// Re-seal a stream envelope with its payload edited by `edit` (a valid checksum: what an
/// attacker who knows the format can craft).
fn reseal(bytes: &[u8], ctx: &Context, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let tag = u16::from_le_bytes([bytes[6], bytes[7]]);
    let mut payload = bytes[48..bytes.len() - 32].to_vec();
    edit(&mut payload);
    seal_envelope(tag, ctx.hash(), &payload)
}

#[test]
fn crafted_records_with_wrong_index_count_or_end_are_refused() {
    let (ctx, mut kg) = setup();
    let dir = tempfile::tempdir().unwrap();
    let a = key_set(&ctx, &mut kg, dir.path(), "a");
    let data = dir.path().join("a.hct");
    bundle(&ctx, &a, 3, &data);
    let bytes = std::fs::read(&data).unwrap();
    let c = boundaries(&bytes);
    let env = |i: usize| bytes[c[i]..c[i + 1]].to_vec();
    let (header, r0, r1, r2, end) = (env(0), env(1), env(2), env(3), env(4));
    let cat = |parts: &[&[u8]]| parts.concat();
    let refused = |name: &str, file: Vec<u8>| {
        let p = write(dir.path(), name, &file);
        let e = read_bundle(&ctx, &p).expect_err(name);
        e.to_string()
    };
    // Duplicate, reordered, missing, extra records.
    let e = refused("dup", cat(&[&header, &r0, &r1, &r1, &r2, &end]));
    assert!(e.contains("record 1 where record 2 belongs"), "{e}");
    let e = refused("swap", cat(&[&header, &r0, &r2, &r1, &end]));
    assert!(e.contains("record 2 where record 1 belongs"), "{e}");
    let e = refused("missing", cat(&[&header, &r0, &r1, &end]));
    assert!(e.contains("promises 3 records, it holds 2"), "{e}");
    let e = refused("no-end", cat(&[&header, &r0, &r1, &r2]));
    assert!(e.contains("no end marker"), "{e}");
    let e = refused("trailing", cat(&[&header, &r0, &r1, &r2, &end, &end]));
    assert!(e.contains("trailing bytes"), "{e}");
    // A crafted record 3 (correct prefix and index, valid checksum) beyond the count.
    let r3 = reseal(&r2, &ctx, |p| {
        p[80..88].copy_from_slice(&3u64.to_le_bytes())
    });
    let e = refused("extra", cat(&[&header, &r0, &r1, &r2, &r3, &end]));
    assert!(e.contains("promises 3 records"), "{e}");
    // A crafted duplicate: record 1's content under index 2.
    let dup = reseal(&r1, &ctx, |p| {
        p[80..88].copy_from_slice(&2u64.to_le_bytes())
    });
    assert!(
        read_bundle(
            &ctx,
            &write(dir.path(), "d", &cat(&[&header, &r0, &r1, &dup, &end]))
        )
        .is_ok()
    );
    // ...which the bundle format accepts (it is well formed); the server refuses the repeated
    // name (henn-compiler's tests/security.rs) — here the names are X.0, X.1, X.1.
    // A crafted end marker with another count.
    let end4 = reseal(&end, &ctx, |p| {
        p[80..88].copy_from_slice(&4u64.to_le_bytes())
    });
    let e = refused("end4", cat(&[&header, &r0, &r1, &r2, &end4]));
    assert!(e.contains("promises 3 records, it holds 4"), "{e}");
    // A crafted header promising 2: the third record is refused as extra.
    let h2 = reseal(&header, &ctx, |p| {
        let n = p.len();
        p[n - 8..].copy_from_slice(&2u64.to_le_bytes());
    });
    let e = refused("h2", cat(&[&h2, &r0, &r1, &r2, &end]));
    assert!(e.contains("promises 2 records"), "{e}");
}

#[test]
fn files_of_an_older_format_are_refused_with_regenerate() {
    let (ctx, mut kg) = setup();
    let dir = tempfile::tempdir().unwrap();
    let a = key_set(&ctx, &mut kg, dir.path(), "a");
    for path in [&a.eval, &a.secret, &a.public] {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[4..6].copy_from_slice(&1u16.to_le_bytes());
        let p = write(dir.path(), "old", &bytes);
        let e = match path {
            p0 if p0 == &a.eval => load_eval_keys(&ctx, &PLAN, &p).map(|_| ()).unwrap_err(),
            p0 if p0 == &a.secret => load_secret_key(&ctx, &PLAN, &p).map(|_| ()).unwrap_err(),
            _ => load_public_key(&ctx, &PLAN, &p).map(|_| ()).unwrap_err(),
        };
        assert!(e.to_string().contains("regenerate"), "{e}");
    }
}

#[test]
fn the_owner_record_round_trips_and_refuses_every_corruption() {
    use henn_owner::record::{self, OwnerRecord};
    let (ctx, mut kg) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = key_set(&ctx, &mut kg, dir, "a");
    let rec = OwnerRecord {
        scaler: henn_data::Scaler {
            kind: henn_data::ScalingKind::MinMax,
            offset: vec![0.5, -1.0, 3.0],
            factor: vec![2.0, 0.25, 1.0],
        },
        samples: 120,
        steps: 3,
        data: "train.csv".into(),
    };
    let path = record::default_path(&a.secret);
    assert_eq!(path, dir.join("sk-a.owner"));
    record::save(&ctx, &a.binding, &rec, &path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (back, keys) = record::load(&ctx, &PLAN, &path).unwrap();
    assert_eq!(back, rec);
    assert_eq!(keys, a.binding.keys);
    back.check(3, &path).unwrap();
    assert!(back.check(4, &path).is_err());
    // Another plan's record, the server's loaders, other kinds of files.
    assert!(matches!(
        record::load(&ctx, &[8u8; 32], &path),
        Err(FileError::WrongPlan { .. })
    ));
    assert!(matches!(
        load_eval_keys(&ctx, &PLAN, &path),
        Err(FileError::WrongKind { .. })
    ));
    assert!(matches!(
        record::load(&ctx, &PLAN, &a.public),
        Err(FileError::WrongKind { .. })
    ));
    // Every truncation, every bit flip, trailing bytes.
    let bytes = std::fs::read(&path).unwrap();
    for len in 0..bytes.len() {
        let p = write(dir, "cut.owner", &bytes[..len]);
        assert!(record::load(&ctx, &PLAN, &p).is_err(), "cut at {len}");
    }
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        let p = write(dir, "flip.owner", &b);
        assert!(record::load(&ctx, &PLAN, &p).is_err(), "flip at {i}");
    }
    let mut b = bytes.clone();
    b.push(0);
    let p = write(dir, "trail.owner", &b);
    assert!(record::load(&ctx, &PLAN, &p).is_err());
    // A checksummed payload that is not a record.
    let mut w = henn_ckks::serial::Writer::default();
    a.binding.write(&mut w);
    w.u64(4);
    w.bytes(b"null");
    let sealed = seal_envelope(TypeTag::OwnerRecord as u16, ctx.hash(), &w.buf);
    let p = write(dir, "null.owner", &sealed);
    assert!(matches!(
        record::load(&ctx, &PLAN, &p),
        Err(FileError::Content { .. })
    ));
}
