//! Pluggable product kernels and the lowering's one decision point between them.
//!
//! A [`ProductKernel`] implements one of the three training products ([`MatMulForm`]) on lists of
//! ciphertext blocks. It declares the layout families it consumes and produces ([`Signature`]),
//! what a call on given operands costs ([`ProductKernel::cost`], the kernel's cost formula, which
//! doubles as its acceptance test), and how to build the call in the HE IR
//! ([`ProductKernel::lower`]). A [`KernelRegistry`] holds the kernels the lowering may use;
//! [`KernelRegistry::choose`] is the decision point: among the registered kernels of the right
//! form whose signature matches the operands' layouts and that accept them, it takes the cheapest
//! under the registry's [`Preference`].
//!
//! [`KernelRegistry::volley_revolver`] holds the Volley Revolver family, one kernel per form.
//! [`KernelRegistry::standard`] (what the lowering uses by default) adds the diagonal
//! back-propagation ([`DiagonalBackprop`]), which consumes and produces the same layouts as the
//! broadcast method, so the two compete on cost for every `A·B`, and the window-packed forward
//! ([`PackedForward`]), which competes with [`VrForward`] for every `A·Bᵀ`. A later optimizer (e-graph
//! extraction, or a whole-step search over layouts) registers more families, e.g. HETAL's
//! complex-paired diagonal kernels with their own block shapes, and either replaces the preference
//! or calls [`KernelRegistry::candidates`] itself.
//!
//! Costs are per call and standalone: work a kernel shares with another call through the builder's
//! hash-consing (the diagonal back-propagation reuses the period copy of the error matrix that the
//! weight gradient makes) is counted in both.

use henn_tir::MatMulForm;

use super::packed::{packed_forward, packed_forward_cost, packed_forward_shape};

use super::{
    KernelCost, diagonal_backprop_blocks, diagonal_backprop_cost, dvr_backprop, dvr_backprop_cost,
    dvr_forward, dvr_forward_cost, dvr_weight_gradient, dvr_weight_gradient_cost, layout_err,
    same_grid, samples, weight_blocking, weight_blocks,
};
use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::types::{Layout, Packing, Padding};

/// The layout family of a kernel operand or result. Sizes, strides and periods are checked by the
/// kernel's [`ProductKernel::cost`]; the family says which orientation a value has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayoutFamily {
    /// One sample per ciphertext row; a batch is a list of sample blocks.
    SampleBlocks,
    /// One neuron per ciphertext row, replicated with a period; a large matrix is a list of
    /// weight-row blocks.
    WeightBlocks,
}

impl LayoutFamily {
    /// The family a layout belongs to (`None` for flat values, which no product takes).
    pub fn of(layout: &Layout) -> Option<LayoutFamily> {
        match layout.packing {
            Packing::Samples => Some(LayoutFamily::SampleBlocks),
            Packing::Weights { .. } => Some(LayoutFamily::WeightBlocks),
            Packing::Flat => None,
        }
    }
}

/// What a kernel computes and which layouts it consumes and produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    pub form: MatMulForm,
    pub lhs: LayoutFamily,
    pub rhs: LayoutFamily,
    pub out: LayoutFamily,
}

/// A matrix-product kernel over ciphertext blocks.
///
/// Operands, by form: `A·Bᵀ` takes A's sample blocks and B's weight-row blocks; `Aᵀ·B` takes the
/// sample blocks of A and of B (pairwise); `A·B` takes A's sample blocks and B's weight-row blocks.
/// The result is one block per sample block for `A·Bᵀ` and `A·B`, and the weight-row blocks of the
/// product for `Aᵀ·B`.
pub trait ProductKernel: std::fmt::Debug + Send + Sync {
    /// A short, stable name (reports, tests).
    fn name(&self) -> &'static str;
    /// The kernel family it belongs to (kernels of one family chain without conversions).
    fn family(&self) -> &'static str;
    fn signature(&self) -> Signature;
    /// The operation counts of one call on these operands, or why the kernel cannot take them. A
    /// kernel that returns a cost must lower these operands, and its graph must perform exactly
    /// these counts (before sharing with other calls).
    fn cost(&self, g: &HeGraph, lhs: &[ValueId], rhs: &[ValueId]) -> Result<KernelCost, IrError>;
    /// Build `scale·(product)` in the graph; the factor rides on a mask the kernel applies anyway.
    fn lower(
        &self,
        g: &mut HeGraph,
        lhs: &[ValueId],
        rhs: &[ValueId],
        scale: f64,
    ) -> Result<Vec<ValueId>, IrError>;
}

/// How [`KernelRegistry::choose`] ranks the kernels that accept the operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preference {
    /// Fewest key switches (rotations + relinearizations: the dominant cost of CKKS), then the
    /// least depth, then the fewest ciphertext products.
    #[default]
    FewestKeySwitches,
    /// Least depth first (when levels are scarcer than time), then fewest key switches.
    LeastDepth,
}

impl Preference {
    fn rank(self, c: &KernelCost) -> (usize, usize, usize, usize) {
        let switches = c.rotations + c.relins;
        match self {
            Preference::FewestKeySwitches => (switches, c.depth as usize, c.ct_mults, c.pt_mults),
            Preference::LeastDepth => (c.depth as usize, switches, c.ct_mults, c.pt_mults),
        }
    }
}

/// The kernel [`KernelRegistry::choose`] picked, with the cost it predicted.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    pub kernel: &'a dyn ProductKernel,
    pub cost: KernelCost,
}

/// The kernels the lowering may use.
#[derive(Debug, Default)]
pub struct KernelRegistry {
    kernels: Vec<Box<dyn ProductKernel>>,
    pub preference: Preference,
}

impl KernelRegistry {
    /// A registry with no kernels (every product fails to lower until some are registered).
    pub fn empty() -> KernelRegistry {
        KernelRegistry::default()
    }

    /// The baseline: Volley Revolver forward, transposed-first gradient and broadcast
    /// back-propagation, each with the Double Volley Revolver block loops.
    pub fn volley_revolver() -> KernelRegistry {
        let mut r = KernelRegistry::empty();
        r.register(Box::new(VrForward));
        r.register(Box::new(VrWeightGradient));
        r.register(Box::new(BroadcastBackprop));
        r
    }

    /// The lowering's default: [`Self::volley_revolver`] plus the diagonal back-propagation and
    /// the window-packed forward product ([`PackedForward`]).
    pub fn standard() -> KernelRegistry {
        let mut r = KernelRegistry::volley_revolver();
        r.register(Box::new(DiagonalBackprop));
        r.register(Box::new(PackedForward));
        r
    }

    pub fn register(&mut self, kernel: Box<dyn ProductKernel>) {
        self.kernels.push(kernel);
    }

    pub fn kernels(&self) -> impl Iterator<Item = &dyn ProductKernel> {
        self.kernels.iter().map(|k| k.as_ref())
    }

    /// Every registered kernel for `form` whose signature matches the operands' layouts, with its
    /// cost or the reason it refuses them.
    pub fn candidates(
        &self,
        form: MatMulForm,
        g: &HeGraph,
        lhs: &[ValueId],
        rhs: &[ValueId],
    ) -> Vec<(&dyn ProductKernel, Result<KernelCost, IrError>)> {
        let family = |vs: &[ValueId]| {
            vs.first()
                .and_then(|&v| g.ty(v).ok())
                .and_then(|t| LayoutFamily::of(&t.layout))
        };
        let (fl, fr) = (family(lhs), family(rhs));
        self.kernels()
            .filter(|k| {
                let s = k.signature();
                s.form == form && Some(s.lhs) == fl && Some(s.rhs) == fr
            })
            .map(|k| (k, k.cost(g, lhs, rhs)))
            .collect()
    }

    /// The decision point of the lowering: the cheapest kernel (under [`Self::preference`]) that
    /// computes `form` on these operands, or an error listing why each candidate refused them.
    pub fn choose(
        &self,
        form: MatMulForm,
        g: &HeGraph,
        lhs: &[ValueId],
        rhs: &[ValueId],
    ) -> Result<Choice<'_>, IrError> {
        let mut best: Option<Choice<'_>> = None;
        let mut refusals = Vec::new();
        for (kernel, cost) in self.candidates(form, g, lhs, rhs) {
            match cost {
                Ok(cost) => {
                    let better = best.as_ref().is_none_or(|b| {
                        self.preference.rank(&cost) < self.preference.rank(&b.cost)
                    });
                    if better {
                        best = Some(Choice { kernel, cost });
                    }
                }
                Err(e) => refusals.push(format!("{}: {e}", kernel.name())),
            }
        }
        best.ok_or_else(|| {
            layout_err(
                "kernel registry",
                if refusals.is_empty() {
                    format!("no registered kernel computes {form:?} on these layouts")
                } else {
                    format!("no kernel accepts this {form:?}: {}", refusals.join("; "))
                },
            )
        })
    }
}

const VR: &str = "volley-revolver";

/// Volley Revolver A·Bᵀ over (sample block × weight-row block) pairs ([`dvr_forward`]).
#[derive(Debug, Clone, Copy)]
pub struct VrForward;

impl ProductKernel for VrForward {
    fn name(&self) -> &'static str {
        "vr_forward"
    }
    fn family(&self) -> &'static str {
        VR
    }
    fn signature(&self) -> Signature {
        Signature {
            form: MatMulForm::ABt,
            lhs: LayoutFamily::SampleBlocks,
            rhs: LayoutFamily::WeightBlocks,
            out: LayoutFamily::SampleBlocks,
        }
    }
    fn cost(&self, g: &HeGraph, lhs: &[ValueId], rhs: &[ValueId]) -> Result<KernelCost, IrError> {
        const K: &str = "vr_forward";
        let (lb, period, rows) = weight_blocks(g, rhs, K, "B")?;
        let w = lb.stride;
        for &a in nonempty(lhs, K, "A")? {
            let la = samples(g, a, K, "A")?;
            same_grid(K, &la, &lb)?;
            if la.cols != lb.cols {
                return Err(layout_err(
                    K,
                    format!("inner dimensions differ ({} vs {})", la.cols, lb.cols),
                ));
            }
        }
        if rhs.len() * period > w {
            return Err(layout_err(
                K,
                format!("{rows} output columns do not fit stride {w}"),
            ));
        }
        Ok(dvr_forward_cost(w, period, rhs.len(), lhs.len()))
    }
    fn lower(
        &self,
        g: &mut HeGraph,
        lhs: &[ValueId],
        rhs: &[ValueId],
        scale: f64,
    ) -> Result<Vec<ValueId>, IrError> {
        lhs.iter().map(|&a| dvr_forward(g, a, rhs, scale)).collect()
    }
}

/// The transposed-first gradient Aᵀ·B summed over sample blocks, producing weight-row blocks
/// ([`dvr_weight_gradient`]).
#[derive(Debug, Clone, Copy)]
pub struct VrWeightGradient;

impl ProductKernel for VrWeightGradient {
    fn name(&self) -> &'static str {
        "vr_weight_gradient"
    }
    fn family(&self) -> &'static str {
        VR
    }
    fn signature(&self) -> Signature {
        Signature {
            form: MatMulForm::AtB,
            lhs: LayoutFamily::SampleBlocks,
            rhs: LayoutFamily::SampleBlocks,
            out: LayoutFamily::WeightBlocks,
        }
    }
    fn cost(&self, g: &HeGraph, lhs: &[ValueId], rhs: &[ValueId]) -> Result<KernelCost, IrError> {
        const K: &str = "vr_weight_gradient";
        if lhs.len() != rhs.len() {
            return Err(layout_err(
                K,
                format!("{} D blocks against {} X blocks", lhs.len(), rhs.len()),
            ));
        }
        let (Some(&d0), Some(&x0)) = (lhs.first(), rhs.first()) else {
            return Err(layout_err(K, "no data ciphertexts".into()));
        };
        let (d0, x0) = (samples(g, d0, K, "D")?, samples(g, x0, K, "X")?);
        let mut masked = false;
        for (&d, &x) in lhs.iter().zip(rhs) {
            let ld = samples(g, d, K, "D")?;
            let lx = samples(g, x, K, "X")?;
            same_grid(K, &ld, &lx)?;
            masked |= ld.padding != Padding::Zero;
        }
        let (w, rows_per_ct) = (d0.stride, d0.rows_per_ct());
        let (period, blocks) = weight_blocking(d0.cols, rows_per_ct);
        if x0.cols + period - 1 > w {
            return Err(layout_err(
                K,
                format!("stride {w} < n + p′ − 1 = {}", x0.cols + period - 1),
            ));
        }
        Ok(dvr_weight_gradient_cost(
            w,
            rows_per_ct,
            period,
            blocks,
            lhs.len(),
            masked,
        ))
    }
    fn lower(
        &self,
        g: &mut HeGraph,
        lhs: &[ValueId],
        rhs: &[ValueId],
        scale: f64,
    ) -> Result<Vec<ValueId>, IrError> {
        let pairs: Vec<_> = lhs.iter().copied().zip(rhs.iter().copied()).collect();
        dvr_weight_gradient(g, &pairs, scale)
    }
}

/// Broadcast back-propagation A·B per sample block, walking through B's weight-row blocks
/// ([`dvr_backprop`]).
#[derive(Debug, Clone, Copy)]
pub struct BroadcastBackprop;

impl ProductKernel for BroadcastBackprop {
    fn name(&self) -> &'static str {
        "broadcast_backprop"
    }
    fn family(&self) -> &'static str {
        VR
    }
    fn signature(&self) -> Signature {
        Signature {
            form: MatMulForm::AB,
            lhs: LayoutFamily::SampleBlocks,
            rhs: LayoutFamily::WeightBlocks,
            out: LayoutFamily::SampleBlocks,
        }
    }
    fn cost(&self, g: &HeGraph, lhs: &[ValueId], rhs: &[ValueId]) -> Result<KernelCost, IrError> {
        const K: &str = "broadcast_backprop";
        let (lw, period, rows) = weight_blocks(g, rhs, K, "W")?;
        for &e in nonempty(lhs, K, "E")? {
            let le = samples(g, e, K, "E")?;
            same_grid(K, &le, &lw)?;
            if le.cols != rows {
                return Err(layout_err(
                    K,
                    format!("E has {} columns, W has {rows} rows", le.cols),
                ));
            }
        }
        if lw.cols.next_power_of_two() > lw.stride {
            return Err(layout_err(
                K,
                format!("{} output columns do not fit stride {}", lw.cols, lw.stride),
            ));
        }
        Ok(dvr_backprop_cost(rows, lw.cols, period, lhs.len()))
    }
    fn lower(
        &self,
        g: &mut HeGraph,
        lhs: &[ValueId],
        rhs: &[ValueId],
        scale: f64,
    ) -> Result<Vec<ValueId>, IrError> {
        lhs.iter()
            .map(|&e| dvr_backprop(g, e, rhs, scale))
            .collect()
    }
}

/// Back-propagation A·B by generalized diagonals ([`super::diagonal_backprop_blocks`]): the
/// same layouts as [`BroadcastBackprop`], no row reduction of the output.
#[derive(Debug, Clone, Copy)]
pub struct DiagonalBackprop;

impl ProductKernel for DiagonalBackprop {
    fn name(&self) -> &'static str {
        "diagonal_backprop"
    }
    fn family(&self) -> &'static str {
        "diagonal"
    }
    fn signature(&self) -> Signature {
        BroadcastBackprop.signature()
    }
    fn cost(&self, g: &HeGraph, lhs: &[ValueId], rhs: &[ValueId]) -> Result<KernelCost, IrError> {
        const K: &str = "diagonal_backprop";
        let (lw, period, rows) = weight_blocks(g, rhs, K, "W")?;
        let mut masked = false;
        for &e in nonempty(lhs, K, "E")? {
            let le = samples(g, e, K, "E")?;
            same_grid(K, &le, &lw)?;
            if le.cols != rows {
                return Err(layout_err(
                    K,
                    format!("E has {} columns, W has {rows} rows", le.cols),
                ));
            }
            masked |= le.padding != Padding::Zero;
        }
        if lw.cols + period - 1 > lw.stride {
            return Err(layout_err(
                K,
                format!(
                    "stride {} < h + p′ − 1 = {}",
                    lw.stride,
                    lw.cols + period - 1
                ),
            ));
        }
        Ok(diagonal_backprop_cost(
            lw.stride,
            period,
            rhs.len(),
            lhs.len(),
            masked,
        ))
    }
    fn lower(
        &self,
        g: &mut HeGraph,
        lhs: &[ValueId],
        rhs: &[ValueId],
        scale: f64,
    ) -> Result<Vec<ValueId>, IrError> {
        diagonal_backprop_blocks(g, lhs, rhs, scale)
    }
}

/// Volley Revolver A·Bᵀ with several row shifts sharing one row reduction or one copy-back
/// ([`super::packed::packed_forward`]): the same layouts as [`VrForward`], for one weight block
/// whose period leaves at least two windows per row.
#[derive(Debug, Clone, Copy)]
pub struct PackedForward;

impl ProductKernel for PackedForward {
    fn name(&self) -> &'static str {
        "packed_forward"
    }
    fn family(&self) -> &'static str {
        VR
    }
    fn signature(&self) -> Signature {
        VrForward.signature()
    }
    fn cost(&self, g: &HeGraph, lhs: &[ValueId], rhs: &[ValueId]) -> Result<KernelCost, IrError> {
        let mut shape = None;
        for &a in nonempty(lhs, "packed_forward", "A")? {
            let (la, period, _, win) = packed_forward_shape(g, a, rhs)?;
            shape = Some((la.stride, period, win));
        }
        let (stride, period, win) =
            shape.ok_or_else(|| layout_err("packed_forward", "A has no blocks".into()))?;
        Ok(packed_forward_cost(stride, period, win, lhs.len()))
    }
    fn lower(
        &self,
        g: &mut HeGraph,
        lhs: &[ValueId],
        rhs: &[ValueId],
        scale: f64,
    ) -> Result<Vec<ValueId>, IrError> {
        lhs.iter()
            .map(|&a| packed_forward(g, a, rhs, scale))
            .collect()
    }
}

fn nonempty<'a>(
    vs: &'a [ValueId],
    kernel: &'static str,
    what: &str,
) -> Result<&'a [ValueId], IrError> {
    if vs.is_empty() {
        Err(layout_err(kernel, format!("{what} has no blocks")))
    } else {
        Ok(vs)
    }
}
