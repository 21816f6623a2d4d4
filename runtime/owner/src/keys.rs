//! Key generation for exactly a plan's manifest, from the OS-seeded CSPRNG.

use std::collections::BTreeMap;
use std::sync::Arc;

use henn_ckks::{
    Context, KeyGenerator, PublicKey, SecretKey, galois_element_conjugate, galois_element_for_step,
};
use henn_plan::Plan;
use henn_runtime::backend::Result;
use henn_runtime::keys::{EvalKey, ServerKeys};

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
    // An inference plan runs from its input level down: its keys stop there too.
    let program_level = plan
        .bootstrap
        .as_ref()
        .map(|b| b.input_level as usize)
        .or(plan.infer().map(|s| s.input_level as usize));
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
    eval_keys_streaming(ctx, &mut kg, plan, &secret, &mut sink, &mut progress)?;
    Ok((secret, public))
}

/// The evaluation keys of `plan`'s manifest for an existing secret key (same key set), one at a
/// time into `sink`: an inference plan on a training plan's trained state gets its keys this way,
/// so the trained state, the queries and the keys all belong to one key generation.
pub fn eval_keys_for_secret(
    ctx: &Arc<Context>,
    plan: &Plan,
    secret: &SecretKey,
    mut sink: impl FnMut(EvalKey) -> Result<()>,
) -> Result<()> {
    let mut kg = KeyGenerator::new(ctx)?;
    eval_keys_streaming(ctx, &mut kg, plan, secret, &mut sink, &mut |_, _| {})
}

fn eval_keys_streaming(
    ctx: &Arc<Context>,
    kg: &mut KeyGenerator,
    plan: &Plan,
    secret: &SecretKey,
    sink: &mut impl FnMut(EvalKey) -> Result<()>,
    progress: &mut impl FnMut(usize, usize),
) -> Result<()> {
    let galois = manifest_galois_keys(ctx, plan)?;
    let total = eval_key_count(ctx, plan)?;
    sink(EvalKey::Relin(kg.gen_relin_key(secret, None)?))?;
    progress(1, total);
    let mut done = 1;
    for (g, level) in galois {
        sink(EvalKey::Galois(kg.gen_galois_key(secret, g, level)?))?;
        done += 1;
        progress(done, total);
    }
    if let Some(b) = &plan.bootstrap {
        sink(EvalKey::Encapsulation(
            b.spec.gen_encapsulation_keys(kg, secret)?,
        ))?;
        progress(total, total);
    }
    Ok(())
}
