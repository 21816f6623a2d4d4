//! What Halevi–Shoup hoisting would save on a plan's program: the report's estimate, in its cost
//! currency ([`OpTimes`]), of sharing one key-switch decomposition among the rotations of one
//! ciphertext.
//!
//! A rotation is a decomposition of `c_1` (INTT, ModUp of every digit) followed by the inner
//! product with the Galois key and a ModDown. `henn-ckks` can decompose a ciphertext once and
//! rotate it by many steps (`Evaluator::hoist`, `rotate_hoisted`); the plan executes every
//! [`HeOp::Rotate`] on its own. This module counts, per step, the values rotated more than once
//! and the decompositions and time a hoist of each would save, so the decision to represent
//! hoisting in the plan (a hoisted value kind and a hoisted rotation op) rests on the plans the
//! compiler actually writes. It does not charge the memory of keeping a decomposition live, so the
//! saving is an upper bound.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::op::HeOp;
use crate::plan::Program;
use crate::report::OpTimes;

/// Rotations of shared sources in one step, and what hoisting them would save.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HoistEstimate {
    /// Rotations in the step.
    pub rotations: u64,
    /// Values rotated at least twice (each would be hoisted once).
    pub shared_sources: u64,
    /// Rotations of those values.
    pub shared_rotations: u64,
    /// Decompositions hoisting would save: `shared_rotations − shared_sources`.
    pub decompositions_saved: u64,
    /// Estimated seconds per step those decompositions cost (an upper bound on the saving).
    pub est_saving_s: f64,
}

/// One value of the program: the instruction that defined it (registers are reused, so a register
/// names different values over the program).
type ValueId = usize;

/// Count the rotations of `program` by source value and price the decompositions a hoist of each
/// value rotated at least twice would save.
pub fn estimate(program: &Program, times: &OpTimes) -> HoistEstimate {
    let mut def: BTreeMap<u32, ValueId> = BTreeMap::new();
    // Per source value: its rotations and the depth they run at.
    let mut groups: BTreeMap<ValueId, (u64, u32)> = BTreeMap::new();
    let mut rotations = 0;
    for (index, ins) in program.instrs.iter().enumerate() {
        if let (HeOp::Rotate(_), Some(src)) = (&ins.op, ins.args.first()) {
            rotations += 1;
            // A source with no definition (an invalid program) counts as its own value.
            let value = def
                .get(&src.0)
                .copied()
                .unwrap_or(usize::MAX - src.0 as usize);
            let g = groups.entry(value).or_insert((0, ins.ty.depth.0));
            g.0 += 1;
        }
        def.insert(ins.dst.0, index);
    }
    let mut est = HoistEstimate {
        rotations,
        ..HoistEstimate::default()
    };
    for &(count, depth) in groups.values().filter(|g| g.0 >= 2) {
        est.shared_sources += 1;
        est.shared_rotations += count;
        est.decompositions_saved += count - 1;
        est.est_saving_s += (count - 1) as f64 * times.decomposition(depth);
    }
    est
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Instr, Reg};
    use crate::report::{ChainShape, CostModel};
    use crate::types::{Depth, Kind, Layout, Origin, Rotation, ValueType};

    fn ins(op: HeOp, args: &[u32], dst: u32, depth: u32) -> Instr {
        Instr {
            op,
            args: args.iter().map(|&r| Reg(r)).collect(),
            dst: Reg(dst),
            ty: ValueType {
                kind: Kind::Cipher,
                depth: Depth(depth),
                scale_pow: 1,
                degree: 1,
                layout: Layout::samples(4, 4, 4, 16),
            },
            free: Vec::new(),
            origin: Origin::default(),
        }
    }

    fn times() -> OpTimes {
        OpTimes::new(
            &CostModel::default(),
            &ChainShape {
                log_n: 14,
                q_limbs: 12,
                p_limbs: 4,
                dnum: 3,
                base_limbs: 12,
                bootstrap_log_slots: None,
            },
        )
    }

    fn program(instrs: Vec<Instr>) -> Program {
        Program {
            consts: Vec::new(),
            instrs,
            registers: 8,
            peak_live: 4,
        }
    }

    #[test]
    fn single_rotations_save_nothing() {
        let p = program(vec![
            ins(HeOp::Input { name: "x".into() }, &[], 0, 0),
            ins(HeOp::Rotate(Rotation(1)), &[0], 1, 0),
            ins(HeOp::Rotate(Rotation(1)), &[1], 2, 0),
            ins(HeOp::AddCC, &[1, 2], 3, 0),
        ]);
        let e = estimate(&p, &times());
        assert_eq!(e.rotations, 2);
        assert_eq!(e.shared_sources, 0);
        assert_eq!(e.decompositions_saved, 0);
        assert_eq!(e.est_saving_s, 0.0);
    }

    #[test]
    fn rotations_of_one_value_share_a_decomposition_at_its_depth() {
        let t = times();
        let p = program(vec![
            ins(HeOp::Input { name: "x".into() }, &[], 0, 2),
            ins(HeOp::Rotate(Rotation(1)), &[0], 1, 2),
            ins(HeOp::Rotate(Rotation(2)), &[0], 2, 2),
            ins(HeOp::Rotate(Rotation(3)), &[0], 3, 2),
        ]);
        let e = estimate(&p, &t);
        assert_eq!(
            (e.rotations, e.shared_sources, e.shared_rotations),
            (3, 1, 3)
        );
        assert_eq!(e.decompositions_saved, 2);
        assert!((e.est_saving_s - 2.0 * t.decomposition(2)).abs() < 1e-15);
        // The decomposition is a part of a rotation, never all of it.
        let rotation = t.op(&HeOp::Rotate(Rotation(1)), 2);
        assert!(t.decomposition(2) > 0.0 && t.decomposition(2) < rotation);
    }

    #[test]
    fn a_reused_register_holds_a_new_value() {
        // Register 0 is redefined between the two rotations: two values, one rotation each.
        let p = program(vec![
            ins(HeOp::Input { name: "x".into() }, &[], 0, 0),
            ins(HeOp::Rotate(Rotation(1)), &[0], 1, 0),
            ins(HeOp::AddCC, &[0, 1], 0, 0),
            ins(HeOp::Rotate(Rotation(2)), &[0], 2, 0),
        ]);
        let e = estimate(&p, &times());
        assert_eq!((e.rotations, e.shared_sources), (2, 0));
    }
}
