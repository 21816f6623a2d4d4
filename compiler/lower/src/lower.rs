//! Lowering: the tensor IR of one training step becomes an HE IR graph.
//!
//! Every tensor-IR value has one of two orientations:
//! - **batch** values (`X`, `Y`, `Z_ℓ`, `A_ℓ`, `E_ℓ`: one row per sample) become a list of
//!   ciphertexts in the samples packing, one per block of `rows_per_ct` samples — the outer loop of
//!   Double Volley Revolver over the first operand;
//! - **parameter** values (`W_ℓ`, `b_ℓ`, gradients, momentum state) become a list of weight-row
//!   blocks ([`kernels::weight_blocking`]): one ciphertext in the weights packing when the matrix's
//!   padded rows fit one ciphertext (a bias is a weights packing of period 1: every row holds `b`),
//!   else one ciphertext per `rows_per_ct` rows — the outer loop over the second operand. Every
//!   parameter of one shape is cut the same way, so elementwise updates pair blocks one to one.
//!
//! The products are lowered by the kernel the [`KernelRegistry`] chooses for them
//! ([`KernelRegistry::choose`], the one decision point between kernel families; the default
//! registry holds Volley Revolver — `A·Bᵀ` per sample block, `Aᵀ·B` summed over all sample blocks
//! into weight-row blocks, `A·B` per sample block by broadcasting — and the diagonal `A·B`, which
//! wins where its stride condition holds). One row stride `w` serves the whole network
//! so layers chain without conversions; [`choose_stride`] picks the smallest that every kernel
//! accepts.
//!
//! The monitored loss is not lowered: under encryption only the error `A − Y` is computed.

use std::collections::HashMap;

use henn_plan::plan::{
    InputBinding, InputSource, OutputBinding, PredictionBinding, StateKind, StateSlot,
};
use henn_tir::{
    Factor, Graph as Tir, InputKind, MatMulForm, Op, Slot, SlotKind, StepGraph, ValueId as TirValue,
};

use crate::kernels::plain::{PlainMatrix, plain_add_row, plain_forward, plain_forward_cost};
use crate::kernels::registry::KernelRegistry;
use crate::kernels::{self, KernelCost};
use crate::poly;
use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::op::HeOp;
use henn_he_ir::types::{Layout, Origin, Padding, Stage};

/// Choices the lowering needs that the tensor IR does not carry.
#[derive(Debug, Clone)]
pub struct LowerConfig {
    /// Slots per ciphertext (N/2).
    pub slots: usize,
    /// Force a row stride (must satisfy every kernel); `None` picks the smallest legal one.
    pub stride: Option<usize>,
}

/// The lowered step.
#[derive(Debug, Clone)]
pub struct Lowered {
    pub graph: HeGraph,
    pub stride: usize,
    pub rows_per_ct: usize,
    /// Samples in each block (the last block may be partial).
    pub blocks: Vec<usize>,
    pub inputs: Vec<InputBinding>,
    /// The new training state the step returns.
    pub outputs: Vec<OutputBinding>,
    /// An inference step's class scores, one per block of queries (empty for a training step).
    pub predictions: Vec<PredictionBinding>,
    /// The kernel chosen for every product, in lowering order.
    pub products: Vec<ProductUse>,
}

/// One product of the step and the kernel the registry chose for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductUse {
    /// The tensor-IR value's name (`Z1`, `G2`…), or `%n` for an unnamed one.
    pub value: String,
    pub form: MatMulForm,
    pub kernel: &'static str,
    /// The kernel's predicted cost for this call (before sharing with other calls).
    pub cost: KernelCost,
}

/// The HE value(s) standing for one tensor-IR value.
#[derive(Debug, Clone)]
enum HeVal {
    /// Sample blocks.
    Batch(Vec<ValueId>),
    /// Weight-row blocks (one for a matrix that fits a ciphertext).
    Param(Vec<ValueId>),
    /// A parameter known at compile time (an inference plan on plaintext weights): its products
    /// are ciphertext × plaintext ([`kernels::plain`]).
    Plain(std::sync::Arc<PlainMatrix>),
    /// The monitored loss: not computed under encryption.
    Skipped,
}

/// The plan's name for a tensor-IR state slot.
pub fn state_slot(slot: Slot) -> StateSlot {
    let kind = match slot.kind {
        SlotKind::Weight => StateKind::Weight,
        SlotKind::Bias => StateKind::Bias,
        SlotKind::WeightPrev => StateKind::WeightPrev,
        SlotKind::BiasPrev => StateKind::BiasPrev,
    };
    StateSlot {
        layer: slot.layer.0,
        kind,
    }
}

fn err(reason: String) -> IrError {
    IrError::Layout {
        kernel: "lowering",
        reason,
    }
}

/// The smallest power-of-two row stride every product of the step accepts. Parameters whose
/// padded rows exceed the resulting rows per ciphertext are cut into weight-row blocks, so the
/// constraints are: every matrix's columns fit a row, and the transposed-first gradient's shifted
/// copy (`n + p′ − 1` columns, p′ the gradient's block period) fits a row.
pub fn choose_stride(tir: &Tir, slots: usize) -> Result<usize, IrError> {
    let mut reason = String::from("no stride fits");
    let mut w = 1usize;
    while w <= slots {
        match stride_fits(tir, w, slots) {
            Ok(()) => return Ok(w),
            Err(why) => reason = why,
        }
        w *= 2;
    }
    Err(err(format!(
        "no row stride up to the {slots} slots fits this step: {reason}"
    )))
}

/// Why row stride `w` does not fit the step (rows per ciphertext = slots / w).
fn stride_fits(tir: &Tir, w: usize, slots: usize) -> Result<(), String> {
    let rows_per_ct = slots / w;
    for v in tir.values() {
        let Some(node) = tir.node(v) else { continue };
        let cols = node.shape.cols.next_power_of_two();
        if cols > w {
            return Err(format!(
                "a {}×{} matrix needs a row stride of {cols} (column blocking is not implemented)",
                node.shape.rows, node.shape.cols
            ));
        }
        if let Op::MatMul(MatMulForm::AtB) = node.op {
            let ops = tir.operands(v);
            let shape = |i: usize| ops.get(i).and_then(|&(_, o)| tir.shape(o));
            let (Some(d), Some(x)) = (shape(0), shape(1)) else {
                continue;
            };
            let (period, _) = kernels::weight_blocking(d.cols, rows_per_ct);
            if x.cols + period - 1 > w {
                return Err(format!(
                    "the {}×{} weight gradient needs a row stride ≥ {} + {period} − 1",
                    d.cols, x.cols, x.cols
                ));
            }
        }
    }
    Ok(())
}

/// Lower one training (or inference) step with the default kernels
/// ([`KernelRegistry::standard`]).
pub fn lower_step(step: &StepGraph, cfg: &LowerConfig) -> Result<Lowered, IrError> {
    lower_step_with(step, cfg, &KernelRegistry::standard())
}

/// Lower one step, choosing every product's kernel from `registry`.
pub fn lower_step_with(
    step: &StepGraph,
    cfg: &LowerConfig,
    registry: &KernelRegistry,
) -> Result<Lowered, IrError> {
    lower_graph(step, cfg, registry, None, None)
}

/// Lower an inference step (`henn_tir::build_inference`): the forward pass, whose last layer's
/// output (`step.a`'s last value) leaves the step as the class scores of every block of queries,
/// named `S.0`, `S.1`… ([`Lowered::predictions`]).
pub fn lower_inference(step: &StepGraph, cfg: &LowerConfig) -> Result<Lowered, IrError> {
    let scores = scores_of(step)?;
    lower_graph(step, cfg, &KernelRegistry::standard(), Some(scores), None)
}

/// The value an inference step returns as its class scores: its last layer's output.
fn scores_of(step: &StepGraph) -> Result<TirValue, IrError> {
    if step.loss.is_some() {
        return Err(err("an inference lowering of a training step".into()));
    }
    step.a
        .last()
        .copied()
        .ok_or_else(|| err("an inference step without layers".into()))
}

/// The weights of an inference step on plaintext weights: every state slot the step loads, as a
/// row-major matrix (a bias is one row).
pub type PlainWeights = std::collections::BTreeMap<Slot, PlainMatrix>;

/// Lower an inference step on **plaintext weights** (a model the server may see): like
/// [`lower_inference`], but every `Load` is a compile-time constant from `weights`, its products
/// are ciphertext × plaintext ([`kernels::plain::plain_forward`]: no relinearization, no rotation
/// of the weights, one level per product) and its biases plaintext additions. The step has no
/// state inputs; the weights live in the graph's constant pool.
pub fn lower_inference_plain(
    step: &StepGraph,
    cfg: &LowerConfig,
    weights: &PlainWeights,
) -> Result<Lowered, IrError> {
    let scores = scores_of(step)?;
    lower_graph(
        step,
        cfg,
        &KernelRegistry::standard(),
        Some(scores),
        Some(weights),
    )
}

fn lower_graph(
    step: &StepGraph,
    cfg: &LowerConfig,
    registry: &KernelRegistry,
    scores: Option<TirValue>,
    plain: Option<&PlainWeights>,
) -> Result<Lowered, IrError> {
    let tir = &step.graph;
    let slots = cfg.slots;
    let stride = match cfg.stride {
        Some(w) => w,
        None => choose_stride(tir, slots)?,
    };
    let rows_per_ct = slots / stride;
    let blocks: Vec<usize> = (0..step.batch.div_ceil(rows_per_ct))
        .map(|b| rows_per_ct.min(step.batch - b * rows_per_ct))
        .collect();
    let mut g = HeGraph::new();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut predictions = Vec::new();
    let mut products = Vec::new();
    let mut map: HashMap<TirValue, HeVal> = HashMap::new();
    // Constant factors are carried, not computed: the true value of `v` is `factor[v]` times its
    // HE value. A product kernel absorbs its operands' factors (and a learning rate or 1/B that
    // scales its only consumer) into a mask it multiplies by anyway; a polynomial absorbs its
    // input's factor into its coefficients. Only where two different factors meet, or a value
    // leaves the step, does a factor cost a scalar product (one level).
    let mut factor: HashMap<TirValue, f64> = HashMap::new();
    let folds = scale_folds(tir);
    let order = topological(tir)?;
    let origins = origins(tir, &order);
    for v in order {
        let Some(node) = tir.node(v) else { continue };
        g.origin = origins.get(&v).copied().unwrap_or_default();
        let fs: Vec<f64> = tir
            .operands(v)
            .iter()
            .map(|(_, o)| factor.get(o).copied().unwrap_or(1.0))
            .collect();
        let f0 = fs.first().copied().unwrap_or(1.0);
        let f1 = fs.get(1).copied().unwrap_or(1.0);
        let mut out_factor = 1.0;
        let operands: Vec<HeVal> = tir
            .operands(v)
            .iter()
            .map(|(_, o)| {
                map.get(o)
                    .cloned()
                    .ok_or(IrError::UnknownValue { node: o.index() })
            })
            .collect::<Result<_, _>>()?;
        let shape = node.shape;
        let lowered = match &node.op {
            Op::Input(kind) => {
                let mut cts = Vec::new();
                let mut first_row = 0;
                for (block, &rows) in blocks.iter().enumerate() {
                    let layout = Layout::samples(rows, shape.cols, stride, slots).at_row(first_row);
                    let (name, source) = match kind {
                        InputKind::Features => (
                            format!("X.{block}"),
                            InputSource::Features {
                                block,
                                first_row,
                                rows,
                            },
                        ),
                        InputKind::Labels => (
                            format!("Y.{block}"),
                            InputSource::Labels {
                                block,
                                first_row,
                                rows,
                            },
                        ),
                    };
                    cts.push(g.input(&name, layout.clone()));
                    inputs.push(InputBinding {
                        name,
                        source,
                        layout,
                    });
                    first_row += rows;
                }
                HeVal::Batch(cts)
            }
            Op::Load(slot) if plain.is_some() => {
                let m = plain
                    .and_then(|p| p.get(slot))
                    .ok_or_else(|| err(format!("no plaintext value for {slot}")))?;
                HeVal::Plain(std::sync::Arc::new(m.clone()))
            }
            Op::Load(slot) => {
                let (period, nb) = kernels::weight_blocking(shape.rows, rows_per_ct);
                let mut cts = Vec::with_capacity(nb);
                for j in 0..nb {
                    let layout =
                        Layout::weight_block(shape.rows, j, period, shape.cols, stride, slots);
                    let name = block_name(&state_slot(*slot).to_string(), j, nb);
                    cts.push(g.input(&name, layout.clone()));
                    inputs.push(InputBinding {
                        name,
                        source: InputSource::State(state_slot(*slot)),
                        layout,
                    });
                }
                HeVal::Param(cts)
            }
            Op::Store(slot) => {
                let HeVal::Param(xs) = settle(&mut g, &operands[0], f0)? else {
                    return Err(err(format!("storing {slot} from a batch value")));
                };
                let nb = xs.len();
                for (j, &x) in xs.iter().enumerate() {
                    let name = block_name(&format!("{}'", state_slot(*slot)), j, nb);
                    g.output(&name, x)?;
                    outputs.push(OutputBinding {
                        name,
                        slot: state_slot(*slot),
                        layout: g.ty(x)?.layout.clone(),
                    });
                }
                HeVal::Param(xs)
            }
            Op::MatMul(form) => {
                let fold = folds.get(&v).copied().unwrap_or(1.0);
                let k = f0 * f1 * fold;
                out_factor = 1.0 / fold;
                let value = node
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("%{}", v.index()));
                if let (MatMulForm::ABt, HeVal::Batch(a), HeVal::Plain(w)) =
                    (form, &operands[0], &operands[1])
                {
                    // Plaintext weights: the one ciphertext × plaintext kernel.
                    let (cost, out) = plain_product(&mut g, a, w, k)?;
                    products.push(ProductUse {
                        value,
                        form: *form,
                        kernel: "plain_forward",
                        cost,
                    });
                    HeVal::Batch(out)
                } else {
                    let (lhs, rhs, batch_out) = match (form, &operands[0], &operands[1]) {
                        (MatMulForm::ABt | MatMulForm::AB, HeVal::Batch(a), HeVal::Param(w)) => {
                            (a, w, true)
                        }
                        (MatMulForm::AtB, HeVal::Batch(d), HeVal::Batch(x)) => (d, x, false),
                        (form, _, _) => {
                            return Err(err(format!(
                                "{form:?} on operands of unexpected orientation"
                            )));
                        }
                    };
                    // The decision point: which kernel family computes this product.
                    let choice = registry.choose(*form, &g, lhs, rhs)?;
                    products.push(ProductUse {
                        value,
                        form: *form,
                        kernel: choice.kernel.name(),
                        cost: choice.cost,
                    });
                    let out = choice.kernel.lower(&mut g, lhs, rhs, k)?;
                    if batch_out {
                        HeVal::Batch(out)
                    } else {
                        HeVal::Param(out)
                    }
                }
            }
            Op::Add | Op::Sub | Op::Mul => {
                let f = |g: &mut HeGraph, a: ValueId, b: ValueId| match node.op {
                    Op::Add => g.add(a, b),
                    Op::Sub => g.sub(a, b),
                    _ => g.mul(a, b),
                };
                let (x, y) = if matches!(node.op, Op::Mul) {
                    out_factor = f0 * f1;
                    (operands[0].clone(), operands[1].clone())
                } else if f0 == f1 {
                    out_factor = f0;
                    (operands[0].clone(), operands[1].clone())
                } else {
                    (
                        settle(&mut g, &operands[0], f0)?,
                        settle(&mut g, &operands[1], f1)?,
                    )
                };
                match (&x, &y) {
                    (HeVal::Batch(a), HeVal::Batch(b)) => HeVal::Batch(
                        a.iter()
                            .zip(b)
                            .map(|(&a, &b)| f(&mut g, a, b))
                            .collect::<Result<_, _>>()?,
                    ),
                    (HeVal::Param(a), HeVal::Param(b)) if a.len() == b.len() => HeVal::Param(
                        a.iter()
                            .zip(b)
                            .map(|(&a, &b)| f(&mut g, a, b))
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => {
                        return Err(err(
                            "elementwise op on mixed orientations or blockings".into()
                        ));
                    }
                }
            }
            Op::AddRow => match (
                &settle(&mut g, &operands[0], f0)?,
                &settle(&mut g, &operands[1], f1)?,
            ) {
                (HeVal::Batch(z), HeVal::Plain(b)) => HeVal::Batch(
                    z.iter()
                        .map(|&z| plain_add_row(&mut g, z, b))
                        .collect::<Result<_, _>>()?,
                ),
                (HeVal::Batch(z), HeVal::Param(b)) => {
                    let [b] = b.as_slice() else {
                        return Err(err("a bias split into row blocks".into()));
                    };
                    let mut out = Vec::new();
                    for (&z, &rows) in z.iter().zip(&blocks) {
                        let first_row = g.ty(z)?.layout.first_row;
                        // The bias fills every ciphertext row, including those past the block.
                        let layout = Layout::samples(rows, shape.cols, stride, slots)
                            .at_row(first_row)
                            .with_padding(Padding::Garbage);
                        out.push(g.add_as(z, *b, Some(layout))?);
                    }
                    HeVal::Batch(out)
                }
                _ => return Err(err("bias added to a non-batch value".into())),
            },
            Op::Scale(Factor::Const(c)) => {
                out_factor = f0 * c;
                operands[0].clone()
            }
            Op::Scale(Factor::Momentum) => {
                // Linear: the carried factor passes through γ_t.
                out_factor = f0;
                map_unary(&mut g, &operands[0], |g, x| {
                    let p = g.op(HeOp::MulMomentum, &[x])?;
                    g.op(HeOp::Rescale, &[p])
                })?
            }
            Op::Offset(c) => {
                // f·x + c = f·(x + c/f).
                out_factor = f0;
                let shift = c / f0;
                map_unary(&mut g, &operands[0], |g, x| {
                    g.op(HeOp::AddScalar(shift), &[x])
                })?
            }
            Op::Poly { coeffs, .. } => {
                // p(f·x) = Σ c_k f^k x^k: the input's factor moves into the coefficients.
                let scaled: Vec<f64> = coeffs
                    .iter()
                    .enumerate()
                    .map(|(k, c)| c * f0.powi(k as i32))
                    .collect();
                map_unary(&mut g, &operands[0], |g, x| poly::poly_eval(g, x, &scaled))?
            }
            Op::ColSum => {
                let HeVal::Batch(e) = &operands[0] else {
                    return Err(err("column sum of a non-batch value".into()));
                };
                let fold = folds.get(&v).copied().unwrap_or(1.0);
                out_factor = 1.0 / fold;
                let k = f0 * fold;
                let cols = shape.cols;
                // The column sums are one weight row, repeated in every ciphertext row. The node
                // that computes them is created with that layout: the last rotate-and-sum
                // doubling, or the last term of the sum when a ciphertext has a single row.
                let sums_layout = Layout::weights(1, cols, stride, slots);
                let terms = e.len().min(blocks.len());
                let mut acc: Option<ValueId> = None;
                for (i, (&e, &rows)) in e.iter().zip(&blocks).enumerate() {
                    let stated = (rows_per_ct < 2 && i + 1 == terms).then(|| sums_layout.clone());
                    let layout = g.ty(e)?.layout.clone();
                    let mut l = layout.clone();
                    l.packing = henn_he_ir::types::Packing::Flat;
                    let entries = (0..rows)
                        .flat_map(|r| (0..cols).map(move |c| ((r * stride + c) as u32, k)))
                        .collect();
                    let keep = g.constant(
                        &format!("rows<{rows}&col<{cols}/w{stride}*{k:e}"),
                        l,
                        entries,
                    );
                    acc = Some(match acc {
                        None => g.mul_plain_as(e, keep, stated)?,
                        Some(a) => {
                            let clean = g.mul_plain(e, keep)?;
                            g.add_as(a, clean, stated)?
                        }
                    });
                }
                let acc = acc.ok_or_else(|| err("column sum of an empty batch".into()))?;
                let sums =
                    g.rotate_and_sum_as(acc, stride as i64, rows_per_ct, Some(sums_layout))?;
                HeVal::Param(vec![sums])
            }
            Op::Loss(_) => HeVal::Skipped,
        };
        if scores == Some(v) {
            let HeVal::Batch(xs) = settle(&mut g, &lowered, out_factor)? else {
                return Err(err("class scores that are not a batch value".into()));
            };
            for (block, &x) in xs.iter().enumerate() {
                let name = format!("S.{block}");
                g.output(&name, x)?;
                predictions.push(PredictionBinding {
                    name,
                    block,
                    layout: g.ty(x)?.layout.clone(),
                });
            }
        }
        factor.insert(v, out_factor);
        map.insert(v, lowered);
    }
    Ok(Lowered {
        graph: g,
        stride,
        rows_per_ct,
        blocks,
        inputs,
        outputs,
        predictions,
        products,
    })
}

/// `W1` for a tensor in one ciphertext, `W1.0`, `W1.1`… for its row blocks.
fn block_name(base: &str, block: usize, blocks: usize) -> String {
    if blocks == 1 {
        base.to_owned()
    } else {
        format!("{base}.{block}")
    }
}

/// The HE value with its carried factor applied (one scalar product per ciphertext, one level), or
/// unchanged when the factor is 1.
fn settle(g: &mut HeGraph, x: &HeVal, factor: f64) -> Result<HeVal, IrError> {
    if factor == 1.0 {
        return Ok(x.clone());
    }
    if let HeVal::Plain(m) = x {
        // A plaintext takes its factor for free.
        let mut m = PlainMatrix::clone(m);
        m.name = format!("{}*{factor:e}", m.name);
        m.data.iter_mut().for_each(|v| *v *= factor);
        return Ok(HeVal::Plain(std::sync::Arc::new(m)));
    }
    map_unary(g, x, |g, v| g.mul_scalar(v, factor))
}

/// Products and column sums whose only consumer scales them by a nonzero constant (a learning
/// rate): the constant is folded into the mask of their kernel.
fn scale_folds(tir: &Tir) -> HashMap<TirValue, f64> {
    let mut users: HashMap<TirValue, Vec<TirValue>> = HashMap::new();
    for v in tir.values() {
        for (_, o) in tir.operands(v) {
            users.entry(o).or_default().push(v);
        }
    }
    let mut folds = HashMap::new();
    for v in tir.values() {
        if !matches!(tir.node(v).map(|n| &n.op), Some(Op::MatMul(_) | Op::ColSum)) {
            continue;
        }
        if let Some([u]) = users.get(&v).map(Vec::as_slice)
            && let Some(Op::Scale(Factor::Const(c))) = tir.node(*u).map(|n| &n.op)
            && c.is_finite()
            && *c != 0.0
        {
            folds.insert(v, *c);
        }
    }
    folds
}

fn map_unary(
    g: &mut HeGraph,
    x: &HeVal,
    mut f: impl FnMut(&mut HeGraph, ValueId) -> Result<ValueId, IrError>,
) -> Result<HeVal, IrError> {
    Ok(match x {
        HeVal::Batch(xs) => HeVal::Batch(xs.iter().map(|&x| f(g, x)).collect::<Result<_, _>>()?),
        HeVal::Param(xs) => HeVal::Param(xs.iter().map(|&x| f(g, x)).collect::<Result<_, _>>()?),
        HeVal::Skipped => HeVal::Skipped,
        HeVal::Plain(m) => {
            return Err(err(format!(
                "plaintext {} where the lowering expects a ciphertext",
                m.name
            )));
        }
    })
}

/// `scale·A·Wᵀ` for every sample block of A and a plaintext W ([`plain_forward`]), with the
/// kernel's predicted cost.
fn plain_product(
    g: &mut HeGraph,
    a: &[ValueId],
    w: &PlainMatrix,
    scale: f64,
) -> Result<(KernelCost, Vec<ValueId>), IrError> {
    let slots = match a.first() {
        Some(&x) => g.ty(x)?.layout.slots,
        None => return Err(err(format!("{}: a product of no sample blocks", w.name))),
    };
    let cost = plain_forward_cost(w.cols, w.rows, slots, a.len());
    let out = a
        .iter()
        .map(|&x| plain_forward(g, x, w, scale))
        .collect::<Result<_, _>>()?;
    Ok((cost, out))
}

/// The stage and layer of every tensor-IR value: `Update` for anything computed from a gradient
/// (`G_ℓ`, `gb_ℓ`), `Backward` for anything else that depends on the labels, `Forward` for the rest;
/// the layer from the value's own name (`Z2`, `E3`, `G1`…) or state slot, else from its operands.
fn origins(tir: &Tir, order: &[TirValue]) -> HashMap<TirValue, Origin> {
    let mut out: HashMap<TirValue, Origin> = HashMap::new();
    let mut from_grad: HashMap<TirValue, bool> = HashMap::new();
    let mut from_labels: HashMap<TirValue, bool> = HashMap::new();
    for &v in order {
        let Some(node) = tir.node(v) else { continue };
        let ops: Vec<TirValue> = tir.operands(v).into_iter().map(|(_, o)| o).collect();
        let name = node.name.as_deref().unwrap_or("");
        let is_grad = (name.starts_with('G') || name.starts_with("gb"))
            && name.chars().last().is_some_and(|c| c.is_ascii_digit());
        let grad = ops.iter().any(|o| from_grad.get(o) == Some(&true));
        let labels = matches!(node.op, Op::Input(InputKind::Labels))
            || ops.iter().any(|o| from_labels.get(o) == Some(&true));
        from_grad.insert(v, is_grad || grad);
        from_labels.insert(v, labels);
        let stage = if grad || matches!(node.op, Op::Store(_)) {
            Stage::Update
        } else if labels {
            Stage::Backward
        } else {
            Stage::Forward
        };
        let own = match &node.op {
            Op::Load(slot) | Op::Store(slot) => Some(slot.layer.0 as u32),
            _ => name
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse::<u32>()
                .ok()
                .and_then(|n| n.checked_sub(1)),
        };
        let layer = own.or_else(|| {
            ops.iter()
                .filter_map(|o| out.get(o).and_then(|x| x.layer))
                .max()
        });
        out.insert(v, Origin { stage, layer });
    }
    out
}

/// Tensor-IR values in a topological order (Kahn's algorithm over the public API), or a cycle error.
fn topological(tir: &Tir) -> Result<Vec<TirValue>, IrError> {
    let values: Vec<TirValue> = tir.values().collect();
    let mut pending: HashMap<TirValue, usize> = HashMap::new();
    let mut users: HashMap<TirValue, Vec<TirValue>> = HashMap::new();
    for &v in &values {
        let ops = tir.operands(v);
        pending.insert(v, ops.len());
        for (_, o) in ops {
            users.entry(o).or_default().push(v);
        }
    }
    let mut ready: Vec<TirValue> = values
        .iter()
        .copied()
        .filter(|v| pending.get(v) == Some(&0))
        .rev()
        .collect();
    let mut order = Vec::with_capacity(values.len());
    while let Some(v) = ready.pop() {
        order.push(v);
        for &u in users.get(&v).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(n) = pending.get_mut(&u) {
                *n -= 1;
                if *n == 0 {
                    ready.push(u);
                }
            }
        }
    }
    if order.len() == values.len() {
        Ok(order)
    } else {
        Err(IrError::Cycle)
    }
}
