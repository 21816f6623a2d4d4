//! End to end on a toy ring: a compiled plan runs on the slot simulator and on real CKKS, and both
//! agree with the plaintext twin (the tensor-IR interpreter with the same data, state and order).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeMap, HashMap};

use henn_ckks::{Decryptor, Encoder, Encryptor};
use henn_compile::compile;
use henn_lower::lower::state_slot;
use henn_owner::{self as owner, Batch, State};
use henn_plan::Plan;
use henn_runtime::ckks::CkksBackend;
use henn_runtime::executor::run_step;
use henn_runtime::sim::SlotSim;
use henn_tir::interp::{Env, Tensor, run};
use henn_tir::{LayerIdx, Slot, SlotKind, build_train_step};

const TOY: &str = r#"
model toy {
  data { features = 6  classes = 3  samples = 8 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(4, activation = s)
    dense out(3, activation = s)
  }
  optimizer = nag(lr = 0.5, momentum = nesterov)
  train { batch = 8  iterations = ITERS  seed = 3 }
  encryption { security = insecure(ring = 2^12)  scale_bits = 40 }
}
"#;

struct Fixture {
    plan: Plan,
    model: henn_sema::Model,
    features: Vec<f64>,
    labels: Vec<f64>,
    state: BTreeMap<Slot, Tensor>,
}

/// The toy model with bootstraps forced: a 2^10 ring with 9 levels between bootstraps, SGD, and
/// more steps than any one chain segment holds.
const TOY_BOOT: &str = r#"
model toy {
  data { features = 6  classes = 3  samples = 8 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense hidden(4, activation = s)
    dense out(3, activation = s)
  }
  optimizer = sgd(lr = 0.5)
  train { batch = 8  iterations = 10  seed = 3 }
  encryption { security = insecure(ring = 2^10)  scale_bits = 40  bootstrapping = on }
}
"#;

fn fixture(iterations: u32) -> Fixture {
    fixture_from(&TOY.replace("ITERS", &iterations.to_string()))
}

fn fixture_from(src: &str) -> Fixture {
    let model = henn_sema::check_source("toy.henn", src).unwrap();
    let plan = compile(&model).unwrap().plan;
    let (b, f, c) = (8, 6, 3);
    // Deterministic, varied data in [0, 1] and one-hot labels.
    let features: Vec<f64> = (0..b * f)
        .map(|i| ((i * 37 + 11) % 17) as f64 / 16.0)
        .collect();
    let mut labels = vec![0.0; b * c];
    for r in 0..b {
        labels[r * c + (r * 5 + 1) % c] = 1.0;
    }
    let mut state = BTreeMap::new();
    for (l, layer) in model.layers.iter().enumerate() {
        let w: Vec<f64> = (0..layer.outputs * layer.inputs)
            .map(|i| (((i * 29 + l * 7) % 23) as f64 / 11.0 - 1.0) * 0.6)
            .collect();
        let bias: Vec<f64> = (0..layer.outputs).map(|i| (i as f64 - 1.5) * 0.1).collect();
        let momentum = matches!(model.optimizer, henn_sema::Optimizer::Nag { .. });
        for (kind, v, rows, cols) in [
            (SlotKind::Weight, w.clone(), layer.outputs, layer.inputs),
            (SlotKind::WeightPrev, w, layer.outputs, layer.inputs),
            (SlotKind::Bias, bias.clone(), 1, layer.outputs),
            (SlotKind::BiasPrev, bias, 1, layer.outputs),
        ] {
            if !momentum && matches!(kind, SlotKind::WeightPrev | SlotKind::BiasPrev) {
                continue;
            }
            if !layer.bias && matches!(kind, SlotKind::Bias | SlotKind::BiasPrev) {
                continue;
            }
            state.insert(
                Slot {
                    layer: LayerIdx(l),
                    kind,
                },
                Tensor::from_vec(rows, cols, v).unwrap(),
            );
        }
    }
    Fixture {
        plan,
        model,
        features,
        labels,
        state,
    }
}

/// The plaintext twin: `steps` steps of the tensor-IR interpreter.
fn twin(fx: &Fixture, steps: usize) -> BTreeMap<Slot, Tensor> {
    let step = build_train_step(&fx.model, 8).unwrap();
    let mut state = fx.state.clone();
    for t in 0..steps {
        let env = Env {
            features: Some(Tensor::from_vec(8, 6, fx.features.clone()).unwrap()),
            labels: Some(Tensor::from_vec(8, 3, fx.labels.clone()).unwrap()),
            state: state.clone(),
            momentum: fx.plan.schedule.momentum.get(t).copied().unwrap_or(0.0),
        };
        let out = run(&step.graph, &env).unwrap();
        state.extend(out.stored);
    }
    state
}

fn plan_state(fx: &Fixture) -> State {
    fx.state
        .iter()
        .map(|(k, v)| (state_slot(*k), v.data.clone()))
        .collect()
}

fn max_diff(plan_state: &State, want: &BTreeMap<Slot, Tensor>) -> f64 {
    let mut worst = 0.0f64;
    for (slot, t) in want {
        let got = &plan_state[&state_slot(*slot)];
        assert_eq!(got.len(), t.data.len());
        for (a, b) in got.iter().zip(&t.data) {
            // NaN counts as infinitely wrong (f64::max would hide it).
            let d = (a - b).abs();
            worst = if d.is_nan() {
                f64::INFINITY
            } else {
                worst.max(d)
            };
        }
    }
    worst
}

#[test]
fn simulator_runs_the_plan_like_the_plaintext_twin() {
    let fx = fixture(3);
    let plan = &fx.plan;
    let sim = SlotSim::new(plan.params.slots());
    let batch = Batch {
        features: &fx.features,
        labels: &fx.labels,
    };
    let mut state = plan_state(&fx);
    let steps = plan.schedule.steps() as usize;
    assert_eq!(steps, 3);
    let mut level = plan.params.levels() as usize;
    for t in 0..steps {
        let mut inputs = HashMap::new();
        for (name, v) in owner::pack_batch(plan, &batch).unwrap() {
            inputs.insert(name, sim.encrypt(&v, plan.params.levels() as usize));
        }
        for (name, v) in owner::pack_state(plan, &state).unwrap() {
            inputs.insert(name, sim.encrypt(&v, level));
        }
        let out = run_step(plan, &sim, &inputs, t, |_, _| {}).unwrap();
        level = out.values().map(|c| c.level).min().unwrap();
        let slots: HashMap<String, Vec<f64>> =
            out.into_iter().map(|(k, v)| (k, v.values)).collect();
        state = owner::unpack_state(plan, &slots).unwrap();
    }
    // Three steps consumed at most the chain's levels, and the results match to rounding.
    let diff = max_diff(&state, &twin(&fx, steps));
    assert!(diff < 1e-9, "max weight difference {diff}");
}

#[test]
fn ckks_runs_the_plan_like_the_plaintext_twin() {
    let fx = fixture(1);
    let plan = &fx.plan;
    let ctx = owner::context_for(plan).unwrap();
    let keys = owner::keygen(&ctx, plan).unwrap();
    let encoder = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, keys.public.clone()).unwrap();
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let top = ctx.max_level();
    let batch = Batch {
        features: &fx.features,
        labels: &fx.labels,
    };
    let mut inputs = HashMap::new();
    let packed = owner::pack_batch(plan, &batch)
        .unwrap()
        .into_iter()
        .chain(owner::pack_state(plan, &plan_state(&fx)).unwrap());
    for (name, v) in packed {
        let pt = encoder.encode_real(&v, top, delta).unwrap();
        inputs.insert(name, encryptor.encrypt(&pt));
    }
    // The server side: evaluation keys only.
    let backend = CkksBackend::new(&ctx, &keys.server);
    let out = run_step(plan, &backend, &inputs, 0, |_, _| {}).unwrap();
    let decryptor = Decryptor::new(&ctx, keys.secret);
    let slots: HashMap<String, Vec<f64>> = out
        .iter()
        .map(|(k, c)| (k.clone(), encoder.decode_real(&decryptor.decrypt(c))))
        .collect();
    let state = owner::unpack_state(plan, &slots).unwrap();
    let diff = max_diff(&state, &twin(&fx, 1));
    // The plan's predicted error: the simulator with the chain's noise-and-drift model.
    let predicted = (0..4)
        .map(|s| predicted_error(&fx, s))
        .fold(0.0f64, f64::max);
    eprintln!(
        "CKKS vs plaintext twin: max weight difference {diff:.3e}, predicted {predicted:.3e}"
    );
    assert!(
        predicted < 1e-3,
        "the prediction itself is useless: {predicted}"
    );
    assert!(
        diff <= predicted,
        "max weight difference {diff} above the predicted {predicted}"
    );
}

/// Runs one step on the simulator with the CKKS-like noise model and returns the largest weight
/// deviation from the plaintext twin: the plan's predicted error for this input.
fn predicted_error(fx: &Fixture, seed: u64) -> f64 {
    use henn_runtime::sim::NoiseModel;
    let plan = &fx.plan;
    let model = NoiseModel::for_plan(plan);
    let sim = SlotSim::with_noise(plan.params.slots(), model, seed);
    let batch = Batch {
        features: &fx.features,
        labels: &fx.labels,
    };
    let top = plan.params.levels() as usize;
    let mut inputs = HashMap::new();
    let packed = owner::pack_batch(plan, &batch)
        .unwrap()
        .into_iter()
        .chain(owner::pack_state(plan, &plan_state(fx)).unwrap());
    for (name, v) in packed {
        inputs.insert(name, sim.encrypt(&v, top));
    }
    let out = run_step(plan, &sim, &inputs, 0, |_, _| {}).unwrap();
    let slots: HashMap<String, Vec<f64>> = out.into_iter().map(|(k, v)| (k, v.values)).collect();
    max_diff(&owner::unpack_state(plan, &slots).unwrap(), &twin(fx, 1))
}

/// Runs every step of the plan on `backend` the way the server does (state ciphertexts carried
/// from step to step, never decrypted in between) and returns the decrypted final state.
fn run_all_steps<B: henn_runtime::Backend>(
    fx: &Fixture,
    backend: &B,
    level: usize,
    mut encrypt: impl FnMut(&[f64]) -> B::Ct,
    decrypt: impl Fn(&B::Ct) -> Vec<f64>,
) -> State {
    let plan = &fx.plan;
    let batch = Batch {
        features: &fx.features,
        labels: &fx.labels,
    };
    let mut state: HashMap<String, B::Ct> = owner::pack_state(plan, &plan_state(fx))
        .unwrap()
        .into_iter()
        .map(|(name, v)| (name, encrypt(&v)))
        .collect();
    let carry = owner::next_state_inputs(plan);
    let mut last = HashMap::new();
    for t in 0..plan.schedule.steps() as usize {
        let mut inputs = state.clone();
        for (name, v) in owner::pack_batch(plan, &batch).unwrap() {
            inputs.insert(name, encrypt(&v));
        }
        let out = run_step(plan, backend, &inputs, t, |_, _| {}).unwrap();
        for (out_name, in_name) in &carry {
            let ct = out[out_name].clone();
            assert_eq!(
                backend.level(&ct),
                level,
                "step {t}: `{out_name}` left the input level"
            );
            state.insert(in_name.clone(), ct);
        }
        last = out;
    }
    let slots: HashMap<String, Vec<f64>> =
        last.iter().map(|(k, c)| (k.clone(), decrypt(c))).collect();
    owner::unpack_state(plan, &slots).unwrap()
}

#[test]
fn ten_bootstrapped_steps_on_ckks_match_the_plaintext_twin() {
    let (spec, report) = bootstrapped_run_matches_twin(TOY_BOOT);
    // The state (two weight matrices and two biases, one period each: 160 slots) is refreshed
    // by one packed bootstrap of 256 of the 512 slots, the widest refreshed value: the sparse
    // circuit with zeroed output ran, and the program scattered the packed state back and
    // replicated it (a wrong fill, region or replication breaks the twin comparison).
    assert_eq!(spec.log_slots, Some(8));
    assert_eq!(
        (report.bootstrap_slots, report.bootstrap_fill.as_str()),
        (256, "zeroed")
    );
    assert_eq!(
        spec.sparse_output,
        henn_ckks::bootstrap::SparseOutput::Zeroed
    );
}

/// The state of a NAG toy (weights, biases and their momentum: eight ciphertexts) refreshed by
/// one packed bootstrap per step: ten steps on CKKS match the plaintext twin, with fewer
/// bootstraps than the unpacked baseline.
#[test]
fn packed_nag_refreshes_on_ckks_match_the_plaintext_twin() {
    let nag = TOY_BOOT.replace(
        "optimizer = sgd(lr = 0.5)",
        "optimizer = nag(lr = 0.5, momentum = nesterov)",
    );
    assert_ne!(nag, TOY_BOOT);
    let model = henn_sema::check_source("toy.henn", &nag).unwrap();
    let per_step = |pack_refreshes: bool| {
        let options = henn_compile::CompileOptions {
            pack_refreshes,
            ..Default::default()
        };
        henn_compile::compile_with(&model, &options)
            .unwrap()
            .plan
            .bootstrap
            .expect("a bootstrapping plan")
            .per_step
    };
    let (packed, unpacked) = (per_step(true), per_step(false));
    assert!(
        packed + 4 <= unpacked,
        "{packed} vs {unpacked} bootstraps per step"
    );
    let (spec, _) = bootstrapped_run_matches_twin(&nag);
    assert_eq!(
        spec.sparse_output,
        henn_ckks::bootstrap::SparseOutput::Zeroed
    );
}

/// One dense layer without bias: each step refreshes only its (replicated) weights, one period
/// of 64 slots, so the compiler picks the sparse circuit whose output repeats the refreshed
/// block over every slot; ten steps on CKKS must still match the plaintext twin.
#[test]
fn periodic_sparse_bootstraps_on_ckks_match_the_plaintext_twin() {
    let one_layer = TOY_BOOT.replace(
        "    dense hidden(4, activation = s)\n",
        "    bias = false\n",
    );
    assert_ne!(one_layer, TOY_BOOT);
    let (spec, report) = bootstrapped_run_matches_twin(&one_layer);
    assert_eq!(spec.log_slots, Some(6));
    assert_eq!(
        (report.bootstrap_slots, report.bootstrap_fill.as_str()),
        (64, "periodic")
    );
    assert_eq!(
        spec.sparse_output,
        henn_ckks::bootstrap::SparseOutput::Periodic
    );
}

/// Ten bootstrapped steps of `src` on the simulator (with noise: the prediction) and on CKKS
/// (the server role with evaluation keys only): the CKKS weights are within the prediction of
/// the plaintext twin. Returns the plan's bootstrap circuit and its report.
fn bootstrapped_run_matches_twin(
    src: &str,
) -> (
    henn_ckks::bootstrap::BootstrapSpec,
    henn_plan::report::Report,
) {
    let fx = fixture_from(src);
    let plan = &fx.plan;
    let boot = plan.bootstrap.as_ref().expect("a bootstrapping plan");
    let steps = plan.schedule.steps() as usize;
    assert_eq!(steps, 10);
    assert!(boot.per_step > 0);
    // No chain segment holds ten steps: without the bootstraps this plan could not run.
    assert!(plan.schedule.depth_per_step as usize * steps > plan.params.levels() as usize);
    let level = boot.input_level as usize;
    let want = twin(&fx, steps);

    // The prediction: the simulator with the chain's noise model and the bootstrap's precision.
    let predicted = (0..3)
        .map(|seed| {
            let model = henn_runtime::sim::NoiseModel::for_plan(plan);
            let sim = SlotSim::with_noise(plan.params.slots(), model, seed)
                .with_plan_bootstrap(boot)
                .unwrap();
            let got = run_all_steps(
                &fx,
                &sim,
                level,
                |v| sim.encrypt(v, level),
                |c| c.values.clone(),
            );
            max_diff(&got, &want)
        })
        .inspect(|d| assert!(d.is_finite(), "simulated error {d}"))
        .fold(0.0f64, f64::max);

    let ctx = owner::context_for(plan).unwrap();
    let keys = owner::keygen(&ctx, plan).unwrap();
    assert!(keys.server.encapsulation.is_some());
    let encoder = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, keys.public.clone()).unwrap();
    let delta = 2f64.powi(plan.params.scale_bits as i32);
    let decryptor = Decryptor::new(&ctx, keys.secret);
    // The server side: evaluation keys (and the bootstrap's encapsulation keys) only.
    let backend = CkksBackend::for_plan(&ctx, &keys.server, plan).unwrap();
    let got = run_all_steps(
        &fx,
        &backend,
        level,
        |v| encryptor.encrypt(&encoder.encode_real(v, level, delta).unwrap()),
        |c| encoder.decode_real(&decryptor.decrypt(c)),
    );
    let diff = max_diff(&got, &want);
    eprintln!(
        "{steps} steps, {} bootstraps: max weight difference {diff:.3e}, predicted {predicted:.3e}",
        boot.per_step as usize * steps
    );
    assert!(
        predicted < 1e-3,
        "the prediction itself is useless: {predicted}"
    );
    assert!(
        diff <= predicted,
        "max weight difference {diff} above the predicted {predicted}"
    );
    let report = henn_plan::report::report(plan, &henn_plan::report::CostModel::default());
    (boot.spec.clone(), report)
}
