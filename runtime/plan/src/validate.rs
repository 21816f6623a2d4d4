//! Plan validation, run on every load before anything executes: the instruction stream is
//! re-typed from scratch (with the same inference the compiler used), registers are checked for
//! use-before-definition and use-after-free, every rotation must have a key in the manifest, depths
//! must fit the chain, and inputs/outputs must match the data contract. Every problem is reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::op::{HeOp, infer};
use crate::plan::{DataContract, FORMAT_VERSION, Plan, StateSlot};
use crate::types::{Layout, Packing, ValueType};

/// Every problem found; empty when the plan is valid.
pub fn validate_plan(plan: &Plan) -> Vec<String> {
    let mut errors = Vec::new();
    if plan.format_version != FORMAT_VERSION {
        errors.push(format!(
            "format version {} (expected {FORMAT_VERSION})",
            plan.format_version
        ));
    }
    let params = &plan.params;
    if !(10..=17).contains(&params.log_n) {
        errors.push(format!("log_n {} outside 10..=17", params.log_n));
        return errors;
    }
    if params.q.is_empty() {
        errors.push("empty modulus chain".into());
        return errors;
    }
    // A bootstrapping plan's program may use only the levels between two refreshes.
    let levels = match &plan.bootstrap {
        Some(b) => {
            if b.input_level > params.levels() || b.usable_levels > b.input_level {
                errors.push(format!(
                    "bootstrap: input level {} and {} usable levels do not fit the {} levels of the chain",
                    b.input_level,
                    b.usable_levels,
                    params.levels()
                ));
            }
            b.usable_levels
        }
        None => params.levels(),
    };
    if plan.keys.bootstrap != plan.bootstrap.is_some() {
        errors.push("the key manifest and the bootstrap section disagree".into());
    }
    let slots = params.slots();
    let keys: BTreeSet<usize> = plan.keys.rotations.iter().map(|k| k.step).collect();
    let inputs: BTreeSet<&str> = plan.data.inputs.iter().map(|b| b.name.as_str()).collect();
    let mut seen_outputs = BTreeSet::new();
    let mut regs: HashMap<u32, ValueType> = HashMap::new();
    let mut uses_momentum = false;
    for (i, ins) in plan.program.instrs.iter().enumerate() {
        let at = |msg: String| format!("instruction {i} (`{}`): {msg}", ins.op.mnemonic());
        if ins.dst.0 >= plan.program.registers {
            errors.push(at(format!("register r{} out of range", ins.dst.0)));
            continue;
        }
        let mut arg_types = Vec::new();
        for a in &ins.args {
            match regs.get(&a.0) {
                Some(t) => arg_types.push(t.clone()),
                None => errors.push(at(format!(
                    "reads r{} before it is written (or after it is freed)",
                    a.0
                ))),
            }
        }
        if arg_types.len() != ins.args.len() {
            continue;
        }
        if ins.ty.layout.slots != slots {
            errors.push(at(format!(
                "value has {} slots, the ring has {slots}",
                ins.ty.layout.slots
            )));
        }
        match &ins.op {
            HeOp::Input { name } if !inputs.contains(name.as_str()) => {
                errors.push(at(format!("input `{name}` is not in the data contract")));
            }
            HeOp::Const(id) if plan.program.consts.get(id.0 as usize).is_none() => {
                errors.push(at(format!("constant {} does not exist", id.0)));
            }
            HeOp::Output { name } => {
                match plan.data.outputs.iter().find(|o| &o.name == name) {
                    None => errors.push(at(format!("output `{name}` is not in the data contract"))),
                    Some(o) => {
                        if let Some(t) = arg_types.first()
                            && !same_block(&t.layout, &o.layout)
                        {
                            errors.push(at(format!(
                                "output `{name}` is packed unlike the data contract says"
                            )));
                        }
                    }
                }
                seen_outputs.insert(name.clone());
            }
            HeOp::Rotate(r) => {
                let step = r.normalized(slots);
                if !keys.contains(&step) {
                    errors.push(at(format!("rotation by {step} has no key in the manifest")));
                }
            }
            HeOp::Relin if !plan.keys.relin => {
                errors.push(at("no relinearization key in the manifest".into()))
            }
            HeOp::Conjugate if !plan.keys.conjugation => {
                errors.push(at("no conjugation key".into()))
            }
            HeOp::Bootstrap if !plan.keys.bootstrap => errors.push(at("no bootstrap keys".into())),
            HeOp::MulMomentum => uses_momentum = true,
            _ => {}
        }
        if !matches!(ins.op, HeOp::Input { .. } | HeOp::Const(_)) {
            let refs: Vec<&ValueType> = arg_types.iter().collect();
            match infer(&ins.op, &refs) {
                Err(reason) => errors.push(at(reason)),
                Ok(t) => {
                    if (t.depth, t.scale_pow, t.degree, t.kind)
                        != (ins.ty.depth, ins.ty.scale_pow, ins.ty.degree, ins.ty.kind)
                    {
                        errors.push(at("recorded type disagrees with the operands".into()));
                    }
                }
            }
        }
        if ins.ty.depth.0 > levels {
            errors.push(at(format!(
                "reaches depth {}, the chain has {levels} levels",
                ins.ty.depth.0
            )));
        }
        for f in &ins.free {
            regs.remove(&f.0);
        }
        regs.insert(ins.dst.0, ins.ty.clone());
    }
    check_contract(&plan.data, slots, &mut errors);
    for o in &plan.data.outputs {
        if !seen_outputs.contains(&o.name) {
            errors.push(format!(
                "output `{}` of the data contract is never produced",
                o.name
            ));
        }
    }
    let s = &plan.schedule;
    if plan.bootstrap.is_none() {
        let need = s.steps().saturating_mul(s.depth_per_step as u64);
        if need > levels as u64 {
            errors.push(format!(
                "{} steps × {} levels per step = {need} levels, the chain has {levels}",
                s.steps(),
                s.depth_per_step
            ));
        }
    }
    if uses_momentum && (s.momentum.len() as u64) < s.steps() {
        errors.push(format!(
            "{} momentum coefficients for {} steps",
            s.momentum.len(),
            s.steps()
        ));
    }
    errors
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
fn check_contract(data: &DataContract, slots: usize, errors: &mut Vec<String>) {
    let mut names = BTreeSet::new();
    for b in &data.inputs {
        if !names.insert(b.name.as_str()) {
            errors.push(format!("input `{}` is bound twice", b.name));
        }
        if b.layout.slots != slots {
            errors.push(format!(
                "input `{}` has {} slots, the ring has {slots}",
                b.name, b.layout.slots
            ));
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
                errors.push(format!(
                    "state {slot}: a block starts at row {} where row {next} was expected",
                    l.first_row
                ));
            }
            if l.rows == 0 {
                errors.push(format!(
                    "state {slot}: the block at row {} is empty",
                    l.first_row
                ));
            }
            if let Packing::Weights { period } = l.packing
                && (period == 0 || l.rows > period || l.stride == 0 || period > l.slots / l.stride)
            {
                errors.push(format!(
                    "state {slot}: the block at row {} has {} rows, period {period}, {} rows per ciphertext",
                    l.first_row,
                    l.rows,
                    l.slots / l.stride.max(1)
                ));
            }
            next = l.first_row + l.rows;
        }
        if let Some(first) = layouts.first()
            && layouts
                .iter()
                .any(|l| (l.packing, l.cols, l.stride) != (first.packing, first.cols, first.stride))
        {
            errors.push(format!(
                "state {slot}: its blocks differ in packing, columns or stride"
            ));
        }
    }
    let mut out_names = BTreeSet::new();
    let mut replaced = BTreeSet::new();
    for o in &data.outputs {
        if !out_names.insert(o.name.as_str()) {
            errors.push(format!("output `{}` is bound twice", o.name));
        }
        match data.input_replaced_by(o) {
            None => errors.push(format!(
                "output `{}` replaces no state input ({} from row {})",
                o.name, o.slot, o.layout.first_row
            )),
            Some(i) => {
                if !same_block(&i.layout, &o.layout) {
                    errors.push(format!(
                        "output `{}` is packed unlike the state input `{}` it replaces",
                        o.name, i.name
                    ));
                }
                if !replaced.insert(i.name.as_str()) {
                    errors.push(format!("state input `{}` is replaced twice", i.name));
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
        errors.push("the state list does not match the state inputs one to one".into());
    }
}
