//! Window-packed Volley Revolver forward product: several row shifts share one row reduction.
//!
//! When the inner dimension n is much smaller than the row stride w (hidden layers of a step whose
//! stride the input features set: 64 columns in rows of 512), the plain kernel ([`super::dvr_forward`])
//! sums each shift's product along the whole row (`log2 w` rotations, mostly adding zeros) and
//! copies every sum back separately. This kernel cuts each row into G = w/v windows of
//! v = next_pow2(max(n, p′)) columns and puts the products of G consecutive shifts side by side,
//! shift q of a group in window q: the product of shift idx rotated right by q·v is
//! `rot(A, −q·v) ⊙ rot(B̄_idx, −q·v)` (rotation is a homomorphism of the slot-wise product), so
//! the G products are summed before **one** relinearization, **one** windowed row sum
//! (`log2 v` rotate-and-adds), one mask keeping each window's first column and **one** copy across
//! p′ columns (`log2 p′`). A mask per shift then keeps, in window q, column (r + idx) mod p′ of row
//! r; the masked terms are accumulated per window over the groups, and at the end the windows are
//! folded onto window 0 by a Horner chain of rotations left by v (G − 1 rotations, one key). The
//! result is the plain kernel's, slot for slot: C in the samples packing, zero elsewhere, depth 3.
//!
//! Requirements: one weight block (B's rows fit one ciphertext), at least two windows (otherwise
//! it is the plain kernel), and one operand zero outside its matrix (so each product is zero
//! outside its first n columns and the windows never mix).

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::types::{Layout, Padding};

use super::{KernelCost, layout_err, log2, mask, mask_valued, same_grid, samples, weight_blocks};

const K: &str = "packed_forward";

/// The window geometry of a packed forward product: window width v and windows used G′.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Columns per window (a power of two, at least n and p′).
    pub width: usize,
    /// Windows used: min(w / v, p′), the shifts per group.
    pub used: usize,
}

/// The windows for inner dimension `n`, period p′ and stride `w`, or why the kernel does not
/// apply (fewer than two windows fit a row).
pub fn packed_windows(n: usize, period: usize, stride: usize) -> Result<Windows, IrError> {
    let width = n.max(period).max(1).next_power_of_two();
    if width * 2 > stride {
        return Err(layout_err(
            K,
            format!("windows of {width} columns: fewer than two fit stride {stride}"),
        ));
    }
    Ok(Windows {
        width,
        used: (stride / width).min(period),
    })
}

/// Cost of [`packed_forward`] over `a_cts` sample blocks, period p′ and stride `w` with the given
/// windows: `p′ − 1` row shifts of B̄ and `p′ − groups` window placements of them (shared across
/// A-ciphertexts); per A-ciphertext, `G′ − 1` placed copies of A, per group one relinearization,
/// `log2 v + log2 p′` rotations, one window mask and G′ placement masks, and `G′ − 1` fold
/// rotations. Depth 3.
pub fn packed_forward_cost(period: usize, win: Windows, a_cts: usize) -> KernelCost {
    let groups = period.div_ceil(win.used);
    let per_a = 2 * (win.used - 1) + groups * (log2(win.width) + log2(period));
    KernelCost {
        rotations: (period - 1) + (period - groups) + a_cts * per_a,
        ct_mults: a_cts * period,
        pt_mults: a_cts * (groups + period),
        relins: a_cts * groups,
        depth: 3,
    }
}

/// Checked operands of [`packed_forward`]: B's period and rows, and the windows.
pub fn packed_forward_shape(
    g: &HeGraph,
    a: ValueId,
    blocks: &[ValueId],
) -> Result<(Layout, usize, usize, Windows), IrError> {
    let la = samples(g, a, K, "A")?;
    let (lb, period, p) = weight_blocks(g, blocks, K, "B")?;
    same_grid(K, &la, &lb)?;
    if blocks.len() != 1 {
        return Err(layout_err(
            K,
            format!("B has {} row blocks; the kernel takes one", blocks.len()),
        ));
    }
    if la.cols != lb.cols {
        return Err(layout_err(
            K,
            format!("inner dimensions differ ({} vs {})", la.cols, lb.cols),
        ));
    }
    let zero_b = blocks
        .iter()
        .all(|&b| g.ty(b).is_ok_and(|t| t.layout.padding == Padding::Zero));
    if la.padding != Padding::Zero && !zero_b {
        return Err(layout_err(
            K,
            "one operand must have zero padding outside its matrix".into(),
        ));
    }
    let win = packed_windows(la.cols, period, la.stride)?;
    Ok((la, period, p, win))
}

/// Forward product `scale·A·Bᵀ` for one sample block A (m×n) and B (p×n) in one weight block of
/// period p′, by window packing (see the module documentation). Same result as
/// [`super::dvr_forward`] with one block.
pub fn packed_forward(
    g: &mut HeGraph,
    a: ValueId,
    blocks: &[ValueId],
    scale: f64,
) -> Result<ValueId, IrError> {
    let (la, period, p, win) = packed_forward_shape(g, a, blocks)?;
    let b = *blocks
        .first()
        .ok_or_else(|| layout_err(K, "B has no blocks".into()))?;
    let (m, w, v) = (la.rows, la.stride, win.width);
    let shift = |q: usize| -((q * v) as i64);
    // A placed in window q (the same for every group).
    let placed_a = (0..win.used)
        .map(|q| g.rotate(a, shift(q)))
        .collect::<Result<Vec<_>, _>>()?;
    let starts = mask(g, format!("rows<{m}&col%{v}=0/w{w}"), &la, |r, c| {
        r < m && c % v == 0
    });
    let mut acc: Vec<Option<ValueId>> = vec![None; win.used];
    // The row shifter is a chain of one-row rotations (one key, as in the plain kernel).
    let mut shifted = b;
    for group in 0..period.div_ceil(win.used) {
        let mut sum: Option<ValueId> = None;
        let first = group * win.used;
        let last = (first + win.used).min(period);
        for idx in first..last {
            if idx > 0 {
                shifted = g.rotate(shifted, w as i64)?;
            }
            let q = idx - first;
            let placed_b = g.rotate(shifted, shift(q))?;
            let prod = g.mul_lazy(placed_a[q], placed_b)?;
            sum = Some(match sum {
                None => prod,
                Some(s) => g.add(s, prod)?,
            });
        }
        let sum = sum.ok_or_else(|| layout_err(K, "empty group".into()))?;
        let sum = g.relin_rescale(sum)?;
        let sums = g.rotate_and_sum(sum, 1, v)?;
        let sums = g.mul_plain(sums, starts)?;
        let spread = g.rotate_and_sum(sums, -1, period)?;
        for idx in first..last {
            let q = idx - first;
            let name = format!("pk-f{idx}/m{m}p{p}P{period}v{v}w{w}");
            let keep = mask_valued(g, name, &la, scale, |r, c| {
                let (window, col) = (c / v, c % v);
                window == q && r < m && col < p && col % period == (r + idx) % period
            });
            let part = g.mul_plain(spread, keep)?;
            acc[q] = Some(match acc[q] {
                None => part,
                Some(x) => g.add(x, part)?,
            });
        }
    }
    // Fold the windows onto window 0: ((acc_{G′−1}·ρ + acc_{G′−2})·ρ + …) with ρ = rotate by v.
    let c_layout = Layout::samples(m, p, w, la.slots).at_row(la.first_row);
    let mut out: Option<ValueId> = None;
    for q in (0..win.used).rev() {
        let part = acc[q].ok_or_else(|| layout_err(K, format!("window {q} is empty")))?;
        out = Some(match out {
            None => part,
            Some(hi) => {
                let hi = g.rotate(hi, v as i64)?;
                let stated = (q == 0).then(|| c_layout.clone());
                g.add_as(hi, part, stated)?
            }
        });
    }
    out.ok_or_else(|| layout_err(K, "B has no rows".into()))
}
