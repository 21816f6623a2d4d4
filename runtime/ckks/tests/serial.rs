//! Serialization: round trips of every object type, and every corruption case (truncated,
//! bit-flipped, oversized, wrong type, other parameters) rejected with the right typed error.

// Test helpers outside #[test] functions may panic: they abort the test that called them.
#![allow(clippy::panic)]

use std::sync::Arc;

use henn_ckks::serial::{self, HEADER_LEN, TypeTag, from_bytes, to_bytes};
use henn_ckks::{
    Ciphertext, CkksError, Complex64, Context, Decryptor, Encoder, Encryptor, EvaluationKeys,
    Evaluator, GaloisKey, KeyGenerator, Params, Plaintext, PublicKey, SecretKey, SwitchingKey,
};
use proptest::prelude::*;

fn ctx(levels: usize) -> Arc<Context> {
    let p = Params::insecure_toy_for_tests(10, 50, 40, levels, 2).unwrap_or_else(|e| panic!("{e}"));
    Context::new(p).unwrap_or_else(|e| panic!("{e}"))
}

fn ok<T>(r: Result<T, CkksError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

struct Objects {
    ctx: Arc<Context>,
    sk_bytes: Vec<u8>,
    pk: PublicKey,
    keys: EvaluationKeys,
    pt: Plaintext,
    ct: Ciphertext,
    values: Vec<Complex64>,
}

fn objects() -> Objects {
    let ctx = ctx(3);
    let mut kg = KeyGenerator::insecure_from_seed_for_tests(&ctx, 1);
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let keys = ok(kg.gen_evaluation_keys(&sk, &[1, 3], true, None));
    let enc = Encoder::new(&ctx);
    let values: Vec<Complex64> = (0..ctx.slots())
        .map(|i| Complex64::new((i as f64 * 0.37).sin(), 0.25))
        .collect();
    let pt = ok(enc.encode(&values, 3, (40f64).exp2()));
    let ct = Encryptor::insecure_from_seed_for_tests(&ctx, pk.clone(), 2).encrypt(&pt);
    Objects {
        sk_bytes: to_bytes(&ctx, &sk),
        ctx,
        pk,
        keys,
        pt,
        ct,
        values,
    }
}

#[test]
fn round_trips_of_every_type() {
    let o = objects();
    let ctx = &o.ctx;
    // Params: the loaded set equals the original and hashes the same.
    let pb = ctx.params().to_bytes();
    assert_eq!(&ok(Params::from_bytes(&pb)), ctx.params());

    assert_eq!(
        ok(from_bytes::<Plaintext>(ctx, &to_bytes(ctx, &o.pt))),
        o.pt
    );
    assert_eq!(
        ok(from_bytes::<Ciphertext>(ctx, &to_bytes(ctx, &o.ct))),
        o.ct
    );
    assert_eq!(
        ok(from_bytes::<PublicKey>(ctx, &to_bytes(ctx, &o.pk))),
        o.pk
    );
    let relin = o
        .keys
        .relin()
        .cloned()
        .unwrap_or_else(|| panic!("relin key"));
    let rb = to_bytes(ctx, &relin);
    assert_eq!(ok(from_bytes::<SwitchingKey>(ctx, &rb)), relin);
    // Seeded storage: the uniform halves are not in the file.
    assert!(
        rb.len() < relin.byte_size() / 2 + 1024,
        "{} vs {}",
        rb.len(),
        relin.byte_size()
    );
    let g = o.keys.galois_elements().next().unwrap_or(0);
    let gk = o
        .keys
        .galois_key(g)
        .cloned()
        .unwrap_or_else(|| panic!("galois key"));
    assert_eq!(ok(from_bytes::<GaloisKey>(ctx, &to_bytes(ctx, &gk))), gk);

    // Loaded keys still work: decrypt with the loaded secret key, rotate with loaded keys.
    let sk: SecretKey = ok(from_bytes(ctx, &o.sk_bytes));
    let keys: EvaluationKeys = ok(from_bytes(ctx, &to_bytes(ctx, &o.keys)));
    let ev = Evaluator::new(ctx, &keys);
    let rot = ok(ev.rotate(&o.ct, 3));
    let dec = Decryptor::new(ctx, sk);
    let got = Encoder::new(ctx).decode(&dec.decrypt(&rot));
    let slots = ctx.slots();
    for (j, g) in got.iter().enumerate() {
        assert!((g - o.values[(j + 3) % slots]).norm() < 1e-5);
    }
}

#[test]
fn every_corruption_is_a_typed_error() {
    let o = objects();
    let ctx = &o.ctx;
    let bytes = to_bytes(ctx, &o.ct);

    // Truncated anywhere.
    for cut in [
        0,
        3,
        HEADER_LEN - 1,
        HEADER_LEN,
        HEADER_LEN + 100,
        bytes.len() - 1,
    ] {
        let r = from_bytes::<Ciphertext>(ctx, &bytes[..cut]);
        assert!(
            matches!(r, Err(CkksError::Truncated { .. })),
            "cut {cut}: {r:?}"
        );
    }
    // Bit flips: header fields get their own errors, everything else the checksum.
    let flip = |pos: usize| {
        let mut b = bytes.clone();
        b[pos] ^= 0x10;
        from_bytes::<Ciphertext>(ctx, &b)
    };
    assert!(matches!(flip(0), Err(CkksError::BadMagic)));
    assert!(matches!(
        flip(4),
        Err(CkksError::UnsupportedVersion {
            found: 17,
            supported: 1
        })
    ));
    assert!(matches!(
        flip(6),
        Err(CkksError::WrongType {
            expected: 3,
            found: 19
        })
    ));
    for pos in [8, 39, HEADER_LEN + 5, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(flip(pos), Err(CkksError::ChecksumMismatch)),
            "flip at {pos}"
        );
    }
    // Oversized: a declared length above the limit is refused before allocating.
    let mut big = bytes.clone();
    big[40..48].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(matches!(
        from_bytes::<Ciphertext>(ctx, &big),
        Err(CkksError::TooLarge { .. })
    ));
    // Trailing garbage.
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        from_bytes::<Ciphertext>(ctx, &long),
        Err(CkksError::Malformed { .. })
    ));
    // Wrong type: a plaintext file read as a ciphertext.
    let ptb = to_bytes(ctx, &o.pt);
    assert!(matches!(
        from_bytes::<Ciphertext>(ctx, &ptb),
        Err(CkksError::WrongType {
            expected: 3,
            found: 2
        })
    ));
    // Other parameters: intact file, different context.
    let other = self::ctx(4);
    assert!(matches!(
        from_bytes::<Ciphertext>(&other, &bytes),
        Err(CkksError::ParamsMismatch)
    ));
    assert!(matches!(
        from_bytes::<SecretKey>(&other, &o.sk_bytes),
        Err(CkksError::ParamsMismatch)
    ));
    // A structurally invalid payload behind a valid envelope: residue ≥ prime.
    let mut w = serial::Writer::default();
    w.f64(1e12);
    w.u32(2);
    for _ in 0..2 {
        w.u32(0);
        w.u32(0);
        w.u8(1);
        w.u64s(&vec![u64::MAX; ctx.n()]);
    }
    let forged = serial::seal_envelope(TypeTag::Ciphertext as u16, ctx.hash(), &w.buf);
    assert!(matches!(
        from_bytes::<Ciphertext>(ctx, &forged),
        Err(CkksError::Malformed { .. })
    ));
    // Params files: corrupted and insecure-but-claimed-secure are refused.
    let mut pb = ctx.params().to_bytes();
    let last = pb.len() - 1;
    pb[last] ^= 1;
    assert!(matches!(
        Params::from_bytes(&pb),
        Err(CkksError::ChecksumMismatch)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Arbitrary truncation plus an arbitrary bit flip never panics and never loads.
    #[test]
    fn random_damage_never_panics(cut in 0usize..2000, pos in 0usize..1_000_000, bit in 0u8..8) {
        let c = ctx(1);
        let z = vec![Complex64::new(0.5, 0.0); 4];
        let pt = ok(Encoder::new(&c).encode(&z, 1, 1e9));
        let bytes = to_bytes(&c, &pt);
        let mut b = bytes[..bytes.len().saturating_sub(cut)].to_vec();
        if !b.is_empty() {
            let p = pos % b.len();
            b[p] ^= 1 << bit;
        }
        prop_assert!(from_bytes::<Plaintext>(&c, &b).is_err());
    }
}
