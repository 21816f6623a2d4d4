//! The autodiff against central finite differences, and one whole step against an independent
//! hand-written reference.
//!
//! What is checked, precisely:
//! * MSE, `Derivative::Polynomial`: the graph's `G_ℓ`, `g_ℓ` are the exact gradient of the
//!   batch-mean `½‖σ̃(Z_L) − Y‖²` through every layer.
//! * BCE, `Derivative::Polynomial`: the rule `E_L = (A_L − Y)/B` is *not* the gradient of BCE on
//!   σ̃'s outputs; it is the exact gradient of the polynomial-softplus surrogate
//!   `L̃ = (1/B)·Σ [P(z) − y·z]`, `P′ = σ̃` (see `henn_tir::surrogate`). The check differentiates
//!   `L̃` numerically, so it covers the output rule *and* the hidden-layer chain.
//! * `Derivative::FromOutput` (`A ⊙ (1 − A)`) is not the derivative of a polynomial σ̃, so no loss
//!   has it as gradient; the step test compares it with a hand-written reference instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod common;

use std::collections::BTreeMap;

use henn_sema::{Activation, Derivative, Loss, Momentum, Optimizer};
use henn_tir::interp::{Env, Tensor, horner, run};
use henn_tir::surrogate::surrogate_bce;
use henn_tir::*;
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
}

struct Case {
    model: henn_sema::Model,
    env: Env,
    batch: usize,
}

fn case(
    seed: u64,
    widths: &[usize],
    batch: usize,
    loss: Loss,
    identity_mask: u32,
    bias_mask: u32,
) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A random odd-ish polynomial with a positive slope, degree 3 or 5.
    let c1 = uniform(&mut rng, 0.1, 0.3);
    let mut coeffs = vec![
        0.5,
        c1,
        uniform(&mut rng, -0.02, 0.02),
        uniform(&mut rng, -0.01, 0.0),
    ];
    if rng.next_u64() % 2 == 0 {
        coeffs.extend([
            uniform(&mut rng, -0.001, 0.001),
            uniform(&mut rng, 0.0, 1e-4),
        ]);
    }
    let act = common::poly(coeffs, 8.0, Derivative::Polynomial);
    let mut model = common::mlp("gc", widths, &act, Optimizer::Sgd { lr: 0.1 }, batch, 1);
    model.loss = loss;
    for (l, layer) in model.layers.iter_mut().enumerate() {
        if identity_mask >> l & 1 == 1 {
            layer.activation = Activation::Identity;
        }
        layer.bias = bias_mask >> l & 1 == 1;
    }
    let mut state = BTreeMap::new();
    for (l, layer) in model.layers.iter().enumerate() {
        let w = (0..layer.inputs * layer.outputs)
            .map(|_| uniform(&mut rng, -1.0, 1.0))
            .collect();
        state.insert(
            Slot {
                layer: LayerIdx(l),
                kind: SlotKind::Weight,
            },
            Tensor::from_vec(layer.outputs, layer.inputs, w).unwrap(),
        );
        if layer.bias {
            let b = (0..layer.outputs)
                .map(|_| uniform(&mut rng, -0.5, 0.5))
                .collect();
            state.insert(
                Slot {
                    layer: LayerIdx(l),
                    kind: SlotKind::Bias,
                },
                Tensor::from_vec(1, layer.outputs, b).unwrap(),
            );
        }
    }
    let d = widths[0];
    let c = widths[widths.len() - 1];
    let x = (0..batch * d)
        .map(|_| uniform(&mut rng, -1.5, 1.5))
        .collect();
    let y = (0..batch * c)
        .map(|_| f64::from((rng.next_u64() % 2) as u8))
        .collect();
    let env = Env {
        features: Some(Tensor::from_vec(batch, d, x).unwrap()),
        labels: Some(Tensor::from_vec(batch, c, y).unwrap()),
        state,
        momentum: 0.0,
    };
    Case { model, env, batch }
}

/// The loss whose gradient the graph claims to compute, from a forward pass.
fn objective(c: &Case, state: &BTreeMap<Slot, Tensor>) -> f64 {
    let step = build_inference(&c.model, c.batch).unwrap();
    let env = Env {
        state: state.clone(),
        ..c.env.clone()
    };
    let out = run(&step.graph, &env).unwrap();
    let last = c.model.layers.len() - 1;
    let y = &c.env.labels.as_ref().unwrap().data;
    match c.model.loss {
        Loss::Bce => {
            let coeffs = match &c.model.layers[last].activation {
                Activation::Polynomial(p) => p.coeffs.clone(),
                Activation::Identity => vec![0.0, 1.0],
            };
            surrogate_bce(&coeffs, &out.value(step.z[last]).unwrap().data, y, c.batch)
        }
        Loss::Mse => {
            let a = &out.value(step.a[last]).unwrap().data;
            a.iter()
                .zip(y)
                .map(|(a, y)| 0.5 * (a - y) * (a - y))
                .sum::<f64>()
                / c.batch as f64
        }
    }
}

fn check(c: &Case) -> Result<(), String> {
    let step = build_train_step(&c.model, c.batch).unwrap();
    step.graph.validate().map_err(|e| e.to_string())?;
    let out = run(&step.graph, &c.env).unwrap();
    let h = 1e-5;
    for (l, (gw, gb)) in step.grads.iter().enumerate() {
        let mut pairs = vec![(SlotKind::Weight, *gw)];
        if let Some(gb) = gb {
            pairs.push((SlotKind::Bias, *gb));
        }
        for (kind, gid) in pairs {
            let slot = Slot {
                layer: LayerIdx(l),
                kind,
            };
            let analytic = out.value(gid).unwrap();
            for i in 0..analytic.data.len() {
                let mut plus = c.env.state.clone();
                plus.get_mut(&slot).unwrap().data[i] += h;
                let mut minus = c.env.state.clone();
                minus.get_mut(&slot).unwrap().data[i] -= h;
                let fd = (objective(c, &plus) - objective(c, &minus)) / (2.0 * h);
                let g = analytic.data[i];
                if (fd - g).abs() > 1e-7 + 1e-6 * g.abs().max(fd.abs()) {
                    return Err(format!(
                        "{slot}[{i}]: autodiff {g:e}, finite difference {fd:e}"
                    ));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn autodiff_matches_finite_differences(
        seed in any::<u64>(),
        widths in proptest::collection::vec(1usize..5, 2..5),
        batch in 1usize..5,
        mse in any::<bool>(),
        identity_mask in 0u32..16,
        bias_mask in 0u32..16,
    ) {
        let loss = if mse { Loss::Mse } else { Loss::Bce };
        let c = case(seed, &widths, batch, loss, identity_mask, bias_mask);
        prop_assert_eq!(check(&c), Ok(()));
    }
}

/// The finite-difference check is not vacuous: it notices when the BCE rule is compared with
/// plain BCE on σ̃'s outputs instead of the surrogate.
#[test]
fn surrogate_is_the_right_objective() {
    let c = case(3, &[3, 4, 2], 3, Loss::Bce, 0, 0b111);
    assert_eq!(check(&c), Ok(()));
    let step = build_train_step(&c.model, c.batch).unwrap();
    let out = run(&step.graph, &c.env).unwrap();
    let g = out.value(step.grads[1].0).unwrap().data[0];
    let bce = |state: &BTreeMap<Slot, Tensor>| {
        let inf = build_inference(&c.model, c.batch).unwrap();
        let o = run(
            &inf.graph,
            &Env {
                state: state.clone(),
                ..c.env.clone()
            },
        )
        .unwrap();
        let a = &o.value(inf.a[1]).unwrap().data;
        let y = &c.env.labels.as_ref().unwrap().data;
        -a.iter()
            .zip(y)
            .map(|(a, y)| y * a.ln() + (1.0 - y) * (1.0 - a).ln())
            .sum::<f64>()
            / c.batch as f64
    };
    let slot = Slot {
        layer: LayerIdx(1),
        kind: SlotKind::Weight,
    };
    let (mut p, mut m) = (c.env.state.clone(), c.env.state.clone());
    p.get_mut(&slot).unwrap().data[0] += 1e-5;
    m.get_mut(&slot).unwrap().data[0] -= 1e-5;
    let fd = (bce(&p) - bce(&m)) / 2e-5;
    assert!(
        (fd - g).abs() > 1e-4,
        "BCE-on-σ̃ gradient {fd} unexpectedly equals the rule's {g}"
    );
}

/// One SGD and one NAG step of a 3-layer net with `A ⊙ (1 − A)` derivatives against a
/// hand-written backprop (plain loops, no graph).
#[test]
fn whole_step_matches_hand_written_reference() {
    for nag in [false, true] {
        let mut c = case(11, &[4, 3, 3, 2], 5, Loss::Bce, 0, 0b111);
        for layer in &mut c.model.layers {
            if let Activation::Polynomial(p) = &mut layer.activation {
                p.derivative = Derivative::FromOutput;
            }
        }
        let (lr, mu) = (0.3, 0.7);
        c.model.optimizer = if nag {
            Optimizer::Nag {
                lr,
                momentum: Momentum::Constant(mu),
            }
        } else {
            Optimizer::Sgd { lr }
        };
        let mut env = c.env.clone();
        env.momentum = mu;
        // U differs from W so that the momentum term is exercised.
        for l in 0..3 {
            let w = env.state[&Slot {
                layer: LayerIdx(l),
                kind: SlotKind::Weight,
            }]
                .clone();
            let b = env.state[&Slot {
                layer: LayerIdx(l),
                kind: SlotKind::Bias,
            }]
                .clone();
            let shift = |t: &Tensor| Tensor {
                data: t.data.iter().map(|v| v * 0.9 + 0.01).collect(),
                ..t.clone()
            };
            env.state.insert(
                Slot {
                    layer: LayerIdx(l),
                    kind: SlotKind::WeightPrev,
                },
                shift(&w),
            );
            env.state.insert(
                Slot {
                    layer: LayerIdx(l),
                    kind: SlotKind::BiasPrev,
                },
                shift(&b),
            );
        }
        let step = build_train_step(&c.model, c.batch).unwrap();
        let got = run(&step.graph, &env).unwrap().stored;

        // Reference.
        let coeffs = match &c.model.layers[0].activation {
            Activation::Polynomial(p) => p.coeffs.clone(),
            Activation::Identity => unreachable!(),
        };
        let (bsz, x, y) = (
            c.batch,
            env.features.clone().unwrap(),
            env.labels.clone().unwrap(),
        );
        let w = |l: usize, k: SlotKind| {
            env.state[&Slot {
                layer: LayerIdx(l),
                kind: k,
            }]
                .clone()
        };
        let mut acts = vec![x.data.clone()];
        let dims = [4, 3, 3, 2];
        for l in 0..3 {
            let (wl, bl) = (w(l, SlotKind::Weight), w(l, SlotKind::Bias));
            let prev = &acts[l];
            let mut a = vec![0.0; bsz * dims[l + 1]];
            for i in 0..bsz {
                for j in 0..dims[l + 1] {
                    let mut z = bl.data[j];
                    for k in 0..dims[l] {
                        z += prev[i * dims[l] + k] * wl.data[j * dims[l] + k];
                    }
                    a[i * dims[l + 1] + j] = horner(&coeffs, z);
                }
            }
            acts.push(a);
        }
        let mut delta: Vec<f64> = acts[3]
            .iter()
            .zip(&y.data)
            .map(|(a, y)| (a - y) / bsz as f64)
            .collect();
        let mut expect = BTreeMap::new();
        for l in (0..3).rev() {
            let (n_out, n_in) = (dims[l + 1], dims[l]);
            let mut gw = vec![0.0; n_out * n_in];
            let mut gb = vec![0.0; n_out];
            for i in 0..bsz {
                for j in 0..n_out {
                    gb[j] += delta[i * n_out + j];
                    for k in 0..n_in {
                        gw[j * n_in + k] += delta[i * n_out + j] * acts[l][i * n_in + k];
                    }
                }
            }
            let wl = w(l, SlotKind::Weight);
            if l > 0 {
                let mut next = vec![0.0; bsz * n_in];
                for i in 0..bsz {
                    for k in 0..n_in {
                        let a = acts[l][i * n_in + k];
                        let s: f64 = (0..n_out)
                            .map(|j| delta[i * n_out + j] * wl.data[j * n_in + k])
                            .sum();
                        next[i * n_in + k] = s * a * (1.0 - a);
                    }
                }
                delta = next;
            }
            for (kind, prev, g, cur) in [
                (SlotKind::Weight, SlotKind::WeightPrev, gw, wl),
                (SlotKind::Bias, SlotKind::BiasPrev, gb, w(l, SlotKind::Bias)),
            ] {
                let moved: Vec<f64> = cur.data.iter().zip(&g).map(|(w, g)| w - lr * g).collect();
                if nag {
                    let u = w(l, prev);
                    let next: Vec<f64> = moved
                        .iter()
                        .zip(&u.data)
                        .map(|(m, u)| m + mu * (m - u))
                        .collect();
                    expect.insert(
                        Slot {
                            layer: LayerIdx(l),
                            kind,
                        },
                        next,
                    );
                    expect.insert(
                        Slot {
                            layer: LayerIdx(l),
                            kind: prev,
                        },
                        moved,
                    );
                } else {
                    expect.insert(
                        Slot {
                            layer: LayerIdx(l),
                            kind,
                        },
                        moved,
                    );
                }
            }
        }
        assert_eq!(got.len(), expect.len());
        for (slot, want) in &expect {
            let have = &got[slot].data;
            for (h, w) in have.iter().zip(want) {
                assert!((h - w).abs() < 1e-12, "nag={nag} {slot}: {h} vs {w}");
            }
        }
    }
}
