//! `henn encrypt PLAN --data train.csv (--public-key pk | --secret-key sk) -o data.hct`: the owner
//! applies the plan's owner contract (rows, scaling, batch order, initial state) and encrypts the
//! initial state and every step's batch into one bundle for the server. Beside the secret key
//! (`sk.hkey` → `sk.owner`, or `--owner-file`) it writes the owner record: the feature scaling
//! fitted on the owner's rows, which `henn decrypt` puts into the weights file and which must not
//! reach the server (see `henn_owner::record`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use henn_owner::Prepared;
use henn_runtime::files;
use henn_runtime::server::LoadedPlan;

use crate::ui::bar;

#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    pub plan: PathBuf,
    /// Training data (CSV, or IMAGES,LABELS for IDX).
    #[arg(long)]
    pub data: PathBuf,
    /// Encrypt with the public key...
    #[arg(long, conflicts_with = "secret_key")]
    pub public_key: Option<PathBuf>,
    /// ...or with the owner's key file (which also holds the public key).
    #[arg(long)]
    pub secret_key: Option<PathBuf>,
    #[arg(short, long)]
    pub output: PathBuf,
    /// Where to keep the owner record for `henn decrypt` (the scaling fitted on your data; keep it
    /// with the secret key, never send it to the server). Default: beside the secret key,
    /// `sk.hkey` → `sk.owner`; required with --public-key.
    #[arg(long)]
    pub owner_file: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EncryptArgs) -> anyhow::Result<ExitCode> {
    let mut inputs = vec![args.plan.as_path(), args.data.as_path()];
    inputs.extend(args.public_key.as_deref());
    inputs.extend(args.secret_key.as_deref());
    let record_path = match (&args.owner_file, &args.secret_key) {
        (Some(p), _) => p.clone(),
        (None, Some(sk)) => henn_owner::record::default_path(sk),
        (None, None) => bail!(
            "pass --owner-file (where to keep the owner record `henn decrypt` needs: the scaling fitted on your data; keep it with the secret key) or encrypt with --secret-key (the record then goes beside it)"
        ),
    };
    henn_data::check_outputs(&inputs, &[&args.output, &record_path])?;
    let LoadedPlan { plan, hash, ctx } = LoadedPlan::load(&args.plan)?;
    crate::ui::warn_insecure(&plan);
    henn_owner::job::check_contract(&plan)?;
    let (pk, key_set) = match (&args.public_key, &args.secret_key) {
        (Some(p), _) => files::load_public_key(&ctx, &hash, p)?,
        (None, Some(s)) => {
            let owner = henn_owner::secret::load_secret_key(&ctx, &hash, s)?;
            (owner.public, owner.key_set)
        }
        (None, None) => bail!("pass --public-key or --secret-key"),
    };
    let train = henn_data::load_spec(&args.data, plan.owner.expect())?;
    let prepared = Prepared::new(&plan.owner, &train)?;
    let steps = prepared.batches.len();
    let pb = bar(steps as u64, "encrypt");
    let count = henn_owner::job::encrypt_training_data(
        &ctx,
        &files::Binding::new(&hash, key_set),
        &plan,
        pk,
        &prepared,
        &args.output,
        |_| pb.inc(1),
    )?;
    pb.finish_and_clear();
    let record = henn_owner::record::OwnerRecord {
        scaler: prepared.scaler.clone(),
        samples: prepared.labels.len(),
        steps: steps as u64,
        data: args.data.display().to_string(),
    };
    let binding = files::Binding::new(&hash, key_set);
    if let Ok((old, old_keys)) = henn_owner::record::load(&ctx, &hash, &record_path)
        && old_keys == key_set
        && old.scaler != record.scaler
    {
        eprintln!(
            "note: {} held the scaling of another encryption under these keys ({}); it now holds this one's: decrypt states trained on the earlier bundle with --data {}",
            record_path.display(),
            old.data,
            old.data
        );
    }
    henn_owner::record::save(&ctx, &binding, &record, &record_path)?;
    let bytes = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "ciphertexts": count, "steps": steps, "bytes": bytes, "owner_record": record_path.display().to_string() })
        );
    } else {
        outln!(
            "encrypted {count} ciphertexts ({steps} steps + initial state, {:.1} MiB) into {}; the owner record (scaling, for `henn decrypt`; keep it, never send it) is {}",
            bytes as f64 / 1048576.0,
            args.output.display(),
            record_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
