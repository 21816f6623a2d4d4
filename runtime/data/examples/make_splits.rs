//! Regenerates the committed train/test splits in `examples/data/` from the full fixtures.
//!
//! `cargo run -p henn-data --example make_splits` (from the workspace root). The test
//! `tests/fixtures.rs` recomputes the same splits and compares them byte for byte.

use std::path::Path;

use henn_data::csv::{Expect, load_csv, write_csv};
use henn_data::split::stratified_split;

/// The seed and test fraction recorded in `examples/data/PROVENANCE.md`.
const SEED: u64 = 42;
const TEST_FRACTION: f64 = 0.2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    for (full, stem) in [
        ("digits.csv", "digits"),
        ("breast-cancer.csv", "breast-cancer"),
    ] {
        let data = load_csv(&dir.join(full), Expect::default())?;
        let (train, test) = stratified_split(&data, TEST_FRACTION, SEED);
        write_csv(&dir.join(format!("{stem}-train.csv")), &train)?;
        write_csv(&dir.join(format!("{stem}-test.csv")), &test)?;
        println!("{stem}: {} train, {} test", train.len(), test.len());
    }
    Ok(())
}
