//! `henn keygen PLAN --secret-key sk.hkey --eval-keys keys.hkeys [--public-key pk.hpub]`: the
//! owner generates exactly the keys the plan's manifest names.

use std::path::PathBuf;
use std::process::ExitCode;

use henn_runtime::files;
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
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let LoadedPlan { plan, hash, ctx } = LoadedPlan::load(&args.plan)?;
    let key_count = henn_owner::eval_key_count(&ctx, &plan)? as u64;
    let pb = bar(key_count, "keygen");
    // One key at a time from generator to file: the whole set may not fit in memory (N = 2^17).
    let mut writer = files::EvalKeyWriter::create(&ctx, &hash, key_count, &args.eval_keys)?;
    let (secret, public) = henn_owner::keygen_streaming(
        &ctx,
        &plan,
        |key| Ok(writer.push(&key)?),
        |done, _| pb.set_position(done as u64),
    )?;
    pb.finish_and_clear();
    // The secret key is written after the evaluation keys, so a failed key generation leaves no
    // secret key for evaluation keys that do not exist.
    let bytes = writer.finish()?;
    henn_owner::secret::save_secret_key(&ctx, &hash, &secret, &public, &args.secret_key)?;
    if let Some(p) = &args.public_key {
        files::save_public_key(&ctx, &hash, &public, p)?;
    }
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
