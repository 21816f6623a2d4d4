//! Inference plans: the forward pass alone (no loss, no backward pass, no update) for a batch of
//! encrypted queries, lowered with the same kernels and optimizer as training.
//!
//! Two weight modes ([`InferWeights`]):
//!
//! - **encrypted**: the weights are a training plan's trained state, never decrypted. The
//!   inference plan is compiled *against the training plan*: its parameters (ring, primes,
//!   special primes, `dnum`) and row stride are the training plan's, so the trained-state
//!   ciphertexts are usable as they are (same key set, same ring; no re-encryption), and every
//!   state input has the layout of the training plan's input of the same name. The plan starts at
//!   the level the trained state arrives at (a leveled plan's state leaves its last step
//!   `steps × depth` levels down; a bootstrapping plan's is refreshed every step), and the
//!   forward pass must fit below it: when it does not, [`CompileError::InferenceLevels`] says how
//!   many levels are missing, and [`compile_for_inference`] recompiles the training plan with
//!   that many levels reserved ([`CompileOptions::reserve_levels`]).
//! - **plaintext**: weights the server may see. They are compiled into the plan as plaintext
//!   constants (plan-time, not serve-time): every product is ciphertext × plaintext
//!   ([`henn_lower::kernels::plain`]: generalized diagonals of the weights, no relinearization, no
//!   rotation of the weights, one level per layer instead of three), every bias a plaintext
//!   addition, and the plan has no state inputs, so no weights are encrypted or uploaded. The
//!   plan's content hash, which every file of the job is bound to, therefore binds the weights
//!   (and the feature scaling, carried as the owner contract's fitted statistics): a prediction
//!   bundle is only readable against the plan of exactly those weights. Constants rather than
//!   serve-time plaintext inputs because the diagonal layout is the compiler's choice (the
//!   server would otherwise need the kernel's rearrangement), the binding comes for free, the
//!   plan format needs no new input kind, and compiling an inference plan takes milliseconds.
//!   The plan has its own ring, the smallest whose chain holds the (much shallower) pass.
//!
//! The scores are the last layer's pre-activations by default ([`ScoreKind::Logits`]: the
//! activation is a monotone polynomial on its interval, so the owner's arg-max is the same and
//! the polynomial's levels are saved), or its activations.

use std::collections::BTreeMap;

use henn_ckks::{Params, SecurityLevel};
use henn_contract::Scaler;
use henn_lower::kernels::plain::PlainMatrix;
use henn_lower::lower::{
    LowerConfig, Lowered, PlainWeights, lower_inference, lower_inference_plain,
};
use henn_plan::HeOp;
use henn_plan::Plan;
use henn_plan::plan::{InferSpec, PlanKind, ScoreKind, WeightSource};
use henn_sema::{Activation, Model, RingDegree};
use henn_tir::interp::Tensor;
use henn_tir::{Slot, build_inference};

use super::{
    CompileError, CompileOptions, Compiled, OptSummary, build_params, check_valid, compile_with,
    make_plan,
};

/// Where an inference plan's weights come from.
#[derive(Debug, Clone, Copy)]
pub enum InferWeights<'a> {
    /// The trained state of this training plan (with its content hash).
    Encrypted { train: &'a Plan, hash: [u8; 32] },
    /// Weights the server may see (the state of a weights file, `henn_tir::weights::model_state`),
    /// compiled into the plan as constants, and the feature scaling they were trained with, which
    /// the plan's owner contract then carries.
    Plaintext {
        state: &'a BTreeMap<Slot, Tensor>,
        scaling: Option<&'a Scaler>,
    },
}

/// What to compile an inference plan for.
#[derive(Debug, Clone, Copy)]
pub struct InferOptions<'a> {
    /// Queries per run of the plan (the owner pads the last batch).
    pub batch: usize,
    pub weights: InferWeights<'a>,
    pub scores: ScoreKind,
    /// Run the e-graph optimizer on the lowered pass.
    pub optimize: bool,
}

/// The level the trained state of `train` arrives at after its last step: a bootstrapping plan's
/// state is refreshed to its input level every step; a leveled plan's loses the depth of its
/// deepest state output at every step.
pub fn trained_state_level(train: &Plan) -> u32 {
    let out_depth = train
        .program
        .instrs
        .iter()
        .filter(|i| matches!(i.op, HeOp::Output { .. }))
        .map(|i| i.ty.depth.0)
        .max()
        .unwrap_or(0);
    match &train.bootstrap {
        Some(b) => b.input_level.saturating_sub(out_depth),
        None => train.params.levels().saturating_sub(
            u32::try_from(train.schedule.steps().saturating_mul(out_depth as u64))
                .unwrap_or(u32::MAX),
        ),
    }
}

/// The model whose forward pass produces the requested scores.
fn scoring_model(model: &Model, scores: ScoreKind) -> Model {
    let mut m = model.clone();
    if scores == ScoreKind::Logits
        && let Some(last) = m.layers.last_mut()
    {
        last.activation = Activation::Identity;
    }
    m
}

fn lower(
    model: &Model,
    batch: usize,
    (slots, stride): (usize, Option<usize>),
    plain: Option<&PlainWeights>,
    optimize: bool,
) -> Result<(henn_tir::StepGraph, Lowered, Option<OptSummary>), CompileError> {
    let step = build_inference(model, batch)?;
    let cfg = LowerConfig { slots, stride };
    let mut lowered = match plain {
        Some(w) => lower_inference_plain(&step, &cfg, w)?,
        None => lower_inference(&step, &cfg)?,
    };
    let mut summary = None;
    if optimize {
        summary = Some(
            match henn_opt::optimize(&lowered.graph, &henn_opt::OptConfig::default()) {
                Ok(o) => {
                    lowered.graph = o.graph;
                    OptSummary::Ran(o.report)
                }
                Err(e) => OptSummary::Failed(e.to_string()),
            },
        );
    }
    Ok((step, lowered, summary))
}

/// The plan of one inference pass: a single step, no bootstrapping, `kind` saying where the
/// weights come from.
fn inference_plan(
    model: &Model,
    step: &henn_tir::StepGraph,
    lowered: &Lowered,
    params: &Params,
    kind: PlanKind,
) -> Result<Plan, CompileError> {
    make_plan(
        model,
        step,
        lowered,
        &lowered.graph,
        params,
        (1, 1, 1),
        (None, kind),
    )
}

/// Compile the inference plan of a checked model (see the module documentation).
pub fn compile_inference(model: &Model, opts: &InferOptions<'_>) -> Result<Compiled, CompileError> {
    if opts.batch == 0 {
        return Err(CompileError::Tir(henn_tir::TirError::Model(
            "an inference batch of 0 queries".to_owned(),
        )));
    }
    let scoring = scoring_model(model, opts.scores);
    match opts.weights {
        InferWeights::Encrypted { train, hash } => encrypted(model, &scoring, opts, train, hash),
        InferWeights::Plaintext { state, scaling } => plaintext(
            model,
            &scoring,
            opts,
            &plain_weights(model, state)?,
            scaling,
        ),
    }
}

fn encrypted(
    model: &Model,
    scoring: &Model,
    opts: &InferOptions<'_>,
    train: &Plan,
    hash: [u8; 32],
) -> Result<Compiled, CompileError> {
    if train.infer().is_some() {
        return Err(CompileError::InferenceMismatch(
            "the weights must come from a training plan, not an inference plan".to_owned(),
        ));
    }
    let spec = &train.params;
    let level = match spec.security.as_str() {
        "128" => SecurityLevel::Classic128,
        "192" => SecurityLevel::Classic192,
        "256" => SecurityLevel::Classic256,
        _ => SecurityLevel::InsecureUnchecked,
    };
    let params = Params::from_primes(
        spec.log_n,
        spec.q.clone(),
        spec.p.clone(),
        spec.dnum,
        spec.scale_bits,
        level,
    )
    .map_err(|e| CompileError::InferenceMismatch(e.to_string()))?;
    let (step, lowered, opt) = lower(
        scoring,
        opts.batch,
        (spec.slots(), Some(train.data.stride)),
        None,
        opts.optimize,
    )?;
    // Every state input must be exactly the training plan's input of the same name.
    for input in lowered.inputs.iter().filter(|i| i.state_slot().is_some()) {
        let same = train
            .data
            .inputs
            .iter()
            .find(|t| t.name == input.name)
            .is_some_and(|t| t.source == input.source && t.layout == input.layout);
        if !same {
            return Err(CompileError::InferenceMismatch(format!(
                "state input `{}` is packed differently from the training plan's",
                input.name
            )));
        }
    }
    let available = trained_state_level(train);
    let needed = lowered.graph.max_depth();
    if needed > available {
        return Err(CompileError::InferenceLevels {
            needed,
            available,
            hint: if train.bootstrap.is_some() {
                "bootstrapping inside the inference pass is not implemented"
            } else {
                "compile the training plan with the missing levels reserved (`henn predict` does)"
            },
        });
    }
    check_valid(&lowered.graph, available)?;
    let kind = PlanKind::Infer(InferSpec {
        weights: WeightSource::Encrypted { train_plan: hash },
        input_level: available,
        scores: opts.scores,
    });
    let mut plan = inference_plan(model, &step, &lowered, &params, kind)?;
    // The owner scales queries with the training job's statistics: keep its contract whole.
    plan.owner = train.owner.clone();
    Ok(Compiled {
        plan,
        step,
        lowered,
        opt,
    })
}

/// The weights and biases of every layer as the lowering's plaintext matrices, checked against
/// the model's shapes (a layer without bias has none).
fn plain_weights(
    model: &Model,
    state: &BTreeMap<Slot, Tensor>,
) -> Result<PlainWeights, CompileError> {
    let shapes = henn_tir::contract::layer_shapes(model);
    let mut out = PlainWeights::new();
    for (slot, t) in state {
        let Some(shape) = shapes.get(slot.layer.0) else {
            return Err(CompileError::InferenceMismatch(format!(
                "plaintext weights for layer {} of a {}-layer model",
                slot.layer.0 + 1,
                shapes.len()
            )));
        };
        let (rows, cols) = match slot.kind {
            henn_tir::SlotKind::Weight => (shape.outputs, shape.inputs),
            henn_tir::SlotKind::Bias if shape.bias => (1, shape.outputs),
            _ => continue,
        };
        if t.data.len() != rows * cols || !t.data.iter().all(|v| v.is_finite()) {
            return Err(CompileError::InferenceMismatch(format!(
                "plaintext {slot} holds {} values ({}×{}), the model needs {rows}×{cols} finite ones",
                t.data.len(),
                t.rows,
                t.cols
            )));
        }
        let name = henn_lower::state_slot(*slot).to_string();
        out.insert(
            *slot,
            PlainMatrix {
                name,
                rows,
                cols,
                data: t.data.clone(),
            },
        );
    }
    Ok(out)
}

fn plaintext(
    model: &Model,
    scoring: &Model,
    opts: &InferOptions<'_>,
    weights: &PlainWeights,
    scaling: Option<&Scaler>,
) -> Result<Compiled, CompileError> {
    let candidates: Vec<u32> = match model.encryption.ring {
        RingDegree::Fixed { log_n } => vec![log_n],
        RingDegree::Auto => (13..=17).collect(),
    };
    let mut last = CompileError::NoRing("no candidate ring degree".into());
    for log_n in candidates {
        let (step, lowered, opt) = match lower(
            scoring,
            opts.batch,
            (1usize << (log_n - 1), None),
            Some(weights),
            opts.optimize,
        ) {
            Ok(l) => l,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let depth = lowered.graph.max_depth();
        let Some(params) = build_params(log_n, depth as usize, model) else {
            last = CompileError::NoRing(format!(
                "no chain of {depth} levels at N = 2^{log_n} for the requested security"
            ));
            continue;
        };
        check_valid(&lowered.graph, params.max_level() as u32)?;
        let kind = PlanKind::Infer(InferSpec {
            weights: WeightSource::Plaintext,
            input_level: params.max_level() as u32,
            scores: opts.scores,
        });
        let mut plan = inference_plan(model, &step, &lowered, &params, kind)?;
        if let Some(s) = scaling {
            plan.owner.scaling.fitted = Some(s.clone());
        }
        return Ok(Compiled {
            plan,
            step,
            lowered,
            opt,
        });
    }
    Err(last)
}

/// A training plan and the inference plan that runs on its trained state: the training plan is
/// compiled as usual, then with the levels the inference pass is missing reserved, until the
/// trained state holds the pass (at most three tries: a longer chain may need a larger ring,
/// which changes the lowering).
pub fn compile_for_inference(
    model: &Model,
    options: &CompileOptions,
    batch: usize,
    scores: ScoreKind,
) -> Result<(Compiled, Compiled), CompileError> {
    let mut options = *options;
    let mut last = None;
    for _ in 0..3 {
        let train = compile_with(model, &options)?;
        let hash = henn_plan::io::content_hash(&train.plan)
            .map_err(|e| CompileError::InferenceMismatch(e.to_string()))?;
        let infer = compile_inference(
            model,
            &InferOptions {
                batch,
                weights: InferWeights::Encrypted {
                    train: &train.plan,
                    hash,
                },
                scores,
                optimize: options.optimize,
            },
        );
        match infer {
            Ok(infer) => return Ok((train, infer)),
            Err(
                e @ CompileError::InferenceLevels {
                    needed, available, ..
                },
            ) if train.plan.bootstrap.is_none() => {
                options.reserve_levels += needed - available;
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(CompileError::NoRing("no plan pair".into())))
}
