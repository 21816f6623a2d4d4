//! The slot simulator backend: plain `f64` slot vectors that track the level exactly as the CKKS
//! backend would, with an optional noise model, so a plan can be checked (and its error predicted)
//! without encryption.

use std::cell::RefCell;

use henn_ckks::bootstrap::SparseOutput;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::backend::{Backend, ExecError, Result};

/// A simulated ciphertext.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCt {
    pub values: Vec<f64>,
    pub level: usize,
    /// 1 or 2 (between a product and its relinearization).
    pub degree: u8,
}

/// CKKS-like error: Gaussian noise with standard deviation `fresh` on every input and `per_op`
/// added by every rescale and key switch (in units of the slot values), and the scale drift the
/// CKKS backend absorbs at additions (operands whose scales differ by up to `drift`, relative, are
/// added as if equal): the second operand of every addition is scaled by 1 ± `drift`.
#[derive(Debug, Clone, Copy)]
pub struct NoiseModel {
    pub fresh: f64,
    pub per_op: f64,
    pub drift: f64,
}

impl NoiseModel {
    /// A rough model of this backend at scale 2^scale_bits and ring degree 2^log_n: rounding and
    /// key-switching noise of a few multiples of √N / Δ.
    pub fn for_params(log_n: u32, scale_bits: u32) -> NoiseModel {
        let unit = ((1u64 << log_n) as f64).sqrt() / 2f64.powi(scale_bits as i32);
        NoiseModel {
            fresh: 4.0 * unit,
            per_op: 2.0 * unit,
            drift: 0.0,
        }
    }

    /// The model for a plan's chain: noise from the ring size and scale, and the largest relative
    /// scale drift two products can accumulate, `2·max |q_i/Δ − 1|` over the scale primes.
    pub fn for_plan(plan: &henn_plan::Plan) -> NoiseModel {
        let params = &plan.params;
        let delta = 2f64.powi(params.scale_bits as i32);
        // Only the primes the program rescales by drift its scales: below a bootstrapping plan's
        // input level (the bootstrap's own primes are the bootstrap's business).
        let top = plan
            .bootstrap
            .as_ref()
            .map_or(params.q.len(), |b| b.input_level as usize + 1);
        let worst = params
            .q
            .iter()
            .take(top)
            .skip(1)
            .map(|&q| (q as f64 / delta - 1.0).abs())
            .fold(0.0, f64::max);
        NoiseModel {
            drift: 2.0 * worst,
            ..NoiseModel::for_params(params.log_n, params.scale_bits)
        }
    }
}

/// The simulator.
#[derive(Debug)]
pub struct SlotSim {
    slots: usize,
    noise: Option<(NoiseModel, RefCell<ChaCha8Rng>)>,
    /// `(output level, error σ)` of a bootstrap, for plans that bootstrap.
    bootstrap: Option<(usize, f64)>,
    /// A sparse-slot circuit's slot count and what it leaves beyond it (`None`: all slots).
    sparse: Option<(usize, SparseOutput)>,
}

impl SlotSim {
    /// An exact simulator (no noise).
    pub fn new(slots: usize) -> SlotSim {
        SlotSim {
            slots,
            noise: None,
            bootstrap: None,
            sparse: None,
        }
    }

    /// A simulator that adds noise from the model (a deterministic, seeded generator: the
    /// simulator never touches secrets, so no CSPRNG is needed).
    pub fn with_noise(slots: usize, model: NoiseModel, seed: u64) -> SlotSim {
        SlotSim {
            slots,
            noise: Some((model, RefCell::new(ChaCha8Rng::seed_from_u64(seed)))),
            bootstrap: None,
            sparse: None,
        }
    }

    /// A fresh ciphertext at `level`.
    /// Bootstraps return to `level`; with noise on, each adds Gaussian error of `sigma` per slot
    /// (the bootstrap's precision, e.g. `2^-precision_bits`).
    pub fn with_bootstrap(mut self, level: usize, sigma: f64) -> SlotSim {
        self.bootstrap = Some((level, sigma));
        self
    }

    /// The bootstrap of a plan: its input level, its error, and its slot window.
    pub fn with_plan_bootstrap(self, b: &henn_plan::bootstrap::BootstrapPlan) -> Result<SlotSim> {
        let slots = b
            .spec
            .slots_for(2 * self.slots)
            .map_err(|e| ExecError::Backend(e.to_string()))?;
        let sim = self.with_bootstrap(b.input_level as usize, b.error_sigma());
        Ok(if slots < sim.slots {
            sim.with_sparse_bootstrap(slots, b.spec.sparse_output)
        } else {
            sim
        })
    }

    /// Bootstraps refresh only the first `slots` slots and fill the rest as a sparse-slot
    /// circuit does (zeros, or the block repeated): the simulator then checks that the program
    /// reads nothing the circuit does not return.
    pub fn with_sparse_bootstrap(mut self, slots: usize, fill: SparseOutput) -> SlotSim {
        self.sparse = Some((slots, fill));
        self
    }

    pub fn encrypt(&self, values: &[f64], level: usize) -> SimCt {
        let mut values = values.to_vec();
        values.resize(self.slots, 0.0);
        let mut ct = SimCt {
            values,
            level,
            degree: 1,
        };
        if let Some((m, _)) = &self.noise {
            self.perturb(&mut ct, m.fresh);
        }
        ct
    }

    fn perturb(&self, ct: &mut SimCt, sigma: f64) {
        if let Some((_, rng)) = &self.noise {
            let mut rng = rng.borrow_mut();
            for v in &mut ct.values {
                // Box–Muller from two uniforms.
                let u1 = (rng.next_u64() as f64 + 1.0) / (u64::MAX as f64 + 2.0);
                let u2 = rng.next_u64() as f64 / u64::MAX as f64;
                *v += sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            }
        }
    }

    fn op_noise(&self, mut ct: SimCt) -> SimCt {
        if let Some((m, _)) = &self.noise {
            let s = m.per_op;
            self.perturb(&mut ct, s);
        }
        ct
    }

    fn aligned(&self, a: &SimCt, b: &SimCt) -> (usize, u8) {
        (a.level.min(b.level), a.degree.max(b.degree))
    }

    /// `b` as the CKKS backend may see it in an addition: off by the scale drift.
    fn drifted(&self, b: &SimCt) -> SimCt {
        match &self.noise {
            Some((m, rng)) if m.drift > 0.0 => {
                let sign = if rng.borrow_mut().next_u32() & 1 == 0 {
                    1.0
                } else {
                    -1.0
                };
                self.map(b, |x| x * (1.0 + sign * m.drift))
            }
            _ => b.clone(),
        }
    }

    fn zip(&self, a: &SimCt, b: &SimCt, f: impl Fn(f64, f64) -> f64) -> SimCt {
        let (level, degree) = self.aligned(a, b);
        SimCt {
            values: a
                .values
                .iter()
                .zip(&b.values)
                .map(|(&x, &y)| f(x, y))
                .collect(),
            level,
            degree,
        }
    }

    fn map(&self, a: &SimCt, f: impl Fn(f64) -> f64) -> SimCt {
        SimCt {
            values: a.values.iter().map(|&x| f(x)).collect(),
            ..a.clone()
        }
    }
}

impl Backend for SlotSim {
    type Ct = SimCt;

    fn slots(&self) -> usize {
        self.slots
    }
    fn level(&self, a: &SimCt) -> usize {
        a.level
    }
    fn add(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        Ok(self.zip(a, &self.drifted(b), |x, y| x + y))
    }
    fn sub(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        Ok(self.zip(a, &self.drifted(b), |x, y| x - y))
    }
    fn neg(&self, a: &SimCt) -> Result<SimCt> {
        Ok(self.map(a, |x| -x))
    }
    fn add_plain(&self, a: &SimCt, values: &[f64]) -> Result<SimCt> {
        Ok(SimCt {
            values: a.values.iter().zip(values).map(|(x, y)| x + y).collect(),
            ..a.clone()
        })
    }
    fn sub_plain(&self, a: &SimCt, values: &[f64]) -> Result<SimCt> {
        Ok(SimCt {
            values: a.values.iter().zip(values).map(|(x, y)| x - y).collect(),
            ..a.clone()
        })
    }
    fn add_scalar(&self, a: &SimCt, c: f64) -> Result<SimCt> {
        Ok(self.map(a, |x| x + c))
    }
    fn mul(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        if a.degree != 1 || b.degree != 1 {
            return Err(ExecError::Backend(
                "product of an unrelinearized ciphertext".into(),
            ));
        }
        let mut out = self.zip(a, b, |x, y| x * y);
        out.degree = 2;
        Ok(out)
    }
    fn mul_plain(&self, a: &SimCt, values: &[f64]) -> Result<SimCt> {
        Ok(SimCt {
            values: a.values.iter().zip(values).map(|(x, y)| x * y).collect(),
            ..a.clone()
        })
    }
    fn mul_int(&self, a: &SimCt, n: i64) -> Result<SimCt> {
        Ok(self.map(a, |x| x * n as f64))
    }
    fn mul_scalar(&self, a: &SimCt, c: f64) -> Result<SimCt> {
        Ok(self.map(a, |x| x * c))
    }
    fn relin(&self, a: &SimCt) -> Result<SimCt> {
        Ok(self.op_noise(SimCt {
            degree: 1,
            ..a.clone()
        }))
    }
    fn rescale(&self, a: &SimCt) -> Result<SimCt> {
        if a.level == 0 {
            return Err(ExecError::OutOfLevels {
                needed: -1,
                available: 0,
            });
        }
        Ok(self.op_noise(SimCt {
            level: a.level - 1,
            ..a.clone()
        }))
    }
    fn drop_to_level(&self, a: &SimCt, level: usize) -> Result<SimCt> {
        Ok(SimCt {
            level: level.min(a.level),
            ..a.clone()
        })
    }
    fn rotate(&self, a: &SimCt, step: i64) -> Result<SimCt> {
        let n = a.values.len() as i64;
        let k = step.rem_euclid(n.max(1)) as usize;
        let mut values = a.values[k..].to_vec();
        values.extend_from_slice(&a.values[..k]);
        Ok(self.op_noise(SimCt {
            values,
            ..a.clone()
        }))
    }
    fn conjugate(&self, a: &SimCt) -> Result<SimCt> {
        Ok(self.op_noise(a.clone()))
    }
    fn bootstrap(&self, a: &SimCt) -> Result<SimCt> {
        let (level, sigma) = self.bootstrap.ok_or_else(|| {
            ExecError::Backend("this simulator was built without a bootstrap level".into())
        })?;
        if a.degree != 1 {
            return Err(ExecError::Backend(
                "bootstrap of an unrelinearized ciphertext".into(),
            ));
        }
        let mut out = SimCt { level, ..a.clone() };
        if let Some((n, fill)) = self.sparse
            && n > 0
            && n < out.values.len()
        {
            match fill {
                SparseOutput::Zeroed => out.values[n..].fill(0.0),
                SparseOutput::Periodic => {
                    for i in n..out.values.len() {
                        out.values[i] = out.values[i % n];
                    }
                }
            }
        }
        self.perturb(&mut out, sigma);
        Ok(out)
    }
}
