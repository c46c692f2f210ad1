//! The compute interface both backends implement, and the shape rules they share.
//!
//! Encoders are written once against [`Backend`]; the engine picks the backend at start-up.
//! Activations are row-major: token states are `[tokens, channels]`, feature maps are
//! channels-last `[height, width, channels]`, so a 1x1 convolution is a [`Backend::linear`].

use candle_core::quantized::QTensor;
use serde::{Deserialize, Serialize};

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};

mod rows;
pub use rows::I8Rows;

/// Most tokens [`Backend::attention`] takes, on every backend (the GPU kernel keeps a score row
/// in workgroup memory; its WGSL gets this value from Rust). The text encoders' 512 positions
/// and the recogniser's 200 steps fit.
pub const MAX_ATTENTION_TOKENS: usize = 512;

/// The shape rule of [`Backend::attention`] for `qkv [t, 3c]`: the channels `c` and the head width.
pub fn attention_shape(t: usize, three_c: usize, heads: usize) -> Result<(usize, usize)> {
    let c = three_c / 3;
    if !three_c.is_multiple_of(3) || heads == 0 || !c.is_multiple_of(heads) || t == 0 || t > MAX_ATTENTION_TOKENS {
        return Err(Error::Shape { op: "attention", detail: format!("qkv [{t}, {three_c}] with {heads} heads (1 to {MAX_ATTENTION_TOKENS} tokens)") });
    }
    Ok((c, c / heads))
}

/// Activation fused into an op's epilogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Identity.
    None,
    /// GELU with the exact erf form (BERT).
    Gelu,
    /// min(max(x, 0), 6) (EfficientNet-Lite).
    Relu6,
    /// max(x, 0).
    Relu,
    /// x · min(max(x + 3, 0), 6) / 6 (MobileNetV3, PP-LCNet).
    HardSwish,
    /// 1 / (1 + e^−x).
    Sigmoid,
    /// x · sigmoid(x) (SiLU).
    Swish,
    /// min(max(x, 0), 1): a hard sigmoid once its slope and offset are folded into the
    /// weights and bias before it.
    Clip01,
}

impl Activation {
    /// The activation of one value (the backends' kernels vectorise their own loops; this is
    /// their definition).
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Gelu => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::Relu => x.max(0.0),
            Activation::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Swish => x / (1.0 + (-x).exp()),
            Activation::Clip01 => x.clamp(0.0, 1.0),
        }
    }
}

/// erf as a rational function of x² on [-4, 4] (odd degree-13 numerator, degree-8
/// denominator; the coefficients of the approximation XLA and Eigen use), ±1 beyond: no
/// branches and no `exp`, so a loop over it vectorises. Within 1e-6 of libm's erf (tested in
/// the CPU backend).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: [f32; 7] = [-2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_6e-3, -1.609_603_3e-2];
    const Q: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329_2e-3, -1.426_474e-2];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = P.iter().fold(0.0, |acc, &c| acc * x2 + c) * x;
    let q = Q.iter().fold(0.0, |acc, &c| acc * x2 + c);
    p / q
}

/// What an op does to each output value after adding its bias: `scale · act(v) + shift`. The
/// scale and shift are PP-LCNet's learnable affine after its activations; elsewhere 1 and 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Epilogue {
    pub act: Activation,
    pub scale: f32,
    pub shift: f32,
}

impl Epilogue {
    /// `scale · act(x) + shift` of one value.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        self.act.apply(x) * self.scale + self.shift
    }
    /// Whether the affine part is the identity.
    pub fn plain(self) -> bool {
        self.scale == 1.0 && self.shift == 0.0
    }
}

impl From<Activation> for Epilogue {
    fn from(act: Activation) -> Self {
        Epilogue { act, scale: 1.0, shift: 0.0 }
    }
}

/// A 2-D sliding window: kernel size, stride and explicit zero padding, for convolutions and
/// pooling over `[h, w]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    /// Padding before and after: top, left, bottom, right.
    pub pad: [usize; 4],
}

impl Window {
    /// A k×k window with the same stride and padding on both axes.
    pub fn square(k: usize, stride: usize, pad: usize) -> Self {
        Window { kh: k, kw: k, sh: stride, sw: stride, pad: [pad; 4] }
    }

    /// TensorFlow "same" padding for a k×k window over an `h`×`w` input (see [`tf_same`]).
    pub fn tf_same(h: usize, w: usize, k: usize, stride: usize) -> Self {
        let (oh, pt) = tf_same(h, k, stride.max(1));
        let (ow, pl) = tf_same(w, k, stride.max(1));
        let after = |n: usize, o: usize, before: usize| ((o.max(1) - 1) * stride + k).saturating_sub(n + before);
        Window { kh: k, kw: k, sh: stride, sw: stride, pad: [pt, pl, after(h, oh, pt), after(w, ow, pl)] }
    }

    /// Output height and width over an `h`×`w` input: ⌊(n + pads − k) / s⌋ + 1 per axis.
    pub fn out(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let [pt, pl, pb, pr] = self.pad;
        let axis = |n: usize, k: usize, s: usize, p: usize| -> Option<usize> {
            if s == 0 || k == 0 || n == 0 || n + p < k {
                None
            } else {
                Some((n + p - k) / s + 1)
            }
        };
        match (axis(h, self.kh, self.sh, pt + pb), axis(w, self.kw, self.sw, pl + pr)) {
            (Some(oh), Some(ow)) if pt < self.kh && pl < self.kw => Ok((oh, ow)),
            _ => Err(Error::Shape { op: "window", detail: format!("{self:?} over {h}x{w}") }),
        }
    }
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

    /// `epi(x · Wᵀ + b)`: x `[n, in]` → `[n, out]`.
    fn linear(&self, x: &Self::Tensor, w: &Self::Matrix, epi: impl Into<Epilogue>) -> Result<Self::Tensor>;
    /// Elementwise sum of two tensors of equal shape.
    fn add(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// LayerNorm over the last axis of `[n, c]` with weight and bias `[c]`.
    fn layer_norm(&self, x: &Self::Tensor, w: &Self::Vector, b: &Self::Vector, eps: f32) -> Result<Self::Tensor>;
    /// Multi-head self-attention without mask: qkv `[t, 3·h·d]` (q, then k, then v) → `[t, h·d]`.
    fn attention(&self, qkv: &Self::Tensor, heads: usize) -> Result<Self::Tensor>;
    /// Depthwise convolution over `win`, then bias and epilogue: x `[b, h, w, c]` (or
    /// `[h, w, c]`, one image), weights `[kh·kw, c]`, bias `[c]` → `[b, oh, ow, c]` (or
    /// without `b`), the output size by [`Window::out`].
    fn depthwise_conv(&self, x: &Self::Tensor, w: &Self::Vector, b: &Self::Vector, win: Window, epi: impl Into<Epilogue>) -> Result<Self::Tensor>;
    /// Patches for a dense convolution over `win`: x `[b, h, w, c]` (or `[h, w, c]`) →
    /// `[b·oh·ow, kh·kw·c]` in (ky, kx, c) order, zeros in the padding, to be multiplied by a
    /// [`Backend::linear`].
    fn im2col(&self, x: &Self::Tensor, win: Window) -> Result<Self::Tensor>;
    /// Dense convolution `x [b, h, w, c]` → `[b, oh, ow, out]` with a matrix `[out, kh·kw·c]`
    /// in im2col order: by default [`Backend::im2col`] then [`Backend::linear`]; a backend may
    /// read the patches in place instead.
    fn conv2d(&self, x: &Self::Tensor, w: &Self::Matrix, out: usize, win: Window, epi: impl Into<Epilogue>) -> Result<Self::Tensor> {
        let (b, h, wd) = match self.dims(x)[..] {
            [b, h, w, _] => (b, h, w),
            ref d => return Err(Error::Shape { op: "conv2d", detail: format!("expected [b, h, w, c], got {d:?}") }),
        };
        let (oh, ow) = win.out(h, wd)?;
        let y = self.linear(&self.im2col(x, win)?, w, epi)?;
        self.reshape(&y, &[b, oh, ow, out])
    }
    /// Squeeze-excitation's rescaling: every pixel of `x [b, h, w, c]` times its image's
    /// channel weights `s [b, c]`, plus `x` again when `residual`.
    fn scale_channels(&self, x: &Self::Tensor, s: &Self::Tensor, residual: bool) -> Result<Self::Tensor>;
    /// Nearest-neighbour upsampling by an integer factor: `[b, h, w, c]` → `[b, f·h, f·w, c]`.
    fn upsample(&self, x: &Self::Tensor, factor: usize) -> Result<Self::Tensor>;
    /// Concatenation along the last axis of tensors whose other axes agree.
    fn concat(&self, xs: &[&Self::Tensor]) -> Result<Self::Tensor>;
    /// `[b, h, w, f·f·c]` → `[b, f·h, f·w, c]`, the channels of each input pixel in (dy, dx, c)
    /// order (a stride-f transposed convolution with an f×f kernel is a linear then this).
    fn depth_to_space(&self, x: &Self::Tensor, factor: usize) -> Result<Self::Tensor>;
    /// Average pooling over `win` (padding not counted): `[b, h, w, c]` → `[b, oh, ow, c]`.
    fn avg_pool(&self, x: &Self::Tensor, win: Window) -> Result<Self::Tensor>;
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

/// Runs a future that needs no waiting, as every backend's but the browser WebGPU's are: the
/// synchronous API is the asynchronous one polled once, so there is one code path.
pub fn now<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(Error::GpuBug("this backend answers asynchronously: use the async API".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_same_matches_tensorflow() {
        // 224 → 112 with k3 s2: pad total 1, before 0 (TF puts the extra pixel after).
        assert_eq!(super::tf_same(224, 3, 2), (112, 0));
        assert_eq!(super::tf_same(112, 5, 2), (56, 1));
        assert_eq!(super::tf_same(14, 5, 1), (14, 2));
        assert_eq!(Window::tf_same(224, 112, 3, 2).pad, [0, 0, 1, 1]);
        assert_eq!(Window::tf_same(112, 14, 5, 2).out(112, 14).unwrap(), (56, 7));
        assert_eq!(Window::tf_same(14, 14, 5, 1).pad, [2, 2, 2, 2]);
    }

    #[test]
    fn window_sizes_follow_the_onnx_rule() {
        // PP-OCR: 3x3 stride 2 pad 1 on an odd and an even size; 5x5 stride (2, 1).
        assert_eq!(Window::square(3, 2, 1).out(7, 8).unwrap(), (4, 4));
        let w = Window { kh: 5, kw: 5, sh: 2, sw: 1, pad: [2; 4] };
        assert_eq!(w.out(6, 40).unwrap(), (3, 40));
        // Average pool 3x2 stride 3x2, no padding.
        assert_eq!(Window { kh: 3, kw: 2, sh: 3, sw: 2, pad: [0; 4] }.out(3, 81).unwrap(), (1, 40));
        // A kernel wider than the padded input, a zero stride, padding as wide as the kernel.
        assert!(Window::square(5, 1, 0).out(4, 9).is_err());
        assert!(Window::square(3, 0, 1).out(9, 9).is_err());
        assert!(Window::square(3, 1, 3).out(9, 9).is_err());
    }

    #[test]
    fn activations_match_their_definitions() {
        assert_eq!(Activation::HardSwish.apply(-3.0), 0.0);
        assert_eq!(Activation::HardSwish.apply(3.0), 3.0);
        assert!((Activation::HardSwish.apply(1.0) - 4.0 / 6.0).abs() < 1e-7);
        assert!((Activation::Swish.apply(2.0) - 2.0 / (1.0 + (-2f32).exp())).abs() < 1e-7);
        assert_eq!(Activation::Clip01.apply(1.5), 1.0);
        let e = Epilogue { act: Activation::Relu, scale: 2.0, shift: -1.0 };
        assert_eq!(e.apply(-4.0), -1.0);
        assert_eq!(e.apply(3.0), 5.0);
    }
}
