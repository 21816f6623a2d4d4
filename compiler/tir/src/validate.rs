//! The validator: re-derives every shape, checks operand roles, acyclicity and the
//! load/store discipline, and reports every problem it finds.

use std::collections::BTreeMap;

use petgraph::algo::toposort;

use crate::error::{TirError, ValidationErrors};
use crate::graph::{Graph, Op, Role, Shape, Slot};

impl Graph {
    /// Checks the whole graph; `Ok` means every node's declared shape is what its op gives on its
    /// operands, operands carry exactly the roles the op takes, there is no cycle, each slot is
    /// stored at most once with the shape it is loaded with, and no store feeds another node.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if let Err(cycle) = toposort(&self.g, None) {
            errors.push(TirError::Cycle {
                node: cycle.node_id().index(),
            });
        }
        let mut loads: BTreeMap<Slot, Shape> = BTreeMap::new();
        let mut stores: BTreeMap<Slot, Vec<Shape>> = BTreeMap::new();
        for v in self.values() {
            let Some(node) = self.node(v) else { continue };
            let operands = self.operands(v);
            let found: Vec<Role> = operands.iter().map(|(r, _)| *r).collect();
            let mut expected: Vec<Role> = node.op.roles().to_vec();
            expected.sort();
            if found != expected {
                errors.push(TirError::Operands {
                    node: v.index(),
                    op: format!("{:?}", node.op),
                    expected: format!("{expected:?}"),
                    found: format!("{found:?}"),
                });
                continue;
            }
            for &(_, src) in &operands {
                if let Some(Op::Store(_)) = self.node(src).map(|n| &n.op) {
                    errors.push(TirError::StoreUsed { node: src.index() });
                }
            }
            match &node.op {
                Op::Input(_) => continue,
                Op::Load(slot) => {
                    loads.insert(*slot, node.shape);
                    continue;
                }
                Op::Store(slot) => stores.entry(*slot).or_default().push(node.shape),
                _ => {}
            }
            // Shapes in the order of `Op::roles` (not sorted order).
            let shapes: Vec<Shape> = node
                .op
                .roles()
                .iter()
                .filter_map(|role| {
                    operands
                        .iter()
                        .find(|(r, _)| r == role)
                        .and_then(|(_, src)| self.shape(*src))
                })
                .collect();
            match Graph::infer(&node.op, &shapes) {
                Ok(s) if s == node.shape => {}
                Ok(s) => errors.push(TirError::Shape {
                    node: v.index(),
                    op: format!("{:?}", node.op),
                    reason: format!("declared {} but the operands give {s}", node.shape),
                }),
                Err(reason) => errors.push(TirError::Shape {
                    node: v.index(),
                    op: format!("{:?}", node.op),
                    reason,
                }),
            }
        }
        for (slot, shapes) in &stores {
            if shapes.len() > 1 {
                errors.push(TirError::DuplicateStore {
                    slot: slot.to_string(),
                    count: shapes.len(),
                });
            }
            if let Some(loaded) = loads.get(slot) {
                for s in shapes {
                    if s != loaded {
                        errors.push(TirError::SlotShape {
                            slot: slot.to_string(),
                            loaded: loaded.to_string(),
                            stored: s.to_string(),
                        });
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }
}
