//! The [`Backend`] ops on the GPU: each checks shapes on the host, takes its output from the
//! pool and records one dispatch (or none, for reshapes).

use candle_core::quantized::QTensor;

use super::kernels::Kernel;
use super::params::*;
use super::weights::{GpuMatrix, GpuRows, MatrixWeights};
use super::{Gpu, GpuTensor};
use crate::error::{Error, Result};
use crate::tensor::{Activation, Backend, Epilogue, Window};

/// Most classes [`Backend::conse`] mixes (its kernel keeps them in workgroup memory).
pub const MAX_CONSE_TOP: usize = 16;

pub use crate::tensor::MAX_ATTENTION_TOKENS;

/// Up to this many rows a linear layer runs the barrier-free few-rows kernel instead of the
/// 64×64 tiles, which would mostly multiply padding.
const FEW_ROWS: usize = 32;

/// The activation codes of act.wgsl.
fn act_code(a: Activation) -> u32 {
    match a {
        Activation::None => 0,
        Activation::Gelu => 1,
        Activation::Relu6 => 2,
        Activation::Relu => 3,
        Activation::HardSwish => 4,
        Activation::Sigmoid => 5,
        Activation::Swish => 6,
        Activation::Clip01 => 7,
    }
}

fn shape_err(op: &'static str, detail: String) -> Error {
    Error::Shape { op, detail }
}

/// (batch, height, width, channels) of a `[b, h, w, c]` or `[h, w, c]` tensor.
fn bhwc(x: &GpuTensor, op: &'static str) -> Result<(usize, usize, usize, usize)> {
    match x.shape[..] {
        [b, h, w, c] => Ok((b, h, w, c)),
        [h, w, c] => Ok((1, h, w, c)),
        _ => Err(shape_err(op, format!("expected [b, h, w, c] or [h, w, c], got {:?}", x.shape))),
    }
}

/// The output shape `[b, h, w, c]`, or `[h, w, c]` where the input had no batch axis.
fn like(x: &GpuTensor, b: usize, h: usize, w: usize, c: usize) -> Vec<usize> {
    if x.shape.len() == 4 {
        vec![b, h, w, c]
    } else {
        vec![h, w, c]
    }
}

/// Values as u32 parameters (sizes far below 2³²).
fn u(v: usize) -> u32 {
    v as u32
}

/// A window's parameters over `b` maps `[h, w, c]` with output oh×ow.
fn window_params(win: Window, b: usize, h: usize, w: usize, c: usize, oh: usize, ow: usize) -> WindowParams {
    let Window { kh, kw, sh, sw, pad: [pt, pl, ..] } = win;
    WindowParams { h: u(h), w: u(w), c: u(c), kh: u(kh), kw: u(kw), sh: u(sh), sw: u(sw), oh: u(oh), ow: u(ow), pad_t: u(pt), pad_l: u(pl), b: u(b) }
}

impl Gpu {
    /// A one-workgroup-per-row kernel over the last axis (`x` → same shape).
    fn per_row(&self, kernel: Kernel, x: &GpuTensor) -> Result<GpuTensor> {
        let c = *x.shape.last().unwrap_or(&0);
        if c == 0 {
            return Err(shape_err("per-row op", format!("{kernel:?} on {:?}", x.shape)));
        }
        let rows = x.len() / c;
        let y = self.output(x.shape.clone());
        if rows > 0 {
            self.dispatch(kernel, &[x.buffer(), y.buffer()], &RowParams { c: u(c), ..Default::default() }, (u(rows), 1))?;
        }
        Ok(y)
    }
}

impl Backend for Gpu {
    type Tensor = GpuTensor;
    type Matrix = GpuMatrix;
    type Vector = GpuTensor;
    type Rows = GpuRows;

    fn name(&self) -> &'static str {
        "gpu"
    }

    fn tensor(&self, data: &[f32], shape: &[usize]) -> Result<GpuTensor> {
        self.check_alive()?;
        if shape.iter().product::<usize>() != data.len() {
            return Err(shape_err("tensor", format!("{} values for shape {shape:?}", data.len())));
        }
        let t = self.output(shape.to_vec());
        if !data.is_empty() {
            self.queue.write_buffer(t.buffer(), 0, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    /// Natively: submits, waits for the device and maps the result. In the browser a map
    /// completes only once control returns to the event loop: use `read_async` there.
    fn read(&self, t: &GpuTensor) -> Result<Vec<f32>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            crate::tensor::now(self.read_async(t))
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = t;
            Err(Error::GpuBug("WebGPU results can only be read asynchronously".into()))
        }
    }

    async fn read_async(&self, t: &GpuTensor) -> Result<Vec<f32>> {
        Ok(self.read_back(&[t]).await?.remove(0))
    }

    /// One submit and one map for all of `ts` (see `readback.rs`).
    async fn read_many_async(&self, ts: &[&GpuTensor]) -> Result<Vec<Vec<f32>>> {
        self.read_back(ts).await
    }

    fn dims(&self, t: &GpuTensor) -> Vec<usize> {
        t.shape.clone()
    }

    fn matrix(&self, w: QTensor, bias: &[f32], out_dim: usize, in_dim: usize, _many_rows: bool) -> Result<GpuMatrix> {
        self.upload_matrix(w, bias, out_dim, in_dim)
    }

    fn vector(&self, v: &[f32]) -> Result<GpuTensor> {
        self.tensor(v, &[v.len()])
    }

    fn rows(&self, data: &[i8], scale: &[f32], dim: usize) -> Result<GpuRows> {
        self.upload_rows(data, scale, dim)
    }

    fn linear(&self, x: &GpuTensor, w: &GpuMatrix, epi: impl Into<Epilogue>) -> Result<GpuTensor> {
        let e = epi.into();
        let [n, k] = x.shape[..] else {
            return Err(shape_err("linear", format!("x must be [n, in], got {:?}", x.shape)));
        };
        if k != w.in_dim {
            return Err(shape_err("linear", format!("x is [{n}, {k}], weight is [{}, {}]", w.out_dim, w.in_dim)));
        }
        let y = self.output(vec![n, w.out_dim]);
        let tiles = (w.out_dim.div_ceil(64) as u32, n.div_ceil(64) as u32);
        match &w.w {
            MatrixWeights::Q8 { q, scales, kp } | MatrixWeights::Q4 { q, scales, kp } => {
                let params = LinearParams { m: u(n), n: u(w.out_dim), k: u(k), kp: u(*kp), act: act_code(e.act), scale: e.scale, shift: e.shift, _p0: 0 };
                let bindings = [x.buffer(), q, scales, &w.bias, y.buffer()];
                let (rows, tiled, tiled_h) = match w.w {
                    MatrixWeights::Q4 { .. } => (Kernel::LinearQ4Rows, Kernel::LinearQ4, Kernel::LinearQ4H),
                    _ => (Kernel::LinearQ8Rows, Kernel::LinearQ8, Kernel::LinearQ8H),
                };
                if n <= FEW_ROWS {
                    self.dispatch(rows, &bindings, &params, (w.out_dim.div_ceil(64) as u32, n.div_ceil(4) as u32))?;
                } else {
                    self.dispatch(if self.adapter.f16 { tiled_h } else { tiled }, &bindings, &params, tiles)?;
                }
            }
            MatrixWeights::F32(dense) => {
                let params = LinearF32Params { m: u(n), n: u(w.out_dim), k: u(k), act: act_code(e.act), scale: e.scale, shift: e.shift, ..Default::default() };
                let kernel = if self.adapter.f16 { Kernel::LinearF32H } else { Kernel::LinearF32 };
                self.dispatch(kernel, &[x.buffer(), dense, &w.bias, y.buffer()], &params, tiles)?;
            }
        }
        Ok(y)
    }

    fn add(&self, a: &GpuTensor, b: &GpuTensor) -> Result<GpuTensor> {
        if a.shape != b.shape {
            return Err(shape_err("add", format!("{:?} + {:?}", a.shape, b.shape)));
        }
        let y = self.output(a.shape.clone());
        let n = a.len();
        self.dispatch(Kernel::Add, &[a.buffer(), b.buffer(), y.buffer()], &AddParams { n: u(n), ..Default::default() }, self.groups_1d(n))?;
        Ok(y)
    }

    fn layer_norm(&self, x: &GpuTensor, w: &GpuTensor, b: &GpuTensor, eps: f32) -> Result<GpuTensor> {
        let c = *x.shape.last().unwrap_or(&0);
        if c == 0 || w.len() != c || b.len() != c {
            return Err(shape_err("layer_norm", format!("x {:?}, weight {:?}, bias {:?}", x.shape, w.shape, b.shape)));
        }
        let rows = x.len() / c;
        let y = self.output(x.shape.clone());
        let params = LayerNormParams { c: u(c), eps, ..Default::default() };
        self.dispatch(Kernel::LayerNorm, &[x.buffer(), w.buffer(), b.buffer(), y.buffer()], &params, (u(rows), 1))?;
        Ok(y)
    }

    fn attention(&self, qkv: &GpuTensor, heads: usize) -> Result<GpuTensor> {
        let [t, three_c] = qkv.shape[..] else {
            return Err(shape_err("attention", format!("qkv must be [t, 3c], got {:?}", qkv.shape)));
        };
        let (c, d) = crate::tensor::attention_shape(t, three_c, heads)?;
        let y = self.output(vec![t, c]);
        let params = AttentionParams { t: u(t), heads: u(heads), d: u(d), _p0: 0 };
        self.dispatch(Kernel::Attention, &[qkv.buffer(), y.buffer()], &params, (u(t), u(heads)))?;
        Ok(y)
    }

    fn depthwise_conv(&self, x: &GpuTensor, w: &GpuTensor, b: &GpuTensor, win: Window, epi: impl Into<Epilogue>) -> Result<GpuTensor> {
        let (n, h, wd, c) = bhwc(x, "depthwise_conv")?;
        if w.len() != win.kh * win.kw * c || b.len() != c {
            return Err(shape_err("depthwise_conv", format!("x {:?}, w {:?}, b {:?}, {win:?}", x.shape, w.shape, b.shape)));
        }
        let (oh, ow) = win.out(h, wd)?;
        let e = epi.into();
        let y = self.output(like(x, n, oh, ow, c));
        let wp = window_params(win, n, h, wd, c, oh, ow);
        let params = DepthwiseParams {
            h: wp.h,
            w: wp.w,
            c: wp.c,
            kh: wp.kh,
            kw: wp.kw,
            sh: wp.sh,
            sw: wp.sw,
            oh: wp.oh,
            ow: wp.ow,
            pad_t: wp.pad_t,
            pad_l: wp.pad_l,
            act: act_code(e.act),
            b: wp.b,
            scale: e.scale,
            shift: e.shift,
            _p0: 0,
        };
        self.dispatch(Kernel::Depthwise, &[x.buffer(), w.buffer(), b.buffer(), y.buffer()], &params, self.groups_1d(n * oh * ow * c))?;
        Ok(y)
    }

    fn im2col(&self, x: &GpuTensor, win: Window) -> Result<GpuTensor> {
        let (n, h, wd, c) = bhwc(x, "im2col")?;
        let (oh, ow) = win.out(h, wd)?;
        let cols = win.kh * win.kw * c;
        let y = self.output(vec![n * oh * ow, cols]);
        self.dispatch(Kernel::Im2col, &[x.buffer(), y.buffer()], &window_params(win, n, h, wd, c, oh, ow), self.groups_1d(n * oh * ow * cols))?;
        Ok(y)
    }

    fn scale_channels(&self, x: &GpuTensor, s: &GpuTensor, residual: bool) -> Result<GpuTensor> {
        let (n, h, wd, c) = bhwc(x, "scale_channels")?;
        if s.shape != [n, c] {
            return Err(shape_err("scale_channels", format!("x {:?}, scales {:?}", x.shape, s.shape)));
        }
        let y = self.output(x.shape.clone());
        let params = ScaleChannelsParams { b: u(n), hw: u(h * wd), c: u(c), residual: u32::from(residual) };
        self.dispatch(Kernel::ScaleChannels, &[x.buffer(), s.buffer(), y.buffer()], &params, self.groups_1d(x.len()))?;
        Ok(y)
    }

    fn upsample(&self, x: &GpuTensor, factor: usize) -> Result<GpuTensor> {
        let (n, h, wd, c) = bhwc(x, "upsample")?;
        if factor == 0 {
            return Err(shape_err("upsample", "factor 0".into()));
        }
        let y = self.output(like(x, n, h * factor, wd * factor, c));
        let params = FactorParams { b: u(n), h: u(h), w: u(wd), c: u(c), f: u(factor), ..Default::default() };
        self.dispatch(Kernel::Upsample, &[x.buffer(), y.buffer()], &params, self.groups_1d(y.len()))?;
        Ok(y)
    }

    /// One dispatch per input, each writing its columns of every row.
    fn concat(&self, xs: &[&GpuTensor]) -> Result<GpuTensor> {
        let Some(first) = xs.first() else {
            return Err(shape_err("concat", "nothing to concatenate".into()));
        };
        let r = first.shape.len();
        if r == 0 || xs.iter().any(|t| t.shape.len() != r || t.shape[..r - 1] != first.shape[..r - 1]) {
            let shapes: Vec<_> = xs.iter().map(|t| t.shape.clone()).collect();
            return Err(shape_err("concat", format!("{shapes:?}")));
        }
        let rows: usize = first.shape[..r - 1].iter().product();
        let total: usize = xs.iter().map(|t| t.shape[r - 1]).sum();
        let mut shape = first.shape.clone();
        shape[r - 1] = total;
        let y = self.output(shape);
        let mut offset = 0;
        for x in xs {
            let c = x.shape[r - 1];
            if rows > 0 && c > 0 {
                let params = ConcatParams { rows: u(rows), c: u(c), total: u(total), offset: u(offset) };
                self.dispatch(Kernel::Concat, &[x.buffer(), y.buffer()], &params, self.groups_1d(rows * c))?;
            }
            offset += c;
        }
        Ok(y)
    }

    fn depth_to_space(&self, x: &GpuTensor, factor: usize) -> Result<GpuTensor> {
        let (n, h, wd, cf) = bhwc(x, "depth_to_space")?;
        if factor == 0 || cf % (factor * factor) != 0 {
            return Err(shape_err("depth_to_space", format!("{:?} by {factor}", x.shape)));
        }
        let c = cf / (factor * factor);
        let y = self.output(like(x, n, h * factor, wd * factor, c));
        let params = FactorParams { b: u(n), h: u(h), w: u(wd), c: u(c), f: u(factor), ..Default::default() };
        self.dispatch(Kernel::DepthToSpace, &[x.buffer(), y.buffer()], &params, self.groups_1d(y.len()))?;
        Ok(y)
    }

    fn avg_pool(&self, x: &GpuTensor, win: Window) -> Result<GpuTensor> {
        let (n, h, wd, c) = bhwc(x, "avg_pool")?;
        let (oh, ow) = win.out(h, wd)?;
        let y = self.output(like(x, n, oh, ow, c));
        self.dispatch(Kernel::AvgPool, &[x.buffer(), y.buffer()], &window_params(win, n, h, wd, c, oh, ow), self.groups_1d(y.len()))?;
        Ok(y)
    }

    fn mean_rows(&self, x: &GpuTensor) -> Result<GpuTensor> {
        let (b, n, c, shape) = match x.shape[..] {
            [n, c] => (1, n, c, vec![1, c]),
            [b, n, c] => (b, n, c, vec![b, c]),
            _ => return Err(shape_err("mean_rows", format!("expected [n, c] or [b, n, c], got {:?}", x.shape))),
        };
        if n == 0 {
            return Err(shape_err("mean_rows", "no rows".into()));
        }
        let y = self.output(shape);
        let params = MeanRowsParams { n: u(n), c: u(c), b: u(b), _p0: 0 };
        self.dispatch(Kernel::MeanRows, &[x.buffer(), y.buffer()], &params, (c.div_ceil(64) as u32, u(b)))?;
        Ok(y)
    }

    fn l2_normalize(&self, x: &GpuTensor) -> Result<GpuTensor> {
        self.per_row(Kernel::L2Norm, x)
    }

    fn softmax(&self, x: &GpuTensor) -> Result<GpuTensor> {
        self.per_row(Kernel::Softmax, x)
    }

    fn scores(&self, rows: &GpuRows, q: &GpuTensor) -> Result<GpuTensor> {
        let [m, d] = q.shape[..] else {
            return Err(shape_err("scores", format!("queries must be [m, dim], got {:?}", q.shape)));
        };
        if d != rows.dim {
            return Err(shape_err("scores", format!("queries [{m}, {d}] against rows of {}", rows.dim)));
        }
        let y = self.output(vec![m, rows.n]);
        if rows.n > 0 && m > 0 {
            let params = ScoresParams { n: u(rows.n), dim: u(rows.dim), words: u(rows.words()), m: u(m) };
            self.dispatch(Kernel::Scores, &[q.buffer(), &rows.q, &rows.scale, y.buffer()], &params, (rows.n.div_ceil(64) as u32, u(m)))?;
        }
        Ok(y)
    }

    fn conse(&self, probs: &GpuTensor, labels: &GpuRows, top: usize) -> Result<GpuTensor> {
        if probs.shape != [1, labels.n] || top > MAX_CONSE_TOP {
            return Err(shape_err("conse", format!("probabilities {:?} for {} label rows, top {top} (at most {MAX_CONSE_TOP})", probs.shape, labels.n)));
        }
        let y = self.output(vec![1, labels.dim]);
        let params = ConseParams { classes: u(labels.n), dim: u(labels.dim), words: u(labels.words()), top: u(top) };
        self.dispatch(Kernel::Conse, &[probs.buffer(), &labels.q, &labels.scale, y.buffer()], &params, (1, 1))?;
        Ok(y)
    }

    fn reshape(&self, x: &GpuTensor, shape: &[usize]) -> Result<GpuTensor> {
        if shape.iter().product::<usize>() != x.len() {
            return Err(shape_err("reshape", format!("{:?} → {shape:?}", x.shape)));
        }
        Ok(GpuTensor { buf: x.buf.clone(), shape: shape.to_vec() })
    }
}
