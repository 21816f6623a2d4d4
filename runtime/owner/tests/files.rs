//! Owner/server files: round trips, and every mismatch or corruption rejected with its reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;

use henn_ckks::{Context, Encoder, Encryptor, KeyGenerator, Params};
use henn_owner::secret::{load_secret_key, save_secret_key};
use henn_runtime::files::*;

fn setup() -> (Arc<Context>, KeyGenerator) {
    let params = Params::insecure_toy_for_tests(11, 50, 40, 3, 2).unwrap();
    let ctx = Context::new(params).unwrap();
    let kg = KeyGenerator::new(&ctx).unwrap();
    (ctx, kg)
}

#[test]
fn keys_round_trip_and_bind_to_their_plan() {
    let (ctx, mut kg) = setup();
    let dir = tempfile::tempdir().unwrap();
    let plan_a = [1u8; 32];
    let plan_b = [2u8; 32];
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let ek = ServerKeys {
        eval: kg.gen_evaluation_keys(&sk, &[1, 4], false, None).unwrap(),
        ..ServerKeys::default()
    };
    let (skp, ekp) = (dir.path().join("sk.hkey"), dir.path().join("keys.hkeys"));
    save_secret_key(&ctx, &plan_a, &sk, &pk, &skp).unwrap();
    save_eval_keys(&ctx, &plan_a, &ek, &ekp).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&skp).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret key file must be owner-only");
    }
    load_secret_key(&ctx, &plan_a, &skp).unwrap();
    let loaded = load_eval_keys(&ctx, &plan_a, &ekp).unwrap();
    assert_eq!(
        loaded.eval.galois_elements().count(),
        ek.eval.galois_elements().count()
    );
    assert!(loaded.eval.relin().is_some());
    // Cut after the second of three key records: the count in the header finds it.
    let bytes = std::fs::read(&ekp).unwrap();
    let cut = dir.path().join("cut.hkeys");
    // Envelope boundaries: a 48-byte header whose last 8 bytes are the payload length, the
    // payload, a 32-byte checksum. The file is the header envelope, then one per key.
    let next = |at: usize| {
        let len = u64::from_le_bytes(bytes[at + 40..at + 48].try_into().unwrap()) as usize;
        at + 48 + len + 32
    };
    let third = next(next(next(0)));
    std::fs::write(&cut, &bytes[..third]).unwrap();
    assert!(matches!(
        load_eval_keys(&ctx, &plan_a, &cut),
        Err(FileError::Truncated {
            expected: 3,
            found: 2,
            ..
        })
    ));
    // One flipped bit inside a key record: its checksum names the file.
    let mut flipped = bytes.clone();
    let at = third - 100;
    flipped[at] ^= 1;
    std::fs::write(&cut, &flipped).unwrap();
    assert!(matches!(
        load_eval_keys(&ctx, &plan_a, &cut),
        Err(FileError::Format { .. })
    ));
    // Another plan's keys.
    assert!(matches!(
        load_eval_keys(&ctx, &plan_b, &ekp),
        Err(FileError::WrongPlan { .. })
    ));
    // The server is handed the secret key by mistake.
    assert!(matches!(
        load_eval_keys(&ctx, &plan_a, &skp),
        Err(FileError::SecretKeyMaterial { .. })
    ));
    // A public-key loader handed evaluation keys.
    assert!(matches!(
        load_public_key(&ctx, &plan_a, &ekp),
        Err(FileError::WrongKind { .. })
    ));
    // Other parameters.
    let other = Context::new(Params::insecure_toy_for_tests(11, 50, 40, 4, 2).unwrap()).unwrap();
    assert!(matches!(
        load_eval_keys(&other, &plan_a, &ekp),
        Err(FileError::Format { .. })
    ));
}

#[test]
fn bundles_stream_and_reject_corruption() {
    let (ctx, mut kg) = setup();
    let dir = tempfile::tempdir().unwrap();
    let plan = [7u8; 32];
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let enc = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, pk).unwrap();
    let path = dir.path().join("data.hct");
    let mut w = BundleWriter::create(&ctx, &plan, BundleKind::TrainingData, 3, &path).unwrap();
    for i in 0..3u64 {
        let pt = enc
            .encode_real(&[i as f64; 4], ctx.max_level(), 2f64.powi(40))
            .unwrap();
        w.push(i, &format!("X.{i}"), &encryptor.encrypt(&pt))
            .unwrap();
    }
    w.finish().unwrap();
    let mut r = BundleReader::open(&ctx, &plan, &path).unwrap();
    assert_eq!(r.kind, BundleKind::TrainingData);
    let mut names = Vec::new();
    while let Some((step, name, ct)) = r.next_record().unwrap() {
        assert_eq!(ct.level(), ctx.max_level());
        names.push((step, name));
    }
    assert_eq!(
        names,
        vec![(0, "X.0".into()), (1, "X.1".into()), (2, "X.2".into())]
    );

    let bytes = std::fs::read(&path).unwrap();
    // Truncated in the middle of a record.
    let cut = dir.path().join("cut.hct");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let mut r = BundleReader::open(&ctx, &plan, &cut).unwrap();
    let mut err = None;
    for _ in 0..3 {
        match r.next_record() {
            Ok(_) => {}
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert!(matches!(err, Some(FileError::Format { .. })), "{err:?}");
    // A whole record missing.
    let short = dir.path().join("short.hct");
    // Header envelope: 48-byte header, plan hash, kind, count, checksum; records are equal-sized.
    let header_len = 48 + 32 + 1 + 8 + 32;
    let rec = (bytes.len() - header_len) / 3;
    std::fs::write(&short, &bytes[..header_len + 2 * rec]).unwrap();
    let mut r = BundleReader::open(&ctx, &plan, &short).unwrap();
    r.next_record().unwrap();
    r.next_record().unwrap();
    assert!(matches!(
        r.next_record(),
        Err(FileError::Truncated {
            expected: 3,
            found: 2,
            ..
        })
    ));
    // A flipped bit.
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 1;
    let bad = dir.path().join("flip.hct");
    std::fs::write(&bad, &flipped).unwrap();
    let mut r = BundleReader::open(&ctx, &plan, &bad).unwrap();
    let mut failed = false;
    for _ in 0..3 {
        if r.next_record().is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "a flipped bit must be detected");
    // Another plan.
    assert!(matches!(
        BundleReader::open(&ctx, &[8u8; 32], &path),
        Err(FileError::WrongPlan { .. })
    ));
}
