//! The CPU backend on candle-core: int8 matmuls for token states (`q8`), f32 ones for feature
//! maps (`pointwise`), the depthwise conv (`depthwise`), the rest as plain loops over
//! channels-last data. It is also the oracle the GPU backend is tested against.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::tensor::{self, Activation, Backend, Epilogue, I8Rows, Window};
use crate::weights::quant::{dequantize_matrix, q4_0_to_q8_0};

/// The CPU backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu;

pub mod depthwise;
pub mod pointwise;
pub mod q8;

use pointwise::Packed;
use q8::Q8Matrix;

/// Convolutions over fewer input channels go through an im2col copy.
const SMALL_CONV_CHANNELS: usize = 8;

/// How a matrix is multiplied.
enum Weights {
    /// f32 packed eight outputs wide: many rows at once (feature maps of f32 files).
    Packed(Packed),
    /// f32 through candle's gemm: what fits neither of the others.
    Dense(QMatMul),
    /// Integer weights (int8 for token states, int16 for feature maps and padded rows) with
    /// each activation row quantized: `q8`.
    Int(Q8Matrix),
}

/// A prepared weight matrix and its bias.
pub struct CpuMatrix {
    w: Weights,
    b: Vec<f32>,
    out_dim: usize,
    in_dim: usize,
}

/// Applies an epilogue to values that already hold their bias, one loop per activation (so
/// each vectorises; the sigmoid family goes through [`exp_nonpositive`] on −|x|).
#[inline(always)]
fn epilogue(v: &mut [f32], e: Epilogue) {
    match e.act {
        Activation::None => {}
        Activation::Relu6 => v.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        Activation::Relu => v.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Clip01 => v.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0)),
        Activation::HardSwish => v.iter_mut().for_each(|v| *v = *v * (*v + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)),
        Activation::Gelu => v.iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + tensor::erf(*v * std::f32::consts::FRAC_1_SQRT_2))),
        Activation::Sigmoid => v.iter_mut().for_each(|v| *v = sigmoid(*v)),
        Activation::Swish => v.iter_mut().for_each(|v| *v *= sigmoid(*v)),
    }
    if !e.plain() {
        v.iter_mut().for_each(|v| *v = *v * e.scale + e.shift);
    }
}

/// 1 / (1 + e^−x) through e^−|x| (never overflows).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    let e = exp_nonpositive(-x.abs());
    let p = 1.0 / (1.0 + e);
    if x >= 0.0 {
        p
    } else {
        1.0 - p
    }
}

/// e^x for x ≤ 0 (softmax's logits less their maximum), within 3e-7 relative (2.5 ulp) of libm:
/// x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor series to r⁷, 2^n written into the exponent
/// bits. No branches and no calls, so a loop over it vectorises.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75; // ln 2 split so that n·LN2_HI is exact
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.max(-87.0); // 2^n stays a normal float
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Σ f(x) in eight independent lanes: a plain `.sum()` of floats is one serial chain of adds
/// (the compiler may not reorder it), latency-bound and not vectorised.
#[inline(always)]
pub(crate) fn sum8(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    chunks.remainder().iter().map(|&v| f(v)).sum::<f32>() + acc.iter().sum::<f32>()
}

/// Dot product, eight lanes at a time (see [`sum8`]).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for ((a, x), y) in acc.iter_mut().zip(x).zip(y) {
            *a += x * y;
        }
    }
    tail + acc.iter().sum::<f32>()
}

/// Adds the bias to every row of `y` and applies the epilogue.
fn bias_act(y: &mut [f32], bias: &[f32], e: Epilogue) {
    for r in y.chunks_exact_mut(bias.len().max(1)) {
        r.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        epilogue(r, e);
    }
}

/// `y` with [`bias_act`] applied.
fn biased(mut y: Vec<f32>, bias: &[f32], e: Epilogue) -> Vec<f32> {
    bias_act(&mut y, bias, e);
    y
}

/// (batch, height, width, channels) of a `[b, h, w, c]` or `[h, w, c]` tensor.
fn bhwc(t: &Tensor, op: &'static str) -> Result<(usize, usize, usize, usize)> {
    match t.dims() {
        [b, h, w, c] => Ok((*b, *h, *w, *c)),
        [h, w, c] => Ok((1, *h, *w, *c)),
        d => Err(Error::Shape { op, detail: format!("expected [b, h, w, c] or [h, w, c], got {d:?}") }),
    }
}

/// Calls `f` with a tensor's values: borrowed where the tensor is a contiguous f32 CPU tensor
/// (every tensor this backend makes), copied otherwise.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)), Some((a, b))) = (&*storage, layout.contiguous_offsets()) {
            return Ok(f(&v[a..b]));
        }
    }
    Ok(f(&t.flatten_all()?.to_vec1::<f32>()?))
}

/// Applies `f` to every row (last axis) of a tensor, on the host.
fn map_rows(x: &Tensor, op: &'static str, f: impl Fn(&mut [f32])) -> Result<Tensor> {
    let c = *x.dims().last().ok_or(Error::Shape { op, detail: "a scalar has no rows".into() })?;
    let mut v = x.flatten_all()?.to_vec1::<f32>()?;
    if c > 0 {
        v.chunks_exact_mut(c).for_each(f);
    }
    Ok(Tensor::from_vec(v, x.dims(), &Device::Cpu)?)
}

/// The convolution patches of output pixels `first..` (of an output `ow` wide) of one image
/// `[h, w, c]` as rows of `kh·kw·c` values in (ky, kx, c) order, zeros where the window is in
/// the padding, as many as `out` holds.
fn patches(img: &[f32], [h, w, c]: [usize; 3], win: Window, ow: usize, first: usize, out: &mut [f32]) {
    let Window { kh, kw, sh, sw, pad: [pt, pl, ..] } = win;
    let cols = kh * kw * c;
    for (i, row) in out.chunks_exact_mut(cols).enumerate() {
        let (oy, ox) = ((first + i) / ow, (first + i) % ow);
        row.fill(0.0);
        for ky in 0..kh {
            let iy = (oy * sh + ky) as isize - pt as isize;
            if iy < 0 || iy >= h as isize {
                continue;
            }
            for kx in 0..kw {
                let ix = (ox * sw + kx) as isize - pl as isize;
                if ix < 0 || ix >= w as isize {
                    continue;
                }
                row[(ky * kw + kx) * c..][..c].copy_from_slice(&img[(iy as usize * w + ix as usize) * c..][..c]);
            }
        }
    }
}

impl Backend for Cpu {
    type Tensor = Tensor;
    type Matrix = CpuMatrix;
    type Vector = Tensor;
    type Rows = I8Rows;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn tensor(&self, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        Ok(Tensor::from_slice(data, shape, &Device::Cpu)?)
    }

    fn read(&self, t: &Tensor) -> Result<Vec<f32>> {
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    }

    fn dims(&self, t: &Tensor) -> Vec<usize> {
        t.dims().to_vec()
    }

    fn matrix(&self, w: QTensor, bias: &[f32], out_dim: usize, in_dim: usize, many_rows: bool) -> Result<CpuMatrix> {
        if bias.len() != out_dim {
            return Err(Error::Model(format!("bias of {} values for a matrix with {out_dim} rows", bias.len())));
        }
        let stored = w.shape().dims();
        let padded = stored.get(1).copied() != Some(in_dim);
        let int8 = matches!(w.dtype(), GgmlDType::Q8_0 | GgmlDType::Q4_0);
        // Integer weights with exact i32 sums (`q8`): int16 for feature-map weights already
        // rounded (f16: the OCR recogniser's backbone, kept off int8 for its accuracy; Q8_0:
        // the detector, EfficientNet), twice the products per instruction of f32 in wasm and
        // half its memory; and for Q8_0 rows padded to a whole block (the recogniser's 120-wide
        // neck and CTC head), where one int8 scale per row would round the blocks a second time
        // (it read one golden line fewer). f32 files multiply in f32.
        let wide = (many_rows && matches!(w.dtype(), GgmlDType::F16 | GgmlDType::Q8_0)) || (int8 && padded && !many_rows);
        let qm = if wide {
            let dense = dequantize_matrix(&w, out_dim, in_dim)?;
            Weights::Int(Q8Matrix::wide(&dense.flatten_all()?.to_vec1::<f32>()?, out_dim, in_dim)?)
        } else if many_rows || padded || !int8 {
            let dense = dequantize_matrix(&w, out_dim, in_dim)?;
            let packed = if many_rows { Packed::new(&dense.flatten_all()?.to_vec1::<f32>()?, out_dim, in_dim) } else { None };
            match packed {
                Some(p) => Weights::Packed(p),
                None => Weights::Dense(QMatMul::Tensor(dense)),
            }
        } else {
            if stored != [out_dim, in_dim] {
                return Err(Error::Model(format!("matrix has shape {stored:?}, expected [{out_dim}, {in_dim}]")));
            }
            // 4-bit blocks widen exactly to int8 blocks (same scale): one int8 kernel for both.
            let data = w.data()?;
            Weights::Int(if w.dtype() == GgmlDType::Q4_0 { Q8Matrix::from_q8_0(&q4_0_to_q8_0(&data)?, out_dim, in_dim)? } else { Q8Matrix::from_q8_0(&data, out_dim, in_dim)? })
        };
        Ok(CpuMatrix { w: qm, b: bias.to_vec(), out_dim, in_dim })
    }

    fn vector(&self, v: &[f32]) -> Result<Tensor> {
        Ok(Tensor::from_slice(v, v.len(), &Device::Cpu)?)
    }

    fn linear(&self, x: &Tensor, w: &CpuMatrix, epi: impl Into<Epilogue>) -> Result<Tensor> {
        let a = epi.into();
        let (n, k) = x.dims2()?;
        if k != w.in_dim {
            return Err(Error::Shape { op: "linear", detail: format!("x is [{n}, {k}], weight is [{}, {}]", w.out_dim, w.in_dim) });
        }
        let y = match &w.w {
            // Bias and activation as each tile is stored.
            Weights::Packed(m) => with_f32(x, |xs| m.matmul(xs, n, &w.b, a))?,
            Weights::Dense(m) => biased(x.apply(m)?.flatten_all()?.to_vec1::<f32>()?, &w.b, a),
            Weights::Int(m) => biased(with_f32(x, |xs| m.matmul(xs, n))?, &w.b, a),
        };
        Ok(Tensor::from_vec(y, (n, w.out_dim), &Device::Cpu)?)
    }

    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        if a.dims() != b.dims() {
            return Err(Error::Shape { op: "add", detail: format!("{:?} + {:?}", a.dims(), b.dims()) });
        }
        Ok((a + b)?)
    }

    fn layer_norm(&self, x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Result<Tensor> {
        let (w, b) = (w.to_vec1::<f32>()?, b.to_vec1::<f32>()?);
        if x.dims().last() != Some(&w.len()) || b.len() != w.len() {
            return Err(Error::Shape { op: "layer_norm", detail: format!("x {:?}, w [{}], b [{}]", x.dims(), w.len(), b.len()) });
        }
        map_rows(x, "layer_norm", |r| {
            let n = r.len() as f32;
            let mean = sum8(r, |v| v) / n;
            let var = sum8(r, |v| (v - mean) * (v - mean)) / n;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, w), b) in r.iter_mut().zip(&w).zip(&b) {
                *v = (*v - mean) * inv * w + b;
            }
        })
    }

    fn attention(&self, qkv: &Tensor, heads: usize) -> Result<Tensor> {
        let (t, three_c) = qkv.dims2()?;
        let (c, d) = tensor::attention_shape(t, three_c, heads)?;
        let scale = 1.0 / (d as f32).sqrt();
        let mut out = vec![0f32; t * c];
        // Per head: its keys and values gathered into contiguous rows, then per query row the
        // scores against every key, softmax, weighted sum of values (plain loops: for a
        // question's few tokens candle's per-op overhead outweighed the work).
        with_f32(qkv, |qkv| {
            let (mut k, mut v, mut p) = (vec![0f32; t * d], vec![0f32; t * d], vec![0f32; t]);
            for h in 0..heads {
                for j in 0..t {
                    k[j * d..][..d].copy_from_slice(&qkv[j * three_c + c + h * d..][..d]);
                    v[j * d..][..d].copy_from_slice(&qkv[j * three_c + 2 * c + h * d..][..d]);
                }
                for i in 0..t {
                    let q = &qkv[i * three_c + h * d..][..d];
                    for (p, k) in p.iter_mut().zip(k.chunks_exact(d)) {
                        *p = dot(q, k) * scale;
                    }
                    let max = p.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
                    p.iter_mut().for_each(|v| *v = exp_nonpositive(*v - max));
                    let inv = 1.0 / sum8(&p, |v| v);
                    let o = &mut out[i * c + h * d..][..d];
                    for (&pj, v) in p.iter().zip(v.chunks_exact(d)) {
                        let w = pj * inv;
                        o.iter_mut().zip(v).for_each(|(o, &v)| *o += w * v);
                    }
                }
            }
        })?;
        Ok(Tensor::from_vec(out, (t, c), &Device::Cpu)?)
    }

    fn depthwise_conv(&self, x: &Tensor, w: &Tensor, b: &Tensor, win: Window, epi: impl Into<Epilogue>) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "depthwise_conv")?;
        let taps = win.kh * win.kw;
        if w.dims() != [taps * c] && w.dims() != [taps, c] || b.dims() != [c] {
            return Err(Error::Shape { op: "depthwise_conv", detail: format!("x {:?}, w {:?}, b {:?}, {win:?}", x.dims(), w.dims(), b.dims()) });
        }
        let (oh, ow) = win.out(h, wd)?;
        let g = depthwise::Geometry { h, w: wd, c, win };
        let mut out = vec![0f32; n * oh * ow * c];
        let e = epi.into();
        with_f32(x, |xs| {
            with_f32(w, |ws| {
                with_f32(b, |bs| xs.chunks_exact(h * wd * c).zip(out.chunks_exact_mut(oh * ow * c)).try_for_each(|(img, out)| depthwise::conv(g, img, ws, bs, e, out)))
            })
        })????;
        let shape = if x.rank() == 4 { vec![n, oh, ow, c] } else { vec![oh, ow, c] };
        Ok(Tensor::from_vec(out, shape, &Device::Cpu)?)
    }

    fn im2col(&self, x: &Tensor, win: Window) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "im2col")?;
        let (oh, ow) = win.out(h, wd)?;
        let cols = win.kh * win.kw * c;
        let mut out = vec![0f32; n * oh * ow * cols];
        with_f32(x, |xs| {
            for (img, out) in xs.chunks_exact(h * wd * c).zip(out.chunks_exact_mut(oh * ow * cols)) {
                patches(img, [h, wd, c], win, ow, 0, out);
            }
        })?;
        Ok(Tensor::from_vec(out, (n * oh * ow, cols), &Device::Cpu)?)
    }

    fn conv2d(&self, x: &Tensor, w: &CpuMatrix, out: usize, win: Window, epi: impl Into<Epilogue>) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "conv2d")?;
        let e = epi.into();
        let p = match &w.w {
            Weights::Packed(p) if c >= SMALL_CONV_CHANNELS => p,
            // Integer weights: the patches made and quantized a chunk of rows at a time.
            Weights::Int(m) if m.is_wide() && w.in_dim == win.kh * win.kw * c && w.out_dim == out => {
                let (oh, ow) = win.out(h, wd)?;
                let mut y = Vec::with_capacity(n * oh * ow * out);
                with_f32(x, |xs| {
                    for img in xs.chunks_exact(h * wd * c) {
                        y.extend(biased(m.matmul_with(oh * ow, |first, rows| patches(img, [h, wd, c], win, ow, first, rows)), &w.b, e));
                    }
                })?;
                return Ok(Tensor::from_vec(y, (n, oh, ow, out), &Device::Cpu)?);
            }
            // Not packed (outputs not a multiple of eight), or so few input channels (an RGB
            // stem) that the in-place loop over them is mostly overhead: through an im2col copy.
            _ => {
                let (oh, ow) = win.out(h, wd)?;
                let y = self.linear(&self.im2col(x, win)?, w, e)?;
                return Ok(y.reshape((n, oh, ow, out))?);
            }
        };
        if w.out_dim != out || w.in_dim != win.kh * win.kw * c {
            return Err(Error::Shape { op: "conv2d", detail: format!("x {:?}, weights [{}, {}], {win:?}", x.dims(), w.out_dim, w.in_dim) });
        }
        let (oh, ow) = win.out(h, wd)?;
        let mut y = Vec::with_capacity(n * oh * ow * out);
        with_f32(x, |xs| -> Result<()> {
            for img in xs.chunks_exact(h * wd * c) {
                y.extend(p.conv(img, h, wd, c, win, &w.b, e)?);
            }
            Ok(())
        })??;
        Ok(Tensor::from_vec(y, (n, oh, ow, out), &Device::Cpu)?)
    }

    fn scale_channels(&self, x: &Tensor, s: &Tensor, residual: bool) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "scale_channels")?;
        if s.dims() != [n, c] {
            return Err(Error::Shape { op: "scale_channels", detail: format!("x {:?}, scales {:?}", x.dims(), s.dims()) });
        }
        let mut out = vec![0f32; n * h * wd * c];
        with_f32(x, |xs| {
            with_f32(s, |ss| {
                for ((img, out), s) in xs.chunks_exact(h * wd * c).zip(out.chunks_exact_mut(h * wd * c)).zip(ss.chunks_exact(c)) {
                    // x·s + x = x·(s + 1): one multiply either way.
                    let s: Vec<f32> = s.iter().map(|v| if residual { v + 1.0 } else { *v }).collect();
                    for (o, p) in out.chunks_exact_mut(c).zip(img.chunks_exact(c)) {
                        o.iter_mut().zip(p).zip(&s).for_each(|((o, p), s)| *o = p * s);
                    }
                }
            })
        })??;
        Ok(Tensor::from_vec(out, x.dims(), &Device::Cpu)?)
    }

    fn upsample(&self, x: &Tensor, f: usize) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "upsample")?;
        if f == 0 {
            return Err(Error::Shape { op: "upsample", detail: "factor 0".into() });
        }
        let (oh, ow) = (h * f, wd * f);
        let mut out = vec![0f32; n * oh * ow * c];
        with_f32(x, |xs| {
            for (img, out) in xs.chunks_exact(h * wd * c).zip(out.chunks_exact_mut(oh * ow * c)) {
                for (y, orow) in out.chunks_exact_mut(ow * c).enumerate() {
                    let irow = &img[(y / f) * wd * c..][..wd * c];
                    for (x, o) in orow.chunks_exact_mut(c).enumerate() {
                        o.copy_from_slice(&irow[(x / f) * c..][..c]);
                    }
                }
            }
        })?;
        let shape = if x.rank() == 4 { vec![n, oh, ow, c] } else { vec![oh, ow, c] };
        Ok(Tensor::from_vec(out, shape, &Device::Cpu)?)
    }

    fn concat(&self, xs: &[&Tensor]) -> Result<Tensor> {
        let first = xs.first().ok_or(Error::Shape { op: "concat", detail: "nothing to concatenate".into() })?;
        let r = first.rank();
        if r == 0 || xs.iter().any(|t| t.rank() != r || t.dims()[..r - 1] != first.dims()[..r - 1]) {
            let shapes: Vec<_> = xs.iter().map(|t| t.dims().to_vec()).collect();
            return Err(Error::Shape { op: "concat", detail: format!("{shapes:?}") });
        }
        Ok(Tensor::cat(xs, r - 1)?.contiguous()?)
    }

    fn depth_to_space(&self, x: &Tensor, f: usize) -> Result<Tensor> {
        let (n, h, wd, cf) = bhwc(x, "depth_to_space")?;
        if f == 0 || cf % (f * f) != 0 {
            return Err(Error::Shape { op: "depth_to_space", detail: format!("{:?} by {f}", x.dims()) });
        }
        let c = cf / (f * f);
        let (oh, ow) = (h * f, wd * f);
        let mut out = vec![0f32; n * oh * ow * c];
        with_f32(x, |xs| {
            for (img, out) in xs.chunks_exact(h * wd * cf).zip(out.chunks_exact_mut(oh * ow * c)) {
                for (p, px) in img.chunks_exact(cf).enumerate() {
                    let (y, x) = (p / wd, p % wd);
                    for (d, part) in px.chunks_exact(c).enumerate() {
                        let (dy, dx) = (d / f, d % f);
                        out[((y * f + dy) * ow + x * f + dx) * c..][..c].copy_from_slice(part);
                    }
                }
            }
        })?;
        let shape = if x.rank() == 4 { vec![n, oh, ow, c] } else { vec![oh, ow, c] };
        Ok(Tensor::from_vec(out, shape, &Device::Cpu)?)
    }

    fn avg_pool(&self, x: &Tensor, win: Window) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "avg_pool")?;
        let (oh, ow) = win.out(h, wd)?;
        let Window { kh, kw, sh, sw, pad: [pt, pl, ..] } = win;
        let mut out = vec![0f32; n * oh * ow * c];
        with_f32(x, |xs| {
            for (img, out) in xs.chunks_exact(h * wd * c).zip(out.chunks_exact_mut(oh * ow * c)) {
                for oy in 0..oh {
                    let ys = (oy * sh).saturating_sub(pt)..(oy * sh + kh).saturating_sub(pt).min(h);
                    for ox in 0..ow {
                        let xr = (ox * sw).saturating_sub(pl)..(ox * sw + kw).saturating_sub(pl).min(wd);
                        let o = &mut out[(oy * ow + ox) * c..][..c];
                        for iy in ys.clone() {
                            for ix in xr.clone() {
                                o.iter_mut().zip(&img[(iy * wd + ix) * c..][..c]).for_each(|(o, v)| *o += v);
                            }
                        }
                        // Padding is not counted (ONNX count_include_pad = 0).
                        let inv = 1.0 / (ys.len() * xr.len()).max(1) as f32;
                        o.iter_mut().for_each(|v| *v *= inv);
                    }
                }
            }
        })?;
        let shape = if x.rank() == 4 { vec![n, oh, ow, c] } else { vec![oh, ow, c] };
        Ok(Tensor::from_vec(out, shape, &Device::Cpu)?)
    }

    fn mean_rows(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, c) = match *x.dims() {
            [n, c] if n > 0 => (1, n, c),
            [b, n, c] if n > 0 => (b, n, c),
            ref d => return Err(Error::Shape { op: "mean_rows", detail: format!("expected [n, c] or [b, n, c] with n > 0, got {d:?}") }),
        };
        // Row by row in order: contiguous reads (a reduction over the middle axis strides).
        let mut out = vec![0f32; b * c];
        with_f32(x, |xs| {
            for (img, acc) in xs.chunks_exact(n * c).zip(out.chunks_exact_mut(c)) {
                for row in img.chunks_exact(c) {
                    acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                }
                acc.iter_mut().for_each(|a| *a /= n as f32);
            }
        })?;
        let dims: &[usize] = if x.rank() == 2 { &[1, c] } else { &[b, c] };
        Ok(Tensor::from_vec(out, dims, &Device::Cpu)?)
    }

    fn l2_normalize(&self, x: &Tensor) -> Result<Tensor> {
        map_rows(x, "l2_normalize", tensor::l2_normalize)
    }

    fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        map_rows(x, "softmax", |r| {
            let p = tensor::softmax(r);
            r.copy_from_slice(&p);
        })
    }

    fn rows(&self, data: &[i8], scale: &[f32], dim: usize) -> Result<I8Rows> {
        if data.len() != scale.len() * dim {
            return Err(Error::Shape { op: "rows", detail: format!("{} values for {} rows of {dim}", data.len(), scale.len()) });
        }
        Ok(I8Rows { dim, data: data.to_vec(), scale: scale.to_vec() })
    }

    fn scores(&self, rows: &I8Rows, q: &Tensor) -> Result<Tensor> {
        let (m, d) = q.dims2()?;
        if d != rows.dim {
            return Err(Error::Shape { op: "scores", detail: format!("queries [{m}, {d}] against rows of {}", rows.dim) });
        }
        let qs = q.flatten_all()?.to_vec1::<f32>()?;
        let out: Vec<f32> = qs.chunks_exact(d.max(1)).flat_map(|q| rows.scores(q)).collect();
        Ok(Tensor::from_vec(out, (m, rows.len()), &Device::Cpu)?)
    }

    fn conse(&self, probs: &Tensor, labels: &I8Rows, top: usize) -> Result<Tensor> {
        let p = probs.flatten_all()?.to_vec1::<f32>()?;
        if probs.dims() != [1, labels.len()] {
            return Err(Error::Shape { op: "conse", detail: format!("probabilities {:?} for {} label rows", probs.dims(), labels.len()) });
        }
        let mut out = vec![0f32; labels.dim];
        for i in tensor::top_k(&p, top) {
            for (o, v) in out.iter_mut().zip(labels.row(i)) {
                *o += p[i] * v;
            }
        }
        Ok(Tensor::from_vec(out, (1, labels.dim), &Device::Cpu)?)
    }

    fn reshape(&self, x: &Tensor, shape: &[usize]) -> Result<Tensor> {
        Ok(x.reshape(shape)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window over `h`×`w`: TF "same", or explicit (PP-OCR's symmetric pads, a 1×3 kernel,
    /// stride 2 on one axis only).
    fn windows(h: usize, w: usize) -> Vec<Window> {
        vec![
            Window::tf_same(h, w, 3, 1),
            Window::tf_same(h, w, 5, 2),
            Window::square(3, 2, 1),
            Window { kh: 5, kw: 5, sh: 2, sw: 1, pad: [2; 4] },
            Window { kh: 1, kw: 3, sh: 1, sw: 1, pad: [0, 1, 0, 1] },
        ]
    }

    #[test]
    fn depthwise_conv_matches_the_definition() {
        // 12 and 20 channels: chunks of sixteen and remainders; 16 and 32: whole chunks, where
        // neighbouring pixels with the same taps go in pairs (an odd pixel left at a row's
        // end); odd sizes; every window kind.
        for (h, w, c) in [(7, 5, 12), (9, 6, 20), (4, 4, 8), (5, 12, 16), (6, 11, 32)] {
            for win in windows(h, w) {
                let Window { kh, kw, sh, sw, pad: [pt, pl, ..] } = win;
                let x: Vec<f32> = (0..h * w * c).map(|i| ((i * 7919 % 97) as f32 - 48.0) / 20.0).collect();
                let wt: Vec<f32> = (0..kh * kw * c).map(|i| ((i * 104729 % 31) as f32 - 15.0) / 10.0).collect();
                let b: Vec<f32> = (0..c).map(|i| i as f32 / 10.0 - 0.5).collect();
                let cpu = Cpu;
                let epi = Epilogue { act: Activation::HardSwish, scale: 0.5, shift: 0.25 };
                let y = cpu
                    .read(&cpu.depthwise_conv(&cpu.tensor(&x, &[h, w, c]).unwrap(), &cpu.tensor(&wt, &[kh * kw, c]).unwrap(), &cpu.vector(&b).unwrap(), win, epi).unwrap())
                    .unwrap();
                let (oh, ow) = win.out(h, w).unwrap();
                assert_eq!(y.len(), oh * ow * c);
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ch in 0..c {
                            let mut v = b[ch];
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let (iy, ix) = ((oy * sh + ky) as isize - pt as isize, (ox * sw + kx) as isize - pl as isize);
                                    if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                                        v += x[(iy as usize * w + ix as usize) * c + ch] * wt[(ky * kw + kx) * c + ch];
                                    }
                                }
                            }
                            let got = y[(oy * ow + ox) * c + ch];
                            assert!((got - epi.apply(v)).abs() < 1e-5, "{win:?} [{oy}, {ox}, {ch}] {got} vs {}", epi.apply(v));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn im2col_then_linear_is_the_convolution() {
        let (h, w, c) = (6, 7, 3);
        let cpu = Cpu;
        let x: Vec<f32> = (0..h * w * c).map(|i| ((i * 31 % 17) as f32 - 8.0) / 4.0).collect();
        for win in windows(h, w) {
            let Window { kh, kw, sh, sw, pad: [pt, pl, ..] } = win;
            let cols = cpu.read(&cpu.im2col(&cpu.tensor(&x, &[h, w, c]).unwrap(), win).unwrap()).unwrap();
            let (oh, ow) = win.out(h, w).unwrap();
            let k = kh * kw * c;
            assert_eq!(cols.len(), oh * ow * k);
            for (p, row) in cols.chunks_exact(k).enumerate() {
                let (oy, ox) = (p / ow, p % ow);
                for ky in 0..kh {
                    for kx in 0..kw {
                        for ch in 0..c {
                            let (iy, ix) = ((oy * sh + ky) as isize - pt as isize, (ox * sw + kx) as isize - pl as isize);
                            let want = if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) { x[(iy as usize * w + ix as usize) * c + ch] } else { 0.0 };
                            assert_eq!(row[(ky * kw + kx) * c + ch], want, "{win:?} pixel {p}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn feature_map_ops_match_their_definitions() {
        let cpu = Cpu;
        let (b, h, w, c) = (2, 3, 4, 5);
        let x: Vec<f32> = (0..b * h * w * c).map(|i| i as f32 * 0.5 - 7.0).collect();
        let xt = cpu.tensor(&x, &[b, h, w, c]).unwrap();
        let at = |v: &[f32], w: usize, c: usize, n: usize, y: usize, xx: usize, ch: usize, hh: usize| v[((n * hh + y) * w + xx) * c + ch];
        // scale_channels, with and without the residual.
        let s: Vec<f32> = (0..b * c).map(|i| i as f32 / 10.0).collect();
        for residual in [false, true] {
            let y = cpu.read(&cpu.scale_channels(&xt, &cpu.tensor(&s, &[b, c]).unwrap(), residual).unwrap()).unwrap();
            for (i, v) in y.iter().enumerate() {
                let (n, ch) = (i / (h * w * c), i % c);
                let want = x[i] * s[n * c + ch] + if residual { x[i] } else { 0.0 };
                assert!((v - want).abs() < 1e-5);
            }
        }
        // upsample ×2.
        let y = cpu.read(&cpu.upsample(&xt, 2).unwrap()).unwrap();
        for n in 0..b {
            for yy in 0..2 * h {
                for xx in 0..2 * w {
                    for ch in 0..c {
                        assert_eq!(at(&y, 2 * w, c, n, yy, xx, ch, 2 * h), at(&x, w, c, n, yy / 2, xx / 2, ch, h));
                    }
                }
            }
        }
        // concat along channels.
        let y = cpu.read(&cpu.concat(&[&xt, &xt]).unwrap()).unwrap();
        assert_eq!(y.len(), 2 * x.len());
        assert_eq!(&y[c..2 * c], &x[..c]);
        assert!(cpu.concat(&[&xt, &cpu.tensor(&x, &[b, w, h, c]).unwrap()]).is_err());
        // depth_to_space by 2 over 8 = 2·2·2 channels.
        let d: Vec<f32> = (0..h * w * 8).map(|i| i as f32).collect();
        let y = cpu.read(&cpu.depth_to_space(&cpu.tensor(&d, &[1, h, w, 8]).unwrap(), 2).unwrap()).unwrap();
        for yy in 0..h {
            for xx in 0..w {
                for dy in 0..2 {
                    for dx in 0..2 {
                        for ch in 0..2 {
                            assert_eq!(y[((yy * 2 + dy) * 2 * w + xx * 2 + dx) * 2 + ch], d[(yy * w + xx) * 8 + (dy * 2 + dx) * 2 + ch]);
                        }
                    }
                }
            }
        }
        // avg_pool 3x2 stride 3x2 (PP-OCR's recogniser), and a padded 3x3 whose border windows
        // count only the pixels inside.
        let y = cpu.read(&cpu.avg_pool(&xt, Window { kh: 3, kw: 2, sh: 3, sw: 2, pad: [0; 4] }).unwrap()).unwrap();
        assert_eq!(y.len(), b * 2 * c);
        let want: f32 = (0..3).flat_map(|yy| (0..2).map(move |xx| (yy, xx))).map(|(yy, xx)| at(&x, w, c, 1, yy, xx + 2, 4, h)).sum::<f32>() / 6.0;
        assert!((y[(2 + 1) * c + 4] - want).abs() < 1e-5);
        let y = cpu.read(&cpu.avg_pool(&xt, Window::square(3, 1, 1)).unwrap()).unwrap();
        let corner = [(0, 0), (0, 1), (1, 0), (1, 1)].iter().map(|&(yy, xx)| at(&x, w, c, 0, yy, xx, 0, h)).sum::<f32>() / 4.0;
        assert!((y[0] - corner).abs() < 1e-5);
    }

    #[test]
    fn exp_nonpositive_is_within_3e7_of_libm() {
        for i in 0..=200_000 {
            let x = -(i as f32) * 0.0005; // 0 down to -100
            let (got, want) = (exp_nonpositive(x), x.exp());
            assert!((got - want).abs() <= 3e-7 * want + 1e-37, "exp({x}) = {got}, libm {want}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn erf_is_within_1e6_of_libm() {
        let worst = (-6000..=6000).map(|i| i as f32 / 1000.0).map(|x| (tensor::erf(x) - candle_core::cpu::erf::erf_f32(x)).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-6, "worst |erf error| {worst}");
    }
}
