//! `henn run FILE`: the whole job in one process, as a demonstration of the four roles.
//!
//! 1. compile the model into a plan;
//! 2. owner: generate exactly the keys of the plan's manifest, encrypt the initial state and every
//!    step's batch;
//! 3. server: run the plan's steps on the CKKS backend with the evaluation keys only;
//! 4. owner: decrypt the trained state and evaluate it;
//!
//! and beside it the plaintext twin (same initialisation, same batches in the same order, same
//! polynomial and update rule) so the summary can say how far encryption moved the weights.
//! Without bootstrapping a plan holds only as many steps as its chain has levels for; `--iterations`
//! caps the encrypted run (and the twin) at that many steps.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use henn_ckks::{Ciphertext, Decryptor, Encoder, Encryptor};
use henn_compile::compile;
use henn_owner::{self as owner, Batch, Prepared};
use henn_runtime::ckks::CkksBackend;
use henn_runtime::executor::run_step;
use henn_sema::TrainLength;
use henn_tir::train::{Trainer, evaluate};
use henn_tir::{Slot, interp::Tensor};

use crate::inputs::load_data;
use crate::ui::{bar, peak_rss_bytes};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The .henn model (its bundled data is used unless --data/--test say otherwise).
    pub file: PathBuf,
    /// Training data (CSV, or IMAGES,LABELS for IDX).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test data.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Train for this many steps (one batch each) instead of the model's schedule.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=henn_contract::MAX_STEPS))]
    pub iterations: Option<u64>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut model = match henn_sema::check_file(&args.file) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(n) = args.iterations {
        model.schedule.length = TrainLength::Iterations(n);
    }
    let train_path = args
        .data
        .clone()
        .or_else(|| model.data.train.clone())
        .with_context(|| {
            format!(
                "{} names no training data: pass --data",
                args.file.display()
            )
        })?;
    let test_path = args.test.clone().or_else(|| model.data.test.clone());
    let train = load_data(&model, &train_path)?;
    let test = match &test_path {
        Some(p) => Some(load_data(&model, p)?),
        None => None,
    };
    let mut seconds: Vec<(&str, f64)> = Vec::new();

    // Compile.
    let t = Instant::now();
    if model.data.samples.is_none() {
        model.data.samples = Some(train.len());
    }
    let compiled =
        compile(&model).with_context(|| format!("cannot compile {}", args.file.display()))?;
    let plan = compiled.plan;
    crate::ui::warn_insecure(&plan);
    seconds.push(("compile", t.elapsed().as_secs_f64()));
    let steps = plan.schedule.steps() as usize;
    let batch = plan.data.batch_size;
    // The owner knows the job only through the plan's owner contract; the twin through the
    // model. Both apply the same rules (henn-contract), so their batches and start agree.
    let prepared = Prepared::new(&plan.owner, &train)?;
    let chunks = prepared.batches.clone();
    let mut twin = Trainer::new(&model, &train)?;

    // Owner: keys.
    let t = Instant::now();
    let ctx = owner::context_for(&plan)?;
    let pb = bar(owner::eval_key_count(&ctx, &plan)? as u64, "keygen");
    let keys = owner::keygen_with_progress(&ctx, &plan, |done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    let key_bytes = keys.server.byte_size() as u64;
    seconds.push(("keygen", t.elapsed().as_secs_f64()));

    // Owner: encrypt the initial state and every step's batch.
    let t = Instant::now();
    let encoder = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, keys.public.clone())?;
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let top = owner::input_level(&ctx, &plan);
    let mut encrypt = |values: &[f64]| -> anyhow::Result<Ciphertext> {
        Ok(encryptor.encrypt(&encoder.encode_real(values, top, delta)?))
    };
    let mut state_cts: HashMap<String, Ciphertext> = HashMap::new();
    for (name, v) in owner::pack_state(&plan, &prepared.initial)? {
        state_cts.insert(name, encrypt(&v)?);
    }
    let pb = bar(steps as u64, "encrypt");
    let mut batches: Vec<HashMap<String, Ciphertext>> = Vec::with_capacity(steps);
    for step in 0..chunks.len() {
        let (x, y) = prepared.batch(&plan.owner, step);
        let mut cts = HashMap::new();
        for (name, v) in owner::pack_batch(
            &plan,
            &Batch {
                features: &x,
                labels: &y,
            },
        )? {
            cts.insert(name, encrypt(&v)?);
        }
        batches.push(cts);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let upload_bytes = key_bytes
        + state_cts
            .values()
            .chain(batches.iter().flat_map(|b| b.values()))
            .map(|c| c.byte_size() as u64)
            .sum::<u64>();
    seconds.push(("encrypt", t.elapsed().as_secs_f64()));

    // Server: evaluation keys only.
    let t = Instant::now();
    let backend = CkksBackend::for_plan(&ctx, &keys.server, &plan)?;
    let carry = owner::next_state_inputs(&plan);
    let instrs = plan.program.instrs.len() as u64;
    let pb = bar(steps as u64 * instrs, "train");
    for (step, batch_cts) in batches.into_iter().enumerate() {
        let mut inputs = batch_cts;
        inputs.extend(state_cts.drain());
        let base = pb.position();
        let out = run_step(&plan, &backend, &inputs, step, |done, _| {
            pb.set_position(base + done as u64)
        })?;
        for (out_name, in_name) in &carry {
            if let Some(c) = out.get(out_name) {
                state_cts.insert(in_name.clone(), c.clone());
            }
        }
    }
    pb.finish_and_clear();
    seconds.push(("train", t.elapsed().as_secs_f64()));

    // Owner: decrypt.
    let t = Instant::now();
    let decryptor = Decryptor::new(&ctx, keys.secret);
    let mut slots: HashMap<String, Vec<f64>> = HashMap::new();
    for (out_name, in_name) in &carry {
        if let Some(c) = state_cts.get(in_name) {
            slots.insert(out_name.clone(), encoder.decode_real(&decryptor.decrypt(c)));
        }
    }
    let encrypted_state = owner::unpack_state(&plan, &slots)?;
    seconds.push(("decrypt", t.elapsed().as_secs_f64()));

    // The plaintext twin.
    let t = Instant::now();
    for chunk in &chunks {
        twin.train_step(chunk)?;
    }
    seconds.push(("plaintext", t.elapsed().as_secs_f64()));

    let mut max_weight_error = 0.0f64;
    let mut enc_tensors = std::collections::BTreeMap::new();
    for (slot, t) in twin.state() {
        let Some(e) = encrypted_state.get(&henn_plan::plan::StateSlot {
            layer: slot.layer.0,
            kind: slot.kind,
        }) else {
            continue;
        };
        for (a, b) in e.iter().zip(&t.data) {
            max_weight_error = max_weight_error.max((a - b).abs());
        }
        enc_tensors.insert(
            *slot,
            Tensor {
                rows: t.rows,
                cols: t.cols,
                data: e.clone(),
            },
        );
    }
    let (plain_acc, enc_acc) = match &test {
        Some(test) => {
            let plain = twin.evaluate(test)?.accuracy;
            let merged: std::collections::BTreeMap<Slot, Tensor> = twin
                .state()
                .iter()
                .map(|(k, v)| (*k, enc_tensors.get(k).cloned().unwrap_or_else(|| v.clone())))
                .collect();
            let enc = evaluate(&model, &merged, twin.scaler(), test)?.accuracy;
            (Some(plain), Some(enc))
        }
        None => (None, None),
    };
    let peak = peak_rss_bytes();
    let bootstraps = plan
        .bootstrap
        .as_ref()
        .map_or(0, |b| u64::from(b.per_step) * steps as u64);
    if args.json {
        let secs: serde_json::Map<String, serde_json::Value> = seconds
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        let summary = serde_json::json!({
            "model": model.name,
            "log_n": plan.params.log_n,
            "security": plan.params.security,
            "steps": steps,
            "batch": batch,
            "plaintext_accuracy": plain_acc,
            "encrypted_accuracy": enc_acc,
            "max_weight_error": max_weight_error,
            "seconds": secs,
            "peak_rss_bytes": peak,
            "upload_bytes": upload_bytes,
            "key_bytes": key_bytes,
            "bootstraps": bootstraps,
        });
        outln!("{summary}");
    } else {
        let pct = |a: Option<f64>| {
            a.map_or("n/a (no test data)".to_owned(), |a| {
                format!("{:.2} %", 100.0 * a)
            })
        };
        outln!(
            "henn run {}: {} encrypted steps of {} samples, N = 2^{}, security {}",
            args.file.display(),
            steps,
            batch,
            plan.params.log_n,
            plan.params.security
        );
        if let Some(b) = &plan.bootstrap {
            outln!(
                "  bootstrapping             {bootstraps} bootstraps ({} per step, {} levels between them)",
                b.per_step,
                b.usable_levels
            );
        }
        outln!("  plaintext twin accuracy   {}", pct(plain_acc));
        outln!("  encrypted accuracy        {}", pct(enc_acc));
        outln!("  largest weight difference {max_weight_error:.3e}");
        outln!(
            "  time                      {}",
            seconds
                .iter()
                .map(|(k, v)| format!("{k} {v:.1} s"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        outln!(
            "  memory                    peak RSS {}; uploaded {:.1} MiB (evaluation keys {:.1} MiB)",
            peak.map_or("n/a".to_owned(), |b| format!(
                "{:.0} MiB",
                b as f64 / 1048576.0
            )),
            upload_bytes as f64 / 1048576.0,
            key_bytes as f64 / 1048576.0
        );
    }
    if !henn_owner::job::within(max_weight_error, henn_owner::job::TWIN_AGREEMENT) {
        eprintln!(
            "error: the encrypted weights differ from the plaintext twin's by {max_weight_error:.3e}, more than the {:.0e} CKKS noise accounts for: the encrypted run is wrong",
            henn_owner::job::TWIN_AGREEMENT
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
