//! The report a person reads before running a plan: depth, levels, keys, op counts, and estimates
//! of time, memory and upload size.
//!
//! Times come from an analytic cost model of this project's backend ([`CostModel`]): a key switch
//! costs its NTT count (hybrid key switching with `dnum` digits) times the time of one NTT, plus
//! basis conversion; cheap ops cost a pass over the limbs. The default constants were measured on
//! the project's machine; [`CostModel::calibrated`] fits them to `henn bench ops` output from the
//! machine that will run the plan (`henn report PLAN --cost bench.jsonl`). Either way the times
//! are estimates, not measurements.

use std::collections::BTreeMap;

use henn_ckks::bootstrap::SparseOutput;
use serde::{Deserialize, Serialize};

use crate::bootstrap::PlacementSummary;
use crate::op::HeOp;
use crate::plan::Plan;
use crate::types::Stage;

/// Seconds per operation as a function of ring size and limb count.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CostModel {
    /// One forward or inverse NTT of one limb at N = 2^16, in seconds.
    pub ntt_2_16_s: f64,
    /// Multiplier for basis conversion and key inner products on top of the NTTs of a key switch.
    pub key_switch_overhead: f64,
    /// One pass over one limb (add, pointwise multiply) at N = 2^16, in seconds.
    pub limb_pass_2_16_s: f64,
    /// One bootstrap (StC-first, the default circuit) at N = 2^16 on a chain of
    /// [`BOOTSTRAP_REF_LIMBS`] Q limbs, in seconds; scaled by `N log N` for other rings and by
    /// [`bootstrap_chain_factor`] for other chains.
    pub bootstrap_2_16_s: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        // Calibrated on the project's 2-core machine, idle, 2026-11-25 (BENCHMARKS.md "Cost
        // model"): `henn bench ops --logn 16 --limbs 20 --dnum 4 --ops rescale,rotate,add
        // --scale-bits 40 --reps 5` through `CostModel::calibrated`.
        CostModel {
            ntt_2_16_s: 0.444e-3,
            key_switch_overhead: 1.68,
            limb_pass_2_16_s: 0.130e-3,
            bootstrap_2_16_s: BOOTSTRAP_2_16_S,
        }
    }
}

/// Why bench output could not calibrate a cost model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    #[error("line {line}: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("no `henn` measurement of `{0}` (run `henn bench ops --ops rescale,rotate,add`)")]
    Missing(&'static str),
}

/// One line of `henn bench ops` (the anchor JSON-lines format); other fields are ignored.
#[derive(Debug, Deserialize)]
struct BenchLine {
    lib: String,
    logn: u32,
    limbs: usize,
    dnum: Option<usize>,
    op: String,
    median_ms: Option<f64>,
    /// CPU time per call: unlike wall time, it does not count time the process was descheduled,
    /// so a benchmark run beside other work still calibrates the model.
    cpu_median_ms: Option<f64>,
}

/// `N log N` relative to N = 2^16 (how NTT-bound work scales with the ring).
fn ntt_size_factor(log_n: u32) -> f64 {
    let n = (1u64 << log_n) as f64;
    n * log_n as f64 / (65536.0 * 16.0)
}

/// NTTs of one hybrid key switch at `limbs` Q limbs with digits of `alpha` limbs (fixed by the
/// chain: `⌈Q limbs / dnum⌉`) and `k` special primes: ModUp of every digit the `limbs` fill
/// (fewer at lower levels), the inner product's inverse transforms, ModDown.
fn key_switch_ntts(limbs: f64, alpha: f64, k: f64) -> f64 {
    decomposition_ntts(limbs, alpha, k) + 2.0 * k + 2.0 * limbs
}

/// The NTTs of a key switch's decomposition alone (the INTT of `c_1` and the ModUp of each digit):
/// what Halevi–Shoup hoisting shares among the rotations of one ciphertext. The rest of a
/// rotation (inner product, ModDown) is paid per rotation. Measured beside it, `henn bench ops
/// --logn 14 --ops rotate,hoisted_rotate` puts `hoisted_precompute` at ≈ 47 % of a rotation (22
/// limbs, dnum 3, and 6 limbs, dnum 3; 2026-12-08, a loaded machine, CPU time): this count gives
/// ≈ 60 % at those shapes and less at the few-limb depths of a bootstrapped step, an upper bound.
fn decomposition_ntts(limbs: f64, alpha: f64, k: f64) -> f64 {
    let alpha = alpha.max(1.0);
    let digits = (limbs / alpha).ceil();
    limbs + digits * (limbs + k - alpha).max(k)
}

impl CostModel {
    /// Fit the model to `henn bench ops` output (JSON lines; lines of other libraries are
    /// skipped; per-call CPU time where the line has it, else wall time): `rescale` gives the NTT time (a rescale is 2 NTTs per limb), `add` the limb pass,
    /// `rotate` the key-switch overhead over its NTT count, `bootstrap` (if present) the bootstrap
    /// time. Returns the model and the constants it changed.
    pub fn calibrated(lines: &str) -> Result<(CostModel, Vec<&'static str>), CalibrationError> {
        let mut ops: BTreeMap<String, BenchLine> = BTreeMap::new();
        for (i, line) in lines.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let b: BenchLine =
                serde_json::from_str(line).map_err(|e| CalibrationError::BadLine {
                    line: i + 1,
                    reason: e.to_string(),
                })?;
            let ms = b.cpu_median_ms.or(b.median_ms);
            if b.lib == "henn" && ms.is_some_and(|m| m.is_finite() && m > 0.0) {
                ops.insert(b.op.clone(), b);
            }
        }
        let seconds = |b: &BenchLine| b.cpu_median_ms.or(b.median_ms).unwrap_or(0.0) / 1e3;
        let mut model = CostModel::default();
        let mut changed = Vec::new();
        let r = ops
            .get("rescale")
            .ok_or(CalibrationError::Missing("rescale"))?;
        model.ntt_2_16_s = seconds(r) / (2.0 * r.limbs as f64) / ntt_size_factor(r.logn);
        changed.push("ntt_2_16_s");
        if let Some(a) = ops.get("add") {
            let n_ratio = (1u64 << a.logn) as f64 / 65536.0;
            model.limb_pass_2_16_s = seconds(a) / (2.0 * a.limbs as f64) / n_ratio;
            changed.push("limb_pass_2_16_s");
        }
        if let Some(rot) = ops.get("rotate") {
            // The bench measures fresh ciphertexts: its limbs are the whole chain.
            let dnum = rot.dnum.unwrap_or(3).max(1);
            let limbs = rot.limbs as f64;
            let alpha = (limbs / dnum as f64).ceil();
            let ntt = model.ntt_2_16_s * ntt_size_factor(rot.logn);
            model.key_switch_overhead = seconds(rot) / (key_switch_ntts(limbs, alpha, alpha) * ntt);
            changed.push("key_switch_overhead");
        }
        if let Some(b) = ops.get("bootstrap") {
            model.bootstrap_2_16_s =
                seconds(b) / ntt_size_factor(b.logn) / bootstrap_chain_factor(b.limbs);
            changed.push("bootstrap_2_16_s");
        }
        Ok((model, changed))
    }
}

/// The Q limbs of the chain [`BOOTSTRAP_2_16_S`] was measured on (9 usable levels of 40 bits).
pub const BOOTSTRAP_REF_LIMBS: usize = 26;

/// A bootstrap's time on a chain of `limbs` Q limbs relative to one on [`BOOTSTRAP_REF_LIMBS`]:
/// `(limbs / 26)^1.5`, fitted to `henn bench ops --ops bootstrap --logn 16 --boot-levels 3|6|9`
/// (20, 23, 26 limbs: 4.67, 5.59, 6.80 s CPU, 2026-11-25; the fit is within 2 %). Fewer
/// usable levels mean a shorter chain and cheaper key switches inside the bootstrap.
pub fn bootstrap_chain_factor(limbs: usize) -> f64 {
    (limbs.max(1) as f64 / BOOTSTRAP_REF_LIMBS as f64).powf(1.5)
}

/// Seconds of one bootstrap at N = 2^16 (see [`CostModel::bootstrap_2_16_s`]): the median CPU
/// time of `henn bench ops --ops bootstrap --logn 16 --boot-levels 9` on the project's machine,
/// idle, 2026-11-25 (StC-first, 9 levels after, 26 Q limbs; BENCHMARKS.md "Cost model").
const BOOTSTRAP_2_16_S: f64 = 6.80;

/// A sparse-slot bootstrap's time relative to the full one, by how many halvings of the slot
/// count it skips: piecewise linear through measured points (N = 2^16, 9 usable levels, each
/// against the full bootstrap in the same run, BENCHMARKS.md: 2^13 slots 0.915×, 2^10 slots
/// 0.90×), flat beyond them. EvalMod runs on the whole ring, so the gain levels off.
fn sparse_bootstrap_factor(halvings: u32) -> f64 {
    const POINTS: [(f64, f64); 3] = [(0.0, 1.0), (2.0, 0.915), (5.0, 0.90)];
    let h = f64::from(halvings);
    for w in POINTS.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if h <= x1 {
            return y0 + (y1 - y0) * (h - x0) / (x1 - x0);
        }
    }
    POINTS[POINTS.len() - 1].1
}

/// The report. Field names are part of the `--json` interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub log_n: u32,
    pub slots: usize,
    pub security: String,
    pub log2_qp: f64,
    pub dnum: usize,
    /// Multiplicative depth of one step.
    pub depth: u32,
    /// Levels of the chain.
    pub levels: u32,
    pub steps: u64,
    /// Bootstraps over the whole run, and per step.
    pub bootstraps: u64,
    pub bootstraps_per_step: u64,
    /// Levels a bootstrapping plan may use between two bootstraps (`None`: leveled plan).
    pub usable_levels: Option<u32>,
    /// Share of the estimated time spent bootstrapping (0 for a leveled plan).
    pub bootstrap_time_share: f64,
    /// Rotation keys the bootstrap needs beyond the program's (plus conjugation and the two
    /// encapsulation keys, counted in `key_bytes`).
    pub bootstrap_rotation_keys: usize,
    /// Slots a bootstrap refreshes (`slots` for the full circuit, fewer for the sparse-slot
    /// one; 0 for a leveled plan).
    pub bootstrap_slots: usize,
    /// What a sparse-slot bootstrap leaves past its slots: `"zeroed"` or `"periodic"` (empty
    /// for the full circuit and for leveled plans).
    pub bootstrap_fill: String,
    pub rotation_keys: usize,
    pub rotation_steps: Vec<usize>,
    pub key_bytes: u64,
    /// Key switches per step.
    pub key_switches: u64,
    /// Operations per step.
    pub op_counts: BTreeMap<String, u64>,
    pub key_switches_total: u64,
    pub est_time_s: f64,
    pub est_step_time_s: f64,
    pub est_peak_bytes: u64,
    pub upload_bytes: u64,
    pub ciphertext_bytes: u64,
    pub peak_live_ciphertexts: u32,
    /// Per stage of a step: the deepest depth it reaches, the levels it adds to the one before, its
    /// key switches and estimated time.
    pub stages: Vec<StageReport>,
    /// Per layer: the depth at which its forward output is ready and the levels its forward
    /// pass (product + activation) uses.
    pub layers: Vec<LayerReport>,
    /// How the bootstraps were placed and what the greedy baseline would have placed (`None`
    /// for a leveled plan).
    pub placement: Option<PlacementSummary>,
    /// Every bootstrap of a step, in program order.
    pub bootstrap_sites: Vec<SiteReport>,
    /// Rotations of values rotated more than once, and what hoisting them would save per step.
    pub hoisting: crate::hoist::HoistEstimate,
}

/// One bootstrap of a step.
#[derive(Debug, Clone, Serialize)]
pub struct SiteReport {
    /// Its instruction's index in the program.
    pub instr: usize,
    pub stage: String,
    pub layer: Option<u32>,
    /// Depth of the value it refreshes.
    pub input_depth: u32,
    /// What it refreshes (the plan's `sites`).
    pub refreshes: Vec<String>,
    pub slots: usize,
    pub est_time_s: f64,
    /// Its share of the estimated step time.
    pub share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub stage: String,
    pub max_depth: u32,
    pub levels: u32,
    pub key_switches: u64,
    pub est_time_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub layer: u32,
    pub forward_depth: u32,
    pub forward_levels: u32,
}

/// What a plan's job moves: the one place every command takes key and upload sizes from
/// (`henn report`, `henn run` on either backend; `henn keygen` and `henn encrypt` print the sizes
/// of the files they wrote, which match these up to the files' framing: tested in
/// `compiler/driver/tests/journey.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// The evaluation keys as stored and sent: each hybrid key is dnum digits of one polynomial
    /// over the Q and P limbs (the uniform half is a seed), every key at the top of the chain
    /// (an upper bound for a bootstrapping plan, whose keys may stop lower). In memory a key takes
    /// twice this (both halves).
    pub key_bytes: u64,
    /// One fresh ciphertext at the plan's input level.
    pub ciphertext_bytes: u64,
    /// Ciphertexts of one step's batch.
    pub data_ciphertexts: u64,
    /// Ciphertexts of the state.
    pub state_ciphertexts: u64,
}

impl Sizes {
    /// Evaluation keys, the initial state and `steps` batches.
    pub fn upload_bytes(&self, steps: u64) -> u64 {
        (self.data_ciphertexts * steps + self.state_ciphertexts) * self.ciphertext_bytes
            + self.key_bytes
    }
}

/// The [`Sizes`] of a plan.
pub fn sizes(plan: &Plan) -> Sizes {
    let p = &plan.params;
    let n = 1u64 << p.log_n;
    let q_limbs = p.q.len() as u64;
    let base_limbs = plan
        .bootstrap
        .as_ref()
        .map_or(q_limbs, |b| u64::from(b.input_level) + 1);
    // One hybrid key: dnum digits × 2 polynomials × (Q + P limbs), the uniform half seeded.
    let key_bytes_each = p.dnum.max(1) as u64 * (q_limbs + p.p.len() as u64) * n * 8;
    let boot_keys = plan
        .bootstrap
        .as_ref()
        .map(|b| b.rotations.len() as u64 + 1 + 2)
        .unwrap_or(0);
    let n_keys = plan.keys.rotations.len() as u64
        + u64::from(plan.keys.relin)
        + u64::from(plan.keys.conjugation)
        + boot_keys;
    Sizes {
        key_bytes: n_keys * key_bytes_each,
        ciphertext_bytes: 2 * base_limbs * n * 8,
        data_ciphertexts: plan
            .data
            .inputs
            .iter()
            .filter(|b| !matches!(b.source, crate::plan::InputSource::State(_)))
            .count() as u64,
        state_ciphertexts: plan.data.state.len() as u64,
    }
}

/// The shape of a chain that fixes what each operation costs: the ring, the Q and P limbs, the
/// key-switching digits, the limbs of a value at depth 0 and the bootstrap's slots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainShape {
    pub log_n: u32,
    /// Q limbs of the whole chain (a bootstrapping chain includes the bootstrap's own levels).
    pub q_limbs: usize,
    /// Special (P) limbs.
    pub p_limbs: usize,
    pub dnum: usize,
    /// Limbs of a value at depth 0: the whole chain for a leveled plan, the bootstrap's output
    /// level + 1 for a bootstrapping one.
    pub base_limbs: usize,
    /// `Some(log2 slots)` for a sparse-slot bootstrap circuit.
    pub bootstrap_log_slots: Option<u32>,
}

impl ChainShape {
    /// The chain of a plan.
    pub fn of(plan: &Plan) -> ChainShape {
        let p = &plan.params;
        let q_limbs = p.q.len();
        ChainShape {
            log_n: p.log_n,
            q_limbs,
            p_limbs: p.p.len(),
            dnum: p.dnum.max(1),
            base_limbs: plan
                .bootstrap
                .as_ref()
                .map_or(q_limbs, |b| b.input_level as usize + 1),
            bootstrap_log_slots: plan.bootstrap.as_ref().and_then(|b| b.spec.log_slots),
        }
    }
}

/// Seconds per operation on one chain: the report's cost model applied to one op at one depth.
/// The one place op times are computed (the report sums them over a plan's program; the
/// bootstrap placement minimizes them over placements).
#[derive(Debug, Clone, Copy)]
pub struct OpTimes {
    base_limbs: usize,
    alpha: f64,
    k: f64,
    ntt: f64,
    /// One NTT inside a key switch (with the basis-conversion overhead).
    ks_ntt: f64,
    pass: f64,
    bootstrap: f64,
}

impl OpTimes {
    pub fn new(cost: &CostModel, chain: &ChainShape) -> OpTimes {
        let n = 1usize << chain.log_n;
        let size_factor = ntt_size_factor(chain.log_n);
        let sparse_factor = chain.bootstrap_log_slots.map_or(1.0, |log_slots| {
            sparse_bootstrap_factor((chain.log_n - 1).saturating_sub(log_slots))
        });
        OpTimes {
            base_limbs: chain.base_limbs,
            alpha: chain.q_limbs.div_ceil(chain.dnum.max(1)) as f64,
            k: chain.p_limbs as f64,
            ntt: cost.ntt_2_16_s * size_factor,
            ks_ntt: cost.ntt_2_16_s * size_factor * cost.key_switch_overhead,
            pass: cost.limb_pass_2_16_s * n as f64 / 65536.0,
            bootstrap: cost.bootstrap_2_16_s
                * size_factor
                * sparse_factor
                * bootstrap_chain_factor(chain.q_limbs),
        }
    }

    /// One bootstrap.
    pub fn bootstrap(&self) -> f64 {
        self.bootstrap
    }

    /// The decomposition part of one key switch at `depth` (see [`decomposition_ntts`]): what a
    /// hoisted rotation saves over a rotation.
    pub fn decomposition(&self, depth: u32) -> f64 {
        let limbs = self.base_limbs.saturating_sub(depth as usize).max(1) as f64;
        decomposition_ntts(limbs, self.alpha, self.k) * self.ks_ntt
    }

    /// One `op` whose result is at `depth` (a value at depth `d` has `base_limbs - d` limbs).
    pub fn op(&self, op: &HeOp, depth: u32) -> f64 {
        let limbs = self.base_limbs.saturating_sub(depth as usize).max(1) as f64;
        let (ntt, pass) = (self.ntt, self.pass);
        match op {
            HeOp::Relin | HeOp::Rotate(_) | HeOp::Conjugate => {
                key_switch_ntts(limbs, self.alpha, self.k) * self.ks_ntt
            }
            HeOp::Rescale => 2.0 * limbs * ntt,
            HeOp::MulCC => 4.0 * limbs * pass,
            HeOp::MulCP | HeOp::MulScalar(_) | HeOp::MulMomentum | HeOp::MulInt(_) => {
                2.0 * limbs * pass
            }
            HeOp::AddCC
            | HeOp::SubCC
            | HeOp::AddCP
            | HeOp::SubCP
            | HeOp::Neg
            | HeOp::AddScalar(_) => 2.0 * limbs * pass,
            HeOp::Const(_) => limbs * ntt,
            HeOp::Bootstrap => self.bootstrap,
            _ => 0.0,
        }
    }
}

/// Compute the report of a plan.
pub fn report(plan: &Plan, cost: &CostModel) -> Report {
    let p = &plan.params;
    let n = 1usize << p.log_n;
    let levels = p.levels();
    let chain = ChainShape::of(plan);
    let times = OpTimes::new(cost, &chain);
    let dnum = chain.dnum;
    let mut boot_time = 0.0;
    let mut op_counts: BTreeMap<String, u64> = BTreeMap::new();
    let (mut step_time, mut key_switches, mut depth, mut boots) = (0.0, 0u64, 0u32, 0u64);
    let mut stage_acc: BTreeMap<Stage, (u32, u64, f64)> = BTreeMap::new();
    let mut layer_depth: BTreeMap<u32, u32> = BTreeMap::new();
    let mut reg_depth: BTreeMap<u32, u32> = BTreeMap::new();
    let mut sites: Vec<SiteReport> = Vec::new();
    let named = plan.bootstrap.as_ref().map_or(&[][..], |b| &b.sites[..]);
    for (index, ins) in plan.program.instrs.iter().enumerate() {
        let before = (step_time, key_switches);
        *op_counts.entry(ins.op.mnemonic().to_owned()).or_insert(0) += 1;
        depth = depth.max(ins.ty.depth.0);
        let t = times.op(&ins.op, ins.ty.depth.0);
        step_time += t;
        match &ins.op {
            HeOp::Relin | HeOp::Rotate(_) | HeOp::Conjugate => key_switches += 1,
            HeOp::Bootstrap => {
                let site = named.get(sites.len());
                sites.push(SiteReport {
                    instr: index,
                    stage: format!("{:?}", ins.origin.stage).to_lowercase(),
                    layer: ins.origin.layer,
                    input_depth: ins
                        .args
                        .first()
                        .and_then(|r| reg_depth.get(&r.0))
                        .copied()
                        .unwrap_or(0),
                    refreshes: site.map(|s| s.refreshes.clone()).unwrap_or_default(),
                    slots: site.map_or(0, |s| s.slots),
                    est_time_s: t,
                    share: 0.0,
                });
                boots += 1;
                boot_time += t;
            }
            _ => {}
        }
        reg_depth.insert(ins.dst.0, ins.ty.depth.0);
        let e = stage_acc.entry(ins.origin.stage).or_insert((0, 0, 0.0));
        e.0 = e.0.max(ins.ty.depth.0);
        e.1 += key_switches - before.1;
        e.2 += step_time - before.0;
        if let (Stage::Forward, Some(l)) = (ins.origin.stage, ins.origin.layer) {
            let d = layer_depth.entry(l).or_insert(0);
            *d = (*d).max(ins.ty.depth.0);
        }
    }
    let mut stages = Vec::new();
    let mut prev = 0u32;
    for (stage, (max_depth, ks, t)) in &stage_acc {
        stages.push(StageReport {
            stage: format!("{stage:?}").to_lowercase(),
            max_depth: *max_depth,
            levels: max_depth.saturating_sub(prev),
            key_switches: *ks,
            est_time_s: *t,
        });
        prev = prev.max(*max_depth);
    }
    let mut layers = Vec::new();
    let mut prev = 0u32;
    for (layer, d) in &layer_depth {
        layers.push(LayerReport {
            layer: *layer,
            forward_depth: *d,
            forward_levels: d.saturating_sub(prev),
        });
        prev = *d;
    }
    for site in &mut sites {
        site.share = if step_time > 0.0 {
            site.est_time_s / step_time
        } else {
            0.0
        };
    }
    let steps = plan.schedule.steps();
    let Sizes {
        key_bytes,
        ciphertext_bytes: ct_bytes,
        data_ciphertexts: data_cts,
        state_ciphertexts: state_cts,
    } = sizes(plan);
    Report {
        model: plan.model_name.clone(),
        log_n: p.log_n,
        slots: p.slots(),
        security: p.security.clone(),
        log2_qp: p.log2_qp,
        dnum,
        depth,
        levels,
        steps,
        bootstraps: boots * steps,
        bootstraps_per_step: boots,
        usable_levels: plan.bootstrap.as_ref().map(|b| b.usable_levels),
        bootstrap_time_share: if step_time > 0.0 {
            boot_time / step_time
        } else {
            0.0
        },
        bootstrap_rotation_keys: plan.bootstrap.as_ref().map_or(0, |b| b.rotations.len()),
        bootstrap_slots: plan
            .bootstrap
            .as_ref()
            .map_or(0, |b| b.spec.log_slots.map_or(n / 2, |k| 1usize << k)),
        bootstrap_fill: match plan
            .bootstrap
            .as_ref()
            .map(|b| (b.spec.log_slots, b.spec.sparse_output))
        {
            Some((Some(_), SparseOutput::Zeroed)) => "zeroed".into(),
            Some((Some(_), SparseOutput::Periodic)) => "periodic".into(),
            _ => String::new(),
        },
        rotation_keys: plan.keys.rotations.len(),
        rotation_steps: plan.keys.rotations.iter().map(|r| r.step).collect(),
        key_bytes,
        key_switches,
        key_switches_total: key_switches * steps,
        op_counts,
        est_step_time_s: step_time,
        est_time_s: step_time * steps as f64,
        est_peak_bytes: plan.program.peak_live as u64 * ct_bytes + key_bytes,
        upload_bytes: (data_cts * steps + state_cts) * ct_bytes + key_bytes,
        ciphertext_bytes: ct_bytes,
        peak_live_ciphertexts: plan.program.peak_live,
        stages,
        layers,
        placement: plan.bootstrap.as_ref().map(|b| b.placement.clone()),
        bootstrap_sites: sites,
        hoisting: crate::hoist::estimate(&plan.program, &times),
    }
}

impl Report {
    /// The placement line and one line per bootstrap (empty for a leveled plan).
    fn placement_text(&self) -> String {
        let mut s = String::new();
        if let Some(p) = &self.placement {
            let greedy = match p.greedy {
                Some((n, t)) => format!("greedy baseline {n} per step, ≈ {t:.1} s per step"),
                None => "no greedy placement".to_owned(),
            };
            s.push_str(&format!(
                "  placement   {}: {} per step, ≈ {:.1} s per step ({greedy}; placement cost model)\n",
                p.method, p.bootstraps, p.est_step_s
            ));
        }
        for (i, b) in self.bootstrap_sites.iter().enumerate() {
            let layer = b
                .layer
                .map(|l| format!(" layer {}", l + 1))
                .unwrap_or_default();
            s.push_str(&format!(
                "    #{:<3} {}{layer}, from depth {}, {} slots, {:.1} s ({:.1} %): {}\n",
                i + 1,
                b.stage,
                b.input_depth,
                b.slots,
                b.est_time_s,
                100.0 * b.share,
                if b.refreshes.is_empty() {
                    "?".to_owned()
                } else {
                    b.refreshes.join(", ")
                }
            ));
        }
        s
    }

    /// The hoisting line: values rotated more than once and what one decomposition each would
    /// save (empty when no value is).
    fn hoisting_text(&self) -> String {
        let h = &self.hoisting;
        if h.shared_sources == 0 {
            return String::new();
        }
        format!(
            "  hoisting    {} of {} rotations rotate {} value{} more than once: hoisting would save {} decomposition{}, ≈ {:.2} s per step ({:.1} %; not done)\n",
            h.shared_rotations,
            h.rotations,
            h.shared_sources,
            if h.shared_sources == 1 { "" } else { "s" },
            h.decompositions_saved,
            if h.decompositions_saved == 1 { "" } else { "s" },
            h.est_saving_s,
            if self.est_step_time_s > 0.0 {
                100.0 * h.est_saving_s / self.est_step_time_s
            } else {
                0.0
            }
        )
    }

    /// The human-readable form.
    pub fn to_text(&self) -> String {
        let mb = |b: u64| b as f64 / (1u64 << 20) as f64;
        let mut s = String::new();
        s.push_str(&format!("plan for `{}`\n", self.model));
        s.push_str(&format!(
            "  ring        N = 2^{} ({} slots), {} levels, log2 QP = {:.0}, dnum {}, security {}\n",
            self.log_n, self.slots, self.levels, self.log2_qp, self.dnum, self.security
        ));
        match self.usable_levels {
            None => s.push_str(&format!(
                "  depth       {} levels per step, {} steps, no bootstrapping (leveled)\n",
                self.depth, self.steps
            )),
            Some(usable) => s.push_str(&format!(
                "  bootstrap   {} per step ({} in all, ≈ {:.0} % of the time); {} levels between bootstraps, {} steps; {}\n",
                self.bootstraps_per_step,
                self.bootstraps,
                100.0 * self.bootstrap_time_share,
                usable,
                self.steps,
                if self.bootstrap_fill.is_empty() {
                    "all slots".to_owned()
                } else {
                    format!(
                        "sparse circuit: first {} of {} slots, {} beyond",
                        self.bootstrap_slots, self.slots, self.bootstrap_fill
                    )
                }
            )),
        }
        s.push_str(&self.placement_text());
        s.push_str(&format!(
            "  keys        relin + {} rotation keys{}, {:.1} MiB\n",
            self.rotation_keys,
            if self.usable_levels.is_some() {
                format!(
                    " + bootstrap: {} rotation keys, conjugation, 2 encapsulation keys",
                    self.bootstrap_rotation_keys
                )
            } else {
                String::new()
            },
            mb(self.key_bytes)
        ));
        s.push_str(&format!(
            "  per step    {} key switches; ops: {}\n",
            self.key_switches,
            self.op_counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s.push_str(&format!(
            "  estimates   {:.1} s per step, {:.1} s in all; peak memory {:.0} MiB ({} live ciphertexts of {:.1} MiB + keys)\n",
            self.est_step_time_s,
            self.est_time_s,
            mb(self.est_peak_bytes),
            self.peak_live_ciphertexts,
            mb(self.ciphertext_bytes)
        ));
        s.push_str(&self.hoisting_text());
        s.push_str(&format!(
            "  levels      {}\n",
            self.stages
                .iter()
                .map(|st| format!(
                    "{} +{} (to depth {}, {} key switches)",
                    st.stage, st.levels, st.max_depth, st.key_switches
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        s.push_str(&format!(
            "  forward     {}\n",
            self.layers
                .iter()
                .map(|l| format!(
                    "layer {} +{} (depth {})",
                    l.layer + 1,
                    l.forward_levels,
                    l.forward_depth
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        s.push_str(&format!(
            "  upload      {:.1} MiB (data, initial state, evaluation keys)\n",
            mb(self.upload_bytes)
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digits are the chain's (`alpha` limbs each): a key switch at a lower level extends fewer
    /// digits instead of splitting its remaining limbs into `dnum` smaller ones.
    #[test]
    fn key_switch_cost_follows_the_digits_a_level_still_fills() {
        // A chain of 28 Q limbs in 4 digits of 7, with 7 special primes.
        let top = key_switch_ntts(28.0, 7.0, 7.0);
        let one_digit = key_switch_ntts(7.0, 7.0, 7.0);
        let two_digits = key_switch_ntts(8.0, 7.0, 7.0);
        assert!(one_digit < two_digits && two_digits < top);
        // 7 limbs: one digit extended to the 7 special primes (7 NTTs), not 4 digits of 2.
        assert_eq!(one_digit, 7.0 + 7.0 + 2.0 * 7.0 + 2.0 * 7.0);
    }

    #[test]
    fn sparse_bootstraps_cost_the_measured_share_of_a_full_one() {
        assert_eq!(sparse_bootstrap_factor(0), 1.0);
        assert!((sparse_bootstrap_factor(2) - 0.915).abs() < 1e-12);
        assert!((sparse_bootstrap_factor(5) - 0.90).abs() < 1e-12);
        assert_eq!(sparse_bootstrap_factor(12), 0.90);
        for h in 0..8 {
            assert!(sparse_bootstrap_factor(h + 1) <= sparse_bootstrap_factor(h));
        }
    }
}
