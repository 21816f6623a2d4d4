//! `henn predict FILE`: encrypted inference end to end, every role in one process exchanging
//! files (kept with `--workdir`), and the comparison with plaintext inference of the same weights.
//!
//! Encrypted weights (the default): compile the training plan and the inference plan on its
//! trained state (`henn_compile::compile_for_inference`: one ring and chain, the training chain
//! keeping the levels the forward pass needs), generate one key set (the training plan's keys,
//! then the inference plan's evaluation keys from the same secret key), encrypt and train as
//! `henn run` does, then run inference on the trained state as the server wrote it, never
//! decrypted. Plaintext weights (`--weights W`): the inference plan has its own ring and carries
//! the weights as plaintext constants (ciphertext × plaintext products; nothing of the weights is
//! encrypted or uploaded, and the plan's hash, which every file of the job is bound to, binds
//! them). In both modes the owner encrypts the test set as queries, the server classifies them
//! with evaluation keys only, the owner decrypts the class scores; the owner also decrypts the
//! trained state (only to compare) and classifies the test set in the clear with it.
//!
//! Time per query is reported twice: amortized (the server time of the whole test set over the
//! number of queries, with the plan's batch) and as the latency of a single query (a plan of one
//! query, same weights and keys, timed on the first test sample on its own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use henn_ckks::{Decryptor, PublicKey, SecretKey};
use henn_compile::{InferOptions, InferWeights, compile_for_inference, compile_inference};
use henn_contract::WeightsFile;
use henn_data::{Dataset, Scaler};
use henn_owner::{self as owner, Prepared};
use henn_plan::Plan;
use henn_plan::plan::ScoreKind;
use henn_runtime::files::{self, Binding, KeySetId};
use henn_runtime::server::{self, LoadedPlan};
use henn_sema::{Activation, Model};
use henn_tir::interp::{Env, Tensor, run as interpret};
use henn_tir::{Slot, build_inference};
use serde_json::json;

use crate::inputs::{fill_samples_from, load_data, load_model};
use crate::ui::{duration, peak_rss_bytes};

#[derive(Debug, clap::Args)]
#[command(
    mut_arg("data", |a| a.help("Training data for the encrypted-weights mode (CSV `label,f1,…`, or `IMAGES,LABELS` IDX files); default: the model's.")),
    mut_arg("test", |a| a.help("The queries: a labelled test set, same formats; default: the model's.")),
)]
pub struct PredictArgs {
    #[command(flatten)]
    pub input: crate::inputs::ModelData,
    /// Plaintext-weights mode: classify with these weights (a `henn train -o`, `run -o` or
    /// `decrypt` weights file) instead of training under encryption first.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Classify only the first N test samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Queries per run of the inference plan (default: the whole test set in one run).
    #[arg(long)]
    pub batch: Option<usize>,
    /// What the server returns: the last layer's pre-activations (`logits`, fewer levels) or its
    /// activations.
    #[arg(long, value_enum, default_value_t = Scores::Logits)]
    pub scores: Scores,
    /// Keep the exchanged files (keys, bundles, plans) in this directory.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scores {
    Logits,
    Activations,
}

/// The share of test samples on which the encrypted prediction must equal the plaintext one
/// (issue 20's target).
const AGREEMENT: f64 = 0.995;

/// What the owner holds once the weights are on the server, encrypted.
struct Ready {
    /// The inference plan, loaded back from its file as the server loads it.
    loaded: LoadedPlan,
    eval_keys: PathBuf,
    /// The weights bundle (encrypted weights); `None` when the plan carries them as constants.
    weights: Option<PathBuf>,
    /// The plan of a single query with its evaluation keys (same weights, same key set), when the
    /// main plan's batch is larger than one.
    single: Option<Single>,
    public: PublicKey,
    decryptor: Decryptor,
    key_set: KeySetId,
    secret_path: PathBuf,
    scaler: Scaler,
    /// The same weights in the clear (for the comparison only).
    state: BTreeMap<Slot, Tensor>,
    /// log_n of the training plan, when there is one.
    train_log_n: Option<u32>,
}

/// The inference plan of one query, for the single-query latency.
struct Single {
    loaded: LoadedPlan,
    eval_keys: PathBuf,
}

type Seconds = Vec<(&'static str, f64)>;
type Sizes = Vec<(&'static str, u64)>;

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

pub fn run(args: PredictArgs) -> anyhow::Result<ExitCode> {
    let mut model = load_model(&args.input.file)?;
    let test_path = args.input.test_path(&model).with_context(|| {
        format!(
            "{} names no test data: pass --test",
            args.input.file.display()
        )
    })?;
    let mut test = load_data(&model, &test_path)?;
    if let Some(n) = args.limit {
        test = test.subset(&(0..n.min(test.len())).collect::<Vec<_>>());
    }
    if test.is_empty() {
        bail!("{}: no test samples", test_path.display());
    }
    let (dir, temporary) = match &args.workdir {
        Some(d) => (d.clone(), false),
        None => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let d =
                std::env::temp_dir().join(format!("henn-predict-{}-{stamp}", std::process::id()));
            (d, true)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = job(&args, &mut model, &test, &dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn job(
    args: &PredictArgs,
    model: &mut Model,
    test: &Dataset,
    dir: &Path,
) -> anyhow::Result<ExitCode> {
    let scores = match args.scores {
        Scores::Logits => ScoreKind::Logits,
        Scores::Activations => ScoreKind::Activations,
    };
    let batch = args.batch.unwrap_or(test.len()).max(1);
    let mut seconds: Seconds = Vec::new();
    let mut sizes: Sizes = Vec::new();
    let ready = match &args.weights {
        Some(w) => plaintext_weights(model, w, batch, scores, dir, &mut seconds, &mut sizes)?,
        None => encrypted_weights(args, model, batch, scores, dir, &mut seconds, &mut sizes)?,
    };
    let plan = &ready.loaded.plan;
    let ctx = &ready.loaded.ctx;
    let binding = Binding::new(&ready.loaded.hash, ready.key_set);

    // Owner: the queries, scaled with the training job's statistics.
    let t = Instant::now();
    let mut x = ready.scaler.transform(test);
    let clamped = owner::infer::clamp_queries(plan, &mut x);
    let queries = dir.join("queries.bundle");
    owner::infer::encrypt_queries(ctx, &binding, plan, ready.public.clone(), &x, &queries)?;
    seconds.push(("encrypt queries", t.elapsed().as_secs_f64()));
    sizes.push(("queries", size(&queries)));

    // Server: evaluation keys only.
    let t = Instant::now();
    let predictions = dir.join("predictions.bundle");
    let summary = henn_runtime::infer::infer(
        &ready.loaded,
        &ready.eval_keys,
        ready.weights.as_deref(),
        &queries,
        &predictions,
        |_| {},
    )?;
    let infer_s = t.elapsed().as_secs_f64();
    seconds.push(("inference (server)", infer_s));
    sizes.push(("predictions", size(&predictions)));

    // Owner: the scores.
    let t = Instant::now();
    let enc_scores = owner::infer::decrypt_predictions(
        ctx,
        &ready.loaded.hash,
        plan,
        (&ready.decryptor, (&ready.secret_path, ready.key_set)),
        &predictions,
        test.len(),
    )?;
    seconds.push(("decrypt", t.elapsed().as_secs_f64()));
    let classes = model.data.classes;
    let threshold = if scores == ScoreKind::Logits {
        0.0
    } else {
        0.5
    };
    let enc_pred = owner::infer::classify(&enc_scores, classes, threshold);

    // The latency of one query on its own: the first test sample through the plan of one query.
    let single = match &ready.single {
        None => Latency {
            seconds: infer_s / summary.batches.max(1) as f64,
            agrees: true,
        },
        Some(single) => {
            let row = &x[..plan.data.features];
            let latency = single_query(&ready, single, row, dir)?;
            let class = owner::infer::classify(&latency.1, classes, threshold);
            Latency {
                seconds: latency.0,
                agrees: class.first() == enc_pred.first(),
            }
        }
    };

    // Plaintext inference of the same weights: the model's own prediction, and the scores the
    // server computed (logits or activations) in f64.
    let full = forward(model, &ready.state, &x, test.len())?;
    let plain_pred: Vec<u32> = (0..full.rows)
        .map(|r| henn_tir::train::predict(full.row(r)))
        .collect();
    let scoring = scoring_model(model, scores);
    let plain_scores = forward(&scoring, &ready.state, &x, test.len())?;
    let n = test.len();
    let labels = test.labels();
    let acc = |p: &[u32]| p.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / n as f64;
    let Agreement {
        agree,
        model_agree,
        near_ties,
        max_score_error,
    } = agreement(
        (&enc_pred, &enc_scores),
        (&plain_pred, &plain_scores.data),
        classes,
        threshold,
    );
    let out = json!({
        "model": model.name,
        "weights": if args.weights.is_some() { "plaintext" } else { "encrypted" },
        "scores": format!("{scores:?}").to_lowercase(),
        "log_n": plan.params.log_n,
        "train_log_n": ready.train_log_n,
        "security": plan.params.security,
        "input_level": plan.infer().map(|s| s.input_level),
        "depth": plan.schedule.depth_per_step,
        "queries": n,
        "batch": plan.data.batch_size,
        "batches": summary.batches,
        "encrypted_accuracy": acc(&enc_pred),
        "plaintext_accuracy": acc(&plain_pred),
        "agreement": agree,
        "near_ties": near_ties,
        "model_agreement": model_agree,
        "clamped_features": clamped,
        "max_score_error": max_score_error,
        "seconds_per_query": infer_s / n as f64,
        "seconds_per_batch": infer_s / summary.batches.max(1) as f64,
        "single_query_seconds": single.seconds,
        "single_query_agrees": single.agrees,
        "plan_hash": hex(&ready.loaded.hash),
        "seconds": seconds.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect::<serde_json::Map<_, _>>(),
        "bytes": sizes.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect::<serde_json::Map<_, _>>(),
        "peak_rss_bytes": peak_rss_bytes(),
    });
    if args.json {
        outln!("{out}");
    } else {
        print_summary(&out, &seconds, &sizes);
    }
    if !single.agrees {
        eprintln!(
            "error: the single-query run classified the first sample differently from the batch run"
        );
        return Ok(ExitCode::FAILURE);
    }
    let disagree = ((1.0 - agree) * n as f64).round() as usize;
    if agree < AGREEMENT && disagree > near_ties {
        eprintln!(
            "error: the encrypted predictions agree with plaintext inference on {:.2}% of the samples, below {:.1}%",
            100.0 * agree,
            100.0 * AGREEMENT
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// How the encrypted predictions compare with plaintext inference.
struct Agreement {
    /// Share of samples whose encrypted class equals the class of the same scores in the clear.
    agree: f64,
    /// Share equal to the model's own prediction (through its last activation).
    model_agree: f64,
    /// Disagreements that are near ties (see [`agreement`]).
    near_ties: usize,
    max_score_error: f64,
}

/// Encryption's effect: the class of the encrypted scores against the class of the same scores
/// computed in the clear (logits may leave the activation's interval, where a fitted polynomial
/// is not monotone: the model's own prediction is compared separately); a disagreement is a near
/// tie when the two classes' plaintext scores are within twice the largest measured score error.
fn agreement(
    (enc_pred, enc_scores): (&[u32], &[f64]),
    (plain_pred, plain_scores): (&[u32], &[f64]),
    classes: usize,
    threshold: f64,
) -> Agreement {
    let n = enc_pred.len().max(1);
    let max_score_error = enc_scores
        .iter()
        .zip(plain_scores)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f64, f64::max);
    let plain_class = owner::infer::classify(plain_scores, classes, threshold);
    let share =
        |p: &[u32]| enc_pred.iter().zip(p).filter(|(a, b)| a == b).count() as f64 / n as f64;
    let width = classes.max(1);
    let near_ties = enc_pred
        .iter()
        .zip(&plain_class)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .filter(|&(r, (&a, &b))| {
            let row = &plain_scores[r * width..(r + 1) * width];
            let margin = if classes <= 1 {
                (row[0] - threshold).abs()
            } else {
                (row[a as usize] - row[b as usize]).abs()
            };
            margin <= 2.0 * max_score_error
        })
        .count();
    Agreement {
        agree: share(&plain_class),
        model_agree: share(plain_pred),
        near_ties,
        max_score_error,
    }
}

fn print_summary(out: &serde_json::Value, seconds: &Seconds, sizes: &Sizes) {
    let pct = |k: &str| 100.0 * out[k].as_f64().unwrap_or(0.0);
    outln!(
        "{} ({} weights, {} scores): N = 2^{}, security {}, depth {}",
        out["model"].as_str().unwrap_or(""),
        out["weights"].as_str().unwrap_or(""),
        out["scores"].as_str().unwrap_or(""),
        out["log_n"],
        out["security"].as_str().unwrap_or(""),
        out["depth"]
    );
    outln!(
        "  {} queries in {} batch(es) of {}",
        out["queries"],
        out["batches"],
        out["batch"]
    );
    outln!(
        "  accuracy: encrypted {:.2}%, plaintext (same weights) {:.2}%; predictions agree on {:.2}%; largest score error {:.2e}",
        pct("encrypted_accuracy"),
        pct("plaintext_accuracy"),
        pct("agreement"),
        out["max_score_error"].as_f64().unwrap_or(0.0)
    );
    outln!(
        "  server time: {} per query amortized ({} per batch of {}); single-query latency {}",
        duration(out["seconds_per_query"].as_f64().unwrap_or(0.0)),
        duration(out["seconds_per_batch"].as_f64().unwrap_or(0.0)),
        out["batch"],
        duration(out["single_query_seconds"].as_f64().unwrap_or(0.0))
    );
    let times: Vec<String> = seconds
        .iter()
        .map(|(k, v)| format!("{k} {}", duration(*v)))
        .collect();
    outln!("  times: {}", times.join(", "));
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let moved: Vec<String> = sizes
        .iter()
        .map(|(k, v)| format!("{k} {:.1} MiB", mib(*v)))
        .collect();
    outln!("  sizes moved: {}", moved.join(", "));
    outln!(
        "  plan {} (every file of the job is bound to it{})",
        out["plan_hash"].as_str().unwrap_or(""),
        if out["weights"] == "plaintext" {
            "; it carries the weights"
        } else {
            ""
        }
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The single-query measurement.
struct Latency {
    seconds: f64,
    /// The query's class equals the one the batch run gave it.
    agrees: bool,
}

/// Encrypts one query (`row`: scaled features) for the plan of one query, runs it on the server
/// and decrypts its scores: the server time and the scores.
fn single_query(
    ready: &Ready,
    single: &Single,
    row: &[f64],
    dir: &Path,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let l = &single.loaded;
    let queries = dir.join("query1.bundle");
    let binding = Binding::new(&l.hash, ready.key_set);
    owner::infer::encrypt_queries(
        &l.ctx,
        &binding,
        &l.plan,
        ready.public.clone(),
        row,
        &queries,
    )?;
    let predictions = dir.join("predictions1.bundle");
    let t = Instant::now();
    henn_runtime::infer::infer(
        l,
        &single.eval_keys,
        ready.weights.as_deref(),
        &queries,
        &predictions,
        |_| {},
    )?;
    let seconds = t.elapsed().as_secs_f64();
    let scores = owner::infer::decrypt_predictions(
        &l.ctx,
        &l.hash,
        &l.plan,
        (&ready.decryptor, (&ready.secret_path, ready.key_set)),
        &predictions,
        1,
    )?;
    Ok((seconds, scores))
}

/// Saves an inference plan as `name`, loads it back as the server does and writes its evaluation
/// keys, generated from the owner's secret key (the key set of the job), to `keys`.
fn inference_keys(
    dir: &Path,
    (plan, name, keys): (&Plan, &str, &str),
    secret: &SecretKey,
    key_set: KeySetId,
) -> anyhow::Result<(LoadedPlan, PathBuf)> {
    let path = dir.join(name);
    henn_plan::io::save(plan, &path)?;
    let loaded = LoadedPlan::load(&path)?;
    let mut server = henn_runtime::keys::ServerKeys::default();
    owner::eval_keys_for_secret(&loaded.ctx, &loaded.plan, secret, |k| {
        server.insert(k);
        Ok(())
    })?;
    let out = dir.join(keys);
    files::save_eval_keys(
        &loaded.ctx,
        &Binding::new(&loaded.hash, key_set),
        &server,
        &out,
    )?;
    Ok((loaded, out))
}

/// The plan of one query beside a main plan of `batch` queries (none when `batch` is 1), with
/// its keys; it must have the main plan's parameters (the same key set encrypts for both).
fn single_plan(
    dir: &Path,
    batch: usize,
    main: &LoadedPlan,
    compile: impl FnOnce() -> anyhow::Result<Plan>,
    secret: &SecretKey,
    key_set: KeySetId,
) -> anyhow::Result<Option<Single>> {
    if batch <= 1 {
        return Ok(None);
    }
    let plan = compile()?;
    if plan.params != main.plan.params {
        bail!("the plan of a single query has other parameters than the batch plan");
    }
    let (loaded, eval_keys) =
        inference_keys(dir, (&plan, "infer1.hplan", "infer1.evk"), secret, key_set)?;
    Ok(Some(Single { loaded, eval_keys }))
}

/// The model whose forward pass computes the plan's scores (logits: the last activation
/// dropped), as the compiler builds it.
fn scoring_model(model: &Model, scores: ScoreKind) -> Model {
    let mut m = model.clone();
    if scores == ScoreKind::Logits
        && let Some(last) = m.layers.last_mut()
    {
        last.activation = Activation::Identity;
    }
    m
}

/// The forward pass in f64 on scaled features (`rows` rows): the last layer's output.
fn forward(
    model: &Model,
    state: &BTreeMap<Slot, Tensor>,
    x: &[f64],
    rows: usize,
) -> anyhow::Result<Tensor> {
    let step = build_inference(model, rows)?;
    let env = Env {
        features: Some(Tensor {
            rows,
            cols: model.data.features,
            data: x.to_vec(),
        }),
        labels: None,
        state: state.clone(),
        momentum: 0.0,
    };
    let outcome = interpret(&step.graph, &env)?;
    let last = step.a.last().copied().context("a model without layers")?;
    outcome
        .value(last)
        .cloned()
        .context("the forward pass has no output")
}

/// Plaintext weights: the inference plan alone (its own ring, the weights and their scaling
/// compiled in as plaintext constants) and a fresh key set; nothing of the weights is encrypted.
fn plaintext_weights(
    model: &Model,
    path: &Path,
    batch: usize,
    scores: ScoreKind,
    dir: &Path,
    seconds: &mut Seconds,
    sizes: &mut Sizes,
) -> anyhow::Result<Ready> {
    let weights = WeightsFile::load(path)?;
    let state = henn_tir::weights::model_state(&weights, model, path)?;
    let t = Instant::now();
    let compile = |batch: usize| {
        compile_inference(
            model,
            &InferOptions {
                batch,
                weights: InferWeights::Plaintext {
                    state: &state,
                    scaling: Some(&weights.scaling),
                },
                scores,
                optimize: true,
            },
        )
        .map(|c| c.plan)
        .with_context(|| format!("cannot compile the inference plan of `{}`", model.name))
    };
    let plan = compile(batch)?;
    crate::ui::warn_insecure(&plan);
    let plan_path = dir.join("infer.hplan");
    henn_plan::io::save(&plan, &plan_path)?;
    let loaded = LoadedPlan::load(&plan_path)?;
    seconds.push(("compile", t.elapsed().as_secs_f64()));
    sizes.push(("plan (with the weights)", size(&plan_path)));

    let t = Instant::now();
    let ctx = &loaded.ctx;
    let keys = owner::keygen(ctx, &loaded.plan)?;
    let secret_path = dir.join("owner.secret");
    let key_set = KeySetId::random(&secret_path)?;
    let binding = Binding::new(&loaded.hash, key_set);
    let eval_keys = dir.join("infer.evk");
    files::save_eval_keys(ctx, &binding, &keys.server, &eval_keys)?;
    seconds.push(("keygen", t.elapsed().as_secs_f64()));
    sizes.push(("evaluation keys", size(&eval_keys)));
    let single = single_plan(dir, batch, &loaded, || compile(1), &keys.secret, key_set)?;
    Ok(Ready {
        decryptor: Decryptor::new(ctx, keys.secret),
        public: keys.public,
        loaded,
        eval_keys,
        weights: None,
        single,
        key_set,
        secret_path,
        scaler: weights.scaling,
        state,
        train_log_n: None,
    })
}

/// Encrypted weights: train under encryption first, then hand the trained state to the
/// inference plan as the server wrote it.
fn encrypted_weights(
    args: &PredictArgs,
    model: &mut Model,
    batch: usize,
    scores: ScoreKind,
    dir: &Path,
    seconds: &mut Seconds,
    sizes: &mut Sizes,
) -> anyhow::Result<Ready> {
    let train_path = args.input.train_path(model)?;
    let train = load_data(model, &train_path)?;
    for note in fill_samples_from(model, &train_path, train.len()) {
        eprintln!("{note}");
    }
    let t = Instant::now();
    let (tc, ic) = compile_for_inference(model, &Default::default(), batch, scores)
        .with_context(|| format!("cannot compile {}", args.input.file.display()))?;
    crate::ui::warn_insecure(&tc.plan);
    let train_plan = dir.join("train.hplan");
    henn_plan::io::save(&tc.plan, &train_plan)?;
    let lt = LoadedPlan::load(&train_plan)?;
    seconds.push(("compile", t.elapsed().as_secs_f64()));

    // Owner: one key set for both plans.
    let t = Instant::now();
    let ctx = &lt.ctx;
    let keys = owner::keygen(ctx, &lt.plan)?;
    let secret_path = dir.join("owner.secret");
    let key_set = KeySetId::random(&secret_path)?;
    let train_keys = dir.join("train.evk");
    files::save_eval_keys(
        ctx,
        &Binding::new(&lt.hash, key_set),
        &keys.server,
        &train_keys,
    )?;
    let (li, infer_keys) = inference_keys(
        dir,
        (&ic.plan, "infer.hplan", "infer.evk"),
        &keys.secret,
        key_set,
    )?;
    let single = single_plan(
        dir,
        batch,
        &li,
        || {
            let infer = compile_inference(
                model,
                &InferOptions {
                    batch: 1,
                    weights: InferWeights::Encrypted {
                        train: &lt.plan,
                        hash: lt.hash,
                    },
                    scores,
                    optimize: true,
                },
            )?;
            Ok(infer.plan)
        },
        &keys.secret,
        key_set,
    )?;
    seconds.push(("keygen", t.elapsed().as_secs_f64()));
    sizes.push(("training evaluation keys", size(&train_keys)));
    sizes.push(("inference evaluation keys", size(&infer_keys)));

    // Owner: the training job's upload; server: training.
    let t = Instant::now();
    let prepared = Prepared::new(&lt.plan.owner, &train)?;
    let upload = dir.join("train.bundle");
    owner::job::encrypt_training_data(
        ctx,
        &Binding::new(&lt.hash, key_set),
        &lt.plan,
        keys.public.clone(),
        &prepared,
        &upload,
        |_| {},
    )?;
    seconds.push(("encrypt training data", t.elapsed().as_secs_f64()));
    sizes.push(("training upload", size(&upload)));
    let t = Instant::now();
    let state_path = dir.join("state.bundle");
    server::train(
        &lt,
        &train_keys,
        &upload,
        &state_path,
        server::TrainOptions::default(),
        |_| {},
    )?;
    seconds.push(("train (server)", t.elapsed().as_secs_f64()));
    sizes.push(("trained state", size(&state_path)));

    // Owner, for the comparison only: the same weights in the clear.
    let decryptor = Decryptor::new(ctx, keys.secret);
    let (state, steps) = owner::job::decrypt_state_with(
        ctx,
        &lt.hash,
        &lt.plan,
        (&decryptor, (&secret_path, key_set)),
        &state_path,
    )?;
    let file = owner::job::weights_file(&lt.plan, &state, prepared.scaler.clone(), steps);
    let clear = henn_tir::weights::model_state(&file, model, &state_path)?;
    Ok(Ready {
        train_log_n: Some(lt.plan.params.log_n),
        loaded: li,
        eval_keys: infer_keys,
        weights: Some(state_path),
        single,
        public: keys.public,
        decryptor,
        key_set,
        secret_path,
        scaler: prepared.scaler,
        state: clear,
    })
}
