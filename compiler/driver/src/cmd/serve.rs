//! `henn serve PLAN --eval-keys keys.hkeys --data data.hct -o state.hct`: the server role. It runs
//! the plan's steps on the owner's ciphertexts with evaluation keys only (a secret-key file is
//! refused by its header) and writes the trained state, still encrypted.
//!
//! `--iterations K` stops after the plan's first K steps; `--resume STATE` continues a state
//! (from an earlier `serve` of the same plan, keys and data) where it stopped. The data bundle
//! holds every step's batch, so "more steps" means the plan's remaining ones: a plan's schedule is
//! fixed when it is compiled (its keys and data are bound to it), and a state that has completed
//! it is refused.

use std::path::PathBuf;
use std::process::ExitCode;

use henn_plan::report::{CostModel, report};
use henn_runtime::server::{self, LoadedPlan, Progress, TrainOptions};

use crate::ui::{StepProgress, duration};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The plan (from `henn compile`).
    pub plan: PathBuf,
    /// The evaluation keys from `henn keygen`.
    #[arg(long)]
    pub eval_keys: PathBuf,
    /// The owner's ciphertext bundle from `henn encrypt`.
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the trained state (a ciphertext bundle for `henn decrypt`, or for
    /// `--resume`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Continue from this trained state (written by an earlier `henn serve` of the same plan,
    /// keys and data) instead of the initial state.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Stop once the state has completed the plan's first K steps (default: all of them).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=henn_contract::MAX_STEPS))]
    pub iterations: Option<u64>,
    /// Print progress events and the result as JSON objects, one per line (the result last).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut inputs = vec![args.plan.as_path(), args.eval_keys.as_path(), &args.data];
    inputs.extend(args.resume.as_deref());
    henn_data::check_outputs(&inputs, &[&args.output])?;
    let loaded = LoadedPlan::load(&args.plan)?;
    crate::ui::warn_insecure(&loaded.plan);
    let steps = loaded.plan.schedule.steps();
    let instrs = loaded.plan.program.instrs.len() as u64;
    let estimate = report(&loaded.plan, &CostModel::default()).est_step_time_s;
    let mut bar: Option<StepProgress> = None;
    let json = args.json;
    let done = server::train(
        &loaded,
        &args.eval_keys,
        &args.data,
        &args.output,
        TrainOptions {
            resume: args.resume.as_deref(),
            until: args.iterations,
        },
        |p| match p {
            Progress::Span { first, until } => {
                let left = (until - first) as f64 * estimate;
                if json {
                    crate::ui::event(
                        "stage",
                        serde_json::json!({"stage": "train", "status": "start", "first_step": first + 1, "steps": until, "estimate_s": left}),
                    );
                } else {
                    eprintln!(
                        "training steps {}..{until} of {steps}{}; estimated {}",
                        first + 1,
                        if first > 0 { " (resumed)" } else { "" },
                        duration(left)
                    );
                }
                bar = Some(StepProgress::new(
                    "train", first, until, instrs, estimate, json,
                ));
            }
            Progress::Instr { step, done, .. } => {
                if let Some(b) = &bar {
                    b.set(step, done);
                }
            }
            Progress::StepDone { step } => {
                if let Some(b) = &bar {
                    b.step_done(step);
                }
            }
        },
    )?;
    if let Some(b) = &bar {
        b.finish();
    }
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        crate::ui::event(
            "final",
            serde_json::json!({ "steps": done, "planned_steps": steps, "seconds": seconds, "state": args.output.display().to_string() }),
        );
    } else {
        outln!(
            "trained to step {done} of {steps} in {seconds:.1} s; wrote {}{}",
            args.output.display(),
            if done < steps {
                format!(" (continue with --resume {})", args.output.display())
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
