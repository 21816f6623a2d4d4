//! `henn decrypt STATE --plan PLAN --secret-key sk.hkey --data train.csv -o weights.json`: the
//! owner decrypts the server's trained state into a weights file (with the scaling statistics the
//! contract fits on the training rows, so `henn evaluate` scales test data the same way).

use std::path::PathBuf;
use std::process::ExitCode;

use henn_owner::Prepared;
use henn_runtime::server::LoadedPlan;

#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The trained state from the server.
    pub weights: PathBuf,
    #[arg(long)]
    pub plan: PathBuf,
    #[arg(long)]
    pub secret_key: PathBuf,
    /// The training data, to record its scaling statistics with the weights (for `henn evaluate`).
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the weights (JSON; CSV when the name ends in `.csv`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DecryptArgs) -> anyhow::Result<ExitCode> {
    henn_data::check_outputs(
        &[&args.weights, &args.plan, &args.secret_key, &args.data],
        &[&args.output],
    )?;
    let LoadedPlan { plan, hash, ctx } = LoadedPlan::load(&args.plan)?;
    crate::ui::warn_insecure(&plan);
    henn_owner::job::check_contract(&plan)?;
    let owner = henn_owner::secret::load_secret_key(&ctx, &hash, &args.secret_key)?;
    let state = henn_owner::job::decrypt_state(&ctx, &hash, &plan, owner, &args.weights)?;
    let train = henn_data::load_spec(&args.data, plan.owner.expect())?;
    let prepared = Prepared::new(&plan.owner, &train)?;
    let weights = henn_owner::job::weights_file(&plan, &state, prepared.scaler);
    weights.save(&args.output)?;
    if args.json {
        outln!("{}", serde_json::json!({ "state_tensors": state.len() }));
    } else {
        outln!(
            "decrypted {} state tensors into {}",
            state.len(),
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
