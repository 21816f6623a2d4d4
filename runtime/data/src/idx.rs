//! The IDX format (MNIST, Fashion-MNIST): a big-endian header — two zero bytes, a type byte
//! (`0x08` = unsigned byte), the number of dimensions — then one `u32` per dimension and the
//! values. Files may be gzip-compressed; that is detected from the content, not the name.

use std::path::Path;

use crate::{DataError, Dataset};

/// A parsed IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parses an IDX array of unsigned bytes from memory.
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray, DataError> {
    let bad = |message: String| DataError::Idx {
        path: path.to_path_buf(),
        message,
    };
    if bytes.len() < 4 {
        return Err(bad(format!(
            "{} bytes is too short for an IDX header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!(
            "bad magic {:02x}{:02x}{:02x}{:02x} (expected 0000 08 nn)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!(
            "element type 0x{:02x} is not supported (only 0x08, unsigned byte)",
            bytes[2]
        )));
    }
    let ndim = usize::from(bytes[3]);
    if ndim == 0 {
        return Err(bad("zero dimensions".to_owned()));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(bad(format!("header of {ndim} dimensions is truncated")));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let body = &bytes[header..];
    if body.len() != count {
        return Err(bad(format!(
            "dimensions {dims:?} need {count} bytes of data, the file has {}",
            body.len()
        )));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// Reads one IDX file (raw or `.gz`).
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let bytes = crate::read_maybe_gz(path)?;
    parse_idx(path, &bytes)
}

/// Loads an image file and a label file into a dataset; each image is flattened row-major and its
/// pixels kept as raw byte values (scale them with [`crate::Scaler`]).
pub fn load_idx(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let img = read_idx(images)?;
    let lab = read_idx(labels)?;
    if lab.dims.len() != 1 {
        return Err(DataError::Idx {
            path: labels.to_path_buf(),
            message: format!("a label file has 1 dimension, this one has {:?}", lab.dims),
        });
    }
    let n = img.dims[0];
    if lab.dims[0] != n {
        return Err(DataError::Idx {
            path: labels.to_path_buf(),
            message: format!(
                "{} labels for {n} images in {}",
                lab.dims[0],
                images.display()
            ),
        });
    }
    let features: usize = img.dims[1..].iter().product();
    if features == 0 {
        return Err(DataError::Idx {
            path: images.to_path_buf(),
            message: format!("images of shape {:?} have no pixels", &img.dims[1..]),
        });
    }
    if n == 0 {
        return Err(DataError::Empty {
            path: images.to_path_buf(),
        });
    }
    Dataset::new(
        images.display().to_string(),
        features,
        img.data.iter().map(|&b| f64::from(b)).collect(),
        lab.data.iter().map(|&b| u32::from(b)).collect(),
    )
}
