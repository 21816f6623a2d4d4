//! Plan validation, run on every load before anything executes: the instruction stream is
//! re-typed from scratch (with the same inference the compiler used), registers are checked for
//! use-before-definition and use-after-free, every rotation must have a key in the manifest, depths
//! must fit the chain, and inputs/outputs must match the data contract. Every problem is reported.

use std::collections::{BTreeSet, HashMap};

use crate::op::{HeOp, infer};
use crate::plan::{FORMAT_VERSION, Plan};
use crate::types::ValueType;

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
    let outputs: BTreeSet<&str> = plan.data.outputs.iter().map(|b| b.name.as_str()).collect();
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
                if !outputs.contains(name.as_str()) {
                    errors.push(at(format!("output `{name}` is not in the data contract")));
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
