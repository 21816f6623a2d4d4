//! The executor: runs one step of a validated plan's program on any [`Backend`].
//!
//! Registers hold ciphertexts or plaintext constants (kept as slot values and encoded by the
//! backend at the level and scale of their use). `level_drop to d` means "the level `d` rescales
//! below the step's starting level"; the step's starting level is the lowest level among its state
//! inputs, because every step of a loop consumes the levels of the one before.

use std::collections::HashMap;
use std::sync::Arc;

use henn_plan::{HeOp, Plan};

use crate::backend::{Backend, ExecError, Result};

#[derive(Clone)]
enum Value<C> {
    Ct(C),
    Plain(Arc<Vec<f64>>),
}

/// Run step `step` (0-based: it selects the momentum coefficient) of `plan`. `inputs` maps every
/// input name of the data contract to its ciphertext; the result maps every output name to its
/// ciphertext. `progress` is called after each instruction with (done, total).
pub fn run_step<B: Backend>(
    plan: &Plan,
    backend: &B,
    inputs: &HashMap<String, B::Ct>,
    step: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<HashMap<String, B::Ct>> {
    let program = &plan.program;
    let consts: Vec<Arc<Vec<f64>>> = program
        .consts
        .iter()
        .map(|c| {
            let mut v = vec![0.0; c.slots];
            for &(s, x) in &c.entries {
                if let Some(slot) = v.get_mut(s as usize) {
                    *slot = x;
                }
            }
            Arc::new(v)
        })
        .collect();
    let base_level = plan
        .data
        .inputs
        .iter()
        .filter(|b| matches!(b.source, henn_plan::plan::InputSource::State(_)))
        .filter_map(|b| inputs.get(&b.name).map(|c| backend.level(c)))
        .min()
        .unwrap_or(plan.params.levels() as usize);
    let momentum = plan.schedule.momentum.get(step).copied().unwrap_or(0.0);
    let mut regs: Vec<Option<Value<B::Ct>>> = vec![None; program.registers as usize];
    let mut outputs = HashMap::new();
    let total = program.instrs.len();
    for (index, ins) in program.instrs.iter().enumerate() {
        let fail = |reason: String| ExecError::Instr {
            index,
            op: ins.op.mnemonic(),
            reason,
        };
        let arg = |i: usize| -> Result<&Value<B::Ct>> {
            ins.args
                .get(i)
                .and_then(|r| regs.get(r.0 as usize))
                .and_then(Option::as_ref)
                .ok_or_else(|| fail(format!("operand {i} is not available")))
        };
        let ct = |i: usize| -> Result<&B::Ct> {
            match arg(i)? {
                Value::Ct(c) => Ok(c),
                Value::Plain(_) => Err(fail(format!("operand {i} is a plaintext"))),
            }
        };
        let plain = |i: usize| -> Result<&Arc<Vec<f64>>> {
            match arg(i)? {
                Value::Plain(p) => Ok(p),
                Value::Ct(_) => Err(fail(format!("operand {i} is a ciphertext"))),
            }
        };
        let result: Value<B::Ct> = match &ins.op {
            HeOp::Input { name } => Value::Ct(
                inputs
                    .get(name)
                    .cloned()
                    .ok_or_else(|| ExecError::MissingInput(name.clone()))?,
            ),
            HeOp::Const(id) => Value::Plain(
                consts
                    .get(id.0 as usize)
                    .cloned()
                    .ok_or_else(|| fail("no such constant".into()))?,
            ),
            HeOp::AddCC => Value::Ct(backend.add(ct(0)?, ct(1)?)?),
            HeOp::SubCC => Value::Ct(backend.sub(ct(0)?, ct(1)?)?),
            HeOp::AddCP => Value::Ct(backend.add_plain(ct(0)?, plain(1)?)?),
            HeOp::SubCP => Value::Ct(backend.sub_plain(ct(0)?, plain(1)?)?),
            HeOp::Neg => Value::Ct(backend.neg(ct(0)?)?),
            HeOp::AddScalar(c) => Value::Ct(backend.add_scalar(ct(0)?, *c)?),
            HeOp::MulCC => Value::Ct(backend.mul(ct(0)?, ct(1)?)?),
            HeOp::MulCP => Value::Ct(backend.mul_plain(ct(0)?, plain(1)?)?),
            HeOp::MulInt(n) => Value::Ct(backend.mul_int(ct(0)?, *n)?),
            HeOp::MulScalar(c) => Value::Ct(backend.mul_scalar(ct(0)?, *c)?),
            HeOp::MulMomentum => Value::Ct(backend.mul_scalar(ct(0)?, momentum)?),
            HeOp::Relin => Value::Ct(backend.relin(ct(0)?)?),
            HeOp::Rescale => Value::Ct(backend.rescale(ct(0)?)?),
            HeOp::LevelDrop { to } => {
                let a = ct(0)?;
                let target = base_level as i64 - *to as i64;
                if target < 0 {
                    return Err(ExecError::OutOfLevels {
                        needed: target,
                        available: backend.level(a),
                    });
                }
                if (target as usize) < backend.level(a) {
                    Value::Ct(backend.drop_to_level(a, target as usize)?)
                } else {
                    Value::Ct(a.clone())
                }
            }
            HeOp::Rotate(r) => Value::Ct(backend.rotate(ct(0)?, r.0)?),
            HeOp::Conjugate => Value::Ct(backend.conjugate(ct(0)?)?),
            HeOp::Bootstrap => Value::Ct(backend.bootstrap(ct(0)?)?),
            HeOp::Output { name } => {
                let c = ct(0)?.clone();
                outputs.insert(name.clone(), c.clone());
                Value::Ct(c)
            }
        };
        for f in &ins.free {
            if let Some(r) = regs.get_mut(f.0 as usize) {
                *r = None;
            }
        }
        if let Some(r) = regs.get_mut(ins.dst.0 as usize) {
            *r = Some(result);
        }
        progress(index + 1, total);
    }
    Ok(outputs)
}
