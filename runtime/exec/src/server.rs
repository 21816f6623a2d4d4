//! The server's role: run a plan's steps on an owner's encrypted training data with evaluation
//! keys only, streaming the bundle, and write the trained state.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use henn_ckks::{Ciphertext, Context};
use henn_plan::Plan;

use crate::backend::ExecError;
use crate::ckks::CkksBackend;
use crate::context::{context_for, input_level, next_state_inputs};
use crate::executor::run_step;
use crate::files::{self, BundleKind, BundleReader, BundleWriter, FileError, INITIAL_STATE_STEP};

/// Why the server's run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Plan(#[from] henn_plan::io::PlanIoError),
    #[error("{path}: {reason}", path = .path.display())]
    Data {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// A loaded plan with what every role needs beside it: its content hash (files are bound to it)
/// and the CKKS context it asks for.
#[derive(Debug)]
pub struct LoadedPlan {
    pub plan: Plan,
    pub hash: [u8; 32],
    pub ctx: Arc<Context>,
}

impl LoadedPlan {
    /// Loads a plan file (size-limited, version-checked, checksummed, validated) and rebuilds its
    /// context.
    pub fn load(path: &Path) -> Result<Self, ServeError> {
        let plan = henn_plan::io::load(path)?;
        let hash = henn_plan::io::content_hash(&plan)?;
        let ctx = context_for(&plan)?;
        Ok(Self { plan, hash, ctx })
    }
}

/// Progress of a server run.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Instruction `done` of `total` of step `step` (0-based) has run.
    Instr {
        step: u64,
        done: usize,
        total: usize,
    },
    /// Step `step` (0-based) is complete.
    StepDone { step: u64 },
}

/// Trains on the bundle at `data` with the evaluation keys at `eval_keys`, writing the trained
/// state to `output` (atomically, only once every step has run). Returns the steps run.
pub fn train(
    loaded: &LoadedPlan,
    eval_keys: &Path,
    data: &Path,
    output: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<u64, ServeError> {
    let LoadedPlan { plan, hash, ctx } = loaded;
    let keys = files::load_eval_keys(ctx, hash, eval_keys)?;
    let backend = CkksBackend::for_plan(ctx, &keys, plan)?;
    let mut bundle = BundleReader::open(ctx, hash, data)?;
    let bad = |reason: String| ServeError::Data {
        path: data.into(),
        reason,
    };
    if bundle.kind != BundleKind::TrainingData {
        return Err(bad("not a training-data bundle".to_owned()));
    }
    let per_step = plan
        .data
        .inputs
        .iter()
        .filter(|i| i.state_slot().is_none())
        .count();
    let steps = plan.schedule.steps();
    let carry = next_state_inputs(plan);
    let top = input_level(ctx, plan);
    let mut state: HashMap<String, Ciphertext> = HashMap::new();
    let mut pending: BTreeMap<u64, HashMap<String, Ciphertext>> = BTreeMap::new();
    let mut next_step = 0u64;
    // Stream the bundle: run each step as soon as its inputs have arrived.
    while let Some((step, name, ct)) = bundle.next_record()? {
        if ct.level() != top {
            return Err(bad(format!(
                "ciphertext `{name}` is at level {}, the plan expects fresh ciphertexts at level {top}",
                ct.level()
            )));
        }
        if step == INITIAL_STATE_STEP {
            state.insert(name, ct);
            continue;
        }
        pending.entry(step).or_default().insert(name, ct);
        while pending.get(&next_step).is_some_and(|m| m.len() == per_step) {
            let mut inputs = pending.remove(&next_step).unwrap_or_default();
            inputs.extend(state.drain());
            let out = run_step(
                plan,
                &backend,
                &inputs,
                next_step as usize,
                |done, total| {
                    progress(Progress::Instr {
                        step: next_step,
                        done,
                        total,
                    })
                },
            )?;
            for (out_name, in_name) in &carry {
                if let Some(c) = out.get(out_name) {
                    state.insert(in_name.clone(), c.clone());
                }
            }
            progress(Progress::StepDone { step: next_step });
            next_step += 1;
        }
    }
    if next_step != steps {
        return Err(bad(format!(
            "holds inputs for {next_step} of the plan's {steps} steps"
        )));
    }
    let mut out = BundleWriter::create(
        ctx,
        hash,
        BundleKind::TrainedState,
        state.len() as u64,
        output,
    )?;
    let mut names: Vec<_> = state.keys().cloned().collect();
    names.sort();
    for name in names {
        out.push(steps, &name, &state[&name])?;
    }
    out.finish()?;
    Ok(steps)
}
