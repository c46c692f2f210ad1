//! The CPU backend on candle-core: matmuls through candle (gemm, or Q8_0 dot products with
//! simd128 on wasm32), the rest as plain loops over channels-last data. It is also the oracle
//! the GPU backend is tested against.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor, D};

use crate::error::{Error, Result};
use crate::tensor::{tf_same, Activation, Backend};
use crate::weights::quant::dequantize_matrix;

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

fn hwc(t: &Tensor, op: &'static str) -> Result<(usize, usize, usize)> {
    match t.dims() {
        [h, w, c] => Ok((*h, *w, *c)),
        d => Err(Error::Shape { op, detail: format!("expected [h, w, c], got {d:?}") }),
    }
}

impl Backend for Cpu {
    type Tensor = Tensor;
    type Matrix = CpuMatrix;
    type Vector = Tensor;

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
        let qm = if many_rows || padded || w.dtype() != GgmlDType::Q8_0 {
            Weights::Dense(QMatMul::Tensor(dequantize_matrix(&w, out_dim, in_dim)?))
        } else {
            if stored != [out_dim, in_dim] {
                return Err(Error::Model(format!("matrix has shape {stored:?}, expected [{out_dim}, {in_dim}]")));
            }
            Weights::Int8(Q8Matrix::from_q8_0(&w.data()?, out_dim, in_dim)?)
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
        let (h, wd, c) = hwc(x, "depthwise_conv")?;
        if w.dims() != [k * k * c] && w.dims() != [k * k, c] || b.dims() != [c] {
            return Err(Error::Shape { op: "depthwise_conv", detail: format!("x {:?}, w {:?}, b {:?}, k {k}", x.dims(), w.dims(), b.dims()) });
        }
        let (xs, ws, bs) = (x.flatten_all()?.to_vec1::<f32>()?, w.flatten_all()?.to_vec1::<f32>()?, b.to_vec1::<f32>()?);
        let (oh, pt) = tf_same(h, k, stride);
        let (ow, pl) = tf_same(wd, k, stride);
        let mut out = vec![0f32; oh * ow * c];
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
                        let src = &xs[(iy as usize * wd + ix as usize) * c..][..c];
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
        Ok(Tensor::from_vec(out, (oh, ow, c), &Device::Cpu)?)
    }

    fn im2col(&self, x: &Tensor, k: usize, stride: usize) -> Result<Tensor> {
        let (h, wd, c) = hwc(x, "im2col")?;
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let (oh, pt) = tf_same(h, k, stride);
        let (ow, pl) = tf_same(wd, k, stride);
        let cols = k * k * c;
        let mut out = vec![0f32; oh * ow * cols];
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
                        row[(ky * k + kx) * c..][..c].copy_from_slice(&xs[(iy as usize * wd + ix as usize) * c..][..c]);
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (oh * ow, cols), &Device::Cpu)?)
    }

    fn mean_rows(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.mean_keepdim(0)?)
    }

    fn reshape(&self, x: &Tensor, shape: &[usize]) -> Result<Tensor> {
        Ok(x.reshape(shape)?)
    }
}
