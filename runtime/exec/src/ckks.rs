//! The CKKS backend: runs plan operations on `henn-ckks` with evaluation keys only.
//!
//! Scale management: a product with a plaintext or a real constant is encoded so that, after the
//! rescale that follows it, the result's scale is exactly Δ again (the plaintext's scale is
//! `q_ℓ·Δ/scale(ct)`). Every mask in the training kernels therefore re-normalizes the scale, and
//! only ciphertext–ciphertext products drift (by `Δ/q_ℓ`, about 2^-18 with primes close to Δ). Where
//! two operands of an addition differ by such a drift, the second is reinterpreted at the first's
//! scale: a relative error of the size of the drift, far below the approximation error of the
//! polynomial activations. A larger mismatch is an error.

use std::sync::Arc;

use henn_ckks::bootstrap::{BootstrapCircuit, BootstrapSpec, EncapsulationKeys};
use henn_ckks::{Ciphertext, Context, Encoder, EvaluationKeys, Evaluator};

use crate::keys::ServerKeys;

use crate::backend::{Backend, ExecError, Result};

/// Largest relative scale difference an addition absorbs (see the module docs).
pub const SCALE_DRIFT_TOLERANCE: f64 = 1.0 / 1024.0;

/// A backend over one context and one set of evaluation keys (no secret key anywhere).
pub struct CkksBackend<'k> {
    ctx: Arc<Context>,
    encoder: Encoder,
    eval: Evaluator<'k>,
    /// The same keys the evaluator holds: the bootstrap's hoisted linear transforms use them directly.
    eval_keys: &'k EvaluationKeys,
    delta: f64,
    /// The encoded bootstrap circuit and its encapsulation keys, for plans that bootstrap.
    bootstrap: Option<(BootstrapCircuit, &'k EncapsulationKeys)>,
}

impl std::fmt::Debug for CkksBackend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksBackend")
            .field("delta", &self.delta)
            .finish_non_exhaustive()
    }
}

impl<'k> CkksBackend<'k> {
    pub fn new(ctx: &Arc<Context>, keys: &'k ServerKeys) -> CkksBackend<'k> {
        let delta = 2f64.powi(ctx.params().scale_bits() as i32);
        CkksBackend {
            ctx: ctx.clone(),
            encoder: Encoder::new(ctx),
            eval: Evaluator::new(ctx, &keys.eval),
            eval_keys: &keys.eval,
            delta,
            bootstrap: None,
        }
    }

    /// A backend that can also bootstrap: encodes the circuit `spec` describes once (its DFT
    /// diagonals), tuned for slots within `±message_bound`, and uses the encapsulation keys of
    /// `keys`.
    pub fn with_bootstrap(
        ctx: &Arc<Context>,
        keys: &'k ServerKeys,
        spec: &BootstrapSpec,
        message_bound: f64,
    ) -> Result<CkksBackend<'k>> {
        let encapsulation = keys.encapsulation.as_ref().ok_or_else(|| {
            ExecError::Backend("the plan bootstraps but the keys hold no encapsulation keys".into())
        })?;
        let circuit = BootstrapCircuit::new(ctx, spec)?.with_message_bound(message_bound)?;
        let mut backend = CkksBackend::new(ctx, keys);
        backend.bootstrap = Some((circuit, encapsulation));
        Ok(backend)
    }

    /// The backend a plan needs: with the bootstrap circuit if the plan bootstraps.
    pub fn for_plan(
        ctx: &Arc<Context>,
        keys: &'k ServerKeys,
        plan: &henn_plan::Plan,
    ) -> Result<CkksBackend<'k>> {
        match &plan.bootstrap {
            Some(b) => CkksBackend::with_bootstrap(ctx, keys, &b.spec, b.message_bound),
            None => Ok(CkksBackend::new(ctx, keys)),
        }
    }

    fn prime(&self, level: usize) -> Result<f64> {
        self.ctx
            .params()
            .q()
            .get(level)
            .map(|&q| q as f64)
            .ok_or(ExecError::OutOfLevels {
                needed: level as i64,
                available: self.ctx.max_level(),
            })
    }

    /// Both operands at the lower of their levels, the second at the first's scale.
    fn align(&self, a: &Ciphertext, b: &Ciphertext) -> Result<(Ciphertext, Ciphertext)> {
        let level = a.level().min(b.level());
        let a = if a.level() > level {
            self.eval.drop_to_level(a, level)?
        } else {
            a.clone()
        };
        let mut b = if b.level() > level {
            self.eval.drop_to_level(b, level)?
        } else {
            b.clone()
        };
        let drift = (a.scale() / b.scale() - 1.0).abs();
        if drift > SCALE_DRIFT_TOLERANCE {
            return Err(ExecError::Backend(format!(
                "operand scales 2^{:.3} and 2^{:.3} differ too much to add",
                a.scale().log2(),
                b.scale().log2()
            )));
        }
        b.set_scale(a.scale());
        Ok((a, b))
    }
}

impl Backend for CkksBackend<'_> {
    type Ct = Ciphertext;

    fn slots(&self) -> usize {
        self.ctx.slots()
    }
    fn level(&self, a: &Ciphertext) -> usize {
        a.level()
    }
    fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let (a, b) = self.align(a, b)?;
        Ok(self.eval.add(&a, &b)?)
    }
    fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let nb = self.eval.negate(b);
        let (x, y) = self.align(a, &nb)?;
        Ok(self.eval.add(&x, &y)?)
    }
    fn neg(&self, a: &Ciphertext) -> Result<Ciphertext> {
        Ok(self.eval.negate(a))
    }
    fn add_plain(&self, a: &Ciphertext, values: &[f64]) -> Result<Ciphertext> {
        let pt = self.encoder.encode_real(values, a.level(), a.scale())?;
        Ok(self.eval.add_plain(a, &pt)?)
    }
    fn sub_plain(&self, a: &Ciphertext, values: &[f64]) -> Result<Ciphertext> {
        let pt = self.encoder.encode_real(values, a.level(), a.scale())?;
        Ok(self.eval.sub_plain(a, &pt)?)
    }
    fn add_scalar(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        Ok(self.eval.add_const(a, c)?)
    }
    fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let level = a.level().min(b.level());
        let a = if a.level() > level {
            self.eval.drop_to_level(a, level)?
        } else {
            a.clone()
        };
        let b = if b.level() > level {
            self.eval.drop_to_level(b, level)?
        } else {
            b.clone()
        };
        Ok(self.eval.mul_no_relin(&a, &b)?)
    }
    fn mul_plain(&self, a: &Ciphertext, values: &[f64]) -> Result<Ciphertext> {
        let q = self.prime(a.level())?;
        let pt = self
            .encoder
            .encode_real(values, a.level(), q * self.delta / a.scale())?;
        Ok(self.eval.mul_plain(a, &pt)?)
    }
    fn mul_int(&self, a: &Ciphertext, n: i64) -> Result<Ciphertext> {
        Ok(self.eval.mul_int(a, n))
    }
    fn mul_scalar(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        // mul_const encodes its argument at q_ℓ; scaling the argument by Δ/scale(ct) makes the
        // product's scale q_ℓ·Δ, hence exactly Δ after the rescale.
        let q = self.prime(a.level())?;
        let mut out = self.eval.mul_const(a, c * self.delta / a.scale())?;
        out.set_scale(q * self.delta);
        Ok(out)
    }
    fn relin(&self, a: &Ciphertext) -> Result<Ciphertext> {
        Ok(self.eval.relinearize(a)?)
    }
    fn rescale(&self, a: &Ciphertext) -> Result<Ciphertext> {
        Ok(self.eval.rescale(a)?)
    }
    fn drop_to_level(&self, a: &Ciphertext, level: usize) -> Result<Ciphertext> {
        Ok(self.eval.drop_to_level(a, level)?)
    }
    fn rotate(&self, a: &Ciphertext, step: i64) -> Result<Ciphertext> {
        Ok(self.eval.rotate(a, step)?)
    }
    fn conjugate(&self, a: &Ciphertext) -> Result<Ciphertext> {
        Ok(self.eval.conjugate(a)?)
    }
    fn bootstrap(&self, a: &Ciphertext) -> Result<Ciphertext> {
        let (circuit, keys) = self.bootstrap.as_ref().ok_or_else(|| {
            ExecError::Backend("this backend was built without a bootstrap circuit".into())
        })?;
        Ok(circuit.bootstrap_with_keys(&self.ctx, self.eval_keys, a, keys)?)
    }
}
