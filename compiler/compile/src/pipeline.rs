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
    DataContract, FORMAT_VERSION, InputSource, LoopSchedule, ParamsSpec, Plan, StateSpec,
};
use henn_plan::report::{CostModel, report};
use henn_sema::{Bootstrapping, Model, Momentum, Optimizer, RingDegree, Security, TrainLength};
use henn_tir::{StepGraph, build_train_step};
use rayon::prelude::*;

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
    #[error("no ring degree fits: {0}")]
    NoRing(String),
    #[error("no bootstrapping plan: {0}")]
    Boot(String),
    #[error(
        "the plan needs {needed} bytes of evaluation keys, over the model's `key_memory` cap of {cap} bytes"
    )]
    KeyMemory { needed: u64, cap: u64 },
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
    pub lowered: Lowered,
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
            // Toy rings: tests only, loudly named; a ring this small cannot be secure.
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

/// Precision one bootstrap is assumed to keep (bits): the issue's floor for the mean, below what
/// the backend measures on toy rings (StC-first: 25.4 mean / 22.2 max-error bits at Δ = 2^40), so
/// predicted errors are upper estimates.
const BOOTSTRAP_PRECISION_BITS: f64 = 20.0;

/// Evaluation-key memory a bootstrapping plan may need when the model sets no `key_memory` cap:
/// more levels between bootstraps need a larger `dnum` and so larger keys, and the fastest plan on
/// paper is useless if its keys do not fit the server (this project's machine has 24 GiB).
const DEFAULT_BOOTSTRAP_KEY_BUDGET: u64 = 16 << 30;

/// Most levels between bootstraps a toy (insecure) ring gets: like the 128-bit set at N = 2^16.
const TOY_USABLE_LEVELS: u32 = 9;

/// Choices of the compiler that the language does not expose (baselines for comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// Pack the state refreshes of a bootstrapping plan into as few bootstraps as the slots allow
    /// when the cost model says it pays (`henn_passes::pack`); `false` keeps the greedy
    /// placement's one bootstrap per refreshed value (the baseline).
    pub pack_refreshes: bool,
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions {
            pack_refreshes: true,
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
    let mut lowerings = Lowerings::default();
    if model.encryption.bootstrapping == Bootstrapping::On {
        return compile_bootstrapped(
            model,
            &step,
            (iterations, batches, steps),
            &mut lowerings,
            options,
        );
    }
    let leveled = compile_leveled(model, &step, iterations, batches, steps, &mut lowerings);
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

/// The bootstrapping plan: the smallest ring (from 2^15 at 128-bit; the fixed ring otherwise)
/// whose bootstrappable chain passes the security check, with the levels between bootstraps
/// that give the lowest estimated time within the key budget.
fn compile_bootstrapped(
    model: &Model,
    step: &StepGraph,
    (iterations, batches, steps): (u64, u64, u64),
    lowerings: &mut Lowerings,
    options: &CompileOptions,
) -> Result<Compiled, CompileError> {
    let candidates: Vec<u32> = match model.encryption.ring {
        RingDegree::Fixed { log_n } => vec![log_n],
        RingDegree::Auto => (15..=17).collect(),
    };
    let level = security(model).unwrap_or(SecurityLevel::InsecureUnchecked);
    let scale_bits = model.encryption.scale_bits;
    let mut why = String::from("no candidate ring");
    for log_n in candidates {
        let lowered = match lowerings.at(step, log_n) {
            Ok(l) => l,
            Err(e) => {
                why = e.to_string();
                continue;
            }
        };
        let per_step = lowered.graph.max_depth();
        let most = match security(model) {
            None => per_step.clamp(1, TOY_USABLE_LEVELS),
            Some(_) => per_step.clamp(1, 24),
        };
        // More levels between bootstraps mean fewer bootstraps but a longer chain (larger dnum,
        // slower key switches, larger keys and slower bootstraps). Neither the estimate nor the
        // greedy placement's bootstrap count is monotone or convex in the levels (one budget
        // can need five times the bootstraps of the next lower one, and the bootstraps get
        // cheaper as the chain shortens), and no cheap bound rules a budget out, so every
        // budget the security bound allows is tried, in parallel, and the lowest estimated
        // time within the key budget wins (ties: more levels).
        let cost = CostModel::default();
        let budget = model
            .encryption
            .key_memory_cap
            .unwrap_or(DEFAULT_BOOTSTRAP_KEY_BUDGET);
        let budgets: Vec<u32> = (1..=most).rev().collect();
        let rotations = RotationCache::default();
        let mut best: Option<(f64, Plan)> = None;
        let candidate = |usable: u32| -> Candidate {
            let Ok((params, spec)) =
                bootstrappable_params(log_n, usable as usize, scale_bits, level)
            else {
                return Candidate::NoChain;
            };
            let chain = BootChain {
                params: &params,
                spec: &spec,
                usable,
            };
            let schedule = (iterations, batches, steps);
            let pack = options.pack_refreshes;
            match bootstrapped_plan(model, step, &lowered, &chain, schedule, &rotations, pack) {
                Err(e) => Candidate::Failed(e.to_string()),
                Ok(plan) => {
                    let rep = report(&plan, &cost);
                    if rep.key_bytes > budget {
                        Candidate::Failed(format!(
                            "{usable} levels between bootstraps need {:.1} GiB of keys, over the {:.1} GiB budget",
                            rep.key_bytes as f64 / (1u64 << 30) as f64,
                            budget as f64 / (1u64 << 30) as f64
                        ))
                    } else {
                        Candidate::Plan {
                            est: rep.est_time_s,
                            plan: Box::new(plan),
                        }
                    }
                }
            }
        };
        let tried: Vec<Candidate> = budgets.par_iter().map(|&u| candidate(u)).collect();
        for outcome in tried {
            match outcome {
                Candidate::Plan { est, plan } => {
                    if best.as_ref().is_none_or(|(t, _)| est < *t) {
                        best = Some((est, *plan));
                    }
                }
                // When nothing fits, the reason given is that of the fewest levels tried.
                Candidate::Failed(e) => why = e,
                Candidate::NoChain => {}
            }
        }
        match best {
            Some((_, plan)) => {
                return Ok(Compiled {
                    plan,
                    step: step.clone(),
                    lowered,
                });
            }
            None if why == "no candidate ring" => {
                why = format!(
                    "no bootstrappable {}-bit chain at N = 2^{log_n}",
                    security_name(model)
                );
            }
            None => {}
        }
    }
    Err(CompileError::Boot(why))
}

/// One level budget the bootstrapping scan tried.
enum Candidate {
    /// No bootstrappable chain with that many levels at the model's security.
    NoChain,
    /// A chain exists but no plan fits it (placement failed, or the keys are over budget).
    Failed(String),
    Plan {
        est: f64,
        plan: Box<Plan>,
    },
}

/// A bootstrappable chain and circuit with the levels it leaves between bootstraps.
struct BootChain<'a> {
    params: &'a Params,
    spec: &'a BootstrapSpec,
    usable: u32,
}

/// One bootstrapping plan: bootstraps placed for the chain's usable levels, validated, assembled.
/// With `pack`, the step with its state refreshes packed ([`pack_state_refreshes`]) is placed
/// too, and the plan with the lower estimated time by the report's cost model is kept (the
/// unpacked one on a tie): packing's masks cost a level at each end of the step, which can cost
/// an in-step refresh more than the packing saves.
fn bootstrapped_plan(
    model: &Model,
    step: &StepGraph,
    lowered: &Lowered,
    chain: &BootChain<'_>,
    schedule: (u64, u64, u64),
    rotations: &RotationCache,
    pack: bool,
) -> Result<Plan, CompileError> {
    let unpacked = placed_plan(
        model,
        step,
        lowered,
        &lowered.graph,
        chain,
        schedule,
        rotations,
    );
    if !pack {
        return unpacked;
    }
    let Some(packed_step) = pack_state_refreshes(&lowered.graph)? else {
        return unpacked;
    };
    let packed = placed_plan(
        model,
        step,
        lowered,
        &packed_step.graph,
        chain,
        schedule,
        rotations,
    );
    match (unpacked, packed) {
        (Ok(u), Ok(p)) => {
            let cost = CostModel::default();
            let (tu, tp) = (report(&u, &cost).est_time_s, report(&p, &cost).est_time_s);
            Ok(if tp < tu { p } else { u })
        }
        (Err(_), Ok(p)) => Ok(p),
        (u, Err(_)) => u,
    }
}

/// The plan of `graph` (the lowered step, or the step with packed refreshes) with bootstraps
/// placed for the chain's usable levels, validated, assembled.
fn placed_plan(
    model: &Model,
    step: &StepGraph,
    lowered: &Lowered,
    graph: &HeGraph,
    chain: &BootChain<'_>,
    schedule: (u64, u64, u64),
    rotations: &RotationCache,
) -> Result<Plan, CompileError> {
    let BootChain {
        params,
        spec,
        usable,
    } = *chain;
    let placed = place_bootstraps(graph, usable)?;
    let (graph, spec) = sparse_circuit(placed.graph, spec)?;
    let errors: Vec<String> = validate(
        &graph,
        &Limits {
            levels: Some(usable),
            rotation_keys: None,
        },
    )
    .iter()
    .map(ToString::to_string)
    .collect();
    if !errors.is_empty() {
        return Err(CompileError::Invalid(errors));
    }
    let mut bootstrap = bootstrap_plan(params, &spec, usable, placed.bootstraps, rotations)
        .map_err(|e| CompileError::Boot(e.to_string()))?;
    bootstrap.message_bound = message_bound(model);
    make_plan(
        model,
        step,
        lowered,
        &graph,
        params,
        schedule,
        Some(bootstrap),
    )
}

/// The circuit for a placed graph: the sparse-slot variant when every refreshed value fits in
/// fewer slots than the ring has (same levels and scale, so the placement stands; fewer
/// rotations, less key and DFT memory, a little faster), else `spec` as it is. With a zeroed
/// circuit the refreshed weights are re-replicated by rotations (see
/// [`henn_passes::bootstrap::slot_need`]). Only the StC-first real circuit has a sparse variant.
fn sparse_circuit(
    graph: HeGraph,
    spec: &BootstrapSpec,
) -> Result<(HeGraph, BootstrapSpec), CompileError> {
    let SlotNeed::Sparse { slots, fill } = slot_need(&graph) else {
        return Ok((graph, spec.clone()));
    };
    if spec.variant != BootstrapVariant::StcFirstReal || spec.log_slots.is_some() {
        return Ok((graph, spec.clone()));
    }
    let sparse = spec.clone().with_log_slots(Some(slots.trailing_zeros()));
    Ok(match fill {
        SparseFill::Periodic => (graph, sparse.with_sparse_output(SparseOutput::Periodic)),
        SparseFill::Zeroed => (
            replicate_sparse_weights(&graph, slots)?.0,
            sparse.with_sparse_output(SparseOutput::Zeroed),
        ),
    })
}

/// The range a bootstrapped value may span: bootstraps refresh weights, activations,
/// pre-activations and errors, whose magnitude the activations' fitted intervals bound (a
/// pre-activation outside its interval already breaks the model; weights stay within it in
/// every trained example); at least 1.
fn message_bound(model: &Model) -> f64 {
    model
        .layers
        .iter()
        .filter_map(|l| match &l.activation {
            henn_sema::Activation::Polynomial(p) => {
                Some(p.interval.lo.abs().max(p.interval.hi.abs()))
            }
            _ => None,
        })
        .fold(1.0, f64::max)
}

/// The circuits' rotation steps by (circuit, ring): they depend on the ring and the circuit,
/// not on the primes, and building a context to ask for them costs more than the rest of a
/// candidate. Shared by the candidates the scan tries in parallel.
#[derive(Default)]
struct RotationCache(std::sync::Mutex<Vec<(BootstrapSpec, u32, Vec<usize>)>>);

impl RotationCache {
    fn get(&self, spec: &BootstrapSpec, log_n: u32) -> Option<Vec<usize>> {
        let entries = self.0.lock().ok()?;
        entries
            .iter()
            .find(|(s, l, _)| s == spec && *l == log_n)
            .map(|(_, _, r)| r.clone())
    }

    fn insert(&self, spec: &BootstrapSpec, log_n: u32, steps: &[usize]) {
        if let Ok(mut entries) = self.0.lock() {
            entries.push((spec.clone(), log_n, steps.to_vec()));
        }
    }
}

/// The plan's bootstrap section for a chain and circuit.
fn bootstrap_plan(
    params: &Params,
    spec: &BootstrapSpec,
    usable: u32,
    per_step: usize,
    cache: &RotationCache,
) -> Result<BootstrapPlan, henn_ckks::CkksError> {
    let input_level = spec.output_level(params.max_level())? as u32;
    let rotations = match cache.get(spec, params.log_n()) {
        Some(r) => r,
        None => {
            let ctx = Context::new(params.clone())?;
            let slots = ctx.slots() as i64;
            let mut steps: Vec<usize> = spec
                .rotations(&ctx)?
                .into_iter()
                .map(|r| r.rem_euclid(slots) as usize)
                .filter(|&r| r != 0)
                .collect();
            steps.sort_unstable();
            steps.dedup();
            cache.insert(spec, params.log_n(), &steps);
            steps
        }
    };
    Ok(BootstrapPlan {
        spec: spec.clone(),
        input_level,
        usable_levels: usable,
        per_step: per_step as u32,
        rotations,
        precision_bits: BOOTSTRAP_PRECISION_BITS,
        message_bound: 1.0,
    })
}

/// The step lowered per ring degree, computed once: the leveled and the bootstrapping search
/// both try the same rings.
#[derive(Default)]
struct Lowerings(std::collections::HashMap<u32, Result<Lowered, henn_he_ir::IrError>>);

impl Lowerings {
    /// The step lowered for a ring of degree 2^`log_n` (the row stride the kernels pick).
    fn at(&mut self, step: &StepGraph, log_n: u32) -> Result<Lowered, henn_he_ir::IrError> {
        self.0
            .entry(log_n)
            .or_insert_with(|| {
                lower_step(
                    step,
                    &LowerConfig {
                        slots: 1usize << (log_n - 1),
                        stride: None,
                    },
                )
            })
            .clone()
    }
}

/// The leveled plan: the smallest ring whose chain holds every step's levels.
fn compile_leveled(
    model: &Model,
    step: &StepGraph,
    iterations: u64,
    batches: u64,
    steps: u64,
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
        let needed = steps.saturating_mul(per_step as u64);
        let Some(params) = usize::try_from(needed)
            .ok()
            .and_then(|l| build_params(log_n, l, model))
        else {
            if let Some(level) = security(model) {
                deepest = Some((max_levels(log_n, level, model.encryption.scale_bits), log_n));
            }
            continue;
        };
        let errors: Vec<String> = validate(
            &lowered.graph,
            &Limits {
                levels: Some(params.max_level() as u32),
                rotation_keys: None,
            },
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        if !errors.is_empty() {
            return Err(CompileError::Invalid(errors));
        }
        let plan = make_plan(
            model,
            step,
            &lowered,
            &lowered.graph,
            &params,
            (iterations, batches, steps),
            None,
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
        });
    }
    if let (Some((available, log_n)), Some(_)) = (deepest, security(model)) {
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
    bootstrap: Option<BootstrapPlan>,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    /// Two hidden layers and momentum: deep enough that the budgets place differently.
    const DEEP_TOY: &str = r#"
model toy {
  data { features = 6  classes = 3  samples = 8 }
  activation s = poly([0.5, 0.197, 0, -0.004], interval = [-5, 5], derivative = polynomial)
  network {
    dense h1(4, activation = s)
    dense h2(4, activation = s)
    dense out(3, activation = s)
  }
  optimizer = nag(lr = 0.5, momentum = nesterov)
  train { batch = 8  iterations = 10  seed = 3 }
  encryption { security = insecure(ring = 2^10)  scale_bits = 40  bootstrapping = on }
}
"#;

    /// The scan keeps the cheapest budget: compare with every budget tried one by one. (On this
    /// toy the estimate is not monotone: a scan that stops at the first worse budget, or one
    /// that predicts smaller budgets from larger ones, keeps 9 levels where 3 are cheaper.)
    #[test]
    fn the_level_scan_keeps_the_cheapest_budget() {
        let model = henn_sema::check_source("toy.henn", DEEP_TOY).unwrap();
        let chosen = compile(&model).unwrap().plan;
        let cost = CostModel::default();
        let step = build_train_step(&model, model.schedule.batch_size).unwrap();
        let (iterations, batches) = loop_shape(&model).unwrap();
        let steps = iterations * batches;
        let log_n = chosen.params.log_n;
        let lowered = Lowerings::default().at(&step, log_n).unwrap();
        let rotations = RotationCache::default();
        let mut ests = Vec::new();
        for usable in 1..=TOY_USABLE_LEVELS {
            let Ok((params, spec)) = bootstrappable_params(
                log_n,
                usable as usize,
                model.encryption.scale_bits,
                SecurityLevel::InsecureUnchecked,
            ) else {
                continue;
            };
            let chain = BootChain {
                params: &params,
                spec: &spec,
                usable,
            };
            let schedule = (iterations, batches, steps);
            if let Ok(plan) =
                bootstrapped_plan(&model, &step, &lowered, &chain, schedule, &rotations, true)
            {
                ests.push((usable, report(&plan, &cost).est_time_s));
            }
        }
        assert!(ests.len() >= 3, "too few budgets to compare: {ests:?}");
        let best = ests.iter().map(|e| e.1).fold(f64::INFINITY, f64::min);
        assert_eq!(report(&chosen, &cost).est_time_s, best, "{ests:?}");
    }
}
