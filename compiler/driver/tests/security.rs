//! Issue 19: files that cannot be mixed up, secrets that cannot leak, and no input that crashes or
//! silently corrupts. Every case is a command that used to exit 0 (or panic, or hang) and must now
//! fail with a message naming the file and the reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::Output;

use common::{henn, ok, tiny, train_csv};

use henn_ckks::serial::seal_envelope;
use henn_ckks::{Encoder, Encryptor};
use henn_runtime::files::{BundleReader, put_nested};
use henn_runtime::server::LoadedPlan;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fails_with(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "succeeded, expected `{needle}`: {err}"
    );
    assert!(
        out.status.code().is_some(),
        "killed by a signal (a panic or abort?): {err}"
    );
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert!(err.contains(needle), "stderr lacks `{needle}`: {err}");
}

/// compile + keygen (`sk.hkey`, `keys.hkeys`, `pk.hpub`) + encrypt (`data.hct`) in `dir`.
fn setup(dir: &Path) -> String {
    let csv = train_csv().to_str().unwrap().to_owned();
    let model = tiny(&csv);
    std::fs::write(dir.join("tiny.henn"), model).unwrap();
    ok(&henn(dir, &["compile", "tiny.henn", "-o", "tiny.hplan"]));
    keygen(dir, "sk.hkey", "keys.hkeys", &["--public-key", "pk.hpub"]);
    encrypt(dir, "pk.hpub", "data.hct");
    csv
}

/// A key generation for `tiny.hplan`, which must succeed.
fn keygen(dir: &Path, sk: &str, keys: &str, extra: &[&str]) {
    common::keygen(dir, "tiny.hplan", sk, keys, extra);
}

/// The training data encrypted for `tiny.hplan` under the public key `pk` (record `sk.owner`).
fn encrypt(dir: &Path, pk: &str, out: &str) {
    common::encrypt(
        dir,
        "tiny.hplan",
        &["--public-key", pk, "--owner-file", "sk.owner"],
        out,
    );
}

fn serve(dir: &Path, plan: &str, keys: &str, data: &str, out: &str) -> Output {
    common::serve(dir, plan, keys, data, out, &[])
}

/// The owner decrypting `state` for `tiny.hplan` with `sk`, the scaling refitted on the data.
fn decrypt(dir: &Path, state: &str, sk: &str, out: &str) -> Output {
    let csv = train_csv();
    common::decrypt(
        dir,
        state,
        "tiny.hplan",
        sk,
        out,
        &["--data", csv.to_str().unwrap()],
    )
}

#[test]
fn key_generations_never_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    // A second keygen for the same plan (other files): mixing its files with the first's used to
    // train and decrypt to weights of 1e9..1e27 with exit 0.
    keygen(
        dir,
        "sk2.hkey",
        "keys2.hkeys",
        &["--public-key", "pk2.hpub"],
    );
    fails_with(
        &serve(dir, "tiny.hplan", "keys2.hkeys", "data.hct", "s.hct"),
        "different key generations",
    );
    let out = serve(dir, "tiny.hplan", "keys.hkeys", "data.hct", "state.hct");
    ok(&out);
    let out = decrypt(dir, "state.hct", "sk2.hkey", "w.json");
    fails_with(&out, "different key generations");
    let err = stderr(&out);
    assert!(
        err.contains("sk2.hkey") && err.contains("state.hct"),
        "{err}"
    );
    ok(&decrypt(dir, "state.hct", "sk.hkey", "w.json"));
}

#[test]
fn outputs_never_replace_inputs_or_secret_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let sk = std::fs::read(dir.join("sk.hkey")).unwrap();
    // keygen over an existing secret key asks for --force.
    let out = henn(
        dir,
        &[
            "keygen",
            "tiny.hplan",
            "--secret-key",
            "sk.hkey",
            "--eval-keys",
            "k.hkeys",
        ],
    );
    fails_with(&out, "--force");
    // The secret key and the public key on one path.
    let out = henn(
        dir,
        &[
            "keygen",
            "tiny.hplan",
            "--secret-key",
            "x.hkey",
            "--eval-keys",
            "k.hkeys",
            "--public-key",
            "x.hkey",
        ],
    );
    fails_with(&out, "same file");
    assert!(!dir.join("x.hkey").exists());
    // decrypt -o onto the secret key it reads.
    ok(&serve(
        dir,
        "tiny.hplan",
        "keys.hkeys",
        "data.hct",
        "state.hct",
    ));
    fails_with(
        &decrypt(dir, "state.hct", "sk.hkey", "sk.hkey"),
        "is also the input",
    );
    // ... or onto another secret key.
    std::fs::copy(dir.join("sk.hkey"), dir.join("other.hkey")).unwrap();
    fails_with(
        &decrypt(dir, "state.hct", "sk.hkey", "other.hkey"),
        "secret-key file",
    );
    // serve -o onto its own data.
    fails_with(
        &serve(dir, "tiny.hplan", "keys.hkeys", "data.hct", "data.hct"),
        "is also the input",
    );
    assert_eq!(std::fs::read(dir.join("sk.hkey")).unwrap(), sk);
    // With --force the secret key is replaced, and every file of the new set agrees.
    keygen(dir, "sk.hkey", "keys.hkeys", &["--force"]);
    assert_ne!(std::fs::read(dir.join("sk.hkey")).unwrap(), sk);
    // No temporary file is left behind by any of the above.
    let temps: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

#[test]
fn the_server_never_reads_secret_material_or_misnames_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    fails_with(
        &serve(dir, "sk.hkey", "keys.hkeys", "data.hct", "s.hct"),
        "secret-key material",
    );
    fails_with(
        &serve(dir, "tiny.hplan", "keys.hkeys", "sk.hkey", "s.hct"),
        "secret-key material",
    );
    // Any other henn file as the plan says what it is (it used to say "bad magic bytes").
    fails_with(
        &serve(dir, "keys.hkeys", "keys.hkeys", "data.hct", "s.hct"),
        "is a evaluation-key file, expected a plan",
    );
    // An empty key file (it used to say "failed to fill whole buffer").
    std::fs::write(dir.join("empty.hkeys"), b"").unwrap();
    fails_with(
        &serve(dir, "tiny.hplan", "empty.hkeys", "data.hct", "s.hct"),
        "is empty",
    );
}

/// Rewrites record `index` of the bundle at `src` into `dst` with a ciphertext of `values`
/// encrypted at `level` and `scale` (a correct checksum, index and stream prefix: what someone
/// who knows the format can craft), or with the name `rename`.
fn craft(dir: &Path, src: &str, dst: &str, index: usize, edit: Craft) {
    let loaded = LoadedPlan::load(&dir.join("tiny.hplan")).unwrap();
    let ctx = &loaded.ctx;
    let bytes = std::fs::read(dir.join(src)).unwrap();
    let mut at = 0;
    let mut envs = Vec::new();
    while at < bytes.len() {
        let len = u64::from_le_bytes(bytes[at + 40..at + 48].try_into().unwrap()) as usize;
        envs.push(bytes[at..at + 48 + len + 32].to_vec());
        at += 48 + len + 32;
    }
    let env = &envs[index + 1];
    let payload = &env[48..env.len() - 32];
    // prefix (plan, key set, stream id: 80 bytes) ‖ index ‖ step ‖ name length ‖ name ‖ ct
    let step = &payload[88..96];
    let name_len = u64::from_le_bytes(payload[96..104].try_into().unwrap()) as usize;
    let name = std::str::from_utf8(&payload[104..104 + name_len])
        .unwrap()
        .to_owned();
    let mut w = henn_ckks::serial::Writer::default();
    w.bytes(&payload[..88]);
    w.bytes(step);
    match edit {
        Craft::Ciphertext { level, scale } => {
            let pk = henn_runtime::files::load_public_key(ctx, &loaded.hash, &dir.join("pk.hpub"))
                .unwrap()
                .0;
            let mut enc = Encryptor::new(ctx, pk).unwrap();
            let pt = Encoder::new(ctx)
                .encode_real(&[0.5; 8], level, scale)
                .unwrap();
            w.u64(name.len() as u64);
            w.bytes(name.as_bytes());
            put_nested(ctx, &mut w, &enc.encrypt(&pt));
        }
        Craft::Rename(other) => {
            w.u64(other.len() as u64);
            w.bytes(other.as_bytes());
            let rest = &payload[104 + name_len..];
            w.bytes(rest);
        }
    }
    let tag = u16::from_le_bytes([env[6], env[7]]);
    envs[index + 1] = seal_envelope(tag, ctx.hash(), &w.buf);
    std::fs::write(dir.join(dst), envs.concat()).unwrap();
}

enum Craft {
    Ciphertext { level: usize, scale: f64 },
    Rename(&'static str),
}

#[test]
fn crafted_ciphertexts_of_the_wrong_scale_level_or_name_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let loaded = LoadedPlan::load(&dir.join("tiny.hplan")).unwrap();
    let top = henn_runtime::context::input_level(&loaded.ctx, &loaded.plan);
    let delta = 2f64.powi(loaded.plan.params.scale_bits as i32);
    let mut r = BundleReader::open(&loaded.ctx, &loaded.hash, &dir.join("data.hct")).unwrap();
    let mut names = Vec::new();
    while let Some((step, name, _)) = r.next_record().unwrap() {
        names.push((step, name));
    }
    // The last record is a batch input of the last step.
    let last = names.len() - 1;
    // A fresh ciphertext at scale 1.0 instead of Δ.
    craft(
        dir,
        "data.hct",
        "scale.hct",
        last,
        Craft::Ciphertext {
            level: top,
            scale: 1.0,
        },
    );
    fails_with(
        &serve(dir, "tiny.hplan", "keys.hkeys", "scale.hct", "s.hct"),
        "has scale 2^0.00, the plan expects 2^40.00",
    );
    // The right scale at the wrong level.
    craft(
        dir,
        "data.hct",
        "level.hct",
        last,
        Craft::Ciphertext {
            level: top - 1,
            scale: delta,
        },
    );
    fails_with(
        &serve(dir, "tiny.hplan", "keys.hkeys", "level.hct", "s.hct"),
        "the plan expects fresh ciphertexts at level",
    );
    // The control: a well-formed crafted ciphertext is accepted.
    craft(
        dir,
        "data.hct",
        "fine.hct",
        last,
        Craft::Ciphertext {
            level: top,
            scale: delta,
        },
    );
    ok(&serve(dir, "tiny.hplan", "keys.hkeys", "fine.hct", "s.hct"));
    // A duplicated name (the record before it renamed to it) and an unknown name.
    let prev = &names[last - 1];
    assert_eq!(prev.0, names[last].0, "two inputs per step");
    let dup: &'static str = Box::leak(names[last].1.clone().into_boxed_str());
    craft(dir, "data.hct", "dup.hct", last - 1, Craft::Rename(dup));
    fails_with(
        &serve(dir, "tiny.hplan", "keys.hkeys", "dup.hct", "s.hct"),
        "appears twice",
    );
    craft(dir, "data.hct", "name.hct", last, Craft::Rename("W.9"));
    fails_with(
        &serve(dir, "tiny.hplan", "keys.hkeys", "name.hct", "s.hct"),
        "is not a batch input",
    );
    // Trailing bytes.
    let mut data = std::fs::read(dir.join("data.hct")).unwrap();
    data.extend_from_slice(b"\0\0\0\0");
    std::fs::write(dir.join("trail.hct"), &data).unwrap();
    fails_with(
        &serve(dir, "tiny.hplan", "keys.hkeys", "trail.hct", "s.hct"),
        "trailing bytes",
    );
}

#[test]
fn absurd_numbers_are_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    for n in ["18446744073709551615", "4294967296", "0"] {
        let out = henn(dir, &["run", "tiny.henn", "--iterations", n]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--iterations {n}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("--iterations"), "{}", stderr(&out));
    }
    for args in [
        &["bench", "ops", "--limbs", "1000"][..],
        &["bench", "ops", "--boot-levels", "1000"],
        &["bench", "ops", "--threads", "0"],
        &["demo", "--threads", "100000"],
        &["demo", "--logn", "40"],
    ] {
        let out = henn(dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn out_of_range_data_is_refused_before_encryption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Features of 1e6 with `scaling = none`: used to encrypt, train and decrypt with exit 0
    // (and `run` to print a weight difference of 3.8e68 and exit 0).
    let mut csv = String::new();
    for i in 0..40 {
        let row: Vec<String> = (0..30)
            .map(|j| format!("{}", 1e6 + (i * j) as f64))
            .collect();
        csv.push_str(&format!("{},{}\n", i % 2, row.join(",")));
    }
    std::fs::write(dir.join("big.csv"), csv).unwrap();
    let model = tiny("big.csv").replace("scaling = minmax", "scaling = none");
    std::fs::write(dir.join("tiny.henn"), model).unwrap();
    ok(&henn(dir, &["compile", "tiny.henn", "-o", "tiny.hplan"]));
    keygen(dir, "sk.hkey", "keys.hkeys", &["--public-key", "pk.hpub"]);
    let out = henn(
        dir,
        &[
            "encrypt",
            "tiny.hplan",
            "--data",
            "big.csv",
            "--public-key",
            "pk.hpub",
            "--owner-file",
            "sk.owner",
            "-o",
            "d.hct",
        ],
    );
    fails_with(&out, "outside the ±5 the plan was compiled for");
    assert!(!dir.join("d.hct").exists());
    fails_with(&henn(dir, &["run", "tiny.henn"]), "outside the ±5");
}

#[test]
fn insecure_plans_say_so_on_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let csv = train_csv();
    let csv = csv.to_str().unwrap();
    let model = tiny(csv);
    std::fs::write(dir.join("tiny.henn"), &model).unwrap();
    let warned = |out: &Output| {
        ok(out);
        assert!(stderr(out).contains("INSECURE"), "{}", stderr(out));
    };
    warned(&henn(dir, &["compile", "tiny.henn", "-o", "tiny.hplan"]));
    warned(&henn(
        dir,
        &[
            "keygen",
            "tiny.hplan",
            "--secret-key",
            "sk.hkey",
            "--eval-keys",
            "keys.hkeys",
            "--public-key",
            "pk.hpub",
        ],
    ));
    warned(&henn(
        dir,
        &[
            "encrypt",
            "tiny.hplan",
            "--data",
            csv,
            "--public-key",
            "pk.hpub",
            "--owner-file",
            "sk.owner",
            "-o",
            "data.hct",
        ],
    ));
    warned(&serve(
        dir,
        "tiny.hplan",
        "keys.hkeys",
        "data.hct",
        "state.hct",
    ));
    warned(&decrypt(dir, "state.hct", "sk.hkey", "w.json"));
    // `insecure` keeps a real parameter set's chain limits: 100 leveled steps do not fit.
    let deep = model
        .replace("iterations = 2", "iterations = 100")
        .replace("scale_bits = 40", "scale_bits = 40  bootstrapping = off");
    std::fs::write(dir.join("deep.henn"), deep).unwrap();
    fails_with(
        &henn(dir, &["compile", "deep.henn", "-o", "deep.hplan"]),
        "levels",
    );
}
