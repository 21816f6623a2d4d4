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
    #[error("{0}")]
    Range(String),
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
    /// Before the first step: the run covers steps `first..until` (0-based; `first > 0` when it
    /// resumes a state).
    Span { first: u64, until: u64 },
    /// Instruction `done` of `total` of step `step` (0-based) has run.
    Instr {
        step: u64,
        done: usize,
        total: usize,
    },
    /// Step `step` (0-based) is complete.
    StepDone { step: u64 },
}

/// Which steps of the plan a server run covers.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions<'a> {
    /// Continue from this trained state (of an earlier run of the same plan, keys and data)
    /// instead of the bundle's initial state.
    pub resume: Option<&'a Path>,
    /// Stop once the state has completed this many steps of the plan (default: all of them).
    pub until: Option<u64>,
}

/// Trains on the bundle at `data` with the evaluation keys at `eval_keys`, writing the trained
/// state to `output` (atomically, only once every step has run). The state's records carry the
/// number of steps it has completed, so a run stopped with `until` continues with `resume`: the
/// steps in between run with their own batches, momentum coefficients and step numbers, exactly
/// as in one run. Returns the steps the output state has completed.
pub fn train(
    loaded: &LoadedPlan,
    eval_keys: &Path,
    data: &Path,
    output: &Path,
    options: TrainOptions<'_>,
    mut progress: impl FnMut(Progress),
) -> Result<u64, ServeError> {
    let LoadedPlan { plan, hash, ctx } = loaded;
    let (keys, key_set) = files::load_eval_keys(ctx, hash, eval_keys)?;
    let mut bundle = BundleReader::open(ctx, hash, data)?;
    files::same_key_set((eval_keys, key_set), (data, bundle.key_set()))?;
    let bad = |reason: String| ServeError::Data {
        path: data.into(),
        reason,
    };
    if bundle.kind != BundleKind::TrainingData {
        return Err(bad(format!(
            "not a training-data bundle{}",
            if bundle.kind == BundleKind::TrainedState {
                " but a trained state (continue from it with --resume)"
            } else {
                ""
            }
        )));
    }
    let expect = Expected::new(loaded);
    let steps = plan.schedule.steps();
    let until = options.until.unwrap_or(steps);
    if until == 0 || until > steps {
        return Err(ServeError::Range(format!(
            "cannot stop after step {until}: the plan has {steps} steps"
        )));
    }
    let (mut state, first) = match options.resume {
        Some(path) => {
            let (state, done) = load_state(loaded, &expect, key_set, eval_keys, path)?;
            if done >= until {
                return Err(ServeError::Range(format!(
                    "{}: the state has completed {done} of the plan's {steps} steps{}",
                    path.display(),
                    if done == steps {
                        ": nothing is left to train (to train longer, compile a plan with more steps; its keys and data are new)".to_owned()
                    } else {
                        format!(", and this run would stop after step {until}")
                    }
                )));
            }
            (state, done)
        }
        None => (HashMap::new(), 0),
    };
    let backend = CkksBackend::for_plan(ctx, &keys, plan)?;
    progress(Progress::Span { first, until });
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
    let mut pending: BTreeMap<u64, HashMap<String, Ciphertext>> = BTreeMap::new();
    let mut next_step = first;
    // Stream the bundle: run each step as soon as its inputs have arrived. Records outside the
    // run (the initial state when resuming, steps before `first` or from `until` on) are checked
    // and dropped.
    while let Some((step, name, ct)) = bundle.next_record()? {
        let outside = if step == INITIAL_STATE_STEP {
            options.resume.is_some()
        } else {
            step < first || step >= until
        };
        if outside {
            expect.check(step, &name, &ct, 0).map_err(bad)?;
            continue;
        }
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
    if next_step != until {
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
        out.push(until, &name, &state[&name])?;
    }
    out.finish()?;
    Ok(until)
}

/// A trained state to continue from: a trained-state bundle of the same plan (checked by the
/// reader) and key generation, naming every state input of the plan once, all after the same
/// step. Returns the state by input name and the steps it has completed.
fn load_state(
    loaded: &LoadedPlan,
    expect: &Expected,
    key_set: files::KeySetId,
    eval_keys: &Path,
    path: &Path,
) -> Result<(HashMap<String, Ciphertext>, u64), ServeError> {
    let mut bundle = BundleReader::open(&loaded.ctx, &loaded.hash, path)?;
    files::same_key_set((eval_keys, key_set), (path, bundle.key_set()))?;
    let bad = |reason: String| ServeError::Data {
        path: path.into(),
        reason,
    };
    if bundle.kind != BundleKind::TrainedState {
        return Err(bad(
            "not a trained state (`henn serve -o` writes one); this is a training-data bundle"
                .to_owned(),
        ));
    }
    let mut state = HashMap::new();
    let mut done = None;
    while let Some((step, name, ct)) = bundle.next_record()? {
        if step > expect.steps || done.is_some_and(|d| d != step) {
            return Err(bad(format!(
                "`{name}` is the state after step {step}; the plan has {} steps",
                expect.steps
            )));
        }
        done = Some(step);
        if !expect.state.contains(&name) {
            return Err(bad(format!("`{name}` is not a state input of the plan")));
        }
        if state.insert(name.clone(), ct).is_some() {
            return Err(bad(format!("`{name}` appears twice")));
        }
    }
    if state.len() != expect.state.len() {
        return Err(bad(format!(
            "holds {} of the plan's {} state ciphertexts",
            state.len(),
            expect.state.len()
        )));
    }
    Ok((state, done.unwrap_or(0)))
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
