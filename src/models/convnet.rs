//! A feed-forward network written as a list of ops over channels-last tensors: the form the
//! OCR converter lowers PP-OCR's ONNX graphs into (convolutions with BatchNorm and the scalar
//! affines around their activations folded in, squeeze-excitation as pooling + two linears +
//! channel scaling, transformer blocks as layer norm / linear / attention). Every op maps onto
//! one or two [`Backend`] calls, so a network runs on either backend.
//!
//! Value 0 is the network's input `[b, h, w, c]`; op `i` writes value `i + 1`. Every value is
//! 4-D channels-last (token sequences are `[1, 1, t, c]`). Weights live in the model file as
//! `{prefix}.{i}.w` / `.b` (matrices `[out, in]`, Q8_0 or f32) for op `i`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tensor::{Backend, Epilogue, Window};
use crate::weights::quant::dequantize_matrix;
use crate::weights::ModelFile;

/// One step of a network; `x`, `a`, `b`, `xs` name values (0 = input, i + 1 = op i's output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Dense convolution `inp → out` channels: im2col then a matrix `[out, kh·kw·inp]` in
    /// (ky, kx, c) order (a 1×1 unpadded stride-1 one is the matrix alone).
    Conv { x: usize, inp: usize, out: usize, win: Window, epi: Epilogue },
    /// Depthwise convolution over `c` channels, weights `[c, kh·kw]`.
    Depthwise { x: usize, c: usize, win: Window, epi: Epilogue },
    /// Transposed convolution with kernel = stride = `k` and no padding: a matrix
    /// `[k·k·out, inp]` (rows in (dy, dx, c) order) then depth-to-space.
    ConvTranspose { x: usize, inp: usize, out: usize, k: usize, epi: Epilogue },
    /// A matrix on the channel axis: `[.., inp]` → `[.., out]`.
    Linear { x: usize, inp: usize, out: usize, epi: Epilogue },
    /// Mean over all pixels of each image: `[b, h, w, c]` → `[b, 1, 1, c]`.
    GlobalPool { x: usize },
    /// `x · s` per channel, `s` a pooled `[b, 1, 1, c]` (plus `x` when `residual`).
    ScaleChannels { x: usize, s: usize, residual: bool },
    /// Elementwise sum of two values of one shape.
    Add { a: usize, b: usize },
    /// Nearest-neighbour upsampling by an integer factor.
    Upsample { x: usize, factor: usize },
    /// Concatenation along channels.
    Concat { xs: Vec<usize> },
    /// Average pooling (padding not counted).
    AvgPool { x: usize, win: Window },
    /// LayerNorm over channels, weights `.w` and `.b` of `c` values.
    LayerNorm { x: usize, c: usize, eps: f32 },
    /// Multi-head self-attention over the pixels of one image as tokens; `x` holds q, k, v.
    Attention { x: usize, heads: usize },
}

impl Op {
    /// The values the op reads.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Op::Conv { x, .. }
            | Op::Depthwise { x, .. }
            | Op::ConvTranspose { x, .. }
            | Op::Linear { x, .. }
            | Op::GlobalPool { x }
            | Op::Upsample { x, .. }
            | Op::AvgPool { x, .. }
            | Op::LayerNorm { x, .. }
            | Op::Attention { x, .. } => vec![*x],
            Op::ScaleChannels { x, s, .. } => vec![*x, *s],
            Op::Add { a, b } => vec![*a, *b],
            Op::Concat { xs } => xs.clone(),
        }
    }
}

/// A network: its ops, the value it returns and its input channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    pub in_channels: usize,
    pub ops: Vec<Op>,
    pub output: usize,
}

impl NetConfig {
    /// Checks that every op reads only earlier values and the output exists.
    pub fn validate(&self) -> Result<()> {
        for (i, op) in self.ops.iter().enumerate() {
            if let Some(bad) = op.inputs().into_iter().find(|&v| v > i) {
                return Err(Error::Model(format!("network op {i} reads value {bad}, which is not computed before it")));
            }
            if matches!(op, Op::Concat { xs } if xs.is_empty()) {
                return Err(Error::Model(format!("network op {i} concatenates nothing")));
            }
        }
        if self.output == 0 || self.output > self.ops.len() {
            return Err(Error::Model(format!("network output {} of {} ops", self.output, self.ops.len())));
        }
        Ok(())
    }
}

/// An op's weights on the backend.
enum Weights<B: Backend> {
    None,
    Matrix(B::Matrix),
    Vectors(B::Vector, B::Vector),
}

/// A network loaded onto a backend.
pub struct ConvNet<B: Backend> {
    pub config: NetConfig,
    weights: Vec<Weights<B>>,
    /// For each value, the index of the last op that reads it (values die after it).
    last_use: Vec<usize>,
}

impl<B: Backend> ConvNet<B> {
    /// Loads the network `config` whose weights are `{prefix}.{i}.*` in `file`.
    pub fn load(backend: &B, config: NetConfig, file: &mut ModelFile, prefix: &str) -> Result<Self> {
        config.validate()?;
        let mut weights = Vec::with_capacity(config.ops.len());
        for (i, op) in config.ops.iter().enumerate() {
            let name = |s: &str| format!("{prefix}.{i}.{s}");
            let matrix = |file: &mut ModelFile, out: usize, inp: usize| -> Result<Weights<B>> {
                let bias = file.vector(&name("b"), out)?;
                // Feature maps are many rows; token sequences (linear) are few.
                let many = !matches!(op, Op::Linear { .. });
                Ok(Weights::Matrix(backend.matrix(file.take(&name("w"))?, &bias, out, inp, many)?))
            };
            weights.push(match *op {
                Op::Conv { inp, out, win, .. } => matrix(file, out, win.kh * win.kw * inp)?,
                Op::ConvTranspose { inp, out, k, .. } => matrix(file, k * k * out, inp)?,
                Op::Linear { inp, out, .. } => matrix(file, out, inp)?,
                Op::Depthwise { c, win, .. } => {
                    let taps = win.kh * win.kw;
                    // Stored [c, taps]; the backend takes [taps, c].
                    let w = dequantize_matrix(file.tensor(&name("w"))?, c, taps)?.t()?.flatten_all()?.to_vec1::<f32>()?;
                    Weights::Vectors(backend.vector(&w)?, backend.vector(&file.vector(&name("b"), c)?)?)
                }
                Op::LayerNorm { c, .. } => Weights::Vectors(backend.vector(&file.vector(&name("w"), c)?)?, backend.vector(&file.vector(&name("b"), c)?)?),
                _ => Weights::None,
            });
        }
        let mut last_use = vec![0; config.ops.len() + 1];
        for (i, op) in config.ops.iter().enumerate() {
            for v in op.inputs() {
                last_use[v] = i;
            }
        }
        last_use[config.output] = usize::MAX;
        Ok(ConvNet { config, weights, last_use })
    }

    /// Records the network on `backend` for `x [b, h, w, in_channels]`; returns the output value.
    pub fn forward(&self, backend: &B, x: B::Tensor) -> Result<B::Tensor> {
        let mut values: Vec<Option<B::Tensor>> = Vec::with_capacity(self.config.ops.len() + 1);
        values.push(Some(x));
        for (i, op) in self.config.ops.iter().enumerate() {
            let get = |v: usize| values[v].as_ref().ok_or_else(|| Error::Model(format!("network value {v} was freed before op {i}")));
            let y = self.run(backend, i, op, &get)?;
            for v in op.inputs() {
                if self.last_use[v] == i {
                    values[v] = None;
                }
            }
            values.push(Some(y));
        }
        values[self.config.output].take().ok_or_else(|| Error::Model("network output missing".into()))
    }

    fn run<'a>(&self, be: &B, i: usize, op: &Op, get: &dyn Fn(usize) -> Result<&'a B::Tensor>) -> Result<B::Tensor>
    where
        B::Tensor: 'a,
    {
        let dims4 = |t: &B::Tensor| -> Result<[usize; 4]> {
            match be.dims(t)[..] {
                [b, h, w, c] => Ok([b, h, w, c]),
                ref d => Err(Error::Shape { op: "convnet", detail: format!("op {i}: expected [b, h, w, c], got {d:?}") }),
            }
        };
        let matrix = || match &self.weights[i] {
            Weights::Matrix(m) => Ok(m),
            _ => Err(Error::Model(format!("network op {i} has no matrix"))),
        };
        let vectors = || match &self.weights[i] {
            Weights::Vectors(a, b) => Ok((a, b)),
            _ => Err(Error::Model(format!("network op {i} has no weight vectors"))),
        };
        // A matrix over the channel axis of every pixel.
        let per_pixel = |x: &B::Tensor, out: usize, epi: Epilogue| -> Result<B::Tensor> {
            let [b, h, w, c] = dims4(x)?;
            let y = be.linear(&be.reshape(x, &[b * h * w, c])?, matrix()?, epi)?;
            be.reshape(&y, &[b, h, w, out])
        };
        Ok(match op {
            Op::Conv { x, out, win, epi, .. } => {
                let x = get(*x)?;
                if win.kh == 1 && win.kw == 1 && win.sh == 1 && win.sw == 1 && win.pad == [0; 4] {
                    per_pixel(x, *out, *epi)?
                } else {
                    be.conv2d(x, matrix()?, *out, *win, *epi)?
                }
            }
            Op::Depthwise { x, win, epi, .. } => {
                let (w, bias) = vectors()?;
                be.depthwise_conv(get(*x)?, w, bias, *win, *epi)?
            }
            Op::ConvTranspose { x, out, k, epi, .. } => {
                let y = per_pixel(get(*x)?, k * k * out, *epi)?;
                be.depth_to_space(&y, *k)?
            }
            Op::Linear { x, out, epi, .. } => per_pixel(get(*x)?, *out, *epi)?,
            Op::GlobalPool { x } => {
                let [b, h, w, c] = dims4(get(*x)?)?;
                let m = be.mean_rows(&be.reshape(get(*x)?, &[b, h * w, c])?)?;
                be.reshape(&m, &[b, 1, 1, c])?
            }
            Op::ScaleChannels { x, s, residual } => {
                let [b, _, _, c] = dims4(get(*s)?)?;
                be.scale_channels(get(*x)?, &be.reshape(get(*s)?, &[b, c])?, *residual)?
            }
            Op::Add { a, b } => be.add(get(*a)?, get(*b)?)?,
            Op::Upsample { x, factor } => be.upsample(get(*x)?, *factor)?,
            Op::Concat { xs } => {
                let ts = xs.iter().map(|&v| get(v)).collect::<Result<Vec<_>>>()?;
                be.concat(&ts)?
            }
            Op::AvgPool { x, win } => be.avg_pool(get(*x)?, *win)?,
            Op::LayerNorm { x, eps, .. } => {
                let (w, bias) = vectors()?;
                let [b, h, wd, c] = dims4(get(*x)?)?;
                let y = be.layer_norm(&be.reshape(get(*x)?, &[b * h * wd, c])?, w, bias, *eps)?;
                be.reshape(&y, &[b, h, wd, c])?
            }
            Op::Attention { x, heads } => {
                let [b, h, w, c3] = dims4(get(*x)?)?;
                if b != 1 {
                    return Err(Error::Shape { op: "convnet attention", detail: format!("one image at a time, got a batch of {b}") });
                }
                let y = be.attention(&be.reshape(get(*x)?, &[h * w, c3])?, *heads)?;
                be.reshape(&y, &[1, h, w, c3 / 3])?
            }
        })
    }
}
