//! `henn serve PLAN --eval-keys keys.hkeys --data data.hct -o state.hct`: the server role. It runs
//! the plan's steps on the owner's ciphertexts with evaluation keys only (a secret-key file is
//! refused by its header) and writes the trained state, still encrypted.

use std::path::PathBuf;
use std::process::ExitCode;

use henn_runtime::server::{self, LoadedPlan, Progress};

use crate::ui::bar;

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
    /// Where to write the trained state (a ciphertext bundle for `henn decrypt`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    henn_data::check_outputs(&[&args.plan, &args.eval_keys, &args.data], &[&args.output])?;
    let loaded = LoadedPlan::load(&args.plan)?;
    crate::ui::warn_insecure(&loaded.plan);
    let steps = loaded.plan.schedule.steps();
    let instrs = loaded.plan.program.instrs.len() as u64;
    let pb = bar(steps.saturating_mul(instrs), "train");
    let quiet = args.json;
    server::train(
        &loaded,
        &args.eval_keys,
        &args.data,
        &args.output,
        |p| match p {
            Progress::Instr { step, done, .. } => {
                pb.set_position(step * instrs + done as u64);
            }
            Progress::StepDone { step } if !quiet => {
                pb.suspend(|| eprintln!("step {}/{steps} done", step + 1));
            }
            Progress::StepDone { .. } => {}
        },
    )?;
    pb.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "steps": steps, "seconds": seconds })
        );
    } else {
        outln!(
            "trained {steps} steps in {seconds:.1} s; wrote {}",
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
