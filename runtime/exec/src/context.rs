//! What both roles derive from a plan alone: its CKKS context, the level fresh inputs are
//! encrypted at, and how a step's outputs feed the next step's state inputs.

use std::sync::Arc;

use henn_ckks::{Context, Params, SecurityLevel};
use henn_plan::Plan;

use crate::backend::{ExecError, Result};

/// The CKKS context of a plan, rebuilt from its primes and re-checked against the security table
/// it claims (an `"insecure"` plan is only accepted as the explicitly named toy setting).
pub fn context_for(plan: &Plan) -> Result<Arc<Context>> {
    let p = &plan.params;
    let level = match p.security.as_str() {
        "128" => SecurityLevel::Classic128,
        "192" => SecurityLevel::Classic192,
        "256" => SecurityLevel::Classic256,
        "insecure" => SecurityLevel::InsecureUnchecked,
        other => {
            return Err(ExecError::Backend(format!(
                "unknown security claim `{other}`"
            )));
        }
    };
    let params = Params::from_primes(
        p.log_n,
        p.q.clone(),
        p.p.clone(),
        p.dnum,
        p.scale_bits,
        level,
    )?;
    Ok(Context::new(params)?)
}

/// The level the owner encrypts every input at: the top of the chain for a leveled plan, the
/// bootstrap's output level for a bootstrapping plan (the level every step starts at), and an
/// inference plan's input level (where the trained state arrives).
pub fn input_level(ctx: &Context, plan: &Plan) -> usize {
    if let Some(spec) = plan.infer() {
        return (spec.input_level as usize).min(ctx.max_level());
    }
    plan.bootstrap
        .as_ref()
        .map(|b| b.input_level as usize)
        .unwrap_or(ctx.max_level())
}

/// For every output, the state input it replaces in the next step: (output name, input name).
pub fn next_state_inputs(plan: &Plan) -> Vec<(String, String)> {
    plan.data
        .outputs
        .iter()
        .filter_map(|o| {
            plan.data
                .input_replaced_by(o)
                .map(|i| (o.name.clone(), i.name.clone()))
        })
        .collect()
}
