//! From a checked [`Model`] to the graph of one training step: forward pass, monitored loss,
//! back-propagation (reverse-mode autodiff specialised to dense layers) and the optimizer update.
//!
//! Conventions (layer ℓ = 1..L, `A_0 = X`, batch size `B`):
//!
//! * forward: `Z_ℓ = A_{ℓ−1}·W_ℓᵀ (+ b_ℓ)`, `A_ℓ = σ̃_ℓ(Z_ℓ)` (or `A_ℓ = Z_ℓ` for identity);
//! * output error, already divided by the batch size so that every gradient below is the gradient
//!   of the *batch-mean* loss and the learning rate does not depend on `B`:
//!   - BCE: `E_L = (A_L − Y) / B` (the σ′ factor cancels; see [`crate::surrogate`] for the loss
//!     this is exactly the gradient of when σ̃ is a polynomial),
//!   - MSE: `E_L = ((A_L − Y) ⊙ σ̃′_L) / B`;
//! * back-propagation: `E_ℓ = (E_{ℓ+1}·W_{ℓ+1}) ⊙ σ̃′_ℓ`, where σ̃′ is the derivative polynomial
//!   on `Z_ℓ` or `A_ℓ ⊙ (1 − A_ℓ)` as the model's [`Derivative`] says;
//! * gradients: `G_ℓ = E_ℓᵀ·A_{ℓ−1}`, bias gradient `g_ℓ = colsum(E_ℓ)`;
//! * SGD: `W ← W − lr·G`;
//! * NAG (Nesterov's original form, as in the predecessor paper): the gradient is taken at the
//!   stored point `W`; `U' = W − lr·G`, `W ← U' + γ_t·(U' − U)`, `U ← U'` (U starts equal to W).

use henn_sema::{Activation, Derivative, Loss, Model, Optimizer};

use crate::error::TirError;
use crate::graph::{
    Factor, Graph, InputKind, LayerIdx, LossKind, MatMulForm, Op, PolyRole, Shape, Slot, SlotKind,
    ValueId,
};

/// Handles of the interesting values of a built step graph.
#[derive(Debug, Clone)]
pub struct StepGraph {
    pub graph: Graph,
    pub batch: usize,
    pub x: ValueId,
    /// `None` in an inference graph.
    pub y: Option<ValueId>,
    /// Per layer: `Z_ℓ` (after the bias).
    pub z: Vec<ValueId>,
    /// Per layer: `A_ℓ` (equal to `Z_ℓ` for identity layers).
    pub a: Vec<ValueId>,
    /// The monitored loss (`1×1`), training graphs only.
    pub loss: Option<ValueId>,
    /// Per layer: `(G_ℓ, g_ℓ)` weight and bias gradients, training graphs only.
    pub grads: Vec<(ValueId, Option<ValueId>)>,
}

/// Structural checks the builder relies on (the language checker guarantees them too; a Model
/// built by hand may not).
pub fn check_model(model: &Model) -> Result<(), TirError> {
    let err = |m: String| Err(TirError::Model(m));
    if model.layers.is_empty() {
        return err("no layers".to_owned());
    }
    if model.layers[0].inputs != model.data.features {
        return err(format!(
            "first layer takes {} inputs but the data has {} features",
            model.layers[0].inputs, model.data.features
        ));
    }
    for w in model.layers.windows(2) {
        if w[0].outputs != w[1].inputs {
            return err(format!(
                "layer `{}` outputs {} but `{}` takes {}",
                w[0].name, w[0].outputs, w[1].name, w[1].inputs
            ));
        }
    }
    let last = &model.layers[model.layers.len() - 1];
    if last.outputs != model.data.classes {
        return err(format!(
            "last layer has {} outputs for {} classes",
            last.outputs, model.data.classes
        ));
    }
    if model.schedule.batch_size == 0 {
        return err("batch size 0".to_owned());
    }
    Ok(())
}

fn param_shapes(model: &Model, l: usize) -> (Shape, Shape) {
    let layer = &model.layers[l];
    (
        Shape::new(layer.outputs, layer.inputs),
        Shape::new(1, layer.outputs),
    )
}

/// Forward pass shared by the training and inference graphs.
fn forward(
    model: &Model,
    batch: usize,
    g: &mut Graph,
) -> Result<(ValueId, Vec<ValueId>, Vec<ValueId>), TirError> {
    let x = g.input(InputKind::Features, Shape::new(batch, model.data.features));
    g.set_name(x, "X");
    let (mut zs, mut as_) = (Vec::new(), Vec::new());
    let mut prev = x;
    for (l, layer) in model.layers.iter().enumerate() {
        let n = l + 1;
        let (ws, bs) = param_shapes(model, l);
        let w = g.load(
            Slot {
                layer: LayerIdx(l),
                kind: SlotKind::Weight,
            },
            ws,
        );
        g.set_name(w, format!("W{n}"));
        let mut z = g.apply(Op::MatMul(MatMulForm::ABt), &[prev, w])?;
        if layer.bias {
            let b = g.load(
                Slot {
                    layer: LayerIdx(l),
                    kind: SlotKind::Bias,
                },
                bs,
            );
            g.set_name(b, format!("b{n}"));
            z = g.apply(Op::AddRow, &[z, b])?;
        }
        g.set_name(z, format!("Z{n}"));
        let a = match &layer.activation {
            Activation::Identity => z,
            Activation::Polynomial(p) => g.named(
                &format!("A{n}"),
                Op::Poly {
                    coeffs: p.coeffs.clone(),
                    role: PolyRole::Activation,
                    layer: LayerIdx(l),
                    interval: (p.interval.lo, p.interval.hi),
                },
                &[z],
            )?,
        };
        zs.push(z);
        as_.push(a);
        prev = a;
    }
    Ok((x, zs, as_))
}

/// The forward pass alone (for evaluation and inference).
pub fn build_inference(model: &Model, batch: usize) -> Result<StepGraph, TirError> {
    check_model(model)?;
    let mut graph = Graph::new(format!("{} inference (batch {batch})", model.name));
    let (x, z, a) = forward(model, batch, &mut graph)?;
    Ok(StepGraph {
        graph,
        batch,
        x,
        y: None,
        z,
        a,
        loss: None,
        grads: Vec::new(),
    })
}

/// σ̃′ of layer `l` as graph nodes, or `None` for an identity layer (σ′ = 1).
fn derivative(
    model: &Model,
    l: usize,
    z: ValueId,
    a: ValueId,
    g: &mut Graph,
) -> Result<Option<ValueId>, TirError> {
    let n = l + 1;
    match &model.layers[l].activation {
        Activation::Identity => Ok(None),
        Activation::Polynomial(p) => match p.derivative {
            Derivative::Polynomial => {
                let coeffs: Vec<f64> = p
                    .coeffs
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(k, c)| c * k as f64)
                    .collect();
                let coeffs = if coeffs.is_empty() { vec![0.0] } else { coeffs };
                Ok(Some(g.named(
                    &format!("dA{n}"),
                    Op::Poly {
                        coeffs,
                        role: PolyRole::Derivative,
                        layer: LayerIdx(l),
                        interval: (p.interval.lo, p.interval.hi),
                    },
                    &[z],
                )?))
            }
            Derivative::FromOutput => {
                let neg = g.apply(Op::Scale(Factor::Const(-1.0)), &[a])?;
                let one_minus = g.apply(Op::Offset(1.0), &[neg])?;
                Ok(Some(g.named(
                    &format!("dA{n}"),
                    Op::Mul,
                    &[a, one_minus],
                )?))
            }
        },
    }
}

/// The whole training step for a batch of `batch` samples.
pub fn build_train_step(model: &Model, batch: usize) -> Result<StepGraph, TirError> {
    check_model(model)?;
    if batch == 0 {
        return Err(TirError::Model("batch of 0 samples".to_owned()));
    }
    let mut g = Graph::new(format!("{} train step (batch {batch})", model.name));
    let (x, z, a) = forward(model, batch, &mut g)?;
    let last = model.layers.len() - 1;
    let y = g.input(InputKind::Labels, Shape::new(batch, model.data.classes));
    g.set_name(y, "Y");
    let kind = match model.loss {
        Loss::Bce => LossKind::Bce,
        Loss::Mse => LossKind::Mse,
    };
    let loss = g.named("loss", Op::Loss(kind), &[a[last], y])?;

    // Output error.
    let mut diff = g.apply(Op::Sub, &[a[last], y])?;
    if model.loss == Loss::Mse
        && let Some(d) = derivative(model, last, z[last], a[last], &mut g)?
    {
        diff = g.apply(Op::Mul, &[diff, d])?;
    }
    let mut e = g.named(
        &format!("E{}", last + 1),
        Op::Scale(Factor::Const(1.0 / batch as f64)),
        &[diff],
    )?;

    // Backward.
    let mut grads = vec![(x, None); model.layers.len()];
    let mut weights = Vec::new();
    for v in g.values() {
        if let Some(Op::Load(Slot {
            kind: SlotKind::Weight,
            layer,
        })) = g.node(v).map(|n| &n.op)
        {
            weights.push((layer.0, v));
        }
    }
    weights.sort();
    for l in (0..=last).rev() {
        let n = l + 1;
        let a_prev = if l == 0 { x } else { a[l - 1] };
        let gw = g.named(&format!("G{n}"), Op::MatMul(MatMulForm::AtB), &[e, a_prev])?;
        let gb = if model.layers[l].bias {
            Some(g.named(&format!("gb{n}"), Op::ColSum, &[e])?)
        } else {
            None
        };
        grads[l] = (gw, gb);
        if l > 0 {
            let w = weights[l].1;
            let back = g.apply(Op::MatMul(MatMulForm::AB), &[e, w])?;
            e = match derivative(model, l - 1, z[l - 1], a[l - 1], &mut g)? {
                Some(d) => g.named(&format!("E{l}"), Op::Mul, &[back, d])?,
                None => {
                    g.set_name(back, format!("E{l}"));
                    back
                }
            };
        }
    }

    // Update.
    let loads: Vec<(Slot, ValueId)> = g
        .values()
        .filter_map(|v| match g.node(v).map(|n| &n.op) {
            Some(Op::Load(s)) => Some((*s, v)),
            _ => None,
        })
        .collect();
    for (slot, current) in loads {
        let (grad, prev_kind) = match slot.kind {
            SlotKind::Weight => (Some(grads[slot.layer.0].0), SlotKind::WeightPrev),
            SlotKind::Bias => (grads[slot.layer.0].1, SlotKind::BiasPrev),
            _ => continue,
        };
        let Some(grad) = grad else { continue };
        let lr = match model.optimizer {
            Optimizer::Sgd { lr } | Optimizer::Nag { lr, .. } => lr,
        };
        let step = g.apply(Op::Scale(Factor::Const(lr)), &[grad])?;
        let moved = g.apply(Op::Sub, &[current, step])?;
        match model.optimizer {
            Optimizer::Sgd { .. } => {
                g.store(slot, moved)?;
            }
            Optimizer::Nag { .. } => {
                let prev_slot = Slot {
                    layer: slot.layer,
                    kind: prev_kind,
                };
                let shape = g.shape(current).ok_or(TirError::UnknownValue {
                    value: current.index(),
                })?;
                let prev = g.load(prev_slot, shape);
                g.set_name(prev, prev_slot.to_string());
                let delta = g.apply(Op::Sub, &[moved, prev])?;
                let push = g.apply(Op::Scale(Factor::Momentum), &[delta])?;
                let next = g.apply(Op::Add, &[moved, push])?;
                g.store(slot, next)?;
                g.store(prev_slot, moved)?;
            }
        }
    }
    Ok(StepGraph {
        graph: g,
        batch,
        x,
        y: Some(y),
        z,
        a,
        loss: Some(loss),
        grads,
    })
}
