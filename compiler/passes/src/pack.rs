//! Packed refreshes: the loop-carried state of a step refreshed by as few bootstraps as the slots
//! allow (issue 16, first step).
//!
//! Unpacked, every state output (each weight matrix, bias and momentum ciphertext) is bootstrapped
//! on its own at the end of the step, although a replicated `weights{period}` value only needs one
//! period (`period · stride` slots) and a step's whole state is a few thousand numbers. This pass
//! rewrites a lowered step, before [`crate::bootstrap::place_bootstraps`] runs on it:
//!
//! - **gather** (end of the step): each packed state output `v` is masked to its first period
//!   (rows `< rows`, columns `< cols`: one `mul_plain` + `rescale`, one level), rotated right to
//!   its own region of a shared ciphertext and summed with the others; the sum `P` (zero outside
//!   the regions, so a zeroed sparse circuit of `slot_need` slots returns it whole) is
//!   bootstrapped **once**;
//! - every state output is then `rotate(bootstrap(P), offset)`: its first period holds the
//!   refreshed value exactly (at depth 0: the loop stays level-invariant), the slots beyond hold
//!   the other packed values (the output's padding is garbage; the owner reads rows `< rows` of
//!   the first period, which is all the plan's output layout promises for the packed values);
//! - **scatter** (start of the next step): each packed state input is masked to its first period
//!   (one level) and re-replicated over the ciphertext by `log2(slots / (period · stride))`
//!   rotate-and-add doublings (no level), as [`crate::bootstrap::replicate_sparse_weights`] does.
//!   The owner's initial state (already replicated and clean) goes through the same mask unchanged.
//!
//! **Level accounting.** Both masks are ordinary nodes of the rewritten graph, so the placement
//! that runs on it budgets them like any product: the gather's mask makes `P` one level deeper
//! than the deepest packed value (`P` must be within `usable` levels: what the bootstrap's input
//! rule needs), the scatter's mask starts every consumer of the state one level down.
//!
//! **When packing is refused.** Only state outputs whose input has the same block layout, packed
//! `weights{period}` with one period smaller than the ciphertext, are candidates (a weight-row
//! block spans every slot). Regions are powers of two placed largest first (so every offset is a
//! multiple of the region's size); a group that would hold one value saves no bootstrap and is
//! left alone. Whether the packed step is cheaper at all (the masks may cost an extra in-step
//! refresh) is the caller's decision by the cost model: it places both and keeps the cheaper.

use std::collections::HashMap;

use henn_he_ir::error::IrError;
use henn_he_ir::graph::{HeGraph, ValueId};
use henn_he_ir::op::HeOp;
use henn_he_ir::types::{Layout, Packing, Padding, Rotation};

/// One packed refresh: the state outputs it carries and the slots they occupy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackGroup {
    /// `(output name, first slot of its region, region size in slots)`, largest region first.
    pub members: Vec<(String, usize, usize)>,
    /// Slots the packed ciphertext spans (a power of two: what the sparse circuit must refresh).
    pub span: usize,
}

/// A step rewritten with packed state refreshes (one `bootstrap` per group, already in the graph).
#[derive(Debug, Clone)]
pub struct PackedStep {
    pub graph: HeGraph,
    pub groups: Vec<PackGroup>,
}

impl PackedStep {
    /// State outputs refreshed by a packed bootstrap.
    pub fn packed_values(&self) -> usize {
        self.groups.iter().map(|g| g.members.len()).sum()
    }
}

/// A state value that may be packed: its input and output, layout and region size.
#[derive(Debug, Clone)]
struct Candidate {
    input: String,
    output: String,
    layout: Layout,
    size: usize,
}

/// The state input an output replaces: the lowering names the output of state `W` (block `j`)
/// `W'` (`W'.j`) and its input `W` (`W.j`).
fn input_name(output: &str) -> String {
    output.replacen('\'', "", 1)
}

/// One period of a replicated weight layout, in slots, if it is smaller than the ciphertext.
fn period_span(l: &Layout) -> Option<usize> {
    let Packing::Weights { period } = l.packing else {
        return None;
    };
    let span = period.checked_mul(l.stride)?;
    (span.is_power_of_two() && span < l.slots && l.first_row == 0 && l.rows <= period)
        .then_some(span)
}

/// The same block of the same matrix, laid out the same way (padding aside).
fn same_block(a: &Layout, b: &Layout) -> bool {
    (a.packing, a.rows, a.first_row, a.cols, a.stride, a.slots)
        == (b.packing, b.rows, b.first_row, b.cols, b.stride, b.slots)
}

/// The packable state of `g`: outputs with a matching input and a period smaller than the slots.
fn candidates(g: &HeGraph) -> Vec<Candidate> {
    let inputs: HashMap<&str, &Layout> = g
        .graph
        .node_weights()
        .filter_map(|n| match &n.op {
            HeOp::Input { name } => Some((name.as_str(), &n.ty.layout)),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for n in g.graph.node_weights() {
        let HeOp::Output { name } = &n.op else {
            continue;
        };
        let input = input_name(name);
        let Some(&l) = inputs.get(input.as_str()) else {
            continue;
        };
        if let Some(size) = period_span(l)
            && same_block(l, &n.ty.layout)
        {
            out.push(Candidate {
                input,
                output: name.clone(),
                layout: l.clone(),
                size,
            });
        }
    }
    out
}

/// Regions for the candidates: largest first, first fit into ciphertexts of `slots` slots
/// (power-of-two sizes placed in decreasing order keep every offset aligned to its size).
/// Groups of one value are dropped.
fn groups(mut cands: Vec<Candidate>, slots: usize) -> Vec<Vec<(Candidate, usize)>> {
    cands.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.output.cmp(&b.output)));
    let mut bins: Vec<(usize, Vec<(Candidate, usize)>)> = Vec::new();
    for c in cands {
        match bins.iter_mut().find(|(used, _)| used + c.size <= slots) {
            Some((used, members)) => {
                members.push((c.clone(), *used));
                *used += c.size;
            }
            None => bins.push((c.size, vec![(c, 0)])),
        }
    }
    bins.into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.len() > 1)
        .collect()
}

/// The mask keeping the first period of `l` (rows `< rows`, columns `< cols`).
fn first_period_mask(g: &mut HeGraph, l: &Layout) -> ValueId {
    let entries = (0..l.rows)
        .flat_map(|r| (0..l.cols).map(move |c| ((r * l.stride + c) as u32, 1.0)))
        .collect();
    let mut ml = l.clone();
    ml.packing = Packing::Flat;
    g.constant(
        &format!("pack:rows<{}&col<{}/w{}", l.rows, l.cols, l.stride),
        ml,
        entries,
    )
}

/// Rewrite `g` with packed refreshes of its state (see the module docs), or `None` when no two
/// state values can share a ciphertext.
pub fn pack_state_refreshes(g: &HeGraph) -> Result<Option<PackedStep>, IrError> {
    let Some(slots) = g.graph.node_weights().map(|n| n.ty.layout.slots).max() else {
        return Ok(None);
    };
    let bins = groups(candidates(g), slots);
    if bins.is_empty() {
        return Ok(None);
    }
    let packed_inputs: HashMap<String, Layout> = bins
        .iter()
        .flatten()
        .map(|(c, _)| (c.input.clone(), c.layout.clone()))
        .collect();
    let packed_outputs: HashMap<&str, ()> = bins
        .iter()
        .flatten()
        .map(|(c, _)| (c.output.as_str(), ()))
        .collect();
    let (mut out, map) = copy_with_scatter(g, &packed_inputs, &packed_outputs)?;
    let mut groups_out = Vec::new();
    for members in &bins {
        groups_out.push(gather(&mut out, g, &map, members)?);
    }
    Ok(Some(PackedStep {
        graph: out,
        groups: groups_out,
    }))
}

/// `g` copied with every packed state input masked and re-replicated, and without the packed
/// outputs (the gather adds them). Level drops are not copied: binary operations re-align their
/// operands (the scatter makes the state one level deeper). Returns the copy and the map from
/// `g`'s nodes to their images.
fn copy_with_scatter(
    g: &HeGraph,
    packed_inputs: &HashMap<String, Layout>,
    packed_outputs: &HashMap<&str, ()>,
) -> Result<(HeGraph, HashMap<ValueId, ValueId>), IrError> {
    let order = crate::bootstrap::program_order(g)?;
    let mut out = HeGraph::with_constants_of(g);
    out.reserve_like(g);
    let mut map: HashMap<ValueId, ValueId> = HashMap::with_capacity(g.len());
    for idx in order {
        let v = ValueId(idx);
        let Some(node) = g.node(v) else { continue };
        out.origin = node.origin;
        if let HeOp::Output { name } = &node.op
            && packed_outputs.contains_key(name.as_str())
        {
            continue;
        }
        let operands: Vec<ValueId> = g
            .operands(v)
            .iter()
            .map(|o| {
                map.get(o)
                    .copied()
                    .ok_or(IrError::UnknownValue { node: o.0.index() })
            })
            .collect::<Result<_, _>>()?;
        let stated = Some(node.ty.layout.clone());
        let new = match &node.op {
            HeOp::Input { name } => {
                let x = out.input(name, node.ty.layout.clone());
                match packed_inputs.get(name) {
                    Some(l) => scatter(&mut out, x, l)?,
                    None => x,
                }
            }
            HeOp::Const(id) => out.pool_constant(*id)?,
            HeOp::LevelDrop { .. } => operands[0],
            HeOp::AddCC | HeOp::SubCC | HeOp::MulCC => {
                let (a, b) = out.align(operands[0], operands[1])?;
                out.op_as(node.op.clone(), &[a, b], stated)?
            }
            op => out.op_as(op.clone(), &operands, stated)?,
        };
        map.insert(v, new);
    }
    Ok((out, map))
}

/// A packed state input (its first period valid, the rest anything) as the layout `l` promises:
/// masked to the first period (one level) and copied over every period by doublings.
fn scatter(g: &mut HeGraph, x: ValueId, l: &Layout) -> Result<ValueId, IrError> {
    let mask = first_period_mask(g, l);
    let kept = g.mul_plain(x, mask)?;
    let span = period_span(l).ok_or_else(|| IrError::Invalid {
        node: x.0.index(),
        op: "pack",
        reason: "a packed state value spans the whole ciphertext".into(),
    })?;
    let mut clean = l.clone();
    clean.padding = Padding::Zero;
    g.rotate_and_sum_as(kept, span as i64, l.slots / span, Some(clean))
}

/// One group's gather, bootstrap and outputs (see the module docs).
fn gather(
    out: &mut HeGraph,
    g: &HeGraph,
    map: &HashMap<ValueId, ValueId>,
    members: &[(Candidate, usize)],
) -> Result<PackGroup, IrError> {
    let used: usize = members.iter().map(|(c, _)| c.size).sum();
    let span = used.next_power_of_two();
    let mut acc: Option<ValueId> = None;
    let mut packed_layout: Option<Layout> = None;
    for (i, (c, offset)) in members.iter().enumerate() {
        let src = output_operand(g, &c.output)?;
        let v = map.get(&src).copied().ok_or(IrError::UnknownValue {
            node: src.0.index(),
        })?;
        let mask = first_period_mask(out, &c.layout);
        let kept = out.mul_plain(v, mask)?;
        let placed = out.rotate(kept, -(*offset as i64))?;
        let layout = packed_layout
            .get_or_insert_with(|| {
                let mut l = Layout::samples(
                    span / c.layout.stride,
                    c.layout.stride,
                    c.layout.stride,
                    c.layout.slots,
                );
                l.padding = Padding::Zero;
                l
            })
            .clone();
        let last = i + 1 == members.len();
        acc = Some(match acc {
            None => placed,
            Some(a) => out.add_as(a, placed, last.then_some(layout))?,
        });
    }
    let packed = acc.ok_or_else(|| IrError::Invalid {
        node: 0,
        op: "pack",
        reason: "an empty packed group".into(),
    })?;
    let refreshed = out.op(HeOp::Bootstrap, &[packed])?;
    let mut named = Vec::with_capacity(members.len());
    for (c, offset) in members {
        let mut l = c.layout.clone();
        l.padding = Padding::Garbage;
        // The output's operand must carry the state's layout (the plan checks it against the
        // data contract): the value at offset 0 restates it with an addition of zero.
        let op = if *offset == 0 {
            HeOp::AddScalar(0.0)
        } else {
            HeOp::Rotate(Rotation(*offset as i64))
        };
        let value = out.op_as(op, &[refreshed], Some(l.clone()))?;
        out.op_as(
            HeOp::Output {
                name: c.output.clone(),
            },
            &[value],
            Some(l),
        )?;
        named.push((c.output.clone(), *offset, c.size));
    }
    Ok(PackGroup {
        members: named,
        span,
    })
}

/// The value the output `name` of `g` stores.
fn output_operand(g: &HeGraph, name: &str) -> Result<ValueId, IrError> {
    g.graph
        .node_indices()
        .find(|&n| matches!(&g.graph[n].op, HeOp::Output { name: o } if o == name))
        .and_then(|n| g.operands(ValueId(n)).first().copied())
        .ok_or_else(|| IrError::MissingInput { name: name.into() })
}
