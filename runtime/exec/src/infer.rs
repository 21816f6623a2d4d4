//! The server's role in an inference job: run an inference plan's forward pass on every batch of
//! an owner's encrypted queries with evaluation keys only, on encrypted weights, and write the
//! encrypted class scores.
//!
//! With encrypted weights, the weights are a bundle of state ciphertexts: the trained state a
//! training plan's server wrote (bound to *that* plan's content hash, which the inference plan
//! names, and to the same key set as the queries). With plaintext weights the compiler put them
//! into the plan's constants (its products are ciphertext × plaintext) and there is no weights
//! bundle; a plan with plaintext-mode state inputs (as compiled before) still reads a weights
//! bundle bound to it, encrypted under the public key. Either way the server never holds a secret
//! key, and every ciphertext's name, level and scale is checked against the plan where it is read.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use henn_ckks::Ciphertext;
use henn_plan::plan::{InputSource, WeightSource};

use crate::backend::Backend as _;
use crate::ckks::CkksBackend;
use crate::context::input_level;
use crate::executor::run_step;
use crate::files::{self, Binding, BundleKind, BundleReader, BundleWriter};
use crate::server::{LoadedPlan, Progress, ServeError};

/// What an inference run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferSummary {
    /// Batches of queries run.
    pub batches: u64,
    /// Score ciphertexts written.
    pub predictions: u64,
}

/// Classifies the queries at `queries` with the evaluation keys at `eval_keys`, writing the class
/// scores to `output` (atomically, once every batch has run). `weights` is the weights bundle of
/// a plan with state inputs (the trained state of its training plan, or a plaintext-mode weights
/// bundle bound to it); a plan on plaintext weights compiled into its constants has no state
/// inputs and takes none. The queries of one batch run as soon as they have all arrived.
pub fn infer(
    loaded: &LoadedPlan,
    eval_keys: &Path,
    weights: Option<&Path>,
    queries: &Path,
    output: &Path,
    progress: impl FnMut(Progress),
) -> Result<InferSummary, ServeError> {
    let LoadedPlan { plan, hash, ctx } = loaded;
    let Some(spec) = plan.infer() else {
        return Err(bad(
            Path::new("plan"),
            "a training plan: `infer` runs inference plans (compile one with `henn predict`)"
                .to_owned(),
        ));
    };
    let (keys, key_set) = files::load_eval_keys(ctx, hash, eval_keys)?;
    let mut state = load_weights(loaded, spec, (eval_keys, key_set), weights)?;
    let mut qb = BundleReader::open(ctx, hash, queries)?;
    files::same_key_set((eval_keys, key_set), (queries, qb.key_set()))?;
    if qb.kind != BundleKind::Queries {
        return Err(bad(queries, "not a queries bundle".to_owned()));
    }
    let backend = CkksBackend::for_plan(ctx, &keys, plan)?;
    // Weights above the input level (a trained state's tensors leave the last step at different
    // depths) come down to it: the plan's rotation keys stop at its input level.
    let level = input_level(ctx, plan);
    for ct in state.values_mut() {
        if ct.level() > level {
            *ct = backend.drop_to_level(ct, level)?;
        }
    }
    run_batches(
        loaded,
        &backend,
        &state,
        (&mut qb, queries),
        (output, key_set),
        progress,
    )
}

fn bad(path: &Path, reason: String) -> ServeError {
    ServeError::Data {
        path: path.into(),
        reason,
    }
}

/// Whether a ciphertext has the plan's base scale Δ.
fn at_delta(plan: &henn_plan::Plan, ct: &Ciphertext) -> bool {
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    (ct.scale() / delta - 1.0).abs() < 1e-9
}

/// The weights: every state input of the plan once, deep enough for the forward pass, from the
/// bundle the plan's weight source names (none for a plan without state inputs). A trained state
/// may carry more (a NAG's previous step), which inference does not read.
fn load_weights(
    loaded: &LoadedPlan,
    spec: &henn_plan::plan::InferSpec,
    (eval_keys, key_set): (&Path, files::KeySetId),
    weights: Option<&Path>,
) -> Result<HashMap<String, Ciphertext>, ServeError> {
    let LoadedPlan { plan, hash, ctx } = loaded;
    let state_names: BTreeSet<&str> = plan
        .data
        .inputs
        .iter()
        .filter(|i| i.state_slot().is_some())
        .map(|i| i.name.as_str())
        .collect();
    let weights = match (weights, state_names.is_empty()) {
        (None, true) => return Ok(HashMap::new()),
        (Some(w), true) => {
            return Err(bad(
                w,
                "the plan carries its weights as plaintext constants: it takes no weights bundle"
                    .to_owned(),
            ));
        }
        (None, false) => {
            return Err(bad(
                Path::new("plan"),
                "the plan reads its weights from a bundle: pass the weights".to_owned(),
            ));
        }
        (Some(w), false) => w,
    };
    let (weights_hash, weights_kind) = match spec.weights {
        WeightSource::Encrypted { train_plan } => (train_plan, BundleKind::TrainedState),
        WeightSource::Plaintext => (*hash, BundleKind::Weights),
    };
    let mut wb = BundleReader::open(ctx, &weights_hash, weights)?;
    files::same_key_set((eval_keys, key_set), (weights, wb.key_set()))?;
    if wb.kind != weights_kind {
        return Err(bad(weights, format!("not a {weights_kind:?} bundle")));
    }
    let depth = plan.schedule.depth_per_step as usize;
    let mut state: HashMap<String, Ciphertext> = HashMap::new();
    while let Some((_, name, ct)) = wb.next_record()? {
        if !state_names.contains(name.as_str()) {
            continue;
        }
        if ct.level() < depth || !at_delta(plan, &ct) {
            return Err(bad(
                weights,
                format!(
                    "weight `{name}` is at level {} and scale 2^{:.2}; the forward pass needs level ≥ {depth} and scale Δ",
                    ct.level(),
                    ct.scale().log2()
                ),
            ));
        }
        if state.insert(name.clone(), ct).is_some() {
            return Err(bad(weights, format!("weight `{name}` appears twice")));
        }
    }
    if state.len() != state_names.len() {
        return Err(bad(
            weights,
            format!(
                "holds {} of the plan's {} weight ciphertexts",
                state.len(),
                state_names.len()
            ),
        ));
    }
    Ok(state)
}

/// Runs every batch of queries as soon as its ciphertexts have arrived and writes the scores.
fn run_batches(
    loaded: &LoadedPlan,
    backend: &CkksBackend<'_>,
    state: &HashMap<String, Ciphertext>,
    (qb, queries): (&mut BundleReader, &Path),
    (output, key_set): (&Path, files::KeySetId),
    mut progress: impl FnMut(Progress),
) -> Result<InferSummary, ServeError> {
    let LoadedPlan { plan, hash, ctx } = loaded;
    let per_batch: BTreeSet<&str> = plan
        .data
        .inputs
        .iter()
        .filter(|i| matches!(i.source, InputSource::Features { .. }))
        .map(|i| i.name.as_str())
        .collect();
    let per = per_batch.len().max(1) as u64;
    if qb.is_empty() || !qb.len().is_multiple_of(per) {
        return Err(bad(
            queries,
            format!(
                "holds {} ciphertexts, not a whole number of batches of {per}",
                qb.len()
            ),
        ));
    }
    let batches = qb.len() / per;
    let level = input_level(ctx, plan);
    let count = batches * plan.data.predictions.len() as u64;
    let mut out = BundleWriter::create(
        ctx,
        &Binding::new(hash, key_set),
        BundleKind::Predictions,
        count,
        output,
    )?;
    let mut pending: HashMap<String, Ciphertext> = HashMap::new();
    let mut batch = 0u64;
    while let Some((step, name, ct)) = qb.next_record()? {
        if step != batch || !per_batch.contains(name.as_str()) {
            return Err(bad(
                queries,
                format!(
                    "ciphertext `{name}` of batch {step} where batch {batch}'s queries were expected"
                ),
            ));
        }
        if ct.level() != level || !at_delta(plan, &ct) {
            return Err(bad(
                queries,
                format!(
                    "query `{name}` is at level {} and scale 2^{:.2}; the plan expects level {level} and scale Δ",
                    ct.level(),
                    ct.scale().log2()
                ),
            ));
        }
        if pending.insert(name.clone(), ct).is_some() {
            return Err(bad(
                queries,
                format!("`{name}` appears twice in batch {step}"),
            ));
        }
        if pending.len() as u64 == per {
            let mut inputs = std::mem::take(&mut pending);
            inputs.extend(state.iter().map(|(k, v)| (k.clone(), v.clone())));
            let scores = run_step(plan, backend, &inputs, 0, |done, total| {
                progress(Progress::Instr {
                    step: batch,
                    done,
                    total,
                })
            })?;
            for p in &plan.data.predictions {
                let ct = scores
                    .get(&p.name)
                    .ok_or_else(|| crate::ExecError::MissingInput(p.name.clone()))?;
                out.push(batch, &p.name, ct)?;
            }
            progress(Progress::StepDone { step: batch });
            batch += 1;
        }
    }
    out.finish()?;
    Ok(InferSummary {
        batches,
        predictions: count,
    })
}
