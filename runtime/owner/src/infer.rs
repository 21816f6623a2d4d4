//! The owner's part of an inference job: encrypting queries per the inference plan, encrypting
//! plaintext-mode weights (public key only: whoever holds the weights may do it), decrypting the
//! class scores and taking their arg-max.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use henn_ckks::{Context, Decryptor, Encoder, Encryptor, PublicKey};
use henn_plan::Plan;
use henn_runtime::files::{
    Binding, BundleKind, BundleReader, BundleWriter, FileError, INITIAL_STATE_STEP, KeySetId,
    same_key_set,
};

use crate::job::{OwnerError, check_feature_range};
use crate::pack::{Batch, State, pack_batch, pack_state};

fn not_inference(plan: &Plan) -> Result<(), OwnerError> {
    match plan.infer() {
        Some(_) => Ok(()),
        None => Err(OwnerError::Mismatch(
            "a training plan where an inference plan was expected".to_owned(),
        )),
    }
}

/// Clamps scaled query features to the plan's feature bound (`OwnerContract::feature_bound`, which
/// its value ranges assume) and returns how many values were clamped. Training data beyond the
/// bound is refused; a query beyond it (a test row far outside the training statistics) is
/// clamped instead, so one outlier cannot push a polynomial activation off its interval.
pub fn clamp_queries(plan: &Plan, x: &mut [f64]) -> usize {
    let bound = plan.owner.feature_bound;
    let mut clamped = 0;
    for v in x.iter_mut() {
        if v.is_nan() {
            *v = 0.0;
            clamped += 1;
        } else if v.abs() > bound {
            *v = v.clamp(-bound, bound);
            clamped += 1;
        }
    }
    clamped
}

/// Batches of queries `rows` scaled rows fill (the last one padded with zero rows).
pub fn query_batches(plan: &Plan, rows: usize) -> usize {
    rows.div_ceil(plan.data.batch_size.max(1))
}

/// Encrypts `rows` queries (`x`: scaled features, row-major, checked against the plan's feature
/// bound: see [`clamp_queries`]) into a queries bundle: one record per feature input of every batch, at the plan's input
/// level. Returns the number of ciphertexts.
pub fn encrypt_queries(
    ctx: &Arc<Context>,
    binding: &Binding,
    plan: &Plan,
    pk: PublicKey,
    x: &[f64],
    output: &Path,
) -> Result<u64, OwnerError> {
    not_inference(plan)?;
    let d = plan.data.features;
    let batch = plan.data.batch_size.max(1);
    if d == 0 || !x.len().is_multiple_of(d) || x.is_empty() {
        return Err(OwnerError::Mismatch(format!(
            "{} query values are not whole rows of {d} features",
            x.len()
        )));
    }
    check_feature_range(x, &plan.owner)?;
    let rows = x.len() / d;
    let batches = query_batches(plan, rows);
    let per_batch = plan
        .data
        .inputs
        .iter()
        .filter(|i| i.state_slot().is_none())
        .count();
    let count = (batches * per_batch) as u64;
    let encoder = Encoder::new(ctx);
    let mut encryptor = Encryptor::new(ctx, pk)?;
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let level = crate::input_level(ctx, plan);
    let mut out = BundleWriter::create(ctx, binding, BundleKind::Queries, count, output)?;
    for b in 0..batches {
        let mut features = vec![0.0; batch * d];
        let chunk = &x[b * batch * d..((b + 1) * batch * d).min(x.len())];
        features[..chunk.len()].copy_from_slice(chunk);
        let packed = pack_batch(
            plan,
            &Batch {
                features: &features,
                labels: &[],
            },
        )?;
        let mut names: Vec<_> = packed.keys().cloned().collect();
        names.sort();
        for name in names {
            let pt = encoder.encode_real(&packed[&name], level, delta)?;
            out.push(b as u64, &name, &encryptor.encrypt(&pt))?;
        }
    }
    out.finish()?;
    Ok(count)
}

/// Encrypts plaintext-mode weights (the state tensors of a weights file) under the public key
/// into a weights bundle bound to the inference plan. Needs no secret key: the server may do it
/// for a model it is allowed to see.
pub fn encrypt_weights(
    ctx: &Arc<Context>,
    binding: &Binding,
    plan: &Plan,
    pk: PublicKey,
    state: &State,
    output: &Path,
) -> Result<u64, OwnerError> {
    not_inference(plan)?;
    let packed = pack_state(plan, state)?;
    let encoder = Encoder::new(ctx);
    let mut encryptor = Encryptor::new(ctx, pk)?;
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let level = crate::input_level(ctx, plan);
    let mut out = BundleWriter::create(
        ctx,
        binding,
        BundleKind::Weights,
        packed.len() as u64,
        output,
    )?;
    let mut names: Vec<_> = packed.keys().cloned().collect();
    names.sort();
    for name in &names {
        let pt = encoder.encode_real(&packed[name], level, delta)?;
        out.push(INITIAL_STATE_STEP, name, &encryptor.encrypt(&pt))?;
    }
    out.finish()?;
    Ok(names.len() as u64)
}

/// Decrypts a predictions bundle into the class scores of the first `rows` queries (row-major,
/// `rows × classes`) with the owner's decryptor. The bundle must come from the decryptor's key
/// generation (`key_set`: where the secret key came from, and its identity) and hold every
/// prediction of every batch once.
pub fn decrypt_predictions(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    plan: &Plan,
    (decryptor, key_set): (&Decryptor, (&Path, KeySetId)),
    path: &Path,
    rows: usize,
) -> Result<Vec<f64>, OwnerError> {
    not_inference(plan)?;
    let mut bundle = BundleReader::open(ctx, plan_hash, path)?;
    same_key_set(key_set, (path, bundle.key_set()))?;
    if bundle.kind != BundleKind::Predictions {
        return Err(OwnerError::WrongBundle {
            path: path.into(),
            expected: "predictions",
        });
    }
    let content = |reason: String| FileError::Content {
        path: path.into(),
        reason,
    };
    let (classes, batch) = (plan.data.classes, plan.data.batch_size.max(1));
    let batches = query_batches(plan, rows);
    let expected = (batches * plan.data.predictions.len()) as u64;
    if bundle.len() != expected {
        return Err(content(format!(
            "holds {} score ciphertexts, {rows} queries make {expected}",
            bundle.len()
        ))
        .into());
    }
    let encoder = Encoder::new(ctx);
    let mut scores = vec![0.0; batches * batch * classes];
    let mut seen: HashMap<(u64, String), ()> = HashMap::new();
    while let Some((b, name, ct)) = bundle.next_record()? {
        let Some(p) = plan.data.predictions.iter().find(|p| p.name == name) else {
            return Err(content(format!("`{name}` is not a prediction of the plan")).into());
        };
        if b as usize >= batches || seen.insert((b, name.clone()), ()).is_some() {
            return Err(content(format!("`{name}` of batch {b} is unexpected or twice")).into());
        }
        let values = encoder.decode_real(&decryptor.decrypt(&ct));
        let block = p.layout.unpack(&values);
        let start = (b as usize * batch + p.layout.first_row) * classes;
        let dst = scores
            .get_mut(start..start + block.len())
            .ok_or_else(|| content(format!("`{name}` holds rows past the batch")))?;
        dst.copy_from_slice(&block);
    }
    scores.truncate(rows * classes);
    Ok(scores)
}

/// The class of every row of scores (`classes` columns): the arg-max, or for a single column
/// (binary labels) 1 when the score passes `threshold`.
pub fn classify(scores: &[f64], classes: usize, threshold: f64) -> Vec<u32> {
    if classes <= 1 {
        return scores.iter().map(|&s| u32::from(s > threshold)).collect();
    }
    scores
        .chunks(classes)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}
