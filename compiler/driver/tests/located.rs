//! One truth about a model: `henn check` runs every check `henn compile` would, so a file that
//! checks compiles, and a file the compiler rejects fails `check` with a located diagnostic
//! (code, span, help) that `compile` prints word for word (and `compile --json` as JSON).
//! The bad files are `tests/compile-fail/*.henn` (each header names its code); the good ones are
//! every example.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::{Path, PathBuf};

use common::{henn, ok, root};

/// The `.henn` files of a directory under the repository root, sorted, as root-relative paths.
fn henn_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "henn"))
        .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_str().unwrap()))
        .collect();
    files.sort();
    files
}

/// The one code a compile-fail file's header expects (`# expect = ["E0131"]`).
fn expected_code(file: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# expect = "))
        .unwrap_or_else(|| panic!("{file}: no expect line"));
    let codes: Vec<&str> = line
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    assert_eq!(codes.len(), 1, "{file}: one code per file");
    codes[0].to_owned()
}

/// The text of one rendered error diagnostic with `code`: from its `error[CODE]` line to the
/// next blank line that ends it (message, location, source lines, labels, help, notes).
fn error_block(stderr: &str, code: &str) -> String {
    let start = stderr
        .find(&format!("error[{code}]"))
        .unwrap_or_else(|| panic!("no error[{code}] in:\n{stderr}"));
    let rest = &stderr[start..];
    let end = rest.find("\n\n").map_or(rest.len(), |i| i + 1);
    rest[..end].to_owned()
}

#[test]
fn every_compile_failure_is_located_alike_in_check_and_compile() {
    let root = root();
    let files = henn_files("tests/compile-fail");
    assert!(files.len() >= 5, "{files:?}");
    let tmp = tempfile::tempdir().unwrap();
    let mut codes = std::collections::BTreeSet::new();
    for file in &files {
        let code = expected_code(file);
        codes.insert(code.clone());
        let name = Path::new(file).file_stem().unwrap().to_str().unwrap();
        // check: exit 1, a rustc-style diagnostic with the file's line:column and a help line.
        let check = henn(&root, &["check", "--color", "never", file]);
        assert_eq!(check.status.code(), Some(1), "{file} checks");
        let check_err = String::from_utf8_lossy(&check.stderr).into_owned();
        let block = error_block(&check_err, &code);
        assert!(
            block.contains(&format!("┌─ {file}:")),
            "{file}: no span\n{block}"
        );
        assert!(block.contains("^"), "{file}: no underline\n{block}");
        assert!(block.contains("= help: "), "{file}: no help\n{block}");
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(stdout.contains("(does not compile)"), "{stdout}");

        // check --message-format json: the same diagnostic with a line and column.
        let json = henn(&root, &["check", "--message-format", "json", file]);
        assert_eq!(json.status.code(), Some(1));
        let diags: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let d = diags
            .iter()
            .find(|d| d["code"] == code.as_str())
            .unwrap_or_else(|| panic!("{file}: no {code} in {diags:?}"));
        assert!(d["line"].as_u64().unwrap() >= 3, "{d}"); // below the header comment
        assert!(
            d["column"].as_u64().is_some() && d["help"].is_string(),
            "{d}"
        );

        // compile: the same block, word for word, and no plan written.
        let plan: PathBuf = tmp.path().join(format!("{name}.hplan"));
        let plan = plan.to_str().unwrap();
        let compile = henn(&root, &["compile", file, "-o", plan]);
        assert_eq!(compile.status.code(), Some(1), "{file} compiles");
        let compile_err = String::from_utf8_lossy(&compile.stderr).into_owned();
        assert_eq!(error_block(&compile_err, &code), block, "{file}");
        assert!(!Path::new(plan).exists());

        // compile --json: one object on stdout, the diagnostic in the check schema.
        let cj = henn(&root, &["compile", file, "-o", plan, "--json"]);
        assert_eq!(cj.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&cj.stdout).unwrap();
        assert_eq!(v["ok"], false, "{v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("error[{code}]: ")),
            "{v}"
        );
        let cd = v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["code"] == code.as_str())
            .unwrap_or_else(|| panic!("{file}: {v}"));
        assert_eq!(cd, d, "{file}: check and compile --json disagree");
    }
    // Every compiler error code has a file.
    let all: std::collections::BTreeSet<String> = (131..=135).map(|n| format!("E0{n}")).collect();
    assert_eq!(codes, all);
}

/// A sema error is reported by `compile --json` as JSON too (before, stdout stayed empty).
#[test]
fn compile_json_reports_check_errors() {
    let root = root();
    let file = "tests/fail/class-mismatch.henn";
    let out = henn(
        &root,
        &["compile", file, "--json", "-o", "/nonexistent/x.hplan"],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["file"], file);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E0112", "{v}");
    assert!(d["line"].as_u64().is_some(), "{v}");
}

/// Every example checks, and whatever checks compiles (the property, over the examples).
#[test]
fn every_example_checks_and_compiles() {
    let root = root();
    let tmp = tempfile::tempdir().unwrap();
    let files = henn_files("examples");
    assert!(files.len() >= 6, "{files:?}");
    for file in &files {
        ok(&henn(&root, &["check", file]));
        let name = Path::new(file).file_stem().unwrap().to_str().unwrap();
        let plan = tmp.path().join(format!("{name}.hplan"));
        ok(&henn(
            &root,
            &["compile", file, "-o", plan.to_str().unwrap()],
        ));
        assert!(plan.exists(), "{file}");
    }
}
