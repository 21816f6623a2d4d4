//! File-driven integration tests for the `.henn` front end (the tests live in `tests/*.rs`).
//!
//! The central data structure is the test file itself: every `.henn` file under `fail/`, `pass/`
//! and the repository's `examples/` starts with a comment header. [`Header`] reads it:
//!
//! ```text
//! # Tests: what this file exercises.
//! # expect = ["E0111"]            (fail/: the exact set of error codes)
//! # expect = "ok"                 (pass/ and examples/)
//! # warnings = ["W0001"]          (optional: the exact set of warning codes)
//! # summary = "64 → 10, bce, …"   (optional: the `henn check` summary)
//! ```

use std::path::{Path, PathBuf};

/// What a test file's header promises.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The first comment line, without `#`.
    pub description: String,
    /// `None` for `expect = "ok"`, otherwise the error codes.
    pub errors: Option<Vec<String>>,
    /// `None` when the header does not say (examples may then warn).
    pub warnings: Option<Vec<String>>,
    pub summary: Option<String>,
}

fn string_list(value: &str) -> Vec<String> {
    value
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Header {
    /// Parses the leading `#` lines of `text` (bytes, so that non-UTF-8 test files work).
    pub fn parse(text: &[u8]) -> Header {
        let text = String::from_utf8_lossy(text);
        let mut header = Header::default();
        for (i, line) in text.lines().take_while(|l| l.starts_with('#')).enumerate() {
            let body = line.trim_start_matches('#').trim();
            if i == 0 {
                header.description = body.to_owned();
            }
            let Some((key, value)) = body.split_once('=') else {
                continue;
            };
            match key.trim() {
                "expect" if value.trim() == "\"ok\"" => header.errors = None,
                "expect" => header.errors = Some(string_list(value)),
                "warnings" => header.warnings = Some(string_list(value)),
                "summary" => header.summary = Some(value.trim().trim_matches('"').to_owned()),
                _ => {}
            }
        }
        header
    }
}

/// The `.henn` files directly inside `dir` (relative to this package), sorted.
pub fn henn_files(dir: &str) -> Vec<PathBuf> {
    let joined = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let base = joined.canonicalize().unwrap_or(joined);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&base)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "henn"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// `path` relative to the workspace root, with `/` separators, for stable snapshot text.
pub fn display_name(path: &Path) -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest.canonicalize().unwrap_or(manifest.to_path_buf());
    let root = manifest.parent().unwrap_or(Path::new(""));
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
