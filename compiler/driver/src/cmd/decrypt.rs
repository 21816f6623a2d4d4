//! `henn decrypt STATE --plan PLAN --secret-key sk.hkey -o weights.json`: the owner decrypts the
//! server's trained state into a weights file, with the feature scaling from the owner record
//! `henn encrypt` left beside the secret key (`sk.owner`, or `--owner-file`), so `henn evaluate`
//! scales test data the same way. `--data train.csv` refits the scaling on the training data
//! instead (for states whose owner record is gone or was replaced).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use henn_owner::Prepared;
use henn_runtime::files::same_key_set;
use henn_runtime::server::LoadedPlan;

#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The trained state from the server.
    pub weights: PathBuf,
    #[arg(long)]
    pub plan: PathBuf,
    #[arg(long)]
    pub secret_key: PathBuf,
    /// The owner record `henn encrypt` wrote (default: beside the secret key, `sk.hkey` →
    /// `sk.owner`).
    #[arg(long, conflicts_with = "data")]
    pub owner_file: Option<PathBuf>,
    /// Instead of the owner record: the training data, to refit its scaling statistics.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to write the weights (JSON; CSV when the name ends in `.csv`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DecryptArgs) -> anyhow::Result<ExitCode> {
    let record_path = args
        .owner_file
        .clone()
        .unwrap_or_else(|| henn_owner::record::default_path(&args.secret_key));
    let mut inputs = vec![&args.weights, &args.plan, &args.secret_key];
    inputs.extend(args.data.as_ref());
    if args.data.is_none() {
        inputs.push(&record_path);
    }
    let inputs: Vec<&std::path::Path> = inputs.into_iter().map(PathBuf::as_path).collect();
    henn_data::check_outputs(&inputs, &[&args.output])?;
    let LoadedPlan { plan, hash, ctx } = LoadedPlan::load(&args.plan)?;
    crate::ui::warn_insecure(&plan);
    henn_owner::job::check_contract(&plan)?;
    let owner = henn_owner::secret::load_secret_key(&ctx, &hash, &args.secret_key)?;
    let scaler = match &args.data {
        Some(data) => {
            let train = henn_data::load_spec(data, plan.owner.expect())?;
            Prepared::new(&plan.owner, &train)?.scaler
        }
        None => {
            if !record_path.exists() {
                bail!(
                    "{}: no owner record (the scaling `henn encrypt` fitted on your data and left beside the secret key): pass --owner-file, or --data with the training data to refit it",
                    record_path.display()
                );
            }
            let (record, keys) = henn_owner::record::load(&ctx, &hash, &record_path)?;
            same_key_set((&args.secret_key, owner.key_set), (&record_path, keys))?;
            record.check(plan.owner.features, &record_path)?;
            record.scaler
        }
    };
    let (state, steps) = henn_owner::job::decrypt_state(&ctx, &hash, &plan, owner, &args.weights)?;
    let weights = henn_owner::job::weights_file(&plan, &state, scaler, steps);
    weights.save(&args.output)?;
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "state_tensors": state.len(), "steps": steps })
        );
    } else {
        outln!(
            "decrypted {} state tensors ({steps} of the plan's {} steps) into {}",
            state.len(),
            plan.schedule.steps(),
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
