//! Value types of the HE IR: what kind of value a node produces, at which depth and scale, and how a
//! matrix is packed into its slots.
//!
//! Levels are tracked as *depth* (rescales consumed since the fresh input) during lowering, because
//! the prime chain is chosen only after the whole graph's depth is known. Scales are tracked as a
//! power of the nominal scale Δ; the exact per-ciphertext scale (which drifts because the primes are
//! only close to Δ) is computed once the chain is fixed.

use serde::{Deserialize, Serialize};

/// Rescales consumed since a fresh ciphertext. Level = (top level) − depth once the chain is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Depth(pub u32);

/// A rotation step in slots: positive = left (slot `i` receives slot `i + k`), as in CKKS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rotation(pub i64);

impl Rotation {
    /// The step reduced into `0..slots`, which is the key that must exist for it.
    pub fn normalized(self, slots: usize) -> usize {
        let n = slots as i64;
        (((self.0 % n) + n) % n) as usize
    }
}

/// Ciphertext or plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    Cipher,
    Plain,
}

/// How a matrix (or one row block of it) sits in the slots of one ciphertext.
///
/// Both packings are row-major with a power-of-two row stride: element (r, c) of the block is at slot
/// `r·stride + c`, and `rows_per_ct = slots / stride`. Slots outside the logical matrix hold zeros or
/// garbage as [`Padding`] says; kernels that read them must mask first.
///
/// A matrix with more rows than one ciphertext holds is split into row blocks (Double Volley
/// Revolver): block `j` holds rows `first_row .. first_row + rows` of the whole matrix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Layout {
    pub packing: Packing,
    /// Logical rows held by this ciphertext (≤ rows_per_ct for samples; the block's weight rows).
    pub rows: usize,
    /// The row of the whole matrix that this ciphertext's row 0 holds: 0 unless the matrix is split
    /// into row blocks (sample blocks of a batch, weight-row blocks of a wide layer).
    pub first_row: usize,
    /// Logical columns (≤ stride).
    pub cols: usize,
    /// Row stride in slots, a power of two.
    pub stride: usize,
    /// Slot count of the ciphertext (N/2).
    pub slots: usize,
    pub padding: Padding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Packing {
    /// One sample (or error row) per ciphertext row: the "database" packing of the data matrix.
    Samples,
    /// One neuron's weights per row, replicated vertically with the given period (a power of two ≥ rows)
    /// so that every ciphertext row `t` holds weight row `t mod period` (Volley Revolver's B̄).
    Weights { period: usize },
    /// A scalar or unstructured value (e.g. a mask before use).
    Flat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Padding {
    /// Every slot outside the logical matrix is zero.
    Zero,
    /// Slots outside the logical matrix may hold anything (e.g. σ(0) = 0.5 after an activation).
    Garbage,
}

impl Layout {
    pub fn rows_per_ct(&self) -> usize {
        self.slots / self.stride
    }

    /// Sample packing of a `rows × cols` block.
    pub fn samples(rows: usize, cols: usize, stride: usize, slots: usize) -> Layout {
        Layout {
            packing: Packing::Samples,
            rows,
            first_row: 0,
            cols,
            stride,
            slots,
            padding: Padding::Zero,
        }
    }

    /// Weight packing of a `rows × cols` matrix, replicated with period `rows.next_power_of_two()`.
    pub fn weights(rows: usize, cols: usize, stride: usize, slots: usize) -> Layout {
        Layout {
            packing: Packing::Weights {
                period: rows.next_power_of_two(),
            },
            rows,
            first_row: 0,
            cols,
            stride,
            slots,
            padding: Padding::Zero,
        }
    }

    /// Row block `block` of a `total_rows × cols` weight matrix cut into blocks of `period` rows
    /// (a power of two ≤ rows per ciphertext): one copy per `period` ciphertext rows, the rows past
    /// the matrix zero. With a single block this is [`Layout::weights`] with that period.
    pub fn weight_block(
        total_rows: usize,
        block: usize,
        period: usize,
        cols: usize,
        stride: usize,
        slots: usize,
    ) -> Layout {
        let first_row = block * period;
        Layout {
            packing: Packing::Weights { period },
            rows: total_rows.saturating_sub(first_row).min(period),
            first_row,
            cols,
            stride,
            slots,
            padding: Padding::Zero,
        }
    }

    /// The layout with `first_row` set (which row block of the whole matrix this ciphertext holds).
    pub fn at_row(mut self, first_row: usize) -> Layout {
        self.first_row = first_row;
        self
    }

    pub fn with_padding(mut self, padding: Padding) -> Layout {
        self.padding = padding;
        self
    }

    /// Where element (r, c) of the logical block lives, for the first copy.
    pub fn slot_of(&self, r: usize, c: usize) -> usize {
        r * self.stride + c
    }

    /// Slots holding element (r, c): one for sample packing, every replica for weight packing.
    pub fn slots_of(&self, r: usize, c: usize) -> Vec<usize> {
        match self.packing {
            Packing::Weights { period } => (0..self.rows_per_ct() / period)
                .map(|copy| (copy * period + r) * self.stride + c)
                .collect(),
            Packing::Samples | Packing::Flat => vec![self.slot_of(r, c)],
        }
    }

    /// Pack a row-major `rows × cols` matrix into a slot vector (zero padding).
    pub fn pack(&self, matrix: &[f64]) -> Vec<f64> {
        let mut slots = vec![0.0; self.slots];
        for r in 0..self.rows {
            for c in 0..self.cols {
                for s in self.slots_of(r, c) {
                    slots[s] = matrix[r * self.cols + c];
                }
            }
        }
        slots
    }

    /// Pack this block's rows out of the whole row-major matrix (`cols` wide): rows
    /// `first_row .. first_row + rows`. `None` when the matrix is too short.
    pub fn pack_block(&self, whole: &[f64]) -> Option<Vec<f64>> {
        let start = self.first_row.checked_mul(self.cols)?;
        let end = start.checked_add(self.rows.checked_mul(self.cols)?)?;
        whole.get(start..end).map(|rows| self.pack(rows))
    }

    /// Read the logical row-major matrix back out of a slot vector (first copy).
    pub fn unpack(&self, slots: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.push(slots[self.slot_of(r, c)]);
            }
        }
        out
    }
}

/// A bound on the absolute value of every meaningful slot, carried for range checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bound(pub f64);

/// The full type of an HE IR value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueType {
    pub kind: Kind,
    /// Rescales consumed so far.
    pub depth: Depth,
    /// The value's scale is Δ^scale_pow (2 right after a ct×ct product, 1 after its rescale).
    pub scale_pow: u32,
    /// 1 for a normal ciphertext, 2 after a ct×ct tensor product and before relinearization.
    pub degree: u8,
    pub layout: Layout,
}

/// Which part of a training step an operation belongs to (for reports).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Stage {
    /// The forward pass: products with the weights, biases, activations.
    #[default]
    Forward,
    /// The output error and back-propagation: everything that depends on the labels but not on a
    /// gradient.
    Backward,
    /// The optimizer: everything computed from a gradient.
    Update,
}

/// Where an operation comes from: its stage and, when known, its layer (0-based).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub stage: Stage,
    pub layer: Option<u32>,
}
