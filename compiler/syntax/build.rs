//! Generates the LR(1) parser from `src/grammar.lalrpop` at build time.

fn main() {
    // `process_src` writes the generated parser into OUT_DIR and emits the rerun-if-changed lines.
    if let Err(err) = lalrpop::process_src() {
        eprintln!("lalrpop failed: {err}");
        std::process::exit(1);
    }
}
