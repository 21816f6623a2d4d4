//! Sweep of activation degree/interval × learning rate × scaling for a `.henn` model on its
//! bundled data, with the plaintext trainer. Prints a Markdown table.
//!
//! ```text
//! cargo run -p henn-tir --release --example sweep -- examples/digits.henn [EPOCHS] [sgd|nag|wide|seeds]
//! cargo run -p henn-tir --release --example sweep -- FILE STEPS steps [KNOB=V1,V2,…]…
//! ```
//!
//! Knobs of the `steps` grid (every combination is run; defaults in brackets):
//! `hidden=16,32` hidden width [16]; `depth=1,2` hidden layers [2];
//! `fit=paper,3:8,13:40` activation on every layer, `paper` = the predecessor's cubic on ±8,
//! `D:B` = least-squares degree D on ±B [paper]; `batch=64,256` [64]; `bias=0,prior` output
//! bias start [0]; `opt=sgd:4,nag:2:0.9,nag:1:n` (`n` = Nesterov's sequence) [sgd:2];
//! `deriv=polynomial,output` σ̃′ [polynomial]; `init=glorot,u:0.5,u:-1:0.5` (uniform on ±0.5; `u:LO:HI` on [LO, HI]) [glorot]; `scaling=minmax,standardize` [minmax];
//! `seed=1,2,3` [the file's]; `last=drop|keep` the short last batch of an epoch [drop, as
//! `henn run` feeds the plan only full batches; `henn train --backend plain` keeps it].
//!
//! A run is *stable* when it neither diverges nor lets any pre-activation leave the fitted
//! interval (on the training batches or the test set) during all epochs.
//!
//! The `steps` grid is for short schedules (at most a few dozen steps, the length an encrypted
//! run can afford): it counts steps instead of epochs, reports test accuracy after steps
//! 8/16/24/32, can vary width and depth, and can start the output bias at the class prior,
//! logit(1/classes) = −ln(classes − 1). The language has no way to say that yet, so these runs
//! drive the step graph with their own parameter state (same initialisation and batch order as
//! the trainer otherwise).

use std::path::PathBuf;

use henn_data::csv::{Expect, load_csv};
use henn_sema::fit::sigmoid_least_squares;
use henn_sema::{
    Activation, Derivative, Init, Interval, Model, Optimizer, PolyActivation, PolyOrigin, Scaling,
    TrainLength,
};
use henn_tir::build::{StepGraph, build_train_step};
use henn_tir::graph::{LayerIdx, Slot, SlotKind};
use henn_tir::interp::{Env, run};
use henn_tir::train::{Trainer, evaluate_with_ranges, initial_state, violations};

fn with_activation(base: &Model, degree: u32, bound: f64, derivative: Derivative) -> Option<Model> {
    let coeffs = sigmoid_least_squares(degree, -bound, bound).ok()?;
    let mut m = base.clone();
    for layer in &mut m.layers {
        layer.activation = Activation::Polynomial(PolyActivation {
            coeffs: coeffs.clone(),
            interval: Interval {
                lo: -bound,
                hi: bound,
            },
            origin: PolyOrigin::LeastSquares { degree },
            derivative,
        });
    }
    Some(m)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let file = PathBuf::from(args.get(1).map_or("examples/digits.henn", String::as_str));
    let epochs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let base = henn_sema::check_file(&file).map_err(|e| e.to_string())?;
    let expect = Expect {
        features: Some(base.data.features),
        classes: Some(base.data.classes),
    };
    let train = load_csv(base.data.train.as_deref().ok_or("no train data")?, expect)?;
    let test = load_csv(base.data.test.as_deref().ok_or("no test data")?, expect)?;
    let grid = args.get(3).map_or("sgd", String::as_str);
    if grid == "steps" {
        let spec = GridSpec::parse(args.get(4..).unwrap_or_default())?;
        return steps_grid(&base, &train, &test, epochs, &spec);
    }
    println!(
        "| scaling | degree | interval | optimizer | batch | e1 | e5 | e10 | e{epochs} | first ≥95% | max abs z | status |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    // (scaling, degree, bound, optimizer, batch)
    let mut runs: Vec<(Scaling, u32, f64, Optimizer, usize)> = Vec::new();
    match grid {
        "nag" | "wide" => {
            let fits: &[(u32, f64)] = if grid == "nag" {
                &[
                    (5, 16.0),
                    (7, 16.0),
                    (7, 24.0),
                    (9, 24.0),
                    (9, 32.0),
                    (11, 32.0),
                ]
            } else {
                &[(11, 40.0), (13, 40.0), (13, 48.0), (15, 48.0), (15, 64.0)]
            };
            for &(degree, bound) in fits {
                for batch in [16, 32] {
                    for lr in [0.05, 0.1, 0.2, 0.4] {
                        let momentum = henn_sema::Momentum::Constant(0.9);
                        runs.push((
                            Scaling::MinMax,
                            degree,
                            bound,
                            Optimizer::Nag { lr, momentum },
                            batch,
                        ));
                    }
                    for lr in [1.0, 2.0, 4.0] {
                        runs.push((Scaling::MinMax, degree, bound, Optimizer::Sgd { lr }, batch));
                    }
                }
            }
        }
        "seeds" => {}
        _ => {
            let fits: &[(u32, f64)] = &[
                (3, 8.0),
                (5, 8.0),
                (3, 12.0),
                (5, 12.0),
                (5, 16.0),
                (7, 16.0),
                (7, 24.0),
                (9, 24.0),
            ];
            for scaling in [Scaling::MinMax, Scaling::Standardize] {
                for &(degree, bound) in fits {
                    for lr in [0.25, 0.5, 1.0, 2.0, 4.0] {
                        runs.push((scaling, degree, bound, Optimizer::Sgd { lr }, 32));
                    }
                }
            }
        }
    }
    if grid == "seeds" {
        for &(degree, bound, lr, batch) in &[
            (13, 40.0, 2.0, 16),
            (15, 48.0, 2.0, 16),
            (15, 64.0, 4.0, 16),
            (15, 48.0, 3.0, 16),
        ] {
            runs.push((Scaling::MinMax, degree, bound, Optimizer::Sgd { lr }, batch));
        }
    }
    let seeds: Vec<u64> = if grid == "seeds" {
        (1..=5).collect()
    } else {
        vec![base.schedule.seed]
    };
    let all: Vec<_> = runs
        .iter()
        .flat_map(|r| seeds.iter().map(move |&s| (r.clone(), s)))
        .collect();
    for ((scaling, degree, bound, optimizer, batch), seed) in all {
        let Some(mut m) = with_activation(&base, degree, bound, Derivative::Polynomial) else {
            println!("| {scaling:?} | {degree} | ±{bound} | fit refused (ill-conditioned) |");
            continue;
        };
        m.data.scaling = scaling;
        m.optimizer = optimizer.clone();
        m.schedule.batch_size = batch;
        m.schedule.seed = seed;
        m.schedule.length = TrainLength::Epochs(epochs);
        let mut t = Trainer::new(&m, &train)?;
        let mut accs = Vec::new();
        let mut status = "stable".to_owned();
        let mut max_abs: f64 = 0.0;
        while !t.done() {
            match t.run_epoch(|_| {}) {
                Ok(s) => {
                    max_abs = s
                        .max_abs_preactivation
                        .values()
                        .fold(max_abs, |a, &b| a.max(b));
                }
                Err(_) => {
                    status = format!("diverged (NaN) at e{}", accs.len() + 1);
                    break;
                }
            }
            let (ev, ranges) = evaluate_with_ranges(&m, t.state(), t.scaler(), &test)?;
            accs.push(ev.accuracy);
            let mut v = t.range_violations();
            v.extend(violations(&m, &ranges));
            if !v.is_empty() && status == "stable" {
                status = format!("out of range at e{}", accs.len());
            }
        }
        let at = |e: usize| {
            accs.get(e - 1)
                .map_or("–".to_owned(), |a| format!("{a:.3}"))
        };
        let first = accs
            .iter()
            .position(|&a| a >= 0.95)
            .map_or("–".to_owned(), |e| format!("e{}", e + 1));
        let opt = match optimizer {
            Optimizer::Sgd { lr } if seeds.len() > 1 => format!("sgd {lr} (seed {seed})"),
            Optimizer::Sgd { lr } => format!("sgd {lr}"),
            Optimizer::Nag { lr, momentum } => format!("nag {lr} {momentum:?}"),
        };
        println!(
            "| {scaling:?} | {degree} | ±{bound} | {opt} | {batch} | {} | {} | {} | {} | {first} | {max_abs:.1} | {status} |",
            at(1),
            at(5),
            at(10),
            at(epochs as usize)
        );
    }
    Ok(())
}

/// One configuration of the short-schedule grid.
#[derive(Debug, Clone)]
struct StepRun {
    hidden: usize,
    depth: usize,
    /// `None`: the predecessor's cubic on [−8, 8]; otherwise a least-squares fit.
    degree: Option<u32>,
    bound: f64,
    optimizer: Optimizer,
    batch: usize,
    prior_bias: bool,
    init: Init,
    scaling: Scaling,
    derivative: Derivative,
    seed: u64,
}

/// The values of every knob of the `steps` grid.
struct GridSpec {
    hidden: Vec<usize>,
    depth: Vec<usize>,
    fit: Vec<(Option<u32>, f64)>,
    batch: Vec<usize>,
    bias: Vec<bool>,
    opt: Vec<Optimizer>,
    init: Vec<Init>,
    scaling: Vec<Scaling>,
    deriv: Vec<Derivative>,
    seed: Vec<u64>,
    /// Drop the short last batch of every epoch, as `henn run` does (it only feeds full batches
    /// to the compiled plan); the plaintext trainer keeps it.
    drop_last: bool,
}

type Boxed = Box<dyn std::error::Error>;

fn num<T: std::str::FromStr>(s: &str) -> Result<T, Boxed> {
    s.parse::<T>()
        .map_err(|_| format!("not a number: {s}").into())
}

impl GridSpec {
    fn parse(args: &[String]) -> Result<Self, Boxed> {
        let mut g = GridSpec {
            hidden: vec![16],
            depth: vec![2],
            fit: vec![(None, 8.0)],
            batch: vec![64],
            bias: vec![false],
            opt: vec![Optimizer::Sgd { lr: 2.0 }],
            init: vec![Init::Glorot],
            scaling: vec![Scaling::MinMax],
            deriv: vec![Derivative::Polynomial],
            seed: Vec::new(),
            drop_last: true,
        };
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| format!("expected KNOB=VALUES: {a}"))?;
            let vals: Vec<&str> = v.split(',').collect();
            match k {
                "hidden" => g.hidden = vals.iter().map(|v| num(v)).collect::<Result<_, _>>()?,
                "depth" => g.depth = vals.iter().map(|v| num(v)).collect::<Result<_, _>>()?,
                "batch" => g.batch = vals.iter().map(|v| num(v)).collect::<Result<_, _>>()?,
                "seed" => g.seed = vals.iter().map(|v| num(v)).collect::<Result<_, _>>()?,
                "deriv" => {
                    g.deriv = vals
                        .iter()
                        .map(|v| match *v {
                            "output" => Derivative::FromOutput,
                            _ => Derivative::Polynomial,
                        })
                        .collect();
                }
                "last" => g.drop_last = v != "keep",
                "bias" => g.bias = vals.iter().map(|v| *v == "prior").collect(),
                "fit" => {
                    g.fit = vals
                        .iter()
                        .map(|v| match v.split_once(':') {
                            None => Ok((None, 8.0)),
                            Some((d, b)) => Ok((Some(num(d)?), num(b)?)),
                        })
                        .collect::<Result<_, Boxed>>()?;
                }
                "opt" => {
                    g.opt = vals
                        .iter()
                        .map(|v| {
                            let p: Vec<&str> = v.split(':').collect();
                            match p.as_slice() {
                                ["sgd", lr] => Ok(Optimizer::Sgd { lr: num(lr)? }),
                                ["nag", lr, "n"] => Ok(Optimizer::Nag {
                                    lr: num(lr)?,
                                    momentum: henn_sema::Momentum::Nesterov,
                                }),
                                ["nag", lr, m] => Ok(Optimizer::Nag {
                                    lr: num(lr)?,
                                    momentum: henn_sema::Momentum::Constant(num(m)?),
                                }),
                                _ => Err(format!("bad optimizer: {v}").into()),
                            }
                        })
                        .collect::<Result<_, Boxed>>()?;
                }
                "init" => {
                    g.init = vals
                        .iter()
                        .map(|v| match v.split(':').collect::<Vec<_>>().as_slice() {
                            ["u", r] => {
                                let r: f64 = num(r)?;
                                Ok(Init::Uniform { lo: -r, hi: r })
                            }
                            ["u", lo, hi] => Ok(Init::Uniform {
                                lo: num(lo)?,
                                hi: num(hi)?,
                            }),
                            _ => Ok(Init::Glorot),
                        })
                        .collect::<Result<_, Boxed>>()?;
                }
                "scaling" => {
                    g.scaling = vals
                        .iter()
                        .map(|v| match *v {
                            "standardize" => Scaling::Standardize,
                            "none" => Scaling::None,
                            _ => Scaling::MinMax,
                        })
                        .collect();
                }
                _ => return Err(format!("unknown knob {k}").into()),
            }
        }
        Ok(g)
    }

    fn runs(&self, default_seed: u64) -> Vec<StepRun> {
        let seeds = if self.seed.is_empty() {
            vec![default_seed]
        } else {
            self.seed.clone()
        };
        let mut out = Vec::new();
        for &depth in &self.depth {
            for &hidden in &self.hidden {
                for &(degree, bound) in &self.fit {
                    for (&scaling, &derivative) in self
                        .scaling
                        .iter()
                        .flat_map(|s| self.deriv.iter().map(move |d| (s, d)))
                    {
                        for &init in &self.init {
                            for &batch in &self.batch {
                                for &prior_bias in &self.bias {
                                    for optimizer in &self.opt {
                                        for &seed in &seeds {
                                            out.push(StepRun {
                                                hidden,
                                                depth,
                                                degree,
                                                bound,
                                                optimizer: optimizer.clone(),
                                                batch,
                                                prior_bias,
                                                init,
                                                scaling,
                                                derivative,
                                                seed,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// The predecessor's cubic (the one in `examples/digits-bootstrapped.henn`).
const PAPER_CUBIC: [f64; 4] = [0.5, 0.106795345, 0.0, -0.000385032598];

fn step_model(base: &Model, r: &StepRun, steps: u64) -> Option<Model> {
    let (coeffs, degree) = match r.degree {
        Some(d) => (sigmoid_least_squares(d, -r.bound, r.bound).ok()?, d),
        None => (PAPER_CUBIC.to_vec(), 3),
    };
    let mut m = base.clone();
    let template = m.layers.first()?.clone();
    let mut output = m.layers.last()?.clone();
    let mut layers = Vec::new();
    for l in 0..r.depth {
        let mut h = template.clone();
        h.name = format!("hidden{}", l + 1);
        h.inputs = if l == 0 { m.data.features } else { r.hidden };
        h.outputs = r.hidden;
        layers.push(h);
    }
    output.inputs = if r.depth == 0 {
        m.data.features
    } else {
        r.hidden
    };
    layers.push(output);
    for layer in &mut layers {
        layer.activation = Activation::Polynomial(PolyActivation {
            coeffs: coeffs.clone(),
            interval: Interval {
                lo: -r.bound,
                hi: r.bound,
            },
            origin: PolyOrigin::LeastSquares { degree },
            derivative: r.derivative,
        });
    }
    m.layers = layers;
    m.data.scaling = r.scaling;
    m.init = r.init;
    m.optimizer = r.optimizer.clone();
    m.schedule.batch_size = r.batch;
    m.schedule.seed = r.seed;
    m.schedule.length = TrainLength::Iterations(steps);
    Some(m)
}

/// What a short run reached.
struct StepOutcome {
    /// Test accuracy after each checkpoint (`None` after divergence).
    acc: Vec<Option<f64>>,
    /// Largest |z| on the training batches and on the test set (at every checkpoint).
    max_train: f64,
    max_test: f64,
    status: String,
}

fn flag(out: &mut StepOutcome, what: String) {
    if out.status == "stable" {
        out.status = what;
    }
}

fn run_short(
    m: &Model,
    train: &henn_data::Dataset,
    test: &henn_data::Dataset,
    prior_bias: bool,
    checkpoints: &[u64],
    drop_last: bool,
) -> Result<StepOutcome, Boxed> {
    // The trainer supplies the batch order and the scaled batches; the state is ours so that the
    // output bias can start at the prior.
    let mut t = Trainer::new(m, train)?;
    let mut state = initial_state(m);
    if prior_bias && m.data.classes > 1 {
        let last = LayerIdx(m.layers.len() - 1);
        let prior = -((m.data.classes - 1) as f64).ln();
        for kind in [SlotKind::Bias, SlotKind::BiasPrev] {
            if let Some(b) = state.get_mut(&Slot { layer: last, kind }) {
                b.data.iter_mut().for_each(|v| *v = prior);
            }
        }
    }
    let total = t.total_steps();
    let mut graphs: std::collections::BTreeMap<usize, StepGraph> = Default::default();
    let mut alpha: f64 = 1.0;
    let mut step = 0u64;
    let mut out = StepOutcome {
        acc: vec![None; checkpoints.len()],
        max_train: 0.0,
        max_test: 0.0,
        status: "stable".to_owned(),
    };
    'outer: while step < total {
        let order = t.shuffle_epoch();
        for chunk in order.chunks(m.schedule.batch_size) {
            if step >= total {
                break 'outer;
            }
            if drop_last && chunk.len() < m.schedule.batch_size {
                continue;
            }
            let momentum = match m.optimizer {
                Optimizer::Sgd { .. } => 0.0,
                Optimizer::Nag {
                    momentum: henn_sema::Momentum::Constant(c),
                    ..
                } => c,
                Optimizer::Nag { .. } => {
                    let next = (1.0 + (1.0 + 4.0 * alpha * alpha).sqrt()) / 2.0;
                    let g = (alpha - 1.0) / next;
                    alpha = next;
                    g
                }
            };
            let g = match graphs.entry(chunk.len()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(build_train_step(m, chunk.len())?)
                }
            };
            let (xb, y) = t.batch(chunk);
            let env = Env {
                features: Some(henn_tir::interp::Tensor {
                    rows: chunk.len(),
                    cols: m.data.features,
                    data: xb,
                }),
                labels: Some(y),
                state: std::mem::take(&mut state),
                momentum,
            };
            let outcome = run(&g.graph, &env)?;
            state = env.state;
            step += 1;
            for (slot, v) in outcome.stored {
                state.insert(slot, v);
            }
            if state
                .values()
                .any(|v| v.data.iter().any(|x| !x.is_finite()))
            {
                flag(&mut out, format!("NaN at step {step}"));
                break 'outer;
            }
            let ranges = outcome.preactivation_range;
            out.max_train = ranges
                .values()
                .fold(out.max_train, |a, &(lo, hi)| a.max(lo.abs()).max(hi.abs()));
            if !violations(m, &ranges).is_empty() {
                flag(&mut out, format!("train out of range at step {step}"));
            }
            if let Some(i) = checkpoints.iter().position(|&c| c == step) {
                let (ev, test_ranges) = evaluate_with_ranges(m, &state, t.scaler(), test)?;
                out.acc[i] = Some(ev.accuracy);
                out.max_test = test_ranges
                    .values()
                    .fold(out.max_test, |a, &(lo, hi)| a.max(lo.abs()).max(hi.abs()));
                if !violations(m, &test_ranges).is_empty() {
                    flag(&mut out, format!("test out of range at step {step}"));
                }
            }
        }
    }
    Ok(out)
}

fn steps_grid(
    base: &Model,
    train: &henn_data::Dataset,
    test: &henn_data::Dataset,
    steps: u64,
    spec: &GridSpec,
) -> Result<(), Boxed> {
    let mut checkpoints: Vec<u64> = [8, 16, 24, 32].into_iter().filter(|&c| c < steps).collect();
    checkpoints.push(steps);
    let heads: Vec<String> = checkpoints.iter().map(|c| format!("s{c}")).collect();
    println!(
        "| net | activation | scaling | init | optimizer | batch | out bias | seed | {} | max abs z train | max abs z test | status |",
        heads.join(" | ")
    );
    println!(
        "|---|---|---|---|---|---|---|---|{}---|---|---|",
        "---|".repeat(heads.len())
    );
    for r in spec.runs(base.schedule.seed) {
        let mut act = match r.degree {
            Some(d) => format!("fit {d} ±{}", r.bound),
            None => "paper cubic ±8".to_owned(),
        };
        if r.derivative == Derivative::FromOutput {
            act.push_str(" σ′=a(1−a)");
        }
        let opt = match &r.optimizer {
            Optimizer::Sgd { lr } => format!("sgd {lr}"),
            Optimizer::Nag {
                lr,
                momentum: henn_sema::Momentum::Constant(c),
            } => format!("nag {lr} m{c}"),
            Optimizer::Nag { lr, .. } => format!("nag {lr} nesterov"),
        };
        let init = match r.init {
            Init::Glorot => "glorot".to_owned(),
            Init::Uniform { lo, hi } if lo == -hi => format!("u±{hi}"),
            Init::Uniform { lo, hi } => format!("u[{lo}, {hi}]"),
            Init::Constant(c) => format!("const {c}"),
        };
        let bias = if r.prior_bias { "prior" } else { "0" };
        let net = format!("64{}→10", format!("→{}", r.hidden).repeat(r.depth));
        let Some(m) = step_model(base, &r, steps) else {
            println!("| {net} | {act} | fit refused |");
            continue;
        };
        let o = run_short(&m, train, test, r.prior_bias, &checkpoints, spec.drop_last)?;
        let accs: Vec<String> = o
            .acc
            .iter()
            .map(|a| a.map_or("–".to_owned(), |a| format!("{a:.3}")))
            .collect();
        println!(
            "| {net} | {act} | {:?} | {init} | {opt} | {} | {bias} | {} | {} | {:.1} | {:.1} | {} |",
            r.scaling,
            r.batch,
            r.seed,
            accs.join(" | "),
            o.max_train,
            o.max_test,
            o.status
        );
    }
    Ok(())
}
