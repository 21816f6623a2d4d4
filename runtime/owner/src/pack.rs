//! Packing data and state into slot vectors per the plan's data contract, and reading results
//! back. Packing is backend-independent (slot vectors), so the simulator and the CKKS backend are
//! fed identically.

use std::collections::{BTreeMap, HashMap};

use henn_plan::Plan;
use henn_plan::plan::{InputSource, StateSlot};
use henn_runtime::backend::{ExecError, Result};

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
