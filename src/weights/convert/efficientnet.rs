//! EfficientNet-Lite0 (EfficientNet-PyTorch naming, legacy .pth) → helplens image encoder.
//! BatchNorm (eps 1e-3) is folded into the preceding convolution:
//! w' = w·γ/√(σ²+ε) per output channel, b' = β − μ·γ/√(σ²+ε).
//! Convolution weights are re-laid for channels-last activations: dense k×k as
//! `[out, ky·kx·in]`, depthwise as `[channels, ky·kx]`, 1x1 as `[out, in]`.

use std::collections::{BTreeMap, HashMap};

use candle_core::quantized::QTensor;

use super::pth::PthTensor;
use crate::error::{Error, Result};
use crate::input::image::Preprocess;
use crate::models::efficientnet::{BlockConfig, EfficientNetConfig};
use crate::weights::quant::{quantize_matrix, vector, Precision};

/// BatchNorm epsilon of the TF EfficientNet-Lite checkpoints.
const BN_EPS: f32 = 1e-3;
/// Kernel size and stride per block (EfficientNet-Lite0; models.md).
const KERNELS: [usize; 16] = [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3];
const STRIDE2: [usize; 4] = [1, 3, 5, 11];
/// Preprocessing that gives the checkpoint's accuracy (models.md).
pub const PREPROCESS: Preprocess = Preprocess { resize: 256, crop: 224, mean: 127.0, std: 128.0 };

fn get<'a>(sd: &'a HashMap<String, PthTensor>, name: &str) -> Result<&'a PthTensor> {
    sd.get(name).ok_or_else(|| Error::Model(format!("checkpoint misses {name}")))
}

/// Folds BatchNorm `bn` into conv `conv` (`[out, in/groups, k, k]`); returns (weights, bias).
fn fold(sd: &HashMap<String, PthTensor>, conv: &str, bn: &str) -> Result<(PthTensor, Vec<f32>)> {
    let w = get(sd, &format!("{conv}.weight"))?;
    let (g, b, m, v) = (get(sd, &format!("{bn}.weight"))?, get(sd, &format!("{bn}.bias"))?, get(sd, &format!("{bn}.running_mean"))?, get(sd, &format!("{bn}.running_var"))?);
    let out = w.shape[0];
    if [&g, &b, &m, &v].iter().any(|t| t.data.len() != out) {
        return Err(Error::Model(format!("{bn} does not match {conv} ({out} channels)")));
    }
    let per = w.data.len() / out;
    let mut data = w.data.clone();
    let mut bias = vec![0f32; out];
    for o in 0..out {
        let s = g.data[o] / (v.data[o] + BN_EPS).sqrt();
        data[o * per..(o + 1) * per].iter_mut().for_each(|x| *x *= s);
        bias[o] = b.data[o] - m.data[o] * s;
    }
    Ok((PthTensor { shape: w.shape.clone(), data }, bias))
}

/// `[out, in, k, k]` → `[out, k·k·in]` in (ky, kx, in) order.
fn dense_to_hwc(w: &PthTensor) -> Vec<f32> {
    let (o, i, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let mut out = vec![0f32; w.data.len()];
    for oo in 0..o {
        for ii in 0..i {
            for y in 0..kh {
                for x in 0..kw {
                    out[oo * kh * kw * i + (y * kw + x) * i + ii] = w.data[((oo * i + ii) * kh + y) * kw + x];
                }
            }
        }
    }
    out
}

/// Converts a state dict; returns (config, metadata, tensors) ready for `gguf::write`.
pub fn convert(sd: &HashMap<String, PthTensor>, labels: &[String], precision: Precision) -> Result<(EfficientNetConfig, BTreeMap<String, String>, Vec<(String, QTensor)>)> {
    let mut out: Vec<(String, QTensor)> = Vec::new();
    let mut put = |name: &str, w: &[f32], rows: usize, cols: usize, bias: &[f32], prec: Precision| -> Result<()> {
        out.push((format!("{name}.w"), quantize_matrix(w, rows, cols, prec)?));
        out.push((format!("{name}.b"), vector(bias)?));
        Ok(())
    };
    let (stem, stem_b) = fold(sd, "_conv_stem", "_bn0")?;
    let stem_ch = stem.shape[0];
    // The stem has 27 inputs per output: int8 blocks of 32 would mostly be padding.
    put("stem", &dense_to_hwc(&stem), stem_ch, 27, &stem_b, Precision::F32)?;
    let mut blocks = Vec::new();
    let mut in_ch = stem_ch;
    for (i, &kernel) in KERNELS.iter().enumerate() {
        let p = format!("_blocks.{i}");
        let has_expand = sd.contains_key(&format!("{p}._expand_conv.weight"));
        let mid_ch = if has_expand {
            let (w, b) = fold(sd, &format!("{p}._expand_conv"), &format!("{p}._bn0"))?;
            let mid = w.shape[0];
            put(&format!("b{i}.expand"), &w.data, mid, in_ch, &b, precision)?;
            mid
        } else {
            in_ch
        };
        let (dw, dw_b) = fold(sd, &format!("{p}._depthwise_conv"), &format!("{p}._bn1"))?;
        if dw.shape != [mid_ch, 1, kernel, kernel] {
            return Err(Error::Model(format!("{p}._depthwise_conv has shape {:?}, expected [{mid_ch}, 1, {kernel}, {kernel}]", dw.shape)));
        }
        // Stored [c, k·k] in f16 at int8 precision: with 9 or 25 taps per channel, int8 blocks
        // cost the rocket fixture 2% of feature cosine (0.977); f16 keeps it at 0.997 for the
        // same bytes as padded int8 blocks.
        let dw_prec = if precision == Precision::Int8 { Precision::F16 } else { precision };
        put(&format!("b{i}.dw"), &dw.data, mid_ch, kernel * kernel, &dw_b, dw_prec)?;
        let (pw, pw_b) = fold(sd, &format!("{p}._project_conv"), &format!("{p}._bn2"))?;
        let out_ch = pw.shape[0];
        put(&format!("b{i}.project"), &pw.data, out_ch, mid_ch, &pw_b, precision)?;
        blocks.push(BlockConfig { kernel, stride: if STRIDE2.contains(&i) { 2 } else { 1 }, in_ch, mid_ch, out_ch });
        in_ch = out_ch;
    }
    let (head, head_b) = fold(sd, "_conv_head", "_bn1")?;
    let feature_dim = head.shape[0];
    put("head", &head.data, feature_dim, in_ch, &head_b, precision)?;
    let fc = get(sd, "_fc.weight")?;
    let classes = fc.shape[0];
    put("fc", &fc.data, classes, feature_dim, &get(sd, "_fc.bias")?.data, precision)?;
    if labels.len() != classes {
        return Err(Error::Model(format!("{} labels for {classes} classes", labels.len())));
    }
    let config = EfficientNetConfig { name: "EfficientNet-Lite0".into(), stem_ch, blocks, feature_dim, classes, preprocess: PREPROCESS };
    let meta = BTreeMap::from([
        ("helplens.kind".to_string(), "image-encoder".to_string()),
        ("helplens.config".to_string(), serde_json::to_string(&config).map_err(|e| Error::Model(e.to_string()))?),
        ("helplens.labels".to_string(), serde_json::to_string(labels).map_err(|e| Error::Model(e.to_string()))?),
    ]);
    Ok((config, meta, out))
}
