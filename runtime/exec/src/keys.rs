//! The keys the server holds: evaluation keys (relinearization and Galois keys) plus named
//! switching keys (e.g. the bootstrap's encapsulation keys). None of them is secret-key material.

use std::collections::BTreeMap;

use henn_ckks::bootstrap::EncapsulationKeys;
use henn_ckks::{EvaluationKeys, GaloisKey, SwitchingKey};

/// Everything the server role needs to run a plan.
#[derive(Debug, Clone, Default)]
pub struct ServerKeys {
    pub eval: EvaluationKeys,
    /// Switching keys other than relinearization and rotations, by the name the plan gives them.
    pub named: BTreeMap<String, SwitchingKey>,
    /// Bootstrapping's sparse-secret encapsulation keys (dense → sparse → dense), if the plan
    /// bootstraps.
    pub encapsulation: Option<EncapsulationKeys>,
}

impl ServerKeys {
    /// Bytes of key material in memory.
    pub fn byte_size(&self) -> usize {
        self.eval.byte_size()
            + self
                .named
                .values()
                .map(SwitchingKey::byte_size)
                .sum::<usize>()
    }
}

/// One evaluation key, as key generation produces it and the key file stores it (one at a time).
#[derive(Debug, Clone)]
pub enum EvalKey {
    Relin(SwitchingKey),
    Galois(GaloisKey),
    Named(String, SwitchingKey),
    Encapsulation(EncapsulationKeys),
}

impl ServerKeys {
    /// Add one key.
    pub fn insert(&mut self, key: EvalKey) {
        match key {
            EvalKey::Relin(k) => self.eval.set_relin(k),
            EvalKey::Galois(k) => self.eval.insert_galois(k),
            EvalKey::Named(name, k) => {
                self.named.insert(name, k);
            }
            EvalKey::Encapsulation(k) => self.encapsulation = Some(k),
        }
    }
}
