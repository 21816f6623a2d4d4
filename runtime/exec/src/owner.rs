//! The data owner's side: the CKKS context a plan asks for, keys for exactly its manifest,
//! packing data and state into slot vectors per the plan's data contract, and reading results back.
//! Packing is backend-independent (slot vectors), so the simulator and the CKKS backend are fed
//! identically.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use henn_ckks::{
    Context, KeyGenerator, Params, PublicKey, SecretKey, SecurityLevel, galois_element_conjugate,
    galois_element_for_step,
};
use henn_plan::Plan;
use henn_plan::plan::{InputSource, StateSlot};

use crate::backend::{ExecError, Result};
use crate::keys::{EvalKey, ServerKeys};

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

/// The owner's keys: the secret key never leaves this struct's owner.
#[derive(Debug)]
pub struct OwnerKeys {
    pub secret: SecretKey,
    pub public: PublicKey,
    /// What the owner hands to the server.
    pub server: ServerKeys,
}

/// Generate exactly the keys the plan's manifest names (OS-seeded CSPRNG), all in memory.
pub fn keygen(ctx: &Arc<Context>, plan: &Plan) -> Result<OwnerKeys> {
    keygen_with_progress(ctx, plan, |_, _| {})
}

/// [`keygen`], calling `progress(done, total)` after each evaluation key.
pub fn keygen_with_progress(
    ctx: &Arc<Context>,
    plan: &Plan,
    progress: impl FnMut(usize, usize),
) -> Result<OwnerKeys> {
    let mut server = ServerKeys::default();
    let (secret, public) = keygen_streaming(
        ctx,
        plan,
        |key| {
            server.insert(key);
            Ok(())
        },
        progress,
    )?;
    Ok(OwnerKeys {
        secret,
        public,
        server,
    })
}

/// Every Galois key the plan needs with the level it must reach (`None`: the top of the chain).
/// A bootstrapping plan's program never runs above its input level, so its rotation keys stop
/// there; the bootstrap's own keys reach the levels its transforms run at.
fn manifest_galois_keys(ctx: &Context, plan: &Plan) -> Result<BTreeMap<usize, Option<usize>>> {
    let program_level = plan.bootstrap.as_ref().map(|b| b.input_level as usize);
    let mut keys: BTreeMap<usize, Option<usize>> = BTreeMap::new();
    let mut need = |g: usize, level: Option<usize>| {
        if g == 1 {
            return;
        }
        let e = keys.entry(g).or_insert(level);
        *e = match (*e, level) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    };
    for r in &plan.keys.rotations {
        need(galois_element_for_step(ctx, r.step as i64), program_level);
    }
    if plan.keys.conjugation {
        need(galois_element_conjugate(ctx), program_level);
    }
    if let Some(b) = &plan.bootstrap {
        let levels: BTreeMap<usize, usize> = b.spec.galois_key_levels(ctx)?.into_iter().collect();
        let manifest = b
            .rotations
            .iter()
            .map(|&s| galois_element_for_step(ctx, s as i64))
            .chain([galois_element_conjugate(ctx)]);
        for g in manifest {
            need(g, Some(levels.get(&g).copied().unwrap_or(ctx.max_level())));
        }
    }
    Ok(keys)
}

/// How many evaluation keys [`keygen_streaming`] produces for `plan`.
pub fn eval_key_count(ctx: &Context, plan: &Plan) -> Result<usize> {
    let bootstrap = usize::from(plan.bootstrap.is_some());
    Ok(1 + manifest_galois_keys(ctx, plan)?.len() + bootstrap)
}

/// Generate the secret and public keys and, one at a time, every evaluation key the plan's
/// manifest names, handing each to `sink` (which writes or collects it) before the next is made:
/// at N = 2^17 the whole key set is many GiB, so the key-file writer never holds more than one.
pub fn keygen_streaming(
    ctx: &Arc<Context>,
    plan: &Plan,
    mut sink: impl FnMut(EvalKey) -> Result<()>,
    mut progress: impl FnMut(usize, usize),
) -> Result<(SecretKey, PublicKey)> {
    let mut kg = KeyGenerator::new(ctx)?;
    let secret = kg.gen_secret_key();
    let public = kg.gen_public_key(&secret);
    let galois = manifest_galois_keys(ctx, plan)?;
    let total = eval_key_count(ctx, plan)?;
    sink(EvalKey::Relin(kg.gen_relin_key(&secret, None)?))?;
    progress(1, total);
    let mut done = 1;
    for (g, level) in galois {
        sink(EvalKey::Galois(kg.gen_galois_key(&secret, g, level)?))?;
        done += 1;
        progress(done, total);
    }
    if let Some(b) = &plan.bootstrap {
        sink(EvalKey::Encapsulation(
            b.spec.gen_encapsulation_keys(&mut kg, &secret)?,
        ))?;
        progress(total, total);
    }
    Ok((secret, public))
}

/// The level the owner encrypts every input at: the top of the chain for a leveled plan, the
/// bootstrap's output level for a bootstrapping plan (the level every step starts at).
pub fn input_level(ctx: &Context, plan: &Plan) -> usize {
    plan.bootstrap
        .as_ref()
        .map(|b| b.input_level as usize)
        .unwrap_or(ctx.max_level())
}

/// One batch of training data: row-major features (`rows × features`, already scaled) and labels
/// (`rows × classes`; one-hot, or a 0/1 column for a single class).
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    pub features: &'a [f64],
    pub labels: &'a [f64],
}

/// Training state by slot, each row-major with the plan's shape for it.
pub type State = BTreeMap<StateSlot, Vec<f64>>;

/// The slot vectors of the batch inputs of one step.
pub fn pack_batch(plan: &Plan, batch: &Batch<'_>) -> Result<HashMap<String, Vec<f64>>> {
    let d = &plan.data;
    let mut out = HashMap::new();
    for b in &d.inputs {
        let (data, width, first_row, rows) = match b.source {
            InputSource::Features {
                first_row, rows, ..
            } => (batch.features, d.features, first_row, rows),
            InputSource::Labels {
                first_row, rows, ..
            } => (batch.labels, d.classes, first_row, rows),
            InputSource::State(_) => continue,
        };
        let block = data
            .get(first_row * width..(first_row + rows) * width)
            .ok_or_else(|| ExecError::Backend(format!("batch too small for input `{}`", b.name)))?;
        out.insert(b.name.clone(), b.layout.pack(block));
    }
    Ok(out)
}

/// The slot vectors of the state inputs. A state tensor split into row blocks is packed block by
/// block: each input takes the rows its layout names (`first_row .. first_row + rows`).
pub fn pack_state(plan: &Plan, state: &State) -> Result<HashMap<String, Vec<f64>>> {
    let mut out = HashMap::new();
    for b in &plan.data.inputs {
        let Some(slot) = b.state_slot() else {
            continue;
        };
        let values = state
            .get(&slot)
            .ok_or_else(|| ExecError::MissingInput(format!("state {slot}")))?;
        let rows = plan.data.state_rows(slot).unwrap_or(0);
        if values.len() != rows * b.layout.cols {
            return Err(ExecError::Backend(format!(
                "state {slot} has {} values, the plan expects {rows}×{}",
                values.len(),
                b.layout.cols
            )));
        }
        let packed = b.layout.pack_block(values).ok_or_else(|| {
            ExecError::Backend(format!(
                "state {slot}: rows {}..{} are outside the tensor",
                b.layout.first_row,
                b.layout.first_row + b.layout.rows
            ))
        })?;
        out.insert(b.name.clone(), packed);
    }
    Ok(out)
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

/// Read the new state out of a step's output slot vectors, reassembling tensors split into row
/// blocks (each output's layout says which rows it holds).
pub fn unpack_state(plan: &Plan, outputs: &HashMap<String, Vec<f64>>) -> Result<State> {
    let mut state = State::new();
    for o in &plan.data.outputs {
        let slots = outputs
            .get(&o.name)
            .ok_or_else(|| ExecError::MissingInput(o.name.clone()))?;
        if slots.len() != o.layout.slots {
            return Err(ExecError::Backend(format!(
                "output {} has {} slots, the plan expects {}",
                o.name,
                slots.len(),
                o.layout.slots
            )));
        }
        let rows = plan
            .data
            .state_rows(o.slot)
            .ok_or_else(|| ExecError::Backend(format!("output {} has no state input", o.name)))?;
        let cols = o.layout.cols;
        let tensor = state
            .entry(o.slot)
            .or_insert_with(|| vec![0.0; rows * cols]);
        let block = o.layout.unpack(slots);
        let start = o.layout.first_row * cols;
        let dst = tensor.get_mut(start..start + block.len()).ok_or_else(|| {
            ExecError::Backend(format!(
                "output {} holds rows past the {rows}×{cols} state {}",
                o.name, o.slot
            ))
        })?;
        dst.copy_from_slice(&block);
    }
    Ok(state)
}
