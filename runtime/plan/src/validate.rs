//! Plan validation, run on every load before anything executes: the instruction stream is
//! re-typed from scratch (with the same inference the compiler used), registers are checked for
//! use-before-definition and use-after-free, every rotation must have a key in the manifest, depths
//! must fit the chain, and inputs/outputs must match the data contract. Every problem is reported,
//! each as a [`PlanError`] naming the instruction, register, binding or state slot concerned.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::op::{HeOp, InferError, check_stated, infer};
use crate::plan::{DataContract, FORMAT_VERSION, Plan, StateSlot};
use crate::types::{Layout, Packing, ValueType};

/// One problem in a plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("format version {found} (expected {expected})")]
    FormatVersion { found: u32, expected: u32 },
    #[error("log_n {log_n} outside 10..=17")]
    LogN { log_n: u32 },
    #[error("empty modulus chain")]
    EmptyChain,
    #[error(
        "bootstrap: input level {input_level} and {usable_levels} usable levels do not fit the {levels} levels of the chain"
    )]
    BootstrapLevels {
        input_level: u32,
        usable_levels: u32,
        levels: u32,
    },
    #[error("the key manifest and the bootstrap section disagree")]
    BootstrapKeys,
    #[error(
        "the bootstrap section names {sites} bootstraps and counts {per_step} per step; the program has {instrs}"
    )]
    BootstrapSites {
        sites: usize,
        per_step: u32,
        instrs: usize,
    },
    #[error("instruction {index} (`{op}`): {problem}")]
    Instr {
        index: usize,
        op: &'static str,
        problem: InstrError,
    },
    #[error("input `{name}` is bound twice")]
    InputBoundTwice { name: String },
    #[error("input `{name}` has {slots} slots, the ring has {ring}")]
    InputSlots {
        name: String,
        slots: usize,
        ring: usize,
    },
    #[error("state {slot}: a block starts at row {row} where row {expected} was expected")]
    StateBlockGap {
        slot: StateSlot,
        row: usize,
        expected: usize,
    },
    #[error("state {slot}: the block at row {row} is empty")]
    StateBlockEmpty { slot: StateSlot, row: usize },
    #[error(
        "state {slot}: the block at row {row} has {rows} rows, period {period}, {rows_per_ct} rows per ciphertext"
    )]
    StateBlockPeriod {
        slot: StateSlot,
        row: usize,
        rows: usize,
        period: usize,
        rows_per_ct: usize,
    },
    #[error("state {slot}: its blocks differ in packing, columns or stride")]
    StateBlocksDiffer { slot: StateSlot },
    #[error("output `{name}` is bound twice")]
    OutputBoundTwice { name: String },
    #[error("output `{name}` replaces no state input ({slot} from row {row})")]
    OutputReplacesNothing {
        name: String,
        slot: StateSlot,
        row: usize,
    },
    #[error("output `{name}` is packed unlike the state input `{input}` it replaces")]
    OutputPackedUnlikeState { name: String, input: String },
    #[error("state input `{name}` is replaced twice")]
    StateReplacedTwice { name: String },
    #[error("the state list does not match the state inputs one to one")]
    StateList,
    #[error("output `{name}` of the data contract is never produced")]
    OutputNeverProduced { name: String },
    #[error("{steps} steps × {per_step} levels per step = {needed} levels, the chain has {levels}")]
    StepsExceedChain {
        steps: u64,
        per_step: u32,
        needed: u64,
        levels: u32,
    },
    #[error("{have} momentum coefficients for {steps} steps")]
    MomentumSchedule { have: usize, steps: u64 },
    #[error(
        "inference plan: the program needs {depth} levels below its input level {input_level}, or the chain has only {levels} levels"
    )]
    InferLevels {
        depth: u32,
        input_level: u32,
        levels: u32,
    },
    #[error("{0}")]
    InferShape(String),
}

/// What is wrong with one instruction (see [`PlanError::Instr`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InstrError {
    #[error("register r{reg} out of range")]
    RegisterOutOfRange { reg: u32 },
    #[error("reads r{reg} before it is written (or after it is freed)")]
    ReadBeforeWrite { reg: u32 },
    #[error("value has {slots} slots, the ring has {ring}")]
    SlotCount { slots: usize, ring: usize },
    #[error("input `{name}` is not in the data contract")]
    UnknownInput { name: String },
    #[error("constant {id} does not exist")]
    UnknownConst { id: u32 },
    #[error("output `{name}` is not in the data contract")]
    UnknownOutput { name: String },
    #[error("output `{name}` is packed unlike the data contract says")]
    OutputLayout { name: String },
    #[error("rotation by {step} has no key in the manifest")]
    MissingRotationKey { step: usize },
    #[error("no relinearization key in the manifest")]
    NoRelinKey,
    #[error("no conjugation key")]
    NoConjugationKey,
    #[error("no bootstrap keys")]
    NoBootstrapKeys,
    /// The type rule rejects the operation on its operands' types (or the recorded layout).
    #[error(transparent)]
    Type(#[from] InferError),
    #[error(
        "recorded type ({:?}, depth {}, Δ^{}, degree {}) disagrees with the operands ({:?}, depth {}, Δ^{}, degree {})",
        .recorded.kind, .recorded.depth.0, .recorded.scale_pow, .recorded.degree,
        .inferred.kind, .inferred.depth.0, .inferred.scale_pow, .inferred.degree
    )]
    TypeDisagrees {
        recorded: Box<ValueType>,
        inferred: Box<ValueType>,
    },
    #[error("reaches depth {depth}, the chain has {levels} levels")]
    DepthExceeded { depth: u32, levels: u32 },
}

/// Every problem found; empty when the plan is valid.
pub fn validate_plan(plan: &Plan) -> Vec<PlanError> {
    let mut errors = Vec::new();
    if plan.format_version != FORMAT_VERSION {
        errors.push(PlanError::FormatVersion {
            found: plan.format_version,
            expected: FORMAT_VERSION,
        });
    }
    let params = &plan.params;
    if !(10..=17).contains(&params.log_n) {
        errors.push(PlanError::LogN {
            log_n: params.log_n,
        });
        return errors;
    }
    if params.q.is_empty() {
        errors.push(PlanError::EmptyChain);
        return errors;
    }
    // A bootstrapping plan's program may use only the levels between two refreshes.
    let levels = match (&plan.bootstrap, plan.infer()) {
        (None, Some(spec)) => {
            // An inference plan runs once, from its input level down.
            if spec.input_level > params.levels() {
                errors.push(PlanError::InferLevels {
                    depth: plan.schedule.depth_per_step,
                    input_level: spec.input_level,
                    levels: params.levels(),
                });
            }
            spec.input_level.min(params.levels())
        }
        (Some(b), _) => {
            if b.input_level > params.levels() || b.usable_levels > b.input_level {
                errors.push(PlanError::BootstrapLevels {
                    input_level: b.input_level,
                    usable_levels: b.usable_levels,
                    levels: params.levels(),
                });
            }
            b.usable_levels
        }
        (None, None) => params.levels(),
    };
    if plan.keys.bootstrap != plan.bootstrap.is_some() {
        errors.push(PlanError::BootstrapKeys);
    }
    if let Some(b) = &plan.bootstrap {
        let instrs = plan
            .program
            .instrs
            .iter()
            .filter(|i| matches!(i.op, HeOp::Bootstrap))
            .count();
        if b.sites.len() != instrs || b.per_step as usize != instrs {
            errors.push(PlanError::BootstrapSites {
                sites: b.sites.len(),
                per_step: b.per_step,
                instrs,
            });
        }
    }
    let program = check_program(plan, levels, &mut errors);
    check_contract(&plan.data, params.slots(), &mut errors);
    check_kind(plan, &mut errors);
    let produced = plan.data.outputs.iter().map(|o| &o.name);
    for name in produced.chain(plan.data.predictions.iter().map(|p| &p.name)) {
        if !program.outputs.contains(name) {
            errors.push(PlanError::OutputNeverProduced { name: name.clone() });
        }
    }
    let s = &plan.schedule;
    if plan.bootstrap.is_none() && plan.infer().is_none() {
        let needed = s.steps().saturating_mul(s.depth_per_step as u64);
        if needed > levels as u64 {
            errors.push(PlanError::StepsExceedChain {
                steps: s.steps(),
                per_step: s.depth_per_step,
                needed,
                levels,
            });
        }
    }
    if program.uses_momentum && (s.momentum.len() as u64) < s.steps() {
        errors.push(PlanError::MomentumSchedule {
            have: s.momentum.len(),
            steps: s.steps(),
        });
    }
    errors
}

/// The plan's kind against its data contract: a training plan has no predictions; an inference
/// plan writes no state, has class scores for every block of queries, runs one step, and no
/// labels.
fn check_kind(plan: &Plan, errors: &mut Vec<PlanError>) {
    let d = &plan.data;
    let mut fail = |m: String| errors.push(PlanError::InferShape(m));
    let Some(spec) = plan.infer() else {
        if !d.predictions.is_empty() {
            fail("a training plan has prediction outputs".to_owned());
        }
        return;
    };
    if !d.outputs.is_empty() {
        fail("an inference plan writes state".to_owned());
    }
    if plan.bootstrap.is_some() {
        fail("inference plans do not bootstrap".to_owned());
    }
    if plan.schedule.steps() != 1 {
        fail(format!(
            "an inference plan runs one step, not {}",
            plan.schedule.steps()
        ));
    }
    if d.inputs
        .iter()
        .any(|i| matches!(i.source, crate::plan::InputSource::Labels { .. }))
    {
        fail("an inference plan takes no labels".to_owned());
    }
    let blocks: Vec<usize> = d.predictions.iter().map(|p| p.block).collect();
    if blocks != (0..d.blocks.len()).collect::<Vec<_>>() {
        fail(format!(
            "{} prediction outputs for {} blocks of queries",
            d.predictions.len(),
            d.blocks.len()
        ));
    }
    for p in &d.predictions {
        if p.layout.cols != d.classes || d.blocks.get(p.block) != Some(&p.layout.rows) {
            fail(format!(
                "prediction `{}` does not hold its block's scores",
                p.name
            ));
        }
    }
    if plan.schedule.depth_per_step > spec.input_level {
        fail(format!(
            "the program needs {} levels, the input level is {}",
            plan.schedule.depth_per_step, spec.input_level
        ));
    }
}

/// What the instruction stream produces that the rest of the plan is checked against.
struct ProgramFacts {
    outputs: BTreeSet<String>,
    uses_momentum: bool,
}

/// The instruction stream: registers, keys, the data contract's names, and every type re-inferred.
fn check_program(plan: &Plan, levels: u32, errors: &mut Vec<PlanError>) -> ProgramFacts {
    let slots = plan.params.slots();
    let keys: BTreeSet<usize> = plan.keys.rotations.iter().map(|k| k.step).collect();
    let inputs: BTreeSet<&str> = plan.data.inputs.iter().map(|b| b.name.as_str()).collect();
    let mut facts = ProgramFacts {
        outputs: BTreeSet::new(),
        uses_momentum: false,
    };
    let mut regs: HashMap<u32, ValueType> = HashMap::new();
    for (index, ins) in plan.program.instrs.iter().enumerate() {
        let mut at = |problem: InstrError| {
            errors.push(PlanError::Instr {
                index,
                op: ins.op.mnemonic(),
                problem,
            })
        };
        if ins.dst.0 >= plan.program.registers {
            at(InstrError::RegisterOutOfRange { reg: ins.dst.0 });
            continue;
        }
        let mut arg_types = Vec::new();
        for a in &ins.args {
            match regs.get(&a.0) {
                Some(t) => arg_types.push(t.clone()),
                None => at(InstrError::ReadBeforeWrite { reg: a.0 }),
            }
        }
        if arg_types.len() != ins.args.len() {
            continue;
        }
        if ins.ty.layout.slots != slots {
            at(InstrError::SlotCount {
                slots: ins.ty.layout.slots,
                ring: slots,
            });
        }
        match &ins.op {
            HeOp::Input { name } if !inputs.contains(name.as_str()) => {
                at(InstrError::UnknownInput { name: name.clone() });
            }
            HeOp::Const(id) if plan.program.consts.get(id.0 as usize).is_none() => {
                at(InstrError::UnknownConst { id: id.0 });
            }
            HeOp::Output { name } => {
                let layout = plan
                    .data
                    .outputs
                    .iter()
                    .find(|o| &o.name == name)
                    .map(|o| &o.layout)
                    .or_else(|| {
                        let p = plan.data.predictions.iter().find(|p| &p.name == name);
                        p.map(|p| &p.layout)
                    });
                match layout {
                    None => at(InstrError::UnknownOutput { name: name.clone() }),
                    Some(layout) => {
                        if let Some(t) = arg_types.first()
                            && !same_block(&t.layout, layout)
                        {
                            at(InstrError::OutputLayout { name: name.clone() });
                        }
                    }
                }
                facts.outputs.insert(name.clone());
            }
            HeOp::Rotate(r) => {
                let step = r.normalized(slots);
                if !keys.contains(&step) {
                    at(InstrError::MissingRotationKey { step });
                }
            }
            HeOp::Relin if !plan.keys.relin => at(InstrError::NoRelinKey),
            HeOp::Conjugate if !plan.keys.conjugation => at(InstrError::NoConjugationKey),
            HeOp::Bootstrap if !plan.keys.bootstrap => at(InstrError::NoBootstrapKeys),
            HeOp::MulMomentum => facts.uses_momentum = true,
            _ => {}
        }
        if !matches!(ins.op, HeOp::Input { .. } | HeOp::Const(_)) {
            let refs: Vec<&ValueType> = arg_types.iter().collect();
            match infer(&ins.op, &refs) {
                Err(e) => at(e.into()),
                Ok(t) => {
                    if (t.depth, t.scale_pow, t.degree, t.kind)
                        != (ins.ty.depth, ins.ty.scale_pow, ins.ty.degree, ins.ty.kind)
                    {
                        at(InstrError::TypeDisagrees {
                            recorded: Box::new(ins.ty.clone()),
                            inferred: Box::new(t.clone()),
                        });
                    }
                    if let Err(e) = check_stated(&t.layout, &ins.ty.layout) {
                        at(e.into());
                    }
                }
            }
        }
        if ins.ty.depth.0 > levels {
            at(InstrError::DepthExceeded {
                depth: ins.ty.depth.0,
                levels,
            });
        }
        for f in &ins.free {
            regs.remove(&f.0);
        }
        regs.insert(ins.dst.0, ins.ty.clone());
    }
    facts
}

/// Two layouts describe the same block of the same matrix in the same way (padding aside).
fn same_block(a: &Layout, b: &Layout) -> bool {
    (a.packing, a.rows, a.first_row, a.cols, a.stride, a.slots)
        == (b.packing, b.rows, b.first_row, b.cols, b.stride, b.slots)
}

/// The data contract on its own: unique names, every state tensor's row blocks tiling its rows
/// with one layout family, every output replacing exactly one state input of the same shape, and
/// one state entry per state ciphertext. This is what lets the owner pack and unpack state without
/// the compiler.
fn check_contract(data: &DataContract, slots: usize, errors: &mut Vec<PlanError>) {
    let mut names = BTreeSet::new();
    for b in &data.inputs {
        if !names.insert(b.name.as_str()) {
            errors.push(PlanError::InputBoundTwice {
                name: b.name.clone(),
            });
        }
        if b.layout.slots != slots {
            errors.push(PlanError::InputSlots {
                name: b.name.clone(),
                slots: b.layout.slots,
                ring: slots,
            });
        }
    }
    let mut blocks: BTreeMap<StateSlot, Vec<&Layout>> = BTreeMap::new();
    for b in &data.inputs {
        if let Some(slot) = b.state_slot() {
            blocks.entry(slot).or_default().push(&b.layout);
        }
    }
    for (slot, layouts) in &mut blocks {
        layouts.sort_by_key(|l| l.first_row);
        let mut next = 0;
        for l in layouts.iter() {
            if l.first_row != next {
                errors.push(PlanError::StateBlockGap {
                    slot: *slot,
                    row: l.first_row,
                    expected: next,
                });
            }
            if l.rows == 0 {
                errors.push(PlanError::StateBlockEmpty {
                    slot: *slot,
                    row: l.first_row,
                });
            }
            if let Packing::Weights { period } = l.packing
                && (period == 0 || l.rows > period || l.stride == 0 || period > l.slots / l.stride)
            {
                errors.push(PlanError::StateBlockPeriod {
                    slot: *slot,
                    row: l.first_row,
                    rows: l.rows,
                    period,
                    rows_per_ct: l.slots / l.stride.max(1),
                });
            }
            next = l.first_row + l.rows;
        }
        if let Some(first) = layouts.first()
            && layouts
                .iter()
                .any(|l| (l.packing, l.cols, l.stride) != (first.packing, first.cols, first.stride))
        {
            errors.push(PlanError::StateBlocksDiffer { slot: *slot });
        }
    }
    let mut out_names = BTreeSet::new();
    let mut replaced = BTreeSet::new();
    for o in &data.outputs {
        if !out_names.insert(o.name.as_str()) {
            errors.push(PlanError::OutputBoundTwice {
                name: o.name.clone(),
            });
        }
        match data.input_replaced_by(o) {
            None => errors.push(PlanError::OutputReplacesNothing {
                name: o.name.clone(),
                slot: o.slot,
                row: o.layout.first_row,
            }),
            Some(i) => {
                if !same_block(&i.layout, &o.layout) {
                    errors.push(PlanError::OutputPackedUnlikeState {
                        name: o.name.clone(),
                        input: i.name.clone(),
                    });
                }
                if !replaced.insert(i.name.as_str()) {
                    errors.push(PlanError::StateReplacedTwice {
                        name: i.name.clone(),
                    });
                }
            }
        }
    }
    let specs: BTreeSet<(StateSlot, usize)> = data
        .state
        .iter()
        .map(|s| (s.slot, s.layout.first_row))
        .collect();
    let inputs: BTreeSet<(StateSlot, usize)> = data
        .inputs
        .iter()
        .filter_map(|i| i.state_slot().map(|s| (s, i.layout.first_row)))
        .collect();
    if specs != inputs || specs.len() != data.state.len() {
        errors.push(PlanError::StateList);
    }
}
