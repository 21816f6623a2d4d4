//! The compile pipeline: checked model → tensor IR → HE IR → parameters → plan.
//!
//! Parameter selection is the one decision made here rather than in a stage: the lowering depends
//! on the slot count (it fixes rows per ciphertext), and the chain depends on the lowered depth, so
//! the pipeline tries ring degrees from small to large and keeps the first whose chain holds every
//! step's levels at the requested security. For each ring it prefers `dnum = 3` (OpenFHE's default;
//! a good balance of key size and key-switch cost) and raises it only when the special primes would
//! break the security bound.
//!
//! With `bootstrapping = auto` the pipeline also builds a *bootstrapping* plan: the smallest ring
//! whose bootstrappable chain is secure, the number of usable levels between bootstraps with the
//! lowest estimated time within the key budget (a scan over the budgets the security bound
//! allows), bootstraps placed by [`place_bootstraps`] (level-invariant loop body), and the
//! sparse-slot circuit when every refreshed value fits in fewer slots. When
//! both kinds of plan exist, the one with the lower estimated time (the report's cost model) wins,
//! so short runs stay leveled and long ones bootstrap.

use henn_ckks::bootstrap::{BootstrapSpec, BootstrapVariant, SparseOutput, bootstrappable_params};
use henn_ckks::{Context, Params, ParamsBuilder, SecurityLevel, max_log2_qp};
use henn_he_ir::HeGraph;
use henn_he_ir::{Limits, validate};
use henn_lower::lower::{LowerConfig, Lowered, lower_step};
use henn_passes::bootstrap::{
    SlotNeed, SparseFill, place_bootstraps, replicate_sparse_weights, slot_need,
};
use henn_passes::pack::pack_state_refreshes;
use henn_passes::schedule::{key_manifest, to_program};
use henn_plan::bootstrap::BootstrapPlan;
use henn_plan::plan::{
    DataContract, FORMAT_VERSION, InputSource, LoopSchedule, ParamsSpec, Plan, PlanKind, StateSpec,
};
use henn_plan::report::{CostModel, report};
use henn_sema::{Bootstrapping, Model, Momentum, Optimizer, RingDegree, Security, TrainLength};
use henn_tir::{StepGraph, build_train_step};
use rayon::prelude::*;

mod bootstrapped;
pub(crate) mod infer;
pub(crate) mod locate;

/// The ring whose 128-bit chain limit a toy (insecure) ring's chain is held to: the largest ring
/// henn compiles for, so no toy chain is longer than a real parameter set could be.
const TOY_CHAIN_LOG_N: u32 = 17;
use bootstrapped::compile_bootstrapped;

/// Why a model could not be compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    #[error("building the training step: {0}")]
    Tir(#[from] henn_tir::TirError),
    #[error("lowering to the HE IR: {0}")]
    Lower(#[from] henn_he_ir::IrError),
    #[error("the lowered step is invalid:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    #[error(
        "`{model}` needs {needed} levels ({steps} steps × {per_step} per step), but the largest \
         {security}-bit chain holds {available} (at N = 2^{log_n}); {hint}"
    )]
    TooDeep {
        model: String,
        needed: u64,
        steps: u64,
        per_step: u32,
        available: u64,
        log_n: u32,
        security: String,
        hint: &'static str,
    },
    #[error(
        "the model trains for {0} epochs but does not say how many samples it has (`samples` in `data`)"
    )]
    UnknownSampleCount(u64),
    #[error("the model trains for {0} steps, more than the {max} any job may have", max = henn_contract::MAX_STEPS)]
    TooManySteps(u64),
    #[error("no ring degree fits: {0}")]
    NoRing(String),
    #[error("no bootstrapping plan: {0}")]
    Boot(String),
    #[error(
        "the plan needs {needed} bytes of evaluation keys, over the model's `key_memory` cap of {cap} bytes"
    )]
    KeyMemory { needed: u64, cap: u64 },
    #[error(
        "the inference pass needs {needed} levels, but the trained state of the training plan arrives with {available}; {hint}"
    )]
    InferenceLevels {
        needed: u32,
        available: u32,
        hint: &'static str,
    },
    #[error("the inference plan does not fit the training plan: {0}")]
    InferenceMismatch(String),
    #[error("{leveled}; a bootstrapping plan does not exist either: {reason}")]
    TooDeepEvenBootstrapped {
        leveled: Box<CompileError>,
        reason: String,
    },
}

/// The compiled result: the plan plus what produced it (for reports and tests).
#[derive(Debug)]
pub struct Compiled {
    pub plan: Plan,
    pub step: StepGraph,
    /// The lowered step the plan was built from (optimized unless [`CompileOptions::optimize`]
    /// is off or the optimizer found nothing cheaper).
    pub lowered: Lowered,
    /// What the optimizer did at the plan's ring (`None` with `optimize` off).
    pub opt: Option<OptSummary>,
}

/// Choices of the compiler that the language does not expose (each `false` is a baseline for
/// comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// Run the equality-saturation optimizer (`henn-opt`) on the lowered step (`henn compile
    /// --no-opt` turns it off to get the baseline).
    pub optimize: bool,
    /// Pack the state refreshes of a bootstrapping plan into as few bootstraps as the slots allow
    /// when the cost model says it pays (`henn_passes::pack`); `false` keeps the greedy
    /// placement's one bootstrap per refreshed value (the baseline).
    pub pack_refreshes: bool,
    /// Place bootstraps for the least estimated time (`henn_passes::placement`); `false` keeps
    /// the greedy placement (the baseline; `henn compile --greedy-placement`).
    pub cost_placement: bool,
    /// Levels a leveled plan's chain keeps beyond its training steps, so that its trained state
    /// still has them for an inference plan (`compile_inference` with encrypted weights). 0 for a
    /// training-only plan; a bootstrapping plan ignores it (its state leaves every step refreshed).
    pub reserve_levels: u32,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            optimize: true,
            pack_refreshes: true,
            cost_placement: true,
            reserve_levels: 0,
        }
    }
}

/// The optimizer's report at one ring, or why it did not run.
#[derive(Debug, Clone)]
pub enum OptSummary {
    Ran(henn_opt::OptReport),
    Failed(String),
}

/// Bits of the first prime: room above Δ for the largest value a step decrypts.
const FIRST_BITS: u32 = 60;
const SPECIAL_BITS: u32 = 60;

fn security(model: &Model) -> Option<SecurityLevel> {
    match model.encryption.security {
        Security::Bits128 => Some(SecurityLevel::Classic128),
        Security::Bits192 => Some(SecurityLevel::Classic192),
        Security::Bits256 => Some(SecurityLevel::Classic256),
        Security::Insecure => None,
    }
}

fn security_name(model: &Model) -> &'static str {
    match model.encryption.security {
        Security::Bits128 => "128",
        Security::Bits192 => "192",
        Security::Bits256 => "256",
        Security::Insecure => "insecure",
    }
}

/// (iterations, batches per iteration) of the training loop.
fn loop_shape(model: &Model) -> Result<(u64, u64), CompileError> {
    Ok(match model.schedule.length {
        TrainLength::Iterations(k) => (k, 1),
        TrainLength::Epochs(e) => {
            let samples = model
                .data
                .samples
                .ok_or(CompileError::UnknownSampleCount(e))?;
            (e, samples.div_ceil(model.schedule.batch_size.max(1)) as u64)
        }
    })
}

/// Nesterov's momentum sequence γ_t = (α_t − 1)/α_{t+1}, or a constant.
fn momentum_schedule(model: &Model, steps: u64) -> Vec<f64> {
    match model.optimizer {
        Optimizer::Sgd { .. } => Vec::new(),
        Optimizer::Nag {
            momentum: Momentum::Constant(m),
            ..
        } => vec![m; steps as usize],
        Optimizer::Nag {
            momentum: Momentum::Nesterov,
            ..
        } => {
            let mut alpha = 1.0f64;
            (0..steps)
                .map(|_| {
                    let next = (1.0 + (1.0 + 4.0 * alpha * alpha).sqrt()) / 2.0;
                    let gamma = (alpha - 1.0) / next;
                    alpha = next;
                    gamma
                })
                .collect()
        }
    }
}

/// The most levels a chain can hold at this ring and security (one special prime, the loosest
/// choice), for error messages.
fn max_levels(log_n: u32, level: SecurityLevel, scale_bits: u32) -> u64 {
    max_log2_qp(log_n, level)
        .map(|max| (max.saturating_sub(FIRST_BITS + SPECIAL_BITS) / scale_bits.max(1)) as u64)
        .unwrap_or(0)
}

fn build_params(log_n: u32, levels: usize, model: &Model) -> Option<Params> {
    let scale_bits = model.encryption.scale_bits;
    match security(model) {
        None => {
            // Toy rings: tests only, loudly named; a ring this small cannot be secure. Its chain
            // is held to the 128-bit limit of N = 2^TOY_CHAIN_LOG_N all the same, so `insecure`
            // changes the ring, never how deep a plan may go.
            let bound = max_log2_qp(TOY_CHAIN_LOG_N, SecurityLevel::Classic128)? as usize;
            if FIRST_BITS as usize + levels * scale_bits as usize + SPECIAL_BITS as usize > bound {
                return None;
            }
            Params::insecure_toy_for_tests(log_n, FIRST_BITS, scale_bits, levels, 3.min(levels + 1))
                .ok()
        }
        Some(level) => {
            // Cheap bound first: even one special prime must fit (avoids searching thousands of
            // primes for chains that cannot be secure).
            let bound = max_log2_qp(log_n, level)? as usize;
            if FIRST_BITS as usize + levels * scale_bits as usize + SPECIAL_BITS as usize > bound {
                return None;
            }
            let mut dnums: Vec<usize> = vec![3, 2, 4, 5, 6, 8, 10, 12, 16, 24, 32];
            dnums.push(levels + 1);
            dnums
                .into_iter()
                .filter(|&d| d >= 1 && d <= levels + 1)
                .find_map(|dnum| {
                    ParamsBuilder::new(log_n)
                        .first_bits(FIRST_BITS)
                        .scale_bits(scale_bits)
                        .special_bits(SPECIAL_BITS)
                        .levels(levels)
                        .dnum(dnum)
                        .security(level)
                        .build()
                        .ok()
                })
        }
    }
}

/// Compile a checked model into a plan: leveled if the chain holds the whole schedule, bootstrapping
/// if `bootstrapping = auto` and that is estimated faster or the only option.
pub fn compile(model: &Model) -> Result<Compiled, CompileError> {
    compile_with(model, &CompileOptions::default())
}

/// [`compile`] with explicit [`CompileOptions`].
pub fn compile_with(model: &Model, options: &CompileOptions) -> Result<Compiled, CompileError> {
    let step = build_train_step(model, model.schedule.batch_size)?;
    let (iterations, batches) = loop_shape(model)?;
    let steps = iterations.saturating_mul(batches).max(1);
    if steps > henn_contract::MAX_STEPS {
        return Err(CompileError::TooManySteps(steps));
    }
    let mut lowerings = Lowerings {
        optimize: options.optimize,
        ..Lowerings::default()
    };
    if model.encryption.bootstrapping == Bootstrapping::On {
        return compile_bootstrapped(
            model,
            &step,
            (iterations, batches, steps),
            &mut lowerings,
            options,
        );
    }
    let leveled = compile_leveled(
        model,
        &step,
        (iterations, batches, steps),
        options.reserve_levels,
        &mut lowerings,
    );
    if model.encryption.bootstrapping == Bootstrapping::Off {
        return leveled;
    }
    // A leveled plan on a ring no larger than the smallest bootstrappable one at this security
    // (2^16 at 128 bits; toy rings: any) cannot lose to a plan that adds bootstraps on a ring at
    // least as large: only compile the alternative when it could win.
    if let Ok(l) = &leveled {
        let smallest_bootstrappable = if security(model).is_some() { 16 } else { 0 };
        if l.plan.params.log_n <= smallest_bootstrappable || security(model).is_none() {
            return leveled;
        }
    }
    let boot = compile_bootstrapped(
        model,
        &step,
        (iterations, batches, steps),
        &mut lowerings,
        options,
    );
    match (leveled, boot) {
        (Ok(l), Ok(b)) => {
            let cost = CostModel::default();
            let (tl, tb) = (
                report(&l.plan, &cost).est_time_s,
                report(&b.plan, &cost).est_time_s,
            );
            Ok(if tb < tl { b } else { l })
        }
        (Ok(l), Err(_)) => Ok(l),
        (Err(_), Ok(b)) => Ok(b),
        (Err(e), Err(CompileError::Boot(reason))) => Err(match e {
            CompileError::TooDeep { .. } => CompileError::TooDeepEvenBootstrapped {
                leveled: Box::new(e),
                reason,
            },
            e => e,
        }),
        (Err(e), Err(_)) => Err(e),
    }
}

/// The step lowered (and optimized, with `optimize`) per ring degree, computed once: the leveled
/// and the bootstrapping search both try the same rings.
#[derive(Default)]
struct Lowerings {
    optimize: bool,
    lowered: std::collections::HashMap<u32, Result<Lowered, henn_he_ir::IrError>>,
    summaries: std::collections::HashMap<u32, OptSummary>,
}

impl Lowerings {
    /// The step lowered for a ring of degree 2^`log_n` (the row stride the kernels pick), then
    /// optimized (before bootstrap placement). An optimizer failure keeps the baseline and is
    /// reported, never fatal: the baseline is a valid plan.
    fn at(&mut self, step: &StepGraph, log_n: u32) -> Result<Lowered, henn_he_ir::IrError> {
        let (optimize, summaries) = (self.optimize, &mut self.summaries);
        self.lowered
            .entry(log_n)
            .or_insert_with(|| {
                let mut lowered = lower_step(
                    step,
                    &LowerConfig {
                        slots: 1usize << (log_n - 1),
                        stride: None,
                    },
                )?;
                if optimize {
                    match henn_opt::optimize(&lowered.graph, &henn_opt::OptConfig::default()) {
                        Ok(o) => {
                            lowered.graph = o.graph;
                            summaries.insert(log_n, OptSummary::Ran(o.report));
                        }
                        Err(e) => {
                            summaries.insert(log_n, OptSummary::Failed(e.to_string()));
                        }
                    }
                }
                Ok(lowered)
            })
            .clone()
    }

    fn summary(&self, log_n: u32) -> Option<OptSummary> {
        self.summaries.get(&log_n).cloned()
    }
}

/// The leveled plan: the smallest ring whose chain holds every step's levels.
fn compile_leveled(
    model: &Model,
    step: &StepGraph,
    (iterations, batches, steps): (u64, u64, u64),
    reserve: u32,
    lowerings: &mut Lowerings,
) -> Result<Compiled, CompileError> {
    let candidates: Vec<u32> = match model.encryption.ring {
        RingDegree::Fixed { log_n } => vec![log_n],
        RingDegree::Auto => (13..=17).collect(),
    };
    let mut last_error = None;
    let mut deepest: Option<(u64, u32)> = None;
    for log_n in candidates {
        let lowered = match lowerings.at(step, log_n) {
            Ok(l) => l,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let per_step = lowered.graph.max_depth();
        let needed = steps
            .saturating_mul(per_step as u64)
            .saturating_add(reserve as u64);
        let Some(params) = usize::try_from(needed)
            .ok()
            .and_then(|l| build_params(log_n, l, model))
        else {
            let (level, chain_log_n) = match security(model) {
                Some(level) => (level, log_n),
                None => (SecurityLevel::Classic128, TOY_CHAIN_LOG_N),
            };
            let max = max_levels(chain_log_n, level, model.encryption.scale_bits);
            deepest = Some((max, log_n));
            continue;
        };
        check_valid(&lowered.graph, params.max_level() as u32)?;
        let plan = make_plan(
            model,
            step,
            &lowered,
            &lowered.graph,
            &params,
            (iterations, batches, steps),
            (None, PlanKind::Train),
        )?;
        if let Some(cap) = model.encryption.key_memory_cap {
            let needed = report(&plan, &CostModel::default()).key_bytes;
            if needed > cap {
                return Err(CompileError::KeyMemory { needed, cap });
            }
        }
        return Ok(Compiled {
            plan,
            step: step.clone(),
            lowered,
            opt: lowerings.summary(log_n),
        });
    }
    if let Some((available, log_n)) = deepest {
        let per_step = lowerings
            .at(step, log_n)
            .map(|l| l.graph.max_depth())
            .unwrap_or(0);
        return Err(CompileError::TooDeep {
            model: model.name.clone(),
            needed: steps * per_step as u64,
            steps,
            per_step,
            available,
            log_n,
            security: security_name(model).to_owned(),
            hint: match model.encryption.bootstrapping {
                Bootstrapping::Off => "enable bootstrapping or reduce the iterations",
                Bootstrapping::Auto | Bootstrapping::On => {
                    "reduce the iterations or use a larger ring"
                }
            },
        });
    }
    match last_error {
        Some(e) => Err(e.into()),
        None => Err(CompileError::NoRing("no candidate ring degree".into())),
    }
}

/// Assemble the plan from the lowering (contract) and the graph to run (`graph`: the lowered
/// graph itself, or the graph with bootstraps placed).
fn make_plan(
    model: &Model,
    step: &StepGraph,
    lowered: &Lowered,
    graph: &HeGraph,
    params: &Params,
    (iterations, batches, steps): (u64, u64, u64),
    (bootstrap, kind): (Option<BootstrapPlan>, PlanKind),
) -> Result<Plan, CompileError> {
    let program = to_program(graph)?;
    let keys = key_manifest(graph);
    let mut state = Vec::new();
    for b in &lowered.inputs {
        if let InputSource::State(slot) = b.source {
            state.push(StateSpec {
                slot,
                rows: b.layout.rows,
                cols: b.layout.cols,
                layout: b.layout.clone(),
            });
        }
    }
    let plan = Plan {
        format_version: FORMAT_VERSION,
        model_name: model.name.clone(),
        kind,
        params: ParamsSpec {
            log_n: params.log_n(),
            q: params.q().to_vec(),
            p: params.p().to_vec(),
            dnum: params.dnum(),
            scale_bits: params.scale_bits(),
            security: security_name(model).to_owned(),
            log2_qp: params.log2_qp(),
        },
        keys,
        data: DataContract {
            features: model.data.features,
            classes: model.data.classes,
            batch_size: step.batch,
            stride: lowered.stride,
            rows_per_ct: lowered.rows_per_ct,
            blocks: lowered.blocks.clone(),
            inputs: lowered.inputs.clone(),
            outputs: lowered.outputs.clone(),
            state,
            predictions: lowered.predictions.clone(),
        },
        program,
        schedule: LoopSchedule {
            iterations,
            batches_per_iteration: batches,
            depth_per_step: graph.max_depth(),
            momentum: momentum_schedule(model, steps),
        },
        bootstrap,
        owner: henn_tir::contract::owner_contract(model, steps),
    };
    let errors: Vec<String> = henn_plan::validate::validate_plan(&plan)
        .iter()
        .map(ToString::to_string)
        .collect();
    if !errors.is_empty() {
        return Err(CompileError::Invalid(errors));
    }
    Ok(plan)
}

/// Runs the HE IR validator with `levels` as the depth budget (rotation keys are chosen later).
fn check_valid(graph: &HeGraph, levels: u32) -> Result<(), CompileError> {
    let limits = Limits {
        levels: Some(levels),
        rotation_keys: None,
    };
    let errors: Vec<String> = validate(graph, &limits)
        .iter()
        .map(ToString::to_string)
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CompileError::Invalid(errors))
    }
}
