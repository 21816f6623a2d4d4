//! Compile errors blamed on the `.henn` construct responsible ([`henn_sema::Located`]), so that
//! `henn check` and `henn compile` print them with a span, a stable code and a help line.

use henn_sema::{Bootstrapping, Code, Construct, Located, Model, TrainLength};

use super::CompileError;

/// `n` bytes in MiB, for messages.
fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
}

/// How the model's length is written (`2 epochs`, `500 iterations`).
fn length(model: &Model) -> String {
    match model.schedule.length {
        TrainLength::Epochs(e) => format!("{e} epochs"),
        TrainLength::Iterations(k) => format!("{k} iterations"),
    }
}

impl CompileError {
    /// This error as a problem of `model`'s source: the construct to point at, what to say
    /// there, and how to fix it.
    pub fn locate(&self, model: &Model) -> Located {
        match self {
            CompileError::UnknownSampleCount(epochs) => Located::new(
                Code::SampleCountUnknown,
                format!(
                    "the model trains for {epochs} epochs but does not say how many samples it has"
                ),
                Construct::Length,
                format!("{epochs} epochs of how many batches?"),
            )
            .related(Construct::Data, "no `samples` and no `train` data here")
            .help(
                "state `samples = N` in `data`, name the training data (`train = \"FILE\"`), or \
                 train for `iterations`",
            ),
            CompileError::TooManySteps(steps) => Located::new(
                Code::TooManySteps,
                self.to_string(),
                Construct::Length,
                format!("{} make {steps} steps", length(model)),
            )
            .related(
                Construct::Batch,
                format!("batches of {}", model.schedule.batch_size),
            )
            .help("train for fewer epochs or iterations, or in larger batches"),
            CompileError::TooDeep {
                model: name,
                needed,
                steps,
                per_step,
                available,
                log_n,
                security,
                hint,
            } => {
                let message = format!(
                    "`{name}` needs {needed} levels ({steps} steps × {per_step} per step), but the \
                     largest {security}-bit chain holds {available} (at N = 2^{log_n})"
                );
                let located = match model.encryption.bootstrapping {
                    Bootstrapping::Off => Located::new(
                        Code::TooDeep,
                        message,
                        Construct::Bootstrapping,
                        "bootstrapping is off",
                    )
                    .related(
                        Construct::Length,
                        format!("{} make {steps} steps", length(model)),
                    ),
                    Bootstrapping::Auto | Bootstrapping::On => Located::new(
                        Code::TooDeep,
                        message,
                        Construct::Length,
                        format!("{steps} steps × {per_step} levels"),
                    )
                    .related(Construct::Ring, format!("at most {available} levels here")),
                };
                located.help(*hint)
            }
            CompileError::TooDeepEvenBootstrapped { leveled, reason } => {
                leveled.locate(model).note(format!(
                    "a bootstrapping plan does not exist either: {reason}"
                ))
            }
            CompileError::KeyMemory { needed, cap } => Located::new(
                Code::KeyMemoryExceeded,
                format!(
                    "the plan needs {} of evaluation keys, over the `key_memory` cap of {}",
                    mib(*needed),
                    mib(*cap)
                ),
                Construct::KeyMemory,
                format!("a cap of {}", mib(*cap)),
            )
            .help(format!(
                "raise `key_memory` to at least {needed} B, or shrink the network or the ring"
            )),
            CompileError::NoRing(why) => Located::new(
                Code::NoPlan,
                self.to_string(),
                Construct::Ring,
                "no plan at this ring".to_owned(),
            )
            .note(format!("the ring search said: {why}"))
            .help("leave the ring to the compiler (`ring = auto`) or choose a larger one"),
            CompileError::Boot(_) => Located::new(
                Code::NoPlan,
                self.to_string(),
                Construct::Bootstrapping,
                "no bootstrapping plan".to_owned(),
            )
            .help("use `bootstrapping = auto` (leveled when the chain holds) or a larger ring"),
            CompileError::Lower(_) => Located::new(
                Code::NoPlan,
                self.to_string(),
                Construct::Ring,
                "the step cannot be packed at this ring".to_owned(),
            )
            .help("leave the ring to the compiler (`ring = auto`) or choose a larger one"),
            CompileError::Tir(_) => Located::new(
                Code::NoPlan,
                self.to_string(),
                Construct::Network,
                "this network".to_owned(),
            ),
            CompileError::Invalid(_) => Located::new(
                Code::NoPlan,
                self.to_string(),
                Construct::Model,
                "this model".to_owned(),
            )
            .note("an invalid lowered step is a compiler bug; please report it"),
            CompileError::InferenceLevels { .. } | CompileError::InferenceMismatch(_) => {
                Located::new(
                    Code::NoPlan,
                    self.to_string(),
                    Construct::Model,
                    "this model".to_owned(),
                )
            }
        }
    }
}
