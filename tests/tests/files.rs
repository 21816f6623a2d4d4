//! Every file in `fail/`, `pass/` and `examples/` is checked against its header; the rendered
//! diagnostics of `fail/` are snapshotted; every valid file survives print → parse.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

use std::collections::BTreeSet;
use std::path::Path;

use henn_sema::Analysis;
use henn_syntax::ast::StripSpans;
use henn_syntax::{Format, Severity};
use henn_tests::{Header, display_name, henn_files};

/// Analyses a file under a workspace-relative display name (stable across machines).
fn analyze(path: &Path) -> (Header, Analysis) {
    let bytes = std::fs::read(path).unwrap();
    let header = Header::parse(&bytes);
    let mut analysis = henn_sema::analyze_file(path).unwrap();
    analysis.name = display_name(path);
    (header, analysis)
}

fn codes(a: &Analysis, severity: Severity) -> BTreeSet<String> {
    a.diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| d.code.as_str().to_owned())
        .collect()
}

#[test]
fn fail_files_report_exactly_their_expected_errors() {
    let files = henn_files("fail");
    assert!(files.len() >= 25, "only {} fail files", files.len());
    let mut kinds = BTreeSet::new();
    for path in &files {
        let (header, a) = analyze(path);
        assert!(
            header.description.starts_with("Tests:"),
            "{}: no header",
            path.display()
        );
        let expected: BTreeSet<String> = header
            .errors
            .clone()
            .unwrap_or_else(|| panic!("{}: fail file must expect errors", path.display()))
            .into_iter()
            .collect();
        assert_eq!(
            codes(&a, Severity::Error),
            expected,
            "{}",
            a.render(Format::Text { color: false })
        );
        assert!(a.model.is_none());
        // check_file must agree with analyze_file and render the same text in Display.
        let err = henn_sema::check_file(path).unwrap_err();
        assert_eq!(err.diagnostics().len(), a.diagnostics.len());
        kinds.extend(expected);
    }
    assert!(
        kinds.len() >= 25,
        "only {} distinct error kinds: {kinds:?}",
        kinds.len()
    );
}

#[test]
fn fail_diagnostics_snapshots() {
    insta::glob!("..", "fail/*.henn", |path| {
        let (_, a) = analyze(path);
        insta::assert_snapshot!(a.render(Format::Text { color: false }));
    });
}

#[test]
fn json_diagnostics_snapshots() {
    for name in ["class-mismatch", "many-syntax-errors", "duplicate-setting"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fail/{name}.henn"));
        let (_, a) = analyze(&path);
        let json = a.render(Format::Json);
        // Every line is one JSON object with the documented fields.
        for line in json.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            for key in [
                "file",
                "line",
                "column",
                "end_line",
                "end_column",
                "severity",
                "code",
                "message",
                "labels",
                "help",
            ] {
                assert!(v.get(key).is_some(), "{name}: missing {key} in {line}");
            }
        }
        insta::assert_snapshot!(format!("json-{name}"), json);
    }
}

/// `strict`: a header without `warnings = […]` means no warning is allowed.
fn check_valid(dir: &str, strict: bool) -> usize {
    let files = henn_files(dir);
    for path in &files {
        let (header, a) = analyze(path);
        assert!(
            !header.description.is_empty(),
            "{}: no header comment",
            path.display()
        );
        assert_eq!(
            header.errors,
            None,
            "{}: header must say expect = \"ok\"",
            path.display()
        );
        let rendered = a.render(Format::Text { color: false });
        let model = a
            .model
            .as_ref()
            .unwrap_or_else(|| panic!("{}:\n{rendered}", path.display()));
        match (&header.warnings, strict) {
            (Some(w), _) => {
                let w: BTreeSet<String> = w.iter().cloned().collect();
                assert_eq!(codes(&a, Severity::Warning), w, "{rendered}");
            }
            (None, true) => assert!(codes(&a, Severity::Warning).is_empty(), "{rendered}"),
            (None, false) => {}
        }
        if let Some(summary) = &header.summary {
            assert_eq!(&henn_sema::summary(model), summary, "{}", path.display());
        }
        assert_eq!(henn_sema::check_file(path).unwrap(), *model);
    }
    files.len()
}

#[test]
fn pass_files_check() {
    assert!(check_valid("pass", true) >= 5);
}

#[test]
fn examples_check() {
    assert!(check_valid("../examples", false) >= 3);
}

#[test]
fn print_parse_round_trip() {
    let mut n = 0;
    for path in henn_files("pass")
        .into_iter()
        .chain(henn_files("../examples"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        let (mut first, diags) = henn_syntax::parse(&text);
        assert!(diags.is_empty(), "{}", path.display());
        let printed = henn_syntax::print::print(&first);
        let (mut second, diags) = henn_syntax::parse(&printed);
        assert!(
            diags.is_empty(),
            "{}: printed text does not parse:\n{printed}",
            path.display()
        );
        // Printing is canonical: printing the reparsed tree gives the same text.
        assert_eq!(henn_syntax::print::print(&second), printed);
        first.strip_spans();
        second.strip_spans();
        assert_eq!(first, second, "{}", path.display());
        // The printed text also checks to the same model.
        let name = path.to_string_lossy().into_owned();
        let original = henn_sema::check_source(&name, &text).unwrap();
        assert_eq!(henn_sema::check_source(&name, &printed).unwrap(), original);
        n += 1;
    }
    assert!(n >= 8);
}

/// Every diagnostic code is exercised by a file: errors in `fail/`, warnings in `pass/`, the
/// compiler's errors (E0131–E0135) in `compile-fail/` (files that check but do not compile; the
/// driver's `tests/located.rs` runs `henn check` and `henn compile` on them). E0007 (file too
/// large) is the exception: its 1 MiB input is generated in `tests/model.rs`.
#[test]
fn every_code_has_a_test_file() {
    let mut covered = BTreeSet::new();
    let files = henn_files("fail").into_iter().chain(henn_files("pass"));
    for path in files.chain(henn_files("compile-fail")) {
        let (header, _) = analyze(&path);
        covered.extend(header.errors.unwrap_or_default());
        covered.extend(header.warnings.unwrap_or_default());
    }
    covered.insert("E0007".to_owned());
    let all: BTreeSet<String> = henn_syntax::Code::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(covered, all);
}
