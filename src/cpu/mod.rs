//! The CPU backend on candle-core: int8 matmuls for token states (`q8`), f32 ones for feature
//! maps (`pointwise`), the depthwise conv (`depthwise`), the rest as plain loops over
//! channels-last data. It is also the oracle the GPU backend is tested against.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::kb::format::I8Rows;
use crate::kb::search;
use crate::tensor::{self, tf_same, Activation, Backend};
use crate::weights::quant::{dequantize_matrix, q4_0_to_q8_0};

/// The CPU backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cpu;

pub mod depthwise;
pub mod pointwise;
pub mod q8;

use pointwise::Packed;
use q8::Q8Matrix;

/// How a matrix is multiplied.
enum Weights {
    /// f32 packed eight outputs wide: many rows at once (feature maps).
    Packed(Packed),
    /// f32 through candle's gemm: what fits neither of the others.
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
        Activation::Gelu => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
    }
}

/// erf as a rational function of x² on [-4, 4] (odd degree-13 numerator, degree-8
/// denominator; the coefficients of the approximation XLA and Eigen use), ±1 beyond: no
/// branches and no `exp`, so a loop over it vectorises. Within 1e-6 of libm's erf (test below).
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: [f32; 7] = [-2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_600e-3, -1.609_603_3e-2];
    const Q: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329_2e-3, -1.426_474e-2];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = P.iter().fold(0.0, |acc, &c| acc * x2 + c) * x;
    let q = Q.iter().fold(0.0, |acc, &c| acc * x2 + c);
    p / q
}

/// e^x for x ≤ 0 (softmax's logits less their maximum), within 3e-7 relative (2.5 ulp) of libm: x = n·ln2
/// + r with |r| ≤ ln2/2, e^r by its Taylor series to r⁷, 2^n written into the exponent bits. No
/// branches and no calls, so a loop over it vectorises (libm's `expf` was a third of attention).
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
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
fn sum8(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
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

/// Adds the bias to every row of `y` and applies `a`, one loop per activation (so each
/// vectorises).
fn bias_act(y: &mut [f32], bias: &[f32], a: Activation) {
    let rows = y.chunks_exact_mut(bias.len().max(1));
    match a {
        Activation::None => rows.for_each(|r| r.iter_mut().zip(bias).for_each(|(v, b)| *v += b)),
        Activation::Relu6 => rows.for_each(|r| r.iter_mut().zip(bias).for_each(|(v, b)| *v = (*v + b).clamp(0.0, 6.0))),
        Activation::Gelu => rows.for_each(|r| {
            r.iter_mut().zip(bias).for_each(|(v, b)| {
                let x = *v + b;
                *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
            })
        }),
    }
}

/// `y` with [`bias_act`] applied.
fn biased(mut y: Vec<f32>, bias: &[f32], a: Activation) -> Vec<f32> {
    bias_act(&mut y, bias, a);
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
        // Feature maps: f32 (the GPU's self-test reference). An int8 kernel with outputs
        // across lanes was no faster on them (measured 72–87 ms against 76–77 for the whole
        // image encoder in node, within the noise).
        let qm = if many_rows || padded || !int8 {
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
        let y = match &w.w {
            // Bias and activation as each tile is stored.
            Weights::Packed(m) => with_f32(x, |xs| m.matmul(xs, n, &w.b, a))?,
            Weights::Dense(m) => biased(x.apply(m)?.flatten_all()?.to_vec1::<f32>()?, &w.b, a),
            Weights::Int8(m) => biased(with_f32(x, |xs| m.matmul(xs, n))?, &w.b, a),
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
        let c = three_c / 3;
        if three_c % 3 != 0 || heads == 0 || c % heads != 0 {
            return Err(Error::Shape { op: "attention", detail: format!("qkv [{t}, {three_c}] with {heads} heads") });
        }
        let d = c / heads;
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

    fn depthwise_conv(&self, x: &Tensor, w: &Tensor, b: &Tensor, k: usize, stride: usize, a: Activation) -> Result<Tensor> {
        let (n, h, wd, c) = bhwc(x, "depthwise_conv")?;
        if w.dims() != [k * k * c] && w.dims() != [k * k, c] || b.dims() != [c] || stride == 0 {
            return Err(Error::Shape { op: "depthwise_conv", detail: format!("x {:?}, w {:?}, b {:?}, k {k}, stride {stride}", x.dims(), w.dims(), b.dims()) });
        }
        let g = depthwise::Geometry { h, w: wd, c, k, stride };
        let (oh, ow) = g.out();
        let mut out = vec![0f32; n * oh * ow * c];
        with_f32(x, |xs| {
            with_f32(w, |ws| {
                with_f32(b, |bs| {
                    for (img, out) in xs.chunks_exact(h * wd * c).zip(out.chunks_exact_mut(oh * ow * c)) {
                        depthwise::conv(g, img, ws, bs, a, out);
                    }
                })
            })
        })???;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depthwise_conv_matches_the_definition() {
        // 12 channels: a chunk of eight and a remainder of four; odd sizes, both strides, both
        // kernel sizes, TF "same" padding.
        for (h, w, c, k, stride) in [(7, 5, 12, 3, 1), (9, 6, 12, 5, 2), (4, 4, 8, 3, 2)] {
            let x: Vec<f32> = (0..h * w * c).map(|i| ((i * 7919 % 97) as f32 - 48.0) / 20.0).collect();
            let wt: Vec<f32> = (0..k * k * c).map(|i| ((i * 104729 % 31) as f32 - 15.0) / 10.0).collect();
            let b: Vec<f32> = (0..c).map(|i| i as f32 / 10.0 - 0.5).collect();
            let cpu = Cpu;
            let y = cpu.read(&cpu.depthwise_conv(&cpu.tensor(&x, &[h, w, c]).unwrap(), &cpu.tensor(&wt, &[k * k, c]).unwrap(), &cpu.vector(&b).unwrap(), k, stride, Activation::Relu6).unwrap()).unwrap();
            let ((oh, pt), (ow, pl)) = (tf_same(h, k, stride), tf_same(w, k, stride));
            assert_eq!(y.len(), oh * ow * c);
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        let mut v = b[ch];
                        for ky in 0..k {
                            for kx in 0..k {
                                let (iy, ix) = ((oy * stride + ky) as isize - pt as isize, (ox * stride + kx) as isize - pl as isize);
                                if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                                    v += x[(iy as usize * w + ix as usize) * c + ch] * wt[(ky * k + kx) * c + ch];
                                }
                            }
                        }
                        let got = y[(oy * ow + ox) * c + ch];
                        assert!((got - v.clamp(0.0, 6.0)).abs() < 1e-5, "[{oy}, {ox}, {ch}] {got} vs {v}");
                    }
                }
            }
        }
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
        let worst = (-6000..=6000).map(|i| i as f32 / 1000.0).map(|x| (erf(x) - candle_core::cpu::erf::erf_f32(x)).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-6, "worst |erf error| {worst}");
    }
}
