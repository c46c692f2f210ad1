//! Q8_0 and Q4_0 blocks from a model file rearranged into the word-aligned layouts the matmul
//! kernels read: the quantized weights packed into u32s, the scales split out as f32.

use crate::error::{Error, Result};
use crate::weights::quant::{q4_0_values, q8_0_values, Q4_0_BLOCK_BYTES, Q8_0_BLOCK, Q8_0_BLOCK_BYTES};

/// Splits Q8_0 blocks (f16 scale + 32 int8, 34 bytes) into u32-packed int8 `[rows, kp/4]` and
/// f32 scales `[rows, kp/32]`, the layout the matmul kernel loads with aligned 32-bit reads.
pub fn repack_q8_0(raw: &[u8], rows: usize, kp: usize) -> Result<(Vec<u32>, Vec<f32>)> {
    let blocks = rows * kp / Q8_0_BLOCK;
    if raw.len() != blocks * Q8_0_BLOCK_BYTES {
        return Err(Error::Model(format!("Q8_0 data is {} bytes, expected {} for [{rows}, {kp}]", raw.len(), blocks * Q8_0_BLOCK_BYTES)));
    }
    let mut q = Vec::with_capacity(rows * kp / 4);
    let mut scales = Vec::with_capacity(blocks);
    for block in raw.chunks_exact(Q8_0_BLOCK_BYTES) {
        let (d, values) = q8_0_values(block);
        scales.push(d);
        q.extend(bytemuck::cast_slice::<i8, u8>(values).chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    }
    Ok((q, scales))
}

/// Q4_0 blocks (f16 scale, then 16 bytes: byte j holds weight j in its low nibble and weight
/// j + 16 in its high one, each stored +8) → eight nibbles per u32 in weight order (nibble i of
/// word w is weight 8w + i) `[rows, kp/8]`, and the scales as f32 `[rows, kp/32]`.
pub fn repack_q4_0(raw: &[u8], rows: usize, kp: usize) -> Result<(Vec<u32>, Vec<f32>)> {
    let blocks = rows * kp / Q8_0_BLOCK;
    if raw.len() != blocks * Q4_0_BLOCK_BYTES {
        return Err(Error::Model(format!("Q4_0 data is {} bytes, expected {} for [{rows}, {kp}]", raw.len(), blocks * Q4_0_BLOCK_BYTES)));
    }
    let mut q = Vec::with_capacity(rows * kp / 8);
    let mut scales = Vec::with_capacity(blocks);
    for block in raw.chunks_exact(Q4_0_BLOCK_BYTES) {
        let (d, w) = q4_0_values(block);
        scales.push(d);
        // Back to the stored nibble (value + 8), eight per word in weight order.
        q.extend(w.chunks_exact(8).map(|e| e.iter().enumerate().fold(0u32, |acc, (i, &v)| acc | ((v + 8) as u32) << (4 * i))));
    }
    Ok((q, scales))
}

#[cfg(test)]
mod tests {
    use super::repack_q4_0;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    #[test]
    fn q4_repacking_keeps_every_weight_in_order() {
        let (rows, k) = (3, 64);
        let w: Vec<f32> = (0..rows * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let t = QTensor::quantize(&Tensor::from_vec(w, (rows, k), &Device::Cpu).unwrap(), GgmlDType::Q4_0).unwrap();
        let want = t.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (q, s) = repack_q4_0(&t.data().unwrap(), rows, k).unwrap();
        let got: Vec<f32> = (0..rows * k).map(|i| (((q[i / 8] >> (4 * (i % 8))) & 15) as f32 - 8.0) * s[i / 32]).collect();
        assert_eq!(got, want);
        assert!(repack_q4_0(&t.data().unwrap()[1..], rows, k).is_err());
    }
}
