//! The CPU backend on candle-core: matmuls through candle (gemm, or Q8_0 dot products with
//! simd128 on wasm32), the rest as plain loops over channels-last data. It is also the oracle
//! the GPU backend is tested against.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor, D};

use crate::error::{Error, Result};
use crate::kb::format::I8Rows;
use crate::kb::search;
use crate::tensor::{self, tf_same, Activation, Backend};
use crate::weights::quant::{dequantize_matrix, q4_0_to_q8_0};

/// The CPU backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu;

pub mod q8;

use q8::Q8Matrix;

/// How a matrix is multiplied.
enum Weights {
    /// f32 through candle's gemm: many rows at once (feature maps).
    Dense(QMatMul),
    /// Int8 blocks with the activation quantized per row: a few rows (token states).
    Int8(Q8Matrix),
}

/// A prepared weight matrix and its bias.
pub struct CpuMatrix {
    w: Weights,
    b: Vec<f32>,
    out_dim: usize,
    in_dim: usize,
}

fn act_scalar(x: f32, a: Activation) -> f32 {
    match a {
        Activation::None => x,
        Activation::Relu6 => x.clamp(0.0, 6.0),
        Activation::Gelu => 0.5 * x * (1.0 + candle_core::cpu::erf::erf_f32(x / std::f32::consts::SQRT_2)),
    }
}

/// (batch, height, width, channels) of a `[b, h, w, c]` or `[h, w, c]` tensor.
fn bhwc(t: &Tensor, op: &'static str) -> Result<(usize, usize, usize, usize)> {
    match t.dims() {
        [b, h, w, c] => Ok((*b, *h, *w, *c)),
        [h, w, c] => Ok((1, *h, *w, *c)),
        d => Err(Error::Shape { op, detail: format!("expected [b, h, w, c] or [h, w, c], got {d:?}") }),
    }
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
        let qm = if many_rows || padded || !int8 {
            Weights::Dense(QMatMul::Tensor(dequantize_matrix(&w, out_dim, in_dim)?))
        } else {
            if stored != [out_dim, in_dim] {
                return Err(Error::Model(format!("matrix has shape {stored:?}, expected [{out_dim}, {in_dim}]")));
            }
            // 4-bit blocks widen exactly to int8 blocks (same scale): one int8 kernel for both.
            let data = w.data()?;
            Weights::Int8(if w.dtype() == GgmlDType::Q4_0 {
                Q8Matrix::from_q8_0(&q4_0_to_q8_0(&data)?, out_dim, in_dim)?
            } else {
                Q8Matrix::from_q8_0(&data, out_dim, in_dim)?
            })
        };
        Ok(CpuMatrix { w: qm, b: bias.to_vec(), out_dim, in_dim })
    }

    fn vector(&self, v: &[f32]) -> Result<Tensor> {
        Ok(Tensor::from_slice(v, v.len(), &Device::Cpu)?)
    }

    fn linear(&self, x: &Tensor, w: &CpuMatrix, a: Activation) -> Result<Tensor> {
        let (n, k) = x.dims2()?;
        if k != w.in_dim {
            return Err(Error::Shape { op: "linear", detail: format!("x is [{n}, {k}], weight is [{}, {}]", w.out_dim, w.in_dim) });
        }
        let mut y = match &w.w {
            Weights::Dense(m) => x.apply(m)?.flatten_all()?.to_vec1::<f32>()?,
            Weights::Int8(m) => m.matmul(&x.flatten_all()?.to_vec1::<f32>()?, n),
        };
        // Bias and activation in one pass over the output.
        for row in y.chunks_exact_mut(w.out_dim) {
            for (v, b) in row.iter_mut().zip(&w.b) {
                *v = act_scalar(*v + b, a);
            }
        }
        Ok(Tensor::from_vec(y, (n, w.out_dim), &Device::Cpu)?)
    }

    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        if a.dims() != b.dims() {
            return Err(Error::Shape { op: "add", detail: format!("{:?} + {:?}", a.dims(), b.dims()) });
        }
        Ok((a + b)?)
    }

    fn layer_norm(&self, x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + eps as f64)?.sqrt()?)?;
        Ok(normed.broadcast_mul(w)?.broadcast_add(b)?)
    }

    fn attention(&self, qkv: &Tensor, heads: usize) -> Result<Tensor> {
        let (t, three_c) = qkv.dims2()?;
        let c = three_c / 3;
        if three_c % 3 != 0 || c % heads != 0 {
            return Err(Error::Shape { op: "attention", detail: format!("qkv [{t}, {three_c}] with {heads} heads") });
        }
        let d = c / heads;
        let split = |i: usize| -> Result<Tensor> {
            Ok(qkv.narrow(1, i * c, c)?.reshape((t, heads, d))?.transpose(0, 1)?.contiguous()?)
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?;
        let max = scores.max_keepdim(D::Minus1)?;
        let e = scores.broadcast_sub(&max)?.exp()?;
        let p = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
        Ok(p.matmul(&v)?.transpose(0, 1)?.reshape((t, c))?)
    }

    fn depthwise_conv(&self, x: &Tensor, w: &Tensor, b: &Tensor, k: usize, stride: usize, a: Activation) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "depthwise_conv")?;
        if w.dims() != [k * k * c] && w.dims() != [k * k, c] || b.dims() != [c] || stride == 0 {
            return Err(Error::Shape { op: "depthwise_conv", detail: format!("x {:?}, w {:?}, b {:?}, k {k}, stride {stride}", x.dims(), w.dims(), b.dims()) });
        }
        let (xs, ws, bs) = (x.flatten_all()?.to_vec1::<f32>()?, w.flatten_all()?.to_vec1::<f32>()?, b.to_vec1::<f32>()?);
        let (oh, pt) = tf_same(h, k, stride);
        let (ow, pl) = tf_same(wd, k, stride);
        let mut out = vec![0f32; n * oh * ow * c];
        for (img, out) in xs.chunks_exact(h * wd * c).zip(out.chunks_exact_mut(oh * ow * c)) {
            for oy in 0..oh {
                for ox in 0..ow {
                    let acc = &mut out[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
                    acc.copy_from_slice(&bs);
                    for ky in 0..k {
                        let iy = (oy * stride + ky) as isize - pt as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..k {
                            let ix = (ox * stride + kx) as isize - pl as isize;
                            if ix < 0 || ix >= wd as isize {
                                continue;
                            }
                            let src = &img[(iy as usize * wd + ix as usize) * c..][..c];
                            let wk = &ws[(ky * k + kx) * c..][..c];
                            for ((o, s), wv) in acc.iter_mut().zip(src).zip(wk) {
                                *o += s * wv;
                            }
                        }
                    }
                    if a != Activation::None {
                        acc.iter_mut().for_each(|v| *v = act_scalar(*v, a));
                    }
                }
            }
        }
        let shape = if x.rank() == 4 { vec![n, oh, ow, c] } else { vec![oh, ow, c] };
        Ok(Tensor::from_vec(out, shape, &Device::Cpu)?)
    }

    fn im2col(&self, x: &Tensor, k: usize, stride: usize) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "im2col")?;
        if stride == 0 || k == 0 {
            return Err(Error::Shape { op: "im2col", detail: format!("k {k}, stride {stride}") });
        }
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let (oh, pt) = tf_same(h, k, stride);
        let (ow, pl) = tf_same(wd, k, stride);
        let cols = k * k * c;
        let mut out = vec![0f32; n * oh * ow * cols];
        for (img, out) in xs.chunks_exact(h * wd * c).zip(out.chunks_exact_mut(oh * ow * cols)) {
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = &mut out[(oy * ow + ox) * cols..][..cols];
                    for ky in 0..k {
                        let iy = (oy * stride + ky) as isize - pt as isize;
                        for kx in 0..k {
                            let ix = (ox * stride + kx) as isize - pl as isize;
                            if iy < 0 || iy >= h as isize || ix < 0 || ix >= wd as isize {
                                continue;
                            }
                            row[(ky * k + kx) * c..][..c].copy_from_slice(&img[(iy as usize * wd + ix as usize) * c..][..c]);
                        }
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (n * oh * ow, cols), &Device::Cpu)?)
    }

    fn mean_rows(&self, x: &Tensor) -> Result<Tensor> {
        match x.dims() {
            [n, _] if *n > 0 => Ok(x.mean_keepdim(0)?),
            [_, n, _] if *n > 0 => Ok(x.mean(1)?),
            d => Err(Error::Shape { op: "mean_rows", detail: format!("expected [n, c] or [b, n, c] with n > 0, got {d:?}") }),
        }
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
        let out: Vec<f32> = qs.chunks_exact(d.max(1)).flat_map(|q| search::scores(rows, q)).collect();
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
