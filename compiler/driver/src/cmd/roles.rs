//! The owner's and the server's roles as separate commands exchanging files:
//!
//! ```text
//! owner:  henn keygen  PLAN --secret-key sk.hkey --eval-keys keys.hkeys [--public-key pk.hpub]
//! owner:  henn encrypt PLAN --data train.csv --secret-key sk.hkey -o data.hct
//! server: henn train   PLAN --eval-keys keys.hkeys --data data.hct -o weights.hct
//! owner:  henn decrypt weights.hct --plan PLAN --secret-key sk.hkey --data train.csv -o weights.json
//! ```
//!
//! Every file is bound to the plan (content hash) and its parameters; the server's loader refuses a
//! secret-key file by its header. Outputs are written atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use henn_ckks::{Ciphertext, Decryptor, Encoder, Encryptor};
use henn_plan::Plan;
use henn_plan::plan::InputSource;
use henn_runtime::ckks::CkksBackend;
use henn_runtime::executor::run_step;
use henn_runtime::files::{self, BundleKind, BundleReader, BundleWriter};
use henn_runtime::owner::{self, Batch};

/// Bundle records with this step number hold the initial state.
const INITIAL_STATE: u64 = u64::MAX;

/// A loaded plan with what every role needs beside it: its content hash (files are bound to it),
/// the source model (initialisation, seed, scaling) and the CKKS context it asks for.
struct Loaded {
    plan: Plan,
    hash: [u8; 32],
    model: henn_sema::Model,
    ctx: std::sync::Arc<henn_ckks::Context>,
}

fn load_plan(path: &Path) -> anyhow::Result<Loaded> {
    let plan = henn_plan::io::load(path)?;
    let hash = henn_plan::io::content_hash(&plan)?;
    let model: henn_sema::Model = serde_json::from_str(&plan.source_model).with_context(|| {
        format!(
            "{}: the plan's source model does not decode",
            path.display()
        )
    })?;
    let ctx = owner::context_for(&plan)?;
    Ok(Loaded {
        plan,
        hash,
        model,
        ctx,
    })
}

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

pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let Loaded {
        plan, hash, ctx, ..
    } = load_plan(&args.plan)?;
    let key_count = owner::eval_key_count(&ctx, &plan)? as u64;
    let pb = super::run::bar(key_count, "keygen");
    // One key at a time from generator to file: the whole set may not fit in memory (N = 2^17).
    let mut writer = files::EvalKeyWriter::create(&ctx, &hash, key_count, &args.eval_keys)?;
    let (secret, public) = owner::keygen_streaming(
        &ctx,
        &plan,
        |key| Ok(writer.push(&key)?),
        |done, _| pb.set_position(done as u64),
    )?;
    pb.finish_and_clear();
    // The secret key is written after the evaluation keys, so a failed key generation leaves no
    // secret key for evaluation keys that do not exist.
    let bytes = writer.finish()?;
    files::save_secret_key(&ctx, &hash, &secret, &public, &args.secret_key)?;
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
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn encrypt(args: EncryptArgs) -> anyhow::Result<ExitCode> {
    let Loaded {
        plan,
        hash,
        model,
        ctx,
    } = load_plan(&args.plan)?;
    let pk = match (&args.public_key, &args.secret_key) {
        (Some(p), _) => files::load_public_key(&ctx, &hash, p)?,
        (None, Some(s)) => files::load_secret_key(&ctx, &hash, s)?.1,
        (None, None) => bail!("pass --public-key or --secret-key"),
    };
    let train = super::train::load_data(&model, &args.data)?;
    let steps = plan.schedule.steps() as usize;
    let (twin, chunks, initial) =
        super::run::batch_schedule(&model, &train, plan.data.batch_size, steps)?;
    let encoder = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, pk)?;
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let top = owner::input_level(&ctx, &plan);
    let state = owner::pack_state(&plan, &initial)?;
    let per_step = plan
        .data
        .inputs
        .iter()
        .filter(|i| !matches!(i.source, InputSource::State(_)))
        .count();
    let count = (state.len() + per_step * steps) as u64;
    let mut out = BundleWriter::create(&ctx, &hash, BundleKind::TrainingData, count, &args.output)?;
    let mut names: Vec<_> = state.keys().cloned().collect();
    names.sort();
    for name in names {
        let pt = encoder.encode_real(&state[&name], top, delta)?;
        out.push(INITIAL_STATE, &name, &encryptor.encrypt(&pt))?;
    }
    let pb = super::run::bar(steps as u64, "encrypt");
    for (step, chunk) in chunks.iter().enumerate() {
        pb.inc(1);
        let (x, y) = twin.batch(chunk);
        let packed = owner::pack_batch(
            &plan,
            &Batch {
                features: &x,
                labels: &y.data,
            },
        )?;
        let mut names: Vec<_> = packed.keys().cloned().collect();
        names.sort();
        for name in names {
            let pt = encoder.encode_real(&packed[&name], top, delta)?;
            out.push(step as u64, &name, &encryptor.encrypt(&pt))?;
        }
    }
    pb.finish_and_clear();
    out.finish()?;
    let bytes = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "ciphertexts": count, "steps": steps, "bytes": bytes })
        );
    } else {
        outln!(
            "encrypted {count} ciphertexts ({steps} steps + initial state, {:.1} MiB) into {}",
            bytes as f64 / 1048576.0,
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The server role: `henn train PLAN --eval-keys K --data D -o W`.
pub fn serve(
    plan_path: &Path,
    eval_keys: &Path,
    data: &Path,
    output: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let Loaded {
        plan, hash, ctx, ..
    } = load_plan(plan_path)?;
    let keys = files::load_eval_keys(&ctx, &hash, eval_keys)?;
    let backend = CkksBackend::for_plan(&ctx, &keys, &plan)?;
    let mut bundle = BundleReader::open(&ctx, &hash, data)?;
    if bundle.kind != BundleKind::TrainingData {
        bail!("{}: not a training-data bundle", data.display());
    }
    let per_step = plan
        .data
        .inputs
        .iter()
        .filter(|i| !matches!(i.source, InputSource::State(_)))
        .count();
    let steps = plan.schedule.steps();
    let carry = owner::next_state_inputs(&plan);
    let top = owner::input_level(&ctx, &plan);
    let mut state: HashMap<String, Ciphertext> = HashMap::new();
    let mut pending: BTreeMap<u64, HashMap<String, Ciphertext>> = BTreeMap::new();
    let mut next_step = 0u64;
    // Stream the bundle: run each step as soon as its inputs have arrived.
    while let Some((step, name, ct)) = bundle.next_record()? {
        if ct.level() != top {
            bail!(
                "{}: ciphertext `{name}` is at level {}, the plan expects fresh ciphertexts at level {top}",
                data.display(),
                ct.level()
            );
        }
        if step == INITIAL_STATE {
            state.insert(name, ct);
            continue;
        }
        pending.entry(step).or_default().insert(name, ct);
        while pending.get(&next_step).is_some_and(|m| m.len() == per_step) {
            let mut inputs = pending.remove(&next_step).unwrap_or_default();
            inputs.extend(state.drain());
            let pb = super::run::bar(
                plan.program.instrs.len() as u64,
                &format!("step {}/{steps}", next_step + 1),
            );
            let out = run_step(&plan, &backend, &inputs, next_step as usize, |done, _| {
                pb.set_position(done as u64)
            })?;
            pb.finish_and_clear();
            for (out_name, in_name) in &carry {
                if let Some(c) = out.get(out_name) {
                    state.insert(in_name.clone(), c.clone());
                }
            }
            eprintln!("step {}/{steps} done", next_step + 1);
            next_step += 1;
        }
    }
    if next_step != steps {
        bail!(
            "{}: holds inputs for {next_step} of the plan's {steps} steps",
            data.display()
        );
    }
    let mut out = BundleWriter::create(
        &ctx,
        &hash,
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
    let seconds = started.elapsed().as_secs_f64();
    if json {
        outln!(
            "{}",
            serde_json::json!({ "steps": steps, "seconds": seconds })
        );
    } else {
        outln!(
            "trained {steps} steps in {seconds:.1} s; wrote {}",
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

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

pub fn decrypt(args: DecryptArgs) -> anyhow::Result<ExitCode> {
    let Loaded {
        plan,
        hash,
        model,
        ctx,
    } = load_plan(&args.plan)?;
    let (sk, _) = files::load_secret_key(&ctx, &hash, &args.secret_key)?;
    let mut bundle = BundleReader::open(&ctx, &hash, &args.weights)?;
    if bundle.kind != BundleKind::TrainedState {
        bail!("{}: not a trained-state bundle", args.weights.display());
    }
    let encoder = Encoder::new(&ctx);
    let decryptor = Decryptor::new(&ctx, sk);
    let mut slots = HashMap::new();
    while let Some((_, name, ct)) = bundle.next_record()? {
        // The bundle names state inputs; unpack_state reads outputs by their output names.
        if let Some((out_name, _)) = owner::next_state_inputs(&plan)
            .into_iter()
            .find(|(_, i)| *i == name)
        {
            slots.insert(out_name, encoder.decode_real(&decryptor.decrypt(&ct)));
        }
    }
    let state = owner::unpack_state(&plan, &slots)?;
    let train = super::train::load_data(&model, &args.data)?;
    let twin = henn_tir::train::Trainer::new(&model, &train)?;
    let mut tensors = twin.state().clone();
    for (slot, t) in tensors.iter_mut() {
        if let Some(v) = state.get(&henn_lower::lower::state_slot(*slot)) {
            t.data.clone_from(v);
        }
    }
    let weights = henn_tir::weights::WeightsFile::from_state(
        &model,
        &tensors,
        twin.scaler().clone(),
        plan.schedule.steps(),
    );
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
