//! The server's role in an inference job: run an inference plan's forward pass on every batch of
//! an owner's encrypted queries with evaluation keys only, on encrypted weights, and write the
//! encrypted class scores.
//!
//! The weights are a bundle of state ciphertexts: with encrypted weights, the trained state a
//! training plan's server wrote (bound to *that* plan's content hash, which the inference plan
//! names, and to the same key set as the queries); with plaintext weights, a bundle bound to the
//! inference plan that whoever holds the weights encrypted under the public key. Either way the
//! server never holds a secret key, and every ciphertext's name, level and scale is checked
//! against the plan where it is read.

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

/// Classifies the queries at `queries` with the weights at `weights` and the evaluation keys at
/// `eval_keys`, writing the class scores to `output` (atomically, once every batch has run).
/// The queries of one batch run as soon as they have all arrived.
pub fn infer(
    loaded: &LoadedPlan,
    eval_keys: &Path,
    weights: &Path,
    queries: &Path,
    output: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<InferSummary, ServeError> {
    let LoadedPlan { plan, hash, ctx } = loaded;
    let bad = |path: &Path, reason: String| ServeError::Data {
        path: path.into(),
        reason,
    };
    let Some(spec) = plan.infer() else {
        return Err(bad(
            Path::new("plan"),
            "a training plan: `infer` runs inference plans (compile one with `henn predict`)"
                .to_owned(),
        ));
    };
    let (keys, key_set) = files::load_eval_keys(ctx, hash, eval_keys)?;
    let (weights_hash, weights_kind) = match spec.weights {
        WeightSource::Encrypted { train_plan } => (train_plan, BundleKind::TrainedState),
        WeightSource::Plaintext => (*hash, BundleKind::Weights),
    };
    let mut wb = BundleReader::open(ctx, &weights_hash, weights)?;
    files::same_key_set((eval_keys, key_set), (weights, wb.key_set()))?;
    if wb.kind != weights_kind {
        return Err(bad(weights, format!("not a {weights_kind:?} bundle")));
    }
    let mut qb = BundleReader::open(ctx, hash, queries)?;
    files::same_key_set((eval_keys, key_set), (queries, qb.key_set()))?;
    if qb.kind != BundleKind::Queries {
        return Err(bad(queries, "not a queries bundle".to_owned()));
    }
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let scale_ok = |ct: &Ciphertext| (ct.scale() / delta - 1.0).abs() < 1e-9;

    // The weights: every state input of the plan once, deep enough for the forward pass. A
    // trained state may carry more (a NAG's previous step), which inference does not read.
    let state_names: BTreeSet<&str> = plan
        .data
        .inputs
        .iter()
        .filter(|i| i.state_slot().is_some())
        .map(|i| i.name.as_str())
        .collect();
    let depth = plan.schedule.depth_per_step as usize;
    let mut state: HashMap<String, Ciphertext> = HashMap::new();
    while let Some((_, name, ct)) = wb.next_record()? {
        if !state_names.contains(name.as_str()) {
            continue;
        }
        if ct.level() < depth || !scale_ok(&ct) {
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

    // The queries, batch by batch.
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
    let backend = CkksBackend::for_plan(ctx, &keys, plan)?;
    // Weights above the input level (a trained state's tensors leave the last step at different
    // depths) come down to it: the plan's rotation keys stop at its input level.
    for ct in state.values_mut() {
        if ct.level() > level {
            *ct = backend.drop_to_level(ct, level)?;
        }
    }
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
        if ct.level() != level || !scale_ok(&ct) {
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
            let scores = run_step(plan, &backend, &inputs, 0, |done, total| {
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
