//! The three matrix products of training, as HE IR kernels over Volley Revolver packings.
//!
//! | kernel | computes | consumes | produces | depth |
//! |---|---|---|---|---|
//! | [`vr_forward`] | C = A·Bᵀ (forward, X·Wᵀ) | A samples, B weights | C samples | 3 |
//! | [`vr_weight_gradient`] | G = Dᵀ·X (weight gradient) | D, X samples (many cts) | G weights | 3 (2 if D is clean) |
//! | [`broadcast_backprop`] | P = E·W (error back-propagation) | E samples, W weights | P samples | 2 |
//!
//! "Samples" packing: one sample per ciphertext row (stride w, rows_per_ct = slots/w). "Weights"
//! packing: one neuron per row, replicated vertically with period p′ = next_pow2(rows) so that a
//! rotation by `idx·w` is Volley Revolver's whole "row shifter". Each kernel states its cost formula
//! next to it ([`KernelCost`]); the tests check the formulas against the op counts of the graph the
//! kernel builds, and the results against plain matrix products on the slot simulator.

use crate::error::IrError;
use crate::graph::{HeGraph, ValueId};
use crate::types::{Layout, Packing, Padding};

/// Operation counts of one kernel invocation (before sharing across invocations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct KernelCost {
    pub rotations: usize,
    pub ct_mults: usize,
    pub pt_mults: usize,
    pub relins: usize,
    pub depth: u32,
}

fn log2(x: usize) -> usize {
    x.trailing_zeros() as usize
}

fn layout_err(kernel: &'static str, reason: String) -> IrError {
    IrError::Layout { kernel, reason }
}

fn samples(g: &HeGraph, v: ValueId, kernel: &'static str, what: &str) -> Result<Layout, IrError> {
    let l = g.ty(v)?.layout.clone();
    if l.packing != Packing::Samples {
        return Err(layout_err(
            kernel,
            format!("{what} must use the samples packing"),
        ));
    }
    Ok(l)
}

fn weights(
    g: &HeGraph,
    v: ValueId,
    kernel: &'static str,
    what: &str,
) -> Result<(Layout, usize), IrError> {
    let l = g.ty(v)?.layout.clone();
    match l.packing {
        Packing::Weights { period } => Ok((l, period)),
        _ => Err(layout_err(
            kernel,
            format!("{what} must use the weights packing"),
        )),
    }
}

fn same_grid(kernel: &'static str, a: &Layout, b: &Layout) -> Result<(), IrError> {
    if a.stride != b.stride || a.slots != b.slots {
        return Err(layout_err(
            kernel,
            format!(
                "operands differ in stride/slots ({}/{} vs {}/{})",
                a.stride, a.slots, b.stride, b.slots
            ),
        ));
    }
    if !a.stride.is_power_of_two() || !a.slots.is_multiple_of(a.stride) {
        return Err(layout_err(
            kernel,
            format!(
                "stride {} must be a power of two dividing the slots",
                a.stride
            ),
        ));
    }
    Ok(())
}

/// A 0/1 mask over `slots` with ones where `keep(row, col)` holds (rows of width `stride`).
fn mask(
    g: &mut HeGraph,
    name: String,
    layout: &Layout,
    keep: impl Fn(usize, usize) -> bool,
) -> ValueId {
    mask_valued(g, name, layout, 1.0, keep)
}

/// A mask holding `value` where `keep(row, col)` holds: a kernel folds a constant factor of its
/// result (1/B, a learning rate) into it, so the factor costs no level of its own.
fn mask_valued(
    g: &mut HeGraph,
    name: String,
    layout: &Layout,
    value: f64,
    keep: impl Fn(usize, usize) -> bool,
) -> ValueId {
    let name = if value == 1.0 {
        name
    } else {
        format!("{name}*{value:e}")
    };
    let mut entries = Vec::new();
    for s in 0..layout.slots {
        if keep(s / layout.stride, s % layout.stride) {
            entries.push((s as u32, value));
        }
    }
    let mut l = layout.clone();
    l.packing = Packing::Flat;
    l.padding = Padding::Zero;
    g.constant(&name, l, entries)
}

/// Cost of [`vr_forward`] for one A-ciphertext: `p′` row shifts (shared across A-ciphertexts),
/// `p′·(log2 w + log2 p′)` sum rotations, `p′` products, `2p′` masks, depth 3.
pub fn vr_forward_cost(stride: usize, period: usize) -> KernelCost {
    KernelCost {
        rotations: (period - 1) + period * (log2(stride) + log2(period)),
        ct_mults: period,
        pt_mults: 2 * period,
        relins: period,
        depth: 3,
    }
}

/// Forward product C = A·Bᵀ by Volley Revolver (A: m×n samples; B: p×n weights).
///
/// For each shift idx < p′: rotate B̄ up by idx rows (one rotation: B̄ is replicated with period p′),
/// multiply with A so row i holds a_i ⊙ b_{(i+idx) mod p′}, sum each row into column 0 (log2 w
/// rotate-and-adds), keep column 0 of the valid rows, copy it across the first p′ columns (log2 p′
/// rotate-and-adds: the original VR copies across all w columns; only the first p′ are ever kept),
/// and keep column (i+idx) mod p′ of row i. The result has C in the samples packing with the same
/// stride, zero elsewhere, so it feeds the next layer directly.
pub fn vr_forward(g: &mut HeGraph, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
    vr_forward_scaled(g, a, b, 1.0)
}

/// [`vr_forward`] computing `scale·A·Bᵀ` at no extra cost (the factor rides on the last mask).
pub fn vr_forward_scaled(
    g: &mut HeGraph,
    a: ValueId,
    b: ValueId,
    scale: f64,
) -> Result<ValueId, IrError> {
    const K: &str = "vr_forward";
    let la = samples(g, a, K, "A")?;
    let (lb, period) = weights(g, b, K, "B")?;
    same_grid(K, &la, &lb)?;
    if la.cols != lb.cols {
        return Err(layout_err(
            K,
            format!("inner dimensions differ ({} vs {})", la.cols, lb.cols),
        ));
    }
    let (w, rows_per_ct) = (la.stride, la.rows_per_ct());
    if period > rows_per_ct || period > w {
        return Err(layout_err(
            K,
            format!(
                "{} output columns do not fit {rows_per_ct} rows × {w} columns",
                lb.rows
            ),
        ));
    }
    if la.padding != Padding::Zero && lb.padding != Padding::Zero {
        return Err(layout_err(
            K,
            "one operand must have zero padding outside its matrix".into(),
        ));
    }
    let (m, p) = (la.rows, lb.rows);
    let col0 = mask(g, format!("rows<{m}&col=0/w{w}"), &la, |r, c| {
        r < m && c == 0
    });
    let mut acc: Option<ValueId> = None;
    // The row shifter is a chain of one-row rotations: one Galois key (step w) instead of p′ − 1.
    let mut shifted = b;
    for idx in 0..period {
        if idx > 0 {
            shifted = g.rotate(shifted, w as i64)?;
        }
        let t = g.mul(a, shifted)?;
        let sums = g.rotate_and_sum(t, 1, w)?;
        let sums = g.mul_plain(sums, col0)?;
        let spread = g.rotate_and_sum(sums, -1, period)?;
        let keep = mask_valued(
            g,
            format!("vr-f{idx}/m{m}p{p}P{period}w{w}"),
            &la,
            scale,
            |r, c| r < m && c < p && c == (r + idx) % period,
        );
        let part = g.mul_plain(spread, keep)?;
        acc = Some(match acc {
            None => part,
            Some(acc) => g.add(acc, part)?,
        });
    }
    let c = acc.ok_or_else(|| layout_err(K, "B has no rows".into()))?;
    g.declare_layout(c, Layout::samples(m, p, w, la.slots))?;
    Ok(c)
}

/// Cost of [`vr_weight_gradient`] for `cts` data ciphertexts: the period-`p′` copy of D
/// (`log2(w/p′)` rotations per ciphertext), `p′−1` shifts per ciphertext, `p′·cts` products with one
/// relinearization per shift (lazy), `p′·log2(rows_per_ct)` row-sum rotations, `cts + p′` masks.
pub fn vr_weight_gradient_cost(
    stride: usize,
    rows_per_ct: usize,
    period: usize,
    cts: usize,
    masked: bool,
) -> KernelCost {
    KernelCost {
        rotations: cts * (log2(stride / period) + period - 1) + period * log2(rows_per_ct),
        ct_mults: period * cts,
        pt_mults: if masked { cts } else { 0 } + period,
        relins: period,
        depth: if masked { 3 } else { 2 },
    }
}

/// Weight gradient G = Σ_ct D_ctᵀ·X_ct by the transposed-first method (D: m×c, X: m×n samples, one
/// pair per data ciphertext). Result: G (c×n) in the weights packing with period p′ = next_pow2(c),
/// so it can be added to the weights directly.
///
/// D is masked to its matrix when its padding is not zero, then copied along each row with period
/// p′. For each k < p′ the copy is rotated left by k (row j, column col now holds
/// D[j][(col+k) mod p′]), multiplied with X and summed over all ciphertexts (one relinearization per
/// k), summed over rows (log2 rows rotate-and-adds by w), and masked so row r keeps the columns
/// col < n with (col+k) mod p′ = r mod p′: exactly G[r mod p′][col]. Requires w ≥ n + p′ − 1 so
/// the shifted copy never reads into the next row.
pub fn vr_weight_gradient(
    g: &mut HeGraph,
    pairs: &[(ValueId, ValueId)],
) -> Result<ValueId, IrError> {
    vr_weight_gradient_scaled(g, pairs, 1.0)
}

/// [`vr_weight_gradient`] computing `scale·Σ Dᵀ·X` at no extra cost (the factor rides on the
/// final mask).
pub fn vr_weight_gradient_scaled(
    g: &mut HeGraph,
    pairs: &[(ValueId, ValueId)],
    scale: f64,
) -> Result<ValueId, IrError> {
    const K: &str = "vr_weight_gradient";
    let Some(&(d0, x0)) = pairs.first() else {
        return Err(layout_err(K, "no data ciphertexts".into()));
    };
    let ld0 = samples(g, d0, K, "D")?;
    let lx0 = samples(g, x0, K, "X")?;
    same_grid(K, &ld0, &lx0)?;
    let (c, n, w, slots) = (ld0.cols, lx0.cols, ld0.stride, ld0.slots);
    let rows_per_ct = ld0.rows_per_ct();
    let period = c.next_power_of_two();
    if n + period - 1 > w {
        return Err(layout_err(
            K,
            format!("stride {w} < n + p′ − 1 = {}", n + period - 1),
        ));
    }
    let mut shifted_copies = Vec::with_capacity(pairs.len());
    for &(d, x) in pairs {
        let ld = samples(g, d, K, "D")?;
        let lx = samples(g, x, K, "X")?;
        same_grid(K, &ld, &lx)?;
        if ld.cols != c || lx.cols != n || ld.stride != w || ld.rows != lx.rows {
            return Err(layout_err(
                K,
                "all (D, X) pairs must have the same shapes and rows".into(),
            ));
        }
        // X may carry garbage: the copy of D is zero outside D's rows, and the final mask drops
        // every column ≥ n, so garbage in X never reaches G.
        let m = ld.rows;
        let clean = if ld.padding == Padding::Zero {
            d
        } else {
            let keep = mask(g, format!("rows<{m}&col<{c}/w{w}"), &ld, |r, col| {
                r < m && col < c
            });
            g.mul_plain(d, keep)?
        };
        let copy = g.rotate_and_sum(clean, -(period as i64), w / period)?;
        shifted_copies.push((copy, x));
    }
    let mut acc: Option<ValueId> = None;
    for k in 0..period {
        let mut sum: Option<ValueId> = None;
        for (copy, x) in shifted_copies.iter_mut() {
            // Shift by one more column each k: a chain that needs only the step-1 key.
            if k > 0 {
                *copy = g.rotate(*copy, 1)?;
            }
            let prod = g.mul_lazy(*copy, *x)?;
            sum = Some(match sum {
                None => prod,
                Some(s) => g.add(s, prod)?,
            });
        }
        let sum = sum.ok_or_else(|| layout_err(K, "no data ciphertexts".into()))?;
        let sum = g.relin_rescale(sum)?;
        let col_sums = g.rotate_and_sum(sum, w as i64, rows_per_ct)?;
        let keep = mask_valued(
            g,
            format!("vr-g{k}/c{c}n{n}P{period}w{w}"),
            &ld0,
            scale,
            |r, col| col < n && r % period < c && (col + k) % period == r % period,
        );
        let part = g.mul_plain(col_sums, keep)?;
        acc = Some(match acc {
            None => part,
            Some(acc) => g.add(acc, part)?,
        });
    }
    let grad = acc.ok_or_else(|| layout_err(K, "D has no columns".into()))?;
    g.declare_layout(grad, Layout::weights(c, n, w, slots))?;
    Ok(grad)
}

/// Cost of [`broadcast_backprop`] for one E-ciphertext: per output row r < c of W, one shift and
/// `log2 h′` copies of E's column r, `log2 p′` row copies of W's row r (shared across
/// E-ciphertexts), one product; one relinearization in all (lazy), `2c` masks, depth 2.
pub fn broadcast_backprop_cost(rows: usize, out_cols: usize, period: usize) -> KernelCost {
    let hp = out_cols.next_power_of_two();
    KernelCost {
        rotations: (rows - 1) + rows * log2(hp) + rows * log2(period),
        ct_mults: rows,
        pt_mults: 2 * rows,
        relins: 1,
        depth: 2,
    }
}

/// Error back-propagation P = E·W with W in its natural (weights) packing, by broadcasting
/// (E: m×c samples; W: c×h weights). No published method exists for this product in the VR family;
/// this is the project's choice among the options in the brief (a transposed weight copy would
/// double weight memory and must itself be updated every step).
///
/// For each r < c: shift E left by r columns, keep column 0 (now E's column r) and copy it across
/// h′ columns; keep row r
/// of W (all its replicas) and copy it down every row; multiply. The products are summed before one
/// relinearization and rescale.
pub fn broadcast_backprop(g: &mut HeGraph, e: ValueId, wt: ValueId) -> Result<ValueId, IrError> {
    broadcast_backprop_scaled(g, e, wt, 1.0)
}

/// [`broadcast_backprop`] computing `scale·E·W` at no extra cost (the factor rides on E's mask).
pub fn broadcast_backprop_scaled(
    g: &mut HeGraph,
    e: ValueId,
    wt: ValueId,
    scale: f64,
) -> Result<ValueId, IrError> {
    const K: &str = "broadcast_backprop";
    let le = samples(g, e, K, "E")?;
    let (lw, period) = weights(g, wt, K, "W")?;
    same_grid(K, &le, &lw)?;
    if le.cols != lw.rows {
        return Err(layout_err(
            K,
            format!("E has {} columns, W has {} rows", le.cols, lw.rows),
        ));
    }
    if lw.padding != Padding::Zero {
        return Err(layout_err(K, "W must have zero padding".into()));
    }
    let (m, c, h, w) = (le.rows, le.cols, lw.cols, le.stride);
    let hp = h.next_power_of_two();
    if hp > w {
        return Err(layout_err(
            K,
            format!("{h} output columns do not fit stride {w}"),
        ));
    }
    let mut acc: Option<ValueId> = None;
    // E shifted left by r columns, as a chain of step-1 rotations (one key instead of c − 1);
    // column 0 then holds E's column r.
    let col0 = mask_valued(g, format!("rows<{m}&col=0/w{w}"), &le, scale, |row, col| {
        row < m && col == 0
    });
    let mut shifted = e;
    for r in 0..c {
        if r > 0 {
            shifted = g.rotate(shifted, 1)?;
        }
        let er = g.mul_plain(shifted, col0)?;
        let er = g.rotate_and_sum(er, -1, hp)?;
        let row_r = mask(g, format!("row%{period}={r}/w{w}"), &lw, |row, _| {
            row % period == r
        });
        let wr = g.mul_plain(wt, row_r)?;
        let wr = g.rotate_and_sum(wr, -(w as i64), period)?;
        let prod = g.mul_lazy(er, wr)?;
        acc = Some(match acc {
            None => prod,
            Some(a) => g.add(a, prod)?,
        });
    }
    let acc = acc.ok_or_else(|| layout_err(K, "E has no columns".into()))?;
    let out = g.relin_rescale(acc)?;
    g.declare_layout(out, Layout::samples(m, h, w, le.slots))?;
    Ok(out)
}
