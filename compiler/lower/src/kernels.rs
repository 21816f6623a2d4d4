//! The three matrix products of training, as HE IR kernels over Volley Revolver packings, with the
//! Double Volley Revolver outer loops over ciphertext blocks.
//!
//! | kernel | computes | consumes | produces | depth |
//! |---|---|---|---|---|
//! | [`dvr_forward`] | C = A·Bᵀ (forward, X·Wᵀ) | A samples, B weight-row blocks | C samples | 3 |
//! | [`dvr_weight_gradient`] | G = Σ Dᵀ·X (weight gradient) | D, X samples (many cts) | G weight-row blocks | 3 (2 if D is clean and G is one block) |
//! | [`dvr_backprop`] | P = E·W (error back-propagation) | E samples, W weight-row blocks | P samples | 2 |
//! | [`diagonal_backprop_blocks`] | P = E·W by generalized diagonals | E samples, W weight-row blocks | P samples | 2 |
//!
//! "Samples" packing: one sample per ciphertext row (stride w, rows_per_ct = slots/w); a batch is a
//! list of sample blocks. "Weights" packing: one neuron per row, replicated vertically with period
//! p′ = next_pow2(rows) so that a rotation by `idx·w` is Volley Revolver's whole "row shifter". A
//! weight matrix with more rows than a ciphertext holds is cut into row blocks of p′ = rows_per_ct
//! rows each ([`weight_blocking`]), one ciphertext per block; the kernels loop over (sample block ×
//! weight block) pairs, and their results land in the layout the next layer consumes (the forward
//! output of block j fills columns j·p′ … of the activation; the gradient of block j is block j of
//! the weights). Each kernel states its cost formula next to it ([`KernelCost`]); the tests check
//! the formulas against the op counts of the graph the kernel builds, and the results against
//! plain matrix products on the slot simulator. [`registry`] wraps them as pluggable
//! [`registry::ProductKernel`]s and holds the lowering's one decision point between kernel
//! families.
//!
//! The one-ciphertext entry points ([`vr_forward`], [`vr_weight_gradient`], [`broadcast_backprop`])
//! are the same kernels with a single weight block.

pub mod packed;
pub mod plain;
pub mod registry;

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::types::{Layout, Packing, Padding};

/// Operation counts of one kernel invocation (before sharing across invocations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct KernelCost {
    pub rotations: usize,
    pub ct_mults: usize,
    pub pt_mults: usize,
    pub relins: usize,
    pub depth: u32,
}

impl KernelCost {
    /// What `g` actually contains, in the same terms: the check that a kernel's cost formula
    /// counts the graph it builds.
    pub fn counted(g: &HeGraph) -> KernelCost {
        let c = g.op_counts();
        let get = |k: &str| c.get(k).copied().unwrap_or(0);
        KernelCost {
            rotations: get("rotate"),
            ct_mults: get("mul"),
            pt_mults: get("mul_plain"),
            relins: get("relin"),
            depth: g.max_depth(),
        }
    }
}

fn log2(x: usize) -> usize {
    x.trailing_zeros() as usize
}

/// A·Bᵀ kernels mask nothing themselves: the padding outside the matrix must be zero in `A`
/// (layout `la`) or in every block of `B`.
fn require_zero_padding(
    g: &HeGraph,
    kernel: &'static str,
    la: &Layout,
    blocks: &[ValueId],
) -> Result<(), IrError> {
    let zero_b = blocks
        .iter()
        .all(|&b| g.ty(b).is_ok_and(|t| t.layout.padding == Padding::Zero));
    if la.padding != Padding::Zero && !zero_b {
        return Err(layout_err(
            kernel,
            "one operand must have zero padding outside its matrix".into(),
        ));
    }
    Ok(())
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

/// How a weight matrix of `rows` rows is cut for ciphertexts of `rows_per_ct` rows: the period p′
/// (rows per block, a power of two) and the number of blocks. A matrix that fits one ciphertext is
/// one block of period next_pow2(rows), replicated rows_per_ct/p′ times; a larger one is cut into
/// blocks of exactly rows_per_ct rows (one copy each), the last one zero past the matrix.
pub fn weight_blocking(rows: usize, rows_per_ct: usize) -> (usize, usize) {
    let period = rows.max(1).next_power_of_two().min(rows_per_ct.max(1));
    (period, rows.div_ceil(period).max(1))
}

/// The weight-row blocks of one matrix: their common period and total rows, checked to be
/// consecutive blocks (block j starts at row j·p′) on one grid with one column count.
fn weight_blocks(
    g: &HeGraph,
    blocks: &[ValueId],
    kernel: &'static str,
    what: &str,
) -> Result<(Layout, usize, usize), IrError> {
    let Some(&first) = blocks.first() else {
        return Err(layout_err(kernel, format!("{what} has no blocks")));
    };
    let (l0, period) = weights(g, first, kernel, what)?;
    let mut total = 0;
    for (j, &b) in blocks.iter().enumerate() {
        let (l, p) = weights(g, b, kernel, what)?;
        same_grid(kernel, &l0, &l)?;
        if p != period || l.cols != l0.cols || l.first_row != j * period {
            return Err(layout_err(
                kernel,
                format!(
                    "{what}: block {j} (period {p}, {} columns, first row {}) does not continue \
                     blocks of period {period}, {} columns",
                    l.cols, l.first_row, l0.cols
                ),
            ));
        }
        if l.rows == 0 || l.rows > period || (j + 1 < blocks.len() && l.rows != period) {
            return Err(layout_err(
                kernel,
                format!(
                    "{what}: block {j} has {} rows; every block but the last must have {period}",
                    l.rows
                ),
            ));
        }
        total += l.rows;
    }
    if period > l0.rows_per_ct() {
        return Err(layout_err(
            kernel,
            format!(
                "{what}: period {period} exceeds {} rows per ciphertext",
                l0.rows_per_ct()
            ),
        ));
    }
    Ok((l0, period, total))
}

/// Cost of [`vr_forward`]: [`dvr_forward_cost`] with one weight block and one A-ciphertext.
pub fn vr_forward_cost(stride: usize, period: usize) -> KernelCost {
    dvr_forward_cost(stride, period, 1, 1)
}

/// Cost of [`dvr_forward`] over `a_cts` sample blocks and `blocks` weight blocks of period p′:
/// `blocks·(p′−1)` row shifts (shared across A-ciphertexts); per A-ciphertext and shift,
/// `blocks` products each summed along its row (`log2 w` rotate-and-adds) and masked to column 0,
/// `blocks − 1` rotations by p′ that place block j's sums at column j·p′, `log2 p′` rotate-and-adds
/// that copy them across their p′ columns, and one placement mask. Depth 3.
pub fn dvr_forward_cost(stride: usize, period: usize, blocks: usize, a_cts: usize) -> KernelCost {
    let per_a = blocks * period * log2(stride) + period * (blocks - 1) + period * log2(period);
    KernelCost {
        rotations: blocks * (period - 1) + a_cts * per_a,
        ct_mults: a_cts * blocks * period,
        pt_mults: a_cts * (blocks * period + period),
        relins: a_cts * blocks * period,
        depth: 3,
    }
}

/// Forward product C = A·Bᵀ by Volley Revolver (A: m×n samples; B: p×n weights in one ciphertext).
pub fn vr_forward(g: &mut HeGraph, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
    dvr_forward(g, a, &[b], 1.0)
}

/// [`vr_forward`] computing `scale·A·Bᵀ` at no extra cost (the factor rides on the last mask).
pub fn vr_forward_scaled(
    g: &mut HeGraph,
    a: ValueId,
    b: ValueId,
    scale: f64,
) -> Result<ValueId, IrError> {
    dvr_forward(g, a, &[b], scale)
}

/// Forward product `scale·A·Bᵀ` for one sample block A (m×n) and B (h×n) in weight-row blocks of
/// period p′ (the Double Volley Revolver inner loop; the lowering calls it once per sample block,
/// and the row shifts of B are shared between the calls).
///
/// For each shift idx < p′ and block j: rotate B̄_j up by idx rows (one rotation: the block is
/// replicated with period p′ or holds exactly p′ rows), multiply with A so row i holds
/// a_i ⊙ b_{j·p′ + (i+idx) mod p′}, sum each row into column 0 (log2 w rotate-and-adds) and keep
/// column 0 of the valid rows. The blocks' sums are gathered into one ciphertext by a Horner chain
/// of rotations right by p′ (block j lands in column j·p′), copied across p′ columns (log2 p′
/// rotate-and-adds: the original VR copies across all w columns; only these are ever kept), and one
/// mask keeps column j·p′ + (i+idx) mod p′ of row i for every block. The result has C (m×h) in the
/// samples packing with the same stride, zero elsewhere, so it feeds the next layer directly.
pub fn dvr_forward(
    g: &mut HeGraph,
    a: ValueId,
    blocks: &[ValueId],
    scale: f64,
) -> Result<ValueId, IrError> {
    const K: &str = "vr_forward";
    let la = samples(g, a, K, "A")?;
    let (lb, period, p) = weight_blocks(g, blocks, K, "B")?;
    same_grid(K, &la, &lb)?;
    if la.cols != lb.cols {
        return Err(layout_err(
            K,
            format!("inner dimensions differ ({} vs {})", la.cols, lb.cols),
        ));
    }
    let nb = blocks.len();
    let (w, rows_per_ct) = (la.stride, la.rows_per_ct());
    if period > rows_per_ct || nb * period > w {
        return Err(layout_err(
            K,
            format!("{p} output columns do not fit {rows_per_ct} rows × {w} columns"),
        ));
    }
    require_zero_padding(g, K, &la, blocks)?;
    let m = la.rows;
    let col0 = mask(g, format!("rows<{m}&col=0/w{w}"), &la, |r, c| {
        r < m && c == 0
    });
    let c_layout = Layout::samples(m, p, w, la.slots).at_row(la.first_row);
    let mut acc: Option<ValueId> = None;
    // The row shifter is a chain of one-row rotations: one Galois key (step w) instead of p′ − 1.
    let mut shifted = blocks.to_vec();
    for idx in 0..period {
        let mut gathered: Option<ValueId> = None;
        for j in (0..nb).rev() {
            if idx > 0 {
                shifted[j] = g.rotate(shifted[j], w as i64)?;
            }
            let t = g.mul(a, shifted[j])?;
            let sums = g.rotate_and_sum(t, 1, w)?;
            let sums = g.mul_plain(sums, col0)?;
            gathered = Some(match gathered {
                None => sums,
                Some(hi) => {
                    let hi = g.rotate(hi, -(period as i64))?;
                    g.add(hi, sums)?
                }
            });
        }
        let gathered = gathered.ok_or_else(|| layout_err(K, "B has no rows".into()))?;
        let spread = g.rotate_and_sum(gathered, -1, period)?;
        let name = if nb == 1 {
            format!("vr-f{idx}/m{m}p{p}P{period}w{w}")
        } else {
            format!("vr-f{idx}/m{m}p{p}P{period}w{w}J{nb}")
        };
        let keep = mask_valued(g, name, &la, scale, |r, c| {
            r < m && c < p && c % period == (r + idx) % period
        });
        // The last term's node is the product: it is created with the layout C has.
        let stated = (idx + 1 == period).then(|| c_layout.clone());
        acc = Some(match acc {
            None => g.mul_plain_as(spread, keep, stated)?,
            Some(acc) => {
                let part = g.mul_plain(spread, keep)?;
                g.add_as(acc, part, stated)?
            }
        });
    }
    acc.ok_or_else(|| layout_err(K, "B has no rows".into()))
}

/// Cost of [`vr_weight_gradient`]: [`dvr_weight_gradient_cost`] with one output block.
pub fn vr_weight_gradient_cost(
    stride: usize,
    rows_per_ct: usize,
    period: usize,
    cts: usize,
    masked: bool,
) -> KernelCost {
    dvr_weight_gradient_cost(stride, rows_per_ct, period, 1, cts, masked)
}

/// Cost of [`dvr_weight_gradient`] for `cts` data ciphertexts and `blocks` output blocks of period
/// p′. Per data ciphertext: `blocks − 1` rotations by p′ that bring D's column block j to column 0,
/// one mask per block (skipped for a single block of a clean D), and per block the period-p′ copy
/// (`log2(w/p′)` rotations) and `p′−1` shifts. Per block: `p′·cts` products with one
/// relinearization per shift (lazy), `p′·log2(rows_per_ct)` row-sum rotations, `p′` masks.
pub fn dvr_weight_gradient_cost(
    stride: usize,
    rows_per_ct: usize,
    period: usize,
    blocks: usize,
    cts: usize,
    masked: bool,
) -> KernelCost {
    let masked = masked || blocks > 1;
    KernelCost {
        rotations: cts * (blocks - 1)
            + blocks * (cts * (log2(stride / period) + period - 1) + period * log2(rows_per_ct)),
        ct_mults: blocks * period * cts,
        pt_mults: if masked { blocks * cts } else { 0 } + blocks * period,
        relins: blocks * period,
        depth: if masked { 3 } else { 2 },
    }
}

/// Weight gradient G = Σ_ct D_ctᵀ·X_ct by the transposed-first method, as one ciphertext (D must
/// have few enough columns for one weight block; see [`dvr_weight_gradient`]).
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
    match dvr_weight_gradient(g, pairs, scale)?.as_slice() {
        [one] => Ok(*one),
        more => Err(layout_err(
            "vr_weight_gradient",
            format!(
                "the gradient needs {} weight-row blocks; use dvr_weight_gradient",
                more.len()
            ),
        )),
    }
}

/// Weight gradient `scale·Σ_ct D_ctᵀ·X_ct` by the transposed-first method (D: m×c, X: m×n
/// samples, one pair per data ciphertext). Result: G (c×n) in weight-row blocks of period p′
/// ([`weight_blocking`] of c rows), each block ready to be added to the same block of the weights.
///
/// Per data ciphertext and block j, D's columns j·p′ … j·p′+p′−1 are brought to column 0 (a chain
/// of rotations by p′), masked to the block's columns and D's rows (skipped for a single block of a
/// clean D), and copied along each row with period p′. For each k < p′ the copy is rotated left by
/// k (row r, column col now holds D[r][j·p′ + (col+k) mod p′]), multiplied with X and summed over
/// all ciphertexts (one relinearization per k), summed over rows (log2 rows rotate-and-adds by w),
/// and masked so row r keeps the columns col < n with (col+k) mod p′ = r mod p′: exactly
/// G[j·p′ + r mod p′][col]. Requires w ≥ n + p′ − 1 so the shifted copy never reads into the next
/// row.
pub fn dvr_weight_gradient(
    g: &mut HeGraph,
    pairs: &[(ValueId, ValueId)],
    scale: f64,
) -> Result<Vec<ValueId>, IrError> {
    const K: &str = "vr_weight_gradient";
    let Some(&(d0, x0)) = pairs.first() else {
        return Err(layout_err(K, "no data ciphertexts".into()));
    };
    let ld0 = samples(g, d0, K, "D")?;
    let lx0 = samples(g, x0, K, "X")?;
    same_grid(K, &ld0, &lx0)?;
    let (c, n, w, slots) = (ld0.cols, lx0.cols, ld0.stride, ld0.slots);
    let rows_per_ct = ld0.rows_per_ct();
    let (period, nb) = weight_blocking(c, rows_per_ct);
    if n + period - 1 > w {
        return Err(layout_err(
            K,
            format!("stride {w} < n + p′ − 1 = {}", n + period - 1),
        ));
    }
    let block_rows = |j: usize| c.saturating_sub(j * period).min(period);
    // copies[j][t]: the period-p′ copy of block j of pair t's D, with its X.
    let mut copies: Vec<Vec<(ValueId, ValueId)>> = vec![Vec::with_capacity(pairs.len()); nb];
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
        let tiled = tiled_column_blocks(g, d, &ld, period, nb)?;
        for (block, copy) in copies.iter_mut().zip(tiled) {
            block.push((copy, x));
        }
    }
    let mut out = Vec::with_capacity(nb);
    for (j, block) in copies.iter_mut().enumerate() {
        let cj = block_rows(j);
        let mut acc: Option<ValueId> = None;
        for k in 0..period {
            let mut sum: Option<ValueId> = None;
            for (copy, x) in block.iter_mut() {
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
            let name = if nb == 1 {
                format!("vr-g{k}/c{c}n{n}P{period}w{w}")
            } else {
                format!("vr-g{k}/c{cj}n{n}P{period}w{w}")
            };
            let keep = mask_valued(g, name, &ld0, scale, |r, col| {
                col < n && r % period < cj && (col + k) % period == r % period
            });
            // The last term's node is the gradient block: created with block j's layout.
            let stated = (k + 1 == period).then(|| Layout::weight_block(c, j, period, n, w, slots));
            acc = Some(match acc {
                None => g.mul_plain_as(col_sums, keep, stated)?,
                Some(acc) => {
                    let part = g.mul_plain(col_sums, keep)?;
                    g.add_as(acc, part, stated)?
                }
            });
        }
        let grad = acc.ok_or_else(|| layout_err(K, "D has no columns".into()))?;
        out.push(grad);
    }
    Ok(out)
}

/// D's column blocks of period p′, each brought to column 0 (a chain of rotations by p′), masked
/// to D's rows and the block's columns (skipped for a single block of a clean D), and copied along
/// each row with period p′ (`log2(w/p′)` rotate-and-adds): slot (r, col) of copy j holds
/// D[r][j·p′ + col mod p′]. Shared by the gradient and the diagonal back-propagation, so when both
/// read the same error matrix the builder computes the copies once.
fn tiled_column_blocks(
    g: &mut HeGraph,
    d: ValueId,
    ld: &Layout,
    period: usize,
    blocks: usize,
) -> Result<Vec<ValueId>, IrError> {
    let (m, c, w) = (ld.rows, ld.cols, ld.stride);
    let mut out = Vec::with_capacity(blocks);
    let mut shifted = d;
    for j in 0..blocks {
        if j > 0 {
            shifted = g.rotate(shifted, period as i64)?;
        }
        let cj = c.saturating_sub(j * period).min(period);
        let clean = if blocks == 1 && ld.padding == Padding::Zero {
            shifted
        } else {
            let keep = mask(g, format!("rows<{m}&col<{cj}/w{w}"), ld, |r, col| {
                r < m && col < cj
            });
            g.mul_plain(shifted, keep)?
        };
        out.push(g.rotate_and_sum(clean, -(period as i64), w / period)?);
    }
    Ok(out)
}

/// Cost of [`broadcast_backprop`]: [`dvr_backprop_cost`] for one E-ciphertext.
pub fn broadcast_backprop_cost(rows: usize, out_cols: usize, period: usize) -> KernelCost {
    dvr_backprop_cost(rows, out_cols, period, 1)
}

/// Cost of [`dvr_backprop`] for `e_cts` E-ciphertexts and W with `rows` rows in blocks of period
/// p′: per E-ciphertext and row r of W, one shift and `log2 h′` copies of E's column r, one mask,
/// one product, one relinearization in all (lazy); per row r, one mask and `log2 p′` row copies of
/// W's row r (shared across E-ciphertexts). Depth 2.
pub fn dvr_backprop_cost(rows: usize, out_cols: usize, period: usize, e_cts: usize) -> KernelCost {
    let hp = out_cols.next_power_of_two();
    KernelCost {
        rotations: e_cts * ((rows - 1) + rows * log2(hp)) + rows * log2(period),
        ct_mults: e_cts * rows,
        pt_mults: e_cts * rows + rows,
        relins: e_cts,
        depth: 2,
    }
}

/// Error back-propagation P = E·W with W in its natural (weights) packing, in one ciphertext.
pub fn broadcast_backprop(g: &mut HeGraph, e: ValueId, wt: ValueId) -> Result<ValueId, IrError> {
    dvr_backprop(g, e, &[wt], 1.0)
}

/// [`broadcast_backprop`] computing `scale·E·W` at no extra cost (the factor rides on E's mask).
pub fn broadcast_backprop_scaled(
    g: &mut HeGraph,
    e: ValueId,
    wt: ValueId,
    scale: f64,
) -> Result<ValueId, IrError> {
    dvr_backprop(g, e, &[wt], scale)
}

/// Error back-propagation `scale·E·W` by broadcasting (E: m×c samples, one sample block; W: c×h in
/// weight-row blocks). No published method exists for this product in the VR family; this is the
/// project's choice among the options in the brief (a transposed weight copy would double weight
/// memory and must itself be updated every step).
///
/// For each row r < c of W (row r mod p′ of block r div p′): shift E left by r columns, keep
/// column 0 (now E's column r) and copy it across h′ columns; keep row r of W (all its replicas)
/// and copy it down every row; multiply. The products are summed before one relinearization and
/// rescale. Blocking costs nothing extra: the loop over W's rows simply walks through the blocks.
pub fn dvr_backprop(
    g: &mut HeGraph,
    e: ValueId,
    blocks: &[ValueId],
    scale: f64,
) -> Result<ValueId, IrError> {
    const K: &str = "broadcast_backprop";
    let le = samples(g, e, K, "E")?;
    let (lw, period, rows) = weight_blocks(g, blocks, K, "W")?;
    same_grid(K, &le, &lw)?;
    if le.cols != rows {
        return Err(layout_err(
            K,
            format!("E has {} columns, W has {rows} rows", le.cols),
        ));
    }
    if blocks
        .iter()
        .any(|&b| g.ty(b).is_ok_and(|t| t.layout.padding != Padding::Zero))
    {
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
        let rr = r % period;
        let block = *blocks
            .get(r / period)
            .ok_or_else(|| layout_err(K, format!("W has no block for row {r}")))?;
        let row_r = mask(g, format!("row%{period}={rr}/w{w}"), &lw, |row, _| {
            row % period == rr
        });
        let wr = g.mul_plain(block, row_r)?;
        let wr = g.rotate_and_sum(wr, -(w as i64), period)?;
        let prod = g.mul_lazy(er, wr)?;
        acc = Some(match acc {
            None => prod,
            Some(a) => g.add(a, prod)?,
        });
    }
    let acc = acc.ok_or_else(|| layout_err(K, "E has no columns".into()))?;
    g.relin_rescale_as(
        acc,
        Some(Layout::samples(m, h, w, le.slots).at_row(le.first_row)),
    )
}

/// Cost of [`diagonal_backprop`] for `e_cts` E-ciphertexts and W with `blocks` weight-row blocks of
/// period p′. Per E-ciphertext: the column-block copies of E (`blocks − 1` rotations by p′, one
/// mask per block unless a single block of a clean E, `log2(w/p′)` rotations per block), `p′ − 1`
/// shifts and `p′` products per block, one relinearization. Per block and k < p′ (shared across
/// E-ciphertexts): one diagonal mask and `log2 p′` rotate-and-adds down the rows. Depth 2.
pub fn diagonal_backprop_cost(
    stride: usize,
    period: usize,
    blocks: usize,
    e_cts: usize,
    masked: bool,
) -> KernelCost {
    let masked = masked || blocks > 1;
    KernelCost {
        rotations: e_cts * ((blocks - 1) + blocks * (log2(stride / period) + period - 1))
            + blocks * period * log2(period),
        ct_mults: e_cts * blocks * period,
        pt_mults: if masked { e_cts * blocks } else { 0 } + blocks * period,
        relins: e_cts,
        depth: 2,
    }
}

/// Error back-propagation `scale·E·W` by generalized diagonals for one sample block (see
/// [`diagonal_backprop_blocks`]).
pub fn diagonal_backprop(
    g: &mut HeGraph,
    e: ValueId,
    blocks: &[ValueId],
    scale: f64,
) -> Result<ValueId, IrError> {
    diagonal_backprop_blocks(g, &[e], blocks, scale)?
        .pop()
        .ok_or_else(|| layout_err("diagonal_backprop", "no E ciphertext".into()))
}

/// Error back-propagation `scale·E·W` by generalized diagonals (E: m×c samples, every sample block;
/// W: c×h in weight-row blocks of period p′): the "direct diagonal A·B" of the research brief's
/// kernel survey (HETAL's diagonal idea, here without complex pairing). One result per E block.
///
/// P[i][col] = Σ_j Σ_k E[i][j·p′ + (col+k) mod p′] · W[j·p′ + (col+k) mod p′][col]. E's column
/// block j is copied along its rows with period p′ ([`tiled_column_blocks`]: the copy the
/// transposed-first gradient makes of the same error matrix, so the builder shares it) and shifted
/// left by k. W's k-th diagonal (row t keeps the columns col < h with (col+k) mod p′ = t mod p′,
/// then `log2 p′` rotate-and-adds down the rows give every row W[j·p′ + (col+k) mod p′][col]) is
/// built once per (block, k) and used by every E block right away. No row reduction of the output
/// is needed, which is where the broadcast method spends most of its rotations. Requires
/// w ≥ h + p′ − 1 (the shifted copy must not read into the next row) and zero padding in W. The
/// result has zero padding.
///
/// Memory: k runs downwards, from one rotation by p′−1 and then steps of −1, so the shifted copies
/// are not the ones the gradient builds (upwards by +1); sharing them would save p′−1 rotations
/// per E block but keep p′ copies alive between the two kernels. The loop over E blocks is inside
/// the loop over k, so at most one diagonal of W is alive at a time.
pub fn diagonal_backprop_blocks(
    g: &mut HeGraph,
    es: &[ValueId],
    blocks: &[ValueId],
    scale: f64,
) -> Result<Vec<ValueId>, IrError> {
    const K: &str = "diagonal_backprop";
    let (lw, period, rows) = weight_blocks(g, blocks, K, "W")?;
    if blocks
        .iter()
        .any(|&b| g.ty(b).is_ok_and(|t| t.layout.padding != Padding::Zero))
    {
        return Err(layout_err(K, "W must have zero padding".into()));
    }
    let (h, w) = (lw.cols, lw.stride);
    if h + period - 1 > w {
        return Err(layout_err(
            K,
            format!("stride {w} < h + p′ − 1 = {}", h + period - 1),
        ));
    }
    let mut layouts = Vec::with_capacity(es.len());
    let mut copies = Vec::with_capacity(es.len());
    for &e in es {
        let le = samples(g, e, K, "E")?;
        same_grid(K, &le, &lw)?;
        if le.cols != rows {
            return Err(layout_err(
                K,
                format!("E has {} columns, W has {rows} rows", le.cols),
            ));
        }
        copies.push(tiled_column_blocks(g, e, &le, period, blocks.len())?);
        layouts.push(le);
    }
    let mut acc: Vec<Option<ValueId>> = vec![None; es.len()];
    for (j, &wj) in blocks.iter().enumerate() {
        // bases[t]: E block t's copy of column block j; shifted[t]: that copy shifted left by the
        // current k (k = 0 is the copy itself).
        let mut bases: Vec<ValueId> = Vec::with_capacity(es.len());
        for c in &copies {
            bases.push(
                *c.get(j)
                    .ok_or_else(|| layout_err(K, format!("no copy of column block {j}")))?,
            );
        }
        let mut shifted = bases
            .iter()
            .map(|&b| g.rotate(b, period as i64 - 1))
            .collect::<Result<Vec<_>, _>>()?;
        for k in (0..period).rev() {
            let keep = mask_valued(
                g,
                format!("diag{k}/h{h}P{period}w{w}"),
                &lw,
                scale,
                |t, col| col < h && (col + k) % period == t % period,
            );
            let diag = g.mul_plain(wj, keep)?;
            let diag = g.rotate_and_sum(diag, w as i64, period)?;
            for ((x, a), &base) in shifted.iter_mut().zip(acc.iter_mut()).zip(&bases) {
                if k == 0 {
                    *x = base;
                } else if k + 1 < period {
                    *x = g.rotate(*x, -1)?;
                }
                let prod = g.mul_lazy(*x, diag)?;
                *a = Some(match *a {
                    None => prod,
                    Some(a) => g.add(a, prod)?,
                });
            }
        }
    }
    let mut out = Vec::with_capacity(es.len());
    for (a, le) in acc.into_iter().zip(layouts) {
        let a = a.ok_or_else(|| layout_err(K, "E has no columns".into()))?;
        let p = g.relin_rescale_as(
            a,
            Some(Layout::samples(le.rows, h, w, le.slots).at_row(le.first_row)),
        )?;
        out.push(p);
    }
    Ok(out)
}
