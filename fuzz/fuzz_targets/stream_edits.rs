//! Fuzzes beyond the parser: starts from a *valid* ciphertext bundle and applies edits an attacker
//! or a broken disk could make (cut, bit flips, envelopes swapped, duplicated or dropped, bytes
//! appended, envelopes re-sealed with a valid checksum after an edit of their payload). The
//! property: the reader either refuses the file, or returns exactly the original records in
//! order. Nothing in between (no silent corruption).
#![no_main]

use std::sync::{Arc, OnceLock};

use henn_ckks::serial::seal_envelope;
use henn_ckks::{Context, Encoder, Encryptor, KeyGenerator, Params};
use henn_runtime::files::{Binding, BundleKind, BundleReader, BundleWriter, KeySetId};
use libfuzzer_sys::fuzz_target;

const PLAN: [u8; 32] = [7u8; 32];

struct Fixture {
    ctx: Arc<Context>,
    bytes: Vec<u8>,
    records: Vec<(u64, String, Vec<u8>)>,
}

fn fixture() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        let params = Params::insecure_toy_for_tests(10, 50, 40, 2, 2).expect("toy params");
        let ctx = Context::new(params).expect("toy context");
        let mut kg = KeyGenerator::new(&ctx).expect("keygen");
        let sk = kg.gen_secret_key();
        let pk = kg.gen_public_key(&sk);
        let mut enc = Encryptor::new(&ctx, pk).expect("encryptor");
        let path = std::env::temp_dir().join(format!("henn-fuzz-base-{}", std::process::id()));
        let binding = Binding::new(&PLAN, KeySetId([3; 32]));
        let mut w = BundleWriter::create(&ctx, &binding, BundleKind::TrainingData, 3, &path)
            .expect("writer");
        for i in 0..3u64 {
            let pt = Encoder::new(&ctx)
                .encode_real(&[i as f64; 4], ctx.max_level(), 2f64.powi(40))
                .expect("encode");
            w.push(i, &format!("X.{i}"), &enc.encrypt(&pt))
                .expect("push");
        }
        w.finish().expect("finish");
        let bytes = std::fs::read(&path).expect("read");
        let records = read(&ctx, &path).expect("the unedited bundle reads");
        Fixture {
            ctx,
            bytes,
            records,
        }
    })
}

fn read(ctx: &Arc<Context>, path: &std::path::Path) -> Option<Vec<(u64, String, Vec<u8>)>> {
    let mut r = BundleReader::open(ctx, &PLAN, path).ok()?;
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some((step, name, ct))) => {
                out.push((step, name, henn_ckks::serial::to_bytes(ctx, &ct)))
            }
            Ok(None) => return Some(out),
            Err(_) => return None,
        }
    }
}

fn envelopes(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at + 48 <= bytes.len() {
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[at + 40..at + 48]);
        let end = at + 48 + u64::from_le_bytes(len) as usize + 32;
        if end > bytes.len() {
            break;
        }
        out.push(bytes[at..end].to_vec());
        at = end;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let mut envs = envelopes(&fx.bytes);
    let mut tail = Vec::new();
    for op in data.chunks(4) {
        let [kind, a, b, c] = [
            op[0],
            *op.get(1).unwrap_or(&0),
            *op.get(2).unwrap_or(&0),
            *op.get(3).unwrap_or(&0),
        ];
        let n = envs.len().max(1);
        let (i, j) = (a as usize % n, b as usize % n);
        match kind % 7 {
            0 if !envs.is_empty() => envs.swap(i, j),
            1 if !envs.is_empty() => {
                let e = envs[i].clone();
                envs.insert(j.min(envs.len()), e);
            }
            2 if !envs.is_empty() => {
                envs.remove(i);
            }
            // (a truncation below may have emptied an envelope: nothing to flip then)
            3 if !envs.is_empty() && !envs[i].is_empty() => {
                let e = &mut envs[i];
                let at = (usize::from(b) << 8 | usize::from(c)) % e.len();
                e[at] ^= 1 << (c % 8);
            }
            4 if !envs.is_empty() => {
                // Re-seal with one payload byte changed: a valid checksum over an edit.
                let e = &envs[i];
                if e.len() > 80 {
                    let tag = u16::from_le_bytes([e[6], e[7]]);
                    let mut payload = e[48..e.len() - 32].to_vec();
                    let at = (usize::from(b) << 8 | usize::from(c)) % payload.len();
                    payload[at] = payload[at].wrapping_add(1 | c);
                    envs[i] = seal_envelope(tag, fx.ctx.hash(), &payload);
                }
            }
            5 => tail.push(a),
            _ => {
                let cut = usize::from(a) << 8 | usize::from(b);
                if let Some(last) = envs.last_mut() {
                    last.truncate(cut % (last.len() + 1));
                }
            }
        }
    }
    let mut edited = envs.concat();
    edited.extend_from_slice(&tail);
    let path = std::env::temp_dir().join(format!("henn-fuzz-edit-{}", std::process::id()));
    if std::fs::write(&path, &edited).is_err() {
        return;
    }
    if let Some(records) = read(&fx.ctx, &path) {
        assert!(
            records == fx.records,
            "an edited bundle was accepted with other records"
        );
    }
});
