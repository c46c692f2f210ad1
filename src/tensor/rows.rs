//! Unit-length vectors as int8 rows with one scale each: the KB's text units, class captions and
//! pictures, searched by the backends' `scores`.

use crate::weights::quant::quantize_i8;

/// Unit-length vectors stored as int8 rows with one scale each.
#[derive(Debug, Clone, Default)]
pub struct I8Rows {
    pub dim: usize,
    pub data: Vec<i8>,
    pub scale: Vec<f32>,
}

impl I8Rows {
    /// Empty rows of width `dim`.
    pub fn new(dim: usize) -> Self {
        I8Rows { dim, ..Default::default() }
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.scale.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.scale.is_empty()
    }
    /// Appends a vector (quantized).
    pub fn push(&mut self, v: &[f32]) {
        let (q, s) = quantize_i8(v);
        self.data.extend(q);
        self.scale.push(s);
    }
    /// Row `i` back as f32.
    pub fn row(&self, i: usize) -> Vec<f32> {
        self.data[i * self.dim..(i + 1) * self.dim].iter().map(|&q| q as f32 * self.scale[i]).collect()
    }
}

impl I8Rows {
    /// The dot product of `query` with every row (0 for every row when the widths differ).
    pub fn scores(&self, query: &[f32]) -> Vec<f32> {
        if query.len() != self.dim {
            return vec![0.0; self.len()];
        }
        self.data.chunks_exact(self.dim.max(1)).zip(&self.scale).map(|(row, s)| row.iter().zip(query).map(|(&q, v)| q as f32 * v).sum::<f32>() * s).collect()
    }
}
