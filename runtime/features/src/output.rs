//! Streaming feature writers. Rows arrive chunk by chunk, so a 70 000 × 384 run never holds all
//! its output in memory. Each file is written to a temporary sibling and renamed into place by
//! [`FeatureSink::finish`], so an interrupted run leaves no partial file under the final name.
//!
//! * CSV: a `label,f1,…,fd` header, then `label,v1,…,vd` per image, each value as the shortest
//!   text that reads back to the same `f32` (henn-data's CSV loader reads it).
//! * NPY (format 1.0): a little-endian `float32` array of shape `(n, d)`, C order; the labels go
//!   to a second NPY file of `uint8`, shape `(n,)`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use henn_data::{AtomicFile, Overwrite};

use crate::FeatureError;

/// One output being written: henn's one atomic writer ([`henn_data::AtomicFile`]: exclusive
/// temporary sibling, removed on error or by the CLI's signal handler, renamed by `finish`).
#[derive(Debug)]
struct Pending {
    path: PathBuf,
    file: AtomicFile,
}

impl Pending {
    fn create(path: &Path) -> Result<Self, FeatureError> {
        let file = AtomicFile::create(path, false, Overwrite::NotSecret).map_err(|error| {
            FeatureError::Io {
                path: path.to_path_buf(),
                error,
            }
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), FeatureError> {
        self.file
            .write_all(bytes)
            .map_err(|error| FeatureError::Io {
                path: self.path.clone(),
                error,
            })
    }

    fn finish(self) -> Result<(), FeatureError> {
        let path = self.path;
        self.file
            .commit()
            .map_err(|error| FeatureError::Io { path, error })
    }
}

/// The NPY 1.0 header for `descr` (e.g. `<f4`) and `shape`, padded so the data starts at a
/// multiple of 64 bytes.
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Where features go: a CSV file, and optionally an NPY pair (`X.npy` features, `X.labels.npy`).
#[derive(Debug)]
pub struct FeatureSink {
    features: usize,
    csv: Option<Pending>,
    npy: Option<(Pending, Pending)>,
    line: String,
}

impl FeatureSink {
    /// Opens the outputs for `rows` images of `features` values each.
    pub fn create(
        csv: Option<&Path>,
        npy: Option<&Path>,
        rows: usize,
        features: usize,
    ) -> Result<Self, FeatureError> {
        let mut csv = csv.map(Pending::create).transpose()?;
        if let Some(c) = csv.as_mut() {
            let mut header = String::from("label");
            for f in 1..=features {
                let _ = write!(header, ",f{f}");
            }
            header.push('\n');
            c.write(header.as_bytes())?;
        }
        let npy = match npy {
            Some(p) => {
                let mut x = Pending::create(p)?;
                x.write(&npy_header("<f4", &[rows, features]))?;
                let mut y = Pending::create(&labels_path(p))?;
                y.write(&npy_header("|u1", &[rows]))?;
                Some((x, y))
            }
            None => None,
        };
        Ok(Self {
            features,
            csv,
            npy,
            line: String::new(),
        })
    }

    /// Appends rows: `values` is `labels.len() × features` row-major.
    pub fn write(&mut self, labels: &[u32], values: &[f32]) -> Result<(), FeatureError> {
        if values.len() != labels.len() * self.features {
            return Err(FeatureError::Config(format!(
                "{} values for {} rows of {}",
                values.len(),
                labels.len(),
                self.features
            )));
        }
        if let Some(c) = self.csv.as_mut() {
            for (label, row) in labels.iter().zip(values.chunks_exact(self.features)) {
                self.line.clear();
                let _ = write!(self.line, "{label}");
                for v in row {
                    let _ = write!(self.line, ",{v}");
                }
                self.line.push('\n');
                c.write(self.line.as_bytes())?;
            }
        }
        if let Some((x, y)) = self.npy.as_mut() {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            x.write(&bytes)?;
            let l: Vec<u8> = labels.iter().map(|&l| l.min(255) as u8).collect();
            y.write(&l)?;
        }
        Ok(())
    }

    /// Flushes, syncs and renames every output into place.
    pub fn finish(self) -> Result<(), FeatureError> {
        if let Some(c) = self.csv {
            c.finish()?;
        }
        if let Some((x, y)) = self.npy {
            x.finish()?;
            y.finish()?;
        }
        Ok(())
    }
}

/// `X.npy` → `X.labels.npy`.
pub fn labels_path(npy: &Path) -> PathBuf {
    let stem = npy
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    npy.with_file_name(format!("{stem}.labels.npy"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csv_reads_back_with_henn_data_and_npy_has_an_aligned_header() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("f.csv");
        let npy = dir.path().join("f.npy");
        let mut sink = FeatureSink::create(Some(&csv), Some(&npy), 3, 2).unwrap();
        sink.write(&[4, 1], &[0.1, 2.5, 1e-7, 3.0]).unwrap();
        sink.write(&[9], &[-0.0, 6.0]).unwrap();
        assert!(!csv.exists(), "nothing under the final name before finish");
        sink.finish().unwrap();
        let d = henn_data::csv::load_csv(&csv, henn_data::csv::Expect::default()).unwrap();
        assert_eq!(d.labels(), &[4, 1, 9]);
        // The shortest text of an f32 reads back to the same f32.
        let row: Vec<f32> = d.row(1).iter().map(|&v| v as f32).collect();
        assert_eq!(row, [1e-7f32, 3.0]);
        let bytes = std::fs::read(&npy).unwrap();
        let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes.len(), 10 + header_len + 3 * 2 * 4);
        let text = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(text.contains("'shape': (3, 2)"), "{text}");
        let labels = std::fs::read(labels_path(&npy)).unwrap();
        assert_eq!(&labels[labels.len() - 3..], &[4, 1, 9]);
    }
}
