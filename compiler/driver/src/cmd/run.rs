//! `henn run FILE`: the whole job in one process, as a demonstration of the four roles.
//!
//! 1. compile the model into a plan, print its estimate, and refuse a run estimated over
//!    `--max-minutes` unless `--yes`;
//! 2. owner: generate exactly the keys of the plan's manifest, encrypt the initial state and every
//!    step's batch (from the plan's owner contract alone);
//! 3. server: run the plan's steps on the CKKS backend with the evaluation keys only;
//! 4. owner: decrypt the trained state and evaluate it;
//!
//! and beside it the plaintext twin (same initialisation, same batches in the same order, same
//! polynomial and update rule) so the summary can say how far encryption moved the weights, and
//! the test accuracy before training and the chance level, so it shows what was learned.
//! `--iterations K` runs the first K steps of the schedule's own plan (the same ring, keys and
//! program as the full run).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use henn_ckks::{Ciphertext, Decryptor, Encoder, Encryptor};
use henn_compile::compile_with;
use henn_data::Dataset;
use henn_owner::{self as owner, Batch, Prepared};
use henn_plan::Plan;
use henn_plan::report::{CostModel, report};
use henn_runtime::Backend;
use henn_runtime::ckks::CkksBackend;
use henn_runtime::executor::run_step;
use henn_runtime::sim::{NoiseModel, SimCt, SlotSim};
use henn_tir::exact::ActivationMode;
use henn_tir::train::{Trainer, evaluate};
use henn_tir::{Slot, interp::Tensor};

use crate::inputs::{fill_samples_from, load_data};
use crate::plot::{Series, StepPoint};
use crate::ui::{Stages, StepProgress, bar, duration, peak_rss_bytes};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: crate::inputs::ModelData,
    /// Run only the first K steps of the schedule's plan.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=henn_contract::MAX_STEPS))]
    pub iterations: Option<u64>,
    /// Write the decrypted weights here (JSON; CSV when the name ends in `.csv`), and the
    /// plaintext twin's beside them (`NAME.twin.json` / `.csv`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Refuse runs the plan's cost model estimates longer than this many minutes...
    #[arg(long, default_value_t = 30.0)]
    pub max_minutes: f64,
    /// ...unless this is given.
    #[arg(long)]
    pub yes: bool,
    /// Where the steps run: `ckks` (keys, encryption, the real thing) or `sim` (the slot
    /// simulator with the plan's CKKS noise model: seconds, and a prediction of the encrypted
    /// run's weights and accuracy).
    #[arg(long, value_enum, default_value_t = RunBackend::Ckks)]
    pub backend: RunBackend,
    /// Write SVG charts here: test accuracy and loss after every step, encrypted (decrypted
    /// after each step) beside the plaintext twin, and the time of every stage; the numbers in
    /// `curves.json`, the tables in `report.md`.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Also train the exact-sigmoid float model on the same batches (σ and σ(1−σ) in place of
    /// every `sigmoid_fit`, as `henn train --activation exact`): its accuracy goes beside the
    /// twin's in the summary and in `--plot`.
    #[arg(long)]
    pub exact_sigmoid: bool,
    /// Print progress events (stage start/end, step k/n with elapsed time and ETA) and the
    /// summary as JSON objects, one per line, the summary last (`"event": "final"`).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub choices: crate::inputs::CompilerChoices,
}

/// Where `henn run` runs the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunBackend {
    Ckks,
    Sim,
}

/// Time per stage, in order.
type Seconds = Vec<(&'static str, f64)>;

/// Called with the decrypted state after every step (`--plot`).
type StepHook<'a> = dyn FnMut(usize, &BTreeMap<Slot, Vec<f64>>) -> anyhow::Result<()> + 'a;

/// The encrypted state in the twin's tensor shapes (the twin's value where the encrypted run has
/// none), and the largest difference between the two.
fn merge(
    twin: &BTreeMap<Slot, Tensor>,
    enc: &BTreeMap<Slot, Vec<f64>>,
) -> (BTreeMap<Slot, Tensor>, f64) {
    let mut max_err = 0.0f64;
    let merged = twin
        .iter()
        .map(|(slot, t)| {
            let Some(e) = enc.get(slot) else {
                return (*slot, t.clone());
            };
            for (a, b) in e.iter().zip(&t.data) {
                // NaN-propagating (`f64::max` would drop a NaN and report a blown-up run as exact).
                let d = (a - b).abs();
                if d.is_nan() || d > max_err {
                    max_err = d;
                }
            }
            let tensor = Tensor {
                rows: t.rows,
                cols: t.cols,
                data: e.clone(),
            };
            (*slot, tensor)
        })
        .collect();
    (merged, max_err)
}

/// The model and its data, read before any work.
struct Inputs {
    model: henn_sema::Model,
    train_path: PathBuf,
    train: Dataset,
    test: Option<Dataset>,
}

/// What training left: the decrypted state, the twin beside it, and the curves for `--plot`.
struct Trained {
    enc_state: BTreeMap<Slot, Vec<f64>>,
    twin: Trainer,
    /// Test accuracy of the initial weights.
    before: Option<f64>,
    enc_curve: Vec<StepPoint>,
    twin_curve: Vec<StepPoint>,
    /// With `--exact-sigmoid`: the exact-sigmoid float model after the same batches, its curve.
    exact: Option<(Trainer, Vec<StepPoint>)>,
    seconds: Seconds,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(mut inputs) = read_inputs(&args)? else {
        return Ok(ExitCode::FAILURE);
    };
    let mut stages = Stages::new(args.json);
    let (plan, steps) = compile_plan(&args, &mut inputs, &mut stages)?;
    if args.backend == RunBackend::Ckks && !check_estimate(&plan, steps, &args)? {
        return Ok(ExitCode::FAILURE);
    }
    let trained = train_both(&args, &inputs, &plan, steps, &mut stages)?;
    let Inputs { model, test, .. } = &inputs;
    let (merged, max_weight_error) = merge(trained.twin.state(), &trained.enc_state);
    let (plain_acc, enc_acc) = match test {
        Some(test) => (
            Some(trained.twin.evaluate(test)?.accuracy),
            Some(evaluate(model, &merged, trained.twin.scaler(), test)?.accuracy),
        ),
        None => (None, None),
    };
    let exact_acc = match (test, &trained.exact) {
        (Some(test), Some((exact, _))) => Some(exact.evaluate(test)?.accuracy),
        _ => None,
    };
    if let Some(out) = &args.output {
        save_weights(out, model, &trained.twin, &merged, steps as u64)?;
    }
    let summary = serde_json::json!({
        "event": "final",
        "model": model.name,
        "backend": match args.backend { RunBackend::Ckks => "ckks", RunBackend::Sim => "sim" },
        "log_n": plan.params.log_n,
        "security": plan.params.security,
        "steps": steps,
        "planned_steps": plan.schedule.steps(),
        "batch": plan.data.batch_size,
        "chance_accuracy": test.as_ref().map(crate::plot::chance),
        "accuracy_before": trained.before,
        "plaintext_accuracy": plain_acc,
        "encrypted_accuracy": enc_acc,
        "exact_sigmoid_accuracy": exact_acc,
        "max_weight_error": max_weight_error,
        "seconds": trained.seconds.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect::<serde_json::Map<_, _>>(),
        "peak_rss_bytes": peak_rss_bytes(),
        // Key and upload sizes from the one function every command uses (not the keys' size in
        // memory, which holds both halves of every key).
        "upload_bytes": henn_plan::report::sizes(&plan).upload_bytes(steps as u64),
        "key_bytes": henn_plan::report::sizes(&plan).key_bytes,
        "bootstraps": plan.bootstrap.as_ref().map_or(0, |b| u64::from(b.per_step) * steps as u64),
        "weights": args.output.as_ref().map(|p| p.display().to_string()),
    });
    if let Some(dir) = &args.plot {
        plot(dir, test.is_some(), &trained, &summary)?;
    }
    if args.json {
        outln!("{summary}");
    } else {
        print_summary(&args.input.file, &plan, &summary, &trained.seconds);
    }
    Ok(verdict(max_weight_error, args.backend))
}

/// The model (diagnostics printed, `None` when it does not check) and its data; the `--plot`
/// directory is made here, so a path that cannot be one fails before any work.
fn read_inputs(args: &RunArgs) -> anyhow::Result<Option<Inputs>> {
    let model = match henn_sema::check_file(&args.input.file) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return Ok(None);
        }
    };
    let train_path = args.input.train_path(&model)?;
    let train = load_data(&model, &train_path)?;
    let test = args.input.load_test(&model)?;
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--plot {}: cannot create the directory", dir.display()))?;
    }
    Ok(Some(Inputs {
        model,
        train_path,
        train,
        test,
    }))
}

/// Compiles the schedule's plan (the sample count filled in from the data) and the number of
/// steps to run (`--iterations`, at most the plan's).
fn compile_plan(
    args: &RunArgs,
    inputs: &mut Inputs,
    stages: &mut Stages,
) -> anyhow::Result<(Plan, usize)> {
    stages.start("compile");
    for note in fill_samples_from(&mut inputs.model, &inputs.train_path, inputs.train.len()) {
        eprintln!("{note}");
    }
    let plan = compile_with(&inputs.model, &args.choices.options())
        .with_context(|| format!("cannot compile {}", args.input.file.display()))?
        .plan;
    crate::ui::warn_insecure(&plan);
    stages.end();
    let planned = plan.schedule.steps();
    let steps = match args.iterations {
        Some(k) if k > planned => bail!(
            "--iterations {k}: the plan of {} has {planned} steps",
            args.input.file.display()
        ),
        Some(k) => k,
        None => planned,
    } as usize;
    Ok((plan, steps))
}

/// The encrypted (or simulated) run and the plaintext twin on the same batches; with `--plot`,
/// both evaluated after every step.
fn train_both(
    args: &RunArgs,
    inputs: &Inputs,
    plan: &Plan,
    steps: usize,
    stages: &mut Stages,
) -> anyhow::Result<Trained> {
    let Inputs {
        model, train, test, ..
    } = inputs;
    // The owner knows the job only through the plan's owner contract; the twin through the
    // model. Both apply the same rules (henn-contract), so their batches and start agree.
    let prepared = Prepared::new(&plan.owner, train)?;
    let mut twin = Trainer::new(model, train)?;
    // Made before the run, so a model the exact sigmoid cannot stand in for fails at once.
    let exact = if args.exact_sigmoid {
        Some(Trainer::with_activation(
            model,
            train,
            ActivationMode::ExactSigmoid,
        )?)
    } else {
        None
    };
    let before = match test {
        Some(test) => Some(twin.evaluate(test)?.accuracy),
        None => None,
    };
    // With --plot, the encrypted state is decrypted and evaluated after every step.
    let eval_set = test.as_ref().unwrap_or(train);
    let mut enc_curve: Vec<StepPoint> = Vec::new();
    let mut on_step = |step: usize, state: &BTreeMap<Slot, Vec<f64>>| -> anyhow::Result<()> {
        let e = evaluate(
            model,
            &merge(twin.state(), state).0,
            twin.scaler(),
            eval_set,
        )?;
        enc_curve.push(((step + 1) as f64, e.accuracy, e.loss));
        Ok(())
    };
    let watch: Option<&mut StepHook<'_>> = match args.plot {
        Some(_) => Some(&mut on_step),
        None => None,
    };
    let enc_state = match args.backend {
        RunBackend::Ckks => encrypted_run(plan, &prepared, steps, stages, watch)?,
        RunBackend::Sim => simulated_run(plan, &prepared, steps, stages, watch)?,
    };

    // The plaintext twin.
    stages.start("plaintext");
    let batches = &prepared.batches[..steps.min(prepared.batches.len())];
    let twin_curve = replay(&mut twin, batches, eval_set, args.plot.is_some())?;
    stages.end();
    let exact = match exact {
        Some(mut exact) => {
            stages.start("exact sigmoid");
            let curve = replay(&mut exact, batches, eval_set, args.plot.is_some())?;
            stages.end();
            Some((exact, curve))
        }
        None => None,
    };
    enc_curve.insert(0, twin_curve[0]);
    Ok(Trained {
        enc_state,
        twin,
        before,
        enc_curve,
        twin_curve,
        exact,
        seconds: std::mem::take(&mut stages.seconds),
    })
}

/// Trains `trainer` on `batches` in order; the accuracy and loss on `eval_set` before the first
/// step and, when `every_step`, after each.
fn replay(
    trainer: &mut Trainer,
    batches: &[Vec<usize>],
    eval_set: &Dataset,
    every_step: bool,
) -> anyhow::Result<Vec<StepPoint>> {
    let start = trainer.evaluate(eval_set)?;
    let mut curve = vec![(0.0, start.accuracy, start.loss)];
    for (step, chunk) in batches.iter().enumerate() {
        trainer.train_step(chunk)?;
        if every_step {
            let e = trainer.evaluate(eval_set)?;
            curve.push(((step + 1) as f64, e.accuracy, e.loss));
        }
    }
    Ok(curve)
}

/// `--plot DIR`: the encrypted curve beside the twin's (and the exact-sigmoid model's), the time
/// per stage, and `report.md` with the `summary`.
fn plot(
    dir: &Path,
    on_test: bool,
    trained: &Trained,
    summary: &serde_json::Value,
) -> anyhow::Result<()> {
    let on = if on_test { "test" } else { "training" };
    let mut series = vec![
        Series {
            label: "encrypted",
            key: "encrypted",
            points: &trained.enc_curve,
        },
        Series {
            label: "plaintext twin",
            key: "plaintext_twin",
            points: &trained.twin_curve,
        },
    ];
    if let Some((_, curve)) = &trained.exact {
        series.push(Series {
            label: "exact sigmoid (float)",
            key: "exact_sigmoid",
            points: curve,
        });
    }
    crate::plot::step_charts(dir, on, &series, &trained.seconds, summary)
}

/// Exit 1 when the encrypted weights are not finite or differ from the twin's by more than the
/// CKKS noise accounts for. The simulator only predicts: a predicted difference over the bound is
/// a warning (its noise model is an upper estimate), a predicted divergence an error.
fn verdict(max_weight_error: f64, backend: RunBackend) -> ExitCode {
    let bound = henn_owner::job::TWIN_AGREEMENT;
    match backend {
        RunBackend::Ckks if max_weight_error.is_nan() => eprintln!(
            "error: the encrypted weights are not finite: values left the ranges the plan assumes (try `--backend sim --iterations K` to see where the error grows)"
        ),
        RunBackend::Sim if max_weight_error.is_nan() => eprintln!(
            "error: the simulator predicts the encrypted run diverges (weights not finite): values leave the ranges the plan assumes (`--iterations K` shows where the error grows)"
        ),
        RunBackend::Ckks if !henn_owner::job::within(max_weight_error, bound) => eprintln!(
            "error: the encrypted weights differ from the plaintext twin's by {max_weight_error:.3e}, more than the {bound:.0e} CKKS noise accounts for: the encrypted run is wrong"
        ),
        RunBackend::Sim if !henn_owner::job::within(max_weight_error, bound) => {
            eprintln!(
                "warning: the simulator predicts the encrypted weights will differ from the twin's by {max_weight_error:.3e}, over the {bound:.0e} an encrypted run accepts; its noise model is an upper estimate (measured 128-bit runs came out 2-16x below it: BENCHMARKS.md), so compare the predicted accuracy with the twin's before a long run"
            );
            return ExitCode::SUCCESS;
        }
        _ => return ExitCode::SUCCESS,
    }
    ExitCode::FAILURE
}

/// Prints the plan's estimate for `steps` steps and says whether the run may start.
fn check_estimate(plan: &Plan, steps: usize, args: &RunArgs) -> anyhow::Result<bool> {
    let rep = report(plan, &CostModel::default());
    let est = rep.est_step_time_s * steps as f64;
    if args.json {
        crate::ui::event(
            "estimate",
            serde_json::json!({"steps": steps, "estimate_s": est, "log_n": plan.params.log_n}),
        );
    } else {
        eprintln!(
            "plan: N = 2^{}, security {}, {steps} steps of {} samples{}; estimated {} on this machine's cost model",
            plan.params.log_n,
            plan.params.security,
            plan.data.batch_size,
            plan.bootstrap.as_ref().map_or(String::new(), |b| format!(
                ", {} bootstraps per step",
                b.per_step
            )),
            duration(est)
        );
    }
    if est > args.max_minutes * 60.0 && !args.yes {
        eprintln!(
            "error: the run is estimated at {}, over --max-minutes {}: pass --yes to start it, or --iterations K for fewer steps",
            duration(est),
            args.max_minutes
        );
        return Ok(false);
    }
    Ok(true)
}

/// The owner's and the server's roles in one process on CKKS: keys, then [`run_on`].
fn encrypted_run(
    plan: &Plan,
    prepared: &Prepared,
    steps: usize,
    stages: &mut Stages,
    watch: Option<&mut StepHook<'_>>,
) -> anyhow::Result<BTreeMap<Slot, Vec<f64>>> {
    // Owner: keys.
    stages.start("keygen");
    let ctx = owner::context_for(plan)?;
    let pb = bar(owner::eval_key_count(&ctx, plan)? as u64, "keygen");
    let keys = owner::keygen_with_progress(&ctx, plan, |done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    stages.end();

    let encoder = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, keys.public.clone())?;
    let decryptor = Decryptor::new(&ctx, keys.secret);
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let top = owner::input_level(&ctx, plan);
    // Server: evaluation keys only.
    let backend = CkksBackend::for_plan(&ctx, &keys.server, plan)?;
    run_on(
        plan,
        prepared,
        steps,
        &backend,
        |values| Ok(encryptor.encrypt(&encoder.encode_real(values, top, delta)?)),
        |c: &Ciphertext| encoder.decode_real(&decryptor.decrypt(c)),
        stages,
        watch,
    )
}

/// The same run on the slot simulator with the CKKS noise model of the plan's chain: no keys, no
/// ciphertexts, seconds instead of minutes; its weights and accuracy predict the encrypted run's.
fn simulated_run(
    plan: &Plan,
    prepared: &Prepared,
    steps: usize,
    stages: &mut Stages,
    watch: Option<&mut StepHook<'_>>,
) -> anyhow::Result<BTreeMap<Slot, Vec<f64>>> {
    let noise = NoiseModel::for_plan(plan);
    let mut sim = SlotSim::with_noise(plan.params.slots(), noise, plan.owner.init.seed);
    if let Some(b) = &plan.bootstrap {
        sim = sim.with_plan_bootstrap(b)?;
    }
    let top = plan
        .bootstrap
        .as_ref()
        .map_or(plan.params.levels() as usize, |b| b.input_level as usize);
    run_on(
        plan,
        prepared,
        steps,
        &sim,
        |values| Ok(sim.encrypt(values, top)),
        |c: &SimCt| c.values.clone(),
        stages,
        watch,
    )
}

/// Encrypts the initial state and `steps` batches, runs the steps on `backend` carrying the state
/// from step to step, and decrypts the result (and, for `watch`, the state after every step).
#[allow(clippy::too_many_arguments)] // the roles' closures, one each
fn run_on<B: Backend>(
    plan: &Plan,
    prepared: &Prepared,
    steps: usize,
    backend: &B,
    mut encrypt: impl FnMut(&[f64]) -> anyhow::Result<B::Ct>,
    decrypt: impl Fn(&B::Ct) -> Vec<f64>,
    stages: &mut Stages,
    mut watch: Option<&mut StepHook<'_>>,
) -> anyhow::Result<BTreeMap<Slot, Vec<f64>>> {
    let carry = owner::next_state_inputs(plan);
    // Owner: decrypt a state.
    let open = |state_cts: &HashMap<String, B::Ct>| -> anyhow::Result<BTreeMap<Slot, Vec<f64>>> {
        let mut slots: HashMap<String, Vec<f64>> = HashMap::new();
        for (out_name, in_name) in &carry {
            if let Some(c) = state_cts.get(in_name) {
                slots.insert(out_name.clone(), decrypt(c));
            }
        }
        Ok(owner::unpack_state(plan, &slots)?
            .into_iter()
            .map(|(s, v)| {
                let slot = Slot {
                    layer: henn_tir::LayerIdx(s.layer),
                    kind: s.kind,
                };
                (slot, v)
            })
            .collect())
    };
    // Owner: encrypt the initial state and every step's batch.
    stages.start("encrypt");
    let mut state_cts: HashMap<String, B::Ct> = HashMap::new();
    for (name, v) in owner::pack_state(plan, &prepared.initial)? {
        state_cts.insert(name, encrypt(&v)?);
    }
    let pb = bar(steps as u64, "encrypt");
    let mut batches: Vec<HashMap<String, B::Ct>> = Vec::with_capacity(steps);
    for step in 0..steps {
        let (x, y) = prepared.batch(&plan.owner, step);
        let mut cts = HashMap::new();
        let batch = Batch {
            features: &x,
            labels: &y,
        };
        for (name, v) in owner::pack_batch(plan, &batch)? {
            cts.insert(name, encrypt(&v)?);
        }
        batches.push(cts);
        pb.inc(1);
    }
    pb.finish_and_clear();

    // Server: the steps.
    stages.start("train");
    let estimate = report(plan, &CostModel::default()).est_step_time_s;
    let progress = StepProgress::new(
        "train",
        0,
        steps as u64,
        plan.program.instrs.len() as u64,
        estimate,
        stages.json(),
    );
    for (step, batch_cts) in batches.into_iter().enumerate() {
        let mut inputs = batch_cts;
        inputs.extend(state_cts.drain());
        let out = run_step(plan, backend, &inputs, step, |done, _| {
            progress.set(step as u64, done)
        })?;
        for (out_name, in_name) in &carry {
            if let Some(c) = out.get(out_name) {
                state_cts.insert(in_name.clone(), c.clone());
            }
        }
        if let Some(hook) = watch.as_mut() {
            hook(step, &open(&state_cts)?)?;
        }
        progress.step_done(step as u64);
    }
    progress.finish();

    // Owner: decrypt.
    stages.start("decrypt");
    let state = open(&state_cts)?;
    stages.end();
    Ok(state)
}

/// Writes the decrypted weights to `out` and the twin's beside them.
fn save_weights(
    out: &Path,
    model: &henn_sema::Model,
    twin: &Trainer,
    encrypted: &BTreeMap<Slot, Tensor>,
    steps: u64,
) -> anyhow::Result<()> {
    let shapes = henn_tir::contract::layer_shapes(model);
    let file = henn_contract::WeightsFile::from_state(
        &model.name,
        &shapes,
        &henn_tir::contract::to_contract_state(encrypted),
        twin.scaler().clone(),
        steps,
    );
    file.save(out)?;
    twin.weights().save(&twin_path(out))?;
    Ok(())
}

/// `w.json` → `w.twin.json`.
fn twin_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match out.extension() {
        Some(ext) => format!("{stem}.twin.{}", ext.to_string_lossy()),
        None => format!("{stem}.twin"),
    };
    out.with_file_name(name)
}

fn print_summary(file: &Path, plan: &Plan, s: &serde_json::Value, seconds: &Seconds) {
    let pct = |v: &serde_json::Value| {
        v.as_f64().map_or("n/a (no test data)".to_owned(), |a| {
            format!("{:.2} %", 100.0 * a)
        })
    };
    outln!(
        "henn run {}: {} {} steps of {} samples, N = 2^{}, security {}",
        file.display(),
        s["steps"],
        if s["backend"] == "sim" {
            "simulated (slot simulator with the plan's CKKS noise model)"
        } else {
            "encrypted"
        },
        s["batch"],
        plan.params.log_n,
        plan.params.security
    );
    if let Some(b) = &plan.bootstrap {
        outln!(
            "  bootstrapping             {} bootstraps ({} per step, {} levels between them)",
            s["bootstraps"],
            b.per_step,
            b.usable_levels
        );
    }
    outln!(
        "  test accuracy before      {} (chance: {}, always the most frequent class)",
        pct(&s["accuracy_before"]),
        pct(&s["chance_accuracy"])
    );
    outln!(
        "  encrypted accuracy        {}",
        pct(&s["encrypted_accuracy"])
    );
    outln!(
        "  plaintext twin accuracy   {}",
        pct(&s["plaintext_accuracy"])
    );
    if !s["exact_sigmoid_accuracy"].is_null() {
        outln!(
            "  exact-sigmoid float model {} (σ in place of every sigmoid_fit, same batches)",
            pct(&s["exact_sigmoid_accuracy"])
        );
    }
    outln!(
        "  largest weight difference {:.3e} (encrypted vs twin)",
        s["max_weight_error"].as_f64().unwrap_or(f64::NAN)
    );
    outln!(
        "  time                      {}",
        seconds
            .iter()
            .map(|(k, v)| format!("{k} {v:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mib = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0) / 1048576.0;
    outln!(
        "  memory                    peak RSS {}; uploaded {:.1} MiB (evaluation keys {:.1} MiB)",
        s["peak_rss_bytes"]
            .as_f64()
            .map_or("n/a".to_owned(), |b| format!("{:.0} MiB", b / 1048576.0)),
        mib(&s["upload_bytes"]),
        mib(&s["key_bytes"])
    );
    if let Some(w) = s["weights"].as_str() {
        outln!("  weights                   {w} (and the twin's beside it)");
    }
}

#[cfg(test)]
mod tests {
    use super::{ExitCode, RunBackend, verdict};

    #[test]
    fn the_simulator_warns_where_an_encrypted_run_fails() {
        let nan = f64::NAN;
        assert_eq!(verdict(1e-3, RunBackend::Ckks), ExitCode::SUCCESS);
        assert_eq!(verdict(2e-2, RunBackend::Ckks), ExitCode::FAILURE);
        assert_eq!(verdict(nan, RunBackend::Ckks), ExitCode::FAILURE);
        assert_eq!(verdict(2e-2, RunBackend::Sim), ExitCode::SUCCESS);
        assert_eq!(verdict(nan, RunBackend::Sim), ExitCode::FAILURE);
    }
}
