//! Every operation against an f64/complex reference on random inputs, asserting bits of
//! precision (−log2 of the max and of the mean absolute error over all slots). Toy ring sizes
//! via the explicitly insecure constructor, so the whole file runs in about a second.

// Test helpers outside #[test] functions may panic: they abort the test that called them.
#![allow(clippy::panic)]

use std::sync::Arc;

use henn_ckks::{
    Ciphertext, CkksError, Complex64, Context, Decryptor, Encoder, Encryptor, EvaluationKeys,
    Evaluator, KeyGenerator, Params,
};

struct Fixture {
    ctx: Arc<Context>,
    enc: Encoder,
    encryptor: Encryptor,
    dec: Decryptor,
    keys: EvaluationKeys,
    rng: u64,
}

const ROTATIONS: [i64; 5] = [1, 2, 5, -1, 100];

fn fixture(log_n: u32, scale_bits: u32, levels: usize, dnum: usize) -> Fixture {
    let params = Params::insecure_toy_for_tests(log_n, 60, scale_bits, levels, dnum)
        .unwrap_or_else(|e| panic!("{e}"));
    let ctx = Context::new(params).unwrap_or_else(|e| panic!("{e}"));
    let mut kg = KeyGenerator::insecure_from_seed_for_tests(&ctx, 11);
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let keys = kg
        .gen_evaluation_keys(&sk, &ROTATIONS, true, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let encryptor = Encryptor::insecure_from_seed_for_tests(&ctx, pk, 12);
    Fixture {
        enc: Encoder::new(&ctx),
        dec: Decryptor::new(&ctx, sk),
        ctx,
        encryptor,
        keys,
        rng: 99,
    }
}

impl Fixture {
    fn uniform(&mut self) -> f64 {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.rng >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn random_complex(&mut self) -> Vec<Complex64> {
        (0..self.ctx.slots())
            .map(|_| Complex64::new(self.uniform(), self.uniform()))
            .collect()
    }
    fn random_real(&mut self) -> Vec<Complex64> {
        (0..self.ctx.slots())
            .map(|_| Complex64::new(self.uniform(), 0.0))
            .collect()
    }
    fn encrypt(&mut self, z: &[Complex64]) -> Ciphertext {
        let level = self.ctx.max_level();
        let pt = self.enc.encode(z, level, self.ctx.params().default_scale());
        self.encryptor
            .encrypt(&pt.unwrap_or_else(|e| panic!("{e}")))
    }
    fn decrypt(&self, ct: &Ciphertext) -> Vec<Complex64> {
        self.enc.decode(&self.dec.decrypt(ct))
    }
}

/// (max-error bits, mean-error bits)
fn precision(got: &[Complex64], want: &[Complex64]) -> (f64, f64) {
    assert_eq!(got.len(), want.len());
    let errs: Vec<f64> = got.iter().zip(want).map(|(a, b)| (a - b).norm()).collect();
    let max = errs.iter().cloned().fold(0.0, f64::max);
    let mean = errs.iter().sum::<f64>() / errs.len() as f64;
    (-max.log2(), -mean.log2())
}

fn assert_bits(what: &str, got: &[Complex64], want: &[Complex64], min_max_bits: f64) {
    let (max_bits, mean_bits) = precision(got, want);
    eprintln!("{what}: max-error bits {max_bits:.1}, mean-error bits {mean_bits:.1}");
    assert!(
        max_bits >= min_max_bits && mean_bits >= min_max_bits,
        "{what}: max-error bits {max_bits:.1}, mean-error bits {mean_bits:.1} < {min_max_bits}"
    );
}

fn ok<T>(r: Result<T, CkksError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn encode_decode_precision_at_2_40() {
    let mut f = fixture(11, 40, 3, 2);
    let z = f.random_complex();
    for level in [0, f.ctx.max_level()] {
        let pt = ok(f.enc.encode(&z, level, (40f64).exp2()));
        assert_bits("encode/decode", &f.enc.decode(&pt), &z, 30.0);
    }
    // Encryption adds fresh noise (only the rounding of the division by P) but keeps ≥ 27 bits.
    let ct = f.encrypt(&z);
    assert_bits("encrypt/decrypt", &f.decrypt(&ct), &z, 27.0);
}

#[test]
fn decoding_is_exact_beyond_one_prime() {
    // Scale 2^100 over a chain of 60 + 3·40 bits: coefficients exceed q_0 and q_0·q_1.
    let f = fixture(10, 40, 3, 2);
    let z: Vec<Complex64> = (0..f.ctx.slots())
        .map(|i| Complex64::new((i as f64).sin(), -0.5))
        .collect();
    let pt = ok(f.enc.encode(&z, 3, (100f64).exp2()));
    assert_bits("big-scale decode", &f.enc.decode(&pt), &z, 40.0);
}

#[test]
fn additive_operations() {
    let mut f = fixture(11, 40, 3, 2);
    let (ctx, keys) = (f.ctx.clone(), f.keys.clone());
    let ev = Evaluator::new(&ctx, &keys);
    let (x, y) = (f.random_complex(), f.random_complex());
    let (cx, cy) = (f.encrypt(&x), f.encrypt(&y));
    let sum: Vec<_> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
    let diff: Vec<_> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
    assert_bits("add", &f.decrypt(&ok(ev.add(&cx, &cy))), &sum, 24.0);
    assert_bits("sub", &f.decrypt(&ok(ev.sub(&cx, &cy))), &diff, 24.0);
    let neg: Vec<_> = x.iter().map(|a| -a).collect();
    assert_bits("negate", &f.decrypt(&ev.negate(&cx)), &neg, 24.0);
    let py = ok(f.enc.encode(&y, cx.level(), cx.scale()));
    assert_bits(
        "add_plain",
        &f.decrypt(&ok(ev.add_plain(&cx, &py))),
        &sum,
        24.0,
    );
    assert_bits(
        "sub_plain",
        &f.decrypt(&ok(ev.sub_plain(&cx, &py))),
        &diff,
        24.0,
    );
    let plus_c: Vec<_> = x.iter().map(|a| a + 0.375).collect();
    assert_bits(
        "add_const",
        &f.decrypt(&ok(ev.add_const(&cx, 0.375))),
        &plus_c,
        24.0,
    );
}

#[test]
fn multiplicative_operations() {
    let mut f = fixture(11, 40, 4, 2);
    let (ctx, keys) = (f.ctx.clone(), f.keys.clone());
    let ev = Evaluator::new(&ctx, &keys);
    let (x, y) = (f.random_complex(), f.random_complex());
    let (cx, cy) = (f.encrypt(&x), f.encrypt(&y));
    let top = cx.level();
    let prod: Vec<_> = x.iter().zip(&y).map(|(a, b)| a * b).collect();

    // ct × ct, relinearize, rescale: ≥ 20 bits at Δ = 2^40 (issue floor).
    let r = ok(ev.rescale(&ok(ev.mul_relin(&cx, &cy))));
    assert_eq!(r.level(), top - 1);
    assert_bits("mul_relin+rescale", &f.decrypt(&r), &prod, 20.0);

    // ct × pt
    let py = ok(f.enc.encode(&y, top, f.ctx.params().default_scale()));
    let r = ok(ev.rescale(&ok(ev.mul_plain(&cx, &py))));
    assert_bits("mul_plain+rescale", &f.decrypt(&r), &prod, 20.0);

    // integer constant: no level, no scale change
    let r = ev.mul_int(&cx, -3);
    assert_eq!((r.level(), r.scale()), (top, cx.scale()));
    let want: Vec<_> = x.iter().map(|a| a * -3.0).collect();
    assert_bits("mul_int", &f.decrypt(&r), &want, 22.0);

    // real constant: after rescale the scale is exactly the input's
    let r = ok(ev.rescale(&ok(ev.mul_const(&cx, 0.6180))));
    assert_eq!(r.scale(), cx.scale());
    let want: Vec<_> = x.iter().map(|a| a * 0.6180).collect();
    assert_bits("mul_const", &f.decrypt(&r), &want, 22.0);

    // degree-2 ciphertexts decrypt too, and add to each other
    let t = ok(ev.mul_no_relin(&cx, &cy));
    assert_eq!(t.degree(), 2);
    let t2 = ok(ev.add(&t, &t));
    let want: Vec<_> = prod.iter().map(|a| a * 2.0).collect();
    assert_bits("tensor+add", &f.decrypt(&ok(ev.rescale(&t2))), &want, 20.0);

    // level drop keeps the message
    let d = ok(ev.drop_to_level(&cx, 1));
    assert_eq!(d.level(), 1);
    assert_bits("drop_to_level", &f.decrypt(&d), &x, 24.0);
}

#[test]
fn rotations_are_cyclic_shifts_and_hoisting_agrees() {
    let mut f = fixture(11, 40, 3, 3);
    let (ctx, keys) = (f.ctx.clone(), f.keys.clone());
    let ev = Evaluator::new(&ctx, &keys);
    let x = f.random_complex();
    let cx = f.encrypt(&x);
    let slots = f.ctx.slots() as i64;
    let hoisted = ok(ev.rotate_many(&cx, &ROTATIONS));
    for (&k, h) in ROTATIONS.iter().zip(&hoisted) {
        let want: Vec<_> = (0..slots)
            .map(|j| x[(j + k).rem_euclid(slots) as usize])
            .collect();
        let plain = ok(ev.rotate(&cx, k));
        assert_bits(&format!("rotate {k}"), &f.decrypt(&plain), &want, 22.0);
        assert_bits(&format!("hoisted rotate {k}"), &f.decrypt(h), &want, 22.0);
        // Same keys, same decomposition: hoisted and plain rotation agree exactly.
        assert_eq!(&plain, h, "hoisted and plain rotation differ for step {k}");
    }
    // Step 0 through the hoisted path gives the input back exactly.
    let h = ok(ev.hoist(&cx));
    assert_eq!(ok(ev.rotate_hoisted(&h, 0)), cx);
    assert_eq!(ok(ev.rotate_hoisted(&h, slots)), cx);
    let conj: Vec<_> = x.iter().map(|a| a.conj()).collect();
    assert_bits("conjugate", &f.decrypt(&ok(ev.conjugate(&cx))), &conj, 22.0);
    // At a lower level too.
    let low = ok(ev.drop_to_level(&cx, 1));
    let want: Vec<_> = (0..slots).map(|j| x[((j + 1) % slots) as usize]).collect();
    assert_bits(
        "rotate at level 1",
        &f.decrypt(&ok(ev.rotate(&low, 1))),
        &want,
        22.0,
    );
    // Missing key is a typed error naming the step.
    match ev.rotate(&cx, 3) {
        Err(CkksError::MissingRotationKey { step: 3, .. }) => {}
        other => panic!("expected MissingRotationKey, got {other:?}"),
    }
}

#[test]
fn long_multiplication_chain_down_the_whole_modulus() {
    // 12 levels at Δ = 2^40: multiply by a fresh ciphertext of values in [0.5, 1] at every
    // level, rescale each time, down to level 0. Stated bound: ≥ 24 bits of max precision
    // (measured 28.4).
    let levels = 12;
    let mut f = fixture(11, 40, levels, 3);
    let (ctx, keys) = (f.ctx.clone(), f.keys.clone());
    let ev = Evaluator::new(&ctx, &keys);
    let x = f.random_real();
    let mut want = x.clone();
    let mut acc = f.encrypt(&x);
    for _ in 0..levels {
        let y: Vec<Complex64> = (0..f.ctx.slots())
            .map(|_| Complex64::new(0.75 + 0.25 * f.uniform(), 0.0))
            .collect();
        let fresh = ok(f.enc.encode(&y, acc.level(), acc.scale()));
        let cy = f.encryptor.encrypt(&fresh);
        acc = ok(ev.rescale(&ok(ev.mul_relin(&acc, &cy))));
        for (w, v) in want.iter_mut().zip(&y) {
            *w *= v;
        }
    }
    assert_eq!(acc.level(), 0);
    let (max_bits, mean_bits) = precision(&f.decrypt(&acc), &want);
    eprintln!("chain of {levels}: max-error bits {max_bits:.1}, mean-error bits {mean_bits:.1}");
    assert!(
        max_bits >= 24.0 && mean_bits >= 26.0,
        "chain: max {max_bits:.1}, mean {mean_bits:.1}"
    );
    // Scale drift stays tiny because the primes alternate around 2^40.
    assert!(
        (acc.scale().log2() - 40.0).abs() < 0.01,
        "scale drifted to 2^{}",
        acc.scale().log2()
    );
    assert!(matches!(ev.rescale(&acc), Err(CkksError::NoLevelLeft)));
}

#[test]
fn mismatches_and_key_levels_are_typed_errors() {
    let mut f = fixture(10, 40, 3, 2);
    let (ctx, keys) = (f.ctx.clone(), f.keys.clone());
    let ev = Evaluator::new(&ctx, &keys);
    let x = f.random_complex();
    let cx = f.encrypt(&x);
    let low = ok(ev.drop_to_level(&cx, 1));
    assert!(matches!(
        ev.add(&cx, &low),
        Err(CkksError::LevelMismatch { left: 3, right: 1 })
    ));
    let mut other = cx.clone();
    other.set_scale(cx.scale() * 2.0);
    assert!(matches!(
        ev.add(&cx, &other),
        Err(CkksError::ScaleMismatch { .. })
    ));
    assert!(matches!(
        f.enc
            .encode(&vec![Complex64::new(0.0, 0.0); f.ctx.slots() + 1], 0, 1e6),
        Err(CkksError::TooManyValues { .. })
    ));
    assert!(matches!(
        f.enc.encode_real(&[f64::NAN], 0, 1e6),
        Err(CkksError::UnencodableValue { .. })
    ));
    // Keys generated only up to level 1 refuse level-3 ciphertexts but work at level 1.
    let mut kg = KeyGenerator::insecure_from_seed_for_tests(&f.ctx, 5);
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let low_keys = ok(kg.gen_evaluation_keys(&sk, &[1], false, Some(1)));
    let ev_low = Evaluator::new(&f.ctx, &low_keys);
    let mut encr = Encryptor::insecure_from_seed_for_tests(&f.ctx, pk, 6);
    let dec = Decryptor::new(&f.ctx, sk);
    let ct = encr.encrypt(&ok(f.enc.encode(&x, 3, (40f64).exp2())));
    assert!(matches!(
        ev_low.mul_relin(&ct, &ct),
        Err(CkksError::KeyLevelTooLow {
            key_level: 1,
            level: 3
        })
    ));
    let ct1 = ok(ev_low.drop_to_level(&ct, 1));
    let sq = ok(ev_low.rescale(&ok(ev_low.mul_relin(&ct1, &ct1))));
    let want: Vec<_> = x.iter().map(|a| a * a).collect();
    assert_bits(
        "low-level key",
        &f.enc.decode(&dec.decrypt(&sq)),
        &want,
        20.0,
    );
    assert!(low_keys.byte_size() < f.keys.relin().map_or(0, |k| k.byte_size()) * 2);
}

#[test]
fn key_switching_adds_no_visible_noise_at_larger_n() {
    // Encryption and key switching both end in a ModDown. With a biased (non-centered) basis
    // conversion both lose ≈ 5 bits of max precision at N = 2^13 (measured 21.4 bits instead
    // of 26.8); centered, fresh ciphertexts keep ≥ 25.5 bits and a rotation adds only its
    // rounding noise: ≤ 1 bit of loss. (dnum 2: the
    // special modulus, 2 × 60 bits, is well above each 100-bit digit, as in real parameter
    // sets; with P ≈ a digit the key-switching noise itself would be visible.)
    let mut f = fixture(13, 40, 3, 2);
    let (ctx, keys) = (f.ctx.clone(), f.keys.clone());
    let ev = Evaluator::new(&ctx, &keys);
    let x = f.random_complex();
    let cx = f.encrypt(&x);
    let (before, _) = precision(&f.decrypt(&cx), &x);
    let slots = ctx.slots();
    let want: Vec<_> = (0..slots).map(|j| x[(j + 1) % slots]).collect();
    let (after, _) = precision(&f.decrypt(&ok(ev.rotate(&cx, 1))), &want);
    eprintln!("fresh {before:.2} bits, rotated {after:.2} bits");
    assert!(
        before >= 25.5,
        "fresh encryption only {before:.2} bits at N = 2^13, Δ = 2^40"
    );
    assert!(
        after >= before - 1.0,
        "rotation lost {:.2} bits ({before:.1} → {after:.1})",
        before - after
    );
    let conj: Vec<_> = x.iter().map(|a| a.conj()).collect();
    let (after_c, _) = precision(&f.decrypt(&ok(ev.conjugate(&cx))), &conj);
    assert!(
        after_c >= before - 1.0,
        "conjugation lost {:.2} bits",
        before - after_c
    );
}

#[test]
fn double_hoisted_rotate_sum_matches_the_naive_sum() {
    let mut f = fixture(11, 40, 3, 3);
    let (ctx, keys) = (f.ctx.clone(), f.keys.clone());
    let ev = Evaluator::new(&ctx, &keys);
    let x = f.random_complex();
    let cx = f.encrypt(&x);
    let slots = ctx.slots();
    let steps = [0i64, 1, 2, 5, -1];
    let weights: Vec<Vec<Complex64>> = steps.iter().map(|_| f.random_complex()).collect();
    let scale = ctx.params().default_scale();
    let pts: Vec<_> = weights
        .iter()
        .map(|w| ok(f.enc.encode_extended(w, cx.level(), scale)))
        .collect();
    let terms: Vec<(i64, &henn_ckks::Plaintext)> = steps.iter().copied().zip(pts.iter()).collect();
    let h = ok(ev.hoist(&cx));
    let fast = ok(ev.rescale(&ok(ev.rotate_sum(&h, &terms))));
    // Reference values and the naive homomorphic sum (rotate, mul_plain, add).
    let mut want = vec![Complex64::new(0.0, 0.0); slots];
    let mut naive: Option<Ciphertext> = None;
    for (&k, (w, pt)) in steps.iter().zip(weights.iter().zip(&pts)) {
        for j in 0..slots {
            want[j] += w[j] * x[(j as i64 + k).rem_euclid(slots as i64) as usize];
        }
        let term = ok(ev.mul_plain(&ok(ev.rotate(&cx, k)), pt));
        naive = Some(match naive {
            None => term,
            Some(acc) => ok(ev.add(&acc, &term)),
        });
    }
    let naive = ok(ev.rescale(&naive.unwrap_or_else(|| panic!("no terms"))));
    assert_eq!(fast.scale(), naive.scale());
    assert_bits(
        "rotate_sum (double hoisted)",
        &f.decrypt(&fast),
        &want,
        20.0,
    );
    assert_bits(
        "naive rotate + mul_plain sum",
        &f.decrypt(&naive),
        &want,
        20.0,
    );
    // A plaintext without the special limbs is refused with a typed error.
    let plain = ok(f.enc.encode(&weights[0], cx.level(), scale));
    assert!(matches!(
        ev.rotate_sum(&h, &[(1, &plain)]),
        Err(CkksError::PlaintextBasis { .. })
    ));
}

/// The anchors' large parameter set (N = 2^16, 21 limbs of 60 + 20·50 bits, dnum 3, 128-bit
/// secure, OS randomness): x² after one mul_relin + rescale keeps ≥ 31.5 bits of max
/// precision (measured 32.5–33.1 over runs, the spread coming from the max over 2^15 slots;
/// SEAL 4.4 measured 32.8–33.0 and OpenFHE 28.5–28.7, with its decoding noise, in the same
/// runs). Heavy (a few seconds): `cargo test -p henn-ckks --release --test ops -- --ignored`.
#[test]
#[ignore = "heavy: N = 2^16 with 21 limbs"]
fn anchor_parameters_precision_square() {
    use henn_ckks::ParamsBuilder;
    let params = ok(ParamsBuilder::new(16)
        .first_bits(60)
        .scale_bits(50)
        .levels(20)
        .dnum(3)
        .build());
    let ctx = ok(Context::new(params));
    let mut kg = ok(KeyGenerator::new(&ctx));
    let sk = kg.gen_secret_key();
    let pk = kg.gen_public_key(&sk);
    let mut keys = EvaluationKeys::default();
    keys.set_relin(ok(kg.gen_relin_key(&sk, None)));
    let enc = Encoder::new(&ctx);
    let mut encryptor = ok(Encryptor::new(&ctx, pk));
    let dec = Decryptor::new(&ctx, sk);
    let ev = Evaluator::new(&ctx, &keys);
    let mut s = 7u64;
    let x: Vec<f64> = (0..ctx.slots())
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    let ct = encryptor.encrypt(&ok(enc.encode_real(&x, ctx.max_level(), 2f64.powi(50))));
    let sq = ok(ev.rescale(&ok(ev.mul_relin(&ct, &ct))));
    let got = enc.decode_real(&dec.decrypt(&sq));
    let err = got
        .iter()
        .zip(&x)
        .map(|(g, v)| (g - v * v).abs())
        .fold(0.0, f64::max);
    eprintln!("N = 2^16 precision_square: {:.2} bits", -err.log2());
    assert!(-err.log2() >= 31.5, "only {:.2} bits", -err.log2());
}
