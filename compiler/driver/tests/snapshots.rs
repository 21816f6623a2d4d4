//! What a person reads, snapshotted (insta): `henn check` diagnostics of broken models (located,
//! rustc-style) and the `henn compile` report of a toy model, human and `--json`, so that a
//! change in either shows in review. Measured times are redacted; the estimates come from the
//! fixed default cost model and stay. Update with `INSTA_UPDATE=always` (CI sets `CI=true`: a
//! missing or changed snapshot fails).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Output;

use common::{TINY, henn, root, tiny, train_csv};

/// Exit code, stdout and stderr of a command, as one text.
fn transcript(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status
            .code()
            .map_or("signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Measured (machine-dependent) times in the compile report, human and JSON.
fn time_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"compiled in \d+(\.\d+)? s", "compiled in [time]"),
        (r"e-nodes, \d+(\.\d+)? s", "e-nodes, [time]"),
        (r#""(compile_s|opt_s)": [0-9.eE+-]+"#, r#""$1": "[time]""#),
    ]
}

#[test]
fn check_diagnostics_of_broken_models() {
    let root = root();
    for name in ["class-mismatch", "many-syntax-errors", "duplicate-layer"] {
        let file = format!("tests/fail/{name}.henn");
        let out = henn(&root, &["check", "--color", "never", &file]);
        insta::assert_snapshot!(format!("check-{name}"), transcript(&out));
    }
}

/// A model that checks as a file but cannot compile (trained for epochs, no sample count and
/// no data): `check` runs the compiler's checks too.
#[test]
fn check_diagnostics_of_a_model_that_does_not_compile() {
    let tmp = tempfile::tempdir().unwrap();
    let model = TINY
        .replace("  train = \"TRAIN\"", "")
        .replace("iterations = 2", "epochs = 2");
    std::fs::write(tmp.path().join("epochs.henn"), model).unwrap();
    let out = henn(tmp.path(), &["check", "--color", "never", "epochs.henn"]);
    insta::assert_snapshot!("check-does-not-compile", transcript(&out));
    let out = henn(
        tmp.path(),
        &["check", "--message-format", "json", "epochs.henn"],
    );
    insta::assert_snapshot!("check-does-not-compile-json", transcript(&out));
}

#[test]
fn compile_report_of_the_toy_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tiny.henn"), tiny(train_csv().to_str().unwrap())).unwrap();
    let human = henn(dir, &["compile", "tiny.henn", "-o", "tiny.hplan"]);
    let json = henn(dir, &["compile", "tiny.henn", "-o", "tiny.hplan", "--json"]);
    assert!(json.status.success(), "{}", transcript(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    insta::with_settings!({ filters => time_filters() }, {
        insta::assert_snapshot!("compile-report", transcript(&human));
        insta::assert_json_snapshot!("compile-report-json", report);
    });
}
