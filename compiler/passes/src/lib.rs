//! Post-passes over a lowered HE IR graph, up to the plan's program.
//!
//! [`bootstrap`] places bootstraps for bootstrapping plans (every value within the level budget
//! between refreshes, every state output refreshed to depth 0), picks the sparse-slot circuit
//! ([`bootstrap::slot_need`]) and re-replicates refreshed weights after a zeroed sparse bootstrap;
//! [`placement`] chooses the refreshes for the least estimated time (the greedy pass is its
//! baseline); [`pack`] packs the state refreshes of a step into as few bootstraps as the slots allow;
//! [`schedule`] linearizes the graph into the plan's instruction list with register reuse
//! ([`schedule::to_program`]) and derives its key manifest ([`schedule::key_manifest`]).
//!
//! **Invariants.** The passes need the HE IR alone (`henn-he-ir`), never the tensor IR or the
//! lowering. A pass that rebuilds a graph goes through the same type-checking builder as the
//! lowering, restating the layouts the source graph recorded, so its output validates like its
//! input; the passes are deterministic (the compiled plan's bytes depend only on the model).

pub mod bootstrap;
pub mod pack;
pub mod placement;
pub mod schedule;
