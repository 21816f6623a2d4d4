//! Sweep of activation degree/interval × learning rate × scaling for a `.henn` model on its
//! bundled data, with the plaintext trainer. Prints a Markdown table.
//!
//! ```text
//! cargo run -p henn-tir --release --example sweep -- examples/digits.henn [EPOCHS] [sgd|nag|wide|seeds]
//! ```
//!
//! A run is *stable* when it neither diverges nor lets any pre-activation leave the fitted
//! interval (on the training batches or the test set) during all epochs.

use std::path::PathBuf;

use henn_data::csv::{Expect, load_csv};
use henn_sema::fit::sigmoid_least_squares;
use henn_sema::{
    Activation, Derivative, Interval, Model, Optimizer, PolyActivation, PolyOrigin, Scaling,
    TrainLength,
};
use henn_tir::train::{Trainer, evaluate_with_ranges, violations};

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
