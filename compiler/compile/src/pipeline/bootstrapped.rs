//! The bootstrapping plan: the smallest ring whose bootstrappable chain is secure, the usable
//! levels between bootstraps with the lowest estimated time within the key budget, bootstraps placed
//! level-invariantly (and packed where the cost model says it pays), and the sparse-slot circuit
//! when every refreshed value fits in fewer slots.

use super::*;
use henn_passes::bootstrap::Placed;
use henn_passes::placement::{Method, Placement, place_min_time, step_time};
use henn_passes::schedule::bootstrap_sites;
use henn_plan::bootstrap::{BootstrapSite, PlacementSummary};
use henn_plan::report::{ChainShape, OpTimes};

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

/// The bootstrapping plan: the smallest ring (from 2^15 at 128-bit; the fixed ring otherwise)
/// whose bootstrappable chain passes the security check, with the levels between bootstraps
/// that give the lowest estimated time within the key budget.
pub(super) fn compile_bootstrapped(
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
            match bootstrapped_plan(model, step, &lowered, &chain, schedule, &rotations, options) {
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
                    opt: lowerings.summary(log_n),
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
    options: &CompileOptions,
) -> Result<Plan, CompileError> {
    let cost_driven = options.cost_placement;
    let unpacked = placed_plan(
        model,
        step,
        lowered,
        (&lowered.graph, cost_driven),
        chain,
        schedule,
        rotations,
    );
    if !options.pack_refreshes {
        return unpacked;
    }
    let Some(packed_step) = pack_state_refreshes(&lowered.graph)? else {
        return unpacked;
    };
    let packed = placed_plan(
        model,
        step,
        lowered,
        (&packed_step.graph, cost_driven),
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
/// placed for the chain's usable levels (for the least estimated time with `cost_driven`, else
/// greedily), validated, assembled.
fn placed_plan(
    model: &Model,
    step: &StepGraph,
    lowered: &Lowered,
    (graph, cost_driven): (&HeGraph, bool),
    chain: &BootChain<'_>,
    schedule: (u64, u64, u64),
    rotations: &RotationCache,
) -> Result<Plan, CompileError> {
    let BootChain {
        params,
        spec,
        usable,
    } = *chain;
    let boot_err = |e: henn_ckks::CkksError| CompileError::Boot(e.to_string());
    let input_level = spec.output_level(params.max_level()).map_err(boot_err)? as u32;
    // The placement's cost model: the report's, on this chain (the sparse circuit is chosen
    // after the placement, from the values it refreshes: every bootstrap costs a full one here).
    let times_with = |log_slots: Option<u32>| {
        OpTimes::new(
            &CostModel::default(),
            &ChainShape {
                log_n: params.log_n(),
                q_limbs: params.q().len(),
                p_limbs: params.p().len(),
                dnum: params.dnum(),
                base_limbs: input_level as usize + 1,
                bootstrap_log_slots: log_slots,
            },
        )
    };
    let times = times_with(None);
    let placement = if cost_driven {
        place_min_time(graph, usable, &times)?
    } else {
        let placed = place_bootstraps(graph, usable)?;
        Placement {
            est_time_s: step_time(&placed.graph, &times),
            placed,
            method: Method::Greedy,
            greedy: None,
        }
    };
    // With its circuit (sparse or not, and the re-replication a zeroed one needs) the chosen
    // placement may lose to the greedy one it beat: both are estimated as built, and the
    // cheaper kept.
    let finish = |placed: Placed| -> Result<(HeGraph, BootstrapSpec, f64), CompileError> {
        let (graph, spec) = sparse_circuit(placed.graph, spec)?;
        let t = step_time(&graph, &times_with(spec.log_slots));
        Ok((graph, spec, t))
    };
    let (mut chosen, mut method) = (placement.placed.bootstraps, placement.method);
    let (mut graph, mut spec, mut est) = finish(placement.placed)?;
    let mut greedy = (method == Method::Greedy).then_some((chosen as u32, est));
    if method != Method::Greedy
        && let Some((g, _)) = placement.greedy
    {
        let gb = g.bootstraps;
        let (gg, gs, gt) = finish(g)?;
        greedy = Some((gb as u32, gt));
        if gt < est {
            (graph, spec, est, method, chosen) = (gg, gs, gt, Method::Greedy, gb);
        }
    }
    let summary = PlacementSummary {
        method: method.name().to_owned(),
        bootstraps: chosen as u32,
        est_step_s: est,
        greedy,
    };
    check_valid(&graph, usable)?;
    let sites = bootstrap_sites(&graph)?;
    let mut bootstrap =
        bootstrap_plan(params, &spec, usable, sites, rotations).map_err(boot_err)?;
    bootstrap.placement = summary;
    bootstrap.message_bound = message_bound(model);
    make_plan(
        model,
        step,
        lowered,
        &graph,
        params,
        schedule,
        (Some(bootstrap), henn_plan::plan::PlanKind::Train),
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
    sites: Vec<BootstrapSite>,
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
        per_step: sites.len() as u32,
        rotations,
        precision_bits: BOOTSTRAP_PRECISION_BITS,
        message_bound: 1.0,
        placement: PlacementSummary {
            method: Method::Greedy.name().to_owned(),
            bootstraps: sites.len() as u32,
            est_step_s: 0.0,
            greedy: None,
        },
        sites,
    })
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
        // The same lowering `compile` uses (optimized), so the budgets compare like with like.
        let mut lowerings = Lowerings {
            optimize: true,
            ..Lowerings::default()
        };
        let lowered = lowerings.at(&step, log_n).unwrap();
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
            let options = CompileOptions::default();
            if let Ok(plan) = bootstrapped_plan(
                &model, &step, &lowered, &chain, schedule, &rotations, &options,
            ) {
                ests.push((usable, report(&plan, &cost).est_time_s));
            }
        }
        assert!(ests.len() >= 3, "too few budgets to compare: {ests:?}");
        let best = ests.iter().map(|e| e.1).fold(f64::INFINITY, f64::min);
        assert_eq!(report(&chosen, &cost).est_time_s, best, "{ests:?}");
    }
}
