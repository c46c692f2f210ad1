//! The compute interface both backends implement, and the shape rules they share.
//!
//! Encoders are written once against [`Backend`]; the engine picks the backend at start-up.
//! Activations are row-major: token states are `[tokens, channels]`, feature maps are
//! channels-last `[height, width, channels]`, so a 1x1 convolution is a [`Backend::linear`].

use candle_core::quantized::QTensor;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};

/// Activation fused into an op's epilogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Identity.
    None,
    /// GELU with the exact erf form (BERT).
    Gelu,
    /// min(max(x, 0), 6) (EfficientNet-Lite).
    Relu6,
}

/// A compute backend: tensors live wherever the backend keeps them.
pub trait Backend {
    /// An activation tensor with its shape.
    type Tensor;
    /// A weight matrix `[out, in]` with its bias `[out]`, prepared once at load time.
    type Matrix;
    /// A weight vector, prepared once at load time.
    type Vector;
    /// Unit vectors stored as int8 rows with one scale per row (KB vectors), prepared once.
    type Rows;

    /// Short name shown to users ("cpu", "webgpu").
    fn name(&self) -> &'static str;
    /// Uploads host data as a tensor of `shape`.
    fn tensor(&self, data: &[f32], shape: &[usize]) -> Result<Self::Tensor>;
    /// Reads a tensor back to the host (row-major).
    fn read(&self, t: &Self::Tensor) -> Result<Vec<f32>>;
    /// Reads a tensor back without blocking: the browser's WebGPU maps a buffer only after
    /// control returns to the event loop. Backends that read synchronously need not override it.
    fn read_async(&self, t: &Self::Tensor) -> impl Future<Output = Result<Vec<f32>>> {
        std::future::ready(self.read(t))
    }
    /// Reads several tensors back in one round trip (one submit, one map on the GPU).
    fn read_many_async(&self, ts: &[&Self::Tensor]) -> impl Future<Output = Result<Vec<Vec<f32>>>> {
        std::future::ready(ts.iter().map(|t| self.read(t)).collect())
    }
    /// The shape of a tensor.
    fn dims(&self, t: &Self::Tensor) -> Vec<usize>;
    /// Prepares a weight matrix stored as `[out, in]` (f32 or Q8_0 with rows padded to 32).
    /// `many_rows` hints that it will multiply many rows at once (feature maps), where the
    /// backend may prefer dense f32 over on-the-fly dequantization.
    fn matrix(&self, w: QTensor, bias: &[f32], out_dim: usize, in_dim: usize, many_rows: bool) -> Result<Self::Matrix>;
    /// Prepares a weight vector.
    fn vector(&self, v: &[f32]) -> Result<Self::Vector>;
    /// Prepares `scale.len()` int8 rows of `dim` values (`data` row-major); row r stands for
    /// `data[r] · scale[r]`.
    fn rows(&self, data: &[i8], scale: &[f32], dim: usize) -> Result<Self::Rows>;

    /// `act(x · Wᵀ + b)`: x `[n, in]` → `[n, out]`.
    fn linear(&self, x: &Self::Tensor, w: &Self::Matrix, act: Activation) -> Result<Self::Tensor>;
    /// Elementwise sum of two tensors of equal shape.
    fn add(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// LayerNorm over the last axis of `[n, c]` with weight and bias `[c]`.
    fn layer_norm(&self, x: &Self::Tensor, w: &Self::Vector, b: &Self::Vector, eps: f32) -> Result<Self::Tensor>;
    /// Multi-head self-attention without mask: qkv `[t, 3·h·d]` (q, then k, then v) → `[t, h·d]`.
    fn attention(&self, qkv: &Self::Tensor, heads: usize) -> Result<Self::Tensor>;
    /// Depthwise k×k convolution with TensorFlow "same" padding, then bias and activation:
    /// x `[b, h, w, c]` (or `[h, w, c]`, one image), weights `[k·k, c]`, bias `[c]` →
    /// `[b, ceil(h/s), ceil(w/s), c]` (or without `b`).
    fn depthwise_conv(&self, x: &Self::Tensor, w: &Self::Vector, b: &Self::Vector, k: usize, stride: usize, act: Activation) -> Result<Self::Tensor>;
    /// Patches for a dense k×k convolution with TF "same" padding: x `[b, h, w, c]` (or
    /// `[h, w, c]`) → `[b·oh·ow, k·k·c]` in (ky, kx, c) order, to be multiplied by a
    /// [`Backend::linear`].
    fn im2col(&self, x: &Self::Tensor, k: usize, stride: usize) -> Result<Self::Tensor>;
    /// Mean over rows: `[n, c]` → `[1, c]`, or per batch item `[b, n, c]` → `[b, c]` (mean
    /// pooling, global average pooling).
    fn mean_rows(&self, x: &Self::Tensor) -> Result<Self::Tensor>;
    /// Scales every row of `[n, c]` to unit length (zero rows stay zero).
    fn l2_normalize(&self, x: &Self::Tensor) -> Result<Self::Tensor>;
    /// Softmax over the last axis of `[n, c]`.
    fn softmax(&self, x: &Self::Tensor) -> Result<Self::Tensor>;
    /// Dot products of queries `[m, dim]` with every row: `[m, rows]` (cosines for unit
    /// vectors): the KB search.
    fn scores(&self, rows: &Self::Rows, q: &Self::Tensor) -> Result<Self::Tensor>;
    /// ConSE mixing: for probabilities `[1, classes]`, `Σ p_i · row_i` over the `top` most
    /// probable classes (ties: the lower index first) → `[1, dim]`, not normalised.
    fn conse(&self, probs: &Self::Tensor, labels: &Self::Rows, top: usize) -> Result<Self::Tensor>;
    /// Reshapes without moving data.
    fn reshape(&self, x: &Self::Tensor, shape: &[usize]) -> Result<Self::Tensor>;
}

/// TensorFlow "same" padding for one axis: (output size, padding before).
/// pad_total = max((ceil(n/s) − 1)·s + k − n, 0); the smaller half goes before.
pub fn tf_same(n: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(n);
    (out, total / 2)
}

/// Indices of the `k` largest values, largest first (ties: the lower index first).
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    idx.truncate(k);
    idx
}

/// Softmax of one row of logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// L2-normalises a vector in place (zero vectors stay zero).
pub fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tf_same_matches_tensorflow() {
        // 224 → 112 with k3 s2: pad total 1, before 0 (TF puts the extra pixel after).
        assert_eq!(super::tf_same(224, 3, 2), (112, 0));
        assert_eq!(super::tf_same(112, 5, 2), (56, 1));
        assert_eq!(super::tf_same(14, 5, 1), (14, 2));
    }
}

/// Runs a future that needs no waiting, as every backend's but the browser WebGPU's are: the
/// synchronous API is the asynchronous one polled once, so there is one code path.
pub fn now<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(Error::Gpu("this backend answers asynchronously: use the async API".into())),
    }
}
