//! Weight precisions and the GGML block formats used for them.
//!
//! int8 is GGML's Q8_0: blocks of 32 weights along a row, one f16 scale each, 34 bytes per
//! block (ggml-common.h `block_q8_0`). Rows whose length is not a multiple of 32 are padded with
//! zeros on disk; the true width is restored at load time by `dequantize_matrix`.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// Bytes of one Q8_0 block: an f16 scale and 32 signed bytes.
pub const Q8_0_BLOCK_BYTES: usize = 34;
/// Weights per Q8_0 block.
pub const Q8_0_BLOCK: usize = 32;
/// Bytes of one Q4_0 block: an f16 scale and 32 nibbles (ggml-common.h `block_q4_0`).
pub const Q4_0_BLOCK_BYTES: usize = 18;

// The block layouts every reader below relies on (ggml's `block_q8_0` and `block_q4_0`).
const _: () = assert!(Q8_0_BLOCK_BYTES == 2 + Q8_0_BLOCK);
const _: () = assert!(Q4_0_BLOCK_BYTES == 2 + Q8_0_BLOCK / 2);

/// Precision of a converted model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// f32 everywhere: the reference.
    F32,
    /// Q8_0 for every matrix, f32 for vectors: the default shipped to browsers.
    Int8,
    /// f16: for the few matrices too small or too sensitive for int8 blocks.
    F16,
}

impl Precision {
    /// The file-name suffix of this precision (`int8`, `f32`).
    pub fn suffix(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
            Precision::F16 => "f16",
        }
    }
}

/// Stores a row-major matrix `[rows, cols]` at `precision`; int8 pads `cols` up to a multiple
/// of 32 with zeros.
pub fn quantize_matrix(data: &[f32], rows: usize, cols: usize, precision: Precision) -> Result<QTensor> {
    if data.len() != rows * cols {
        return Err(Error::Shape { op: "quantize_matrix", detail: format!("{} values for [{rows}, {cols}]", data.len()) });
    }
    match precision {
        Precision::F32 => Ok(QTensor::quantize(&Tensor::from_slice(data, (rows, cols), &Device::Cpu)?, GgmlDType::F32)?),
        Precision::F16 => Ok(QTensor::quantize(&Tensor::from_slice(data, (rows, cols), &Device::Cpu)?, GgmlDType::F16)?),
        Precision::Int8 => {
            let padded_cols = cols.div_ceil(Q8_0_BLOCK) * Q8_0_BLOCK;
            let t = if padded_cols == cols {
                Tensor::from_slice(data, (rows, cols), &Device::Cpu)?
            } else {
                let mut padded = vec![0f32; rows * padded_cols];
                for r in 0..rows {
                    padded[r * padded_cols..r * padded_cols + cols].copy_from_slice(&data[r * cols..(r + 1) * cols]);
                }
                Tensor::from_vec(padded, (rows, padded_cols), &Device::Cpu)?
            };
            Ok(QTensor::quantize(&t, GgmlDType::Q8_0)?)
        }
    }
}

/// Like [`quantize_matrix`], but int8 gives every block of a row the row's scale (its largest
/// |w| / 127): the layout the CPU's int8 kernel multiplies without float work (`cpu::q8`),
/// still plain Q8_0 for every reader. For BERT's layer matrices.
pub fn quantize_matrix_rows(data: &[f32], rows: usize, cols: usize, precision: Precision) -> Result<QTensor> {
    if precision != Precision::Int8 {
        return quantize_matrix(data, rows, cols, precision);
    }
    if data.len() != rows * cols {
        return Err(Error::Shape { op: "quantize_matrix_rows", detail: format!("{} values for [{rows}, {cols}]", data.len()) });
    }
    let padded = cols.div_ceil(Q8_0_BLOCK) * Q8_0_BLOCK;
    let mut out = Vec::with_capacity(rows * padded / Q8_0_BLOCK * Q8_0_BLOCK_BYTES);
    let mut row = vec![0f32; padded];
    for r in data.chunks_exact(cols.max(1)) {
        row[..cols].copy_from_slice(r);
        q8_0_row(&row, &mut out);
    }
    Ok(candle_core::quantized::ggml_file::qtensor_from_ggml(GgmlDType::Q8_0, &out, vec![rows, padded], &Device::Cpu)?)
}

/// Appends `row` (a multiple of 32 values) as Q8_0 blocks that all carry the row's scale.
fn q8_0_row(row: &[f32], out: &mut Vec<u8>) {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = half::f16::from_f32(max / 127.0);
    let inv = if d.to_f32() > 0.0 { 1.0 / d.to_f32() } else { 0.0 };
    for block in row.chunks_exact(Q8_0_BLOCK) {
        out.extend_from_slice(&d.to_le_bytes());
        out.extend(block.iter().map(|v| (v * inv).round().clamp(-127.0, 127.0) as i8 as u8));
    }
}

/// Whether every block of every row of Q8_0 `data` (`row_bytes` per row) has the same scale.
pub fn q8_0_rows_have_one_scale(data: &[u8], row_bytes: usize) -> bool {
    data.chunks_exact(row_bytes.max(1)).all(|row| row.chunks_exact(Q8_0_BLOCK_BYTES).all(|b| b[..2] == row[..2]))
}

/// Stores a vector as f32 (vectors are small; they stay exact at every precision).
pub fn vector(data: &[f32]) -> Result<QTensor> {
    Ok(QTensor::quantize(&Tensor::from_slice(data, data.len(), &Device::Cpu)?, GgmlDType::F32)?)
}

/// Dequantizes a matrix stored by `quantize_matrix` back to f32 `[rows, cols]`, dropping the
/// zero padding of int8 rows.
pub fn dequantize_matrix(q: &QTensor, rows: usize, cols: usize) -> Result<Tensor> {
    let dims = q.shape().dims().to_vec();
    let ok = dims.len() == 2 && dims[0] == rows && dims[1] >= cols && dims[1] < cols + Q8_0_BLOCK;
    if !ok {
        return Err(Error::Model(format!("matrix has shape {dims:?}, expected [{rows}, {cols}]")));
    }
    let t = q.dequantize(&Device::Cpu)?;
    Ok(if dims[1] == cols { t } else { t.narrow(1, 0, cols)?.contiguous()? })
}

/// Scale and weights of one Q8_0 block: `d · q`. The one place Q8_0 blocks are decoded (the CPU
/// and GPU layouts and row gathering all go through it).
pub fn q8_0_values(block: &[u8]) -> (f32, &[i8]) {
    (half::f16::from_le_bytes([block[0], block[1]]).to_f32(), bytemuck::cast_slice(&block[2..Q8_0_BLOCK_BYTES]))
}

/// Weights of one Q4_0 block: `d · (nibble − 8)`, the low nibble of byte j is weight j and the
/// high nibble weight j + 16.
pub fn q4_0_values(block: &[u8]) -> (f32, [i8; 32]) {
    let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
    let mut q = [0i8; 32];
    for (j, &b) in block[2..Q4_0_BLOCK_BYTES].iter().enumerate() {
        q[j] = (b & 0x0F) as i8 - 8;
        q[j + 16] = (b >> 4) as i8 - 8;
    }
    (d, q)
}

/// Re-quantizes a Q8_0 matrix `[rows, cols]` so that every block of a row has the row's scale
/// (see [`quantize_matrix_rows`], which files from `helplens convert` already use: then this
/// only checks). Any other dtype is returned as it is.
pub fn q8_0_one_scale_per_row(q: QTensor) -> Result<QTensor> {
    let dims = q.shape().dims().to_vec();
    let [rows, cols] = dims[..] else { return Ok(q) };
    if q.dtype() != GgmlDType::Q8_0 || cols % Q8_0_BLOCK != 0 {
        return Ok(q);
    }
    let data = q.data()?;
    let row_bytes = cols / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
    if data.len() != rows * row_bytes {
        return Err(Error::Model(format!("{} Q8_0 bytes for [{rows}, {cols}]", data.len())));
    }
    if q8_0_rows_have_one_scale(&data, row_bytes) {
        drop(data);
        return Ok(q);
    }
    let mut out = Vec::with_capacity(data.len());
    let mut row = Vec::with_capacity(cols);
    for bytes in data.chunks_exact(row_bytes) {
        row.clear();
        for block in bytes.chunks_exact(Q8_0_BLOCK_BYTES) {
            let (d, q) = q8_0_values(block);
            row.extend(q.iter().map(|&b| d * b as f32));
        }
        q8_0_row(&row, &mut out);
    }
    Ok(candle_core::quantized::ggml_file::qtensor_from_ggml(GgmlDType::Q8_0, &out, dims, &Device::Cpu)?)
}

/// Re-encodes Q4_0 blocks as Q8_0 blocks (same f16 scale, the 4-bit values widened to int8):
/// exact, so the int8 kernels can multiply 4-bit weights.
pub fn q4_0_to_q8_0(data: &[u8]) -> Result<Vec<u8>> {
    if !data.len().is_multiple_of(Q4_0_BLOCK_BYTES) {
        return Err(Error::Model(format!("{} bytes is not a whole number of Q4_0 blocks", data.len())));
    }
    let mut out = Vec::with_capacity(data.len() / Q4_0_BLOCK_BYTES * Q8_0_BLOCK_BYTES);
    for block in data.chunks_exact(Q4_0_BLOCK_BYTES) {
        let (_, q) = q4_0_values(block);
        out.extend_from_slice(&block[..2]);
        out.extend(q.iter().map(|&v| v as u8));
    }
    Ok(out)
}

/// Gathers rows `ids` of an embedding table `[rows, cols]` (f32, Q8_0 or Q4_0) without dequantizing
/// the whole table. Returns `ids.len() * cols` values.
pub fn gather_rows(q: &QTensor, ids: &[u32]) -> Result<Vec<f32>> {
    let dims = q.shape().dims();
    let (rows, cols) = match dims {
        [r, c] => (*r, *c),
        _ => return Err(Error::Model(format!("embedding table has shape {dims:?}"))),
    };
    let data = q.data()?;
    let mut out = Vec::with_capacity(ids.len() * cols);
    for &id in ids {
        let id = id as usize;
        if id >= rows {
            return Err(Error::Tokenizer(format!("token id {id} outside the vocabulary of {rows}")));
        }
        match q.dtype() {
            GgmlDType::F32 => {
                let row = &data[id * cols * 4..(id + 1) * cols * 4];
                out.extend(row.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            }
            GgmlDType::Q8_0 => {
                let blocks = cols / Q8_0_BLOCK;
                let row = &data[id * blocks * Q8_0_BLOCK_BYTES..(id + 1) * blocks * Q8_0_BLOCK_BYTES];
                for block in row.chunks_exact(Q8_0_BLOCK_BYTES) {
                    let (d, q) = q8_0_values(block);
                    out.extend(q.iter().map(|&v| v as f32 * d));
                }
            }
            GgmlDType::Q4_0 => {
                let bytes = cols / Q8_0_BLOCK * Q4_0_BLOCK_BYTES;
                for block in data[id * bytes..(id + 1) * bytes].chunks_exact(Q4_0_BLOCK_BYTES) {
                    let (d, q) = q4_0_values(block);
                    out.extend(q.iter().map(|&v| v as f32 * d));
                }
            }
            other => return Err(Error::Model(format!("embedding table in unsupported type {other:?}"))),
        }
    }
    Ok(out)
}

/// Symmetric per-vector int8: `v ≈ q * scale`, with `scale = max|v| / 127`.
pub fn quantize_i8(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_scale_per_row_keeps_the_matrix_within_its_rounding() {
        let (rows, cols) = (3, 64);
        // Row 1's second block is 50x smaller than its first: its own scale is lost.
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 211) as f32 - 105.0) / 90.0 * if i / 32 == 3 { 0.02 } else { 1.0 }).collect();
        let q = q8_0_one_scale_per_row(quantize_matrix(&w, rows, cols, Precision::Int8).unwrap()).unwrap();
        let data = q.data().unwrap();
        for (r, row) in data.chunks_exact(2 * Q8_0_BLOCK_BYTES).enumerate() {
            assert_eq!(row[..2], row[Q8_0_BLOCK_BYTES..Q8_0_BLOCK_BYTES + 2], "row {r}: blocks with different scales");
            let max = w[r * cols..(r + 1) * cols].iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(row[2..].iter().chain(&row[Q8_0_BLOCK_BYTES + 2..]).any(|&b| (b as i8).abs() == 127), "row {r} does not reach 127");
            let back = dequantize_matrix(&q, rows, cols).unwrap().to_vec2::<f32>().unwrap();
            for (c, v) in back[r].iter().enumerate() {
                assert!((v - w[r * cols + c]).abs() <= max / 127.0 * 0.51 + max / 254.0 + 1e-6, "w[{r}, {c}] {v} vs {}", w[r * cols + c]);
            }
        }
        let f = quantize_matrix(&w, rows, cols, Precision::F32).unwrap();
        assert_eq!(q8_0_one_scale_per_row(f).unwrap().dtype(), GgmlDType::F32);
        // Quantized per row from f32 at once: the same layout, and left as it is at load.
        let direct = quantize_matrix_rows(&w, rows, cols, Precision::Int8).unwrap();
        assert!(q8_0_rows_have_one_scale(&direct.data().unwrap(), 2 * Q8_0_BLOCK_BYTES));
        assert!(!q8_0_rows_have_one_scale(&quantize_matrix(&w, rows, cols, Precision::Int8).unwrap().data().unwrap(), 2 * Q8_0_BLOCK_BYTES));
        assert_eq!(q8_0_one_scale_per_row(direct).unwrap().data().unwrap(), quantize_matrix_rows(&w, rows, cols, Precision::Int8).unwrap().data().unwrap());
    }

    #[test]
    fn q8_0_round_trip_with_padding_and_gather() {
        let (rows, cols) = (3, 40);
        let data: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let q = quantize_matrix(&data, rows, cols, Precision::Int8).unwrap();
        assert_eq!(q.shape().dims(), &[3, 64]);
        let back = dequantize_matrix(&q, rows, cols).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (i, (a, b)) in data.iter().zip(&back).enumerate() {
            assert!((a - b).abs() <= 2.0 / 127.0 + 1e-3, "index {i}: {b} vs {a}");
        }
        let q32 = quantize_matrix(&data[..64].repeat(2), 2, 64, Precision::Int8).unwrap();
        let row = gather_rows(&q32, &[1]).unwrap();
        let full = q32.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(row, full[1]);
        assert!(gather_rows(&q32, &[2]).is_err());
    }

    #[test]
    fn q4_0_gather_and_widening_match_candle() {
        let (rows, cols) = (3, 64);
        let data: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let t = Tensor::from_slice(&data, (rows, cols), &Device::Cpu).unwrap();
        let q4 = QTensor::quantize(&t, GgmlDType::Q4_0).unwrap();
        let full = q4.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(gather_rows(&q4, &[2, 0]).unwrap(), [full[2].clone(), full[0].clone()].concat());
        assert!(gather_rows(&q4, &[3]).is_err());
        let q8 = q4_0_to_q8_0(&q4.data().unwrap()).unwrap();
        let q8 = candle_core::quantized::ggml_file::qtensor_from_ggml(GgmlDType::Q8_0, &q8, vec![rows, cols], &Device::Cpu).unwrap();
        assert_eq!(q8.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap(), full);
        assert!(q4_0_to_q8_0(&[0; 17]).is_err());
    }

    #[test]
    fn i8_vectors_keep_direction() {
        let v = [0.5f32, -0.25, 0.125, 0.0];
        let (q, s) = quantize_i8(&v);
        assert_eq!(q[0], 127);
        for (a, b) in v.iter().zip(&q) {
            assert!((a - *b as f32 * s).abs() < 0.5 / 127.0 + 1e-6);
        }
    }
}
