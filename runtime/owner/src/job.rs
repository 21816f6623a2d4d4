//! The owner's part of a training job, from the plan's owner contract alone.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use henn_ckks::{Context, Decryptor, Encoder, Encryptor, PublicKey};
use henn_contract::{BatchOrder, OwnerContract, Scaler, WeightsFile};
use henn_data::Dataset;
use henn_plan::Plan;
use henn_runtime::files::{
    Binding, BundleKind, BundleReader, BundleWriter, FileError, INITIAL_STATE_STEP, KeySetId,
    same_key_set,
};

use crate::pack::{Batch, State, pack_batch, pack_state, unpack_state};
use crate::secret::OwnerSecret;

/// Why the owner's step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OwnerError {
    #[error(transparent)]
    Data(#[from] henn_data::DataError),
    #[error(transparent)]
    Contract(#[from] henn_contract::ContractError),
    #[error(transparent)]
    Exec(#[from] henn_runtime::ExecError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Ckks(#[from] henn_ckks::CkksError),
    #[error("the plan's owner contract does not match its data contract: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Output(#[from] henn_data::OutputError),
    #[error(
        "training row {row}, feature {feature}: {value:e} after scaling, outside the ±{bound} the plan was compiled for (its value ranges and activation intervals assume it); encrypted, this would train silently to garbage: fix or rescale the data (e.g. `scaling = minmax`), or declare `feature_range` and recompile"
    )]
    OutOfRange {
        row: usize,
        feature: usize,
        value: f64,
        bound: f64,
    },
    #[error("{path}: decrypted {what} = {value:e}, beyond any plausible trained weight (|w| ≤ {bound:e}): the server's result is wrong or the files do not belong together", path = .path.display())]
    Implausible {
        path: std::path::PathBuf,
        what: String,
        value: f64,
        bound: f64,
    },
    #[error("{path}: not a {expected} bundle", path = .path.display())]
    WrongBundle {
        path: std::path::PathBuf,
        expected: &'static str,
    },
}

/// Checks that a plan's owner contract and data contract say the same thing.
pub fn check_contract(plan: &Plan) -> Result<(), OwnerError> {
    let c = &plan.owner;
    c.check()?;
    let d = &plan.data;
    let mismatch = |what: &str, a: usize, b: usize| {
        Err(OwnerError::Mismatch(format!(
            "{what}: {a} in the owner contract, {b} in the data contract"
        )))
    };
    if c.features != d.features {
        return mismatch("features", c.features, d.features);
    }
    if c.labels.columns() != d.classes {
        return mismatch("label columns", c.labels.columns(), d.classes);
    }
    // An inference plan's batch is of queries, and it runs once: the contract's batches and
    // steps are the training job's.
    let training = plan.infer().is_none();
    if training && c.batches.batch_size != d.batch_size {
        return mismatch("batch size", c.batches.batch_size, d.batch_size);
    }
    if training && c.batches.steps != plan.schedule.steps() {
        return Err(OwnerError::Mismatch(format!(
            "steps: {} in the owner contract, {} in the schedule",
            c.batches.steps,
            plan.schedule.steps()
        )));
    }
    for s in &d.state {
        let Some(layer) = c.layers.get(s.slot.layer) else {
            return Err(OwnerError::Mismatch(format!(
                "state {} names a layer the contract does not have",
                s.slot
            )));
        };
        if s.cols != layer.inputs && s.cols != layer.outputs {
            return mismatch("state columns", s.cols, layer.inputs);
        }
    }
    Ok(())
}

/// The owner's view of a training set under a contract: the rows the job uses, scaled, and the
/// batches every step takes.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub scaler: Scaler,
    /// Scaled features of the rows the job uses, row-major.
    pub x: Vec<f64>,
    pub labels: Vec<u32>,
    /// The sample indices of every step, in order.
    pub batches: Vec<Vec<usize>>,
    /// The initial state.
    pub initial: State,
}

impl Prepared {
    /// Applies the contract's rules to a training set (already checked against its width and
    /// label range with [`OwnerContract::expect`]).
    pub fn new(contract: &OwnerContract, train: &Dataset) -> Result<Self, OwnerError> {
        train.check_shape(contract.features, contract.classes())?;
        let rows = contract.training_rows(train)?;
        let scaler = contract.scaler(&rows);
        let x = scaler.transform(&rows);
        check_feature_range(&x, contract)?;
        let steps = usize::try_from(contract.batches.steps).unwrap_or(usize::MAX);
        let batches = BatchOrder::new(contract.batches.seed, rows.len())
            .full_batches(contract.batches.batch_size, steps)?;
        let initial = henn_contract::initial_state(&contract.init, &contract.layers)
            .into_iter()
            .map(|(slot, m)| (slot, m.data))
            .collect();
        Ok(Self {
            scaler,
            x,
            labels: rows.labels().to_vec(),
            batches,
            initial,
        })
    }

    /// The scaled features and the targets of one step's samples.
    pub fn batch(&self, contract: &OwnerContract, step: usize) -> (Vec<f64>, Vec<f64>) {
        let d = contract.features;
        let chunk = self.batches.get(step).map_or(&[][..], Vec::as_slice);
        let mut xb = Vec::with_capacity(chunk.len() * d);
        for &i in chunk {
            xb.extend_from_slice(&self.x[i * d..(i + 1) * d]);
        }
        let labels: Vec<u32> = chunk.iter().map(|&i| self.labels[i]).collect();
        (xb, henn_contract::targets(&labels, contract.labels).data)
    }
}

/// `|v| ≤ bound`, false for NaN.
pub fn within(v: f64, bound: f64) -> bool {
    v.abs() <= bound
}

/// Refuses scaled features beyond the bound the plan's ranges assume (`OwnerContract::feature_bound`).
pub fn check_feature_range(x: &[f64], contract: &OwnerContract) -> Result<(), OwnerError> {
    let bound = contract.feature_bound;
    let d = contract.features.max(1);
    let slack = bound * 1e-9;
    match x.iter().position(|v| !within(*v, bound + slack)) {
        Some(i) => Err(OwnerError::OutOfRange {
            row: i / d + 1,
            feature: i % d + 1,
            value: x[i],
            bound,
        }),
        None => Ok(()),
    }
}

/// A decrypted weight beyond this magnitude is refused: no plan trains weights anywhere near it
/// (the activations' intervals and CKKS's precision both end far below), so it means a wrong
/// result from the server or mixed-up files.
pub const PLAUSIBLE_WEIGHT: f64 = 1e4;

/// The largest weight difference between an encrypted run and its plaintext twin that `henn run`
/// accepts (plans carry no predicted error yet). Every measured run stays below 1e-3 (7.6e-4 after
/// 416 bootstraps, BENCHMARKS.md); beyond 1e-2 the encrypted result is wrong, not noisy.
pub const TWIN_AGREEMENT: f64 = 1e-2;

/// Encrypts the initial state and every step's batch into a training-data bundle, calling
/// `progress(step)` after each step's batch.
pub fn encrypt_training_data(
    ctx: &Arc<Context>,
    binding: &Binding,
    plan: &Plan,
    pk: PublicKey,
    prepared: &Prepared,
    output: &Path,
    mut progress: impl FnMut(usize),
) -> Result<u64, OwnerError> {
    let contract = &plan.owner;
    let encoder = Encoder::new(ctx);
    let mut encryptor = Encryptor::new(ctx, pk)?;
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let top = crate::input_level(ctx, plan);
    let state = pack_state(plan, &prepared.initial)?;
    let per_step = plan
        .data
        .inputs
        .iter()
        .filter(|i| i.state_slot().is_none())
        .count();
    let steps = prepared.batches.len();
    let count = (state.len() + per_step * steps) as u64;
    let mut out = BundleWriter::create(ctx, binding, BundleKind::TrainingData, count, output)?;
    let mut push = |step: u64, packed: HashMap<String, Vec<f64>>| -> Result<(), OwnerError> {
        let mut names: Vec<_> = packed.keys().cloned().collect();
        names.sort();
        for name in names {
            let pt = encoder.encode_real(&packed[&name], top, delta)?;
            out.push(step, &name, &encryptor.encrypt(&pt))?;
        }
        Ok(())
    };
    push(INITIAL_STATE_STEP, state)?;
    for step in 0..steps {
        let (x, y) = prepared.batch(contract, step);
        let packed = pack_batch(
            plan,
            &Batch {
                features: &x,
                labels: &y,
            },
        )?;
        push(step as u64, packed)?;
        progress(step);
    }
    out.finish()?;
    Ok(count)
}

/// Decrypts a trained-state bundle into the state tensors and the number of steps it has
/// completed (a state of `henn serve --iterations K` holds fewer than the plan's). The bundle must
/// come from the secret key's key generation, name each state input once, all at one step count
/// within the plan's schedule, and decrypt to plausible weights.
pub fn decrypt_state(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    plan: &Plan,
    owner: OwnerSecret,
    path: &Path,
) -> Result<(State, u64), OwnerError> {
    let decryptor = Decryptor::new(ctx, owner.secret);
    decrypt_state_with(
        ctx,
        plan_hash,
        plan,
        (&decryptor, (&owner.path, owner.key_set)),
        path,
    )
}

/// [`decrypt_state`] with a decryptor the owner already holds (`key_set`: where its secret key
/// came from, and its key generation).
pub fn decrypt_state_with(
    ctx: &Arc<Context>,
    plan_hash: &[u8; 32],
    plan: &Plan,
    (decryptor, key_set): (&Decryptor, (&Path, KeySetId)),
    path: &Path,
) -> Result<(State, u64), OwnerError> {
    let mut bundle = BundleReader::open(ctx, plan_hash, path)?;
    same_key_set(key_set, (path, bundle.key_set()))?;
    if bundle.kind != BundleKind::TrainedState {
        return Err(OwnerError::WrongBundle {
            path: path.into(),
            expected: "trained-state",
        });
    }
    let encoder = Encoder::new(ctx);
    let carry = crate::next_state_inputs(plan);
    let mut slots = HashMap::new();
    let content = |reason: String| FileError::Content {
        path: path.into(),
        reason,
    };
    let mut steps = None;
    while let Some((step, name, ct)) = bundle.next_record()? {
        if step > plan.schedule.steps() || steps.is_some_and(|s| s != step) {
            return Err(content(format!(
                "`{name}` is the state after step {step}; the plan has {} steps{}",
                plan.schedule.steps(),
                steps.map_or(String::new(), |s| format!(", the other records say {s}"))
            ))
            .into());
        }
        steps = Some(step);
        // The bundle names state inputs; unpack_state reads outputs by their output names.
        let Some((out_name, _)) = carry.iter().find(|(_, i)| *i == name) else {
            return Err(content(format!("`{name}` is not a state input of the plan")).into());
        };
        let values = encoder.decode_real(&decryptor.decrypt(&ct));
        if slots.insert(out_name.clone(), values).is_some() {
            return Err(content(format!("`{name}` appears twice")).into());
        }
    }
    let state = unpack_state(plan, &slots)?;
    for (slot, values) in &state {
        if let Some(v) = values.iter().find(|v| !within(**v, PLAUSIBLE_WEIGHT)) {
            return Err(OwnerError::Implausible {
                path: path.into(),
                what: format!("{slot}"),
                value: *v,
                bound: PLAUSIBLE_WEIGHT,
            });
        }
    }
    Ok((state, steps.unwrap_or(0)))
}

/// The weights file of a decrypted state after `steps` steps.
pub fn weights_file(plan: &Plan, state: &State, scaler: Scaler, steps: u64) -> WeightsFile {
    let contract = &plan.owner;
    let mut tensors = henn_contract::State::new();
    for (slot, data) in state {
        let Some(layer) = contract.layers.get(slot.layer) else {
            continue;
        };
        let (rows, cols) = match slot.kind {
            henn_contract::StateKind::Weight | henn_contract::StateKind::WeightPrev => {
                (layer.outputs, layer.inputs)
            }
            _ => (1, layer.outputs),
        };
        tensors.insert(
            *slot,
            henn_contract::Matrix {
                rows,
                cols,
                data: data.clone(),
            },
        );
    }
    WeightsFile::from_state(&contract.model, &contract.layers, &tensors, scaler, steps)
}
