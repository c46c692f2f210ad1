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
    /// The shape of a tensor.
    fn dims(&self, t: &Self::Tensor) -> Vec<usize>;
    /// Prepares a weight matrix stored as `[out, in]` (f32 or Q8_0 with rows padded to 32).
    /// `many_rows` hints that it will multiply many rows at once (feature maps), where the
    /// backend may prefer dense f32 over on-the-fly dequantization.
    fn matrix(&self, w: QTensor, bias: &[f32], out_dim: usize, in_dim: usize, many_rows: bool) -> Result<Self::Matrix>;
    /// Prepares a weight vector.
    fn vector(&self, v: &[f32]) -> Result<Self::Vector>;

    /// `act(x · Wᵀ + b)`: x `[n, in]` → `[n, out]`.
    fn linear(&self, x: &Self::Tensor, w: &Self::Matrix, act: Activation) -> Result<Self::Tensor>;
    /// Elementwise sum of two tensors of equal shape.
    fn add(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// LayerNorm over the last axis of `[n, c]` with weight and bias `[c]`.
    fn layer_norm(&self, x: &Self::Tensor, w: &Self::Vector, b: &Self::Vector, eps: f32) -> Result<Self::Tensor>;
    /// Multi-head self-attention without mask: qkv `[t, 3·h·d]` (q, then k, then v) → `[t, h·d]`.
    fn attention(&self, qkv: &Self::Tensor, heads: usize) -> Result<Self::Tensor>;
    /// Depthwise k×k convolution with TensorFlow "same" padding, then bias and activation:
    /// x `[h, w, c]`, weights `[k·k, c]`, bias `[c]` → `[ceil(h/s), ceil(w/s), c]`.
    fn depthwise_conv(&self, x: &Self::Tensor, w: &Self::Vector, b: &Self::Vector, k: usize, stride: usize, act: Activation) -> Result<Self::Tensor>;
    /// Patches for a dense k×k convolution with TF "same" padding: x `[h, w, c]` →
    /// `[oh·ow, k·k·c]` in (ky, kx, c) order, to be multiplied by a [`Backend::linear`].
    fn im2col(&self, x: &Self::Tensor, k: usize, stride: usize) -> Result<Self::Tensor>;
    /// Mean over rows: `[n, c]` → `[1, c]` (mean pooling, global average pooling).
    fn mean_rows(&self, x: &Self::Tensor) -> Result<Self::Tensor>;
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
