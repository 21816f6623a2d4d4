//! CSV datasets: one sample per line, `label,f1,…,fd`.
//!
//! The first line may be a header: it is one exactly when none of its fields parses as a number.
//! A first line that mixes numbers and words is reported as a bad field, not silently skipped.
//! Blank lines are ignored. Labels must be non-negative integers (`3` or `3.0`).

use std::fmt::Write as _;
use std::path::Path;

use crate::{DataError, Dataset, label_values};

/// What the caller knows about the file's shape; `None` means "take it from the file".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expect {
    /// Features per row (not counting the label).
    pub features: Option<usize>,
    /// Model outputs; `1` means binary labels 0/1, `k ≥ 2` means labels `0..k`.
    pub classes: Option<usize>,
}

/// Loads a CSV file (optionally gzip-compressed).
pub fn load_csv(path: &Path, expect: Expect) -> Result<Dataset, DataError> {
    let bytes = crate::read_maybe_gz(path)?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    parse_csv(path, &text, expect)
}

/// Parses CSV text; `path` is used for messages and as the dataset's source.
pub fn parse_csv(path: &Path, text: &str, expect: Expect) -> Result<Dataset, DataError> {
    let p = || path.to_path_buf();
    let allowed = expect.classes.map(label_values);
    let mut width: Option<usize> = expect.features.map(|f| f + 1);
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
        if line == 1 && fields.iter().all(|f| f.parse::<f64>().is_err()) {
            continue; // header
        }
        match width {
            Some(w) if w != fields.len() => {
                return Err(if expect.features.is_some() {
                    DataError::WrongWidth {
                        path: p(),
                        line,
                        expected: w - 1,
                        found: fields.len().saturating_sub(1),
                    }
                } else {
                    DataError::Ragged {
                        path: p(),
                        line,
                        expected: w,
                        found: fields.len(),
                    }
                });
            }
            Some(_) => {}
            None => {
                if fields.len() < 2 {
                    return Err(DataError::Ragged {
                        path: p(),
                        line,
                        expected: 2,
                        found: fields.len(),
                    });
                }
                width = Some(fields.len());
            }
        }
        let mut values = Vec::with_capacity(fields.len());
        for (f, text) in fields.iter().enumerate() {
            let v: f64 = text.parse().map_err(|_| DataError::NotNumeric {
                path: p(),
                line,
                field: f + 1,
                text: (*text).to_owned(),
            })?;
            if !v.is_finite() {
                return Err(DataError::NonFinite {
                    path: p(),
                    line,
                    field: f + 1,
                });
            }
            values.push(v);
        }
        let label = values[0];
        let bad_label = label < 0.0
            || label.fract() != 0.0
            || label > f64::from(u32::MAX)
            || allowed.is_some_and(|a| label as usize >= a);
        if bad_label {
            return Err(DataError::LabelOutOfRange {
                path: p(),
                line,
                label: fields[0].to_owned(),
                allowed: allowed.unwrap_or(u32::MAX as usize),
            });
        }
        labels.push(label as u32);
        x.extend_from_slice(&values[1..]);
    }
    let Some(w) = width.filter(|_| !labels.is_empty()) else {
        return Err(DataError::Empty { path: p() });
    };
    Dataset::new(path.display().to_string(), w - 1, x, labels)
}

/// Renders a dataset as CSV (with a `label,f1,…` header). Values use Rust's shortest round-trip
/// formatting, so reading the text back gives the same `f64`s.
pub fn to_csv_string(data: &Dataset) -> String {
    let mut out = String::with_capacity(data.x().len() * 6);
    out.push_str("label");
    for f in 1..=data.features() {
        let _ = write!(out, ",f{f}");
    }
    out.push('\n');
    for i in 0..data.len() {
        let _ = write!(out, "{}", data.labels()[i]);
        for v in data.row(i) {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    out
}

/// Writes a dataset as CSV, atomically.
pub fn write_csv(path: &Path, data: &Dataset) -> Result<(), DataError> {
    crate::write_atomic(path, to_csv_string(data).as_bytes())
}
