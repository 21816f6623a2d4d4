//! `henn keygen PLAN --secret-key sk.hkey --eval-keys keys.hkeys [--public-key pk.hpub]`: the
//! owner generates exactly the keys the plan's manifest names.

use std::path::PathBuf;
use std::process::ExitCode;

use henn_runtime::server::LoadedPlan;

use crate::ui::bar;

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The plan (from `henn compile`).
    pub plan: PathBuf,
    /// Where to write the secret key (owner only; created with mode 0600).
    #[arg(long)]
    pub secret_key: PathBuf,
    /// Where to write the evaluation keys (for the server).
    #[arg(long)]
    pub eval_keys: PathBuf,
    /// Also write the public key here.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Replace an existing secret key (it can then never decrypt again).
    #[arg(long)]
    pub force: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let mut outputs = vec![args.secret_key.as_path(), args.eval_keys.as_path()];
    outputs.extend(args.public_key.as_deref());
    henn_data::check_outputs(&[&args.plan], &outputs)?;
    henn_data::check_secret_output(&args.secret_key, args.force)?;
    let LoadedPlan { plan, hash, ctx } = LoadedPlan::load(&args.plan)?;
    crate::ui::warn_insecure(&plan);
    let key_count = henn_owner::eval_key_count(&ctx, &plan)? as u64;
    let pb = bar(key_count, "keygen");
    // One key at a time from generator to file (the whole set may not fit in memory at
    // N = 2^17); all files of the new key set appear together at the end, or none does.
    let bytes = henn_owner::secret::write_key_set(
        &ctx,
        &plan,
        &hash,
        henn_owner::secret::KeyPaths {
            secret: &args.secret_key,
            eval: &args.eval_keys,
            public: args.public_key.as_deref(),
            force: args.force,
        },
        |done, _| pb.set_position(done as u64),
    )?;
    pb.finish_and_clear();
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "plan": args.plan.display().to_string(),
                "rotation_keys": plan.keys.rotations.len(),
                "eval_key_bytes": bytes,
            })
        );
    } else {
        outln!(
            "keys for `{}`: relinearization + {} rotation keys, {:.1} MiB of evaluation keys",
            plan.model_name,
            plan.keys.rotations.len(),
            bytes as f64 / 1048576.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
