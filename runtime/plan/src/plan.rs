//! The plan itself: parameters, key manifest, data contract, the instruction stream with its loop
//! structure, and a content hash.

use serde::{Deserialize, Serialize};

use crate::op::HeOp;
use crate::types::{Layout, ValueType};

/// Format version written into every plan. Readers accept exactly the versions they know
/// (`spec/plan-format.md` states the compatibility rule). Version 2: layouts carry `first_row` and
/// outputs their layout, so a state tensor may span several ciphertexts (weight-row blocks).
/// Version 3: the typed owner contract replaces the source model the plan used to carry.
/// Version 4: the owner contract carries the feature bound the plan's ranges assume.
/// Version 5: the plan's `kind` (training, or inference with encrypted or plaintext weights) and
/// the data contract's `predictions` (an inference plan's class-score outputs).
/// Version 6: the bootstrap section names its bootstraps (`sites`: what each refreshes, its
/// slots) and how they were placed beside the greedy baseline (`placement`).
pub const FORMAT_VERSION: u32 = 6;

/// A compiled training job, or an inference job over a trained model (`kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub model_name: String,
    /// What the program does: a training step, or the forward pass of an inference job.
    pub kind: PlanKind,
    pub params: ParamsSpec,
    pub keys: KeyManifest,
    pub data: DataContract,
    pub program: Program,
    pub schedule: LoopSchedule,
    /// How the plan bootstraps; `None` for a leveled plan (the chain holds every step).
    #[serde(default)]
    pub bootstrap: Option<crate::bootstrap::BootstrapPlan>,
    /// What the data owner must do to take part: features, scaling, labels, initialisation,
    /// batch order, test treatment. The owner's tools read it; the server never needs it.
    pub owner: henn_contract::OwnerContract,
}

/// What a plan's program computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlanKind {
    /// One training step, repeated by the schedule: state in, new state out.
    Train,
    /// The forward pass alone for a batch of encrypted queries: the state inputs (weights and
    /// biases) are read, never written; the outputs are the class scores (`data.predictions`).
    Infer(InferSpec),
}

/// An inference plan's weights and levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferSpec {
    pub weights: WeightSource,
    /// The level the queries are encrypted at, and the lowest level the weights may arrive at:
    /// the program needs `schedule.depth_per_step` levels below it.
    pub input_level: u32,
    /// What the scores are: the last layer's pre-activations (`Logits`; the owner's arg-max of
    /// them is the arg-max of the monotone activation) or its activations.
    pub scores: ScoreKind,
}

/// Where an inference plan's weights come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WeightSource {
    /// The trained state a training plan's server wrote, never decrypted: the bundle is bound to
    /// `train_plan` (that plan's content hash) and to the key set of the queries. The inference
    /// plan has the training plan's parameters (ring, chain, special primes, `dnum`), so the
    /// ciphertexts are usable as they are.
    Encrypted { train_plan: [u8; 32] },
    /// Weights the server may see (a weights file), encrypted under the key set's public key by
    /// whoever holds them into a bundle bound to this plan.
    Plaintext,
}

/// What an inference plan's class scores are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoreKind {
    Logits,
    Activations,
}

impl Plan {
    /// The inference spec, for an inference plan.
    pub fn infer(&self) -> Option<&InferSpec> {
        match &self.kind {
            PlanKind::Infer(spec) => Some(spec),
            PlanKind::Train => None,
        }
    }
}

/// The CKKS parameters, with the primes written out so the runtime rebuilds exactly this chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamsSpec {
    pub log_n: u32,
    /// The Q chain, first prime first.
    pub q: Vec<u64>,
    /// The special primes of hybrid key switching.
    pub p: Vec<u64>,
    pub dnum: usize,
    pub scale_bits: u32,
    /// `"128"`, `"192"`, `"256"`, or `"insecure"` for toy rings (tests only).
    pub security: String,
    pub log2_qp: f64,
}

impl ParamsSpec {
    /// Levels above the last prime (rescales available).
    pub fn levels(&self) -> u32 {
        self.q.len().saturating_sub(1) as u32
    }
    pub fn slots(&self) -> usize {
        1usize << (self.log_n - 1)
    }
}

/// Exactly the evaluation keys the program uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyManifest {
    pub relin: bool,
    pub conjugation: bool,
    pub bootstrap: bool,
    /// Rotation steps (normalized into `0..slots`), each with the deepest depth it is used at (a
    /// key may be generated at the level of its first use).
    pub rotations: Vec<RotationKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RotationKey {
    pub step: usize,
    /// The shallowest depth the step is used at: the key needs the chain down to this level.
    pub min_depth: u32,
}

/// What the data owner needs to pack data and state without the compiler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataContract {
    pub features: usize,
    pub classes: usize,
    /// Samples per training step.
    pub batch_size: usize,
    pub stride: usize,
    pub rows_per_ct: usize,
    /// Samples per ciphertext block of a batch.
    pub blocks: Vec<usize>,
    /// Ciphertext inputs of one step, in program order.
    pub inputs: Vec<InputBinding>,
    /// Ciphertext outputs of one step: the new training state.
    pub outputs: Vec<OutputBinding>,
    /// The training state (weights, biases, momentum), one entry per state ciphertext: a tensor
    /// split into row blocks has one entry per block.
    pub state: Vec<StateSpec>,
    /// An inference plan's outputs: the class scores of every block of queries (empty in a
    /// training plan).
    pub predictions: Vec<PredictionBinding>,
}

/// One ciphertext of class scores: rows `layout.first_row .. + layout.rows` of the batch of
/// queries (block `block`), `classes` columns, read back by the owner with `layout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionBinding {
    pub name: String,
    pub block: usize,
    pub layout: Layout,
}

/// What one ciphertext input holds. For a state input, `layout.first_row` and `layout.rows` say
/// which rows of the state tensor this ciphertext carries (all of them unless the tensor is split
/// into row blocks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputBinding {
    pub name: String,
    pub source: InputSource,
    pub layout: Layout,
}

impl InputBinding {
    /// The state slot this input carries, if it is state.
    pub fn state_slot(&self) -> Option<StateSlot> {
        match self.source {
            InputSource::State(slot) => Some(slot),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InputSource {
    /// Rows `first_row .. first_row + rows` of the batch's scaled features.
    Features {
        block: usize,
        first_row: usize,
        rows: usize,
    },
    /// The same rows of the labels (one-hot, or one 0/1 column for a single class).
    Labels {
        block: usize,
        first_row: usize,
        rows: usize,
    },
    /// A state tensor (or the row block of it that the binding's layout names) as the previous step
    /// left it.
    State(StateSlot),
}

/// One ciphertext output: the new value of a state tensor, or of the row block of it starting at
/// `layout.first_row`. It replaces the state input with the same slot and first row in the next
/// step, and is read back by the owner with `layout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputBinding {
    pub name: String,
    pub slot: StateSlot,
    pub layout: Layout,
}

impl DataContract {
    /// The state input an output replaces in the next step: same slot, same first row.
    pub fn input_replaced_by(&self, output: &OutputBinding) -> Option<&InputBinding> {
        self.inputs.iter().find(|i| {
            i.state_slot() == Some(output.slot) && i.layout.first_row == output.layout.first_row
        })
    }

    /// The rows of a state tensor: one past the last row its state inputs carry (`None` if no
    /// input carries it).
    pub fn state_rows(&self, slot: StateSlot) -> Option<usize> {
        self.inputs
            .iter()
            .filter(|i| i.state_slot() == Some(slot))
            .map(|i| i.layout.first_row + i.layout.rows)
            .max()
    }
}

/// State slots are the owner contract's: the owner and the trainer name state the same way.
pub use henn_contract::{StateKind, StateSlot};

/// One state ciphertext: its slot, the rows × cols of the block it holds, and its layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateSpec {
    pub slot: StateSlot,
    pub rows: usize,
    pub cols: usize,
    pub layout: Layout,
}

/// A register of the program (a ciphertext or plaintext buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reg(pub u32);

/// One instruction: `dst = op(args)`; `free` lists registers whose last use this is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instr {
    pub op: HeOp,
    pub args: Vec<Reg>,
    pub dst: Reg,
    /// The type the compiler inferred (the validator re-checks it on load).
    pub ty: ValueType,
    pub free: Vec<Reg>,
    /// Stage and layer the instruction belongs to (reports only).
    pub origin: crate::types::Origin,
}

/// A plaintext constant (sparse slots; zero elsewhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanConst {
    pub name: String,
    pub slots: usize,
    pub entries: Vec<(u32, f64)>,
}

/// The body of one training step in execution order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub consts: Vec<PlanConst>,
    pub instrs: Vec<Instr>,
    /// Number of registers (register numbers are `0..registers`).
    pub registers: u32,
    /// The greatest number of registers live at once.
    pub peak_live: u32,
}

/// How the step repeats: `iterations` times over `batches_per_iteration` batches, each run
/// feeding its outputs back as the next run's state inputs. Not unrolled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopSchedule {
    pub iterations: u64,
    pub batches_per_iteration: u64,
    /// Levels one step consumes on the state path; the chain holds `steps × this` of them.
    pub depth_per_step: u32,
    /// Momentum coefficient per step (NAG), baked in per step; empty for SGD.
    pub momentum: Vec<f64>,
}

impl LoopSchedule {
    pub fn steps(&self) -> u64 {
        self.iterations.saturating_mul(self.batches_per_iteration)
    }
}
