//! EfficientNet-Lite0 image encoder (Tan & Le 2019; the Lite variant drops squeeze-excitation
//! and uses ReLU6). BatchNorm is folded into the convolutions at conversion time. Output: the
//! 1280-d globally pooled feature and the 1000 ImageNet logits.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::image::Preprocess;
use crate::tensor::{now, Activation, Backend, Window};
use crate::weights::quant::dequantize_matrix;
use crate::weights::ModelFile;

/// One MBConv block (inverted residual without squeeze-excitation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlockConfig {
    pub kernel: usize,
    pub stride: usize,
    pub in_ch: usize,
    /// Expanded channels; equal to `in_ch` when the block has no expand conv.
    pub mid_ch: usize,
    pub out_ch: usize,
}

impl BlockConfig {
    /// Whether the block has a 1x1 expansion conv (expand ratio > 1).
    pub fn expands(&self) -> bool {
        self.mid_ch != self.in_ch
    }
    /// Whether the input is added back (stride 1, same channels).
    pub fn residual(&self) -> bool {
        self.stride == 1 && self.in_ch == self.out_ch
    }
}

/// Architecture, labels and preprocessing, stored as `helplens.config`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EfficientNetConfig {
    pub name: String,
    pub stem_ch: usize,
    pub blocks: Vec<BlockConfig>,
    pub feature_dim: usize,
    pub classes: usize,
    pub preprocess: Preprocess,
}

struct Block<B: Backend> {
    cfg: BlockConfig,
    expand: Option<B::Matrix>,  // [mid, in]
    dw: (B::Vector, B::Vector), // [k·k, mid], [mid]
    project: B::Matrix,         // [out, mid]
}

/// What the image encoder gives for one photo.
#[derive(Debug, Clone)]
pub struct ImageOutput {
    /// Global-average-pooled feature `[feature_dim]`.
    pub feature: Vec<f32>,
    /// Class logits `[classes]`.
    pub logits: Vec<f32>,
}

/// A loaded image encoder.
pub struct EfficientNet<B: Backend> {
    pub config: EfficientNetConfig,
    /// Class names, index-aligned with the logits.
    pub labels: Vec<String>,
    /// Content fingerprint of the model file.
    pub fingerprint: String,
    stem: B::Matrix, // [stem_ch, 3·3·3] in (ky, kx, c) order
    blocks: Vec<Block<B>>,
    head: B::Matrix, // [feature_dim, last out_ch]
    fc: B::Matrix,   // [classes, feature_dim]
}

impl<B: Backend> EfficientNet<B> {
    /// Loads an image encoder from a parsed model file onto `backend`.
    pub fn load(backend: &B, mut file: ModelFile) -> Result<Self> {
        file.expect_kind("image-encoder")?;
        let c: EfficientNetConfig = file.config()?;
        c.preprocess.check()?;
        let labels: Vec<String> = serde_json::from_str(file.meta("helplens.labels")?).map_err(|e| Error::Model(format!("bad helplens.labels: {e}")))?;
        if labels.len() != c.classes {
            return Err(Error::Model(format!("{} labels for {} classes", labels.len(), c.classes)));
        }
        let matrix = |name: &str, out: usize, inp: usize, f: &mut ModelFile| -> Result<B::Matrix> {
            let bias = f.vector(&format!("{name}.b"), out)?;
            backend.matrix(f.take(&format!("{name}.w"))?, &bias, out, inp, true)
        };
        let stem = matrix("stem", c.stem_ch, 27, &mut file)?;
        let mut blocks = Vec::with_capacity(c.blocks.len());
        for (i, b) in c.blocks.iter().enumerate() {
            let expand = if b.expands() { Some(matrix(&format!("b{i}.expand"), b.mid_ch, b.in_ch, &mut file)?) } else { None };
            // Stored [c, k·k]; the backend takes [k·k, c] (channels last).
            let kk = b.kernel * b.kernel;
            let dw_w = dequantize_matrix(file.tensor(&format!("b{i}.dw.w"))?, b.mid_ch, kk)?.t()?.flatten_all()?.to_vec1::<f32>()?;
            let dw_b = file.vector(&format!("b{i}.dw.b"), b.mid_ch)?;
            blocks.push(Block {
                cfg: b.clone(),
                expand,
                dw: (backend.vector(&dw_w)?, backend.vector(&dw_b)?),
                project: matrix(&format!("b{i}.project"), b.out_ch, b.mid_ch, &mut file)?,
            });
        }
        let last = c.blocks.last().map(|b| b.out_ch).unwrap_or(c.stem_ch);
        Ok(EfficientNet {
            head: matrix("head", c.feature_dim, last, &mut file)?,
            fc: matrix("fc", c.classes, c.feature_dim, &mut file)?,
            stem,
            blocks,
            labels,
            fingerprint: file.fingerprint.clone(),
            config: c,
        })
    }

    /// Runs the encoder on preprocessed pixels `[crop, crop, 3]`.
    pub fn forward(&self, backend: &B, pixels: &[f32]) -> Result<ImageOutput> {
        now(self.forward_async(backend, pixels))
    }

    /// [`EfficientNet::forward`] for backends that read results back asynchronously.
    pub async fn forward_async(&self, backend: &B, pixels: &[f32]) -> Result<ImageOutput> {
        Ok(self.forward_batch_async(backend, &[pixels]).await?.remove(0))
    }

    /// Runs the encoder on several photos at once: every layer sees the whole batch (a 1x1
    /// convolution becomes one matmul over all their pixels), and the results come back in
    /// one read.
    pub fn forward_batch(&self, backend: &B, photos: &[&[f32]]) -> Result<Vec<ImageOutput>> {
        now(self.forward_batch_async(backend, photos))
    }

    /// [`EfficientNet::forward_batch`] for backends that read results back asynchronously.
    pub async fn forward_batch_async(&self, backend: &B, photos: &[&[f32]]) -> Result<Vec<ImageOutput>> {
        let (pooled, logits) = self.encode(backend, photos)?;
        let mut r = backend.read_many_async(&[&pooled, &logits]).await?.into_iter();
        let (f, l) = (r.next().unwrap_or_default(), r.next().unwrap_or_default());
        Ok(f.chunks_exact(self.config.feature_dim).zip(l.chunks_exact(self.config.classes)).map(|(f, l)| ImageOutput { feature: f.to_vec(), logits: l.to_vec() }).collect())
    }

    /// Records the encoder on `backend` for a batch of preprocessed photos `[crop, crop, 3]`:
    /// pooled features `[b, feature_dim]` and logits `[b, classes]`.
    pub fn encode(&self, backend: &B, photos: &[&[f32]]) -> Result<(B::Tensor, B::Tensor)> {
        let s = self.config.preprocess.crop as usize;
        let n = photos.len();
        if n == 0 || photos.iter().any(|p| p.len() != s * s * 3) {
            let sizes: Vec<usize> = photos.iter().map(|p| p.len()).collect();
            return Err(Error::Shape { op: "efficientnet", detail: format!("{sizes:?} pixel values for photos of {s}x{s}x3") });
        }
        let x = backend.tensor(&photos.concat(), &[n, s, s, 3])?;
        let (mut h, mut w) = (s.div_ceil(2), s.div_ceil(2));
        let x = backend.linear(&backend.im2col(&x, Window::tf_same(s, s, 3, 2))?, &self.stem, Activation::Relu6)?; // [n·h·w, stem]
        let mut x = backend.reshape(&x, &[n, h, w, self.config.stem_ch])?;
        for b in &self.blocks {
            let input = x;
            let mut y = backend.reshape(&input, &[n * h * w, b.cfg.in_ch])?;
            if let Some(e) = &b.expand {
                y = backend.linear(&y, e, Activation::Relu6)?;
            }
            let y = backend.reshape(&y, &[n, h, w, b.cfg.mid_ch])?;
            let y = backend.depthwise_conv(&y, &b.dw.0, &b.dw.1, Window::tf_same(h, w, b.cfg.kernel, b.cfg.stride), Activation::Relu6)?;
            (h, w) = (h.div_ceil(b.cfg.stride), w.div_ceil(b.cfg.stride));
            let y = backend.reshape(&y, &[n * h * w, b.cfg.mid_ch])?;
            let y = backend.linear(&y, &b.project, Activation::None)?;
            let y = backend.reshape(&y, &[n, h, w, b.cfg.out_ch])?;
            x = if b.cfg.residual() { backend.add(&y, &input)? } else { y };
        }
        let last = self.blocks.last().map(|b| b.cfg.out_ch).unwrap_or(self.config.stem_ch);
        let x = backend.linear(&backend.reshape(&x, &[n * h * w, last])?, &self.head, Activation::Relu6)?;
        let pooled = backend.mean_rows(&backend.reshape(&x, &[n, h * w, self.config.feature_dim])?)?; // [n, feature_dim]
        let logits = backend.linear(&pooled, &self.fc, Activation::None)?;
        Ok((pooled, logits))
    }
}
