//! Typed errors of the tensor IR, the graph builder and the plaintext trainer.

/// One problem with a graph or a step built from a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TirError {
    #[error("value %{value} does not exist in this graph")]
    UnknownValue { value: usize },
    #[error("node %{node} ({op}): {reason}")]
    Shape {
        node: usize,
        op: String,
        reason: String,
    },
    #[error("node %{node} ({op}): expected operand roles {expected}, found {found}")]
    Operands {
        node: usize,
        op: String,
        expected: String,
        found: String,
    },
    #[error("the graph has a cycle through node %{node}")]
    Cycle { node: usize },
    #[error("slot {slot} is stored {count} times")]
    DuplicateStore { slot: String, count: usize },
    #[error("slot {slot} is stored with shape {stored} but loaded with shape {loaded}")]
    SlotShape {
        slot: String,
        loaded: String,
        stored: String,
    },
    #[error("node %{node}: a store's result cannot be used as an operand")]
    StoreUsed { node: usize },
    #[error("model: {0}")]
    Model(String),
    /// The interpreter refuses graphs that do not validate (it would otherwise index out of
    /// bounds on inconsistent shapes).
    #[error("cannot run an invalid graph: {0}")]
    Invalid(Box<ValidationErrors>),
}

/// All errors the validator found (never just the first).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} error(s) in the tensor IR:\n{}", .0.len(), render(.0))]
pub struct ValidationErrors(pub Vec<TirError>);

fn render(errors: &[TirError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Errors of the plaintext trainer and the weights files.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] henn_data::DataError),
    #[error(transparent)]
    Ir(#[from] TirError),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Weights(#[from] henn_contract::WeightsError),
    #[error("the model has no {what} data: give it on the command line")]
    NoData { what: &'static str },
    #[error("the model asks for {wanted} training samples, the training set has {available}")]
    NotEnoughSamples { wanted: usize, available: usize },
    #[error("{what} became NaN or infinite at step {step} (layer {layer}): training diverged")]
    Diverged {
        what: &'static str,
        step: u64,
        layer: String,
    },
    #[error(
        "layer `{layer}` has explicit coefficients (`poly([...])`), not a sigmoid fit (max |p − σ| = {max_fit_error:.3} on its interval): the exact-sigmoid model replaces only `sigmoid_fit` activations; `henn train --activation exact-all` replaces every polynomial, if this one stands for σ"
    )]
    NotASigmoidFit { layer: String, max_fit_error: f64 },
}

impl From<henn_contract::ContractError> for TrainError {
    fn from(e: henn_contract::ContractError) -> Self {
        match e {
            henn_contract::ContractError::NotEnoughSamples { wanted, available } => {
                TrainError::NotEnoughSamples { wanted, available }
            }
            other => TrainError::Ir(TirError::Model(other.to_string())),
        }
    }
}
