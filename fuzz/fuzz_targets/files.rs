//! Fuzzes every loader of the files the owner and the server exchange with arbitrary bytes: the
//! evaluation-key stream, the ciphertext bundle (read to its end marker), the public- and
//! secret-key files, the owner record, the plan; and the owner's clear-text inputs: CSV data
//! (plain and as read from a `.csv.gz` name), IDX images/labels and weights files (JSON and CSV).
//! Any input must give a value or an error, never a panic, an abort or an unbounded allocation.
#![no_main]

use std::sync::{Arc, OnceLock};

use henn_ckks::{Context, Params};
use henn_runtime::files::{BundleReader, load_eval_keys, load_public_key};
use libfuzzer_sys::fuzz_target;

const PLAN: [u8; 32] = [7u8; 32];

fn ctx() -> &'static Arc<Context> {
    static CTX: OnceLock<Arc<Context>> = OnceLock::new();
    CTX.get_or_init(|| {
        let params = Params::insecure_toy_for_tests(10, 50, 40, 2, 2).expect("toy params");
        Context::new(params).expect("toy context")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("henn-fuzz-files-{}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let ctx = ctx();
    let _ = load_eval_keys(ctx, &PLAN, &path);
    let _ = load_public_key(ctx, &PLAN, &path);
    let _ = henn_owner::secret::load_secret_key(ctx, &PLAN, &path);
    let _ = henn_owner::record::load(ctx, &PLAN, &path);
    if let Ok(mut r) = BundleReader::open(ctx, &PLAN, &path) {
        while let Ok(Some(_)) = r.next_record() {}
    }
    let _ = henn_runtime::server::LoadedPlan::load(&path);
    let _ = henn_data::csv::load_csv(&path, henn_data::csv::Expect::default());
    let _ = henn_data::idx::read_idx(&path);
    let _ = henn_contract::WeightsFile::load(&path);
    // The loaders that choose a format by the file's name.
    for ext in ["csv", "csv.gz"] {
        let named = path.with_extension(ext);
        if std::fs::write(&named, data).is_ok() {
            let _ = henn_data::csv::load_csv(&named, henn_data::csv::Expect::default());
            let _ = henn_contract::WeightsFile::load(&named);
            let _ = std::fs::remove_file(&named);
        }
    }
});
