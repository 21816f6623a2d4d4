//! Window-packed Volley Revolver forward product: several row shifts share one row reduction
//! or one copy-back.
//!
//! The plain kernel ([`super::dvr_forward`]) treats every row shift of B̄ on its own: a product,
//! a sum along the whole row (`log2 w` rotate-and-adds), a mask keeping column 0 and a copy
//! across p′ columns (`log2 p′`). This kernel cuts each row into G = w/v windows of v columns and
//! lets G′ = min(G, p′) consecutive shifts share work, shift q of a group in window q:
//!
//! * **Packed products** ([`Packing::Products`], when v = next_pow2(max(n, p′)) leaves two windows:
//!   hidden layers, 64 columns in rows of 512). The product of shift idx moved right by q·v is
//!   `rot(A, −q·v) ⊙ rot(B̄_idx, −q·v)` (rotation is a homomorphism of the slot-wise product), so
//!   a group's G′ products are summed before **one** relinearization, **one** windowed row sum
//!   (`log2 v`), one mask keeping each window's first column and **one** copy (`log2 p′`).
//! * **Packed sums** ([`Packing::Sums`], wide inner dimensions, v = next_pow2(p′)): every shift
//!   keeps its own product, row sum and column-0 mask; the masked sums, which occupy one column,
//!   are moved into their windows (one rotation each) and share **one** copy per group.
//!
//! Then a mask per shift keeps, in window q, column (r + idx) mod p′ of row r; the masked terms
//! are accumulated per window over the groups, and at the end the windows are folded onto window
//! 0 by a Horner chain of rotations left by v (G′ − 1 rotations). Every placement is a chain of
//! one step (A by −v, B̄ by w − v within a group and G′·w between groups, the sums by −v), so the
//! kernel adds few rotation keys. The result is the plain kernel's, slot for slot: C in the samples
//! packing, zero elsewhere, depth 3.
//!
//! Requirements: one weight block (B's rows fit one ciphertext), at least two windows used
//! (otherwise it is the plain kernel), and one operand zero outside its matrix (so each product is
//! zero outside its first n columns and packed products never mix).

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::types::Layout;

use super::{
    KernelCost, layout_err, log2, mask, mask_valued, require_zero_padding, same_grid, samples,
    weight_blocks,
};

const K: &str = "packed_forward";

/// What the windows of a group hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// The shifts' products, before one shared row sum (inner dimension ≤ v).
    Products,
    /// The shifts' row sums, before one shared copy-back.
    Sums,
}

/// The window geometry of a packed forward product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub packing: Packing,
    /// Columns per window (a power of two, at least p′, and at least n for packed products).
    pub width: usize,
    /// Windows used: min(w / v, p′), the shifts per group.
    pub used: usize,
}

/// The windows for inner dimension `n`, period p′ and stride `w`, or why the kernel does not
/// apply (fewer than two windows used).
pub fn packed_windows(n: usize, period: usize, stride: usize) -> Result<Windows, IrError> {
    let narrow = n.max(period).max(1).next_power_of_two();
    let (packing, width) = if narrow * 2 <= stride {
        (Packing::Products, narrow)
    } else {
        (Packing::Sums, period.max(1).next_power_of_two())
    };
    let used = (stride / width).min(period);
    if used < 2 {
        return Err(layout_err(
            K,
            format!("period {period} in stride {stride}: fewer than two windows to share"),
        ));
    }
    Ok(Windows {
        packing,
        width,
        used,
    })
}

/// Cost of [`packed_forward`] over `a_cts` sample blocks, period p′ and stride `w` with the given
/// windows (g = ⌈p′/G′⌉ groups). B̄'s shifts and placements: `p′ − 1` rotations, shared across
/// A-ciphertexts. Per A-ciphertext, packed products: `G′ − 1` placed copies of A, per group one
/// relinearization, `log2 v + log2 p′` rotations and one window mask; packed sums: per shift one
/// relinearization, `log2 w` rotations and a column-0 mask, `p′ − g` placements, per group
/// `log2 p′` rotations. Both: one placement mask per shift and `G′ − 1` fold rotations. Depth 3.
pub fn packed_forward_cost(stride: usize, period: usize, win: Windows, a_cts: usize) -> KernelCost {
    let groups = period.div_ceil(win.used);
    let fold = win.used - 1;
    let (per_a, relins, masks) = match win.packing {
        Packing::Products => (
            fold + groups * (log2(win.width) + log2(period)),
            groups,
            groups,
        ),
        Packing::Sums => (
            period * log2(stride) + (period - groups) + groups * log2(period),
            period,
            period,
        ),
    };
    KernelCost {
        rotations: (period - 1) + a_cts * (per_a + fold),
        ct_mults: a_cts * period,
        pt_mults: a_cts * (masks + period),
        relins: a_cts * relins,
        depth: 3,
    }
}

/// Checked operands of [`packed_forward`]: A's layout, B's period and rows, and the windows.
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
    require_zero_padding(g, K, &la, blocks)?;
    let win = packed_windows(la.cols, period, la.stride)?;
    Ok((la, period, p, win))
}

/// The row shifts `first … last − 1` of one group; shift `first + q` uses window q.
struct Group {
    first: usize,
    last: usize,
}

/// B̄ shifted and placed for every group: `out[idx]` is the operand of shift idx's product. One
/// chain of rotations: by w (plain shifts) or, packed, by w − v inside a group and G′·w from one
/// group's first shift to the next.
fn shifted_b(
    g: &mut HeGraph,
    b: ValueId,
    period: usize,
    w: usize,
    win: Windows,
) -> Result<Vec<ValueId>, IrError> {
    let mut out = Vec::with_capacity(period);
    let mut head = b;
    for idx in 0..period {
        let q = idx % win.used;
        let v = match (win.packing, out.last()) {
            (_, None) => b,
            (Packing::Sums, Some(&prev)) => g.rotate(prev, w as i64)?,
            (Packing::Products, Some(&prev)) if q > 0 => g.rotate(prev, (w - win.width) as i64)?,
            (Packing::Products, Some(_)) => {
                head = g.rotate(head, (win.used * w) as i64)?;
                head
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// One group's shared sums, copied across the first p′ columns of every window (window q holds
/// the row sums of shift `first + q`, every other column zero).
fn group_spread(
    g: &mut HeGraph,
    la: &Layout,
    placed_a: &[ValueId],
    bs: &[ValueId],
    grp: &Group,
    period: usize,
    win: Windows,
) -> Result<ValueId, IrError> {
    let (m, w, v) = (la.rows, la.stride, win.width);
    let gathered = match win.packing {
        Packing::Products => {
            let mut sum: Option<ValueId> = None;
            for idx in grp.first..grp.last {
                let prod = g.mul_lazy(placed_a[idx - grp.first], bs[idx])?;
                sum = Some(match sum {
                    None => prod,
                    Some(s) => g.add(s, prod)?,
                });
            }
            let sum = sum.ok_or_else(|| layout_err(K, "empty group".into()))?;
            let sum = g.relin_rescale(sum)?;
            let sums = g.rotate_and_sum(sum, 1, v)?;
            let starts = mask(g, format!("rows<{m}&col%{v}=0/w{w}"), la, |r, c| {
                r < m && c % v == 0
            });
            g.mul_plain(sums, starts)?
        }
        Packing::Sums => {
            let col0 = mask(g, format!("rows<{m}&col=0/w{w}"), la, |r, c| {
                r < m && c == 0
            });
            // Horner over the group's shifts: sums of shift first + q end up moved right by q·v.
            let mut acc: Option<ValueId> = None;
            for idx in (grp.first..grp.last).rev() {
                let t = g.mul(placed_a[0], bs[idx])?;
                let sums = g.rotate_and_sum(t, 1, w)?;
                let sums = g.mul_plain(sums, col0)?;
                acc = Some(match acc {
                    None => sums,
                    Some(hi) => {
                        let hi = g.rotate(hi, -(v as i64))?;
                        g.add(hi, sums)?
                    }
                });
            }
            acc.ok_or_else(|| layout_err(K, "empty group".into()))?
        }
    };
    g.rotate_and_sum(gathered, -1, period)
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
    // A placed in window q, a chain of rotations right by v (packed products only).
    let mut placed_a = vec![a];
    if win.packing == Packing::Products {
        for q in 1..win.used {
            let prev = placed_a[q - 1];
            placed_a.push(g.rotate(prev, -(v as i64))?);
        }
    }
    let bs = shifted_b(g, b, period, w, win)?;
    let mut acc: Vec<Option<ValueId>> = vec![None; win.used];
    for group in 0..period.div_ceil(win.used) {
        let first = group * win.used;
        let grp = Group {
            first,
            last: (first + win.used).min(period),
        };
        let spread = group_spread(g, &la, &placed_a, &bs, &grp, period, win)?;
        for idx in grp.first..grp.last {
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
