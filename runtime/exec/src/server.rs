//! The server's role: run a plan's steps on an owner's encrypted training data with evaluation
//! keys only, streaming the bundle, and write the trained state.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// The first eight bytes say what the file is before anything else is read: a secret-key
    /// file (or any other henn file) handed over as the plan is refused there.
    pub fn load(path: &Path) -> Result<Self, ServeError> {
        match files::peek_header(path, henn_plan::io::PLAN_TAG) {
            // Not a henn file at all (or an older plan format): the plan loader says which.
            Ok(_) | Err(FileError::NotHenn { .. } | FileError::OldFormat { .. }) => {}
            Err(e) => return Err(e.into()),
        }
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
    let (keys, key_set) = files::load_eval_keys(ctx, hash, eval_keys)?;
    let mut bundle = BundleReader::open(ctx, hash, data)?;
    files::same_key_set((eval_keys, key_set), (data, bundle.key_set()))?;
    let backend = CkksBackend::for_plan(ctx, &keys, plan)?;
    let bad = |reason: String| ServeError::Data {
        path: data.into(),
        reason,
    };
    if bundle.kind != BundleKind::TrainingData {
        return Err(bad("not a training-data bundle".to_owned()));
    }
    let expect = Expected::new(loaded);
    let steps = plan.schedule.steps();
    let declared = expect.state.len() as u64 + expect.per_step.len() as u64 * steps;
    if bundle.len() != declared {
        return Err(bad(format!(
            "holds {} ciphertexts, the plan takes {declared} ({} state + {} per step × {steps} steps)",
            bundle.len(),
            expect.state.len(),
            expect.per_step.len()
        )));
    }
    let carry = next_state_inputs(plan);
    let mut state: HashMap<String, Ciphertext> = HashMap::new();
    let mut pending: BTreeMap<u64, HashMap<String, Ciphertext>> = BTreeMap::new();
    let mut next_step = 0u64;
    // Stream the bundle: run each step as soon as its inputs have arrived.
    while let Some((step, name, ct)) = bundle.next_record()? {
        expect.check(step, &name, &ct, next_step).map_err(bad)?;
        let slot = if step == INITIAL_STATE_STEP {
            &mut state
        } else {
            pending.entry(step).or_default()
        };
        if slot.insert(name.clone(), ct).is_some() {
            return Err(bad(format!("ciphertext `{name}` appears twice")));
        }
        while pending
            .get(&next_step)
            .is_some_and(|m| m.len() == expect.per_step.len())
        {
            if state.len() != expect.state.len() {
                return Err(bad(format!(
                    "the initial state ({} ciphertexts) must come before the data of step 0",
                    expect.state.len()
                )));
            }
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
    let binding = files::Binding::new(hash, key_set);
    let mut out = BundleWriter::create(
        ctx,
        &binding,
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

/// What the plan expects of every ciphertext in a training-data bundle: its name (a state input
/// in the initial state, a batch input in a step), a step the plan has, and a fresh ciphertext at
/// the plan's input level and scale. A ciphertext at scale 1.0 instead of Δ, or at a lower level,
/// would decrypt to garbage after training; it is refused where it is read.
struct Expected {
    state: BTreeSet<String>,
    per_step: BTreeSet<String>,
    steps: u64,
    level: usize,
    scale: f64,
}

impl Expected {
    fn new(loaded: &LoadedPlan) -> Self {
        let plan = &loaded.plan;
        let (state, per_step) = plan
            .data
            .inputs
            .iter()
            .partition::<Vec<_>, _>(|i| i.state_slot().is_some());
        Self {
            state: state.into_iter().map(|i| i.name.clone()).collect(),
            per_step: per_step.into_iter().map(|i| i.name.clone()).collect(),
            steps: plan.schedule.steps(),
            level: input_level(&loaded.ctx, plan),
            scale: 2f64.powi(plan.params.scale_bits as i32),
        }
    }

    fn check(&self, step: u64, name: &str, ct: &Ciphertext, next_step: u64) -> Result<(), String> {
        if step == INITIAL_STATE_STEP {
            if !self.state.contains(name) {
                return Err(format!(
                    "initial-state ciphertext `{name}` is not a state input of the plan"
                ));
            }
        } else if step >= self.steps {
            return Err(format!(
                "ciphertext `{name}` is for step {step}; the plan has {} steps",
                self.steps
            ));
        } else if step < next_step {
            return Err(format!(
                "ciphertext `{name}` of step {step} arrives after that step has run"
            ));
        } else if !self.per_step.contains(name) {
            return Err(format!(
                "ciphertext `{name}` of step {step} is not a batch input of the plan"
            ));
        }
        if ct.level() != self.level {
            return Err(format!(
                "ciphertext `{name}` is at level {}, the plan expects fresh ciphertexts at level {}",
                ct.level(),
                self.level
            ));
        }
        let close = (ct.scale() / self.scale - 1.0).abs() < 1e-9;
        if !close {
            return Err(format!(
                "ciphertext `{name}` has scale 2^{:.2}, the plan expects 2^{:.2} (Δ)",
                ct.scale().log2(),
                self.scale.log2()
            ));
        }
        Ok(())
    }
}
