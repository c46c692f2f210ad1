//! Weights on the device, uploaded once when a model loads: matrices with their bias (Q8_0
//! and Q4_0 kept quantized, anything else dense f32) and the KB's int8 unit vectors.

use candle_core::quantized::{GgmlDType, QTensor};

use super::repack::{repack_q4_0, repack_q8_0};
use super::Gpu;
use crate::error::{Error, Result};
use crate::weights::quant::dequantize_matrix;

/// How a matrix's weights are stored on the device.
pub(super) enum MatrixWeights {
    /// Q8_0 repacked: four int8 per u32 `[out, kp/4]` and one f32 scale per 32 `[out, kp/32]`.
    Q8 { q: wgpu::Buffer, scales: wgpu::Buffer, kp: usize },
    /// Q4_0 repacked: eight 4-bit weights (+8) per u32 `[out, kp/8]`, nibble i of word w is
    /// weight 8w + i; one f32 scale per 32 `[out, kp/32]`.
    Q4 { q: wgpu::Buffer, scales: wgpu::Buffer, kp: usize },
    /// Dense f32 `[out, in]`.
    F32(wgpu::Buffer),
}

/// A weight matrix and its bias on the device.
pub struct GpuMatrix {
    pub(super) w: MatrixWeights,
    pub(super) bias: wgpu::Buffer,
    pub(super) out_dim: usize,
    pub(super) in_dim: usize,
}

/// Int8 unit vectors on the device: four values per u32 (rows padded to whole words) and one
/// f32 scale per row.
pub struct GpuRows {
    pub(super) q: wgpu::Buffer,
    pub(super) scale: wgpu::Buffer,
    pub(super) n: usize,
    pub(super) dim: usize,
}

impl GpuRows {
    /// u32 words per row.
    pub(super) fn words(&self) -> usize {
        self.dim.div_ceil(4)
    }
}

impl Gpu {
    /// Uploads a `[out_dim, in_dim]` matrix (Q8_0 and Q4_0 with rows padded to a multiple of
    /// 32) and its bias.
    pub(super) fn upload_matrix(&self, w: QTensor, bias: &[f32], out_dim: usize, in_dim: usize) -> Result<GpuMatrix> {
        self.check_alive()?;
        if bias.len() != out_dim {
            return Err(Error::Model(format!("bias of {} values for a matrix with {out_dim} rows", bias.len())));
        }
        let stored = w.shape().dims().to_vec();
        let blocks = matches!(w.dtype(), GgmlDType::Q8_0 | GgmlDType::Q4_0);
        let kp = stored.get(1).copied().unwrap_or(0);
        if blocks && (stored.len() != 2 || stored[0] != out_dim || kp < in_dim || kp % 32 != 0) {
            return Err(Error::Model(format!("{:?} matrix has shape {stored:?}, expected [{out_dim}, {in_dim} padded to 32]", w.dtype())));
        }
        let weights = if w.dtype() == GgmlDType::Q8_0 {
            let (q, scales) = repack_q8_0(&w.data()?, out_dim, kp)?;
            MatrixWeights::Q8 { q: self.storage("w.q8", bytemuck::cast_slice(&q)), scales: self.storage("w.scale", bytemuck::cast_slice(&scales)), kp }
        } else if w.dtype() == GgmlDType::Q4_0 {
            // Kept at 4 bits on the device: half the bytes of int8, read by the Q4 kernels.
            let (q, scales) = repack_q4_0(&w.data()?, out_dim, kp)?;
            MatrixWeights::Q4 { q: self.storage("w.q4", bytemuck::cast_slice(&q)), scales: self.storage("w.scale", bytemuck::cast_slice(&scales)), kp }
        } else {
            let dense = dequantize_matrix(&w, out_dim, in_dim)?.flatten_all()?.to_vec1::<f32>()?;
            MatrixWeights::F32(self.storage("w.f32", bytemuck::cast_slice(&dense)))
        };
        Ok(GpuMatrix { w: weights, bias: self.storage("bias", bytemuck::cast_slice(bias)), out_dim, in_dim })
    }

    /// Uploads `scale.len()` int8 rows of `dim` values, each padded to whole u32 words.
    pub(super) fn upload_rows(&self, data: &[i8], scale: &[f32], dim: usize) -> Result<GpuRows> {
        self.check_alive()?;
        if data.len() != scale.len() * dim {
            return Err(Error::Shape { op: "rows", detail: format!("{} values for {} rows of {dim}", data.len(), scale.len()) });
        }
        let words = dim.div_ceil(4);
        let mut bytes = vec![0u8; scale.len() * words * 4];
        for (src, dst) in data.chunks(dim.max(1)).zip(bytes.chunks_exact_mut(words * 4)) {
            dst[..dim].copy_from_slice(bytemuck::cast_slice(src));
        }
        Ok(GpuRows { q: self.storage("rows.q", &bytes), scale: self.storage("rows.scale", bytemuck::cast_slice(scale)), n: scale.len(), dim })
    }
}
