//! The forward product on **plaintext weights** (inference with a model the server may see):
//! C = A·Wᵀ for encrypted samples A and a weight matrix W known at compile time, by generalized
//! diagonals with baby-step/giant-step rotations. Ciphertext × plaintext products only: no
//! relinearization, no rotation of the weights (they are rearranged when the constants are built),
//! and **one** level instead of the Volley Revolver kernels' three.
//!
//! Row r of A holds sample r (stride w). For a diagonal offset k (−(p−1) ≤ k ≤ n−1), rotating A
//! left by k puts A[r, o+k] at slot (r, o) for every output column o, without leaving row r as long
//! as 0 ≤ o+k < n ≤ w. So
//!
//! ```text
//! C = Σ_k rot(A, k) ⊙ D_k,   D_k[(r, o)] = W[o, o+k] for r < m, o < p, 0 ≤ o+k < n (0 elsewhere)
//! ```
//!
//! over K = n + p − 1 offsets. With K = G·B + (rest), k = k₀ + g·B + b (k₀ = −(p−1)):
//!
//! ```text
//! C = Σ_g rot( Σ_b rot(A, k₀+b) ⊙ rot(D_{k₀+gB+b}, −gB), g·B )
//! ```
//!
//! (rotation is a homomorphism of the slot-wise product, so the giant rotation is moved onto the
//! plaintext diagonals, which the compiler rotates for free): B baby rotations of A, shared by
//! every group, and G − 1 giant rotations of the group sums. The products of one group are summed
//! at scale Δ² and rescaled once, after the giant rotations. The result is C in the samples packing
//! (m × p, the same stride), zero outside it whatever A's padding holds (D_k reads only A's block),
//! at one level below A. A constant factor of the result rides on the diagonals.

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::op::HeOp;
use henn_he_ir::types::{Layout, Packing, Padding};

use super::{KernelCost, layout_err, samples};

const K: &str = "plain_forward";

/// A plaintext matrix (row-major) and the name its constants are derived from (`W1`, `b2`…: one
/// plan holds one set of weights, so the name identifies the values).
#[derive(Debug, Clone, PartialEq)]
pub struct PlainMatrix {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl PlainMatrix {
    fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }
}

/// The baby-step/giant-step split of the diagonals of a product with inner dimension `n` and `p`
/// outputs: (offsets K = n + p − 1, baby steps B = next_pow2(⌈√K⌉) capped at K, groups G = ⌈K/B⌉).
/// B is a power of two so that layers of different sizes share giant-step rotation keys.
pub fn plain_forward_shape(n: usize, p: usize) -> (usize, usize, usize) {
    let k = (n + p).saturating_sub(1).max(1);
    let root = (k as f64).sqrt().ceil() as usize;
    let b = root.next_power_of_two().min(k);
    (k, b, k.div_ceil(b))
}

/// The rotation steps of one call on a ciphertext of `slots` slots: the baby steps k₀ + b and the
/// giant steps g·B, without those that are the identity (≡ 0 modulo the slots).
fn rotation_steps(n: usize, p: usize, slots: usize) -> (Vec<i64>, Vec<i64>) {
    let (_, b, g) = plain_forward_shape(n, p);
    let k0 = -(p as i64 - 1);
    let nonzero = |s: &i64| slots == 0 || s.rem_euclid(slots as i64) != 0;
    let baby = (0..b as i64).map(|i| k0 + i).filter(nonzero).collect();
    let giant = (1..g as i64)
        .map(|i| i * b as i64)
        .filter(nonzero)
        .collect();
    (baby, giant)
}

/// Cost of [`plain_forward`] on `a_cts` sample blocks: per block, the baby rotations of A and the
/// giant rotations of the group sums (identity steps skipped), K plaintext products, no
/// ciphertext product, no relinearization; depth 1.
pub fn plain_forward_cost(n: usize, p: usize, slots: usize, a_cts: usize) -> KernelCost {
    let (k, _, _) = plain_forward_shape(n, p);
    let (baby, giant) = rotation_steps(n, p, slots);
    KernelCost {
        rotations: a_cts * (baby.len() + giant.len()),
        ct_mults: 0,
        pt_mults: a_cts * k,
        relins: 0,
        depth: 1,
    }
}

/// `scale·A·Wᵀ` for one sample block A (m × n, samples packing) and a plaintext W (p × n); see
/// the module documentation. Requires n, p ≤ the row stride.
pub fn plain_forward(
    g: &mut HeGraph,
    a: ValueId,
    w: &PlainMatrix,
    scale: f64,
) -> Result<ValueId, IrError> {
    let la = samples(g, a, K, "A")?;
    let (n, p) = (w.cols, w.rows);
    if la.cols != n || w.data.len() != n * p {
        return Err(layout_err(
            K,
            format!(
                "inner dimensions differ (A has {} columns, {} is {p}×{n} with {} values)",
                la.cols,
                w.name,
                w.data.len()
            ),
        ));
    }
    let (stride, slots, m) = (la.stride, la.slots, la.rows);
    if n == 0 || p == 0 || n > stride || p > stride || !slots.is_multiple_of(stride.max(1)) {
        return Err(layout_err(
            K,
            format!(
                "a {p}×{n} weight matrix does not fit rows of stride {stride} in {slots} slots"
            ),
        ));
    }
    let (k_total, baby, groups) = plain_forward_shape(n, p);
    let k0 = -(p as i64 - 1);
    let baby_cts: Vec<ValueId> = (0..baby as i64)
        .map(|b| g.rotate(a, k0 + b))
        .collect::<Result<_, _>>()?;
    let mut flat = la.clone();
    flat.packing = Packing::Flat;
    flat.padding = Padding::Zero;
    flat.first_row = 0;
    let factor = if scale == 1.0 {
        String::new()
    } else {
        format!("*{scale:e}")
    };
    let mut acc: Option<ValueId> = None;
    for gi in 0..groups {
        let shift = (gi * baby) as i64;
        let mut group: Option<ValueId> = None;
        for (b, &rotated) in baby_cts.iter().enumerate() {
            let t = gi * baby + b;
            if t >= k_total {
                break;
            }
            let k = k0 + t as i64;
            // D_k moved right by the giant step: slot (r, o) + shift.
            let mut entries = Vec::new();
            for o in 0..p {
                let i = o as i64 + k;
                if i < 0 || i >= n as i64 {
                    continue;
                }
                let v = scale * w.at(o, i as usize);
                for r in 0..m {
                    let s = ((r * stride + o) as i64 + shift).rem_euclid(slots as i64);
                    entries.push((s as u32, v));
                }
            }
            entries.sort_unstable_by_key(|e| e.0);
            let name = format!("{}:diag{k}>>{shift}/m{m}w{stride}{factor}", w.name);
            let d = g.constant(&name, flat.clone(), entries);
            let prod = g.op(HeOp::MulCP, &[rotated, d])?;
            group = Some(match group {
                None => prod,
                Some(s) => g.op(HeOp::AddCC, &[s, prod])?,
            });
        }
        let group = group.ok_or_else(|| layout_err(K, "an empty diagonal group".into()))?;
        let moved = g.rotate(group, shift)?;
        acc = Some(match acc {
            None => moved,
            Some(s) => g.op(HeOp::AddCC, &[s, moved])?,
        });
    }
    let acc = acc.ok_or_else(|| layout_err(K, "no diagonals".into()))?;
    let c_layout = Layout::samples(m, p, stride, slots).at_row(la.first_row);
    g.op_as(HeOp::Rescale, &[acc], Some(c_layout))
}

/// `z + b` for a sample block z (m × p) and a plaintext bias b (p values): one plaintext addition
/// of b in the block's rows, so the result keeps z's zero padding.
pub fn plain_add_row(g: &mut HeGraph, z: ValueId, b: &PlainMatrix) -> Result<ValueId, IrError> {
    const K: &str = "plain_bias";
    let lz = samples(g, z, K, "z")?;
    let p = lz.cols;
    if b.data.len() != p {
        return Err(layout_err(
            K,
            format!(
                "bias {} has {} values for {p} columns",
                b.name,
                b.data.len()
            ),
        ));
    }
    let (m, stride) = (lz.rows, lz.stride);
    let entries = (0..m)
        .flat_map(|r| (0..p).map(move |c| (r, c)))
        .map(|(r, c)| ((r * stride + c) as u32, b.data[c]))
        .collect();
    let mut flat = lz.clone();
    flat.packing = Packing::Flat;
    flat.padding = Padding::Zero;
    flat.first_row = 0;
    let c = g.constant(&format!("{}/m{m}p{p}w{stride}", b.name), flat, entries);
    g.op_as(HeOp::AddCP, &[z, c], Some(lz))
}
